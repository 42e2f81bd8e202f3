//! `[yclients]`: the API and its limits.

use serde::Deserialize;

use super::checks::{positive_count, positive_millis, some_id};
use super::{missing, positive, require_url, ConfigErrors, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YClientsConfig {
    #[serde(default = "base_url")]
    pub base_url: String,
    #[serde(default)]
    pub partner_token: Secret,
    #[serde(default)]
    pub user_token: Secret,
    #[serde(default = "request_timeout_ms", deserialize_with = "positive_millis")]
    pub request_timeout_ms: u64,
    #[serde(default, deserialize_with = "some_id")]
    pub partner_id: Option<i64>,
    /// Records asked for per page.
    #[serde(default = "page_size", deserialize_with = "positive_count")]
    pub page_size: u32,
    /// YClients' documented limits; raise them only with YClients' consent.
    #[serde(default = "per_second", deserialize_with = "positive_count")]
    pub max_requests_per_second: u32,
    #[serde(default = "per_minute", deserialize_with = "positive_count")]
    pub max_requests_per_minute: u32,
    /// The `Accept` header of every request: YClients' documented media type;
    /// Altegio's own tools send `application/vnd.api.v2+json`.
    #[serde(default = "accept")]
    pub accept: String,
    /// The secret part of our webhook URL (`/webhooks/yclients/{token}`); empty: the
    /// YClients webhook endpoint is off.
    #[serde(default)]
    pub webhook_token: Secret,
}

/// YClients' documented media type (format version 2).
pub const YCLIENTS_ACCEPT: &str = "application/vnd.yclients.v2+json";

fn accept() -> String {
    YCLIENTS_ACCEPT.into()
}
fn base_url() -> String {
    "https://api.yclients.com".into()
}
fn request_timeout_ms() -> u64 {
    10_000
}
fn page_size() -> u32 {
    200
}
fn per_second() -> u32 {
    5
}
fn per_minute() -> u32 {
    200
}

impl YClientsConfig {
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        problems.check(require_url("yclients.base_url", &self.base_url));
        if self.accept.trim().is_empty() {
            problems.push(super::ConfigError::new(
                "yclients.accept",
                "must name a media type, e.g. \"application/vnd.yclients.v2+json\"",
            ));
        }
        if self.partner_token.is_empty() {
            problems.push(missing("yclients.partner_token", "YCLIENTS_PARTNER_TOKEN"));
        }
        if self.user_token.is_empty() {
            problems.push(missing("yclients.user_token", "YCLIENTS_USER_TOKEN"));
        }
        problems.check(positive(
            "yclients.request_timeout_ms",
            self.request_timeout_ms,
        ));
        problems.check(positive("yclients.page_size", self.page_size.into()));
        problems.check(positive(
            "yclients.max_requests_per_second",
            self.max_requests_per_second.into(),
        ));
        problems.check(positive(
            "yclients.max_requests_per_minute",
            self.max_requests_per_minute.into(),
        ));
        problems.into_result()
    }
}
