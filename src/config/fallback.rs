//! `[fallback]`: the SMS provider that carries a notice WhatsApp could not deliver,
//! and each provider's own table. Off by default.

use serde::Deserialize;

use super::checks::{positive_count, positive_millis};
use super::{missing, positive, require_url, ConfigError, Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsProviderKind {
    #[default]
    Off,
    SmsRu,
    Smsc,
    Webhook,
}

impl SmsProviderKind {
    /// As the config spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SmsProviderKind::Off => "off",
            SmsProviderKind::SmsRu => "sms_ru",
            SmsProviderKind::Smsc => "smsc",
            SmsProviderKind::Webhook => "webhook",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackConfig {
    #[serde(default)]
    pub provider: SmsProviderKind,
    /// How long after `sent` a notice may stay without `delivered`/`read` before
    /// the SMS goes (where statuses come in at all).
    #[serde(default = "after_ms", deserialize_with = "positive_millis")]
    pub after_ms: u64,
    /// The most billed parts an `[sms]` text may take for a long sample booking.
    #[serde(default = "max_segments", deserialize_with = "positive_count")]
    pub max_segments: u32,
    #[serde(default)]
    pub sms_ru: SmsRuConfig,
    #[serde(default)]
    pub smsc: SmscConfig,
    /// `POST url {"phone", "text"}`, with `token` as a bearer token when set.
    #[serde(default)]
    pub webhook: SmsWebhookConfig,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        toml::from_str("").expect("fallback defaults")
    }
}

fn after_ms() -> u64 {
    900_000
}
fn max_segments() -> u32 {
    2
}

impl FallbackConfig {
    pub fn enabled(&self) -> bool {
        self.provider != SmsProviderKind::Off
    }

    /// Only the chosen provider's table must be complete.
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("fallback.after_ms", self.after_ms)?;
        positive("fallback.max_segments", self.max_segments.into())?;
        match self.provider {
            SmsProviderKind::Off => Ok(()),
            SmsProviderKind::SmsRu => self.sms_ru.validate(),
            SmsProviderKind::Smsc => self.smsc.validate(),
            SmsProviderKind::Webhook => require_url("fallback.webhook.url", &self.webhook.url),
        }
    }
}

/// `[fallback.webhook]`: a self-hosted SMS gateway (it sends; nothing comes back).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsWebhookConfig {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub token: Secret,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsRuConfig {
    #[serde(default = "sms_ru_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub api_id: Secret,
    /// An approved sender name; empty: SMS.ru's default.
    #[serde(default)]
    pub from: String,
}

impl Default for SmsRuConfig {
    fn default() -> Self {
        toml::from_str("").expect("sms_ru defaults")
    }
}

fn sms_ru_base_url() -> String {
    "https://sms.ru".into()
}

impl SmsRuConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        require_url("fallback.sms_ru.base_url", &self.base_url)?;
        if self.api_id.is_empty() {
            return Err(missing("fallback.sms_ru.api_id", "SMS_RU_API_ID"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmscConfig {
    #[serde(default = "smsc_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub password: Secret,
    /// An approved sender name; empty: the account's default.
    #[serde(default)]
    pub sender: String,
}

impl Default for SmscConfig {
    fn default() -> Self {
        toml::from_str("").expect("smsc defaults")
    }
}

fn smsc_base_url() -> String {
    "https://smsc.ru".into()
}

impl SmscConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        require_url("fallback.smsc.base_url", &self.base_url)?;
        if self.login.trim().is_empty() {
            return Err(ConfigError::new(
                "fallback.smsc.login",
                "missing: the SMSC.ru account's login",
            ));
        }
        if self.password.is_empty() {
            return Err(missing("fallback.smsc.password", "SMSC_PASSWORD"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::MINIMAL;
    use crate::config::Config;

    use super::*;

    fn parse(extra: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::parse(&format!("{MINIMAL}\n{extra}"), env)
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn off_by_default_with_the_documented_defaults() {
        let f = parse("", &no_env).unwrap().fallback;
        assert_eq!(f.provider, SmsProviderKind::Off);
        assert!(!f.enabled());
        assert_eq!((f.after_ms, f.max_segments), (900_000, 2));
        assert_eq!(f.sms_ru.base_url, "https://sms.ru");
        assert_eq!(f.smsc.base_url, "https://smsc.ru");
        assert!(f.sms_ru.api_id.is_empty() && f.smsc.password.is_empty());
        assert_eq!(f.webhook.url, "");
    }

    #[test]
    fn only_the_chosen_providers_keys_are_required_and_each_is_named() {
        let cases = [
            (
                "provider = \"sms_ru\"",
                "fallback.sms_ru.api_id",
                "SMS_RU_API_ID",
            ),
            (
                "provider = \"sms_ru\"\nsms_ru = { base_url = \"sms.ru\", api_id = \"i\" }",
                "fallback.sms_ru.base_url",
                "http(s)://",
            ),
            ("provider = \"smsc\"", "fallback.smsc.login", "login"),
            (
                "provider = \"smsc\"\nsmsc = { login = \"l\" }",
                "fallback.smsc.password",
                "SMSC_PASSWORD",
            ),
            (
                "provider = \"smsc\"\nsmsc = { base_url = \"\", login = \"l\", password = \"p\" }",
                "fallback.smsc.base_url",
                "http(s)://",
            ),
            (
                "provider = \"webhook\"",
                "fallback.webhook.url",
                "http(s)://",
            ),
            ("provider = \"sms\"", "fallback.provider", "sms_ru"),
            ("after_ms = 0", "fallback.after_ms", "greater than 0"),
            (
                "max_segments = 0",
                "fallback.max_segments",
                "greater than 0",
            ),
            (
                "sms_ru = { api_key = \"i\" }",
                "fallback.sms_ru.api_key",
                "api_id",
            ),
        ];
        for (keys, key, says) in cases {
            let err = parse(&format!("[fallback]\n{keys}"), &no_env).unwrap_err();
            assert_eq!(err.key, key, "{keys}: {err}");
            assert!(err.problem.contains(says), "{keys}: {err}");
        }
        // The other providers' tables may stay empty.
        let c = parse(
            "[fallback]\nprovider = \"webhook\"\nwebhook = { url = \"http://127.0.0.1:1/sms\" }",
            &no_env,
        )
        .unwrap();
        assert_eq!(c.fallback.provider, SmsProviderKind::Webhook);
    }

    #[test]
    fn the_environment_supplies_the_secrets() {
        let env = |k: &str| match k {
            "SMS_RU_API_ID" => Some("api-from-env".to_string()),
            "SMSC_PASSWORD" => Some("psw-from-env".to_string()),
            _ => None,
        };
        let c = parse("[fallback]\nprovider = \"sms_ru\"", &env).unwrap();
        assert_eq!(c.fallback.sms_ru.api_id.expose(), "api-from-env");
        let c = parse(
            "[fallback]\nprovider = \"smsc\"\nsmsc = { login = \"l\", password = \"in-file\" }",
            &env,
        )
        .unwrap();
        assert_eq!(c.fallback.smsc.password.expose(), "psw-from-env");
        let shown = format!("{c:?}");
        assert!(!shown.contains("psw-from-env") && !shown.contains("api-from-env"));
    }
}
