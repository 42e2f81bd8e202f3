//! `[retention]`: how long what the daemon keeps of a client outlives their visit
//! (Russia's 152-FZ: personal data no longer than needed). Stops and forgotten
//! phones are kept while they stand.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// A booking whose visit ended longer ago than this is purged with all its
    /// rows; `None` ("off") keeps everything.
    #[serde(default = "keep_after_visit", deserialize_with = "duration_or_off")]
    pub keep_after_visit: Option<Duration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        toml::from_str("").expect("retention defaults")
    }
}

/// The shortest `keep_after_visit`: a salon's staff look at yesterday's replies.
const SHORTEST: Duration = Duration::from_secs(3600);

impl RetentionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.keep_after_visit {
            Some(keep) if keep < SHORTEST => Err(ConfigError::new(
                "retention.keep_after_visit",
                "must be at least \"1h\" (or \"off\")",
            )),
            _ => Ok(()),
        }
    }

    /// How often the purge runs: every hour, or every `keep_after_visit` if shorter.
    pub fn purge_every(&self) -> Option<Duration> {
        self.keep_after_visit.map(|keep| keep.min(SHORTEST))
    }
}

fn keep_after_visit() -> Option<Duration> {
    Some(Duration::from_secs(180 * 24 * 3600))
}

fn duration_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim() == "off" {
        return Ok(None);
    }
    humantime::parse_duration(text.trim())
        .map(Some)
        .map_err(|e| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration like \"180d\" or \"12h\", nor \"off\" ({e})"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_180_days_by_default_and_reads_durations_and_off() {
        assert_eq!(
            RetentionConfig::default().keep_after_visit,
            Some(Duration::from_secs(180 * 86_400))
        );
        let r: RetentionConfig = toml::from_str("keep_after_visit = \"30d 12h\"").unwrap();
        assert_eq!(
            r.keep_after_visit,
            Some(Duration::from_secs(30 * 86_400 + 12 * 3600))
        );
        assert_eq!(r.purge_every(), Some(Duration::from_secs(3600)));
        let off: RetentionConfig = toml::from_str("keep_after_visit = \"off\"").unwrap();
        assert_eq!(off.keep_after_visit, None);
        assert!(toml::from_str::<RetentionConfig>("keep_after_visit = \"soon\"").is_err());
        let short: RetentionConfig = toml::from_str("keep_after_visit = \"10m\"").unwrap();
        assert!(short.validate().is_err());
    }
}
