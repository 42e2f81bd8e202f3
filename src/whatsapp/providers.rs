use serde_json::{json, Value};

use super::{Answer, Http, Outgoing, SendError};
use crate::config::{CloudApiConfig, GreenApiConfig, WebhookConfig};

/// Meta's WhatsApp Business Cloud API.
pub struct CloudApi {
    http: Http,
    url: String,
    /// The sender's phone number node: reading it sends nothing.
    number_url: String,
    token: String,
    /// The templates, their language and parameters.
    config: CloudApiConfig,
}

impl CloudApi {
    pub(super) fn new(config: &CloudApiConfig, http: Http) -> CloudApi {
        let number_url = format!(
            "{}/{}",
            config.base_url.trim_end_matches('/'),
            config.phone_number_id
        );
        CloudApi {
            http,
            url: format!("{number_url}/messages"),
            number_url,
            token: config.access_token.expose().to_string(),
            config: config.clone(),
        }
    }

    fn body(&self, m: &Outgoing<'_>) -> Value {
        let Some(template) = self.config.template_for(m.kind) else {
            return json!({
                "messaging_product": "whatsapp", "recipient_type": "individual",
                "to": m.phone.digits(), "type": "text",
                "text": {"preview_url": false, "body": m.text},
            });
        };
        let parameters: Vec<Value> = template
            .parameters
            .iter()
            .map(|p| json!({"type": "text", "text": m.fields.get(p)}))
            .collect();
        let mut components = vec![json!({"type": "body", "parameters": parameters})];
        if let Some(buttons) = &m.buttons {
            // The template is approved with two quick-reply buttons; their payloads
            // are ours and name the notice (index 0 confirms, 1 asks to cancel).
            for (index, payload) in [&buttons.confirm, &buttons.cancel].into_iter().enumerate() {
                components.push(json!({"type": "button", "sub_type": "quick_reply",
                    "index": index.to_string(), "parameters": [{"type": "payload", "payload": payload}]}));
            }
        }
        json!({
            "messaging_product": "whatsapp", "to": m.phone.digits(), "type": "template",
            "template": {"name": template.name, "language": {"code": template.language},
                "components": components},
        })
    }

    pub(super) async fn probe(&self) -> Result<String, String> {
        let answer = self.http.get(&self.number_url, Some(&self.token)).await?;
        if answer.status.is_success() {
            let name = answer.body["verified_name"].as_str().unwrap_or("?");
            let number = answer.body["display_phone_number"].as_str().unwrap_or("?");
            return Ok(format!("the sender {number} ({name}) answers"));
        }
        Err(classify_cloud_api(&answer).to_string())
    }

    pub(super) async fn send(&self, m: &Outgoing<'_>) -> Result<Option<String>, SendError> {
        let answer = self
            .http
            .post_json(&self.url, Some(&self.token), &self.body(m))
            .await?;
        if answer.status.is_success() {
            return Ok(answer
                .body
                .pointer("/messages/0/id")
                .and_then(Value::as_str)
                .map(str::to_string));
        }
        Err(classify_cloud_api(&answer))
    }
}

fn classify_cloud_api(answer: &Answer) -> SendError {
    let code = answer.body.pointer("/error/code").and_then(Value::as_i64);
    let message = answer
        .body
        .pointer("/error/error_data/details")
        .or_else(|| answer.body.pointer("/error/message"))
        .and_then(Value::as_str)
        .unwrap_or(&answer.text);
    let reason = format!(
        "Cloud API {} (code {}): {message}",
        answer.status.as_u16(),
        code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())
    );
    let retry_after = answer.retry_after;
    match code {
        Some(1 | 2 | 131000 | 131016) => SendError::Retryable {
            reason,
            retry_after,
        },
        Some(4 | 80007 | 130429 | 131056) => SendError::Retryable {
            reason,
            retry_after,
        },
        Some(0 | 190 | 131048) => SendError::Paused { reason },
        Some(_) if answer.status.is_server_error() => SendError::Retryable {
            reason,
            retry_after,
        },
        Some(_) => SendError::Permanent { reason },
        None => by_status(answer, reason),
    }
}

/// Green API: a gateway on an ordinary WhatsApp account.
pub struct GreenApi {
    http: Http,
    url: String,
    state_url: String,
}

impl GreenApi {
    pub(super) fn new(config: &GreenApiConfig, http: Http) -> GreenApi {
        let instance = format!(
            "{}/waInstance{}",
            config.base_url.trim_end_matches('/'),
            config.id_instance
        );
        let token = config.api_token.expose();
        GreenApi {
            http,
            url: format!("{instance}/sendMessage/{token}"),
            state_url: format!("{instance}/getStateInstance/{token}"),
        }
    }

    pub(super) async fn probe(&self) -> Result<String, String> {
        let answer = self.http.get(&self.state_url, None).await?;
        match answer.body["stateInstance"].as_str() {
            Some("authorized") => Ok("the instance is authorized".into()),
            Some(state) => Err(format!(
                "the instance is {state}, not authorized: open Green API's console"
            )),
            None => Err(format!(
                "Green API {}: {}",
                answer.status.as_u16(),
                answer.text
            )),
        }
    }

    pub(super) async fn send(&self, m: &Outgoing<'_>) -> Result<Option<String>, SendError> {
        let body = json!({"chatId": format!("{}@c.us", m.phone.digits()), "message": m.text});
        let answer = self.http.post_json(&self.url, None, &body).await?;
        if answer.status.is_success() {
            return Ok(answer
                .body
                .get("idMessage")
                .and_then(Value::as_str)
                .map(str::to_string));
        }
        let reason = format!("Green API {}: {}", answer.status.as_u16(), answer.text);
        Err(match answer.status.as_u16() {
            466 => SendError::Paused {
                reason: format!("{reason} (the tariff's quota is spent)"),
            },
            _ => by_status(&answer, reason),
        })
    }
}

/// A self-hosted gateway behind a plain JSON webhook.
pub struct Webhook {
    http: Http,
    url: String,
    token: String,
}

impl Webhook {
    pub(super) fn new(config: &WebhookConfig, http: Http) -> Webhook {
        Webhook {
            http,
            url: config.url.clone(),
            token: config.token.expose().to_string(),
        }
    }

    pub(super) async fn send(&self, m: &Outgoing<'_>) -> Result<Option<String>, SendError> {
        let body = json!({
            "phone": m.phone.digits(), "text": m.text,
            "company_id": m.company.0, "record_id": m.record.0,
            "idempotency_key": m.idempotency_key,
        });
        let answer = self
            .http
            .post_json(&self.url, Some(&self.token), &body)
            .await?;
        if answer.status.is_success() {
            return Ok(answer.body.get("id").and_then(|id| match id {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }));
        }
        Err(by_status(
            &answer,
            format!("webhook {}: {}", answer.status.as_u16(), answer.text),
        ))
    }
}

/// What an HTTP status alone says: 5xx and 429 pass, 401/403 are the account's
/// trouble (pause), other 4xx are this message's (permanent).
pub(crate) fn by_status(answer: &Answer, reason: String) -> SendError {
    match answer.status.as_u16() {
        429 | 500..=599 => SendError::Retryable {
            reason,
            retry_after: answer.retry_after,
        },
        401 | 403 => SendError::Paused { reason },
        _ => SendError::Permanent { reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use awc::http::StatusCode;

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            text: body.to_string(),
            body,
            retry_after: None,
        }
    }

    fn cloud(status: u16, code: i64) -> SendError {
        classify_cloud_api(&answer(
            status,
            json!({"error": {"message": "m", "code": code}}),
        ))
    }

    #[test]
    fn cloud_api_codes_are_classified_as_documented() {
        for code in [1, 2, 131000, 131016, 4, 80007, 130429, 131056] {
            assert!(
                matches!(cloud(400, code), SendError::Retryable { .. }),
                "{code}"
            );
        }
        for code in [0, 190, 131048] {
            assert!(
                matches!(cloud(401, code), SendError::Paused { .. }),
                "{code}"
            );
        }
        for code in [
            131047, 131026, 132000, 132001, 132005, 132007, 132012, 100, 131008, 131009, 131051,
        ] {
            assert!(
                matches!(cloud(400, code), SendError::Permanent { .. }),
                "{code}"
            );
        }
        assert!(matches!(
            classify_cloud_api(&answer(503, Value::Null)),
            SendError::Retryable { .. }
        ));
    }

    #[test]
    fn statuses_alone_are_classified() {
        assert!(matches!(
            by_status(&answer(429, Value::Null), String::new()),
            SendError::Retryable { .. }
        ));
        assert!(matches!(
            by_status(&answer(502, Value::Null), String::new()),
            SendError::Retryable { .. }
        ));
        assert!(matches!(
            by_status(&answer(403, Value::Null), String::new()),
            SendError::Paused { .. }
        ));
        assert!(matches!(
            by_status(&answer(400, Value::Null), String::new()),
            SendError::Permanent { .. }
        ));
    }
}
