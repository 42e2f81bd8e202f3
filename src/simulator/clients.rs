//! The clients' side of WhatsApp: their replies as each provider delivers them to
//! the daemon (Meta's signed `messages[]`, Green API's `incomingMessageReceived`
//! and delivery statuses, a gateway's JSON), for the tests, the benches and `demo`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh inbound message id.
pub fn inbound_id() -> String {
    format!("wamid.IN{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// What a client sends, in the shape Meta's Cloud API delivers it.
#[derive(Debug, Clone)]
pub enum ClientMessage {
    Text(String),
    /// A template's quick-reply button: its payload and title.
    Button {
        payload: String,
        title: String,
    },
    /// An interactive message's reply button.
    Interactive {
        id: String,
        title: String,
    },
    Reaction {
        to: String,
        emoji: String,
    },
    /// A voice message, a picture…
    Media(&'static str),
}

/// Meta's webhook body carrying one client message to our number.
pub fn meta_message(
    phone_number_id: &str,
    from: &str,
    name: &str,
    id: &str,
    message: &ClientMessage,
    quoting: Option<&str>,
) -> Value {
    let mut m =
        json!({"from": from, "id": id, "timestamp": chrono::Utc::now().timestamp().to_string()});
    match message {
        ClientMessage::Text(body) => {
            m["type"] = json!("text");
            m["text"] = json!({"body": body});
        }
        ClientMessage::Button { payload, title } => {
            m["type"] = json!("button");
            m["button"] = json!({"payload": payload, "text": title});
        }
        ClientMessage::Interactive { id, title } => {
            m["type"] = json!("interactive");
            m["interactive"] =
                json!({"type": "button_reply", "button_reply": {"id": id, "title": title}});
        }
        ClientMessage::Reaction { to, emoji } => {
            m["type"] = json!("reaction");
            m["reaction"] = json!({"message_id": to, "emoji": emoji});
        }
        ClientMessage::Media(kind) => {
            m["type"] = json!(kind);
            m[*kind] = json!({"id": "media.1", "mime_type": "audio/ogg; codecs=opus"});
        }
    }
    if let Some(ours) = quoting {
        m["context"] = json!({"from": "74950000000", "id": ours});
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "74950000000", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": from}],
            "messages": [m]}}]}]})
}

/// Green API's notification of a client's text (quoting one of ours, optionally).
pub fn green_message(
    instance: &str,
    from: &str,
    name: &str,
    id: &str,
    text: &str,
    quoting: Option<&str>,
) -> Value {
    let message_data = match quoting {
        None => json!({"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}),
        Some(ours) => json!({"typeMessage": "quotedMessage",
            "extendedTextMessageData": {"text": text, "stanzaId": ours},
            "quotedMessage": {"stanzaId": ours, "typeMessage": "textMessage"}}),
    };
    json!({"typeWebhook": "incomingMessageReceived",
        "instanceData": {"idInstance": instance.parse::<u64>().unwrap_or(0), "wid": "74950000000@c.us", "typeInstance": "whatsapp"},
        "timestamp": chrono::Utc::now().timestamp(), "idMessage": id,
        "senderData": {"chatId": format!("{from}@c.us"), "sender": format!("{from}@c.us"), "senderName": name},
        "messageData": message_data})
}

/// Green API's delivery status of a message we sent.
pub fn green_status(instance: &str, id: &str, status: &str) -> Value {
    json!({"typeWebhook": "outgoingMessageStatus",
        "instanceData": {"idInstance": instance.parse::<u64>().unwrap_or(0), "wid": "74950000000@c.us"},
        "timestamp": chrono::Utc::now().timestamp(), "idMessage": id, "status": status})
}

/// A gateway's `{"id", "from", "text", "reply_to"}`.
pub fn gateway_message(id: &str, from: &str, text: &str, reply_to: Option<&str>) -> Value {
    json!({"id": id, "from": from, "text": text, "reply_to": reply_to})
}

/// POSTs `body` to the daemon (signed as Meta signs, with `app_secret`); the
/// status and the answer.
pub async fn post(url: &str, body: &Value, app_secret: Option<&str>) -> (u16, Value) {
    let bytes = body.to_string();
    let mut request = awc::Client::new()
        .post(url)
        .insert_header(("Content-Type", "application/json"));
    if let Some(secret) = app_secret {
        request = request.insert_header((
            "X-Hub-Signature-256",
            crate::webhooks::sign(secret, bytes.as_bytes()),
        ));
    }
    match request.send_body(bytes).await {
        Ok(mut response) => {
            let body = response.body().await.unwrap_or_default();
            (
                response.status().as_u16(),
                serde_json::from_slice(&body).unwrap_or(Value::Null),
            )
        }
        Err(_) => (0, Value::Null),
    }
}
