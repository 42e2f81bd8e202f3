//! `[notifications]`: which moments of a booking's life are announced, and when.
//! Parsed into types here, so nothing downstream parses a string again.

use chrono::NaiveTime;
use serde::{Deserialize, Deserializer};

use crate::domain::Kind;
use crate::lifecycle::timing::{parse_clock, QuietHours};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// A change of time, master or services (and a cancellation undone).
    #[serde(default = "yes")]
    pub changed: bool,
    #[serde(default = "yes")]
    pub cancelled: bool,
    /// Salon-local time of day for the evening-before reminder; `""` (the default) = off.
    #[serde(default, deserialize_with = "clock_or_off")]
    pub reminder_day_before: Option<NaiveTime>,
    /// Lead of the hours-before reminder; `0` (the default) = off.
    #[serde(default, deserialize_with = "hours_or_off")]
    pub reminder_hours_before: Option<chrono::Duration>,
    /// No reminder this soon after a confirmation or change notice.
    #[serde(default = "min_gap", deserialize_with = "hours")]
    pub reminder_min_gap_hours: chrono::Duration,
    /// Salon-local `"21:00-09:00"`; `""` (the default) = off.
    #[serde(default, deserialize_with = "quiet_or_off")]
    pub quiet_hours: Option<QuietHours>,
    /// How far ahead the future bookings are read when monitoring of a company begins.
    #[serde(default = "baseline_days", deserialize_with = "days")]
    pub baseline_days: u32,
}

impl NotificationsConfig {
    /// Whether notices of `kind` go out at all (a confirmation always does).
    pub fn announces(&self, kind: Kind) -> bool {
        match kind {
            Kind::Created => true,
            Kind::Changed => self.changed,
            Kind::Cancelled => self.cancelled,
            Kind::ReminderDayBefore => self.reminder_day_before.is_some(),
            Kind::ReminderHoursBefore => self.reminder_hours_before.is_some(),
            // Not notices: carried out whatever the lifecycle's settings.
            Kind::ReplyAnswer | Kind::VisitConfirmation | Kind::StaffAlert | Kind::Sms => true,
        }
    }
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        toml::from_str("").expect("notifications defaults")
    }
}

fn yes() -> bool {
    true
}

fn min_gap() -> chrono::Duration {
    chrono::Duration::hours(3)
}

fn baseline_days() -> u32 {
    60
}

fn clock_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveTime>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_clock(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn quiet_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<QuietHours>, D::Error> {
    let text = String::deserialize(d)?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    QuietHours::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Hours as a number (fractions allowed), to the second.
fn days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    super::checks::whole(d, "a whole number of days, 0 or more")
}

/// Hours, whole or not: a refusal says so in words (serde's says `expected f64`).
struct Hours;

impl serde::de::Visitor<'_> for Hours {
    type Value = f64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number of hours between 0 and 8784 (fractions allowed)")
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
}

pub(super) fn hours<'de, D: Deserializer<'de>>(d: D) -> Result<chrono::Duration, D::Error> {
    let hours = d.deserialize_f64(Hours)?;
    if !hours.is_finite() || !(0.0..=24.0 * 366.0).contains(&hours) {
        return Err(serde::de::Error::custom(format!(
            "{hours} is not a number of hours between 0 and 8784"
        )));
    }
    Ok(chrono::Duration::milliseconds(
        (hours * 3_600_000.0).round() as i64,
    ))
}

fn hours_or_off<'de, D: Deserializer<'de>>(d: D) -> Result<Option<chrono::Duration>, D::Error> {
    let lead = hours(d)?;
    Ok((lead > chrono::Duration::zero()).then_some(lead))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminders_and_quiet_hours_are_off_by_default() {
        let n = NotificationsConfig::default();
        assert!(n.changed && n.cancelled);
        assert_eq!(n.reminder_day_before, None);
        assert_eq!(n.reminder_hours_before, None);
        assert_eq!(n.quiet_hours, None);
        assert_eq!(n.reminder_min_gap_hours, chrono::Duration::hours(3));
        assert_eq!(n.baseline_days, 60);
    }

    #[test]
    fn parses_times_and_fractions() {
        let n: NotificationsConfig = toml::from_str(
            "reminder_day_before = \"18:00:30\"\nreminder_hours_before = 1.5\nquiet_hours = \"21:00-09:00\"",
        )
        .unwrap();
        assert_eq!(n.reminder_day_before, NaiveTime::from_hms_opt(18, 0, 30));
        assert_eq!(n.reminder_hours_before, Some(chrono::Duration::minutes(90)));
        assert_eq!(n.quiet_hours.unwrap().to_string(), "21:00:00-09:00:00");
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for bad in [
            "reminder_day_before = \"6pm\"",
            "reminder_hours_before = -1",
            "quiet_hours = \"21-9\"",
        ] {
            assert!(toml::from_str::<NotificationsConfig>(bad).is_err(), "{bad}");
        }
    }
}

#[cfg(test)]
mod shipped {
    use crate::config::Config;

    /// The example config turns the lifecycle on, as DESIGN promises.
    #[test]
    fn the_shipped_config_turns_reminders_and_quiet_hours_on() {
        let text = include_str!("../../config.toml");
        let config = Config::parse(text, &crate::config::tests::shipped_secrets)
            .expect("config.toml parses");
        let n = &config.notifications;
        assert_eq!(
            n.reminder_day_before.map(|t| t.to_string()).as_deref(),
            Some("18:00:00")
        );
        assert_eq!(n.reminder_hours_before, Some(chrono::Duration::hours(2)));
        assert!(n.quiet_hours.is_some());
    }
}
