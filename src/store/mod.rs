//! All state, through diesel: the poll cursors, the outbox, the known bookings,
//! the bot's bookings.
//! Every query lives in this module, so that another backend is an addition, not
//! a rewrite. This file owns the connection pool; the tables' queries live beside it.

mod bookings;
mod bot_records;
mod lock;
mod outbox;
mod poll;
mod push;
mod schema;
mod sql_types;

pub use crate::domain::{Kind, Status};
pub use bookings::{booking, refresh_booking, BookingUpdate, StoredBooking};
pub use bot_records::{add_bot_record, is_bot_record, remove_bot_record};
pub use lock::InstanceLock;
pub use outbox::*;
pub use poll::*;
pub use push::{
    count_deliveries, deliveries, note_webhook, record_delivery, webhook_receipts, DeliveryUpdate,
};

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::panic_guard;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
const BUSY_TIMEOUT_MS: u32 = 5_000;
/// Connections in the pool: SQLite writes one at a time anyway.
pub const POOL_SIZE: u32 = 4;

pub type Conn = SqliteConnection;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("no database connection: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("a database call panicked: {0}")]
    Panicked(String),
    #[error("injected fault: {0}")]
    Injected(String),
    #[error("another booking-monitor ({holder}) is running on the database {path}; stop it first")]
    Locked { path: PathBuf, holder: String },
    #[error("no database at {} yet: run `run` or `migrate` first", path.display())]
    NoDatabase { path: PathBuf },
}

pub(crate) fn db_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // synchronous = FULL: a commit must survive power loss, not only a crash.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// For commands that only read: no journal-mode change, and `query_only` as a
/// second guard besides the read-only open.
#[derive(Debug)]
struct ReadOnlyPragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ReadOnlyPragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA query_only = ON;"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The connection pool, and the one way to use it from async code.
#[derive(Clone)]
pub struct Db {
    pool: Pool<ConnectionManager<SqliteConnection>>,
}

impl Db {
    /// Opens (creating, owner-only) the SQLite file and runs pending migrations.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let fail = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        create_owner_only(path).map_err(|e| fail(explain_io(path, &e)))?;
        let manager = ConnectionManager::<SqliteConnection>::new(path.to_string_lossy());
        let pool = Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(SqlitePragmas))
            .build(manager)
            .map_err(|e| fail(e.to_string()))?;
        let db = Db { pool };
        db.blocking(|conn| {
            conn.run_pending_migrations(MIGRATIONS)
                .map(|_| ())
                .map_err(|e| StoreError::Migration(e.to_string()))
        })?;
        Ok(db)
    }

    /// Opens an existing database read-only, for commands that only read (`status`):
    /// they must not leave an empty database behind where there was none.
    pub fn open_read_only(path: &Path) -> Result<Db, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoDatabase {
                path: path.to_path_buf(),
            });
        }
        let manager = ConnectionManager::<SqliteConnection>::new(read_only_uri(path));
        let pool = Pool::builder()
            .max_size(1)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(ReadOnlyPragmas))
            .build_unchecked(manager);
        Ok(Db { pool })
    }

    /// Runs `f` with a connection on this thread (for the command line).
    pub fn blocking<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.pool.get()?;
        f(&mut conn)
    }

    /// Runs `f` on the blocking pool: diesel never blocks an actor's event loop.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_rt::task::spawn_blocking(move || {
            panic_guard::catch(move || {
                let mut conn = pool.get()?;
                f(&mut conn)
            })
        })
        .await
        .map_err(|e| StoreError::Panicked(e.to_string()))?
        .map_err(StoreError::Panicked)?
    }
}

/// `file:PATH?mode=ro`: SQLite's URI form (diesel opens with `SQLITE_OPEN_URI`),
/// with the characters a URI gives a meaning escaped.
fn read_only_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' | '?' | '#' => uri.push_str(&format!("%{:02X}", c as u32)),
            c => uri.push(c),
        }
    }
    uri.push_str("?mode=ro");
    uri
}

/// Says which directory is missing or closed, not only the OS's words.
fn explain_io(path: &Path, e: &std::io::Error) -> String {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match e.kind() {
        std::io::ErrorKind::NotFound => format!("the directory {} does not exist", dir.display()),
        std::io::ErrorKind::PermissionDenied => {
            format!(
                "no permission to create or write it in {} ({e})",
                dir.display()
            )
        }
        _ => e.to_string(),
    }
}

#[cfg(unix)]
fn create_owner_only(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
}

#[cfg(not(unix))]
fn create_owner_only(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Folds the write-ahead log into the database file (on shutdown).
pub fn checkpoint(conn: &mut Conn) -> Result<(), StoreError> {
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}
