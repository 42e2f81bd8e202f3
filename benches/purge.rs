//! `cargo bench --bench purge`: retention's first purge of a year of old bookings,
//! and what it does to the confirmations being sent meanwhile.
//!
//! A SQLite file is made with a year of a busy salon whose visits all lie past the
//! cutoff (`support::year`: 60 bookings a day with their notices, statuses and
//! replies, on a simulated clock ending 181 days ago). The release daemon
//! (`booking-monitor run`) is started on a copy of it against the crate's
//! simulator, with `[retention] keep_after_visit = "180d"`: it purges at start.
//! Meanwhile an administrator makes a booking every 500 ms (polls every 500 ms, a
//! 1 s grace delay) until the purge has logged its end ("retention: purged …",
//! with `took_ms`) and 10 s more; the lateness of their confirmations (sent − made
//! − delay) during the purge and after it. Then the same stream on another copy
//! with retention off, for comparison.
//!
//! `BENCH_QUICK=1`: 30 days of old bookings. Exits 1 when a part could not run,
//! a confirmation was lost or repeated, or the purge did not log its end.

#[allow(dead_code)]
mod support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::simulator::ConfigParts;
use booking_monitor::store::{self, Db};
use chrono::{DateTime, Utc};
use support::stream::{self, Lateness, Made};
use support::year::{self, YearSim, COMPANY};
use support::{secs, start_sim, Report, Running, DB_FILE};

const POLL_MS: u64 = 500;
const DELAY_MS: u64 = 1_000;
const PACE: Duration = Duration::from_millis(250);
/// The stream goes on this long after the purge's end.
const AFTER: Duration = Duration::from_secs(10);
/// The most the stream waits for the purge to end.
const PATIENCE: Duration = Duration::from_secs(600);

/// What the purge logged.
#[derive(Debug, Clone)]
struct Purge {
    took_ms: u64,
    /// `bookings 21900, notifications …` as logged.
    rows: String,
    /// When it ended (the log line's time).
    ended: DateTime<Utc>,
}

/// The purge's time, from the daemon's spawn.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: chrono::Duration,
    to: chrono::Duration,
}

struct Run {
    made: Vec<Made>,
    late: Lateness,
    /// When the daemon was spawned.
    spawned: DateTime<Utc>,
    purge: Option<Purge>,
    bytes_before: u64,
    bytes_after: u64,
}

impl Run {
    /// The purge's time, when this run purged.
    fn window(&self) -> Option<Window> {
        let p = self.purge.as_ref()?;
        let to = p.ended - self.spawned;
        Some(Window {
            from: to - chrono::Duration::milliseconds(p.took_ms as i64),
            to,
        })
    }
}

fn main() -> ExitCode {
    let quick = support::quick();
    let days = if quick { 30 } else { 365 };
    let started = Instant::now();
    let load_before = support::load_average();
    let mut report = Report::default();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let seeded = dir.path().join("seeded.db");
    let seed = seed(&seeded, days);
    let seed = report.figures(seed, |e| format!("[seed] {e}"));
    let mut runs = Vec::new();
    if let Some(took) = seed {
        report.row(
            "[seed] a year of old bookings",
            format!("{days} days, **{}**", support::mib(std::fs::metadata(&seeded).map_or(0, |m| m.len()) / 1024)),
            format!("written through the store on a simulated clock in {}; every visit more than 180 days ago", secs(took)),
        );
        actix_rt::System::new().block_on(async {
            let mut window = None;
            for keep in ["180d", "off"] {
                let result = run(&seeded, keep, window).await;
                if let Ok(r) = &result {
                    window = window.or(r.window());
                }
                runs.push((keep, result));
            }
        });
    }
    let mut window = None;
    for (keep, result) in runs {
        let l = format!("[retention {keep}]");
        if let Some(r) = report.figures(result, |e| format!("{l} {e}")) {
            window = window.or(r.window());
            describe(&mut report, &l, &r, window);
        }
    }
    support::print_heading("purge", quick, started.elapsed(), &load_before);
    report.print_table(&[]);
    report.exit_code()
}

/// A year of bookings whose visits all ended more than 180 days ago.
fn seed(path: &std::path::Path, days: u32) -> Result<Duration, String> {
    let began = Instant::now();
    let db = Db::open(path).map_err(|e| e.to_string())?;
    let end = Utc::now().date_naive() - chrono::Days::new(181 + 16);
    let first = (end - chrono::Days::new(days.into()))
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc();
    let mut sim = YearSim::new(db.clone(), first, "off", 7)?;
    for d in 0..days {
        sim.day(first + chrono::Duration::days(d.into()))?;
    }
    db.blocking(store::checkpoint).map_err(|e| e.to_string())?;
    Ok(began.elapsed())
}

async fn run(seeded: &std::path::Path, keep: &str, window: Option<Window>) -> Result<Run, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let file = dir.path().join(DB_FILE);
    std::fs::copy(seeded, &file).map_err(|e| format!("copying the seeded database: {e}"))?;
    let bytes_before = year::sqlite_bytes(&file);
    let sim = start_sim(&[COMPANY]).await?;
    let parts = ConfigParts {
        monitor: support::monitor(POLL_MS, DELAY_MS),
        // JSON: the purge's line says when it ended, to the millisecond.
        tables: format!(
            "{}\n[retention]\nkeep_after_visit = \"{keep}\"\n\n[log]\nformat = \"json\"\n",
            year::TABLES
        ),
        ..ConfigParts::default()
    };
    let spawned = Utc::now();
    let mut daemon = Running::spawn_in(dir, &sim, None, &[COMPANY], &parts)?;
    let result = measure(&sim, &mut daemon, keep != "off", window).await;
    let (mut r, stopped) = daemon.finish(&sim, result).await?;
    if !stopped.ok() {
        return Err(format!(
            "the daemon did not exit 0 on SIGTERM: {}",
            stopped.describe()
        ));
    }
    let after = year::sqlite_bytes(&daemon.db_path());
    r.spawned = spawned;
    r.bytes_before = bytes_before.0 + bytes_before.1;
    r.bytes_after = after.0 + after.1;
    Ok(r)
}

/// The stream from the spawn on (the purge begins at the start): until the purge
/// has ended and `AFTER` more, or the other run's purge window and `AFTER`.
async fn measure(
    sim: &booking_monitor::simulator::Simulator,
    daemon: &mut Running,
    purging: bool,
    window: Option<Window>,
) -> Result<Run, String> {
    let mut purge: Option<Purge> = None;
    let made = stream::make(sim, daemon, COMPANY, "915", PACE, |d, elapsed| {
        if purging && purge.is_none() {
            purge = logged_purge(&d.log_text());
        }
        let to = |w: Window| w.to.to_std().unwrap_or_default();
        match (purging, &purge, window) {
            (true, Some(_), _) => purge_ended_for(d) < AFTER,
            (true, None, _) => elapsed < PATIENCE,
            (false, _, Some(w)) => elapsed < to(w) + AFTER,
            (false, _, None) => elapsed < AFTER * 3,
        }
    })
    .await?;
    let settle = Duration::from_millis(2 * POLL_MS + DELAY_MS);
    let patience = Duration::from_secs(120);
    let late = stream::lateness(sim, daemon, &made, DELAY_MS, patience, settle).await?;
    Ok(Run {
        made,
        late,
        spawned: Utc::now(),
        purge,
        bytes_before: 0,
        bytes_after: 0,
    })
}

/// How long ago the purge's line was written.
fn purge_ended_for(d: &Running) -> Duration {
    logged_purge(&d.log_text())
        .and_then(|p| (Utc::now() - p.ended).to_std().ok())
        .unwrap_or_default()
}

/// The purge's line in the daemon's JSON log, once it is there.
fn logged_purge(log: &str) -> Option<Purge> {
    let line: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .find(|v: &serde_json::Value| {
            v["msg"]
                .as_str()
                .is_some_and(|m| m.starts_with("retention: purged"))
        })?;
    let rows = ["bookings", "notifications", "deliveries", "replies"]
        .iter()
        .map(|k| format!("{k} {}", line[*k]))
        .collect::<Vec<_>>()
        .join(", ");
    Some(Purge {
        took_ms: line["took_ms"].as_u64()?,
        rows,
        ended: line["ts"].as_str()?.parse().ok()?,
    })
}

fn describe(report: &mut Report, l: &str, r: &Run, window: Option<Window>) {
    // Due while the purge ran (the other run: in the same time from its spawn).
    let during = |i: usize| -> bool {
        let Some(w) = window else { return false };
        let due = r.made[i].created + chrono::Duration::milliseconds(DELAY_MS as i64);
        due >= r.spawned + w.from && due <= r.spawned + w.to
    };
    if let Some(p) = &r.purge {
        report.row(
            format!("{l} the purge at start"),
            format!("**{} ms**", p.took_ms),
            format!(
                "purged {}; file and WAL {} before, {} after",
                p.rows,
                support::mib(r.bytes_before / 1024),
                support::mib(r.bytes_after / 1024)
            ),
        );
    } else if l.contains("180d") {
        report
            .failures
            .push(format!("{l} the purge never logged its end"));
    }
    let what = if r.purge.is_some() {
        "during the purge"
    } else {
        "in the on run's purge window"
    };
    report.row(
        format!("{l} lateness {what}"),
        format!("**{}**", r.late.spread(during)),
        "confirmations due while the purge ran: sent − (made + 1 s delay)",
    );
    report.row(
        format!("{l} lateness after it"),
        r.late.spread(|i| !during(i)),
        "the rest of the stream",
    );
    report.row(
        format!("{l} stream"),
        format!(
            "{} bookings, {} missing, {} repeated",
            r.made.len(),
            r.late.missing(),
            r.late.duplicates
        ),
        format!(
            "one every {} ms; polls every {POLL_MS} ms",
            PACE.as_millis()
        ),
    );
    if r.late.missing() > 0 || r.late.duplicates > 0 {
        report.failures.push(format!(
            "{l} {} confirmations missing, {} repeated",
            r.late.missing(),
            r.late.duplicates
        ));
    }
}
