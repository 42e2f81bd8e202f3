//! Staff alerts through a Telegram bot: one `sendMessage` to a salon's chat, the
//! answer sorted like a WhatsApp provider's (`SendError`). The bot token is part of
//! the URL, so every error and `Debug` is scrubbed of it.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::Secret;
use crate::http_client::TlsRoots;
use crate::whatsapp::{by_status, Answer, Http, SendError};

pub struct Telegram {
    http: Http,
    base_url: String,
    /// `{base}/bot{token}/sendMessage`: never shown.
    url: String,
    token: String,
}

impl fmt::Debug for Telegram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telegram")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl Telegram {
    /// `base_url` is `staff.telegram_api_base_url`; call it on the actor's own
    /// thread (awc is not `Send`).
    pub fn new(base_url: &str, token: &Secret, tls: &TlsRoots, timeout: Duration) -> Telegram {
        let base_url = base_url.trim_end_matches('/').to_string();
        let token = token.expose().trim().to_string();
        Telegram {
            http: Http::new(tls.client(timeout)),
            url: format!("{base_url}/bot{token}/sendMessage"),
            base_url,
            token,
        }
    }

    /// Sends `text` to the chat; on success, Telegram's message id.
    pub async fn send(&self, chat_id: i64, text: &str) -> Result<i64, SendError> {
        let body = json!({"chat_id": chat_id, "text": text, "disable_web_page_preview": true});
        let answer = self
            .http
            .post_json(&self.url, None, &body)
            .await
            .map_err(|e| self.scrub(e))?;
        classify(&answer).map_err(|e| self.scrub(e))
    }

    /// The token out of an error's words (a transport error may quote the URL).
    fn scrub(&self, e: SendError) -> SendError {
        if self.token.is_empty() {
            return e;
        }
        e.map_reason(|reason| reason.replace(&self.token, "[redacted]"))
    }
}

/// `{"ok": true, "result": {"message_id": …}}`, or `{"ok": false, "error_code",
/// "description", "parameters"}`: a chat that is gone or has shut the bot out is
/// this alert's end; a token Telegram does not know (401, or 404 for one it cannot
/// even parse) stops every alert; flood control says how long to wait.
fn classify(answer: &Answer) -> Result<i64, SendError> {
    let status = answer.status.as_u16();
    if answer.status.is_success() {
        let id = answer.body["ok"]
            .as_bool()
            .filter(|ok| *ok)
            .and(answer.body.pointer("/result/message_id"))
            .and_then(Value::as_i64);
        // Unreadable: it may well have gone out; the caller's outbox keeps that doubt.
        return id.ok_or_else(|| SendError::Retryable {
            reason: format!("Telegram {status}: no message id in {}", answer.text),
            retry_after: None,
        });
    }
    let description = answer.body["description"].as_str().unwrap_or(&answer.text);
    let reason = format!("Telegram {status}: {description}");
    Err(match status {
        400 | 403 => match answer
            .body
            .pointer("/parameters/migrate_to_chat_id")
            .and_then(Value::as_i64)
        {
            Some(chat) => SendError::Permanent {
                reason: format!(
                    "{reason} (the group is now the supergroup {chat}: use that chat id)"
                ),
            },
            None => SendError::Permanent { reason },
        },
        401 | 404 => SendError::Paused {
            reason: format!(
                "{reason} (Telegram does not know the bot token: check staff.telegram_bot_token)"
            ),
        },
        429 => SendError::Retryable {
            reason,
            retry_after: answer
                .body
                .pointer("/parameters/retry_after")
                .and_then(Value::as_u64)
                .map(Duration::from_secs)
                .or(answer.retry_after),
        },
        _ => by_status(answer, reason),
    })
}
