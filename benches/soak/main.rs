//! `cargo bench --bench soak`: the randomized soak of issue 21 on the release binary
//! against the crate's simulator, on SQLite (one instance) and on PostgreSQL (two
//! instances), both at once by default. What it does and checks: `engine/mod.rs`.
//!
//! - `SOAK_SEED`: the schedule's seed (printed first; random when unset). The same
//!   seed replays the same schedule of actions and faults; the wall-clock
//!   interleaving of the daemon's work with it differs from run to run.
//! - `SOAK_MINUTES`: how long the schedule runs, per backend (default 10).
//! - `SOAK_BACKEND`: `sqlite`, `postgres` or `both` (default).
//! - `SOAK_PG_RESTARTS`: `1` (default): PostgreSQL runs on a server of the soak's
//!   own (`.ci/postgres.sh` in `/tmp/bm-soak-pg-<port>`, port `SOAK_PG_PORT`,
//!   default 55433), restarted as a fault; `0`: on `BOOKING_MONITOR_PG_SERVER`,
//!   never restarted (other people's tests use it).
//! - `SOAK_PACE_MS`: the mean gap between two steps (default 400).
//! - `SOAK_TRACE=1`: print every step as it is carried out.
//!
//! Prints a markdown report per backend; exits 1 on any violation.

mod engine;

use std::process::ExitCode;
use std::time::Duration;

use engine::{Backend, Outcome, Server, Settings, Timing};

const BIN: &str = env!("CARGO_BIN_EXE_booking-monitor");

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v}: not understood")),
        _ => Ok(default),
    }
}

fn main() -> ExitCode {
    let settings = || -> Result<(u64, f64, String, bool, u16, u64), String> {
        Ok((
            engine::seed_from_env()?,
            env_or("SOAK_MINUTES", 10.0)?,
            env_or("SOAK_BACKEND", "both".to_string())?,
            env_or::<u8>("SOAK_PG_RESTARTS", 1)? != 0,
            env_or("SOAK_PG_PORT", 55_433)?,
            env_or("SOAK_PACE_MS", 400)?,
        ))
    };
    let (seed, minutes, backend, pg_restarts, pg_port, pace_ms) = match settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("soak: seed {seed} (SOAK_SEED={seed} replays this schedule)");
    let trace = std::env::var("SOAK_TRACE").is_ok_and(|v| v == "1");
    let settings = |backend: Backend, pg_restarts: bool| Settings {
        seed,
        length: Duration::from_secs_f64(minutes * 60.0),
        mean_gap: Duration::from_millis(pace_ms),
        backend,
        pg_restarts,
        binary: BIN.into(),
        timing: Timing::SOAK,
        trace,
    };
    let mut runs = Vec::new();
    if matches!(backend.as_str(), "sqlite" | "both") {
        runs.push(settings(Backend::Sqlite, false));
    }
    if matches!(backend.as_str(), "postgres" | "both") {
        let server = if pg_restarts {
            Server::own(
                &std::env::temp_dir().join(format!("bm-soak-pg-{pg_port}")),
                pg_port,
            )
        } else {
            std::env::var("BOOKING_MONITOR_PG_SERVER")
                .map(Server::Shared)
                .map_err(|_| "SOAK_PG_RESTARTS=0 needs BOOKING_MONITOR_PG_SERVER".to_string())
        };
        match server {
            Ok(server) => runs.push(settings(Backend::Postgres(server), pg_restarts)),
            Err(e) => {
                eprintln!("soak: no PostgreSQL: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if runs.is_empty() {
        eprintln!("soak: SOAK_BACKEND={backend}: expected sqlite, postgres or both");
        return ExitCode::FAILURE;
    }
    let outcomes: Vec<Result<Outcome, String>> = actix_rt::System::new().block_on(async {
        futures_util::future::join_all(runs.into_iter().map(engine::run)).await
    });
    let mut passed = true;
    for outcome in outcomes {
        match outcome {
            Ok(outcome) => {
                outcome.print();
                passed &= outcome.passed();
            }
            Err(e) => {
                println!("soak (seed {seed}): could not run: {e}");
                passed = false;
            }
        }
    }
    println!();
    println!(
        "soak: seed {seed}: {}",
        if passed { "no violations" } else { "FAILED" }
    );
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
