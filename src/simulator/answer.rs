//! How the simulator answers: injected faults first (a status, or an answer held
//! back), YClients' refusals of a request without its headers, YClients' envelope
//! with its clock in `Date`, and a log of every request. Shared by every endpoint.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{Fault, Request, State, World};

pub(super) fn log(state: &State, req: &HttpRequest, status: u16) {
    state.change(|w| {
        w.requests.push(Request {
            at: Instant::now(),
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            status,
            partner_id: req
                .headers()
                .get("X-Partner-Id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    });
}

/// An injected fault for this request, if one is queued.
enum Injected {
    Answer(HttpResponse),
    Stall(std::time::Duration),
}

fn fault(
    state: &State,
    req: &HttpRequest,
    pick: fn(&mut World, &str) -> Option<Fault>,
) -> Option<Injected> {
    let target = format!("{}?{}", req.path(), req.query_string());
    match state.change(|w| pick(w, &target))? {
        Fault::Stall(duration) => Some(Injected::Stall(duration)),
        Fault::Status {
            status,
            body,
            retry_after,
        } => {
            log(state, req, status);
            let mut response = HttpResponse::build(
                actix_web::http::StatusCode::from_u16(status).expect("a status"),
            );
            if let Some(after) = retry_after {
                response.insert_header((header::RETRY_AFTER, after.to_string()));
            }
            Some(Injected::Answer(
                response.content_type("application/json").body(body),
            ))
        }
    }
}

/// Answers a YClients request: a queued fault, a refusal, or `answer()`'s status
/// and body, stamped with YClients' clock when it is sent.
pub(super) async fn yclients_call(
    state: &State,
    req: &HttpRequest,
    answer: impl FnOnce(&World) -> (u16, Value),
) -> HttpResponse {
    yclients(state, req, answer).await
}

pub(super) async fn yclients(
    state: &State,
    req: &HttpRequest,
    answer: impl FnOnce(&World) -> (u16, Value),
) -> HttpResponse {
    let stall = match fault(state, req, yclients_fault) {
        Some(Injected::Answer(response)) => return response,
        Some(Injected::Stall(duration)) => Some(duration),
        None => None,
    };
    if let Some(refusal) = refuse(state, req) {
        return refusal;
    }
    let (status, body) = answer(&state.world.lock().expect("simulator lock"));
    if let Some(duration) = stall {
        state.change(|w| w.stalled += 1);
        tokio::time::sleep(duration).await;
        state.change(|w| w.stalled -= 1);
    }
    yclients_answer(state, req, status, body)
}

/// Answers a WhatsApp request: a queued fault, or `answer()`.
pub(super) async fn whatsapp(
    state: &State,
    req: &HttpRequest,
    answer: impl FnOnce() -> HttpResponse,
) -> HttpResponse {
    let latency = state.world.lock().expect("simulator lock").whatsapp_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    faulted(state, req, whatsapp_fault, answer).await
}

/// Answers a provider's request: the fault `pick` takes from its queue, or `answer()`.
pub(super) async fn faulted(
    state: &State,
    req: &HttpRequest,
    pick: fn(&mut World, &str) -> Option<Fault>,
    answer: impl FnOnce() -> HttpResponse,
) -> HttpResponse {
    match fault(state, req, pick) {
        Some(Injected::Answer(response)) => response,
        Some(Injected::Stall(duration)) => {
            state.change(|w| w.stalled += 1);
            tokio::time::sleep(duration).await;
            let response = answer();
            state.change(|w| w.stalled -= 1);
            response
        }
        None => answer(),
    }
}

/// A fault aimed at this request (by a piece of its path and query), else the next queued one.
fn yclients_fault(w: &mut World, target: &str) -> Option<Fault> {
    match w
        .yclients_faults_for
        .iter()
        .position(|(part, _)| target.contains(part.as_str()))
    {
        Some(i) => Some(w.yclients_faults_for.remove(i).1),
        None => w.yclients_faults.pop_front(),
    }
}

fn whatsapp_fault(w: &mut World, _target: &str) -> Option<Fault> {
    w.whatsapp_faults.pop_front()
}

/// YClients' envelope, with its clock in the `Date` header.
fn yclients_answer(state: &State, req: &HttpRequest, status: u16, body: Value) -> HttpResponse {
    log(state, req, status);
    let now = state.world.lock().expect("simulator lock").yclients_now();
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"))
        .insert_header((
            header::DATE,
            now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        ))
        .json(body)
}

/// Checks the headers YClients requires; `Some` is the refusal.
fn refuse(state: &State, req: &HttpRequest) -> Option<HttpResponse> {
    let (expected, wanted) = {
        let w = state.world.lock().expect("simulator lock");
        (w.yclients_auth.clone(), w.yclients_accept.clone())
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let authorized = match (&expected, given) {
        (Some(expected), Some(given)) => expected == given,
        (None, Some(given)) => given.starts_with("Bearer ") && given.contains(", User "),
        _ => false,
    };
    if !authorized {
        return Some(yclients_answer(
            state,
            req,
            401,
            json!({
            "errors": {"code": 401, "message": "Необходима авторизация"},
            "meta": {"message": "Необходима авторизация"}}),
        ));
    }
    if accept != Some(wanted.as_deref().unwrap_or(crate::config::YCLIENTS_ACCEPT)) {
        return Some(yclients_answer(
            state,
            req,
            400,
            json!({
            "success": false, "data": null, "meta": {"message": "Неверный Accept"}}),
        ));
    }
    None
}

pub(super) fn not_found(what: &str) -> (u16, Value) {
    (
        404,
        json!({"success": false, "data": null, "meta": {"message": format!("{what} не найдена")}}),
    )
}
