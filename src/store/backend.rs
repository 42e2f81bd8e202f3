//! The two backends behind one connection type: SQLite (one process per file) and
//! PostgreSQL (many instances on one database). Queries are written once against
//! diesel's `MultiConnection`; what differs (upserts, write transactions, pragmas,
//! migrations) is decided here or with `each_backend!`.

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::StoreError;

pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

const BUSY_TIMEOUT_MS: u32 = 5_000;
/// Instances started at once on an empty database migrate one after another.
const MIGRATION_LOCK: i64 = 0x626d_0001;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs one statement that diesel's `MultiConnection` cannot express (an upsert)
/// on whichever backend `conn` is: the query is built once, executed on the inner
/// connection.
macro_rules! each_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::AnyConnection::Postgres($c) => $body,
            $crate::store::AnyConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use each_backend;

/// Which database, and how to open its connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A SQLite file; `read_only` for commands that only read.
    Sqlite {
        path: String,
        read_only: bool,
    },
    Postgres {
        url: String,
    },
}

/// r2d2's manager for both backends: each connection is set up as its backend needs.
#[derive(Debug)]
pub struct Manager {
    pub target: Target,
    pub connect_timeout: Duration,
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, Self::Error> {
        match &self.target {
            Target::Sqlite { path, read_only } => {
                let mut conn = SqliteConnection::establish(path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // synchronous = FULL: a commit must survive power loss, not only a crash.
                // secure_delete: what is deleted (a forgotten client, a purged
                // booking) is overwritten, not left in free pages. auto_vacuum takes
                // effect on a new file only: retention's freed pages go back.
                let pragmas = if *read_only {
                    format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA query_only = ON;")
                } else {
                    format!(
                        "PRAGMA auto_vacuum = INCREMENTAL; \
                         PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
                         PRAGMA secure_delete = ON;"
                    )
                };
                conn.batch_execute(&pragmas)
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Sqlite(conn))
            }
            Target::Postgres { url } => {
                let url = with_connect_timeout(url, self.connect_timeout);
                let mut conn =
                    PgConnection::establish(&url).map_err(diesel::r2d2::Error::ConnectionError)?;
                // Timestamps are stored as UTC without a zone; `now()` must agree.
                conn.batch_execute("SET TIME ZONE 'UTC';")
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(AnyConnection::Postgres(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// libpq's `connect_timeout` (whole seconds, at least 2 as libpq requires), unless
/// the URL sets its own.
fn with_connect_timeout(url: &str, timeout: Duration) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    let seconds = timeout.as_secs().max(2);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}connect_timeout={seconds}")
}

/// What a write transaction must not interleave with, on PostgreSQL (SQLite
/// serializes every write transaction anyway).
#[derive(Debug, Clone, Copy)]
pub enum Serialize {
    /// Everything the daemon knows of one company's bookings.
    Company(i64),
    /// Delivery statuses: compare-and-set by message id.
    Deliveries,
    /// The shares of companies among instances.
    Leases,
    /// When monitoring of each company began.
    MonitoringStarts,
    /// Clients' replies: one taken at a time (at most one "passed on" answer per
    /// phone a day is a read-then-write).
    Replies,
}

impl Serialize {
    fn key(self) -> i64 {
        match self {
            Serialize::Company(id) => id,
            // Company ids are positive: the negative keys never collide with them.
            Serialize::Deliveries => -2,
            Serialize::Leases => -3,
            Serialize::MonitoringStarts => -4,
            Serialize::Replies => -5,
        }
    }
}

/// A transaction that writes, serialized with every other one of the same scope:
/// SQLite's `BEGIN IMMEDIATE` (one writer at a time, so a read-then-write cannot
/// lose an update), PostgreSQL's transaction-scoped advisory lock on `scope`.
pub fn write_transaction<T>(
    conn: &mut AnyConnection,
    scope: Serialize,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    write_transaction_in(conn, &[scope], f)
}

/// As `write_transaction`, serialized with every one of `scopes` (locked in the
/// order given: callers give them in one order, so two never wait on each other).
pub fn write_transaction_in<T>(
    conn: &mut AnyConnection,
    scopes: &[Serialize],
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match conn {
        AnyConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        AnyConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    let result = match conn {
        AnyConnection::Postgres(c) => scopes.iter().try_for_each(|scope| {
            diesel::select(pg_advisory_xact_lock(scope.key()))
                .execute(c)
                .map(drop)
                .map_err(StoreError::from)
        }),
        AnyConnection::Sqlite(_) => Ok(()),
    }
    .and_then(|()| f(conn));
    match result {
        Ok(value) => {
            <AnyConnection as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            // The transaction's own error is the one worth reporting.
            let _ = <AnyConnection as Connection>::TransactionManager::rollback_transaction(conn);
            Err(e)
        }
    }
}

diesel::define_sql_function! {
    fn pg_advisory_xact_lock(key: diesel::sql_types::BigInt);
}
diesel::define_sql_function! {
    fn pg_advisory_lock(key: diesel::sql_types::BigInt);
}
diesel::define_sql_function! {
    fn pg_advisory_unlock(key: diesel::sql_types::BigInt) -> diesel::sql_types::Bool;
}

/// Runs the pending migrations of the connection's backend; on PostgreSQL under an
/// advisory lock, so that instances started together migrate one at a time.
pub fn migrate(conn: &mut AnyConnection) -> Result<(), StoreError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    let migrated = match conn {
        AnyConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(drop)
            .map_err(failed),
        AnyConnection::Postgres(c) => {
            diesel::select(pg_advisory_lock(MIGRATION_LOCK)).execute(c)?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(drop)
                .map_err(failed);
            diesel::select(pg_advisory_unlock(MIGRATION_LOCK)).execute(c)?;
            result
        }
    };
    migrated?;
    super::forget::ensure_phone_key(conn)
}

/// The migrations applied to the database so far: how many, and the latest
/// version; `None` where none ran yet (a new, empty database).
pub fn schema_version(conn: &mut AnyConnection) -> Result<Option<(usize, String)>, StoreError> {
    #[derive(QueryableByName)]
    struct Applied {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let query = diesel::sql_query("SELECT version FROM __diesel_schema_migrations");
    let result = each_backend!(conn, |c| query.load::<Applied>(c));
    match result {
        Ok(applied) => {
            let count = applied.len();
            Ok(applied
                .into_iter()
                .map(|a| a.version)
                .max()
                .map(|v| (count, v)))
        }
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("no such table")
                || info.message().contains("does not exist") =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Folds SQLite's write-ahead log into the database file (on shutdown); nothing
/// to do on PostgreSQL.
pub fn checkpoint(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if let AnyConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);")?;
    }
    Ok(())
}

/// Folds the whole log into the file and empties it, waiting (a few times) for
/// readers still on old pages; nothing to do on PostgreSQL.
pub fn checkpoint_fully(conn: &mut AnyConnection) -> Result<(), StoreError> {
    #[derive(QueryableByName)]
    struct Outcome {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        busy: i32,
    }
    if let AnyConnection::Sqlite(c) = conn {
        for _ in 0..20 {
            let done = diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)").load::<Outcome>(c)?;
            if done.first().is_none_or(|o| o.busy == 0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// Gives the pages a purge freed back to the file system (a file made with
/// `auto_vacuum = INCREMENTAL`; an older one reuses them), and empties the log.
pub fn release_free_pages(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if let AnyConnection::Sqlite(c) = conn {
        c.batch_execute("PRAGMA incremental_vacuum;")?;
    }
    checkpoint_fully(conn)
}

/// Rewrites the SQLite file whole, leaving no free space behind (old copies of
/// deleted rows written before `secure_delete`); nothing to do on PostgreSQL.
pub fn vacuum(conn: &mut AnyConnection) -> Result<(), StoreError> {
    if let AnyConnection::Sqlite(c) = conn {
        c.batch_execute("VACUUM;")?;
    }
    Ok(())
}

/// Runs `f` and returns each statement it ran with the steps SQLite plans for
/// it, as `EXPLAIN QUERY PLAN` words them ("SEARCH notifications USING INDEX …",
/// "SCAN notifications"): a test holds what runs with every message, or every
/// hour, to its indexes.
#[cfg(test)]
pub(crate) fn plans_of(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<(), StoreError>,
) -> Vec<(String, Vec<String>)> {
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use std::sync::{Arc, Mutex};

    #[derive(QueryableByName)]
    struct Step {
        #[diesel(sql_type = diesel::sql_types::Text)]
        detail: String,
    }
    let ran = Arc::new(Mutex::new(Vec::new()));
    let seen = ran.clone();
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            seen.lock().unwrap().push(query.to_string());
        }
    });
    f(conn).expect("the statements run");
    conn.set_instrumentation(None::<Box<dyn Instrumentation>>);
    let AnyConnection::Sqlite(c) = conn else {
        panic!("plans are SQLite's")
    };
    let statements = ran.lock().unwrap().clone();
    statements
        .into_iter()
        .filter_map(|text| {
            let sql = text.split(" -- binds: ").next()?.trim().to_string();
            let verb = sql.split_whitespace().next()?.to_uppercase();
            ["SELECT", "UPDATE", "DELETE", "INSERT"]
                .contains(&verb.as_str())
                .then_some(sql)
        })
        .map(|sql| {
            // Parameters left unbound are NULL: the plan does not depend on them.
            let steps = diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
                .load::<Step>(c)
                .expect("a plan");
            (sql, steps.into_iter().map(|s| s.detail).collect())
        })
        .collect()
}

/// The statements of `plans` that read one of `tables` whole: a scan, or a search
/// by a column of a few values only (a status, a kind), which reads most rows.
#[cfg(test)]
pub(crate) fn scans<'a>(plans: &'a [(String, Vec<String>)], tables: &[&str]) -> Vec<&'a str> {
    let whole = |step: &str| {
        let mut words = step.split_whitespace();
        let (verb, table) = (words.next(), words.next());
        if !table.is_some_and(|t| tables.contains(&t)) {
            return false;
        }
        match verb {
            Some("SCAN") => true,
            Some("SEARCH") => {
                let constraints = step.rsplit_once('(').map_or("", |(_, c)| c);
                constraints
                    .trim_end_matches(')')
                    .split(" AND ")
                    .all(|c| c.starts_with("status") || c.starts_with("kind"))
            }
            _ => false,
        }
    };
    plans
        .iter()
        // Diesel's empty `IN` list: SQLite plans a scan it never runs.
        .filter(|(sql, _)| !sql.ends_with("WHERE (1=0)"))
        .filter(|(_, steps)| steps.iter().any(|step| whole(step)))
        .map(|(sql, _)| sql.as_str())
        .collect()
}

/// A migrated SQLite file in a temporary directory, for a test of the queries.
#[cfg(test)]
pub(crate) fn test_sqlite() -> (tempfile::TempDir, AnyConnection) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("test.db");
    let conn = SqliteConnection::establish(&path.to_string_lossy()).expect("a SQLite file");
    let mut conn = AnyConnection::Sqlite(conn);
    migrate(&mut conn).expect("the migrations run");
    (dir, conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_timeout_is_added_unless_the_url_has_one() {
        let t = Duration::from_millis(5_500);
        assert_eq!(
            with_connect_timeout("postgres://u@h/db", t),
            "postgres://u@h/db?connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?sslmode=require", t),
            "postgres://u@h/db?sslmode=require&connect_timeout=5"
        );
        assert_eq!(
            with_connect_timeout("postgres://u@h/db?connect_timeout=9", t),
            "postgres://u@h/db?connect_timeout=9"
        );
    }
}
