//! `[database]`: where the SQLite file lives, parsed at load.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use super::DatabaseLocation;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    #[serde(rename = "url", deserialize_with = "location")]
    pub location: DatabaseLocation,
}

/// `sqlite://relative/path.db` (from the working directory) or `sqlite:///absolute/path.db`.
fn location<'de, D: Deserializer<'de>>(d: D) -> Result<DatabaseLocation, D::Error> {
    let text = String::deserialize(d)?;
    let url = text.trim();
    match url.split_once("://") {
        Some(("sqlite", path)) if !path.is_empty() => {
            Ok(DatabaseLocation::Sqlite(PathBuf::from(path)))
        }
        Some(("postgres" | "postgresql", _)) => Err(serde::de::Error::custom(
            "PostgreSQL is not supported by this build yet; use sqlite://path.db",
        )),
        _ => Err(serde::de::Error::custom(format!(
            "expected sqlite://relative/path.db or sqlite:///absolute/path.db, got {url:?}"
        ))),
    }
}
