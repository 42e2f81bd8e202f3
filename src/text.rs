//! The notification's text: the placeholders' values for one booking, as it stands
//! at send time, in the salon's own time zone, in Russian.

use chrono::{Datelike, Timelike};
use chrono_tz::Tz;

use crate::template::Fields;
use crate::yclients::Record;

const MONTHS_GENITIVE: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];
const WEEKDAYS: [&str; 7] = [
    "понедельник",
    "вторник",
    "среда",
    "четверг",
    "пятница",
    "суббота",
    "воскресенье",
];

/// `11` → `ноября`.
pub fn month_genitive(month: u32) -> &'static str {
    MONTHS_GENITIVE[(month.clamp(1, 12) - 1) as usize]
}

/// What the salon is called and where it is, after the config's overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct Salon {
    pub title: String,
    pub address: String,
    pub timezone: Tz,
}

/// The placeholders' values for one booking.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageFields(Vec<(&'static str, String)>);

impl MessageFields {
    pub fn new(record: &Record, salon: &Salon) -> MessageFields {
        let visit = record.visit.map(|v| v.in_zone(salon.timezone));
        let values = [
            (
                "client_name",
                record
                    .client
                    .as_ref()
                    .map(|c| c.name.clone())
                    .unwrap_or_default(),
            ),
            ("company", salon.title.clone()),
            (
                "date",
                visit
                    .map(|v| format!("{} {}", v.day(), month_genitive(v.month())))
                    .unwrap_or_default(),
            ),
            (
                "time",
                visit
                    .map(|v| format!("{:02}:{:02}", v.hour(), v.minute()))
                    .unwrap_or_default(),
            ),
            (
                "weekday",
                visit
                    .map(|v| WEEKDAYS[v.weekday().num_days_from_monday() as usize].to_string())
                    .unwrap_or_default(),
            ),
            ("services", services_text(record)),
            ("staff", record.staff_name.clone().unwrap_or_default()),
            ("price", format_price(record.total_price())),
            ("address", salon.address.clone()),
        ];
        MessageFields(values.into_iter().collect())
    }

    /// No booking to fill the placeholders from (an answer about several): each is empty.
    pub fn empty() -> MessageFields {
        MessageFields(Vec::new())
    }

    /// Adds what the client was told before: `{old_date}`, `{old_time}`, `{changes}`.
    pub fn with_change(mut self, told: &Record, changes: String, salon: &Salon) -> MessageFields {
        let old = MessageFields::new(told, salon);
        let (date, time) = (old.get("date").to_string(), old.get("time").to_string());
        self.0.push(("old_date", date));
        self.0.push(("old_time", time));
        self.0.push(("changes", changes));
        self
    }

    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

impl Fields for MessageFields {
    fn get(&self, name: &str) -> &str {
        MessageFields::get(self, name)
    }
}

/// `1 декабря в 14:00`: a visit in the salon's wall clock.
pub fn visit_text(record: &Record, tz: Tz) -> String {
    match record.visit.map(|v| v.in_zone(tz)) {
        Some(v) => format!(
            "{} {} в {:02}:{:02}",
            v.day(),
            month_genitive(v.month()),
            v.hour(),
            v.minute()
        ),
        None => "время не указано".into(),
    }
}

/// Service titles, alphabetically: YClients does not keep their order stable.
pub fn services_text(record: &Record) -> String {
    let services: Vec<&str> = record
        .services_sorted()
        .into_iter()
        .map(|s| s.title.as_str())
        .collect();
    services.join(", ")
}

fn format_price(price: f64) -> String {
    if price.fract() == 0.0 {
        format!("{price:.0}")
    } else {
        format!("{price:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::*;
    use serde_json::json;

    fn record(datetime: &str) -> Record {
        Record::from_json(json!({
            "id": 7, "create_date": "2026-11-20T10:00:00+0300", "datetime": datetime,
            "services": [{"title": "Укладка", "cost": 900}, {"title": "Стрижка", "cost": 1500, "amount": 1}],
            "staff": {"name": "Оксана"},
            "client": {"name": "Иван", "phone": 79161234567i64}
        }))
        .unwrap()
    }

    fn salon(tz: &str) -> Salon {
        Salon {
            title: "Барбершоп".into(),
            address: "ул. Ленина, 1".into(),
            timezone: tz.parse().unwrap(),
        }
    }

    #[test]
    fn renders_in_russian_in_the_salons_zone() {
        let fields = MessageFields::new(
            &record("2026-11-25T14:00:00+03:00"),
            &salon("Europe/Moscow"),
        );
        let text = Template::parse(
            "{client_name}, {date} ({weekday}) в {time}: {services}, {price} ₽, {staff}",
        )
        .unwrap()
        .render(&fields);
        assert_eq!(
            text,
            "Иван, 25 ноября (среда) в 14:00: Стрижка, Укладка, 2400 ₽, Оксана"
        );
    }

    #[test]
    fn shows_the_salons_local_time_whatever_the_offset_given() {
        let fields = MessageFields::new(
            &record("2026-11-25T04:00:00+00:00"),
            &salon("Asia/Vladivostok"),
        );
        assert_eq!(fields.get("time"), "14:00");
        assert_eq!(fields.get("date"), "25 ноября");
    }

    #[test]
    fn the_default_text_uses_only_known_placeholders() {
        let text = Template::parse(DEFAULT_BOOKING_CREATED)
            .unwrap()
            .render(&MessageFields::new(
                &record("2026-01-01T09:05:00+03:00"),
                &salon("Europe/Moscow"),
            ));
        assert!(text.contains("1 января (четверг) в 09:05"), "{text}");
        assert!(!text.contains('{'));
    }

    #[test]
    fn every_default_text_parses_and_fills_in() {
        for text in [
            DEFAULT_BOOKING_CHANGED,
            DEFAULT_BOOKING_CANCELLED,
            DEFAULT_REMINDER_DAY_BEFORE,
            DEFAULT_REMINDER_HOURS_BEFORE,
        ] {
            let salon = salon("Europe/Moscow");
            let fields = MessageFields::new(&record("2026-01-01T09:05:00+03:00"), &salon)
                .with_change(&record("2026-01-02T10:00:00+03:00"), "x".into(), &salon);
            let out = Template::parse(text).unwrap().render(&fields);
            assert!(!out.contains('{'), "{out}");
            assert!(out.contains("09:05"), "{out}");
        }
    }
}
