//! The simulator's push side: YClients' salon webhooks (its `hooks_settings`, and
//! an event POSTed for each booking it creates, edits or deletes) and Meta's
//! delivery-status callbacks, signed as Meta signs them.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{State, World};

/// Where and how the simulated YClients sends its booking events.
#[derive(Debug, Clone, Default)]
pub struct WebhookSender {
    /// The daemon's `/webhooks/yclients/{token}` URL.
    pub url: String,
    /// How often each `update` is sent (YClients repeats them up to four times).
    pub update_repeats: usize,
}

/// Where the simulated Meta reports delivery statuses, and what it reports.
#[derive(Debug, Clone, Default)]
pub struct StatusCallbacks {
    /// The daemon's `/webhooks/whatsapp` URL.
    pub url: String,
    pub app_secret: String,
    /// Sent in turn after each message: e.g. `delivered`, then `read`.
    pub statuses: Vec<&'static str>,
}

/// What an event or a callback got back from the daemon: (what, HTTP status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub what: String,
    pub status: u16,
}

/// Queues the booking event of `record` (`create`, `update` or `delete`).
pub(super) fn booking_event(state: &std::sync::Arc<State>, status: &'static str, record: &Value) {
    let Some(sender) = state.world.lock().expect("simulator lock").webhooks.clone() else {
        return;
    };
    let event = json!({
        "company_id": record["company_id"], "resource": "record",
        "resource_id": record["id"], "status": status, "data": record,
    });
    let times = if status == "update" {
        sender.update_repeats.max(1)
    } else {
        1
    };
    let state = state.clone();
    actix_rt::spawn(async move {
        // In order, one after the other, as one sender would.
        for _ in 0..times {
            let answer = awc::Client::new().post(&sender.url).send_json(&event).await;
            let code = answer.map(|r| r.status().as_u16()).unwrap_or(0);
            state.change(|w| {
                w.pushed.push(Pushed {
                    what: format!("{status} {}", event["resource_id"]),
                    status: code,
                })
            });
        }
    });
}

/// Reports delivery statuses for a message Meta just accepted.
pub(super) fn message_accepted(
    state: &std::sync::Arc<State>,
    phone_number_id: String,
    wamid: String,
    to: String,
) {
    let (callbacks, undelivered) = {
        let w = state.world.lock().expect("simulator lock");
        (
            w.status_callbacks.clone(),
            w.undelivered_phones.contains(&to),
        )
    };
    let Some(callbacks) = callbacks else {
        return;
    };
    let statuses: Vec<&'static str> = callbacks
        .statuses
        .iter()
        .copied()
        .filter(|s| !(undelivered && matches!(*s, "delivered" | "read")))
        .collect();
    let state = state.clone();
    actix_rt::spawn(async move {
        for status in &statuses {
            let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "sim",
                "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "74950000000", "phone_number_id": phone_number_id},
                "statuses": [{"id": wamid, "status": status, "timestamp": "0", "recipient_id": to}]}}]}]})
            .to_string();
            let signature = crate::webhooks::sign(&callbacks.app_secret, body.as_bytes());
            let answer = awc::Client::new()
                .post(&callbacks.url)
                .insert_header(("Content-Type", "application/json"))
                .insert_header(("X-Hub-Signature-256", signature))
                .send_body(body)
                .await;
            let code = answer.map(|r| r.status().as_u16()).unwrap_or(0);
            state.change(|w| {
                w.pushed.push(Pushed {
                    what: format!("{status} {wamid}"),
                    status: code,
                })
            });
        }
    });
}

type Data = web::Data<State>;

/// `GET /api/v1/hooks_settings/{company}`.
pub(super) async fn get_hooks(state: Data, req: HttpRequest, path: web::Path<i64>) -> HttpResponse {
    let company = path.into_inner();
    super::answer::yclients_call(&state, &req, |w: &World| {
        if !w.companies.contains_key(&company) {
            return super::answer::not_found("Компания");
        }
        let settings = w.hooks.get(&company).cloned().unwrap_or_else(
            || json!({"urls": [], "active": 0, "record": 0, "client": 0, "goods_operations_sale": 0}),
        );
        (200, json!({"success": true, "data": settings, "meta": []}))
    })
    .await
}

/// `POST /api/v1/hooks_settings/{company}`.
pub(super) async fn set_hooks(
    state: Data,
    req: HttpRequest,
    path: web::Path<i64>,
    body: web::Json<Value>,
) -> HttpResponse {
    let company = path.into_inner();
    let settings = body.into_inner();
    let known = state
        .world
        .lock()
        .expect("simulator lock")
        .companies
        .contains_key(&company);
    if known {
        state.change(|w| w.hooks.insert(company, settings.clone()));
    }
    super::answer::yclients_call(&state, &req, move |_: &World| {
        if !known {
            return super::answer::not_found("Компания");
        }
        (200, json!({"success": true, "data": settings, "meta": []}))
    })
    .await
}
