//! `[database]`: where the SQLite file lives.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, DatabaseLocation};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

impl DatabaseConfig {
    /// `sqlite://relative/path.db` (from the working directory) or `sqlite:///absolute/path.db`.
    pub fn location(&self) -> Result<DatabaseLocation, ConfigError> {
        let url = self.url.trim();
        match url.split_once("://") {
            Some(("sqlite", path)) if !path.is_empty() => {
                Ok(DatabaseLocation::Sqlite(PathBuf::from(path)))
            }
            Some(("postgres" | "postgresql", _)) => Err(ConfigError::new(
                "database.url",
                "PostgreSQL is not supported by this build yet; use sqlite://path.db",
            )),
            _ => Err(ConfigError::new(
                "database.url",
                format!(
                    "expected sqlite://relative/path.db or sqlite:///absolute/path.db, got {url:?}"
                ),
            )),
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.location().map(drop)
    }
}
