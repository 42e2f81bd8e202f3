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
    /// Ends a text notice of a kind in `replies.ask_in`.
    #[serde(default = "ask_to_confirm", deserialize_with = "template")]
    pub ask_to_confirm: Template,
    /// Our answers to a client's reply: the visit confirmed in YClients, a cancel
    /// request passed on, anything else passed on.
    #[serde(default = "reply_confirmed", deserialize_with = "template")]
    pub reply_confirmed: Template,
    #[serde(default = "reply_cancel_request", deserialize_with = "template")]
    pub reply_cancel_request: Template,
    #[serde(default = "reply_forwarded", deserialize_with = "template")]
    pub reply_forwarded: Template,
    /// The one answer to a client's «стоп», and to their «старт».
    #[serde(default = "opted_out", deserialize_with = "template")]
    pub opted_out: Template,
    #[serde(default = "opted_in", deserialize_with = "template")]
    pub opted_in: Template,
}

impl MessagesConfig {
    /// The text of a notice of the booking's life; `None` for other rows.
    pub fn template(&self, kind: Kind) -> Option<&Template> {
        match kind {
            Kind::Created => Some(&self.booking_created),
            Kind::Changed => Some(&self.booking_changed),
            Kind::Cancelled => Some(&self.booking_cancelled),
            Kind::ReminderDayBefore => Some(&self.reminder_day_before),
            Kind::ReminderHoursBefore => Some(&self.reminder_hours_before),
            Kind::ReplyAnswer | Kind::VisitConfirmation | Kind::StaffAlert | Kind::Sms => None,
        }
    }
}

impl Default for MessagesConfig {
    fn default() -> Self {
        toml::from_str("").expect("messages defaults")
    }
}

/// A text clients get: an empty one (or only spaces) would be sent as an empty
/// message, so it is refused; a key left out takes the built-in text.
pub(super) fn template<'de, D: Deserializer<'de>>(d: D) -> Result<Template, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Err(serde::de::Error::custom(
            "empty: a client would get an empty message; write a text, or leave the key out \
             for the built-in one",
        ));
    }
    Template::parse(&text).map_err(serde::de::Error::custom)
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
fn ask_to_confirm() -> Template {
    builtin(template::DEFAULT_ASK_TO_CONFIRM)
}
fn reply_confirmed() -> Template {
    builtin(template::DEFAULT_REPLY_CONFIRMED)
}
fn reply_cancel_request() -> Template {
    builtin(template::DEFAULT_REPLY_CANCEL_REQUEST)
}
fn reply_forwarded() -> Template {
    builtin(template::DEFAULT_REPLY_FORWARDED)
}
fn opted_out() -> Template {
    builtin(template::DEFAULT_OPTED_OUT)
}
fn opted_in() -> Template {
    builtin(template::DEFAULT_OPTED_IN)
}

/// An approved Cloud API template: a name (the string form), or a table that also
/// gives its language and its body parameters in order, since approved templates
/// differ in what they take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudTemplate {
    pub name: String,
    /// `None`: `whatsapp.cloud_api.language`.
    pub language: Option<String>,
    /// Placeholder names; `None`: `whatsapp.cloud_api.template_parameters`.
    pub parameters: Option<Vec<String>>,
}

/// A name, or a table read field by field: a typo in the table is named with the
/// fields it may have (an untagged enum would only say that nothing matched).
impl<'de> Deserialize<'de> for CloudTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<CloudTemplate, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            name: String,
            #[serde(default)]
            language: Option<String>,
            #[serde(default)]
            parameters: Option<Vec<String>>,
        }
        struct Form;
        impl<'de> serde::de::Visitor<'de> for Form {
            type Value = CloudTemplate;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a template name, or a table with name, language and parameters")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<CloudTemplate, E> {
                Ok(CloudTemplate {
                    name: name.to_string(),
                    ..CloudTemplate::default()
                })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<CloudTemplate, A::Error> {
                let t = Table::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(CloudTemplate {
                    name: t.name,
                    language: t.language,
                    parameters: t.parameters,
                })
            }
        }
        d.deserialize_any(Form)
    }
}

/// `[whatsapp.cloud_api] templates`: Meta-approved templates per kind; empty: text.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudTemplates {
    #[serde(default)]
    pub created: CloudTemplate,
    #[serde(default)]
    pub changed: CloudTemplate,
    #[serde(default)]
    pub cancelled: CloudTemplate,
    #[serde(default)]
    pub reminder_day_before: CloudTemplate,
    #[serde(default)]
    pub reminder_hours_before: CloudTemplate,
}

impl CloudTemplates {
    /// The approved template for `kind`, if one is configured.
    pub fn for_kind(&self, kind: Kind) -> Option<&CloudTemplate> {
        let template = match kind {
            Kind::Created => &self.created,
            Kind::Changed => &self.changed,
            Kind::Cancelled => &self.cancelled,
            Kind::ReminderDayBefore => &self.reminder_day_before,
            Kind::ReminderHoursBefore => &self.reminder_hours_before,
            Kind::ReplyAnswer | Kind::VisitConfirmation | Kind::StaffAlert | Kind::Sms => {
                return None
            }
        };
        Some(template).filter(|t| !t.name.trim().is_empty())
    }

    /// Each configured template with its key, for the config's checks.
    pub fn each(&self) -> impl Iterator<Item = (&'static str, &CloudTemplate)> {
        [
            ("created", &self.created),
            ("changed", &self.changed),
            ("cancelled", &self.cancelled),
            ("reminder_day_before", &self.reminder_day_before),
            ("reminder_hours_before", &self.reminder_hours_before),
        ]
        .into_iter()
        .filter(|(_, t)| !t.name.trim().is_empty())
    }
}
