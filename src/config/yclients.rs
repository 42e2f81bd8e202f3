//! `[yclients]` (the API and its limits) and `[[companies]]` (the salons polled).

use chrono_tz::Tz;
use serde::Deserialize;

use super::{missing, positive, require_url, time_zone, ConfigError, ConfigErrors, Secret};
use crate::domain::CompanyId;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YClientsConfig {
    #[serde(default = "base_url")]
    pub base_url: String,
    #[serde(default)]
    pub partner_token: Secret,
    #[serde(default)]
    pub user_token: Secret,
    #[serde(default = "request_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default)]
    pub partner_id: Option<i64>,
    /// Records asked for per page.
    #[serde(default = "page_size")]
    pub page_size: u32,
    /// YClients' documented limits; raise them only with YClients' consent.
    #[serde(default = "per_second")]
    pub max_requests_per_second: u32,
    #[serde(default = "per_minute")]
    pub max_requests_per_minute: u32,
    /// The secret part of our webhook URL (`/webhooks/yclients/{token}`); empty: the
    /// YClients webhook endpoint is off.
    #[serde(default)]
    pub webhook_token: Secret,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyConfig {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    /// Parsed at load: an unknown zone stops the start, naming the key.
    #[serde(default, deserialize_with = "some_time_zone")]
    pub timezone: Option<Tz>,
    /// The Telegram chat (a group's id is negative) where this salon's staff hear
    /// what needs a person; 0: none (the page only).
    #[serde(default)]
    pub staff_telegram_chat_id: i64,
}

fn some_time_zone<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    time_zone(d).map(Some)
}

impl CompanyConfig {
    pub fn company_id(&self) -> CompanyId {
        CompanyId(self.id)
    }

    /// Where this salon's staff alerts go in Telegram, if anywhere.
    pub fn staff_chat(&self) -> Option<i64> {
        Some(self.staff_telegram_chat_id).filter(|id| *id != 0)
    }

    /// `index`: its place in `[[companies]]`, for the key in the error.
    pub fn validate(&self, index: usize) -> Result<(), ConfigError> {
        if self.id <= 0 {
            return Err(ConfigError::new(
                format!("companies[{index}].id"),
                "must be a positive YClients company id",
            ));
        }
        Ok(())
    }
}
