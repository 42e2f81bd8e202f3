//! PostgreSQL for the benches: the server (`BOOKING_MONITOR_PG_SERVER`), a database
//! of the bench's own dropped with its value, the server's settings and the
//! tables' size.

use booking_monitor::store::{Conn, Db};

pub const PG_ENV: &str = "BOOKING_MONITOR_PG_SERVER";

/// The server's URL, when one is set.
pub fn server() -> Option<String> {
    std::env::var(PG_ENV).ok().filter(|s| !s.trim().is_empty())
}

/// A database of the bench's own on the PostgreSQL server, dropped with this value.
pub struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    pub fn create(server: &str, part: &str) -> Result<PgDatabase, String> {
        let name = format!("bm_bench_{}_{part}", std::process::id());
        admin(
            server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        admin(server, &format!("CREATE DATABASE {name}"))?;
        Ok(PgDatabase {
            server: server.to_string(),
            name,
        })
    }

    /// The server's URL with this database in place of its own.
    pub fn url(&self) -> String {
        let (url, query) = match self.server.split_once('?') {
            Some((url, query)) => (url, format!("?{query}")),
            None => (self.server.as_str(), String::new()),
        };
        let base = url.rsplit_once('/').map(|(base, _)| base).unwrap_or(url);
        format!("{base}/{}{query}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = admin(&self.server, &sql) {
            eprintln!("bench: {e}");
        }
    }
}

pub fn pg_connect(server: &str) -> Result<diesel::PgConnection, String> {
    use diesel::Connection;
    diesel::PgConnection::establish(server).map_err(|e| format!("{PG_ENV}: cannot connect: {e}"))
}

fn admin(server: &str, sql: &str) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    pg_connect(server)?
        .batch_execute(sql)
        .map_err(|e| format!("{sql}: {e}"))
}

/// The server's version and durability settings, for the report.
pub fn postgres_settings(server: &str) -> String {
    use diesel::RunQueryDsl;
    let read = || -> Result<String, String> {
        let sql = "'PostgreSQL ' || current_setting('server_version') || \
                   ' (fsync ' || current_setting('fsync') || \
                   ', synchronous_commit ' || current_setting('synchronous_commit') || ')'";
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(sql))
            .get_result::<String>(&mut pg_connect(server)?)
            .map_err(|e| e.to_string())
    };
    read().unwrap_or_else(|e| format!("PostgreSQL (settings unreadable: {e})"))
}

/// Every table of the database with its indexes and TOAST, in bytes
/// (`pg_total_relation_size`).
pub fn tables_bytes(db: &Db) -> Result<u64, String> {
    use diesel::RunQueryDsl;
    let sql = "(SELECT CAST(COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS BIGINT) \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE c.relkind = 'r' AND n.nspname = 'public')";
    let bytes = db
        .blocking(|c| match c {
            Conn::Postgres(c) => Ok(
                diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(sql))
                    .get_result::<i64>(c)?,
            ),
            Conn::Sqlite(_) => Ok(0),
        })
        .map_err(|e| format!("the tables' size: {e}"))?;
    Ok(bytes as u64)
}
