//! What the commands share: their exit codes and how they open the database the
//! config names.

use slog::Logger;

use crate::config::{redact_password, Config, DatabaseLocation};
use crate::store::{Db, DbOptions, StoreError};

pub const EXIT_OK: i32 = 0;
pub const EXIT_FATAL: i32 = 1;
pub const EXIT_BAD_CONFIG: i32 = 2;

/// Opens the database the config names (migrating it); a failure is fatal (exit 1).
pub fn open_db(config: &Config) -> Result<Db, i32> {
    open_database(config, None).map_err(|e| {
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
