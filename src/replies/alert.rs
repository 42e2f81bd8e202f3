//! What the salon's staff are told, in Russian: who (name and full phone, since
//! they must call back), which visit, and what the client wrote. These texts go to
//! the staff's Telegram chat and page, never to a log.

use super::inbound::{Content, Inbound};
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
    let name = inbound
        .name
        .clone()
        .or_else(|| {
            visits
                .iter()
                .find_map(|r| r.client.as_ref().map(|c| c.name.clone()))
        })
        .unwrap_or_else(|| "без имени".into());
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
        Content::Media(kind) => format!("(без текста: {})", media_label(kind)),
        _ => format!("«{}»", inbound.body().unwrap_or_default()),
    };
    text.push_str(&format!("Сообщение: {said}"));
    text
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

fn client_name(record: &Record) -> String {
    record
        .client
        .as_ref()
        .map(|c| c.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "без имени".into())
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

fn media_label(kind: &str) -> &str {
    match kind {
        "audio" | "voice" | "audioMessage" => "голосовое сообщение",
        "image" | "imageMessage" => "фото",
        "video" | "videoMessage" => "видео",
        "sticker" | "stickerMessage" => "стикер",
        "document" | "documentMessage" => "документ",
        "location" | "locationMessage" => "геопозиция",
        other => other,
    }
}
