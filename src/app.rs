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
    /// A client asked us to stop (or to start again) at the desk: `optout add`,
    /// `remove`, `list`.
    Optout {
        #[command(subcommand)]
        action: crate::consent::OptoutAction,
        #[command(flatten)]
        source: ConfigSource,
    },
    /// Erase every stored trace of a client's phone (their request under 152-FZ);
    /// their later bookings are skipped and never stored.
    Forget {
        /// The client's phone, in any format.
        #[arg(long, value_name = "PHONE")]
        phone: String,
        /// Lift an earlier `forget`: the phone's later bookings are notified again.
        #[arg(long)]
        undo: bool,
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
        Command::Optout { action, source } => {
            with_config(&source, |config, _| crate::consent::optout(config, action))
        }
        Command::Forget {
            phone,
            undo,
            source,
        } => with_config(&source, |config, _| {
            crate::consent::forget(config, &phone, undo)
        }),
        Command::Run(source) => with_config(&source, |config, logger| run(config, logger, &source)),
        Command::Migrate(source) => {
            with_config(&source, |config, _| crate::commands::migrate(config))
        }
    }
}

fn with_config(source: &ConfigSource, command: impl FnOnce(Config, Logger) -> i32) -> i32 {
    match load(source) {
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

/// The config file and the env file, read and checked (at start, and again at
/// each SIGHUP). The error names every problem.
fn load(source: &ConfigSource) -> Result<Config, String> {
    let file = match source.env_file.as_deref().map(EnvFile::read).transpose() {
        Ok(file) => file.unwrap_or_default(),
        Err(e) => return Err(e.to_string()),
    };
    let env = |name: &str| file.get(name).or_else(|| std::env::var(name).ok());
    Config::load(&source.config, &env).map_err(|e| e.to_string())
}

fn run(config: Config, logger: Logger, source: &ConfigSource) -> i32 {
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
        let mut signals = Signals::new();
        let code = loop {
            tokio::select! {
                code = daemon.gave_up() => break code,
                signal = signals.next() => match signal {
                    Signal::Reload => {
                        slog::info!(logger, "SIGHUP: reading the config again");
                        match load(source) {
                            Ok(config) => daemon.reload(config).await,
                            Err(problems) => daemon.refuse_reload(&problems),
                        }
                    }
                    Signal::Stop(name) => {
                        slog::info!(logger, "signal received"; "signal" => name);
                        break EXIT_OK;
                    }
                },
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

/// What a signal asks of the daemon.
enum Signal {
    /// SIGHUP: read the config again and apply it (systemd's `ExecReload`).
    Reload,
    /// SIGTERM or SIGINT: stop gracefully.
    Stop(&'static str),
}

/// The signals the daemon answers, registered once so that none arriving between
/// two waits is lost.
struct Signals {
    #[cfg(unix)]
    term: actix_rt::signal::unix::Signal,
    #[cfg(unix)]
    hup: actix_rt::signal::unix::Signal,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use actix_rt::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
                hup: signal(SignalKind::hangup()).expect("SIGHUP handler"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => Signal::Stop("SIGTERM"),
                _ = self.hup.recv() => Signal::Reload,
                _ = actix_rt::signal::ctrl_c() => Signal::Stop("SIGINT"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = actix_rt::signal::ctrl_c().await;
            Signal::Stop("SIGINT")
        }
    }
}
