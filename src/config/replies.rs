//! `[replies]`: whether the daemon listens to clients' answers, which notices ask
//! for one, how far back a plain answer looks for the notice it answers, and
//! whether the client is answered.

use serde::{Deserialize, Deserializer};

use super::ConfigError;
use crate::domain::Kind;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepliesConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The notices that ask the client to confirm (a text ends with
    /// `messages.ask_to_confirm`; a Cloud API template gets two buttons).
    #[serde(default = "ask_in", deserialize_with = "kinds")]
    pub ask_in: Vec<Kind>,
    /// A plain-text answer matches the notices sent this recently.
    #[serde(
        default = "window_hours",
        deserialize_with = "super::notifications::hours"
    )]
    pub window_hours: chrono::Duration,
    /// Answer the client (confirmed, passed on to the staff).
    #[serde(default = "yes")]
    pub acknowledge: bool,
}

impl Default for RepliesConfig {
    fn default() -> Self {
        toml::from_str("").expect("replies defaults")
    }
}

impl RepliesConfig {
    /// Whether a notice of `kind` asks the client to answer.
    pub fn asks(&self, kind: Kind) -> bool {
        self.enabled && self.ask_in.contains(&kind)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.window_hours <= chrono::Duration::zero() {
            return Err(ConfigError::new(
                "replies.window_hours",
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

fn ask_in() -> Vec<Kind> {
    vec![Kind::ReminderDayBefore]
}
fn window_hours() -> chrono::Duration {
    chrono::Duration::hours(48)
}
fn yes() -> bool {
    true
}

/// Notice kinds by name: `created`, `changed`, `cancelled`, `reminder_day_before`,
/// `reminder_hours_before`.
fn kinds<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Kind>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|name| {
            Kind::parse(name)
                .filter(|k| Kind::NOTICES.contains(k))
                .ok_or_else(|| {
                    let known: Vec<&str> = Kind::NOTICES.iter().map(|k| k.as_str()).collect();
                    serde::de::Error::custom(format!(
                        "unknown kind {name:?}; known: {}",
                        known.join(", ")
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_asking_in_the_day_before_reminder() {
        let r = RepliesConfig::default();
        assert!(!r.enabled && r.acknowledge);
        assert_eq!(r.ask_in, vec![Kind::ReminderDayBefore]);
        assert_eq!(r.window_hours, chrono::Duration::hours(48));
        assert!(!r.asks(Kind::ReminderDayBefore), "not while off");
    }

    #[test]
    fn an_unknown_kind_is_refused_by_name() {
        let e = toml::from_str::<RepliesConfig>("ask_in = [\"reminder\"]").unwrap_err();
        assert!(e.to_string().contains("unknown kind \"reminder\""), "{e}");
        assert!(toml::from_str::<RepliesConfig>("ask_in = [\"staff_alert\"]").is_err());
    }
}
