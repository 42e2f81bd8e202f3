//! `cargo bench --bench reload`: the config changed while the release daemon runs
//! (the file rewritten whole, then `SIGHUP`), against the crate's simulator.
//!
//! Three parts, one after another:
//! * `first-poll`: a salon added by reload, five times over (polls every 60 s and a
//!   30 s delay, as in production): `SIGHUP` → the simulator answering the new
//!   salon's first `GET /records`.
//! * `text`: a booking made every 200 ms (polls every 500 ms, 1 s delay, YClients'
//!   limits lifted) while `messages.booking_created` is reworded by reload, five
//!   times: `SIGHUP` → the first message carrying the new words, and how many went
//!   out with the old ones after the signal (the rows already under way).
//! * `stream`: two daemons side by side, each with its own simulator and a booking
//!   every 250 ms for 40 s (limits lifted, as in `text`); one of them is reloaded
//!   15 times meanwhile (every 2.5 s: a reworded text, then a salon added, then
//!   removed…). The lateness of the confirmations (sent − made − delay) of both,
//!   also of those due within 2 s after a signal; none may be lost or repeated.
//!
//! `BENCH_QUICK=1`: two reloads in the first two parts, five in the third over
//! 15 s. `BENCH_ONLY=first-poll|text|stream` runs one part. Exits 1 when a figure
//! could not be measured, a reload was refused, or a confirmation was lost or
//! repeated.

#[allow(dead_code)]
mod support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{ConfigParts, Simulator};
use support::stream::{self, Lateness};
use support::{millis, start_sim, Report, Running};

const COMPANY: i64 = 4564;
/// Salons the simulator knows and the reloads add.
const ADDED: i64 = 700_001;
const PATIENCE: Duration = Duration::from_secs(120);
/// A confirmation due this soon after a reload's signal counts as in its shadow.
const RELOAD_SHADOW: Duration = Duration::from_secs(2);

struct Scale {
    reloads: usize,
    stream_reloads: usize,
    stream_for: Duration,
}

fn main() -> ExitCode {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if !["", "first-poll", "text", "stream"].contains(&only.as_str()) {
        eprintln!("BENCH_ONLY={only}: expected first-poll, text or stream");
        return ExitCode::FAILURE;
    }
    let quick = support::quick();
    let scale = Scale {
        reloads: if quick { 2 } else { 5 },
        stream_reloads: if quick { 5 } else { 15 },
        stream_for: Duration::from_secs(if quick { 15 } else { 40 }),
    };
    let run = |part: &str| only.is_empty() || only == part;
    let started = Instant::now();
    let load_before = support::load_average();
    let mut report = Report::default();
    actix_rt::System::new().block_on(async {
        if run("first-poll") {
            let f = first_poll(&scale).await;
            if let Some(times) = report.figures(f, |e| format!("[first-poll] {e}")) {
                report.row(
                    "[first-poll] SIGHUP → the added salon's first poll answered",
                    format!("**{}**", times.iter().map(|t| millis(*t)).collect::<Vec<_>>().join(", ")),
                    "each reload adds one salon; polls every 60 s, 30 s delay",
                );
            }
        }
        if run("text") {
            let f = text(&scale).await;
            if let Some((times, old)) = report.figures(f, |e| format!("[text] {e}")) {
                report.row(
                    "[text] SIGHUP → the first message with the reworded text",
                    format!("**{}**", times.iter().map(|t| millis(*t)).collect::<Vec<_>>().join(", ")),
                    format!("a booking every 200 ms, 1 s delay; after the signals {old} messages in all still carried the old words (already under way)"),
                );
            }
        }
        if run("stream") {
            let f = side_by_side(&scale).await;
            if let Some((quiet, reloaded)) = report.figures(f, |e| format!("[stream] {e}")) {
                stream_rows(&mut report, &scale, &quiet, &reloaded);
            }
        }
    });
    support::print_heading("reload", quick, started.elapsed(), &load_before);
    report.print_table(&[]);
    report.exit_code()
}

fn stream_rows(report: &mut Report, s: &Scale, quiet: &Streamed, reloaded: &Streamed) {
    let signals = &reloaded.signals;
    let shadow = format!("due within {} s after a signal", RELOAD_SHADOW.as_secs());
    for (l, run) in [("without reloads", quiet), ("during reloads", reloaded)] {
        report.row(
            format!("[stream] lateness {l}"),
            format!("**{}**", run.late.spread(|_| true)),
            format!(
                "{shadow}: {}; the rest: {}",
                run.late.spread(|i| run.near(i, signals)),
                run.late.spread(|i| !run.near(i, signals))
            ),
        );
        let (lost, repeated) = (run.late.missing(), run.late.duplicates);
        report.row(
            format!("[stream] {l}: lost / repeated"),
            format!("{lost} / {repeated}"),
            "",
        );
        if lost + repeated > 0 {
            report
                .failures
                .push(format!("[stream] {l}: {lost} lost, {repeated} repeated"));
        }
    }
    let (applied, refused) = reloaded.reloads;
    report.row(
        "[stream] reloads",
        format!("{applied} applied, {refused} refused"),
        format!(
            "one every {} ms; both daemons: a booking every 250 ms, polls every 500 ms, 1 s delay",
            (s.stream_for / (s.stream_reloads as u32 + 1)).as_millis()
        ),
    );
    if applied != s.stream_reloads || refused > 0 {
        report.failures.push(format!(
            "[stream] {applied} reloads applied and {refused} refused of {}",
            s.stream_reloads
        ));
    }
}

/// The config: polls and delay, `booking_created` beginning with `created`. The
/// fast polls (every 500 ms) run with YClients' limits lifted: a second salon
/// would otherwise double them past the budget, and the limiter, not the reload,
/// would make the stream late.
fn parts(poll_ms: u64, delay_ms: u64, created: &str) -> ConfigParts {
    let lifted = "max_requests_per_second = 100\nmax_requests_per_minute = 6000";
    ConfigParts {
        yclients: if poll_ms < 60_000 {
            lifted.into()
        } else {
            String::new()
        },
        monitor: support::monitor(poll_ms, delay_ms),
        tables: format!(
            "[messages]\nbooking_created = \"{created} {{client_name}}, {{date}} {{time}}\"\n"
        ),
        ..ConfigParts::default()
    }
}

async fn first_polled(
    daemon: &mut Running,
    sim: &Simulator,
    company: i64,
) -> Result<Instant, String> {
    let path = format!("/api/v1/records/{company}");
    daemon
        .expect_world(
            sim,
            PATIENCE,
            &format!("the first poll of {company}"),
            |w| w.requests.iter().find(|r| r.path == path).map(|r| r.at),
        )
        .await
}

async fn first_poll(s: &Scale) -> Result<Vec<Duration>, String> {
    let all: Vec<i64> = std::iter::once(COMPANY)
        .chain((0..s.reloads as i64).map(|k| ADDED + k))
        .collect();
    let sim = start_sim(&all).await?;
    let parts = parts(60_000, 30_000, "Запись");
    let mut daemon = Running::spawn(&sim, &[COMPANY], &parts)?;
    let measure = async {
        first_polled(&mut daemon, &sim, COMPANY).await?;
        let mut times = Vec::new();
        for k in 1..all.len() {
            // A pause first: the last salon's first requests (its baseline among
            // them) leave YClients' per-second budget to refill, as between two
            // reloads an operator makes.
            actix_rt::time::sleep(Duration::from_secs(2)).await;
            daemon.rewrite_config(&sim, &all[..=k], &parts)?;
            let signalled = Instant::now();
            daemon.hangup()?;
            let polled = first_polled(&mut daemon, &sim, all[k]).await?;
            times.push(polled.saturating_duration_since(signalled));
        }
        reloads_applied(&daemon, all.len() - 1)?;
        Ok(times)
    }
    .await;
    finished(&mut daemon, &sim, measure).await
}

/// Fails unless the daemon logged `n` reloads applied and none refused.
fn reloads_applied(daemon: &Running, n: usize) -> Result<(), String> {
    match daemon.reloads() {
        (applied, 0) if applied == n => Ok(()),
        (applied, refused) => Err(format!(
            "{applied} reloads applied, {refused} refused, of {n}; log tail:\n{}",
            daemon.log_tail()
        )),
    }
}

/// Stops the daemon and the simulator; the figures unless something failed.
async fn finished<T>(
    daemon: &mut Running,
    sim: &Simulator,
    result: Result<T, String>,
) -> Result<T, String> {
    let (value, stopped) = daemon.finish(sim, result).await?;
    if !stopped.ok() {
        return Err(format!(
            "the daemon did not exit 0 on SIGTERM: {}",
            stopped.describe()
        ));
    }
    Ok(value)
}

async fn text(s: &Scale) -> Result<(Vec<Duration>, usize), String> {
    let sim = start_sim(&[COMPANY]).await?;
    let words = |k: usize| format!("Версия{k}");
    let mut daemon = Running::spawn(&sim, &[COMPANY], &parts(500, 1_000, &words(0)))?;
    let measure = async {
        first_polled(&mut daemon, &sim, COMPANY).await?;
        let (mut times, mut old) = (Vec::new(), 0);
        for k in 1..=s.reloads {
            daemon.rewrite_config(&sim, &[COMPANY], &parts(500, 1_000, &words(k)))?;
            // A booking every 200 ms from 2 s before the signal on: notices fall
            // due all the time; each reload's bookings have their own phones.
            let mut signalled = None;
            let (new, prev) = (words(k), words(k - 1));
            let prefix = format!("92{k}");
            let made = stream::make(
                &sim,
                &mut daemon,
                COMPANY,
                &prefix,
                Duration::from_millis(200),
                |d, elapsed| {
                    if signalled.is_none() && elapsed >= Duration::from_secs(2) {
                        signalled = Some((chrono::Utc::now(), d.hangup()));
                    }
                    elapsed < Duration::from_secs(6)
                },
            )
            .await?;
            let (at_utc, sent) = signalled.ok_or("no signal sent")?;
            sent?;
            stream::lateness(&sim, &mut daemon, &made, 1_000, PATIENCE, Duration::ZERO).await?;
            let w = sim.world();
            let after: Vec<_> = w.messages.iter().filter(|m| m.at >= at_utc).collect();
            let first = after
                .iter()
                .find(|m| m.text.starts_with(&new))
                .ok_or("the new text never went out")?;
            times.push((first.at - at_utc).to_std().unwrap_or_default());
            old += after.iter().filter(|m| m.text.starts_with(&prev)).count();
        }
        reloads_applied(&daemon, s.reloads)?;
        Ok((times, old))
    }
    .await;
    finished(&mut daemon, &sim, measure).await
}

/// One daemon's stream: its bookings, their lateness, the reloads' signals, and
/// the reloads its log counts (applied, refused).
struct Streamed {
    made: Vec<stream::Made>,
    late: Lateness,
    signals: Vec<chrono::DateTime<chrono::Utc>>,
    reloads: (usize, usize),
}

impl Streamed {
    /// Whether booking `i` fell due within `RELOAD_SHADOW` after one of `signals`.
    fn near(&self, i: usize, signals: &[chrono::DateTime<chrono::Utc>]) -> bool {
        let due = self.made[i].created + chrono::Duration::milliseconds(1_000);
        let shadow = chrono::Duration::from_std(RELOAD_SHADOW).unwrap_or_default();
        signals.iter().any(|s| due >= *s && due <= *s + shadow)
    }
}

/// Lateness without reloads, and with them, measured at the same time.
async fn side_by_side(s: &Scale) -> Result<(Streamed, Streamed), String> {
    let (quiet, reloaded) = tokio::join!(streamed(s, false), streamed(s, true));
    Ok((quiet?, reloaded?))
}

/// One daemon's stream, reloaded every `stream_for / reloads` when `reload`.
async fn streamed(s: &Scale, reload: bool) -> Result<Streamed, String> {
    let sim = start_sim(&[COMPANY, ADDED]).await?;
    let mut daemon = Running::spawn(&sim, &[COMPANY], &parts(500, 1_000, "Запись"))?;
    let measure = async {
        first_polled(&mut daemon, &sim, COMPANY).await?;
        let every = s.stream_for / (s.stream_reloads as u32 + 1);
        let mut signals = Vec::new();
        let mut failed = None;
        let prefix = if reload { "931" } else { "930" };
        let pace = Duration::from_millis(250);
        let made = stream::make(&sim, &mut daemon, COMPANY, prefix, pace, |d, elapsed| {
            let done = signals.len();
            if reload && done < s.stream_reloads && elapsed >= every * (done as u32 + 1) {
                let k = done + 1;
                // By turns: a reworded text, a salon added, the salon removed.
                let (companies, words): (&[i64], _) = if k % 3 == 2 {
                    (&[COMPANY, ADDED], format!("Запись{}", k - 1))
                } else {
                    (&[COMPANY], format!("Запись{k}"))
                };
                let sent = d
                    .rewrite_config(&sim, companies, &parts(500, 1_000, &words))
                    .and_then(|()| d.hangup());
                signals.push(chrono::Utc::now());
                failed = failed.take().or(sent.err());
            }
            elapsed < s.stream_for
        })
        .await?;
        if let Some(e) = failed {
            return Err(e);
        }
        let settle = Duration::from_secs(2);
        let late = stream::lateness(&sim, &mut daemon, &made, 1_000, PATIENCE, settle).await?;
        Ok(Streamed {
            made,
            late,
            signals,
            reloads: daemon.reloads(),
        })
    }
    .await;
    finished(&mut daemon, &sim, measure).await
}
