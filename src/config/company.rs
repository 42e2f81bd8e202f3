//! `[[companies]]`: the salons polled, each with what may be its own — its name,
//! address and zone over YClients', its staff's Telegram chat and page token, its
//! own WhatsApp sender and texts (key by key over `[messages]` and `[sms]`).

use chrono_tz::Tz;
use serde::Deserialize;

use super::{
    time_zone, ConfigError, ConfigErrors, MessagesConfig, Secret, SmsConfig, WhatsAppConfig, Where,
};
use crate::domain::CompanyId;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyConfig {
    #[serde(deserialize_with = "super::checks::id")]
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
    #[serde(default, deserialize_with = "super::checks::id")]
    pub staff_telegram_chat_id: i64,
    /// This salon's own staff page (`GET /salons/{id}`), or env
    /// `BOOKING_MONITOR_STAFF_TOKEN_<id>`; empty: none.
    #[serde(default)]
    pub staff_token: Secret,
    /// Its own WhatsApp sender (the keys of `[whatsapp]`); none: the global one.
    #[serde(default)]
    pub whatsapp: Option<WhatsAppConfig>,
    /// Its own texts as written, key by key over `[messages]` and `[sms]`.
    #[serde(default, rename = "messages")]
    pub own_messages: Option<toml::Table>,
    #[serde(default, rename = "sms")]
    pub own_sms: Option<toml::Table>,
    /// The texts it uses, resolved at load; none: the global ones.
    #[serde(skip)]
    pub messages: Option<MessagesConfig>,
    #[serde(skip)]
    pub sms: Option<SmsConfig>,
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

    /// Its secrets from the environment: `NAME_<id>`.
    pub fn secrets_from_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let name = format!("BOOKING_MONITOR_STAFF_TOKEN_{}", self.id);
        if let Some(secret) = super::secret_from_env(env, &name)? {
            self.staff_token = secret;
        }
        let at = Where::company(0, self.id);
        if let Some(whatsapp) = self.whatsapp.as_mut() {
            whatsapp.secrets_from_env(env, &at)?;
        }
        Ok(())
    }

    /// Its texts: each key it gives over the global table's, read like the
    /// global one (`raw_global`: `[messages]` or `[sms]` as written, if at all).
    pub fn resolve_texts(
        &mut self,
        index: usize,
        raw_messages: Option<&toml::Table>,
        raw_sms: Option<&toml::Table>,
    ) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        if let Some(own) = &self.own_messages {
            match merged(raw_messages, own, &format!("companies[{index}].messages")) {
                Ok(messages) => self.messages = Some(messages),
                Err(e) => problems.push(e),
            }
        }
        if let Some(own) = &self.own_sms {
            match merged(raw_sms, own, &format!("companies[{index}].sms")) {
                Ok(sms) => self.sms = Some(sms),
                Err(e) => problems.push(e),
            }
        }
        problems.into_result()
    }

    /// `index`: its place in `[[companies]]`, for the key in the error.
    pub fn validate(&self, index: usize) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        if self.id <= 0 {
            problems.push(ConfigError::new(
                format!("companies[{index}].id"),
                "must be a positive YClients company id",
            ));
        }
        if let Some(whatsapp) = &self.whatsapp {
            problems.check(whatsapp.validate_as(&Where::company(index, self.id)));
        }
        problems.into_result()
    }
}

/// `over` laid over `base` (both as written), read as a whole table; an error
/// names the key under `prefix`.
fn merged<T: serde::de::DeserializeOwned>(
    base: Option<&toml::Table>,
    over: &toml::Table,
    prefix: &str,
) -> Result<T, ConfigError> {
    let mut table = base.cloned().unwrap_or_default();
    table.extend(over.clone());
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        ConfigError::new(
            format!("{prefix}.{key}"),
            super::in_words(&e.inner().to_string()),
        )
    })
}
