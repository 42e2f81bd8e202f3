//! `cargo bench --bench stops`: the replies' inbound throughput with clients'
//! stops and resumes mixed in, on the real release binary against the crate's
//! simulator, each message a signed Cloud API webhook as Meta sends it.
//!
//! Four salons share the global sender, so a «стоп» covers all four (four
//! `optouts` rows). Day-before reminders go to every client first; then some of
//! them write «стоп» before the burst (not measured). The burst: thousands of
//! distinct messages, 32 in flight, a tenth of them stops and resumes from
//! different phones — «стоп» (or «не пишите мне больше», «отписаться») from
//! clients who had not stopped, «старт» from those who had — and the rest the
//! replies bench's mix (confirmations, questions, cancel requests, strangers).
//! Measured: replies taken per second (each answered 200 only once committed);
//! then every stop must have landed (the `optouts` rows, four per stop, none left
//! for a resume) and each must have its one acknowledgement
//! (`messages.opted_out`, `messages.opted_in`) sent to WhatsApp, no more.
//!
//! `BENCH_QUICK=1`: a tenth of the size. Exits 1 when a figure could not be
//! measured, a stop was lost or acknowledged other than once, or a daemon did not
//! exit 0 on SIGTERM.

#[allow(dead_code)]
mod support;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::domain::Kind;
use booking_monitor::simulator::{ClientMessage, Simulator};
use booking_monitor::store::{self, Db};
use booking_monitor::template::{DEFAULT_OPTED_IN as OPTED_IN, DEFAULT_OPTED_OUT as OPTED_OUT};
use futures_util::StreamExt;
use support::replies::{
    burst, burst_message, committed, companies, make_bookings, says, signed, stop, text, Daemon,
    Ended, Setup, PATIENCE,
};
use support::{start_sim, Report};

const STOPS: [&str; 3] = ["стоп", "Не пишите мне больше", "отписаться"];
const SALONS: usize = 4;

struct Scale {
    /// Clients who write the replies bench's mix (five messages each, one of them
    /// from a stranger), who stop in the burst, who stopped before it and resume.
    mixed: usize,
    stoppers: usize,
    resumers: usize,
    in_flight: usize,
    lead: Duration,
}

struct Figures {
    accepted: usize,
    sent: usize,
    took: Duration,
    /// `optouts` rows of the stoppers, of the resumers, in all.
    stopped_rows: usize,
    resumed_rows: usize,
    rows: usize,
    /// Acknowledgements per phone after the burst: (stop, resume) kinds.
    acks_out: HashMap<String, usize>,
    acks_in: HashMap<String, usize>,
    acks_in_time: bool,
    ended: Ended,
}

fn main() -> ExitCode {
    let quick = support::quick();
    let scale = if quick {
        Scale {
            mixed: 90,
            stoppers: 30,
            resumers: 20,
            in_flight: 32,
            lead: Duration::from_secs(10),
        }
    } else {
        Scale {
            mixed: 900,
            stoppers: 300,
            resumers: 200,
            in_flight: 32,
            lead: Duration::from_secs(20),
        }
    };
    let started = Instant::now();
    let load_before = support::load_average();
    let mut report = Report::default();
    let result = actix_rt::System::new().block_on(measure(&scale));
    if let Some(f) = report.figures(result, |e| format!("[stops] {e}")) {
        describe(&mut report, &scale, &f);
    }
    support::print_heading("stops", quick, started.elapsed(), &load_before);
    report.print_table(&[]);
    report.exit_code()
}

async fn measure(s: &Scale) -> Result<Figures, String> {
    let companies = companies(300_001, SALONS);
    let sim = start_sim(&companies).await?;
    let n = s.mixed + s.stoppers + s.resumers;
    let (made, notifications) = make_bookings(&sim, &companies, n, s.lead);
    let setup = Setup {
        companies: &companies,
        poll_ms: 2_000,
        lifted: false,
        ask_in: "\"reminder_day_before\"",
        notifications,
        template: false,
    };
    let mut daemon = Daemon::spawn(&sim, &setup).await?;
    let result = burst_with_stops(s, &sim, &mut daemon, made).await;
    let ended = stop(daemon, &sim).await;
    result.map(|f| Figures { ended, ..f })
}

async fn burst_with_stops(
    s: &Scale,
    sim: &Simulator,
    daemon: &mut Daemon,
    made: Vec<(i64, i64, String)>,
) -> Result<Figures, String> {
    let reminded = support::replies::reminded(sim, daemon, made, s.lead).await?;
    let (mixed, rest) = reminded.split_at(s.mixed);
    let (stoppers, resumers) = rest.split_at(s.stoppers);
    // The resumers stop first, eight at a time; each answered 200 once committed.
    let (daemon_ref, word) = (&*daemon, text("стоп"));
    let codes: Vec<u16> = futures_util::stream::iter(resumers)
        .map(|r| says(daemon_ref, &r.phone, &word, None))
        .buffer_unordered(8)
        .collect()
        .await;
    if codes.iter().any(|c| *c != 200) {
        return Err(format!("the resumers' stops before the burst: {codes:?}"));
    }
    committed(daemon, Kind::ReplyAnswer, s.resumers).await?;
    // Every tenth message a stop or a resume, the rest the replies bench's mix.
    let mut opts = stoppers
        .iter()
        .enumerate()
        .map(|(i, r)| (r.phone.clone(), text(STOPS[i % STOPS.len()])))
        .chain(resumers.iter().map(|r| (r.phone.clone(), text("старт"))));
    let total = 5 * s.mixed + s.stoppers + s.resumers;
    let mut k_mixed = 0;
    let messages: Vec<(String, ClientMessage)> = (0..total)
        .map(|k| match (k % 10 == 9).then(|| opts.next()).flatten() {
            Some(opt) => opt,
            None => {
                k_mixed += 1;
                let (_, phone, message) = burst_message(k_mixed - 1, mixed);
                (phone, message)
            }
        })
        .collect();
    let messages_from = sim.world().messages.len();
    let (answers, took) = burst(daemon, signed(&messages), s.in_flight).await;
    // Each stop and resume answered once: await them all (the burst's other
    // effects share the notifier).
    let acknowledged = |w: &booking_monitor::simulator::World| {
        let acks = w.messages[messages_from..]
            .iter()
            .filter(|m| m.text == OPTED_OUT || m.text == OPTED_IN)
            .count();
        (acks >= s.stoppers + s.resumers).then_some(())
    };
    let acks_in_time = daemon
        .run
        .await_world(sim, PATIENCE, "the acknowledgements", acknowledged)
        .await?
        .is_some();
    // A repeat would show within a few more seconds.
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    let (mut acks_out, mut acks_in) = (HashMap::new(), HashMap::new());
    for m in &sim.world().messages[messages_from..] {
        let count = if m.text == OPTED_OUT {
            &mut acks_out
        } else if m.text == OPTED_IN {
            &mut acks_in
        } else {
            continue;
        };
        *count.entry(m.phone.clone()).or_insert(0) += 1;
    }
    let db = Db::open_read_only(&daemon.run.db_path()).map_err(|e| format!("the database: {e}"))?;
    let rows = db
        .blocking(|c| store::optouts(c, None))
        .map_err(|e| format!("reading the optouts: {e}"))?;
    let of = |who: &[support::replies::Reminded]| {
        rows.iter()
            .filter(|o| who.iter().any(|r| r.phone == o.phone))
            .count()
    };
    Ok(Figures {
        accepted: answers.iter().filter(|c| **c == 200).count(),
        sent: answers.len(),
        took,
        stopped_rows: of(stoppers),
        resumed_rows: of(resumers),
        rows: rows.len(),
        acks_out: stoppers
            .iter()
            .map(|r| {
                (
                    r.phone.clone(),
                    acks_out.get(&r.phone).copied().unwrap_or(0),
                )
            })
            .collect(),
        acks_in: resumers
            .iter()
            .map(|r| (r.phone.clone(), acks_in.get(&r.phone).copied().unwrap_or(0)))
            .collect(),
        acks_in_time,
        ended: Ended::unknown(),
    })
}

fn describe(report: &mut Report, s: &Scale, f: &Figures) {
    let l = format!("[{} messages, {} in flight]", f.sent, s.in_flight);
    let rate = f.accepted as f64 / f.took.as_secs_f64();
    report.row(
        format!("{l} replies taken per second (SQLite), a tenth stops and resumes"),
        format!("**{rate:.0}/s**"),
        format!(
            "goal ≥ 1,000/s; {} of {} answered 200 in {}; {} «стоп» and {} «старт» from as many phones, each stop covering {SALONS} salons",
            f.accepted, f.sent, support::millis(f.took), s.stoppers, s.resumers
        ),
    );
    let once = |acks: &HashMap<String, usize>| acks.values().filter(|n| **n == 1).count();
    report.row(
        format!("{l} stops landed"),
        format!("{} optouts rows of the stoppers (expected {}), {} of the resumers (expected 0), {} in all", f.stopped_rows, s.stoppers * SALONS, f.resumed_rows, f.rows),
        "read from the database after the stop",
    );
    report.row(
        format!("{l} acknowledged once"),
        format!(
            "stops {} of {}, resumes {} of {}",
            once(&f.acks_out),
            s.stoppers,
            once(&f.acks_in),
            s.resumers
        ),
        format!(
            "messages.opted_out / opted_in as WhatsApp got them{}",
            if f.acks_in_time {
                ""
            } else {
                "; NOT all within the patience"
            }
        ),
    );
    if f.accepted < f.sent
        || f.stopped_rows != s.stoppers * SALONS
        || f.resumed_rows != 0
        || once(&f.acks_out) != s.stoppers
        || once(&f.acks_in) != s.resumers
    {
        report.failures.push(format!(
            "{l} a stop was lost, refused or not acknowledged exactly once"
        ));
    }
    if rate < 1_000.0 {
        report
            .problems
            .push(format!("{l} {rate:.0} replies/s is under the 1,000/s goal"));
    }
    if let Err(e) = &f.ended.stopped {
        report.failures.push(format!("{l} {e}"));
    }
    let stopped = f.ended.stopped.as_ref().ok();
    report.ending(&l, stopped, &f.ended.warnings);
}
