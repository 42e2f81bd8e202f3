//! `[database]`: the SQLite file (one process) or the PostgreSQL database (many
//! instances), parsed at load.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::checks::{positive_millis, whole};
use super::{positive, ConfigError, ConfigErrors, DatabaseLocation, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(rename = "url", deserialize_with = "location")]
    pub location: DatabaseLocation,
    /// Connections each instance keeps.
    #[serde(default = "pool_size", deserialize_with = "connections")]
    pub pool_size: u32,
    /// How long to wait for a connection (to connect, or for a free one).
    #[serde(default = "connect_timeout_ms", deserialize_with = "positive_millis")]
    pub connect_timeout_ms: u64,
}

fn connections<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    whole(d, "a whole number of connections, 1 to 64")
}

fn pool_size() -> u32 {
    crate::store::POOL_SIZE
}
fn connect_timeout_ms() -> u64 {
    10_000
}

impl DatabaseConfig {
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        problems.check(positive("database.pool_size", u64::from(self.pool_size)));
        if self.pool_size > 64 {
            problems.push(ConfigError::new(
                "database.pool_size",
                "at most 64: the daemon never runs more queries at once",
            ));
        }
        problems.check(positive(
            "database.connect_timeout_ms",
            self.connect_timeout_ms,
        ));
        problems.into_result()
    }
}

/// `sqlite://relative/path.db` (from the working directory), `sqlite:///absolute/path.db`,
/// or `postgres://user:password@host:port/db` (also `postgresql://`).
fn location<'de, D: Deserializer<'de>>(d: D) -> Result<DatabaseLocation, D::Error> {
    let text = String::deserialize(d)?;
    let url = text.trim();
    match url.split_once("://") {
        Some(("sqlite", path)) if !path.is_empty() => {
            Ok(DatabaseLocation::Sqlite(PathBuf::from(path)))
        }
        Some(("postgres" | "postgresql", rest)) if !rest.is_empty() => {
            Ok(DatabaseLocation::Postgres(Secret::new(url)))
        }
        _ => Err(serde::de::Error::custom(format!(
            "expected sqlite://relative/path.db, sqlite:///absolute/path.db or \
             postgres://user:password@host:port/db, got {:?}",
            redact_password(url)
        ))),
    }
}

/// The URL as it may be shown: `postgres://user:***@host/db`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}
