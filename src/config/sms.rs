//! `[sms]`: the fallback's own short texts, one per kind, and the check at load that
//! each fits `fallback.max_segments` for a long sample booking (every part is billed,
//! and Cyrillic makes a part 70 characters, 67 once split).

use serde::Deserialize;

use super::messages::template;
use super::{CompanyConfig, ConfigError, FallbackConfig};
use crate::domain::Kind;
use crate::sms::{long_booking, segments};
use crate::template::Template;

pub const DEFAULT_BOOKING_CREATED: &str = "{company}: вы записаны на {date} в {time}. {address}";
pub const DEFAULT_BOOKING_CHANGED: &str =
    "{company}: запись изменена, теперь {date} в {time}, мастер {staff}.";
pub const DEFAULT_BOOKING_CANCELLED: &str =
    "{company}: ваша запись на {date} в {time} отменена. Если это ошибка, позвоните нам.";
pub const DEFAULT_REMINDER_DAY_BEFORE: &str =
    "{company}: ждём вас завтра, {date}, в {time}. {address}";
pub const DEFAULT_REMINDER_HOURS_BEFORE: &str = "{company}: ждём вас сегодня в {time}. {address}";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
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

impl Default for SmsConfig {
    fn default() -> Self {
        toml::from_str("").expect("sms defaults")
    }
}

fn builtin(text: &str) -> Template {
    Template::parse(text).expect("the built-in SMS texts parse")
}
fn created() -> Template {
    builtin(DEFAULT_BOOKING_CREATED)
}
fn changed() -> Template {
    builtin(DEFAULT_BOOKING_CHANGED)
}
fn cancelled() -> Template {
    builtin(DEFAULT_BOOKING_CANCELLED)
}
fn day_before() -> Template {
    builtin(DEFAULT_REMINDER_DAY_BEFORE)
}
fn hours_before() -> Template {
    builtin(DEFAULT_REMINDER_HOURS_BEFORE)
}

impl SmsConfig {
    /// The config key of `kind`'s text (the same names as in `[messages]`).
    pub fn key(kind: Kind) -> Option<&'static str> {
        Some(match kind {
            Kind::Created => "booking_created",
            Kind::Changed => "booking_changed",
            Kind::Cancelled => "booking_cancelled",
            Kind::ReminderDayBefore => "reminder_day_before",
            Kind::ReminderHoursBefore => "reminder_hours_before",
            Kind::ReplyAnswer | Kind::VisitConfirmation | Kind::StaffAlert | Kind::Sms => {
                return None
            }
        })
    }

    /// The SMS text of a notice; `None` for rows that are not notices.
    pub fn template(&self, kind: Kind) -> Option<&Template> {
        Some(match kind {
            Kind::Created => &self.booking_created,
            Kind::Changed => &self.booking_changed,
            Kind::Cancelled => &self.booking_cancelled,
            Kind::ReminderDayBefore => &self.reminder_day_before,
            Kind::ReminderHoursBefore => &self.reminder_hours_before,
            Kind::ReplyAnswer | Kind::VisitConfirmation | Kind::StaffAlert | Kind::Sms => {
                return None
            }
        })
    }

    /// Each text, rendered for the long sample booking with each salon's own name
    /// and address where the config gives them, fits `fallback.max_segments`; only
    /// checked when the fallback is on. `prefix` is where these texts sit
    /// (`sms`, or a salon's `companies[i].sms`), for the key in the error.
    pub fn check_length(
        &self,
        prefix: &str,
        fallback: &FallbackConfig,
        companies: &[CompanyConfig],
    ) -> Result<(), ConfigError> {
        if !fallback.enabled() {
            return Ok(());
        }
        let mut salons: Vec<Option<&CompanyConfig>> = companies.iter().map(Some).collect();
        if salons.is_empty() {
            // No salon configured: the sample's own name and address.
            salons.push(None);
        }
        for company in salons {
            let name = company.and_then(|c| c.name.as_deref());
            let address = company.and_then(|c| c.address.as_deref());
            let fields = long_booking(name, address);
            for kind in Kind::NOTICES {
                let Some(template) = self.template(kind) else {
                    continue;
                };
                let text = template.render(&fields);
                let size = segments(&text);
                if size.parts <= fallback.max_segments {
                    continue;
                }
                let whose = match company {
                    Some(c) if name.is_some() || address.is_some() => {
                        format!("company {}'s own name and address", c.id)
                    }
                    _ => "a long sample booking".to_string(),
                };
                return Err(ConfigError::new(
                    format!("{prefix}.{}", SmsConfig::key(kind).unwrap_or("?")),
                    format!(
                        "takes {} SMS parts ({} characters, {}) for {whose}, over \
                         fallback.max_segments = {}; shorten it (rendered: {text:?})",
                        size.parts,
                        size.units,
                        size.encoding.as_str(),
                        fallback.max_segments,
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::MINIMAL;
    use crate::config::Config;
    use crate::sms::sample;

    use super::*;

    const ON: &str =
        "[fallback]\nprovider = \"webhook\"\nwebhook = { url = \"http://127.0.0.1:1/sms\" }\n";

    fn parse(extra: &str) -> Result<Config, ConfigError> {
        Config::parse(&format!("{MINIMAL}\n{extra}"), &|_| None)
    }

    #[test]
    fn the_default_texts_fit_two_parts_for_the_long_sample() {
        let c = parse(ON).unwrap();
        let fields = long_booking(None, None);
        for kind in Kind::NOTICES {
            let text = c.sms.template(kind).unwrap().render(&fields);
            let size = segments(&text);
            assert!(size.parts <= 2, "{kind}: {size:?} {text}");
            assert!(!text.contains('{'), "{text}");
        }
        assert_eq!(
            c.sms.booking_created.render(&fields),
            format!(
                "{}: вы записаны на 27 сентября в 23:45. {}",
                sample::COMPANY,
                sample::ADDRESS
            )
        );
    }

    #[test]
    fn an_over_long_text_is_refused_naming_its_key_and_size() {
        let long = "[sms]\nbooking_cancelled = \"{client_name}, ваша запись в {company} на {date} ({weekday}) в {time} отменена. Адрес: {address}\"\n";
        let err = parse(&format!("{ON}{long}")).unwrap_err();
        assert_eq!(err.key, "sms.booking_cancelled", "{err}");
        assert!(err.problem.contains("takes 3 SMS parts"), "{err}");
        assert!(err.problem.contains("fallback.max_segments = 2"), "{err}");
        // Three parts allowed: it fits.
        let three = ON.replace("provider", "max_segments = 3\nprovider");
        parse(&format!("{three}{long}")).unwrap();
        // Off: not checked at all.
        parse(long).unwrap();
    }

    #[test]
    fn a_salons_own_long_address_is_measured() {
        let address = "Московская область, г. Красногорск, бульвар Строителей, д. 4, корп. 1, ТЦ «Вегас», 3 этаж, вход со двора";
        let text = MINIMAL.replace(
            "id = 1",
            &format!("id = 1\nname = \"Борода\"\naddress = \"{address}\""),
        );
        let err = Config::parse(&format!("{text}\n{ON}"), &|_| None).unwrap_err();
        assert_eq!(err.key, "sms.booking_created", "{err}");
        assert!(
            err.problem.contains("company 1's own name and address"),
            "{err}"
        );
        // A short own name and address pass where the sample's would too.
        let text = MINIMAL.replace(
            "id = 1",
            "id = 1\nname = \"Борода\"\naddress = \"Тверская, 1\"",
        );
        Config::parse(&format!("{text}\n{ON}"), &|_| None).unwrap();
    }

    /// config.toml's commented-out tables, uncommented, are a valid config whose
    /// `[sms]` texts are the defaults.
    #[test]
    fn the_example_config_shows_the_defaults() {
        let example = include_str!("../../config.toml");
        let start = example
            .find("# An SMS when WhatsApp")
            .expect("the [fallback] example");
        let end = example.find("[supervisor]").expect("[supervisor]");
        let uncommented: String = example[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| {
                l.starts_with('[') || l.split_once(" = ").is_some_and(|(k, _)| !k.contains(' '))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        let text = format!("{}\n{uncommented}", &example[..start]) + &example[end..];
        let c = Config::parse(&text, &crate::config::tests::shipped_secrets)
            .expect("the uncommented example parses");
        assert!(!c.fallback.enabled());
        for kind in Kind::NOTICES {
            assert_eq!(
                c.sms.template(kind),
                SmsConfig::default().template(kind),
                "{kind}"
            );
        }
        assert!(
            uncommented.contains("reminder_hours_before = "),
            "{uncommented}"
        );
    }

    #[test]
    fn an_unknown_placeholder_is_named() {
        let err = parse("[sms]\nreminder_hours_before = \"{salon}\"").unwrap_err();
        assert_eq!(err.key, "sms.reminder_hours_before", "{err}");
    }
}
