//! What the salon's staff are told, in Russian: who (name and full phone, since
//! they must call back), which visit, and what the client wrote. These texts go to
//! the staff's Telegram chat and page, never to a log.

use super::inbound::{media_label, Content, Inbound};
use crate::text::{services_text, visit_text, Salon};
use crate::yclients::Record;

/// Why the staff hear of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    CancelRequest,
    /// Anything that is neither a confirmation nor a cancellation.
    Question,
    /// Plain text from a client with two or more bookings ahead.
    Ambiguous,
    /// A confirmation of a visit that began, or of a booking that is gone.
    LateConfirmation,
    /// A message that answers none of our notices.
    Stranger,
}

impl Alert {
    pub fn headline(self) -> &'static str {
        match self {
            Alert::CancelRequest => "клиент просит отменить или перенести запись",
            Alert::Question => "клиент ответил на уведомление, нужен ответ администратора",
            Alert::Ambiguous => {
                "клиент ответил, но у него несколько записей: уточните, о какой речь"
            }
            Alert::LateConfirmation => {
                "клиент подтвердил запись, но визит уже начался или запись удалена"
            }
            Alert::Stranger => "сообщение от клиента без недавних уведомлений",
        }
    }
}

pub fn reply_text(why: Alert, salon: &Salon, inbound: &Inbound, visits: &[&Record]) -> String {
    let booked = visits.iter().find_map(|r| booked_name(r));
    let name = client_name_beside(booked.as_deref(), inbound.name.as_deref());
    let mut text = format!(
        "{}: {}.\nКлиент: {name}, +{}\n",
        salon.title,
        why.headline(),
        inbound.from.digits()
    );
    for record in visits {
        text.push_str(&format!("Визит: {}\n", visit_line(record, salon)));
    }
    let said = match &inbound.content {
        Content::Media {
            kind,
            caption: Some(caption),
        } => format!("{}: «{caption}»", media_label(kind)),
        Content::Media {
            kind,
            caption: None,
        } => format!("(без текста: {})", media_label(kind)),
        Content::Unreadable => "(пришло сообщение, которое WhatsApp не смог расшифровать: \
             его текста не видит никто, клиенту ничего не ответили)"
            .into(),
        _ => format!("«{}»", inbound.body().unwrap_or_default()),
    };
    text.push_str(&format!("Сообщение: {said}"));
    text
}

/// The client as the booking names them (the staff look the booking up by it),
/// with the WhatsApp profile name beside it where that differs: a mother books
/// for her son, or the phone's profile says «Алевтина» on Борис's phone.
fn client_name_beside(booked: Option<&str>, profile: Option<&str>) -> String {
    let profile = profile.map(str::trim).filter(|p| !p.is_empty());
    match (booked, profile) {
        (Some(booked), Some(profile)) if !same_name(booked, profile) => {
            format!("{booked} (в WhatsApp: {profile})")
        }
        (Some(booked), _) => booked.to_string(),
        (None, Some(profile)) => format!("{profile} (имя в WhatsApp)"),
        (None, None) => "без имени".into(),
    }
}

fn same_name(a: &str, b: &str) -> bool {
    let normal = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
            .replace('ё', "е")
    };
    normal(a) == normal(b)
}

/// The visit could not be marked confirmed in YClients.
pub fn write_failed_text(salon: &Salon, phone: &str, record: &Record, error: &str) -> String {
    format!(
        "{}: клиент подтвердил запись, но отметить визит подтверждённым в YClients не удалось.\n\
         Клиент: {}, +{phone}\nВизит: {}\nОшибка YClients: {error}",
        salon.title,
        client_name(record),
        visit_line(record, salon)
    )
}

/// A message to the client could not be delivered.
pub fn undelivered_text(salon: &Salon, phone: &str, record: &Record, error: &str) -> String {
    format!(
        "{}: клиенту не доставлено сообщение о записи.\nКлиент: {}, +{phone}\nВизит: {}\n\
         Причина: {error}",
        salon.title,
        client_name(record),
        visit_line(record, salon)
    )
}

/// WhatsApp suspended a sender's messages for spam (Green API's `yellowCard`).
pub fn sending_suspended_text(salon: &Salon, description: Option<&str>) -> String {
    let mut text = format!(
        "{}: WhatsApp приостановил отправку сообщений с номера салона (Green API: yellowCard, \
         подозрение на спам). Сообщения клиентам ждут в очереди Green API до 24 часов; чтобы \
         отправка продолжилась, перезагрузите инстанс в личном кабинете Green API.",
        salon.title
    );
    if let Some(description) = description {
        text.push_str(&format!("\nПояснение Green API: {description}"));
    }
    text
}

fn client_name(record: &Record) -> String {
    booked_name(record).unwrap_or_else(|| "без имени".into())
}

/// The client's name as YClients has it.
fn booked_name(record: &Record) -> Option<String> {
    record
        .client
        .as_ref()
        .map(|c| c.name.trim().to_string())
        .filter(|n| !n.is_empty())
}

fn visit_line(record: &Record, salon: &Salon) -> String {
    let mut line = visit_text(record, salon.timezone);
    let services = services_text(record);
    if !services.is_empty() {
        line.push_str(&format!(", {services}"));
    }
    if let Some(staff) = record.staff_name.as_deref().filter(|s| !s.is_empty()) {
        line.push_str(&format!(", мастер {staff}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Phone;
    use serde_json::json;

    fn salon() -> Salon {
        Salon {
            title: "Барбершоп".into(),
            address: "ул. Ленина, 1".into(),
            timezone: chrono_tz::Europe::Moscow,
        }
    }

    fn booked_for(name: &str) -> Record {
        Record::from_json(json!({
            "id": 7, "create_date": "2026-11-20T10:00:00+0300",
            "datetime": "2026-11-25T14:00:00+03:00",
            "client": {"name": name, "phone": 79161234567i64}
        }))
        .unwrap()
    }

    fn from_profile(profile: Option<&str>) -> Inbound {
        Inbound {
            provider: "cloud_api",
            id: "wamid.1".into(),
            from: Phone::parse("79161234567").unwrap(),
            name: profile.map(str::to_string),
            sender: None,
            content: Content::Text("можно позже?".into()),
            quoted: None,
            at: chrono::Utc::now(),
        }
    }

    fn client_line(booking: Option<&str>, profile: Option<&str>) -> String {
        let record = booking.map(booked_for);
        let visits: Vec<&Record> = record.iter().collect();
        let text = reply_text(Alert::Question, &salon(), &from_profile(profile), &visits);
        text.lines()
            .find(|l| l.starts_with("Клиент:"))
            .unwrap()
            .to_string()
    }

    #[test]
    fn the_staff_hear_the_bookings_name_with_the_profile_name_beside_it_where_it_differs() {
        assert_eq!(
            client_line(Some("Борис"), Some("Алевтина")),
            "Клиент: Борис (в WhatsApp: Алевтина), +79161234567"
        );
        assert_eq!(
            client_line(Some("Борис"), Some(" борис ")),
            "Клиент: Борис, +79161234567"
        );
        assert_eq!(
            client_line(Some("Борис"), None),
            "Клиент: Борис, +79161234567"
        );
        assert_eq!(
            client_line(None, Some("Алевтина")),
            "Клиент: Алевтина (имя в WhatsApp), +79161234567"
        );
        assert_eq!(client_line(None, None), "Клиент: без имени, +79161234567");
    }
}
