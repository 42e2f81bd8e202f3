//! The simulator's push side: YClients' salon webhooks (its `hooks_settings`, and
//! an event POSTed for each booking it creates, edits or deletes) and Meta's
//! delivery-status callbacks, signed as Meta signs them.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use std::sync::Arc;

use super::{Fate, State, World};

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

/// Queues the booking event of `record` (`create`, `update` or `delete`), lost,
/// repeated or held back where `World::chaos` says so.
pub(super) fn booking_event(state: &Arc<State>, status: &'static str, record: &Value) {
    let what = format!("{status} {}", record["id"]);
    let Some((sender, fate)) = state.change(|w| {
        let sender = w.webhooks.clone()?;
        Some((sender, w.fate(&format!("record {}", record["id"]))))
    }) else {
        return;
    };
    let event = json!({
        "company_id": record["company_id"], "resource": "record",
        "resource_id": record["id"], "status": status, "data": record,
    });
    let times = fate.times
        * if status == "update" {
            sender.update_repeats.max(1) as u32
        } else {
            1
        };
    if times == 0 {
        lost(state, &what);
        return;
    }
    let state = state.clone();
    actix_rt::spawn(async move {
        tokio::time::sleep(fate.hold).await;
        // In order, one after the other, as one sender would.
        for _ in 0..times {
            let answer = awc::Client::new().post(&sender.url).send_json(&event).await;
            pushed(&state, &what, answer.map(|r| r.status().as_u16()));
        }
    });
}

fn pushed<E>(state: &State, what: &str, answer: Result<u16, E>) {
    let status = answer.unwrap_or(0);
    state.change(|w| {
        w.pushed.push(Pushed {
            what: what.to_string(),
            status,
        })
    });
}

/// A push the chaos dropped: kept as `lost …` with no status.
fn lost(state: &State, what: &str) {
    state.change(|w| {
        w.pushed.push(Pushed {
            what: format!("lost {what}"),
            status: 0,
        })
    });
}

/// Reports delivery statuses for a message Meta just accepted: its `statuses` in
/// turn (those of an undelivered number without `delivered` and `read`, those of a
/// failing one with one `failed` instead), each lost, repeated or held back where
/// `World::chaos` says so.
pub(super) fn message_accepted(
    state: &Arc<State>,
    phone_number_id: String,
    wamid: String,
    to: String,
) {
    let plan = state.change(|w| {
        let callbacks = w.status_callbacks.clone()?;
        let undelivered = w.undelivered_phones.contains(&to);
        let failing = w.failed_phones.contains(&to);
        let mut statuses: Vec<&'static str> = Vec::new();
        for status in &callbacks.statuses {
            let status = match *status {
                "delivered" | "read" if failing => "failed",
                "delivered" | "read" if undelivered => continue,
                other => other,
            };
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
        let fates: Vec<(&'static str, Fate)> = statuses
            .into_iter()
            .map(|s| (s, w.fate(&format!("status {to} {s}"))))
            .collect();
        Some((callbacks, fates))
    });
    let Some((callbacks, fates)) = plan else {
        return;
    };
    let callback = move |status: &'static str| {
        let mut entry =
            json!({"id": wamid, "status": status, "timestamp": "0", "recipient_id": to});
        if status == "failed" {
            entry["errors"] = json!([{"code": 131026, "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."}}]);
        }
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "sim",
            "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "74950000000", "phone_number_id": phone_number_id},
            "statuses": [entry]}}]}]})
        .to_string();
        (format!("{status} {wamid}"), body)
    };
    let (mut in_turn, mut held) = (Vec::new(), Vec::new());
    for (status, fate) in fates {
        let (what, body) = callback(status);
        match fate {
            Fate { times: 0, .. } => lost(state, &what),
            f if f.hold.is_zero() => in_turn.push((what, body, f)),
            f => held.push((what, body, f)),
        }
    }
    for (what, body, fate) in held {
        let (state, callbacks) = (state.clone(), callbacks.clone());
        actix_rt::spawn(async move {
            tokio::time::sleep(fate.hold).await;
            sign_and_post(&state, &callbacks, &what, &body, fate.times).await;
        });
    }
    let state = state.clone();
    actix_rt::spawn(async move {
        for (what, body, fate) in in_turn {
            sign_and_post(&state, &callbacks, &what, &body, fate.times).await;
        }
    });
}

/// POSTs one status callback `times` times, signed as Meta signs.
async fn sign_and_post(
    state: &State,
    callbacks: &StatusCallbacks,
    what: &str,
    body: &str,
    times: u32,
) {
    let signature = crate::webhooks::sign(&callbacks.app_secret, body.as_bytes());
    for _ in 0..times {
        let answer = awc::Client::new()
            .post(&callbacks.url)
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("X-Hub-Signature-256", signature.clone()))
            .send_body(body.to_string())
            .await;
        pushed(state, what, answer.map(|r| r.status().as_u16()));
    }
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
