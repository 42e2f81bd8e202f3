//! `[messages]` (one template per kind) and the Cloud API's approved template per kind.

use serde::{Deserialize, Deserializer};

use crate::domain::Kind;
use crate::template::{self, Template};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesConfig {
    #[serde(default = "created", deserialize_with = "template")]
    pub booking_created: Template,
    #[serde(default = "changed", deserialize_with = "template")]
    pub booking_changed: Template,
    #[serde(default = "cancelled", deserialize_with = "template")]
    pub booking_cancelled: Template,
    #[serde(default = "day_before", deserialize_with = "template")]
    pub reminder_day_before: Template,
    #[serde(default = "hours_before", deserialize_with = "template")]
    pub reminder_hours_before: Template,
}

impl MessagesConfig {
    pub fn template(&self, kind: Kind) -> &Template {
        match kind {
            Kind::Created => &self.booking_created,
            Kind::Changed => &self.booking_changed,
            Kind::Cancelled => &self.booking_cancelled,
            Kind::ReminderDayBefore => &self.reminder_day_before,
            Kind::ReminderHoursBefore => &self.reminder_hours_before,
        }
    }
}

impl Default for MessagesConfig {
    fn default() -> Self {
        toml::from_str("").expect("messages defaults")
    }
}

pub(super) fn template<'de, D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
    Template::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn builtin(text: &str) -> Template {
    Template::parse(text).expect("the built-in templates parse")
}

fn created() -> Template {
    builtin(template::DEFAULT_BOOKING_CREATED)
}
fn changed() -> Template {
    builtin(template::DEFAULT_BOOKING_CHANGED)
}
fn cancelled() -> Template {
    builtin(template::DEFAULT_BOOKING_CANCELLED)
}
fn day_before() -> Template {
    builtin(template::DEFAULT_REMINDER_DAY_BEFORE)
}
fn hours_before() -> Template {
    builtin(template::DEFAULT_REMINDER_HOURS_BEFORE)
}

/// `[whatsapp.cloud_api] templates`: Meta-approved template names per kind; empty: text.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTemplates {
    #[serde(default)]
    pub created: String,
    #[serde(default)]
    pub changed: String,
    #[serde(default)]
    pub cancelled: String,
    #[serde(default)]
    pub reminder_day_before: String,
    #[serde(default)]
    pub reminder_hours_before: String,
}

impl CloudTemplates {
    /// The approved template for `kind`, if one is configured.
    pub fn for_kind(&self, kind: Kind) -> Option<&str> {
        let name = match kind {
            Kind::Created => &self.created,
            Kind::Changed => &self.changed,
            Kind::Cancelled => &self.cancelled,
            Kind::ReminderDayBefore => &self.reminder_day_before,
            Kind::ReminderHoursBefore => &self.reminder_hours_before,
        };
        Some(name.trim()).filter(|n| !n.is_empty())
    }
}
