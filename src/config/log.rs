//! `[log]`: the level and the format of the daemon's own log.

use serde::{Deserialize, Deserializer};
use slog::Level;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "info", deserialize_with = "level")]
    pub level: Level,
    #[serde(default)]
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        toml::from_str("").expect("log defaults")
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    #[default]
    Term,
    /// One object per line, for log shippers.
    Json,
}

fn info() -> Level {
    Level::Info
}

/// Only the five names the contract lists: `slog`'s own parser also takes
/// `critical`, `warning` and abbreviations, which would widen it.
fn level<'de, D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
    let text = String::deserialize(d)?;
    Ok(match text.as_str() {
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warning,
        "error" => Level::Error,
        _ => {
            return Err(serde::de::Error::custom(format!(
                "expected trace, debug, info, warn or error, got {text:?}"
            )))
        }
    })
}
