//! Push in, on `http.listen`: YClients' salon webhooks (a booking event, handed to
//! the filter like a polled record) and WhatsApp's delivery statuses (Meta's
//! Cloud API callbacks, checked against their signature). See `docs/yclients-api.md`
//! and `docs/whatsapp-api.md` for the payloads.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::domain::{CompanyId, Delivery};
pub use batch::{Batcher, Committed};
pub use reply_batch::{Deciding, ReplyBatcher};

pub mod batch;
mod inbound;
pub mod reply_batch;
use crate::api_state::State;
use crate::config::constant_time_eq;
use crate::yclients::{lenient_i64, Record};

/// Both endpoints refuse bodies over this (413).
pub const MAX_BODY: usize = 1 << 20;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/webhooks")
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route("/yclients/{token}", web::post().to(yclients))
            .route("/whatsapp", web::get().to(whatsapp_verify))
            .route("/whatsapp", web::post().to(whatsapp_statuses))
            .route("/green-api/{token}", web::post().to(inbound::green_api))
            .route("/gateway/{token}", web::post().to(inbound::gateway)),
    );
}

pub(crate) fn bad_request(state: &State, endpoint: &str, reason: String) -> HttpResponse {
    state.rejects.note(&state.logger, endpoint, &reason);
    HttpResponse::BadRequest().json(json!({"error": reason}))
}

/// One YClients event, as `docs/yclients-api.md` describes it.
struct Event {
    company: CompanyId,
    resource: String,
    status: String,
    data: Value,
}

fn read_event(body: &[u8]) -> Result<Event, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let company = value
        .get("company_id")
        .and_then(lenient_i64)
        .map(CompanyId)
        .ok_or("no company_id")?;
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    Ok(Event {
        company,
        resource: text("resource"),
        status: text("status"),
        data: value.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// `POST /webhooks/yclients/{token}`: 200 only once the filter has committed what
/// the event means, so an acknowledged event is never lost; 404 for a wrong token.
async fn yclients(state: State, token: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let config = state.config();
    let expected = config.yclients.webhook_token.expose();
    if expected.is_empty() || !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        state.metrics.webhook("unknown", "wrong_token");
        return HttpResponse::NotFound().finish();
    }
    let event = match read_event(&body) {
        Ok(event) => event,
        Err(reason) => {
            state.metrics.webhook("unknown", "malformed");
            return bad_request(&state, "yclients", reason);
        }
    };
    let status = match event.status.as_str() {
        "create" => "create",
        "update" => "update",
        "delete" => "delete",
        _ => "other",
    };
    let outcome = |outcome: &'static str| state.metrics.webhook(status, outcome);
    if event.resource != "record" {
        outcome("ignored");
        return HttpResponse::Ok().json(json!({"ignored": "not a record"}));
    }
    if state.config().company(event.company).is_none() {
        outcome("not_monitored");
        return HttpResponse::Ok().json(json!({"ignored": "company not monitored"}));
    }
    let mut data = event.data;
    if status == "delete" && data.is_object() {
        // A `delete` may carry the record as it was: it is gone all the same.
        data["deleted"] = Value::Bool(true);
    }
    let record = match Record::from_json(data) {
        Ok(record) => record,
        Err(e) => {
            outcome("malformed");
            return bad_request(&state, "yclients", format!("data: {e}"));
        }
    };
    let Some(batcher) = state.webhooks.clone() else {
        outcome("unavailable");
        return unavailable("monitoring is disabled (monitor.enabled = false)");
    };
    match batcher.commit(event.company, record).await {
        Committed::Yes => {
            outcome("committed");
            HttpResponse::Ok().json(json!({"ok": true}))
        }
        Committed::NotYet => {
            outcome("not_yet");
            // Polling brings the booking once monitoring of the salon has begun.
            unavailable("monitoring of this company has not begun yet")
        }
        Committed::Failed(reason) => {
            outcome("filter_failed");
            unavailable(&reason)
        }
    }
}

pub(crate) fn unavailable(reason: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({"error": reason}))
}

#[derive(Deserialize)]
struct Verification {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhooks/whatsapp`: Meta's handshake; the challenge back when the token fits.
async fn whatsapp_verify(state: State, query: web::Query<Verification>) -> HttpResponse {
    let config = state.config();
    let expected = config.whatsapp.cloud_api.verify_token.expose();
    let given = query.verify_token.as_deref().unwrap_or("");
    if query.mode.as_deref() == Some("subscribe")
        && !expected.is_empty()
        && constant_time_eq(given.as_bytes(), expected.as_bytes())
    {
        return HttpResponse::Ok()
            .content_type("text/plain")
            .body(query.challenge.clone().unwrap_or_default());
    }
    HttpResponse::Forbidden().finish()
}

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`;
/// compared in constant time by `ring`.
pub fn signature_is_valid(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(tag) = header
        .and_then(|h| h.strip_prefix("sha256="))
        .and_then(decode_hex)
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}

/// `sha256=<hex>` for `body` under `secret`: what Meta sends (and the simulator).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Each delivery status in a Cloud API webhook body: (Meta's message id, the
/// status, Meta's error as `code: title`, the number of ours it concerns).
fn read_statuses(body: &Value) -> Vec<(String, Delivery, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    let entries = body.get("entry").and_then(Value::as_array);
    for change in entries
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("changes").and_then(Value::as_array))
        .flatten()
    {
        let number = change
            .pointer("/value/metadata/phone_number_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let statuses = change.pointer("/value/statuses").and_then(Value::as_array);
        for status in statuses.into_iter().flatten() {
            let id = status.get("id").and_then(Value::as_str);
            let delivery = status
                .get("status")
                .and_then(Value::as_str)
                .and_then(Delivery::parse);
            let (Some(id), Some(delivery)) = (id, delivery) else {
                continue;
            };
            let error = status.pointer("/errors/0").map(|e| {
                let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
                let title = e
                    .get("title")
                    .or_else(|| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                format!("{code}: {title}")
            });
            out.push((id.to_string(), delivery, error, number.clone()));
        }
    }
    out
}

/// `POST /webhooks/whatsapp`: statuses move notifications forward and clients'
/// messages are taken; 401 without a valid signature, and then nothing is read.
async fn whatsapp_statuses(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    // Each Meta app signs with its own secret: the global sender's, or a salon's own.
    let config = state.config();
    let senders = config.senders();
    let secrets: Vec<&str> = senders
        .iter()
        .map(|s| s.config.cloud_api.app_secret.expose())
        .filter(|s| !s.trim().is_empty())
        .collect();
    if secrets.is_empty() {
        return HttpResponse::NotFound().finish();
    }
    let header = req
        .headers()
        .get("X-Hub-Signature-256")
        .and_then(|v| v.to_str().ok());
    if !secrets
        .iter()
        .any(|secret| signature_is_valid(secret, &body, header))
    {
        state.metrics.delivery("unknown", "bad_signature");
        state.rejects.note(
            &state.logger,
            "whatsapp",
            "missing or wrong X-Hub-Signature-256",
        );
        return HttpResponse::Unauthorized().finish();
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return bad_request(&state, "whatsapp", format!("not JSON: {e}")),
    };
    let config = state.config();
    let ours = |number: Option<&str>| {
        matches!(
            inbound::cloud_route(&config, number),
            inbound::Route::Ours(_)
        )
    };
    let (statuses, strangers): (Vec<_>, Vec<_>) = read_statuses(&value)
        .into_iter()
        .partition(|(_, _, _, number)| ours(number.as_deref()));
    for (_, delivery, _, _) in &strangers {
        // A number that is not ours: answered 200 (Meta would only retry), counted.
        state.metrics.delivery(delivery.as_str(), "unknown_number");
    }
    let statuses: Vec<_> = statuses
        .into_iter()
        .map(|(id, d, e, _)| (id, d, e))
        .collect();
    let count = statuses.len();
    let unknown = match inbound::record_statuses(&state, statuses).await {
        Ok(unknown) => unknown,
        // Meta retries what is not answered 200; a repeat is harmless.
        Err(e) => return unavailable(&format!("database: {e}")),
    };
    let incoming = crate::replies::inbound::cloud_api(&value);
    if incoming.is_empty() {
        return HttpResponse::Ok().json(json!({"statuses": count, "unknown": unknown}));
    }
    let route = |number: Option<&str>| inbound::cloud_route(&config, number);
    inbound::answer(&state, inbound::take_cloud(&state, incoming, route).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_checked_against_the_raw_body() {
        let body = br#"{"entry":[]}"#;
        let header = sign("app-secret", body);
        assert!(signature_is_valid("app-secret", body, Some(&header)));
        assert!(!signature_is_valid("other", body, Some(&header)));
        assert!(!signature_is_valid(
            "app-secret",
            b"{\"entry\": []}",
            Some(&header)
        ));
        assert!(!signature_is_valid("app-secret", body, None));
        assert!(!signature_is_valid("app-secret", body, Some("sha256=zz")));
    }

    #[test]
    fn reads_metas_statuses() {
        let read = |body: &Value| read_statuses(body);
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [
            {"id": "wamid.A", "status": "delivered", "timestamp": "1", "recipient_id": "7916"},
            {"id": "wamid.B", "status": "failed", "errors": [{"code": 131026, "title": "Message undeliverable"}]},
            {"id": "wamid.C", "status": "deleted"}
        ]}}]}]});
        let statuses = read(&body);
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[0].1, Delivery::Delivered);
        assert_eq!(
            statuses[1].2.as_deref(),
            Some("131026: Message undeliverable")
        );
    }
}
