//! `cargo bench --bench ontime`: how late confirmations go out without webhooks
//! (DESIGN: "On time without webhooks"), the new scheduling beside the old one in
//! one run, so that the gain is a ratio. Each arm is the real release binary
//! (`booking-monitor run`) against its own simulator on 127.0.0.1, in real time;
//! every arm gets the same bookings at the same moments.
//!
//! Arms: `old` (`spare_budget_share = 0`, `proving_poll = false`: the scheduling
//! before), `new` (the defaults: proving polls, half the spare budget for busy
//! salons), and in `half` also `proving` (proving polls, no spare budget).
//!
//! Three parts, side by side:
//! * `one`: one salon at the production timings (60 s polls, 30 s delay),
//!   bookings at random times about one a minute for 30 minutes.
//! * `many`: 200 salons at the default budget (their polls fill it: only the
//!   proving poll can help), 240 bookings in 3 minutes, half of them at 5 busy
//!   salons and half spread over the others.
//! * `half`: 30 salons whose polls take half the budget
//!   (`yclients.max_requests_per_minute = 60`), the same skew.
//!
//! Lateness is when the confirmation reached the simulated WhatsApp less the
//! booking's creation and the delay. Bookings begin once every salon's first poll
//! was answered. `BENCH_QUICK=1`: every timing a tenth, fewer salons (a smoke run
//! of a few minutes; its figures are not the contract's); `BENCH_ONLY=one|many|half`.
//! Exits 1 when a figure could not be measured or a daemon did not exit 0.

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, ConfigParts, Simulator, World};
use chrono::{DateTime, Days, NaiveDateTime, NaiveTime, Utc};
use futures_util::future::join_all;
use support::{percentile, secs, sorted, start_sim, Report, Running, Stopped, ZONE};

const OLD: &str = "spare_budget_share = 0\nproving_poll = false";
const PROVING: &str = "spare_budget_share = 0";
const NEW: &str = "";

struct Part {
    name: &'static str,
    companies: usize,
    poll_ms: u64,
    delay_ms: u64,
    min_poll_ms: u64,
    per_minute: u32,
    arms: Vec<(&'static str, &'static str)>,
    bookings: Vec<(Duration, usize)>,
    /// How long after the last booking its confirmation may take.
    tail: Duration,
}

fn parts(quick: bool) -> Vec<Part> {
    // A tenth of every timing in the smoke run.
    let t = |d: Duration| if quick { d / 10 } else { d };
    let ms = |m: u64| if quick { m / 10 } else { m };
    let two = vec![("old", OLD), ("new", NEW)];
    vec![
        Part {
            name: "one",
            companies: 1,
            poll_ms: ms(60_000),
            delay_ms: ms(30_000),
            min_poll_ms: ms(5_000),
            per_minute: 200,
            arms: two.clone(),
            bookings: poisson(1, t(Duration::from_secs(60)), t(Duration::from_secs(1_800))),
            tail: t(Duration::from_secs(180)),
        },
        Part {
            name: "many",
            companies: if quick { 20 } else { 200 },
            poll_ms: ms(60_000),
            delay_ms: ms(30_000),
            min_poll_ms: ms(5_000),
            // The configured polls fill it (a tenth of the interval, a tenth of the salons).
            per_minute: 200,
            arms: two,
            bookings: skewed(
                2,
                if quick { 40 } else { 240 },
                t(Duration::from_secs(180)),
                if quick { 20 } else { 200 },
            ),
            tail: t(Duration::from_secs(300)),
        },
        Part {
            name: "half",
            companies: if quick { 3 } else { 30 },
            poll_ms: ms(60_000),
            delay_ms: ms(30_000),
            min_poll_ms: ms(5_000),
            per_minute: 60,
            arms: vec![("old", OLD), ("proving", PROVING), ("new", NEW)],
            bookings: skewed(
                3,
                if quick { 40 } else { 240 },
                t(Duration::from_secs(180)),
                if quick { 3 } else { 30 },
            ),
            tail: t(Duration::from_secs(300)),
        },
    ]
}

/// Bookings at one salon at random, `every` apart on average, for `during`.
fn poisson(seed: u64, every: Duration, during: Duration) -> Vec<(Duration, usize)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut at = Duration::ZERO;
    let mut out = Vec::new();
    loop {
        at += every.mul_f64(-(1.0 - rng.f64()).ln());
        if at > during {
            return out;
        }
        out.push((at, 0));
    }
}

/// `n` bookings at random times within `during`: half at the first 5 of
/// `companies` (the busy salons), half spread over the rest.
fn skewed(seed: u64, n: usize, during: Duration, companies: usize) -> Vec<(Duration, usize)> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let busy = 5.min(companies);
    let mut out: Vec<(Duration, usize)> = (0..n)
        .map(|_| {
            let company = if rng.bool() || companies == busy {
                rng.usize(..busy)
            } else {
                rng.usize(busy..companies)
            };
            (during.mul_f64(rng.f64()), company)
        })
        .collect();
    out.sort();
    out
}

fn main() -> ExitCode {
    let quick = support::quick();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if !["", "one", "many", "half"].contains(&only.as_str()) {
        eprintln!("BENCH_ONLY={only}: expected one, many or half");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let mut report = Report::default();
    let chosen: Vec<Part> = parts(quick)
        .into_iter()
        .filter(|p| only.is_empty() || only == p.name)
        .collect();
    let results = actix_rt::System::new().block_on(join_all(chosen.iter().map(run_part)));
    for (part, result) in chosen.iter().zip(results) {
        report.part(part, result);
    }
    report.print(quick, started.elapsed());
    report.exit_code()
}

/// What one arm measured.
struct Figures {
    /// Seconds past the delay, one per confirmation sent.
    lateness: Vec<f64>,
    expected: usize,
    requests_per_minute: f64,
    /// The most YClients requests in any 60 s and any 1 s of the arm's run.
    peak_minute: usize,
    peak_second: usize,
    rereads: usize,
    /// `booking_monitor_polls_total` summed by reason.
    polls: BTreeMap<String, f64>,
    stopped: Option<Stopped>,
    warnings: usize,
}

struct Arm {
    name: &'static str,
    sim: Simulator,
    daemon: Running,
    port: u16,
    /// Each booking's phone and when it was made.
    made: HashMap<String, DateTime<Utc>>,
}

async fn run_part(part: &Part) -> Result<Vec<(&'static str, Figures)>, String> {
    let ids: Vec<i64> = (0..part.companies).map(|i| 300_001 + i as i64).collect();
    let mut arms = Vec::new();
    for (name, monitor) in &part.arms {
        let sim = start_sim(&ids).await?;
        let port = support::free_port()?;
        let config = ConfigParts {
            yclients: format!("max_requests_per_minute = {}", part.per_minute),
            monitor: format!(
                "{}\nmin_poll_interval_ms = {}\n{monitor}",
                support::monitor(part.poll_ms, part.delay_ms),
                part.min_poll_ms
            ),
            tables: format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"bench\"\n[log]\nlevel = \"warn\"\n"
            ),
            ..ConfigParts::default()
        };
        let daemon = Running::spawn(&sim, &ids, &config)?;
        arms.push(Arm {
            name,
            sim,
            daemon,
            port,
            made: HashMap::new(),
        });
    }
    // Every salon's first poll answered (3 requests each, at the budget's pace).
    let first_round = Duration::from_secs(120)
        + Duration::from_secs(part.companies as u64 * 3 * 60 / u64::from(part.per_minute));
    for arm in &mut arms {
        let n = ids.len();
        arm.daemon
            .expect_world(&arm.sim, first_round, "every salon's first poll", |w| {
                (monitored(w) >= n).then_some(())
            })
            .await?;
    }
    let start = Instant::now();
    let visit = in_two_days();
    for (k, (at, company)) in part.bookings.iter().enumerate() {
        actix_rt::time::sleep_until((start + *at).into()).await;
        let company = ids[*company];
        let phone = format!("7916{k:07}");
        for arm in &mut arms {
            arm.sim
                .create(Booking::by_admin(company, "Клиент", &phone, visit));
            arm.made.insert(phone.clone(), Utc::now());
        }
    }
    let expected = part.bookings.len();
    let mut out = Vec::new();
    for mut arm in arms {
        let result = arm
            .daemon
            .await_world(&arm.sim, part.tail, "the confirmations", |w| {
                (w.messages.len() >= expected).then_some(())
            })
            .await;
        let measured = match result {
            Ok(_) => measure(part, &arm, start).await,
            Err(e) => Err(e),
        };
        let stopped = arm.daemon.stop().await;
        arm.sim.stop().await;
        let mut figures = measured?;
        figures.stopped = Some(stopped?);
        figures.warnings = arm.daemon.warnings().len();
        out.push((arm.name, figures));
    }
    Ok(out)
}

/// Companies whose first poll's `changed_after` list was answered.
fn monitored(world: &World) -> usize {
    let mut seen: Vec<&str> = world
        .requests
        .iter()
        .filter(|r| r.query.contains("changed_after"))
        .filter_map(|r| r.path.strip_prefix("/api/v1/records/"))
        .collect();
    seen.sort();
    seen.dedup();
    seen.len()
}

fn in_two_days() -> NaiveDateTime {
    let zone: chrono_tz::Tz = ZONE.parse().expect("a known zone");
    (Utc::now().with_timezone(&zone).date_naive() + Days::new(2))
        .and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("noon"))
}

async fn measure(part: &Part, arm: &Arm, start: Instant) -> Result<Figures, String> {
    let delay = chrono::Duration::milliseconds(part.delay_ms as i64);
    let (lateness, requests, rereads, until, peaks) = {
        let world = arm.sim.world();
        let lateness: Vec<f64> = world
            .messages
            .iter()
            .filter_map(|m| {
                let made = arm.made.get(&m.phone)?;
                Some(support::ms(m.at - (*made + delay)) / 1000.0)
            })
            .collect();
        let after: Vec<_> = world
            .requests
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/") && r.at >= start)
            .collect();
        let rereads = after
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/record/"))
            .count();
        let until = after.last().map_or(start, |r| r.at);
        // Every request since the daemon began, the first polls' burst included.
        let times: Vec<Instant> = world
            .requests
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/"))
            .map(|r| r.at)
            .collect();
        let peaks = (
            support::peak_in_window(&times, Duration::from_secs(60)),
            support::peak_in_window(&times, Duration::from_secs(1)),
        );
        (lateness, after.len(), rereads, until, peaks)
    };
    let minutes = (until - start).as_secs_f64() / 60.0;
    let url = format!("http://127.0.0.1:{}/metrics", arm.port);
    let (_, body) = support::get(&url).await?;
    let mut polls = BTreeMap::new();
    for line in String::from_utf8_lossy(&body).lines() {
        let Some(rest) = line.strip_prefix("booking_monitor_polls_total{") else {
            continue;
        };
        let reason = rest
            .split("reason=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("?")
            .to_string();
        let n: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *polls.entry(reason).or_default() += n;
    }
    Ok(Figures {
        lateness,
        expected: part.bookings.len(),
        requests_per_minute: requests as f64 / minutes.max(1e-9),
        peak_minute: peaks.0,
        peak_second: peaks.1,
        rereads,
        polls,
        stopped: None,
        warnings: 0,
    })
}

trait OnTimeReport {
    fn part(&mut self, part: &Part, result: Result<Vec<(&'static str, Figures)>, String>);
    fn print(&self, quick: bool, took: Duration);
}

impl OnTimeReport for Report {
    fn part(&mut self, part: &Part, result: Result<Vec<(&'static str, Figures)>, String>) {
        let l = format!(
            "[{}: {} salon(s), {} bookings, polls {} s, delay {} s, {}/min]",
            part.name,
            part.companies,
            part.bookings.len(),
            part.poll_ms / 1000,
            part.delay_ms / 1000,
            part.per_minute
        );
        let Some(arms) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        let p = |f: &Figures, q: f64| percentile(&sorted(&f.lateness), q);
        for (arm, f) in &arms {
            self.row(
                format!("{l} {arm}: lateness p50 / p99 / max"),
                format!(
                    "{:.1} s / {:.1} s / {:.1} s",
                    p(f, 50.0),
                    p(f, 99.0),
                    p(f, 100.0)
                ),
                format!("{} of {} confirmations sent", f.lateness.len(), f.expected),
            );
            let polls: Vec<String> = f.polls.iter().map(|(r, n)| format!("{r} {n}")).collect();
            self.row(
                format!("{l} {arm}: YClients requests a minute"),
                format!("{:.2}", f.requests_per_minute),
                format!(
                    "polls: {}; the most in any 60 s / 1 s: {} / {} (limits {} / 5)",
                    polls.join(", "),
                    f.peak_minute,
                    f.peak_second,
                    part.per_minute
                ),
            );
            if f.peak_minute > part.per_minute as usize || f.peak_second > 5 {
                self.fail(format!(
                    "{l} {arm}: {} YClients requests in 60 s, {} in 1 s: over the limits",
                    f.peak_minute, f.peak_second
                ));
            }
            self.row(
                format!("{l} {arm}: re-reads per notification"),
                format!("{:.3}", f.rereads as f64 / f.lateness.len().max(1) as f64),
                format!("{} re-reads", f.rereads),
            );
            if f.lateness.len() < f.expected {
                self.fail(format!(
                    "{l} {arm}: {} confirmations missing",
                    f.expected - f.lateness.len()
                ));
            }
            self.ending(&format!("{l} {arm}"), f.stopped.as_ref(), &[]);
            if f.warnings > 0 {
                self.problems
                    .push(format!("{l} {arm}: {} WARN/ERRO log lines", f.warnings));
            }
        }
        if let (Some((_, old)), Some((_, new))) = (arms.first(), arms.last()) {
            self.row(
                format!("{l} old ÷ new: p50, p99"),
                format!(
                    "{:.1}× / {:.1}×",
                    p(old, 50.0) / p(new, 50.0).max(0.001),
                    p(old, 99.0) / p(new, 99.0).max(0.001)
                ),
                "the gain as a ratio, measured in one run",
            );
        }
    }

    fn print(&self, quick: bool, took: Duration) {
        let support::Machine { cores, rustc, cpu } = support::Machine::read();
        println!();
        println!(
            "## booking-monitor on time without webhooks{}",
            if quick { " (BENCH_QUICK)" } else { "" }
        );
        println!();
        println!(
            "Machine: {cores} cores (nproc), {cpu}; {rustc}; load {}. The parts and their arms ran side by side, in real time. Bench took {}.",
            support::load_average(),
            secs(took)
        );
        println!();
        self.print_table(&[]);
    }
}
