//! `[monitor]`: how often YClients is polled (and when a salon is polled sooner:
//! DESIGN's "On time without webhooks"), the grace delay, retries.

use chrono_tz::Tz;
use serde::Deserialize;

use super::{positive, time_zone, ConfigError, ConfigErrors};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// The least time between two polls of one salon when it is polled sooner than
    /// `poll_interval_ms` (a proving poll, or an extra one while it is busy).
    #[serde(default = "min_poll_interval_ms")]
    pub min_poll_interval_ms: u64,
    /// Of the YClients budget the configured polls leave free, the share that extra
    /// polls of busy salons may take (0: none).
    #[serde(default = "spare_budget_share")]
    pub spare_budget_share: f64,
    /// A salon with a notice falling due unproven is polled at the due time (off:
    /// the notice waits for the next poll, or a re-read a spare slot allows).
    #[serde(default = "yes")]
    pub proving_poll: bool,
    #[serde(default = "notification_delay_ms")]
    pub notification_delay_ms: u64,
    #[serde(default = "yes")]
    pub skip_online: bool,
    #[serde(default)]
    pub bot_user_ids: Vec<i64>,
    /// How far each poll reaches back before the cursor, against clock skew and
    /// records YClients indexes late; the outbox's unique key makes it harmless.
    #[serde(default = "cursor_overlap_ms")]
    pub cursor_overlap_ms: u64,
    /// First wait after a failed send or poll; it doubles, with jitter, up to `retry_max_ms`.
    #[serde(default = "retry_initial_ms")]
    pub retry_initial_ms: u64,
    #[serde(default = "retry_max_ms")]
    pub retry_max_ms: u64,
    /// Sends tried before a notification is marked `failed`.
    #[serde(default = "max_attempts")]
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
        if !(0.0..=1.0).contains(&self.spare_budget_share) {
            problems.push(ConfigError::new(
                "monitor.spare_budget_share",
                "must be between 0 and 1 (a share of the budget the polls leave free; 0 turns extra polls off)",
            ));
        }
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
