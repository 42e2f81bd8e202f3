//! `cargo bench --bench retention`: the database's size over a simulated year of a
//! busy salon, `[retention] keep_after_visit = "180d"` against `"off"`.
//!
//! 60 bookings a day (by the administrators, 9 to 21, for a visit 1 to 14 days on;
//! a tenth moved, a twentieth cancelled), each with its notices (the confirmation,
//! the evening-before reminder asking to confirm, the two-hours-before one, a
//! change or cancellation), their delivery statuses (sent, delivered, mostly
//! read) and the clients' answers (60 % «да»: the visit confirmed in YClients and
//! the client thanked; 10 % a cancel request or a question: the staff told, the
//! client answered). All of it is written through the store's own functions with
//! simulated timestamps, in 10-minute steps (`support::year`); the purge runs as
//! the daemon's loop runs it, every simulated hour, then `PRAGMA
//! incremental_vacuum` and a checkpoint when it purged anything.
//!
//! The two years run side by side on two new SQLite files (`auto_vacuum =
//! INCREMENTAL`, as the daemon makes them), their commits without `fsync` for speed (no page
//! differs). At each month's end: the file and its WAL, the rows kept. With
//! `BOOKING_MONITOR_PG_SERVER` set, the same year with retention on and off on
//! PostgreSQL too (`pg_total_relation_size` of every table).
//!
//! `BENCH_QUICK=1`: 40 days, `keep_after_visit = "10d"`, a sample every 10 days.
//! Exits 1 when a part could not run, or the file with retention grew in its
//! last quarter.

#[allow(dead_code)]
mod support;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::store::{Db, DbOptions};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use support::pg::PgDatabase;
use support::year::{Calls, YearSim, BOOKINGS_PER_DAY};
use support::{secs, Report};

struct Scale {
    days: u32,
    keep: &'static str,
    /// A sample at each month's end, or every this many days.
    every_days: Option<u32>,
}

/// One size measured.
struct Sample {
    day: NaiveDate,
    main: u64,
    wal: u64,
    bookings: i64,
    notifications: i64,
    /// The store's calls since the last sample.
    calls: Calls,
}

struct Year {
    samples: Vec<Sample>,
    purges: support::year::Purges,
    took: Duration,
    /// SQLite's `PRAGMA auto_vacuum` (2: incremental), or the backend.
    mode: String,
}

fn main() -> ExitCode {
    let quick = support::quick();
    let scale = if quick {
        Scale {
            days: 40,
            keep: "10d",
            every_days: Some(10),
        }
    } else {
        Scale {
            days: 365,
            keep: "180d",
            every_days: None,
        }
    };
    let started = Instant::now();
    let load_before = support::load_average();
    let server = support::pg::server();
    // The four years side by side: each writes its own database.
    let scale = &scale;
    let (on, off, pg) = std::thread::scope(|s| {
        let on = s.spawn(|| on_sqlite(scale, scale.keep));
        let off = s.spawn(|| on_sqlite(scale, "off"));
        let pg = server.as_deref().map(|server| {
            let on = s.spawn(move || on_postgres(scale, server, scale.keep));
            let off = s.spawn(move || on_postgres(scale, server, "off"));
            (on, off)
        });
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Year, String>>| {
            h.join()
                .unwrap_or_else(|_| Err("the thread panicked".into()))
        };
        (
            join(on),
            join(off),
            pg.map(|(on, off)| (join(on), join(off))),
        )
    });
    let mut report = Report::default();
    let on = report.figures(on, |e| format!("[SQLite, retention {}] {e}", scale.keep));
    let off = report.figures(off, |e| format!("[SQLite, retention off] {e}"));
    if let (Some(on), Some(off)) = (&on, &off) {
        side_by_side(&mut report, "SQLite", scale, on, off);
    }
    match pg {
        Some((on, off)) => {
            let on = report.figures(on, |e| {
                format!("[PostgreSQL, retention {}] {e}", scale.keep)
            });
            let off = report.figures(off, |e| format!("[PostgreSQL, retention off] {e}"));
            if let (Some(on), Some(off)) = (&on, &off) {
                side_by_side(&mut report, "PostgreSQL", scale, on, off);
            }
        }
        None => report.row("[PostgreSQL]", "not run", "BOOKING_MONITOR_PG_SERVER unset"),
    }
    support::print_heading("retention", quick, started.elapsed(), &load_before);
    report.print_table(&[]);
    report.exit_code()
}

/// The simulated year begins on a Monday.
fn first_day() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 0, 0, 0)
        .single()
        .expect("a date")
}

fn on_sqlite(scale: &Scale, keep: &str) -> Result<Year, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let path = dir.path().join("booking-monitor.db");
    let db = Db::open(&path).map_err(|e| e.to_string())?;
    let mode = support::year::pragma(&db, "auto_vacuum")?;
    let mut year = simulate(scale, db, keep, &|| support::year::sqlite_bytes(&path))?;
    year.mode = format!("auto_vacuum {mode}");
    Ok(year)
}

fn on_postgres(scale: &Scale, server: &str, keep: &str) -> Result<Year, String> {
    let part = if keep == "off" { "off" } else { "on" };
    let database = PgDatabase::create(server, &format!("retention_{part}"))?;
    let db =
        Db::open_postgres(&database.url(), &DbOptions::default()).map_err(|e| e.to_string())?;
    let size = || (support::pg::tables_bytes(&db).unwrap_or(0), 0);
    let mut year = simulate(scale, db.clone(), keep, &size)?;
    year.mode = "PostgreSQL".into();
    Ok(year)
}

/// The simulated days, sampling the size (`bytes`: the file and its log).
fn simulate(
    scale: &Scale,
    db: Db,
    keep: &str,
    bytes: &dyn Fn() -> (u64, u64),
) -> Result<Year, String> {
    let began = Instant::now();
    let mut sim = YearSim::new(db, first_day(), keep, 22)?;
    let mut samples = Vec::new();
    let mut before = Calls::new();
    for d in 0..scale.days {
        let day = first_day() + chrono::Duration::days(d.into());
        sim.day(day)?;
        let date = day.date_naive();
        let sample_now = match scale.every_days {
            Some(n) => (d + 1) % n == 0,
            None => (date + chrono::Days::new(1)).month() != date.month(),
        };
        if sample_now {
            let (main, wal) = bytes();
            let (bookings, notifications) = support::year::rows(sim.db())?;
            let calls = sim
                .calls()
                .iter()
                .map(|(k, (t, n))| {
                    let (t0, n0) = before.get(k).copied().unwrap_or_default();
                    (*k, (*t - t0, n - n0))
                })
                .collect();
            before = sim.calls().clone();
            samples.push(Sample {
                day: date,
                main,
                wal,
                bookings,
                notifications,
                calls,
            });
        }
    }
    Ok(Year {
        samples,
        purges: sim.purges.clone(),
        took: began.elapsed(),
        mode: String::new(),
    })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn size(s: &Sample) -> String {
    if s.wal == 0 {
        mib(s.main)
    } else {
        format!(
            "{} ({} + WAL {})",
            mib(s.main + s.wal),
            mib(s.main),
            mib(s.wal)
        )
    }
}

fn side_by_side(report: &mut Report, backend: &str, scale: &Scale, on: &Year, off: &Year) {
    let l = format!("[{backend}]");
    for (i, (a, b)) in on.samples.iter().zip(&off.samples).enumerate() {
        report.row(
            format!(
                "{l} {} {} (day {})",
                if scale.every_days.is_some() {
                    "sample"
                } else {
                    "month"
                },
                i + 1,
                a.day
            ),
            format!("on **{}** / off **{}**", size(a), size(b)),
            format!(
                "rows kept: on {} bookings, {} notifications; off {} bookings, {} notifications",
                a.bookings, a.notifications, b.bookings, b.notifications
            ),
        );
    }
    let p = &on.purges;
    report.row(
        format!("{l} purges (retention {})", scale.keep),
        format!(
            "{} runs, {} bookings and {} rows in all purged",
            p.runs, p.bookings, p.rows
        ),
        format!(
            "mean {:.1} ms, longest {:.0} ms each (simulated hours; commits without fsync); {}",
            p.took.as_secs_f64() * 1000.0 / p.runs.max(1) as f64,
            p.longest.as_secs_f64() * 1000.0,
            on.mode
        ),
    );
    // What each store call cost as the tables grew: a cost that grows with them
    // is a query that reads the whole table.
    for (run, year) in [("on", on), ("off", off)] {
        let (Some(first), Some(last)) = (year.samples.first(), year.samples.last()) else {
            continue;
        };
        let mean = |s: &Sample, k: &str| {
            let (t, n) = s.calls.get(k).copied().unwrap_or_default();
            t.as_secs_f64() * 1000.0 / n.max(1) as f64
        };
        let calls: Vec<String> = last
            .calls
            .keys()
            .map(|k| format!("{k} {:.2} → {:.2}", mean(first, k), mean(last, k)))
            .collect();
        report.row(
            format!("{l} retention {run}: store calls, mean ms, first sample → last"),
            calls.join("; "),
            "commits without fsync: what the queries themselves cost",
        );
    }
    report.row(
        format!("{l} simulated"),
        format!("{} days of {} bookings a day", scale.days, BOOKINGS_PER_DAY),
        format!("on took {}, off {}", secs(on.took), secs(off.took)),
    );
    // The last quarter: with retention, the SQLite file must have stopped growing
    // (PostgreSQL keeps what it frees for its own reuse: noted, not failed).
    let n = on.samples.len();
    if let (Some(first), Some(last)) = (on.samples.get(n - n / 4 - 1), on.samples.last()) {
        let grew = (last.main + last.wal) as f64 / (first.main + first.wal).max(1) as f64;
        if grew > 1.05 {
            let seen = if backend == "SQLite" {
                &mut report.failures
            } else {
                &mut report.problems
            };
            seen.push(format!(
                "{l} with retention the database grew {:.0} % from {} to {}",
                (grew - 1.0) * 100.0,
                first.day,
                last.day
            ));
        }
    }
}
