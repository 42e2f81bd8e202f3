//! `[staff]`: how the salons' staff hear of what needs a person (a Telegram bot).

use serde::Deserialize;

use super::{require_url, ConfigError, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffConfig {
    /// The bot's token from @BotFather; empty: staff alerts show on the page only.
    #[serde(default)]
    pub telegram_bot_token: Secret,
    #[serde(default = "telegram_api_base_url")]
    pub telegram_api_base_url: String,
}

impl Default for StaffConfig {
    fn default() -> Self {
        toml::from_str("").expect("staff defaults")
    }
}

fn telegram_api_base_url() -> String {
    "https://api.telegram.org".into()
}

impl StaffConfig {
    pub fn telegram_enabled(&self) -> bool {
        !self.telegram_bot_token.is_empty()
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        require_url("staff.telegram_api_base_url", &self.telegram_api_base_url)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::MINIMAL;
    use crate::config::Config;

    #[test]
    fn off_without_a_token_and_the_token_may_come_from_the_environment() {
        let c = Config::parse(MINIMAL, &|_| None).unwrap();
        assert!(!c.staff.telegram_enabled());
        assert_eq!(c.staff.telegram_api_base_url, "https://api.telegram.org");

        let text = format!("{MINIMAL}\n[staff]\ntelegram_bot_token = \"123:in-file\"");
        let env = |k: &str| (k == "TELEGRAM_BOT_TOKEN").then(|| "123:from-env".to_string());
        let c = Config::parse(&text, &env).unwrap();
        assert!(c.staff.telegram_enabled());
        assert_eq!(c.staff.telegram_bot_token.expose(), "123:from-env");
        assert!(!format!("{c:?}").contains("123:from-env"));
    }

    #[test]
    fn a_bad_base_url_is_named() {
        let text = format!("{MINIMAL}\n[staff]\ntelegram_api_base_url = \"api.telegram.org\"");
        let err = Config::parse(&text, &|_| None).unwrap_err();
        assert_eq!(err.key, "staff.telegram_api_base_url", "{err}");
    }
}
