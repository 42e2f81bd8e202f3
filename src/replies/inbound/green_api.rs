//! Green API's notifications: a client's `incomingMessageReceived`, and the
//! `outgoingMessageStatus` of a message we sent. Our own outgoing messages
//! (`outgoingMessageReceived`, `outgoingAPIMessageReceived`), group chats and a
//! deleted message are not a client's reply; an edit (`editedMessage`) is a new
//! message with its new text, under its own id.

use serde_json::Value;

use super::{said, seconds, text, Content, Inbound};
use crate::domain::{Delivery, Phone};

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
    /// `yellowCard`: WhatsApp suspended this account's sending for spam (what is
    /// sent meanwhile waits in Green API's queue for 24 hours).
    SendingSuspended {
        id: String,
        description: Option<String>,
    },
    /// Anything else (our own outgoing messages, a group chat, a deleted message,
    /// the instance's state).
    Ignored(String),
}

pub fn green_api(body: &Value) -> Result<GreenNotification, String> {
    let kind = text(body.get("typeWebhook")).ok_or("no typeWebhook")?;
    match kind.as_str() {
        "outgoingMessageStatus" => status(body),
        "incomingMessageReceived" => incoming(body),
        other => Ok(GreenNotification::Ignored(other.to_string())),
    }
}

fn status(body: &Value) -> Result<GreenNotification, String> {
    let id = text(body.get("idMessage")).ok_or("no idMessage")?;
    let status = text(body.get("status")).unwrap_or_default();
    // Green API's own words for a failure (`SWE…`): what the operator needs.
    let description = said(body.get("description"));
    let failed = |ours: &str, otherwise: &str| {
        Some(format!(
            "{ours}: {}",
            description.as_deref().unwrap_or(otherwise)
        ))
    };
    let (delivery, error) = match status.as_str() {
        "sent" => (Delivery::Sent, None),
        "delivered" => (Delivery::Delivered, None),
        "read" => (Delivery::Read, None),
        "noAccount" => (
            Delivery::Failed,
            failed(&status, "the number has no WhatsApp"),
        ),
        "failed" | "notInGroup" => (
            Delivery::Failed,
            failed(&status, "Green API could not deliver it"),
        ),
        "yellowCard" => return Ok(GreenNotification::SendingSuspended { id, description }),
        other => return Ok(GreenNotification::Ignored(format!("status {other}"))),
    };
    Ok(GreenNotification::Status {
        id,
        delivery,
        error,
    })
}

fn incoming(body: &Value) -> Result<GreenNotification, String> {
    let chat = text(body.pointer("/senderData/chatId")).ok_or("no senderData.chatId")?;
    let Some(number) = chat.strip_suffix("@c.us") else {
        return Ok(GreenNotification::Ignored("not a personal chat".into()));
    };
    let from = Phone::parse(number).map_err(|e| format!("senderData.chatId: {e}"))?;
    let id = text(body.get("idMessage")).ok_or("no idMessage")?;
    let data = body.get("messageData").ok_or("no messageData")?;
    let kind = text(data.get("typeMessage")).unwrap_or_default();
    let field = |path: &str| text(data.pointer(path));
    // A quote's id: `quotedMessage.stanzaId`, or (the older shape of Green API's
    // own docs) `extendedTextMessageData.stanzaId`.
    let mut quoted =
        field("/quotedMessage/stanzaId").or_else(|| field("/extendedTextMessageData/stanzaId"));
    let extended = || field("/extendedTextMessageData/text").unwrap_or_default();
    let content = match kind.as_str() {
        "textMessage" => written(field("/textMessageData/textMessage").unwrap_or_default()),
        "extendedTextMessage" | "quotedMessage" => written(extended()),
        "reactionMessage" => match said(data.pointer("/extendedTextMessageData/text")) {
            Some(emoji) => Content::Reaction(emoji),
            None => return Ok(GreenNotification::Ignored("a reaction taken back".into())),
        },
        // A tap on a button of ours names the message the buttons came with.
        "buttonsResponseMessage" => {
            quoted = field("/buttonsResponseMessage/stanzaId").or(quoted);
            Content::Button {
                payload: field("/buttonsResponseMessage/selectedButtonId"),
                title: field("/buttonsResponseMessage/selectedButtonText").unwrap_or_default(),
            }
        }
        // Both spellings are in Green API's docs; the data is under the singular.
        "templateButtonsReplyMessage" | "templateButtonReplyMessage" => {
            quoted = field("/templateButtonReplyMessage/stanzaId").or(quoted);
            Content::Button {
                payload: field("/templateButtonReplyMessage/selectedId"),
                title: field("/templateButtonReplyMessage/selectedDisplayText").unwrap_or_default(),
            }
        }
        // `stanzaId` is the client's own message that was edited, not ours.
        "editedMessage" => {
            quoted = None;
            written(field("/editedMessageData/textMessage").unwrap_or_default())
        }
        "deletedMessage" => return Ok(GreenNotification::Ignored("a deleted message".into())),
        other => Content::Media {
            kind: other.to_string(),
            caption: said(data.pointer("/fileMessageData/caption")),
        },
    };
    Ok(GreenNotification::Message(Inbound {
        provider: "green_api",
        id: format!("{chat}/{id}"),
        from,
        name: text(body.pointer("/senderData/senderName")),
        sender: body
            .pointer("/instanceData/idInstance")
            .map(|v| v.to_string().trim_matches('"').to_string()),
        content,
        quoted,
        at: seconds(body.get("timestamp")),
    }))
}

/// A text, unless it is Green API's placeholder for a message it could not read
/// (`{{SWE001}}`: not decrypted; the `SWE…` codes are never a client's words).
fn written(text: String) -> Content {
    let code = text.trim();
    let placeholder = code.starts_with("{{SWE") && code.ends_with("}}");
    if placeholder {
        Content::Unreadable
    } else {
        Content::Text(text)
    }
}
