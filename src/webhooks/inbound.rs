//! Clients' messages in: Meta's (on the signed `/webhooks/whatsapp`, beside the
//! statuses), Green API's (`/webhooks/green-api/{token}`, with its delivery
//! statuses) and a JSON gateway's (`/webhooks/gateway/{token}`). Each message is
//! kept once by its provider id and answered 200 only after it and the effects it
//! calls for are committed; the rows it opens are then timed by the delay actor.
//! What is not a reply is counted and left, but a changed number is noted for the
//! staff's page, and a sender's suspended sending (Green API's `yellowCard`) is
//! told to its salons' staff once a day.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde_json::{json, Value};

use super::{bad_request, unavailable};
use crate::api_state::State;
use crate::config::{Config, ProviderKind, Sender};
use crate::domain::{mask_phone, CompanyId, Delivery};
use crate::messages::Schedule;
use crate::replies::inbound::{self, GreenNotification, Inbound, Incoming, NumberChange};
use crate::store::{self, DeliveryUpdate, StoreError};
use crate::webhooks::reply_batch::Arrival;

/// Which of our senders got a message: one we know (and the one salon it serves,
/// if only one), or a number we do not know.
#[derive(Clone)]
pub(super) enum Route {
    Ours(Arrival),
    Unknown,
}

impl Route {
    fn of(config: &Config, sender: &Sender) -> Route {
        Route::Ours(Arrival {
            only_salon: sender.only_salon(),
            sender: config.scope_of(sender),
        })
    }
}

/// Takes what a Cloud API body carries from clients: the messages as `take`
/// does; a changed number noted (once) for the staff's page; anything else that is
/// not a reply counted and left. `route` names our sender by its number's id.
pub(super) async fn take_cloud(
    state: &State,
    incoming: Vec<Incoming>,
    route: impl Fn(Option<&str>) -> Route,
) -> Result<usize, String> {
    let mut messages = Vec::new();
    for item in incoming {
        match item {
            Incoming::Message(message) => messages.push(message),
            Incoming::NumberChanged(change) => {
                if let Route::Ours(arrival) = route(change.sender.as_deref()) {
                    note_number_change(state, change, arrival.only_salon).await?;
                }
            }
            Incoming::NotAReply(what) => {
                state.metrics.reply("not_a_reply");
                slog::debug!(state.logger, "not a client's reply: left"; "what" => what);
            }
        }
    }
    take(state, messages, |m| route(m.sender.as_deref())).await
}

async fn note_number_change(
    state: &State,
    change: NumberChange,
    company: Option<CompanyId>,
) -> Result<(), String> {
    state.metrics.reply("not_a_reply");
    let (old, new) = (
        change.old.digits().to_string(),
        change.new.digits().to_string(),
    );
    let noted = state
        .db
        .run(move |c| {
            let sender = change.sender.as_deref();
            store::note_number_change(c, &old, &new, sender, company, change.at, Utc::now())
        })
        .await
        .map_err(|e| e.to_string())?;
    if noted {
        slog::info!(state.logger, "a client's WhatsApp number changed: noted for the staff's page";
            "phone" => %change.old, "company_id" => company.map(|c| c.0));
    }
    Ok(())
}

/// Takes each message: kept, decided, its effects written; then timed. `route`
/// says which of our senders got it; one for a number we do not know is counted
/// and left.
pub(super) async fn take(
    state: &State,
    messages: Vec<Inbound>,
    route: impl Fn(&Inbound) -> Route,
) -> Result<usize, String> {
    let batcher = &state.replies;
    // Every message of the body joins the queue at once: they share a group.
    let mut pending = Vec::new();
    for message in messages {
        // A stop is honoured wherever a client can write to us, replies on or off.
        if !state.config().replies.enabled && !message.meaning().0.is_opt_change() {
            state.metrics.reply("replies_off");
            continue;
        }
        let Route::Ours(arrival) = route(&message) else {
            state.metrics.reply("unknown_number");
            continue;
        };
        pending.push(async move {
            let decided = batcher.take(message.clone(), arrival).await;
            (message, decided)
        });
    }
    let mut taken = 0;
    for (message, decided) in futures_util::future::join_all(pending).await {
        let Some(d) = decided? else {
            state.metrics.reply("repeat");
            continue;
        };
        taken += 1;
        let label = crate::domain::reading(d.intent, d.matched_by);
        state.metrics.reply(label);
        slog::info!(state.logger, "a client's reply was taken"; "reply_id" => d.reply_id,
            "provider" => message.provider, "phone" => mask_phone(message.from.digits()),
            "intent" => d.intent.as_str(), "matched_by" => d.matched_by.as_str(),
            "company_id" => d.company.map(|c| c.0), "record_id" => d.record.map(|r| r.0),
            "effects" => d.scheduled.len());
        if let Some(delay) = &state.schedule {
            for (id, due_at) in d.scheduled {
                delay.do_send(Schedule { id, due_at });
            }
        }
    }
    Ok(taken)
}

/// A Cloud API number of ours, and the one salon it serves. Meta names the
/// number in every callback; one without it is taken for the global sender's.
pub(super) fn cloud_route(config: &Config, phone_number_id: Option<&str>) -> Route {
    let sender = match phone_number_id {
        Some(id) => config.sender_by_id(ProviderKind::CloudApi, id),
        None => config.senders().into_iter().find(|s| s.owner.is_none()),
    };
    match sender {
        Some(sender) => Route::of(config, &sender),
        None => Route::Unknown,
    }
}

/// `POST /webhooks/green-api/{webhook_token}` (the global sender's, or a salon's
/// own): incoming messages and the delivery statuses of ours; 404 for a token no
/// sender has.
pub(super) async fn green_api(
    state: State,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let config = state.config();
    let Some(sender) = config.sender_by_secret(|w| &w.green_api.webhook_token, &token) else {
        return HttpResponse::NotFound().finish();
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => return bad_request(&state, "green-api", format!("not JSON: {e}")),
    };
    // The instance a notification names must be this sender's.
    let instance = value
        .pointer("/instanceData/idInstance")
        .map(|v| v.to_string().trim_matches('"').to_string());
    let ours = sender.config.provider == ProviderKind::GreenApi
        && instance.as_deref() == sender.config.sender_id();
    match inbound::green_api(&value) {
        Err(reason) => bad_request(&state, "green-api", reason),
        Ok(GreenNotification::Ignored(what)) => HttpResponse::Ok().json(json!({"ignored": what})),
        Ok(GreenNotification::Status { delivery, .. }) if !ours => {
            state.metrics.delivery(delivery.as_str(), "unknown_number");
            HttpResponse::Ok().json(json!({"ignored": "not this sender's instance"}))
        }
        Ok(GreenNotification::SendingSuspended { .. }) if !ours => {
            state.metrics.delivery(YELLOW_CARD, "unknown_number");
            HttpResponse::Ok().json(json!({"ignored": "not this sender's instance"}))
        }
        Ok(GreenNotification::Message(_)) if !ours => {
            state.metrics.reply("unknown_number");
            HttpResponse::Ok().json(json!({"ignored": "not this sender's instance"}))
        }
        Ok(GreenNotification::SendingSuspended { description, .. }) => {
            let (id, companies) = (instance.unwrap_or_default(), sender.companies.clone());
            match sending_suspended(&state, id, companies, description).await {
                Ok(()) => HttpResponse::Ok().json(json!({"sending_suspended": true})),
                Err(e) => unavailable(&format!("database: {e}")),
            }
        }
        Ok(GreenNotification::Status {
            id,
            delivery,
            error,
        }) => match record_statuses(&state, vec![(id, delivery, error)]).await {
            Ok(unknown) => HttpResponse::Ok().json(json!({"statuses": 1, "unknown": unknown})),
            Err(e) => unavailable(&format!("database: {e}")),
        },
        Ok(GreenNotification::Message(message)) => {
            let arrival = Route::of(&config, &sender);
            answer(
                &state,
                take(&state, vec![message], |_| arrival.clone()).await,
            )
        }
    }
}

/// Green API's `yellowCard` status, as the metrics name it.
const YELLOW_CARD: &str = "yellow_card";

/// WhatsApp suspended the sending of Green API instance `instance` (spam): logged,
/// counted, and the staff of each salon it serves told once a day.
async fn sending_suspended(
    state: &State,
    instance: String,
    companies: Vec<CompanyId>,
    description: Option<String>,
) -> Result<(), StoreError> {
    slog::warn!(state.logger, "WhatsApp suspended this sender's messages for spam (Green API yellowCard): \
        they wait in Green API's queue for 24 hours; reboot the instance to go on";
        "instance" => &instance, "description" => description.as_deref());
    let now = Utc::now();
    let effects = crate::undelivered::sending_suspended(
        &state.salons,
        &instance,
        &companies,
        description.as_deref(),
        now,
    );
    let opened = state
        .db
        .run(move |c| store::open_effects(c, &effects, now))
        .await?;
    let outcome = if opened.is_empty() {
        "repeat"
    } else {
        "staff_told"
    };
    state.metrics.delivery(YELLOW_CARD, outcome);
    if let Some(delay) = &state.schedule {
        for (id, due_at) in opened {
            delay.do_send(Schedule { id, due_at });
        }
    }
    Ok(())
}

/// `POST /webhooks/gateway/{inbound_token}` (the global sender's, or a salon's
/// own): a JSON gateway's `{"id", "from", "text", "reply_to"}`; 404 for a token no
/// sender has.
pub(super) async fn gateway(
    state: State,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let config = state.config();
    let Some(sender) = config.sender_by_secret(|w| &w.webhook.inbound_token, &token) else {
        return HttpResponse::NotFound().finish();
    };
    let message = serde_json::from_slice::<Value>(&body)
        .map_err(|e| format!("not JSON: {e}"))
        .and_then(|v| inbound::gateway(&v));
    let arrival = Route::of(&config, &sender);
    match message {
        Ok(message) => answer(
            &state,
            take(&state, vec![message], |_| arrival.clone()).await,
        ),
        Err(reason) => bad_request(&state, "gateway", reason),
    }
}

pub(super) fn answer(state: &State, taken: Result<usize, String>) -> HttpResponse {
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
    let (salons, config) = (state.salons.clone(), state.config());
    let applied = state
        .db
        .run(move |c| {
            let undelivered = |row: &store::Notification, error: &str| {
                crate::undelivered::effects(&config, &salons, row, error)
            };
            statuses
                .iter()
                .map(|(id, delivery, error)| {
                    let recorded = store::record_delivery(
                        c,
                        id,
                        *delivery,
                        error.as_deref(),
                        now,
                        &undelivered,
                    )?;
                    Ok((*delivery, recorded))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;
    for (delivery, recorded) in &applied {
        state
            .metrics
            .delivery(delivery.as_str(), recorded.update.as_str());
        if recorded.after_sms {
            let provider = state.config().fallback.provider.as_str();
            state.metrics.fallback(provider, "both");
        }
        if let Some(delay) = &state.schedule {
            for (id, due_at) in &recorded.opened {
                delay.do_send(Schedule {
                    id: *id,
                    due_at: *due_at,
                });
            }
        }
    }
    Ok(applied
        .iter()
        .filter(|(_, r)| r.update == DeliveryUpdate::Unknown)
        .count())
}
