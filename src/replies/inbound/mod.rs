//! Clients' messages as the three providers deliver them (docs/whatsapp-api.md):
//! Meta's Cloud API `messages[]` (`meta.rs`), Green API's notifications and
//! delivery statuses (`green_api.rs`), and a JSON gateway's `{id, from, text,
//! reply_to}`. Read into one shape; what is not a client's reply (a deleted
//! message, our own outgoing ones, a group, a changed number) is said so, never
//! taken for one, and anything we cannot use is said, not guessed.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::domain::{Intent, NotificationId, Phone};
use crate::replies::{intent, payload};
use crate::store::{Lookup, NewReply};

#[cfg(test)]
mod fixtures;
mod green_api;
mod meta;

pub use green_api::{green_api, GreenNotification};
pub use meta::cloud_api;

/// What a message carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    /// A quick-reply or interactive button: our payload, and the title the client saw.
    Button {
        payload: Option<String>,
        title: String,
    },
    Reaction(String),
    /// A voice message, a picture…: its kind as the provider names it (`image`,
    /// `imageMessage`), and the caption the client wrote under it.
    Media {
        kind: String,
        caption: Option<String>,
    },
    /// The provider could not decrypt it (Green API's `{{SWE001}}`): the client
    /// wrote, but nobody can read what.
    Unreadable,
}

/// One client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub provider: &'static str,
    /// Unique for the provider (Green API's ids are unique within a chat only,
    /// so the chat is part of it). An edit has its own.
    pub id: String,
    pub from: Phone,
    /// The client's WhatsApp profile name.
    pub name: Option<String>,
    /// Which of our senders got it.
    pub sender: Option<String>,
    pub content: Content,
    /// The message of ours it quotes or reacts to (the id our send returned).
    pub quoted: Option<String>,
    pub at: DateTime<Utc>,
}

/// What one item of a provider's webhook is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A client's message: a reply.
    Message(Inbound),
    /// The client's WhatsApp number changed (Meta's `system` message): the
    /// staff's page notes it; not a reply.
    NumberChanged(NumberChange),
    /// Not a client's reply (a deleted message, a changed identity…): what it is,
    /// in words fit for a log (no phone, no text).
    NotAReply(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberChange {
    pub old: Phone,
    pub new: Phone,
    /// Which of our senders was told.
    pub sender: Option<String>,
    pub at: DateTime<Utc>,
}

impl Inbound {
    /// What it means and, for our own button, the notice it names.
    pub fn meaning(&self) -> (Intent, Option<NotificationId>) {
        match &self.content {
            Content::Button {
                payload: Some(p),
                title,
            } => match payload::parse(p) {
                Some((id, intent)) => (intent, Some(id)),
                None => (intent::of_text(Some(title)), None),
            },
            Content::Button { title, .. } => (intent::of_text(Some(title)), None),
            Content::Text(text) => (intent::of_text(Some(text)), None),
            Content::Reaction(emoji) => (intent::of_reaction(emoji), None),
            Content::Media { .. } | Content::Unreadable => (Intent::Other, None),
        }
    }

    pub fn message_type(&self) -> &'static str {
        match self.content {
            Content::Text(_) => "text",
            Content::Button { .. } => "button",
            Content::Reaction(_) => "reaction",
            Content::Media { .. } => "media",
            Content::Unreadable => "unreadable",
        }
    }

    /// What the staff read: the text, the button's title, the emoji; a picture's
    /// caption after its kind («фото: …»); nothing for media without one.
    pub fn body(&self) -> Option<String> {
        match &self.content {
            Content::Text(text) => Some(text.clone()),
            Content::Button { title, .. } => Some(title.clone()),
            Content::Reaction(emoji) => Some(emoji.clone()),
            Content::Media {
                kind,
                caption: Some(caption),
            } => Some(format!("{}: {caption}", media_label(kind))),
            Content::Media { caption: None, .. } | Content::Unreadable => None,
        }
    }

    /// Whether the client may get an automatic answer: not to a message nobody
    /// could read (they would be told we passed on words we never saw).
    pub fn may_be_answered(&self) -> bool {
        self.content != Content::Unreadable
    }

    pub fn to_reply(&self) -> NewReply {
        NewReply {
            provider: self.provider,
            provider_message_id: self.id.clone(),
            phone: self.from.digits().to_string(),
            client_name: self.name.clone(),
            body: self.body(),
            message_type: self.message_type(),
            sender: self.sender.clone(),
            received_at: self.at,
        }
    }

    /// Where to look for the notice it answers.
    pub fn lookup(&self, now: DateTime<Utc>, window: chrono::Duration) -> Lookup {
        Lookup {
            notice: self.meaning().1,
            quoted: self.quoted.clone(),
            since: now - window,
            forwarded_since: now - chrono::Duration::hours(24),
            scope: Vec::new(),
        }
    }
}

/// What the staff call a message without text, in Russian, whichever provider's
/// name for it came.
pub fn media_label(kind: &str) -> &'static str {
    match kind {
        "audio" | "voice" | "audioMessage" => "голосовое сообщение",
        "image" | "imageMessage" => "фото",
        "video" | "videoMessage" => "видео",
        "sticker" | "stickerMessage" => "стикер",
        "document" | "documentMessage" => "документ",
        "location" | "locationMessage" => "геопозиция",
        "contacts" | "contactMessage" | "contactsArrayMessage" => "контакт",
        "order" => "заказ",
        "pollMessage" | "pollUpdateMessage" => "опрос",
        "listResponseMessage" => "выбор из списка",
        "groupInviteMessage" => "приглашение в группу",
        "unsupported" => "сообщение неподдерживаемого вида",
        _ => "сообщение без текста",
    }
}

/// The JSON gateway's `{"id", "from", "text", "reply_to"}`.
pub fn gateway(body: &Value) -> Result<Inbound, String> {
    let id = text(body.get("id")).ok_or("no id")?;
    let from = text(body.get("from")).ok_or("no from")?;
    let from = Phone::parse(&from).map_err(|e| format!("from: {e}"))?;
    let content = match text(body.get("text")) {
        Some(t) if !t.is_empty() => Content::Text(t),
        _ => Content::Media {
            kind: text(body.get("type")).unwrap_or_else(|| "media".into()),
            caption: None,
        },
    };
    Ok(Inbound {
        provider: "gateway",
        id,
        from,
        name: text(body.get("name")),
        sender: None,
        content,
        quoted: text(body.get("reply_to")).filter(|r| !r.is_empty()),
        at: Utc::now(),
    })
}

/// A string, or a number as text (ids and timestamps come both ways).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string that says something: an empty caption is no caption.
fn said(value: Option<&Value>) -> Option<String> {
    text(value).filter(|s| !s.trim().is_empty())
}

/// Unix seconds (a number or a string); now when missing or absurd.
fn seconds(value: Option<&Value>) -> DateTime<Utc> {
    text(value)
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| Utc.timestamp_opt(s, 0).single())
        .unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_gateways_message_and_says_what_is_missing() {
        let m = gateway(&json!({"id": "g1", "from": "+7 916 123-45-67", "text": "не смогу", "reply_to": "out-1"}))
            .unwrap();
        assert_eq!(m.from.digits(), "79161234567");
        assert_eq!(m.meaning(), (Intent::Cancel, None));
        assert_eq!(m.quoted.as_deref(), Some("out-1"));
        assert_eq!(
            gateway(&json!({"from": "79161234567"})).unwrap_err(),
            "no id"
        );
        assert!(gateway(&json!({"id": "x", "from": "abc"}))
            .unwrap_err()
            .starts_with("from:"));
    }

    #[test]
    fn every_label_the_staff_see_is_russian() {
        for kind in [
            "audio",
            "image",
            "video",
            "sticker",
            "document",
            "location",
            "contacts",
            "order",
            "unsupported",
            "request_welcome",
            "imageMessage",
            "contactMessage",
            "pollMessage",
            "somethingNew",
        ] {
            let label = media_label(kind);
            let russian = label.chars().any(|c| ('а'..='я').contains(&c));
            let english = label.chars().any(|c| c.is_ascii_alphabetic());
            assert!(russian && !english, "{kind}: {label}");
        }
    }
}
