//! `[monitor]`: how often YClients is polled (and when a salon is polled sooner:
//! DESIGN's "On time without webhooks"), the grace delay, retries.

use chrono_tz::Tz;
use serde::Deserialize;

use super::checks::{ids, millis, positive_count, positive_millis, share};
use super::{positive, time_zone, ConfigError, ConfigErrors};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "poll_interval_ms", deserialize_with = "positive_millis")]
    pub poll_interval_ms: u64,
    /// The least time between two polls of one salon when it is polled sooner than
    /// `poll_interval_ms` (a proving poll, or an extra one while it is busy).
    #[serde(default = "min_poll_interval_ms", deserialize_with = "positive_millis")]
    pub min_poll_interval_ms: u64,
    /// Of the YClients budget the configured polls leave free, the share that extra
    /// polls of busy salons may take (0: none).
    #[serde(default = "spare_budget_share", deserialize_with = "share")]
    pub spare_budget_share: f64,
    /// A salon with a notice falling due unproven is polled at the due time (off:
    /// the notice waits for the next poll, or a re-read a spare slot allows).
    #[serde(default = "yes")]
    pub proving_poll: bool,
    #[serde(default = "notification_delay_ms", deserialize_with = "millis")]
    pub notification_delay_ms: u64,
    #[serde(default = "yes")]
    pub skip_online: bool,
    #[serde(default, deserialize_with = "ids")]
    pub bot_user_ids: Vec<i64>,
    /// How far each poll reaches back before the cursor, against clock skew and
    /// records YClients indexes late; the outbox's unique key makes it harmless.
    #[serde(default = "cursor_overlap_ms", deserialize_with = "millis")]
    pub cursor_overlap_ms: u64,
    /// First wait after a failed send or poll; it doubles, with jitter, up to `retry_max_ms`.
    #[serde(default = "retry_initial_ms", deserialize_with = "positive_millis")]
    pub retry_initial_ms: u64,
    #[serde(default = "retry_max_ms", deserialize_with = "positive_millis")]
    pub retry_max_ms: u64,
    /// Sends tried before a notification is marked `failed`.
    #[serde(default = "max_attempts", deserialize_with = "positive_count")]
    pub max_attempts: u32,
    /// The salons' zone where neither `[[companies]] timezone` nor YClients (when
    /// the user may not read the company) gives one.
    #[serde(default = "default_timezone", deserialize_with = "time_zone")]
    pub default_timezone: Tz,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        toml::from_str("").expect("monitor defaults")
    }
}

fn yes() -> bool {
    true
}
fn poll_interval_ms() -> u64 {
    60_000
}
fn min_poll_interval_ms() -> u64 {
    5_000
}
fn spare_budget_share() -> f64 {
    0.5
}
fn notification_delay_ms() -> u64 {
    30_000
}
fn cursor_overlap_ms() -> u64 {
    300_000
}
fn retry_initial_ms() -> u64 {
    5_000
}
fn retry_max_ms() -> u64 {
    600_000
}
fn max_attempts() -> u32 {
    20
}
fn default_timezone() -> Tz {
    chrono_tz::Europe::Moscow
}

impl MonitorConfig {
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        problems.check(positive("monitor.poll_interval_ms", self.poll_interval_ms));
        problems.check(positive(
            "monitor.min_poll_interval_ms",
            self.min_poll_interval_ms,
        ));
        problems.check(positive("monitor.retry_initial_ms", self.retry_initial_ms));
        if self.retry_max_ms < self.retry_initial_ms {
            problems.push(ConfigError::new(
                "monitor.retry_max_ms",
                "must not be less than monitor.retry_initial_ms",
            ));
        }
        problems.check(positive("monitor.max_attempts", self.max_attempts.into()));
        problems.into_result()
    }
}
