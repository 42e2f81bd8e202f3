//! The command line and its exit codes (README's "Command line"; ARCHITECTURE.md).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use slog::Logger;

use crate::config::{Config, DatabaseLocation};
use crate::daemon::Daemon;
use crate::env_file::EnvFile;
use crate::faults::{self, FaultPlan};
use crate::logging;
use crate::panic_guard;
use crate::store::{Db, InstanceLock};

pub use crate::command_support::{
    db_options, open_database, open_existing, EXIT_BAD_CONFIG, EXIT_FATAL, EXIT_OK,
};
pub use crate::commands::BotRecordAction;

#[derive(Debug, Parser)]
#[command(
    name = "booking-monitor",
    version,
    about = "WhatsApp confirmations for YClients bookings made by hand",
    after_help = "Every command but `demo` reads its config from --config PATH (default: ./config.toml)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where a command's config comes from (every command but `demo`, which brings
/// its own). Global within the command, so `bot-record add 1 2 --config X` works.
#[derive(Debug, Clone, Args)]
pub struct ConfigSource {
    /// The config file.
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        default_value = "config.toml"
    )]
    pub config: PathBuf,
    /// NAME=value lines (the unit's EnvironmentFile, e.g. the tokens) that take
    /// precedence over the environment; `-` reads them from stdin.
    #[arg(long, global = true, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon until SIGTERM or SIGINT.
    Run(ConfigSource),
    /// Create or upgrade the database, then exit.
    Migrate(ConfigSource),
    /// The whole pipeline against a built-in YClients and WhatsApp on 127.0.0.1;
    /// no account and no config needed.
    Demo {
        /// Keep the demo's status page (and metrics) up this many seconds after its
        /// summary; Ctrl-C ends that early.
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        serve_for: u64,
        /// Keep the demo's database (and a config for `status`) in this directory
        /// instead of a temporary one.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Validate the config, then probe each company and the WhatsApp provider.
    Check(ConfigSource),
    /// What the daemon has done: polls, notifications, recent decisions.
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        source: ConfigSource,
    },
    /// Register or forget a booking our own bot made: it gets no confirmation.
    BotRecord {
        #[command(subcommand)]
        action: BotRecordAction,
        #[command(flatten)]
        source: ConfigSource,
    },
    /// Send one real message through a salon's own sender (or its SMS provider),
    /// from its template for a sample booking; nothing is written to the outbox.
    SendTest {
        /// The salon (one of the config's [[companies]]).
        #[arg(long, value_name = "ID")]
        company: i64,
        /// Whom to send it to, e.g. +79161234567.
        #[arg(long, value_name = "PHONE")]
        phone: String,
        /// Which notice's template: created, changed, cancelled,
        /// reminder_day_before, reminder_hours_before.
        #[arg(long, value_name = "KIND", default_value = "created")]
        kind: String,
        /// Through the SMS fallback's provider instead of WhatsApp.
        #[arg(long)]
        sms: bool,
        #[command(flatten)]
        source: ConfigSource,
    },
    /// The salons' YClients webhooks.
    Webhooks {
        #[command(subcommand)]
        action: WebhooksAction,
        #[command(flatten)]
        source: ConfigSource,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhooksAction {
    /// Register our webhook URL (with yclients.webhook_token) for every configured
    /// company, keeping the salon's other URLs.
    Install {
        /// Where YClients reaches this daemon's `http.listen`, e.g.
        /// https://bm.example.com (the path and the token are added).
        #[arg(long)]
        url: String,
    },
}

pub fn main(cli: Cli) -> i32 {
    match cli.command {
        Command::Demo { serve_for, keep } => {
            crate::demo::run(std::time::Duration::from_secs(serve_for), keep)
        }
        Command::Check(source) => with_config(&source, check),
        Command::Status { json, source } => {
            with_config(&source, move |config, _| status(config, json))
        }
        Command::BotRecord { action, source } => with_config(&source, |config, _| {
            crate::commands::bot_record(config, &source.config, action)
        }),
        Command::Webhooks {
            action: WebhooksAction::Install { url },
            source,
        } => with_config(&source, |config, _| {
            crate::commands::webhooks_install(config, &source.config, &url)
        }),
        Command::SendTest {
            company,
            phone,
            kind,
            sms,
            source,
        } => with_config(&source, |config, _| {
            let request = crate::send_test::Request {
                company,
                phone: &phone,
                kind: &kind,
                sms,
            };
            crate::send_test::run(config, request)
        }),
        Command::Run(source) => with_config(&source, run),
        Command::Migrate(source) => {
            with_config(&source, |config, _| crate::commands::migrate(config))
        }
    }
}

fn with_config(source: &ConfigSource, command: impl FnOnce(Config, Logger) -> i32) -> i32 {
    let file = match source.env_file.as_deref().map(EnvFile::read).transpose() {
        Ok(file) => file.unwrap_or_default(),
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            return EXIT_BAD_CONFIG;
        }
    };
    let env = |name: &str| file.get(name).or_else(|| std::env::var(name).ok());
    match Config::load(&source.config, &env) {
        Ok(config) => {
            let logger = logging::logger(&config.log);
            command(config, logger)
        }
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            EXIT_BAD_CONFIG
        }
    }
}

fn run(config: Config, logger: Logger) -> i32 {
    panic_guard::install_hook(logger.clone());
    // One process per SQLite file; on PostgreSQL instances share by leases.
    let _lock = match config.database_location() {
        DatabaseLocation::Sqlite(path) => match InstanceLock::acquire(path) {
            Ok(lock) => Some(lock),
            Err(e) => {
                eprintln!("booking-monitor: {e}");
                return EXIT_FATAL;
            }
        },
        DatabaseLocation::Postgres(_) => None,
    };
    let db = match open_database(&config, Some(&logger)) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            return EXIT_FATAL;
        }
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
                return e.exit_code();
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

fn check(config: Config, logger: Logger) -> i32 {
    let verdicts =
        actix_rt::System::new().block_on(async { crate::check::run(&config, &logger).await });
    print!("{}", crate::check::render(&verdicts));
    if verdicts.iter().any(|v| v.failed()) {
        EXIT_FATAL
    } else {
        EXIT_OK
    }
}

fn status(config: Config, json: bool) -> i32 {
    let opened = match config.database_location() {
        DatabaseLocation::Sqlite(path) => Db::open_read_only(path),
        DatabaseLocation::Postgres(url) => Db::connect_postgres(url.expose(), &db_options(&config)),
    };
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            return EXIT_FATAL;
        }
    };
    match db.blocking(|conn| crate::status::read(conn, &config)) {
        Ok(report) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("a report serializes")
            );
            EXIT_OK
        }
        Ok(report) => {
            print!("{}", crate::status::render_text(&report));
            EXIT_OK
        }
        Err(e) if e.is_missing_schema() => {
            eprintln!(
                "booking-monitor: the database has no tables yet: run `run` or `migrate` first"
            );
            EXIT_FATAL
        }
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            EXIT_FATAL
        }
    }
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
