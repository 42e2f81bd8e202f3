//! What counts as news about a booking: the client's view of it (visit time, master,
//! services as a multiset, whether it is on), compared with what the client was
//! last told. Every "not a change" rule lives here and nowhere else.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::yclients::Record;

/// The parts of a booking whose change is news to its client. Confirmation
/// (attendance 0 → 2), arrival, comments, labels, prices, the order of services and
/// `last_change_date` are deliberately absent: none of them is news.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingState {
    pub visit_at: Option<DateTime<Utc>>,
    pub staff_id: Option<i64>,
    /// (service id, amount in thousandths), sorted: order-free, duplicates kept.
    pub services: Vec<(i64, i64)>,
    /// Deleted, or `attendance: -1`.
    pub cancelled: bool,
}

impl BookingState {
    pub fn of(record: &Record, tz: Tz) -> BookingState {
        let mut services: Vec<(i64, i64)> = record
            .services
            .iter()
            .map(|s| (s.id, (s.amount * 1000.0).round() as i64))
            .collect();
        services.sort_unstable();
        BookingState {
            visit_at: record.visit.map(|v| v.in_zone(tz).with_timezone(&Utc)),
            staff_id: record.staff_id,
            services,
            cancelled: record.is_gone(),
        }
    }
}

/// How the booking differs from what the client was told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub time: bool,
    pub staff: bool,
    pub services: bool,
    /// Cancelled when the client was told, on again now.
    pub restored: bool,
}

impl Changes {
    pub fn between(told: &BookingState, now: &BookingState) -> Changes {
        Changes {
            time: told.visit_at != now.visit_at,
            staff: told.staff_id != now.staff_id,
            services: told.services != now.services,
            restored: told.cancelled && !now.cancelled,
        }
    }

    pub fn any(&self) -> bool {
        self.time || self.staff || self.services || self.restored
    }

    /// The `{changes}` placeholder, in Russian: what is different now.
    pub fn describe(&self, told: &Record, now: &Record, tz: Tz) -> String {
        let mut parts = Vec::new();
        if self.restored {
            parts.push("запись восстановлена".to_string());
        }
        if self.time {
            parts.push(format!(
                "время: {} → {}",
                crate::text::visit_text(told, tz),
                crate::text::visit_text(now, tz)
            ));
        }
        if self.staff {
            parts.push(format!(
                "мастер: {}",
                now.staff_name.as_deref().unwrap_or("не назначен")
            ));
        }
        if self.services {
            parts.push(format!("услуги: {}", crate::text::services_text(now)));
        }
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(extra: serde_json::Value) -> Record {
        let mut base = json!({
            "id": 1, "create_date": "2026-11-25T10:00:00+0300",
            "datetime": "2026-12-01T14:00:00+03:00", "staff_id": 9,
            "services": [{"id": 1, "title": "Стрижка", "cost": 1500, "amount": 1},
                         {"id": 2, "title": "Укладка", "cost": 900, "amount": 1}],
            "client": {"name": "Иван", "phone": "79161234567"},
            "attendance": 0, "deleted": false, "comment": ""
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        Record::from_json(base).unwrap()
    }

    fn changes(told: serde_json::Value, now: serde_json::Value) -> Changes {
        let tz = chrono_tz::Europe::Moscow;
        Changes::between(
            &BookingState::of(&record(told), tz),
            &BookingState::of(&record(now), tz),
        )
    }

    #[test]
    fn none_of_these_is_news() {
        let reordered = json!({"services": [
            {"id": 2, "title": "Укладка", "cost": 900, "amount": 1},
            {"id": 1, "title": "Стрижка", "cost": 1500, "amount": 1}]});
        let repriced = json!({"services": [
            {"id": 1, "title": "Стрижка", "cost": 1700, "amount": 1},
            {"id": 2, "title": "Укладка", "cost": 900, "amount": 1}]});
        for now in [
            json!({"attendance": 2}),
            json!({"attendance": 1}),
            json!({"comment": "перезвонить"}),
            json!({"record_labels": [{"id": 1}]}),
            json!({"last_change_date": "2026-11-26T10:00:00+0300"}),
            json!({"datetime": "2026-12-01T11:00:00+00:00"}), // the same instant
            reordered,
            repriced,
        ] {
            assert!(!changes(json!({}), now.clone()).any(), "{now}");
        }
    }

    #[test]
    fn these_are() {
        assert!(changes(json!({}), json!({"datetime": "2026-12-01T15:00:00+03:00"})).time);
        assert!(changes(json!({}), json!({"staff_id": 10})).staff);
        let more = json!({"services": [
            {"id": 1, "title": "Стрижка", "cost": 1500, "amount": 2},
            {"id": 2, "title": "Укладка", "cost": 900, "amount": 1}]});
        assert!(changes(json!({}), more).services);
        // Confirmation together with a time change is a change.
        assert!(changes(
            json!({}),
            json!({"attendance": 2, "datetime": "2026-12-01T15:00:00+03:00"})
        )
        .any());
        assert!(changes(json!({"deleted": true}), json!({})).restored);
        assert!(!changes(json!({}), json!({"attendance": -1})).restored);
    }

    #[test]
    fn describes_old_and_new_time() {
        let tz = chrono_tz::Europe::Moscow;
        let told = record(json!({}));
        let now = record(json!({"datetime": "2026-12-02T15:30:00+03:00"}));
        let c = Changes::between(&BookingState::of(&told, tz), &BookingState::of(&now, tz));
        assert_eq!(
            c.describe(&told, &now, tz),
            "время: 1 декабря в 14:00 → 2 декабря в 15:30"
        );
    }
}
