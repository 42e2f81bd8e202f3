//! The SMS providers of `[fallback]`, each answer sorted into `SendError`: this
//! message's trouble (a refused number) is permanent, the account's (a bad key, no
//! money, a blocked IP) pauses every send, the provider's (5xx, timeouts, rate
//! limits) is tried again. Credentials travel in the form body, never in a URL,
//! and no error repeats the request.

use std::time::Duration;

use serde_json::{json, Value};

use crate::config::{FallbackConfig, SmsProviderKind, SmsRuConfig, SmsWebhookConfig, SmscConfig};
use crate::domain::Phone;
use crate::http_client::TlsRoots;
use crate::whatsapp::{by_status, Answer, Http, Payload, SendError};

/// What a provider said to an accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsReceipt {
    /// Its id with the provider, for a status query.
    pub provider_id: Option<String>,
    /// Parts billed, where the provider says.
    pub parts: Option<u32>,
}

pub enum SmsProvider {
    SmsRu(SmsRu),
    Smsc(Smsc),
    Webhook(SmsWebhook),
}

impl SmsProvider {
    /// The configured provider, None when `fallback.provider` is `off`. Call it on
    /// the actor's own thread (awc is not `Send`).
    pub fn new(config: &FallbackConfig, tls: &TlsRoots, timeout: Duration) -> Option<SmsProvider> {
        let http = || Http::new(tls.client(timeout));
        Some(match config.provider {
            SmsProviderKind::Off => return None,
            SmsProviderKind::SmsRu => SmsProvider::SmsRu(SmsRu::new(&config.sms_ru, http())),
            SmsProviderKind::Smsc => SmsProvider::Smsc(Smsc::new(&config.smsc, http())),
            SmsProviderKind::Webhook => {
                SmsProvider::Webhook(SmsWebhook::new(&config.webhook, http()))
            }
        })
    }

    pub fn kind(&self) -> SmsProviderKind {
        match self {
            SmsProvider::SmsRu(_) => SmsProviderKind::SmsRu,
            SmsProvider::Smsc(_) => SmsProviderKind::Smsc,
            SmsProvider::Webhook(_) => SmsProviderKind::Webhook,
        }
    }

    pub async fn send(&self, phone: &Phone, text: &str) -> Result<SmsReceipt, SendError> {
        let (sent, secret) = match self {
            SmsProvider::SmsRu(p) => (p.send(phone, text).await, &p.api_id),
            SmsProvider::Smsc(p) => (p.send(phone, text).await, &p.password),
            SmsProvider::Webhook(p) => (p.send(phone, text).await, &p.token),
        };
        // A provider's words may quote the number (SMS.ru keys its answer by it)
        // or, misbehaving, the request: errors end up in logs.
        sent.map_err(|e| {
            e.map_reason(|reason| {
                let reason = reason.replace(phone.digits(), &phone.to_string());
                if secret.is_empty() {
                    reason
                } else {
                    reason.replace(secret.as_str(), "[redacted]")
                }
            })
        })
    }
}

/// An id given as a string or a number.
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A 2xx whose body says nothing we know: the SMS may have gone; tried again.
fn unreadable(provider: &str, answer: &Answer) -> SendError {
    SendError::Retryable {
        reason: format!(
            "{provider} {}: an answer we cannot read: {}",
            answer.status.as_u16(),
            answer.text
        ),
        retry_after: None,
    }
}

/// SMS.ru: `POST {base_url}/sms/send`.
pub struct SmsRu {
    http: Http,
    url: String,
    api_id: String,
    from: String,
}

impl SmsRu {
    fn new(config: &SmsRuConfig, http: Http) -> SmsRu {
        SmsRu {
            http,
            url: format!("{}/sms/send", config.base_url.trim_end_matches('/')),
            api_id: config.api_id.expose().to_string(),
            from: config.from.trim().to_string(),
        }
    }

    async fn send(&self, phone: &Phone, text: &str) -> Result<SmsReceipt, SendError> {
        let mut form = vec![
            ("api_id", self.api_id.as_str()),
            ("to", phone.digits()),
            ("msg", text),
            ("json", "1"),
        ];
        if !self.from.is_empty() {
            form.push(("from", &self.from));
        }
        let answer = self
            .http
            .post(&self.url, None, Payload::Form(&form))
            .await?;
        classify_sms_ru(&answer, phone)
    }
}

fn classify_sms_ru(answer: &Answer, phone: &Phone) -> Result<SmsReceipt, SendError> {
    if !answer.status.is_success() {
        let reason = format!("SMS.ru {}: {}", answer.status.as_u16(), answer.text);
        return Err(by_status(answer, reason));
    }
    let words = |v: &Value| {
        format!(
            "{} (code {})",
            v["status_text"].as_str().unwrap_or("no explanation"),
            v["status_code"]
        )
    };
    match answer.body["status"].as_str() {
        Some("OK") => {}
        // The whole request refused: the account's trouble (200 a bad api_id, 201
        // no money, 204 an unapproved sender…), except SMS.ru's own outage.
        Some("ERROR") => {
            let reason = format!("SMS.ru refused the account: {}", words(&answer.body));
            return Err(match answer.body["status_code"].as_i64() {
                Some(220 | 500) => SendError::Retryable {
                    reason,
                    retry_after: None,
                },
                _ => SendError::Paused { reason },
            });
        }
        _ => return Err(unreadable("SMS.ru", answer)),
    }
    let sms = &answer.body["sms"][phone.digits()];
    match sms["status"].as_str() {
        Some("OK") => Ok(SmsReceipt {
            provider_id: id_text(&sms["sms_id"]),
            parts: None,
        }),
        Some("ERROR") => Err(SendError::Permanent {
            reason: format!("SMS.ru refused this message: {}", words(sms)),
        }),
        _ => Err(unreadable("SMS.ru", answer)),
    }
}

/// SMSC.ru: `POST {base_url}/sys/send.php`.
pub struct Smsc {
    http: Http,
    url: String,
    login: String,
    password: String,
    sender: String,
}

impl Smsc {
    fn new(config: &SmscConfig, http: Http) -> Smsc {
        Smsc {
            http,
            url: format!("{}/sys/send.php", config.base_url.trim_end_matches('/')),
            login: config.login.trim().to_string(),
            password: config.password.expose().to_string(),
            sender: config.sender.trim().to_string(),
        }
    }

    async fn send(&self, phone: &Phone, text: &str) -> Result<SmsReceipt, SendError> {
        let mut form = vec![
            ("login", self.login.as_str()),
            ("psw", self.password.as_str()),
            ("phones", phone.digits()),
            ("mes", text),
            ("fmt", "3"),
            ("charset", "utf-8"),
        ];
        if !self.sender.is_empty() {
            form.push(("sender", &self.sender));
        }
        let answer = self
            .http
            .post(&self.url, None, Payload::Form(&form))
            .await?;
        classify_smsc(&answer)
    }
}

fn classify_smsc(answer: &Answer) -> Result<SmsReceipt, SendError> {
    if !answer.status.is_success() {
        let reason = format!("SMSC {}: {}", answer.status.as_u16(), answer.text);
        return Err(by_status(answer, reason));
    }
    let body = &answer.body;
    if let Some(code) = body["error_code"].as_i64() {
        let reason = format!(
            "SMSC error {code}: {}",
            body["error"].as_str().unwrap_or("no explanation")
        );
        return Err(match code {
            // Bad login or password, no money, this IP blocked.
            2..=4 => SendError::Paused { reason },
            // Too many sends (the same text to the number within a minute, or too
            // many requests at once).
            9 => SendError::Retryable {
                reason,
                retry_after: None,
            },
            // 1 bad parameters, 5 bad date, 6 forbidden text or sender, 7 bad
            // number, 8 undeliverable; an unknown code is not retried either.
            _ => SendError::Permanent { reason },
        });
    }
    match id_text(&body["id"]) {
        Some(id) => Ok(SmsReceipt {
            provider_id: Some(id),
            parts: body["cnt"].as_u64().and_then(|n| u32::try_from(n).ok()),
        }),
        None => Err(unreadable("SMSC", answer)),
    }
}

/// A self-hosted gateway: `POST url {"phone", "text"}`.
pub struct SmsWebhook {
    http: Http,
    url: String,
    token: String,
}

impl SmsWebhook {
    fn new(config: &SmsWebhookConfig, http: Http) -> SmsWebhook {
        SmsWebhook {
            http,
            url: config.url.clone(),
            token: config.token.expose().to_string(),
        }
    }

    async fn send(&self, phone: &Phone, text: &str) -> Result<SmsReceipt, SendError> {
        let body = json!({"phone": phone.digits(), "text": text});
        let answer = self
            .http
            .post_json(&self.url, Some(&self.token), &body)
            .await?;
        if answer.status.is_success() {
            return Ok(SmsReceipt {
                provider_id: id_text(&answer.body["id"]),
                parts: None,
            });
        }
        let reason = format!("SMS webhook {}: {}", answer.status.as_u16(), answer.text);
        Err(by_status(&answer, reason))
    }
}
