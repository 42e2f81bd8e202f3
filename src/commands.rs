//! The one-shot commands an operator types besides `run`, `check` and `status`:
//! `webhooks install`, `bot-record` and `migrate`. Each prints what it did on
//! stdout and exits 0, 1 (it failed) or 2 (bad config or arguments).

use std::path::Path;

use clap::Subcommand;

use crate::command_support::{
    db_options, open_database, open_existing, EXIT_BAD_CONFIG, EXIT_FATAL, EXIT_OK,
};
use crate::config::{missing, redact_password, Config, ConfigError, DatabaseLocation, LoadError};
use crate::domain::{CompanyId, RecordId};
use crate::hooks;
use crate::store::{self, Db, StoreError};
use crate::verdict::plural;

/// Exit 2 with the config's path and the key at fault, as a bad config at load.
fn bad_config(path: &Path, error: ConfigError) -> i32 {
    let e = LoadError::Invalid {
        path: path.to_path_buf(),
        errors: error.into(),
    };
    eprintln!("booking-monitor: {e}");
    EXIT_BAD_CONFIG
}

/// Registers our URL with every company: one verdict line each; exit 1 if any
/// failed, 2 without a strong token or with a URL YClients must not post to.
pub fn webhooks_install(config: Config, path: &Path, base: &str) -> i32 {
    const KEY: &str = "yclients.webhook_token";
    let token = config.yclients.webhook_token.expose().trim().to_string();
    if token.is_empty() {
        let e = missing(KEY, "YCLIENTS_WEBHOOK_TOKEN");
        let problem = format!("{} (the secret part of the webhook URL)", e.problem);
        return bad_config(path, ConfigError::new(KEY, problem));
    }
    if let Some(why) = hooks::refuse_token(&token) {
        return bad_config(path, ConfigError::new(KEY, why));
    }
    if let Some(why) = hooks::refuse_base(base) {
        eprintln!("booking-monitor: --url {why}");
        return EXIT_BAD_CONFIG;
    }
    let url = hooks::our_url(base, &token);
    let verdicts = actix_rt::System::new().block_on(hooks::install_all(&config, &url));
    print!(
        "{}",
        hooks::render_install(&verdicts, config.companies.len())
    );
    if verdicts.iter().any(|v| v.failed()) {
        EXIT_FATAL
    } else {
        EXIT_OK
    }
}

/// Registers or forgets a booking our bot made. A company the config does not
/// list is refused (exit 2) unless `--force`: a record there changes nothing, so
/// it is most likely a typo.
pub fn bot_record(config: Config, path: &Path, action: BotRecordAction) -> i32 {
    if let BotRecordAction::Add {
        company_id,
        force: false,
        ..
    } = action
    {
        if config.company(CompanyId(company_id)).is_none() {
            let listed: Vec<String> = config.companies.iter().map(|c| c.id.to_string()).collect();
            eprintln!(
                "booking-monitor: company {company_id} is not in {} ([[companies]]: {}); \
                 pass --force to register the booking anyway",
                path.display(),
                listed.join(", ")
            );
            return EXIT_BAD_CONFIG;
        }
    }
    let db = match open_existing(&config) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let result = db.blocking(|conn| match action {
        BotRecordAction::Add {
            company_id,
            record_id,
            ..
        } => store::add_bot_record(
            conn,
            CompanyId(company_id),
            RecordId(record_id),
            chrono::Utc::now(),
        )
        .map(|new| {
            if new {
                "registered"
            } else {
                "already registered"
            }
        }),
        BotRecordAction::Remove {
            company_id,
            record_id,
        } => {
            store::remove_bot_record(conn, CompanyId(company_id), RecordId(record_id)).map(|gone| {
                if gone {
                    "removed"
                } else {
                    "was not registered"
                }
            })
        }
    });
    match result {
        Ok(what) => {
            println!("{what}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            EXIT_FATAL
        }
    }
}

/// Creates or upgrades the database, and says which it did, where, and at which
/// schema version.
pub fn migrate(config: Config) -> i32 {
    let (place, before) = match config.database_location() {
        DatabaseLocation::Sqlite(path) => {
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            // A file that is not there is created; one that is, is read first.
            let before = match Db::open_read_only(path) {
                Ok(db) => db.blocking(store::schema_version),
                Err(StoreError::NoDatabase { .. }) => Ok(None),
                Err(e) => Err(e),
            };
            (shown.display().to_string(), before)
        }
        DatabaseLocation::Postgres(url) => {
            let before = Db::connect_postgres(url.expose(), &db_options(&config))
                .and_then(|db| db.blocking(store::schema_version));
            (redact_password(url.expose()), before)
        }
    };
    let after = before.and_then(|before| {
        let db = open_database(&config, None)?;
        Ok((before, db.blocking(store::schema_version)?))
    });
    match after {
        Ok((before, Some((count, now)))) => {
            println!("{}", migrated(&place, before, count, &now));
            EXIT_OK
        }
        Ok((_, None)) => {
            eprintln!("booking-monitor: the database {place} has no schema after migrating");
            EXIT_FATAL
        }
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            EXIT_FATAL
        }
    }
}

/// What `migrate` did, in words.
fn migrated(place: &str, before: Option<(usize, String)>, count: usize, now: &str) -> String {
    match before {
        None => format!(
            "created the database {place}: schema version {now} ({})",
            plural(count, "migration", "migrations")
        ),
        Some((was, _)) if was == count => {
            format!("the database {place} is up to date: schema version {now}")
        }
        Some((was, from)) => format!(
            "upgraded the database {place} from schema version {from} to {now} ({} applied)",
            plural(count - was, "migration", "migrations")
        ),
    }
}

#[derive(Debug, Subcommand)]
pub enum BotRecordAction {
    /// Register a booking our bot made: it gets no confirmation.
    Add {
        /// The YClients company (salon) id; one of the config's [[companies]].
        company_id: i64,
        /// The YClients record (booking) id.
        record_id: i64,
        /// Register it even though the company is not in the config.
        #[arg(long)]
        force: bool,
    },
    /// Forget a registered booking: it is treated as any other again.
    Remove {
        /// The YClients company (salon) id.
        company_id: i64,
        /// The YClients record (booking) id.
        record_id: i64,
    },
}
