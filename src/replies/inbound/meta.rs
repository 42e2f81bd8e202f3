//! Meta's Cloud API: `entry[].changes[].value.messages[]` on the signed webhook.
//! A `system` message (a changed number or identity) and a `revoke` (a deleted
//! message) are not a client's reply; an `edit` is a new message with its new
//! text, under its own id.

use serde_json::Value;

use super::{said, seconds, text, Content, Inbound, Incoming, NumberChange};
use crate::domain::Phone;

/// Every item of the client's side in a webhook body. A message from a number
/// that is not a phone, or a reaction taken back (an empty emoji), is left out.
pub fn cloud_api(body: &Value) -> Vec<Incoming> {
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
            out.extend(one(value, m, &sender));
        }
    }
    out
}

fn one(value: &Value, m: &Value, sender: &Option<String>) -> Option<Incoming> {
    let kind = text(m.get("type")).unwrap_or_default();
    if kind == "system" {
        return Some(system(m, sender));
    }
    if kind == "revoke" {
        return Some(Incoming::NotAReply("a deleted message (revoke)".into()));
    }
    let id = text(m.get("id"))?;
    let from = Phone::parse(&text(m.get("from"))?).ok()?;
    // An edit carries the message as it now is.
    let message = if kind == "edit" {
        m.pointer("/edit/message")?
    } else {
        m
    };
    let (content, quoted) = content(message)?;
    let name = value
        .get("contacts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| text(c.get("wa_id")).as_deref() == Some(from.digits()))
        .or_else(|| value.pointer("/contacts/0"))
        .and_then(|c| text(c.pointer("/profile/name")));
    Some(Incoming::Message(Inbound {
        provider: "cloud_api",
        id,
        from,
        name,
        sender: sender.clone(),
        content,
        quoted,
        at: seconds(m.get("timestamp")),
    }))
}

/// What a message carries, and the message of ours it quotes or reacts to;
/// `None` for a reaction taken back.
fn content(m: &Value) -> Option<(Content, Option<String>)> {
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
            let emoji = said(m.pointer("/reaction/emoji"))?;
            quoted = text(m.pointer("/reaction/message_id"));
            Content::Reaction(emoji)
        }
        other => Content::Media {
            caption: m.get(other).and_then(|media| said(media.get("caption"))),
            kind: other.to_string(),
        },
    };
    Some((content, quoted))
}

/// `user_changed_number` (older: `customer_changed_number`) names the old number
/// (`from`) and the new (`system.wa_id`, formerly `new_wa_id`); any other system
/// message is only said.
fn system(m: &Value, sender: &Option<String>) -> Incoming {
    let kind = text(m.pointer("/system/type")).unwrap_or_default();
    if !matches!(
        kind.as_str(),
        "user_changed_number" | "customer_changed_number"
    ) {
        return Incoming::NotAReply(format!("a system message ({kind})"));
    }
    let phone = |v: Option<&Value>| text(v).and_then(|p| Phone::parse(&p).ok());
    let new = phone(m.pointer("/system/wa_id")).or_else(|| phone(m.pointer("/system/new_wa_id")));
    match (phone(m.get("from")), new) {
        (Some(old), Some(new)) if old != new => Incoming::NumberChanged(NumberChange {
            old,
            new,
            sender: sender.clone(),
            at: seconds(m.get("timestamp")),
        }),
        _ => Incoming::NotAReply(format!("a system message ({kind}) without both numbers")),
    }
}
