//! Clients' messages as the three providers deliver them (docs/whatsapp-api.md):
//! Meta's Cloud API `messages[]`, Green API's `incomingMessageReceived` (and its
//! delivery statuses, `outgoingMessageStatus`), and a JSON gateway's `{id, from,
//! text, reply_to}`. Read into one shape; anything we cannot use is said, not
//! guessed.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::domain::{Delivery, Intent, NotificationId, Phone};
use crate::replies::{intent, payload};
use crate::store::{Lookup, NewReply};

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
    /// A voice message, a picture…: no text to read.
    Media(String),
}

/// One client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub provider: &'static str,
    /// Unique for the provider (Green API's ids are unique within a chat only,
    /// so the chat is part of it).
    pub id: String,
    pub from: Phone,
    pub name: Option<String>,
    /// Which of our senders got it.
    pub sender: Option<String>,
    pub content: Content,
    /// The message of ours it quotes or reacts to (the id our send returned).
    pub quoted: Option<String>,
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
            Content::Media(_) => (Intent::Other, None),
        }
    }

    pub fn message_type(&self) -> &'static str {
        match self.content {
            Content::Text(_) => "text",
            Content::Button { .. } => "button",
            Content::Reaction(_) => "reaction",
            Content::Media(_) => "media",
        }
    }

    /// What the staff read: the text, the button's title, the emoji; media named.
    pub fn body(&self) -> Option<String> {
        match &self.content {
            Content::Text(text) => Some(text.clone()),
            Content::Button { title, .. } => Some(title.clone()),
            Content::Reaction(emoji) => Some(emoji.clone()),
            Content::Media(_) => None,
        }
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

/// Cloud API: every client message in a webhook body (`entry[].changes[].value.messages[]`).
/// A message from a number that is not a phone, or a reaction taken back (an empty
/// emoji), is left out.
pub fn cloud_api(body: &Value) -> Vec<Inbound> {
    let mut out = Vec::new();
    let values = body
        .get("entry")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("value"));
    for value in values {
        let sender = text(value.pointer("/metadata/phone_number_id"));
        let messages = value.get("messages").and_then(Value::as_array);
        for m in messages.into_iter().flatten() {
            let (Some(id), Some(from)) = (text(m.get("id")), text(m.get("from"))) else {
                continue;
            };
            let Ok(from) = Phone::parse(&from) else {
                continue;
            };
            let name = value
                .get("contacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| text(c.get("wa_id")).as_deref() == Some(from.digits()))
                .or_else(|| value.pointer("/contacts/0"))
                .and_then(|c| text(c.pointer("/profile/name")));
            let kind = text(m.get("type")).unwrap_or_default();
            let mut quoted = text(m.pointer("/context/id"));
            let content = match kind.as_str() {
                "text" => Content::Text(text(m.pointer("/text/body")).unwrap_or_default()),
                "button" => Content::Button {
                    payload: text(m.pointer("/button/payload")),
                    title: text(m.pointer("/button/text")).unwrap_or_default(),
                },
                "interactive" => {
                    let reply = m
                        .pointer("/interactive/button_reply")
                        .or_else(|| m.pointer("/interactive/list_reply"));
                    Content::Button {
                        payload: reply.and_then(|r| text(r.get("id"))),
                        title: reply.and_then(|r| text(r.get("title"))).unwrap_or_default(),
                    }
                }
                "reaction" => {
                    let emoji = text(m.pointer("/reaction/emoji")).unwrap_or_default();
                    if emoji.is_empty() {
                        continue;
                    }
                    quoted = text(m.pointer("/reaction/message_id"));
                    Content::Reaction(emoji)
                }
                other => Content::Media(other.to_string()),
            };
            out.push(Inbound {
                provider: "cloud_api",
                id,
                from,
                name,
                sender: sender.clone(),
                content,
                quoted,
                at: seconds(m.get("timestamp")),
            });
        }
    }
    out
}

/// What a Green API notification is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GreenNotification {
    Message(Inbound),
    /// A delivery status of a message we sent.
    Status {
        id: String,
        delivery: Delivery,
        error: Option<String>,
    },
    /// Anything else (our own outgoing messages, a group chat, the instance's state).
    Ignored(String),
}

pub fn green_api(body: &Value) -> Result<GreenNotification, String> {
    let kind = text(body.get("typeWebhook")).ok_or("no typeWebhook")?;
    let sender = body
        .pointer("/instanceData/idInstance")
        .map(|v| v.to_string().trim_matches('"').to_string());
    match kind.as_str() {
        "outgoingMessageStatus" => {
            let id = text(body.get("idMessage")).ok_or("no idMessage")?;
            let status = text(body.get("status")).unwrap_or_default();
            let (delivery, error) = match status.as_str() {
                "sent" => (Delivery::Sent, None),
                "delivered" => (Delivery::Delivered, None),
                "read" => (Delivery::Read, None),
                "noAccount" => (
                    Delivery::Failed,
                    Some("noAccount: the number has no WhatsApp"),
                ),
                "failed" | "notInGroup" => (
                    Delivery::Failed,
                    Some("failed: Green API could not deliver it"),
                ),
                other => return Ok(GreenNotification::Ignored(format!("status {other}"))),
            };
            Ok(GreenNotification::Status {
                id,
                delivery,
                error: error.map(str::to_string),
            })
        }
        "incomingMessageReceived" => {
            let chat = text(body.pointer("/senderData/chatId")).ok_or("no senderData.chatId")?;
            let Some(number) = chat.strip_suffix("@c.us") else {
                return Ok(GreenNotification::Ignored("not a personal chat".into()));
            };
            let from = Phone::parse(number).map_err(|e| format!("senderData.chatId: {e}"))?;
            let id = text(body.get("idMessage")).ok_or("no idMessage")?;
            let data = body.get("messageData").ok_or("no messageData")?;
            let kind = text(data.get("typeMessage")).unwrap_or_default();
            let extended =
                || text(data.pointer("/extendedTextMessageData/text")).unwrap_or_default();
            let content = match kind.as_str() {
                "textMessage" => Content::Text(
                    text(data.pointer("/textMessageData/textMessage")).unwrap_or_default(),
                ),
                "extendedTextMessage" | "quotedMessage" => Content::Text(extended()),
                "reactionMessage" => Content::Reaction(extended()),
                "buttonsResponseMessage" | "templateButtonsReplyMessage" => Content::Button {
                    payload: text(data.pointer("/buttonsResponseMessage/selectedButtonId"))
                        .or_else(|| text(data.pointer("/templateButtonReplyMessage/selectedId"))),
                    title: text(data.pointer("/buttonsResponseMessage/selectedButtonText"))
                        .or_else(|| {
                            text(data.pointer("/templateButtonReplyMessage/selectedDisplayText"))
                        })
                        .unwrap_or_default(),
                },
                other => Content::Media(other.to_string()),
            };
            if matches!(&content, Content::Reaction(e) if e.is_empty()) {
                return Ok(GreenNotification::Ignored("a reaction taken back".into()));
            }
            Ok(GreenNotification::Message(Inbound {
                provider: "green_api",
                id: format!("{chat}/{id}"),
                from,
                name: text(body.pointer("/senderData/senderName")),
                sender,
                content,
                quoted: text(data.pointer("/quotedMessage/stanzaId")),
                at: seconds(body.get("timestamp")),
            }))
        }
        other => Ok(GreenNotification::Ignored(other.to_string())),
    }
}

/// The JSON gateway's `{"id", "from", "text", "reply_to"}`.
pub fn gateway(body: &Value) -> Result<Inbound, String> {
    let id = text(body.get("id")).ok_or("no id")?;
    let from = text(body.get("from")).ok_or("no from")?;
    let from = Phone::parse(&from).map_err(|e| format!("from: {e}"))?;
    let content = match text(body.get("text")) {
        Some(t) if !t.is_empty() => Content::Text(t),
        _ => Content::Media(text(body.get("type")).unwrap_or_else(|| "media".into())),
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

    fn meta(message: Value) -> Value {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "74950000000", "phone_number_id": "100200300"},
                "contacts": [{"profile": {"name": "Анна"}, "wa_id": "79161234567"}],
                "messages": [message]}}]}]})
    }

    #[test]
    fn reads_each_kind_of_cloud_api_message() {
        let text = cloud_api(&meta(json!({"from": "79161234567", "id": "wamid.1",
            "timestamp": "1764000000", "type": "text", "text": {"body": "Да!"}})));
        assert_eq!(text.len(), 1);
        assert_eq!(text[0].meaning(), (Intent::Confirm, None));
        assert_eq!(text[0].name.as_deref(), Some("Анна"));
        assert_eq!(text[0].sender.as_deref(), Some("100200300"));
        assert_eq!(text[0].at.timestamp(), 1_764_000_000);

        let button = cloud_api(&meta(
            json!({"from": "79161234567", "id": "wamid.2", "type": "button",
            "button": {"payload": "bm:17:cancel", "text": "Не смогу"}, "context": {"id": "wamid.OUT"}}),
        ));
        assert_eq!(
            button[0].meaning(),
            (Intent::Cancel, Some(NotificationId(17)))
        );
        assert_eq!(button[0].quoted.as_deref(), Some("wamid.OUT"));

        let interactive = cloud_api(&meta(
            json!({"from": "79161234567", "id": "wamid.3", "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "bm:9:confirm", "title": "Подтверждаю"}}}),
        ));
        assert_eq!(
            interactive[0].meaning(),
            (Intent::Confirm, Some(NotificationId(9)))
        );

        let reaction = cloud_api(&meta(
            json!({"from": "79161234567", "id": "wamid.4", "type": "reaction",
            "reaction": {"message_id": "wamid.OUT", "emoji": "👍"}}),
        ));
        assert_eq!(reaction[0].meaning(), (Intent::Confirm, None));
        assert_eq!(reaction[0].quoted.as_deref(), Some("wamid.OUT"));

        let voice = cloud_api(&meta(
            json!({"from": "79161234567", "id": "wamid.5", "type": "audio",
            "audio": {"id": "media.1"}}),
        ));
        assert_eq!(voice[0].meaning(), (Intent::Other, None));
        assert_eq!(voice[0].body(), None);

        let taken_back = cloud_api(&meta(
            json!({"from": "79161234567", "id": "wamid.6", "type": "reaction",
            "reaction": {"message_id": "wamid.OUT", "emoji": ""}}),
        ));
        assert!(taken_back.is_empty());
    }

    #[test]
    fn reads_green_api_messages_and_statuses() {
        let incoming = json!({"typeWebhook": "incomingMessageReceived",
            "instanceData": {"idInstance": 1101000001u64, "wid": "74950000000@c.us"},
            "timestamp": 1764000000, "idMessage": "F7AEC1B7086ECDC7E6E45923F5EDB825",
            "senderData": {"chatId": "79161234567@c.us", "sender": "79161234567@c.us", "senderName": "Анна"},
            "messageData": {"typeMessage": "extendedTextMessage",
                "extendedTextMessageData": {"text": "1"},
                "quotedMessage": {"stanzaId": "3EB0C767D097B7C7C030"}}});
        let GreenNotification::Message(m) = green_api(&incoming).unwrap() else {
            panic!("a message")
        };
        assert_eq!(m.meaning(), (Intent::Confirm, None));
        assert_eq!(m.id, "79161234567@c.us/F7AEC1B7086ECDC7E6E45923F5EDB825");
        assert_eq!(m.quoted.as_deref(), Some("3EB0C767D097B7C7C030"));
        assert_eq!(m.sender.as_deref(), Some("1101000001"));

        let status = json!({"typeWebhook": "outgoingMessageStatus", "idMessage": "3EB0", "status": "noAccount",
            "instanceData": {"idInstance": 1101000001u64}});
        assert_eq!(
            green_api(&status).unwrap(),
            GreenNotification::Status {
                id: "3EB0".into(),
                delivery: Delivery::Failed,
                error: Some("noAccount: the number has no WhatsApp".into())
            }
        );
        let group = json!({"typeWebhook": "incomingMessageReceived", "idMessage": "1",
            "senderData": {"chatId": "120363@g.us"}, "messageData": {"typeMessage": "textMessage"}});
        assert!(matches!(
            green_api(&group).unwrap(),
            GreenNotification::Ignored(_)
        ));
        assert!(green_api(&json!({})).is_err());
    }

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
}
