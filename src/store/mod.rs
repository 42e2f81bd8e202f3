//! All state, through diesel: the poll cursors, the outbox, the bot's bookings.
//! Every query lives here, so that another backend is an addition, not a rewrite.

mod schema;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::domain::{CompanyId, NotificationId, RecordId};
use crate::panic_guard;
use schema::{bot_records, notifications, poll_cursors};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
/// SQLite's limit on bound variables is far above this; chunks keep queries small.
const ID_CHUNK: usize = 500;
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Sending,
    Sent,
    Failed,
    Skipped,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Sending,
        Status::Sent,
        Status::Failed,
        Status::Skipped,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The kind of notification; only confirmations of new bookings exist today.
pub const KIND_CREATED: &str = "created";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub changed_after: DateTime<Utc>,
    pub monitored_since: DateTime<Utc>,
}

/// What the filter decided about one record: a row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub record: RecordId,
    pub status: Status,
    pub phone: Option<String>,
    pub due_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub record_json: String,
}

/// What the filter needs from the database to decide about a batch of records.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub bot_records: HashSet<RecordId>,
    pub notified: HashSet<RecordId>,
}

#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Notification {
    pub id: i64,
    pub company_id: i64,
    pub record_id: i64,
    pub kind: String,
    pub status: String,
    pub phone: Option<String>,
    pub due_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub message: Option<String>,
    pub record_json: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

impl Notification {
    pub fn id(&self) -> NotificationId {
        NotificationId(self.id)
    }
    pub fn company(&self) -> CompanyId {
        CompanyId(self.company_id)
    }
    pub fn record(&self) -> RecordId {
        RecordId(self.record_id)
    }
    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status)
    }
    pub fn due_at(&self) -> DateTime<Utc> {
        self.due_at.and_utc()
    }
}

fn db_time(t: DateTime<Utc>) -> NaiveDateTime {
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

/// One daemon per database: a second one would send every confirmation twice.
/// Held (an OS file lock on `<db>.lock`, which records the holder's pid) for as
/// long as the value lives; the OS releases it if the process dies.
pub struct InstanceLock {
    _file: std::fs::File,
}

impl InstanceLock {
    pub fn acquire(db_path: &Path) -> Result<InstanceLock, StoreError> {
        use std::io::{Read, Seek, Write};
        let mut lock_path = db_path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let fail = |e: std::io::Error| StoreError::Open {
            path: db_path.to_path_buf(),
            reason: explain_io(&lock_path, &e),
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(fail)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "a process".to_string(),
                    pid => format!("pid {pid}"),
                };
                return Err(StoreError::Locked {
                    path: db_path.to_path_buf(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(fail(e)),
        }
        file.set_len(0).map_err(fail)?;
        file.rewind().map_err(fail)?;
        write!(file, "{}", std::process::id()).map_err(fail)?;
        file.flush().map_err(fail)?;
        Ok(InstanceLock { _file: file })
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

// ---- cursors ----

pub fn cursor(conn: &mut Conn, company: CompanyId) -> Result<Option<Cursor>, StoreError> {
    Ok(poll_cursors::table
        .find(company.0)
        .select((poll_cursors::changed_after, poll_cursors::monitored_since))
        .first::<(NaiveDateTime, NaiveDateTime)>(conn)
        .optional()?
        .map(|(c, m)| Cursor {
            changed_after: c.and_utc(),
            monitored_since: m.and_utc(),
        }))
}

pub fn record_poll_failure(
    conn: &mut Conn,
    company: CompanyId,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(poll_cursors::table.find(company.0))
        .set((
            poll_cursors::last_poll_at.eq(db_time(now)),
            poll_cursors::last_poll_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// The filter's decisions and the company's new cursor, in one transaction: either
/// both are durable or neither is, so a crash between them loses nothing.
/// `decide` sees what the database knows of the records (bot bookings, existing
/// notifications); the rows it returns are inserted, and the new `pending` ones
/// come back to be scheduled.
pub fn commit_poll(
    conn: &mut Conn,
    company: CompanyId,
    records: &[RecordId],
    new_cursor: DateTime<Utc>,
    monitored_since: DateTime<Utc>,
    now: DateTime<Utc>,
    decide: impl FnOnce(&Known) -> Result<Vec<NewNotification>, StoreError>,
) -> Result<Vec<(NotificationId, DateTime<Utc>)>, StoreError> {
    conn.immediate_transaction(|conn| {
        let known = known(conn, company, records)?;
        let mut scheduled = Vec::new();
        for row in decide(&known)? {
            let inserted = diesel::insert_into(notifications::table)
                .values((
                    notifications::company_id.eq(company.0),
                    notifications::record_id.eq(row.record.0),
                    notifications::kind.eq(KIND_CREATED),
                    notifications::status.eq(row.status.as_str()),
                    notifications::phone.eq(&row.phone),
                    notifications::due_at.eq(db_time(row.due_at)),
                    notifications::last_error.eq(&row.reason),
                    notifications::record_json.eq(&row.record_json),
                    notifications::created_at.eq(db_time(now)),
                    notifications::updated_at.eq(db_time(now)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            if inserted == 1 && row.status == Status::Pending {
                let id = notifications::table
                    .filter(notifications::company_id.eq(company.0))
                    .filter(notifications::record_id.eq(row.record.0))
                    .filter(notifications::kind.eq(KIND_CREATED))
                    .select(notifications::id)
                    .first::<i64>(conn)?;
                scheduled.push((NotificationId(id), row.due_at));
            }
        }
        diesel::insert_into(poll_cursors::table)
            .values((
                poll_cursors::company_id.eq(company.0),
                poll_cursors::changed_after.eq(db_time(new_cursor)),
                poll_cursors::monitored_since.eq(db_time(monitored_since)),
                poll_cursors::updated_at.eq(db_time(now)),
                poll_cursors::last_poll_at.eq(db_time(now)),
            ))
            .on_conflict(poll_cursors::company_id)
            .do_update()
            .set((
                poll_cursors::changed_after.eq(db_time(new_cursor)),
                poll_cursors::updated_at.eq(db_time(now)),
                poll_cursors::last_poll_at.eq(db_time(now)),
                poll_cursors::last_poll_error.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(scheduled)
    })
}

fn known(conn: &mut Conn, company: CompanyId, records: &[RecordId]) -> Result<Known, StoreError> {
    let mut known = Known::default();
    for chunk in records.chunks(ID_CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|r| r.0).collect();
        known.bot_records.extend(
            bot_records::table
                .filter(bot_records::company_id.eq(company.0))
                .filter(bot_records::record_id.eq_any(&ids))
                .select(bot_records::record_id)
                .load::<i64>(conn)?
                .into_iter()
                .map(RecordId),
        );
        known.notified.extend(
            notifications::table
                .filter(notifications::company_id.eq(company.0))
                .filter(notifications::kind.eq(KIND_CREATED))
                .filter(notifications::record_id.eq_any(&ids))
                .select(notifications::record_id)
                .load::<i64>(conn)?
                .into_iter()
                .map(RecordId),
        );
    }
    Ok(known)
}

// ---- the outbox ----

/// Every notification still to be sent, for the delay actor's heap.
pub fn pending(conn: &mut Conn) -> Result<Vec<(NotificationId, DateTime<Utc>)>, StoreError> {
    Ok(notifications::table
        .filter(notifications::status.eq_any([Status::Pending.as_str(), Status::Sending.as_str()]))
        .select((notifications::id, notifications::due_at))
        .load::<(i64, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(id, due)| (NotificationId(id), due.and_utc()))
        .collect())
}

/// Rows left in `sending` were interrupted mid-send: back to `pending`.
pub fn reset_interrupted_sends(
    conn: &mut Conn,
    now: DateTime<Utc>,
) -> Result<Vec<Notification>, StoreError> {
    conn.immediate_transaction(|conn| {
        let rows = notifications::table
            .filter(notifications::status.eq(Status::Sending.as_str()))
            .load::<Notification>(conn)?;
        diesel::update(
            notifications::table.filter(notifications::status.eq(Status::Sending.as_str())),
        )
        .set((
            notifications::status.eq(Status::Pending.as_str()),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
        Ok(rows)
    })
}

pub fn notification(
    conn: &mut Conn,
    id: NotificationId,
) -> Result<Option<Notification>, StoreError> {
    Ok(notifications::table.find(id.0).first(conn).optional()?)
}

/// What goes out, as it is recorded when a row is claimed for sending.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub phone: String,
    pub message: String,
    /// The booking as it was re-read just before sending.
    pub record_json: String,
}

/// Claims a pending row for sending: `sending`, one more attempt, the text that goes
/// out. False when the row is no longer pending (someone else decided first).
pub fn claim_for_send(
    conn: &mut Conn,
    id: NotificationId,
    send: &Outbound,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        notifications::table
            .find(id.0)
            .filter(notifications::status.eq(Status::Pending.as_str())),
    )
    .set((
        notifications::status.eq(Status::Sending.as_str()),
        notifications::attempts.eq(notifications::attempts + 1),
        notifications::phone.eq(&send.phone),
        notifications::message.eq(&send.message),
        notifications::record_json.eq(&send.record_json),
        notifications::updated_at.eq(db_time(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn mark_sent(
    conn: &mut Conn,
    id: NotificationId,
    provider_message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(notifications::table.find(id.0))
        .set((
            notifications::status.eq(Status::Sent.as_str()),
            notifications::provider_message_id.eq(provider_message_id),
            notifications::last_error.eq(None::<String>),
            notifications::sent_at.eq(db_time(now)),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Back to `pending`, to be tried again at `due_at`.
pub fn mark_retry(
    conn: &mut Conn,
    id: NotificationId,
    due_at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(notifications::table.find(id.0))
        .set((
            notifications::status.eq(Status::Pending.as_str()),
            notifications::due_at.eq(db_time(due_at)),
            notifications::last_error.eq(error),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes back the attempt counted by `claim_for_send`, when the provider refused the
/// account rather than the message.
pub fn refund_attempt(conn: &mut Conn, id: NotificationId) -> Result<(), StoreError> {
    diesel::update(
        notifications::table
            .find(id.0)
            .filter(notifications::attempts.gt(0)),
    )
    .set(notifications::attempts.eq(notifications::attempts - 1))
    .execute(conn)?;
    Ok(())
}

/// A final state (`failed`, `skipped`, `cancelled`) with its reason, for a row not yet
/// sent. Returns whether the row changed.
pub fn mark_final(
    conn: &mut Conn,
    id: NotificationId,
    status: Status,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(notifications::table.find(id.0).filter(
        notifications::status.eq_any([Status::Pending.as_str(), Status::Sending.as_str()]),
    ))
    .set((
        notifications::status.eq(status.as_str()),
        notifications::last_error.eq(reason),
        notifications::updated_at.eq(db_time(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

// ---- bot records ----

pub fn is_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        bot_records::table.find((company.0, record.0)),
    ))
    .get_result(conn)?)
}

/// Returns false when it was already registered.
pub fn add_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::insert_into(bot_records::table)
        .values((
            bot_records::company_id.eq(company.0),
            bot_records::record_id.eq(record.0),
            bot_records::created_at.eq(db_time(now)),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(n == 1)
}

/// Returns false when it was not registered.
pub fn remove_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(bot_records::table.find((company.0, record.0))).execute(conn)? == 1)
}

/// Folds the write-ahead log into the database file (on shutdown).
pub fn checkpoint(conn: &mut Conn) -> Result<(), StoreError> {
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

// ---- reading, for status and tests ----

pub fn all_notifications(conn: &mut Conn) -> Result<Vec<Notification>, StoreError> {
    Ok(notifications::table
        .order(notifications::id.asc())
        .load(conn)?)
}

/// The most recently decided notifications, newest first.
pub fn recent(conn: &mut Conn, limit: i64) -> Result<Vec<Notification>, StoreError> {
    Ok(notifications::table
        .order((notifications::updated_at.desc(), notifications::id.desc()))
        .limit(limit)
        .load(conn)?)
}

pub fn count_by_status(conn: &mut Conn) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(notifications::table
        .group_by(notifications::status)
        .select((notifications::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// A company's polling, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct PollState {
    pub company_id: i64,
    pub changed_after: NaiveDateTime,
    pub monitored_since: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_poll_at: Option<NaiveDateTime>,
    pub last_poll_error: Option<String>,
}

pub fn poll_states(conn: &mut Conn) -> Result<Vec<PollState>, StoreError> {
    Ok(poll_cursors::table
        .order(poll_cursors::company_id.asc())
        .load(conn)?)
}
