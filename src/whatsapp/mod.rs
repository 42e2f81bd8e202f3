//! The ways a salon reaches WhatsApp (`docs/whatsapp-api.md`), each with its
//! errors sorted into retryable, pausing and permanent.

mod providers;
mod senders;

use std::time::Duration;

use awc::http::{header, StatusCode};
use serde_json::Value;
use slog::Logger;

use crate::config::{ProviderKind, WhatsAppConfig};
use crate::domain::{CompanyId, Kind, Phone, RecordId};
use crate::http_client::TlsRoots;
use crate::text::MessageFields;
pub(crate) use providers::by_status;
use providers::{CloudApi, GreenApi, Webhook};
pub use senders::{SenderKey, Senders};

/// One message to send.
pub struct Outgoing<'a> {
    pub kind: Kind,
    pub phone: &'a Phone,
    pub text: &'a str,
    pub fields: &'a MessageFields,
    pub company: CompanyId,
    pub record: RecordId,
    /// One per notice (`company:record:kind`, plus `:key` where a kind has many):
    /// a gateway that honours it never delivers a retried send twice.
    pub idempotency_key: &'a str,
    /// For a notice that asks the client to answer, sent as a Cloud API template:
    /// the payloads of its two quick-reply buttons.
    pub buttons: Option<Buttons>,
}

/// Our payloads for a template's quick-reply buttons: index 0 confirms the visit,
/// index 1 asks to cancel it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buttons {
    pub confirm: String,
    pub cancel: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Temporary trouble (5xx, timeouts, rate limits): this message is tried again later.
    #[error("{reason}")]
    Retryable {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// The account cannot send now (expired token, blocked instance, spent quota):
    /// every send waits; the attempt does not count against the message.
    #[error("{reason}")]
    Paused { reason: String },
    /// This message can never go out as it is (not on WhatsApp, missing template…).
    #[error("{reason}")]
    Permanent { reason: String },
}

impl SendError {
    /// The send metric's outcome for a failure on `attempt` of `max`.
    pub fn outcome(&self, attempt: u32, max: u32) -> &'static str {
        match self {
            SendError::Permanent { .. } => "failed",
            SendError::Retryable { .. } if attempt >= max => "failed",
            SendError::Retryable { .. } => "retry",
            SendError::Paused { .. } => "paused",
        }
    }

    /// The same error in other words (a secret or a phone taken out of them).
    pub fn map_reason(self, f: impl FnOnce(String) -> String) -> SendError {
        match self {
            SendError::Retryable {
                reason,
                retry_after,
            } => SendError::Retryable {
                reason: f(reason),
                retry_after,
            },
            SendError::Paused { reason } => SendError::Paused { reason: f(reason) },
            SendError::Permanent { reason } => SendError::Permanent { reason: f(reason) },
        }
    }
}

#[allow(clippy::large_enum_variant)] // one per notifier, built once
pub enum Provider {
    CloudApi(CloudApi),
    GreenApi(GreenApi),
    Webhook(Webhook),
    Log(Logger),
}

impl Provider {
    /// Builds the configured provider; call it on the actor's own thread (awc is not `Send`).
    pub fn new(config: &WhatsAppConfig, tls: &TlsRoots, logger: &Logger) -> Provider {
        let client = tls.client(Duration::from_millis(config.request_timeout_ms));
        Provider::with_client(config, client, logger)
    }

    /// As `new`, on `client`: senders that share a client share its connections
    /// (a thousand salons' senders to one Cloud API host keep a few, not a thousand).
    pub fn with_client(config: &WhatsAppConfig, client: awc::Client, logger: &Logger) -> Provider {
        let http = || Http {
            client: client.clone(),
        };
        match config.provider {
            ProviderKind::CloudApi => Provider::CloudApi(CloudApi::new(&config.cloud_api, http())),
            ProviderKind::GreenApi => Provider::GreenApi(GreenApi::new(&config.green_api, http())),
            ProviderKind::Webhook => Provider::Webhook(Webhook::new(&config.webhook, http())),
            ProviderKind::Log => Provider::Log(logger.clone()),
        }
    }

    /// Checks the account with a call that sends nothing, where the provider has one:
    /// `Ok(what was checked)`, or why it is not usable.
    pub async fn probe(&self) -> Result<String, String> {
        match self {
            Provider::CloudApi(p) => p.probe().await,
            Provider::GreenApi(p) => p.probe().await,
            Provider::Webhook(_) => {
                Ok("a webhook cannot be checked without sending; only its config was".into())
            }
            Provider::Log(_) => Ok("the log provider sends nothing".into()),
        }
    }

    /// Sends; on success, the provider's message id when it gives one.
    pub async fn send(&self, message: &Outgoing<'_>) -> Result<Option<String>, SendError> {
        match self {
            Provider::CloudApi(p) => p.send(message).await,
            Provider::GreenApi(p) => p.send(message).await,
            Provider::Webhook(p) => p.send(message).await,
            Provider::Log(logger) => {
                slog::info!(logger, "log provider: would send";
                    "company_id" => message.company.0, "record_id" => message.record.0,
                    "phone" => message.phone.to_string(), "text" => message.text);
                Ok(None)
            }
        }
    }
}

/// An HTTP answer, read whatever its status.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub retry_after: Option<Duration>,
}

pub(crate) struct Http {
    client: awc::Client,
}

/// What a POST carries.
pub(crate) enum Payload<'a> {
    Json(&'a Value),
    Form(&'a [(&'a str, &'a str)]),
}

impl Http {
    pub fn new(client: awc::Client) -> Http {
        Http { client }
    }

    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Answer, String> {
        let mut request = self.client.get(url);
        if let Some(token) = bearer.filter(|t| !t.is_empty()) {
            request = request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("no answer: {}", redact_url(&e.to_string())))?;
        let bytes = response
            .body()
            .limit(1024 * 1024)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status: response.status(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            retry_after: None,
        })
    }

    pub async fn post_json(
        &self,
        url: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> Result<Answer, SendError> {
        self.post(url, bearer, Payload::Json(body)).await
    }

    /// POSTs; transport failures and timeouts are retryable (the message may
    /// or may not have gone out: the outbox's `sending` state records that doubt).
    pub async fn post(
        &self,
        url: &str,
        bearer: Option<&str>,
        payload: Payload<'_>,
    ) -> Result<Answer, SendError> {
        let mut request = self.client.post(url);
        if let Some(token) = bearer.filter(|t| !t.is_empty()) {
            request = request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
        }
        let sending = match payload {
            Payload::Json(body) => request.send_json(body),
            Payload::Form(fields) => request.send_form(&fields),
        };
        let mut response = sending.await.map_err(|e| SendError::Retryable {
            reason: format!("no answer: {}", redact_url(&e.to_string())),
            retry_after: None,
        })?;
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let bytes = response
            .body()
            .limit(1024 * 1024)
            .await
            .map_err(|e| SendError::Retryable {
                reason: format!("answer cut short: {e}"),
                retry_after: None,
            })?;
        let text: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
        Ok(Answer {
            status: response.status(),
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
            retry_after,
        })
    }
}

/// Green API puts its token in the path: keep it out of error messages.
fn redact_url(s: &str) -> String {
    s.split('/')
        .map(|part| {
            if part.len() >= 24 && part.chars().all(|c| c.is_ascii_alphanumeric()) {
                "[redacted]"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}
