//! What the commands share: their exit codes and how they open the database the
//! config names.

use slog::Logger;

use crate::config::{redact_password, Config, DatabaseLocation};
use crate::store::{Db, DbOptions, StoreError};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FATAL: i32 = 1;
pub const EXIT_BAD_CONFIG: i32 = 2;

/// Opens the database the config names, which must exist already: only `run`,
/// `migrate` and `demo` create one. A missing one is fatal (exit 1) and the
/// message says where it was looked for; an existing one is brought up to date.
pub fn open_existing(config: &Config) -> Result<Db, i32> {
    let exists = match config.database_location() {
        DatabaseLocation::Sqlite(path) if !path.exists() => {
            Err(StoreError::NoDatabase { path: path.clone() })
        }
        DatabaseLocation::Sqlite(_) => Ok(()),
        DatabaseLocation::Postgres(url) => Db::connect_postgres(url.expose(), &db_options(config))
            .and_then(|db| db.blocking(crate::store::schema_version))
            .and_then(|version| match version {
                Some(_) => Ok(()),
                None => Err(StoreError::NoTables {
                    database: redact_password(url.expose()),
                }),
            }),
    };
    exists
        .and_then(|()| open_database(config, None))
        .map_err(|e| {
            eprintln!("booking-monitor: {e}");
            EXIT_FATAL
        })
}

/// The longest wait between attempts to reach PostgreSQL at start.
const CONNECT_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// With `waiting`, a PostgreSQL that is down is tried again with backoff (the
/// daemon outlives a database that starts after it); without, it fails at once.
pub fn open_database(config: &Config, waiting: Option<&Logger>) -> Result<Db, StoreError> {
    let url = match config.database_location() {
        DatabaseLocation::Sqlite(path) => return Db::open(path),
        DatabaseLocation::Postgres(url) => url,
    };
    let options = db_options(config);
    let mut wait = std::time::Duration::from_millis(250);
    let mut said = false;
    loop {
        match (Db::open_postgres(url.expose(), &options), waiting) {
            (Err(e), Some(log)) if e.is_unavailable() => {
                if !said {
                    slog::warn!(log, "cannot reach the database; trying again with backoff";
                        "database" => redact_password(url.expose()), "error" => %e);
                    said = true;
                }
                std::thread::sleep(wait);
                wait = (wait * 2).min(CONNECT_BACKOFF_MAX);
            }
            (result, _) => return result,
        }
    }
}

pub fn db_options(config: &Config) -> DbOptions {
    DbOptions {
        pool_size: config.database.pool_size,
        connect_timeout: std::time::Duration::from_millis(config.database.connect_timeout_ms),
    }
}
