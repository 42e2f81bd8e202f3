//! Which bookings get a confirmation, and when: the filter's rules, used both when
//! a record is first seen and again, on the fresh record, just before sending.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::MonitorConfig;
use crate::domain::Phone;
use crate::yclients::Record;

/// What to do with a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The booking is gone (deleted, or cancelled with `attendance: -1`).
    Gone(&'static str),
    /// Not news: already has a notification, or existed before monitoring began. No row.
    Known(&'static str),
    /// A new booking that must not be confirmed: a `skipped` row with this reason.
    Skip(&'static str),
    /// Confirm it to this phone.
    Notify(Phone),
}

/// What the database knows of a record, beside the record itself.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub now: DateTime<Utc>,
    /// When monitoring of the company began; `None` when sending (the record was
    /// already judged new).
    pub monitored_since: Option<DateTime<Utc>>,
    pub registered_by_bot: bool,
    pub already_notified: bool,
}

#[derive(Debug, Clone)]
pub struct Rules {
    skip_online: bool,
    bot_user_ids: HashSet<i64>,
    delay: Duration,
}

impl Rules {
    pub fn new(monitor: &MonitorConfig) -> Rules {
        Rules {
            skip_online: monitor.skip_online,
            bot_user_ids: monitor.bot_user_ids.iter().copied().collect(),
            delay: Duration::from_millis(monitor.notification_delay_ms),
        }
    }

    pub fn judge(&self, record: &Record, facts: Facts, salon_tz: Tz) -> Verdict {
        if record.deleted {
            return Verdict::Gone("deleted");
        }
        if record.attendance == -1 {
            return Verdict::Gone("cancelled");
        }
        if facts.already_notified {
            return Verdict::Known("already_notified");
        }
        if facts
            .monitored_since
            .is_some_and(|since| record.created_at < since)
        {
            return Verdict::Known("created_before_monitoring");
        }
        if facts.registered_by_bot || self.bot_user_ids.contains(&record.created_user_id) {
            return Verdict::Skip("bot_booking");
        }
        if self.skip_online && record.online {
            return Verdict::Skip("online_booking");
        }
        match record.visit {
            None => return Verdict::Skip("no_visit_time"),
            Some(visit) if visit.in_zone(salon_tz) <= facts.now => {
                return Verdict::Skip("past_visit")
            }
            Some(_) => {}
        }
        let phone = record
            .client
            .as_ref()
            .and_then(|c| c.phone.as_deref())
            .unwrap_or("");
        match Phone::parse(phone) {
            Ok(phone) => Verdict::Notify(phone),
            Err(e) => Verdict::Skip(e.reason()),
        }
    }

    /// When to send: the booking's creation plus the grace delay, clamped to
    /// [first seen, first seen + delay], so that a late poll neither fires it early
    /// nor holds it long. `yclients_ahead_by` (YClients' clock minus ours, from its
    /// `Date` header) turns `create_date` into our clock, so skew does not eat the
    /// administrator's grace delay either.
    pub fn due_at(
        &self,
        record: &Record,
        first_seen: DateTime<Utc>,
        yclients_ahead_by: chrono::Duration,
    ) -> DateTime<Utc> {
        let delay = chrono::Duration::from_std(self.delay).unwrap_or(chrono::Duration::MAX);
        // `create_date` has whole seconds: the booking was made at some instant within
        // that second, so count from its end never to send before the delay.
        let created = record.created_at - yclients_ahead_by + chrono::Duration::seconds(1);
        (created + delay).clamp(first_seen, first_seen + delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        let mut monitor: MonitorConfig = toml::from_str("").unwrap();
        monitor.bot_user_ids = vec![555];
        Rules::new(&monitor)
    }

    fn record(extra: serde_json::Value) -> Record {
        let mut base = json!({
            "id": 1, "create_date": "2026-11-25T10:00:00+0300",
            "datetime": "2026-12-01T14:00:00+03:00",
            "client": {"name": "Иван", "phone": "+7 916 123-45-67"},
            "online": false, "attendance": 0, "deleted": false, "created_user_id": 1
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        Record::from_json(base).unwrap()
    }

    fn facts() -> Facts {
        Facts {
            now: "2026-11-25T07:00:30Z".parse().unwrap(),
            monitored_since: Some("2026-11-25T06:00:00Z".parse().unwrap()),
            registered_by_bot: false,
            already_notified: false,
        }
    }

    fn judge(extra: serde_json::Value, facts: Facts) -> Verdict {
        rules().judge(&record(extra), facts, chrono_tz::Europe::Moscow)
    }

    #[test]
    fn an_admin_booking_is_confirmed_to_the_normalised_phone() {
        match judge(json!({}), facts()) {
            Verdict::Notify(phone) => assert_eq!(phone.digits(), "79161234567"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_rule_has_its_reason() {
        let f = facts();
        assert_eq!(judge(json!({"deleted": true}), f), Verdict::Gone("deleted"));
        assert_eq!(
            judge(json!({"attendance": -1}), f),
            Verdict::Gone("cancelled")
        );
        assert_eq!(
            judge(
                json!({}),
                Facts {
                    already_notified: true,
                    ..f
                }
            ),
            Verdict::Known("already_notified")
        );
        assert_eq!(
            judge(json!({"create_date": "2026-11-25T08:59:59+0300"}), f),
            Verdict::Known("created_before_monitoring")
        );
        assert_eq!(
            judge(
                json!({}),
                Facts {
                    registered_by_bot: true,
                    ..f
                }
            ),
            Verdict::Skip("bot_booking")
        );
        assert_eq!(
            judge(json!({"created_user_id": 555}), f),
            Verdict::Skip("bot_booking")
        );
        assert_eq!(
            judge(json!({"online": true}), f),
            Verdict::Skip("online_booking")
        );
        assert_eq!(
            judge(json!({"datetime": "2026-11-25T09:00:00+03:00"}), f),
            Verdict::Skip("past_visit")
        );
        assert_eq!(judge(json!({"client": null}), f), Verdict::Skip("no_phone"));
        assert_eq!(
            judge(json!({"client": {"name": "X", "phone": "12345"}}), f),
            Verdict::Skip("invalid_phone")
        );
    }

    #[test]
    fn a_booking_for_next_month_counts() {
        assert!(matches!(
            judge(json!({"datetime": "2027-01-05T10:00:00+03:00"}), facts()),
            Verdict::Notify(_)
        ));
    }

    #[test]
    fn due_at_is_clamped_to_the_first_sighting() {
        let rules = rules();
        let r = record(json!({}));
        let created = r.created_at;
        let delay = chrono::Duration::seconds(30);
        // Seen within the second it was stamped: the end of that second plus the delay.
        let seen = created + chrono::Duration::milliseconds(400);
        assert_eq!(
            rules.due_at(&r, seen, chrono::Duration::zero()),
            seen + delay
        );
        let seen = created + chrono::Duration::seconds(3);
        assert_eq!(
            rules.due_at(&r, seen, chrono::Duration::zero()),
            created + chrono::Duration::seconds(1) + delay
        );
        // YClients' clock far ahead: no later than first seen + delay.
        let early = created - chrono::Duration::minutes(5);
        assert_eq!(
            rules.due_at(&r, early, chrono::Duration::zero()),
            early + delay
        );
        // Seen long after the delay: at once, never in the past.
        let late = created + chrono::Duration::minutes(5);
        assert_eq!(rules.due_at(&r, late, chrono::Duration::zero()), late);
        // Unless YClients' clock is that far behind ours: then it was made just now.
        let behind = chrono::Duration::minutes(-5) + chrono::Duration::milliseconds(400);
        assert_eq!(rules.due_at(&r, late, behind), late + delay);
    }
}
