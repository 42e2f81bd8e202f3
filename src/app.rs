//! The command line: `run`, `migrate`, `demo`, with DESIGN.md's exit codes.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use slog::Logger;

use crate::config::{Config, DatabaseLocation};
use crate::daemon::Daemon;
use crate::faults::{self, FaultPlan};
use crate::logging;
use crate::panic_guard;
use crate::store::{Db, InstanceLock};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FATAL: i32 = 1;
pub const EXIT_BAD_CONFIG: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "booking-monitor",
    version,
    about = "WhatsApp confirmations for YClients bookings made by hand"
)]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = "config.toml")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon until SIGTERM or SIGINT.
    Run,
    /// Create or upgrade the database, then exit.
    Migrate,
    /// The whole pipeline against a built-in YClients and WhatsApp on 127.0.0.1; no account needed.
    Demo,
}

pub fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::Demo => crate::demo::run(),
        Command::Run => with_config(&cli.config, run),
        Command::Migrate => with_config(&cli.config, |config, logger| match open_db(&config) {
            Ok(_) => {
                slog::info!(logger, "database is up to date");
                EXIT_OK
            }
            Err(code) => code,
        }),
    }
}

fn with_config(path: &Path, command: impl FnOnce(Config, Logger) -> i32) -> i32 {
    match Config::load(path, &|name| std::env::var(name).ok()) {
        Ok(config) => {
            let logger = logging::logger(&config.log);
            command(config, logger)
        }
        Err(e) => {
            eprintln!("booking-monitor: bad config {}: {e}", path.display());
            EXIT_BAD_CONFIG
        }
    }
}

/// Opens the database the config names; a failure is fatal (exit 1).
pub fn open_db(config: &Config) -> Result<Db, i32> {
    let DatabaseLocation::Sqlite(path) = config.database_location().map_err(|e| {
        eprintln!("booking-monitor: bad config: {e}");
        EXIT_BAD_CONFIG
    })?;
    Db::open(&path).map_err(|e| {
        eprintln!("booking-monitor: {e}");
        EXIT_FATAL
    })
}

fn run(config: Config, logger: Logger) -> i32 {
    panic_guard::install_hook(logger.clone());
    let DatabaseLocation::Sqlite(path) = config.database_location().expect("validated");
    let _lock = match InstanceLock::acquire(&path) {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            return EXIT_FATAL;
        }
    };
    let db = match open_db(&config) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let faults = match FaultPlan::parse(&std::env::var(faults::ENV).unwrap_or_default()) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("booking-monitor: bad {}: {e}", faults::ENV);
            return EXIT_BAD_CONFIG;
        }
    };
    actix_rt::System::new().block_on(async move {
        let daemon = match Daemon::start_with_faults(config, db, logger.clone(), faults) {
            Ok(daemon) => daemon,
            Err(e) => {
                eprintln!("booking-monitor: {e}");
                return EXIT_BAD_CONFIG;
            }
        };
        let code = tokio::select! {
            code = daemon.gave_up() => code,
            signal = shutdown_signal() => {
                slog::info!(logger, "signal received"; "signal" => signal);
                EXIT_OK
            }
        };
        daemon.shutdown().await;
        code
    })
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = actix_rt::signal::ctrl_c() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_rt::signal::ctrl_c().await;
        "SIGINT"
    }
}
