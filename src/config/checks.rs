//! Checks and parsers the sections share, so the same mistake reads the same
//! whichever key it is under.

use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use super::ConfigError;

pub(super) fn missing(key: &str, env: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!("missing: set it in the config file or in the environment variable {env}"),
    )
}

pub(super) fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::new(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}

pub(super) fn require_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("expected an http(s):// URL, got {url:?}"),
        ))
    }
}

/// A zone name like `Europe/Moscow`, for `[[companies]] timezone` and
/// `monitor.default_timezone`.
pub(super) fn time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown time zone {text:?} (use a name like \"Europe/Moscow\")"
        ))
    })
}
