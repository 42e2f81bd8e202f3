//! A long sample booking: what an SMS text is measured against at load, so a text
//! that fits for it fits for (almost) every real booking.

use serde_json::json;

use crate::lifecycle::change::Changes;
use crate::text::{MessageFields, Salon};
use crate::yclients::Record;

/// 20 characters.
pub const CLIENT_NAME: &str = "Анастасия Васильевна";
/// 30 characters.
pub const COMPANY: &str = "Студия красоты «Белая орхидея»";
/// 60 characters.
pub const ADDRESS: &str = "г. Санкт-Петербург, Невский проспект, д. 114, стр. 2, оф. 35";

/// The visit: 27 September (the longest month in the genitive, `сентября`) is a
/// Sunday in 2026 (the longest weekday, `воскресенье`); moved from a Monday by
/// another master, so `{changes}` holds both a time and a master.
const VISIT: &str = "2026-09-27T23:45:00+03:00";
const TOLD_VISIT: &str = "2026-09-28T10:00:00+03:00";

fn record(datetime: &str, staff_id: i64, staff: &str) -> Record {
    Record::from_json(json!({
        "id": 1, "create_date": "2026-09-01T10:00:00+0300", "datetime": datetime,
        "staff_id": staff_id, "staff": {"name": staff},
        "services": [
            {"id": 1, "title": "Окрашивание волос в один тон", "cost": 9800, "amount": 1},
            {"id": 2, "title": "Стрижка женская", "cost": 2700, "amount": 1}
        ],
        "client": {"name": CLIENT_NAME, "phone": "79161234567"}
    }))
    .expect("the sample record reads")
}

/// The placeholders' values for the sample, with this salon's own name and address
/// where the config gives them (else the long ones above).
pub fn long_booking(company: Option<&str>, address: Option<&str>) -> MessageFields {
    let salon = Salon {
        title: company.unwrap_or(COMPANY).to_string(),
        address: address.unwrap_or(ADDRESS).to_string(),
        timezone: chrono_tz::Europe::Moscow,
    };
    let now = record(VISIT, 2, "Александра Константинова");
    let told = record(TOLD_VISIT, 1, "Оксана");
    let changes = Changes {
        time: true,
        staff: true,
        ..Changes::default()
    }
    .describe(&told, &now, salon.timezone);
    MessageFields::new(&now, &salon).with_change(&told, changes, &salon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_as_long_as_promised() {
        assert_eq!(CLIENT_NAME.chars().count(), 20);
        assert_eq!(COMPANY.chars().count(), 30);
        assert_eq!(ADDRESS.chars().count(), 60);
        let f = long_booking(None, None);
        assert_eq!(f.get("date"), "27 сентября");
        assert_eq!(f.get("weekday"), "воскресенье");
        assert_eq!(f.get("time"), "23:45");
        assert_eq!(f.get("old_date"), "28 сентября");
        assert_eq!(f.get("price"), "12500");
        assert_eq!(
            f.get("changes"),
            "время: 28 сентября в 10:00 → 27 сентября в 23:45; мастер: Александра Константинова"
        );
        let own = long_booking(Some("Борода"), None);
        assert_eq!(
            (own.get("company"), own.get("address")),
            ("Борода", ADDRESS)
        );
    }
}
