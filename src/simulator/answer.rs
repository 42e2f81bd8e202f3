//! How the simulator answers: injected faults first (a status, or an answer held
//! back), YClients' refusals of a request without its headers, YClients' envelope
//! with its clock in `Date`, and a log of every request. Shared by every endpoint.

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{Arrived, Fault, Held, Request, State, To, World};

/// Notes the number a WhatsApp or SMS request is to: its faults, log and hold name it.
pub(super) fn addressed(req: &HttpRequest, to: &str) {
    req.extensions_mut().insert(To(to.to_string()));
}

pub(super) fn arrived(req: &HttpRequest) -> Instant {
    req.extensions()
        .get::<Arrived>()
        .map_or_else(Instant::now, |a| a.0)
}

fn to(req: &HttpRequest) -> String {
    req.extensions()
        .get::<To>()
        .map(|t| t.0.clone())
        .unwrap_or_default()
}

/// What a keyed fault is matched against: the path and query, and the number.
fn target(req: &HttpRequest) -> String {
    format!("{}?{} to={}", req.path(), req.query_string(), to(req))
}

fn header_text(req: &HttpRequest, name: impl header::AsHeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The request's `Authorization` (which instance sent a message, where each has its own).
pub(super) fn authorization(req: &HttpRequest) -> Option<String> {
    header_text(req, header::AUTHORIZATION)
}

/// A request held back by a stall, listed in `World::held` while it waits (and
/// taken off the list even when the caller hangs up and the wait is dropped).
struct Holding<'a> {
    state: &'a State,
    target: String,
}

impl Holding<'_> {
    async fn hold(state: &State, req: &HttpRequest, duration: Duration) {
        let target = target(req);
        let by = header_text(req, "X-Partner-Id").or_else(|| authorization(req));
        state.change(|w| {
            w.stalled += 1;
            w.held.push(Held {
                target: target.clone(),
                by,
            })
        });
        let _holding = Holding { state, target };
        tokio::time::sleep(duration).await;
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.state.change(|w| {
            w.stalled -= 1;
            if let Some(i) = w.held.iter().position(|h| h.target == self.target) {
                w.held.remove(i);
            }
        });
    }
}

pub(super) fn log(state: &State, req: &HttpRequest, status: u16) {
    state.change(|w| {
        w.requests.push(Request {
            at: Instant::now(),
            arrived: arrived(req),
            to: to(req),
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            status,
            partner_id: header_text(req, "X-Partner-Id"),
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
    let target = target(req);
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
        Holding::hold(state, req, duration).await;
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
            Holding::hold(state, req, duration).await;
            answer()
        }
        None => answer(),
    }
}

/// The first fault of `aimed` whose text the target contains (taken off the list).
pub(super) fn aimed_at(aimed: &mut Vec<(String, Fault)>, target: &str) -> Option<Fault> {
    let i = aimed
        .iter()
        .position(|(part, _)| target.contains(part.as_str()))?;
    Some(aimed.remove(i).1)
}

/// A fault aimed at this request (by a piece of its path and query), else the next queued one.
fn yclients_fault(w: &mut World, target: &str) -> Option<Fault> {
    aimed_at(&mut w.yclients_faults_for, target).or_else(|| w.yclients_faults.pop_front())
}

/// A fault aimed at this request (by its number), else the next queued one.
fn whatsapp_fault(w: &mut World, target: &str) -> Option<Fault> {
    aimed_at(&mut w.whatsapp_faults_for, target).or_else(|| w.whatsapp_faults.pop_front())
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
