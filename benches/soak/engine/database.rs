//! The soak's database: a SQLite file in its directory, or a database of its own on
//! a PostgreSQL server (the shared one, or a server the soak starts with
//! `.ci/postgres.sh` in its own directory and port, so that it may restart it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use booking_monitor::store::{self, Db, DbOptions, Notification, StoredReply};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres.sh");

/// A PostgreSQL server.
pub enum Server {
    /// Someone else's (`BOOKING_MONITOR_PG_SERVER`): never restarted.
    Shared(String),
    /// The soak's own: restarted as a fault, stopped at the end.
    Own {
        dir: PathBuf,
        port: u16,
        url: String,
    },
}

impl Server {
    /// Starts (or reuses) a server in `dir` on `port`.
    pub fn own(dir: &Path, port: u16) -> Result<Server, String> {
        let (dir, port) = (dir.to_path_buf(), port);
        let out = script(&dir, port, "start")?;
        let url = String::from_utf8_lossy(&out).trim().to_string();
        Ok(Server::Own { dir, port, url })
    }

    pub fn url(&self) -> &str {
        match self {
            Server::Shared(url) | Server::Own { url, .. } => url,
        }
    }

    /// What restarts it, if it is the soak's own (others' servers are never restarted).
    pub fn restarter(&self) -> Option<Restarter> {
        match self {
            Server::Shared(_) => None,
            Server::Own { dir, port, .. } => Some(Restarter {
                dir: dir.clone(),
                port: *port,
            }),
        }
    }
}

/// Restarts the soak's own server (`pg_ctl restart -m fast`), from any thread.
#[derive(Debug, Clone)]
pub struct Restarter {
    dir: PathBuf,
    port: u16,
}

impl Restarter {
    pub fn restart(&self) -> Result<(), String> {
        script(&self.dir, self.port, "restart").map(|_| ())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Own { dir, port, .. } = self {
            if let Err(e) = script(dir, *port, "stop") {
                eprintln!("soak: stopping its PostgreSQL server: {e}");
            }
        }
    }
}

/// Runs `.ci/postgres.sh <command>` for the server in `dir` on `port`; its stdout.
fn script(dir: &Path, port: u16, command: &str) -> Result<Vec<u8>, String> {
    let out = Command::new("bash")
        .args([SCRIPT, command])
        .env("PG_TEST_DIR", dir)
        .env("PG_TEST_PORT", port.to_string())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("postgres.sh {command}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "postgres.sh {command}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// The run's database.
pub enum Database {
    Sqlite(PathBuf),
    /// `keep`: not dropped at the end (a run with violations keeps it to look at).
    Postgres {
        server: Server,
        name: String,
        keep: bool,
    },
}

impl Database {
    /// A fresh database named for this run on `server`.
    pub fn postgres(server: Server, name: &str) -> Result<Database, String> {
        admin(
            server.url(),
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        admin(server.url(), &format!("CREATE DATABASE {name}"))?;
        Ok(Database::Postgres {
            server,
            name: name.to_string(),
            keep: false,
        })
    }

    /// `database.url`.
    pub fn url(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres { server, name, .. } => {
                let url = server.url();
                let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
                format!("{base}/{name}")
            }
        }
    }

    pub fn server(&self) -> Option<&Server> {
        match self {
            Database::Sqlite(_) => None,
            Database::Postgres { server, .. } => Some(server),
        }
    }

    /// Leaves a PostgreSQL database in place after the run.
    pub fn keep(&mut self) {
        if let Database::Postgres { keep, .. } = self {
            *keep = true;
        }
    }

    /// The outbox and the replies, read once every instance has stopped.
    pub fn read(&self) -> Result<(Vec<Notification>, Vec<StoredReply>), String> {
        let db = match self {
            Database::Sqlite(path) => Db::open_read_only(path),
            Database::Postgres { .. } => Db::connect_postgres(&self.url(), &DbOptions::default()),
        }
        .map_err(|e| format!("opening the database: {e}"))?;
        let rows = db
            .blocking(store::all_notifications)
            .map_err(|e| format!("reading the outbox: {e}"))?;
        let replies = db
            .blocking(|c| store::recent_replies(c, None, i64::MAX))
            .map_err(|e| format!("reading the replies: {e}"))?;
        db.close();
        Ok((rows, replies))
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres {
            server,
            name,
            keep: false,
        } = self
        {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = admin(server.url(), &sql) {
                eprintln!("soak: {e}");
            }
        }
    }
}

fn admin(server: &str, sql: &str) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    diesel::PgConnection::establish(server)
        .map_err(|e| format!("PostgreSQL at the soak's server: {e}"))?
        .batch_execute(sql)
        .map_err(|e| format!("{sql}: {e}"))
}
