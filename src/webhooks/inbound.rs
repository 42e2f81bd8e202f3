//! Clients' messages in: Meta's (on the signed `/webhooks/whatsapp`, beside the
//! statuses), Green API's (`/webhooks/green-api/{token}`, with its delivery
//! statuses) and a JSON gateway's (`/webhooks/gateway/{token}`). Each message is
//! kept once by its provider id and answered 200 only after it and the effects it
//! calls for are committed; the rows it opens are then timed by the delay actor.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde_json::{json, Value};

use super::{bad_request, unavailable};
use crate::actors::messages::Schedule;
use crate::domain::{mask_phone, CompanyId, Delivery, MatchedBy};
use crate::http_api::{constant_time_eq, State};
use crate::replies::decide::{decide, Facts};
use crate::replies::inbound::{self, GreenNotification, Inbound};
use crate::store::{self, DeliveryUpdate, StoreError};

/// Takes each message: kept, decided, its effects written; then timed.
pub(super) async fn take(state: &State, messages: Vec<Inbound>) -> Result<usize, StoreError> {
    let config = &state.config;
    if !config.replies.enabled {
        for _ in &messages {
            state.metrics.reply("replies_off");
        }
        return Ok(0);
    }
    let mut taken = 0;
    for message in messages {
        let now = Utc::now();
        let lookup = message.lookup(now, config.replies.window_hours);
        let reply = message.to_reply();
        let (acknowledge, salons) = (config.replies.acknowledge, state.salons.clone());
        let sender_salon = sender_salon(config, message.sender.as_deref());
        let inbound = message.clone();
        let decided = state
            .db
            .run(move |c| {
                let mut summary = None;
                let taken = store::take_reply(c, &reply, &lookup, now, |context, id| {
                    let salon = |company: CompanyId| salons.known(company);
                    let facts = Facts {
                        inbound: &inbound,
                        now,
                        acknowledge,
                        sender_salon,
                        salon: &salon,
                    };
                    let decision = decide(&facts, context, id);
                    summary = Some((
                        decision.matched_by,
                        decision.intent,
                        decision.company,
                        decision.record,
                    ));
                    decision
                })?;
                Ok(taken.map(|t| (t, summary)))
            })
            .await?;
        let Some(((reply_id, scheduled), Some((matched_by, intent, company, record)))) = decided
        else {
            state.metrics.reply("repeat");
            continue;
        };
        taken += 1;
        let label = match matched_by {
            MatchedBy::Ambiguous => "ambiguous",
            MatchedBy::Unmatched => "unmatched",
            _ => intent.as_str(),
        };
        state.metrics.reply(label);
        slog::info!(state.logger, "a client's reply was taken"; "reply_id" => reply_id,
            "provider" => message.provider, "phone" => mask_phone(message.from.digits()),
            "intent" => intent.as_str(), "matched_by" => matched_by.as_str(),
            "company_id" => company.map(|c| c.0), "record_id" => record.map(|r| r.0),
            "effects" => scheduled.len());
        if let Some(delay) = &state.schedule {
            for (id, due_at) in scheduled {
                delay.do_send(Schedule { id, due_at });
            }
        }
    }
    Ok(taken)
}

/// The salon whose sender got a message, when that sender serves one salon.
fn sender_salon(config: &crate::config::Config, _sender: Option<&str>) -> Option<CompanyId> {
    match config.companies.as_slice() {
        [only] => Some(only.company_id()),
        _ => None,
    }
}

/// `POST /webhooks/green-api/{whatsapp.green_api.webhook_token}`: incoming messages
/// and the delivery statuses of ours; 404 for a wrong token.
pub(super) async fn green_api(
    state: State,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let expected = state.config.whatsapp.green_api.webhook_token.expose();
    if expected.is_empty() || !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        return HttpResponse::NotFound().finish();
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return bad_request(&state, "green-api", format!("not JSON: {e}")),
    };
    match inbound::green_api(&value) {
        Err(reason) => bad_request(&state, "green-api", reason),
        Ok(GreenNotification::Ignored(what)) => HttpResponse::Ok().json(json!({"ignored": what})),
        Ok(GreenNotification::Status {
            id,
            delivery,
            error,
        }) => match record_statuses(&state, vec![(id, delivery, error)]).await {
            Ok(n) => HttpResponse::Ok().json(json!({"statuses": n})),
            Err(e) => unavailable(&format!("database: {e}")),
        },
        Ok(GreenNotification::Message(message)) => {
            answer(&state, take(&state, vec![message]).await)
        }
    }
}

/// `POST /webhooks/gateway/{whatsapp.webhook.inbound_token}`: a JSON gateway's
/// `{"id", "from", "text", "reply_to"}`; 404 for a wrong token.
pub(super) async fn gateway(
    state: State,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let expected = state.config.whatsapp.webhook.inbound_token.expose();
    if expected.is_empty() || !constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        return HttpResponse::NotFound().finish();
    }
    let message = serde_json::from_slice::<Value>(&body)
        .map_err(|e| format!("not JSON: {e}"))
        .and_then(|v| inbound::gateway(&v));
    match message {
        Ok(message) => answer(&state, take(&state, vec![message]).await),
        Err(reason) => bad_request(&state, "gateway", reason),
    }
}

pub(super) fn answer(state: &State, taken: Result<usize, StoreError>) -> HttpResponse {
    match taken {
        Ok(n) => HttpResponse::Ok().json(json!({"replies": n})),
        // Not answered 200: the provider sends it again, and a repeat is harmless.
        Err(e) => {
            slog::error!(state.logger, "a client's reply could not be stored; the provider will send it again";
                "error" => %e);
            unavailable(&format!("database: {e}"))
        }
    }
}

/// Delivery statuses, each moving its notification only forward; returns how
/// many named no message of ours (yet).
pub(super) async fn record_statuses(
    state: &State,
    statuses: Vec<(String, Delivery, Option<String>)>,
) -> Result<usize, StoreError> {
    if statuses.is_empty() {
        // A body of clients' messages only: no trip to the database (4% of the
        // daemon's CPU in `cargo bench --bench replies`' burst).
        return Ok(0);
    }
    let now = Utc::now();
    let salons = state.salons.clone();
    let applied = state
        .db
        .run(move |c| {
            let undelivered = |row: &store::Notification, error: &str| {
                crate::undelivered::effects(&salons, row, error)
            };
            statuses
                .iter()
                .map(|(id, delivery, error)| {
                    let (update, opened) = store::record_delivery(
                        c,
                        id,
                        *delivery,
                        error.as_deref(),
                        now,
                        &undelivered,
                    )?;
                    Ok((*delivery, update, opened))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;
    for (delivery, update, opened) in &applied {
        state.metrics.delivery(delivery.as_str(), update.as_str());
        if let Some(delay) = &state.schedule {
            for (id, due_at) in opened {
                delay.do_send(Schedule {
                    id: *id,
                    due_at: *due_at,
                });
            }
        }
    }
    Ok(applied
        .iter()
        .filter(|(_, u, _)| *u == DeliveryUpdate::Unknown)
        .count())
}
