//! All state, through diesel: the poll cursors, the outbox, the known bookings,
//! the bot's bookings.
//! Every query lives in this module, written once for SQLite and PostgreSQL
//! (`backend.rs` holds what differs). This file owns the connection pool; the
//! tables' queries live beside it.

mod backend;
mod bookings;
mod bot_records;
mod cluster;
mod counters;
mod effects;
mod forget;
mod history;
mod inbound_notes;
mod lock;
mod optouts;
mod outbox;
mod plans;
mod poll;
mod proving;
mod push;
mod replan;
mod replies;
mod retention;
mod running;
mod schema;
mod sql_types;

pub use crate::domain::{Kind, Status};
pub use bookings::{booking, refresh_booking, BookingUpdate, StoredBooking};
pub use bot_records::{add_bot_record, is_bot_record, remove_bot_record};
pub use cluster::{
    db_now, holds_lease, instance_states, lease_round, release_all, InstanceState, LeaseRequest,
    LeaseRound, Peer,
};
pub use counters::{add_to_counter, durable_counters, FORGOTTEN, OPTOUTS, PURGED};
pub use effects::{settle_effect, Settled};
pub use forget::{forget, is_forgotten, unforget, Erased, Forgotten};
pub use history::*;
pub use inbound_notes::{note_number_change, number_changes, open_effects, NotedNumber};
pub use lock::InstanceLock;
pub use optouts::{is_opted_out, opt_in, opt_out, opted_out_of_any, optouts, OptOut, OptSource};
pub use outbox::*;
pub use plans::{Known, NewNotification, OpenNotice, Planned};
pub use poll::*;
pub use proving::Proofs;
pub use push::{
    count_deliveries, deliveries, note_webhook, record_delivery, webhook_receipts, DeliveryUpdate,
    Effects, Recorded,
};
pub use replan::Replanned;
pub use replies::{
    asked_and_answered, count_replies, recent_replies, replied_since, take_replies,
    visit_confirmed, Lookup, NewReply, OptChange, ReplyContext, ReplyDecision, SentNotice,
    StoredReply, Taken,
};
pub use retention::{fill_visit_times, purge_chunk, purged_counts, Purged};
pub use running::{record_running_config, running_configs, RunningConfig};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use r2d2::Pool;
use scheduled_thread_pool::ScheduledThreadPool;

use crate::panic_guard;
pub use backend::{
    checkpoint, checkpoint_fully, release_free_pages, schema_version, vacuum, AnyConnection,
    Serialize, Target,
};
pub(crate) use backend::{each_backend, write_transaction, write_transaction_in};

/// Connections in the pool by default: SQLite writes one at a time anyway.
pub const POOL_SIZE: u32 = 4;

pub type Conn = AnyConnection;

/// Outbox rows a write opened (or reopened) as pending, with their due times: the
/// caller hands them to the delay actor.
pub type Opened = Vec<(crate::domain::NotificationId, DateTime<Utc>)>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("no database connection: {0}")]
    Pool(#[from] r2d2::Error),
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
    #[error("this instance no longer holds the lease of company {0}; its poll is dropped")]
    LeaseLost(crate::domain::CompanyId),
    #[error("no database at {} yet: run `run` or `migrate` first", path.display())]
    NoDatabase { path: PathBuf },
    #[error("the database {database} has no tables yet: run `run` or `migrate` first")]
    NoTables { database: String },
}

impl StoreError {
    /// The database has no tables yet (PostgreSQL that no instance has migrated).
    pub fn is_missing_schema(&self) -> bool {
        matches!(self, StoreError::Query(diesel::result::Error::DatabaseError(_, info))
            if info.message().starts_with("relation") && info.message().contains("does not exist"))
    }

    /// The database could not be reached (a restart, a failover, a lost network):
    /// worth trying again, unlike a query the database refused.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Pool(_) => true,
            StoreError::Query(Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => true,
            // libpq reports a server gone mid-query with this text and no kind.
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let message = info.message();
                message.contains("terminating connection")
                    || message.contains("server closed the connection")
                    || message.contains("the database system is")
            }
            _ => false,
        }
    }
}

pub(crate) fn db_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// How to reach the database and how long to wait for it.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub pool_size: u32,
    pub connect_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            pool_size: POOL_SIZE,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The connection pool, and the one way to use it from async code.
#[derive(Clone)]
pub struct Db {
    pool: Pool<backend::Manager>,
    postgres: bool,
    /// Set at shutdown: calls waiting for an unreachable database give up.
    closing: Arc<AtomicBool>,
}

/// The longest pause between attempts while the database is unreachable.
const UNAVAILABLE_BACKOFF_MAX: Duration = Duration::from_secs(5);

impl Db {
    /// Opens (creating, owner-only) the SQLite file and runs pending migrations.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let fail = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        create_owner_only(path).map_err(|e| fail(explain_io(path, &e)))?;
        let target = Target::Sqlite {
            path: path.to_string_lossy().into_owned(),
            read_only: false,
        };
        let db = Db::new(target, &DbOptions::default(), true).map_err(|e| fail(e.to_string()))?;
        db.blocking(backend::migrate)?;
        Ok(db)
    }

    /// Connects to PostgreSQL and runs pending migrations (under an advisory lock).
    /// The pool connects lazily: a database that is down makes the first call fail
    /// with [`StoreError::is_unavailable`], for the caller to retry.
    pub fn open_postgres(url: &str, options: &DbOptions) -> Result<Db, StoreError> {
        let db = Db::connect_postgres(url, options)?;
        db.blocking(backend::migrate)?;
        Ok(db)
    }

    /// Connects to PostgreSQL without migrating (for commands that only read).
    pub fn connect_postgres(url: &str, options: &DbOptions) -> Result<Db, StoreError> {
        let target = Target::Postgres {
            url: url.to_string(),
        };
        Ok(Db::new(target, options, false)?)
    }

    /// Opens an existing database read-only, for commands that only read (`status`):
    /// they must not leave an empty database behind where there was none.
    pub fn open_read_only(path: &Path) -> Result<Db, StoreError> {
        if !path.exists() {
            return Err(StoreError::NoDatabase {
                path: path.to_path_buf(),
            });
        }
        let target = Target::Sqlite {
            path: read_only_uri(path),
            read_only: true,
        };
        let options = DbOptions {
            pool_size: 1,
            ..DbOptions::default()
        };
        Ok(Db::new(target, &options, false)?)
    }

    /// A pool for `target`. `check_now` opens a first connection at once (a SQLite
    /// file); otherwise connections open when first asked for.
    fn new(target: Target, options: &DbOptions, check_now: bool) -> Result<Db, r2d2::Error> {
        let min_idle = match target {
            Target::Sqlite {
                read_only: true, ..
            } => 0,
            _ => 1,
        };
        let postgres = matches!(target, Target::Postgres { .. });
        let manager = backend::Manager {
            target,
            connect_timeout: options.connect_timeout,
        };
        let builder = Pool::builder()
            // One helper thread (r2d2 starts three) opens connections in the
            // background and retires old ones; each idle thread costs its stack and
            // an allocator arena, and connections open one at a time anyway.
            .thread_pool(Arc::new(
                ScheduledThreadPool::builder()
                    .num_threads(1)
                    .thread_name_pattern("r2d2-worker-{}")
                    .build(),
            ))
            .max_size(options.pool_size)
            .min_idle(Some(min_idle))
            .connection_timeout(options.connect_timeout);
        let pool = if check_now {
            builder.build(manager)?
        } else {
            builder.build_unchecked(manager)
        };
        Ok(Db {
            pool,
            postgres,
            closing: Arc::new(AtomicBool::new(false)),
        })
    }

    /// True on PostgreSQL: many instances may share the database.
    pub fn is_postgres(&self) -> bool {
        self.postgres
    }

    /// Calls still waiting for an unreachable database give up (at shutdown).
    pub fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
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
    /// While the database is unreachable, `f` is tried again with backoff: a
    /// restart or failover of the database costs time, never a notice. (A
    /// transaction whose commit was lost with the connection runs again; every
    /// write is idempotent or conditional, so running twice changes nothing.)
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(&mut Conn) -> Result<T, StoreError> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let mut wait = Duration::from_millis(100);
        loop {
            let call = f.clone();
            match self.run_once(move |conn| call(conn)).await {
                Err(e) if e.is_unavailable() && !self.closing.load(Ordering::SeqCst) => {
                    actix_rt::time::sleep(wait).await;
                    wait = (wait * 2).min(UNAVAILABLE_BACKOFF_MAX);
                }
                result => return result,
            }
        }
    }

    /// As `run`, once: for callers that retry on their own terms.
    pub async fn run_once<T, F>(&self, f: F) -> Result<T, StoreError>
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
