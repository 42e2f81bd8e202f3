//! The simulator's other outgoing channels: a Telegram Bot API for staff alerts and
//! the SMS providers of the fallback (SMS.ru, SMSC.ru, a webhook gateway), each
//! answering as `docs/` describes, keeping what it accepted in `World`, and taking
//! injected faults (`telegram_faults`, `sms_faults`) like the WhatsApp endpoints.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::answer::{addressed, aimed_at, arrived, faulted, log};
use super::{Fault, Simulator, State, World};

/// A message the fake Telegram accepted.
#[derive(Debug, Clone)]
pub struct TelegramMessage {
    pub at: DateTime<Utc>,
    pub chat_id: i64,
    pub text: String,
    /// The whole request body (`disable_web_page_preview` and all).
    pub body: Value,
}

/// An SMS a fake provider accepted.
#[derive(Debug, Clone)]
pub struct SentSms {
    pub at: DateTime<Utc>,
    /// When its request arrived (see `SentMessage::arrived`).
    pub arrived: std::time::Instant,
    /// `sms_ru`, `smsc` or `webhook`.
    pub provider: &'static str,
    pub phone: String,
    pub text: String,
    /// The form (as a JSON object) or the JSON body, as received.
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/telegram/bot{token}/sendMessage", web::post().to(telegram))
        .route("/smsru/sms/send", web::post().to(sms_ru))
        .route("/smsc/sys/send.php", web::post().to(smsc))
        .route("/sms-webhook/send", web::post().to(sms_webhook));
}

type Data = web::Data<State>;
type Form = web::Form<HashMap<String, String>>;

fn telegram_fault(w: &mut World, _target: &str) -> Option<Fault> {
    w.telegram_faults.pop_front()
}

/// A fault aimed at this request (by its number), else the next queued one.
fn sms_fault(w: &mut World, target: &str) -> Option<Fault> {
    aimed_at(&mut w.sms_faults_for, target).or_else(|| w.sms_faults.pop_front())
}

async fn telegram(
    state: Data,
    req: HttpRequest,
    token: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let (token, body) = (token.into_inner(), body.into_inner());
    faulted(&state, &req, telegram_fault, || {
        let refuse = |status: u16, description: &str| {
            log(&state, &req, status);
            HttpResponse::build(StatusCode::from_u16(status).expect("a status")).json(
                json!({"ok": false, "error_code": status, "description": description}),
            )
        };
        // Telegram cannot even route a token without the `id:secret` shape.
        if !token.contains(':') {
            return refuse(404, "Not Found");
        }
        let chat_id = body["chat_id"].as_i64();
        let (accepted_token, missing) = {
            let w = state.world.lock().expect("simulator lock");
            let missing = chat_id.is_some_and(|c| w.telegram_missing_chats.contains(&c));
            (w.telegram_token.clone(), missing)
        };
        if accepted_token.is_some_and(|t| t != token) {
            return refuse(401, "Unauthorized");
        }
        let Some(chat_id) = chat_id else {
            return refuse(400, "Bad Request: chat_id is empty");
        };
        let text = body["text"].as_str().unwrap_or_default().to_string();
        if text.is_empty() {
            return refuse(400, "Bad Request: message text is empty");
        }
        if missing {
            return refuse(400, "Bad Request: chat not found");
        }
        log(&state, &req, 200);
        let now = Utc::now();
        let message_id = state.change(|w| {
            w.telegram.push(TelegramMessage {
                at: now,
                chat_id,
                text: text.clone(),
                body: body.clone(),
            });
            w.telegram.len()
        });
        HttpResponse::Ok().json(json!({"ok": true, "result": {
            "message_id": message_id,
            "from": {"id": 1, "is_bot": true, "first_name": "booking-monitor", "username": "booking_monitor_bot"},
            "chat": {"id": chat_id, "title": "Салон", "type": "supergroup"},
            "date": now.timestamp(), "text": text}}))
    })
    .await
}

/// Keeps an accepted SMS; returns how many there are now.
fn accept(
    state: &State,
    req: &HttpRequest,
    provider: &'static str,
    phone: &str,
    text: &str,
    body: Value,
) -> usize {
    log(state, req, 200);
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    state.change(|w| {
        w.sms.push(SentSms {
            at: Utc::now(),
            arrived: arrived(req),
            provider,
            phone: phone.to_string(),
            text: text.to_string(),
            body,
            authorization,
        });
        w.sms.len()
    })
}

fn refused(state: &State, phone: &str) -> bool {
    let w = state.world.lock().expect("simulator lock");
    w.sms_refused_phones.contains(phone)
}

fn field<'a>(form: &'a HashMap<String, String>, key: &str) -> &'a str {
    form.get(key).map(String::as_str).unwrap_or_default()
}

/// SMS.ru answers 200 whatever happened; without `json=1`, in lines of text.
async fn sms_ru(state: Data, req: HttpRequest, form: Form) -> HttpResponse {
    let form = form.into_inner();
    addressed(&req, field(&form, "to"));
    faulted(&state, &req, sms_fault, || {
        if field(&form, "json") != "1" {
            log(&state, &req, 200);
            return HttpResponse::Ok().body("100\n000000-10000000\nbalance=4122.56");
        }
        if field(&form, "api_id").is_empty() {
            log(&state, &req, 200);
            return HttpResponse::Ok().json(json!({"status": "ERROR", "status_code": 200,
                "status_text": "Неправильный api_id"}));
        }
        let phone = field(&form, "to");
        let result = if refused(&state, phone) {
            log(&state, &req, 200);
            json!({"status": "ERROR", "status_code": 207,
                "status_text": "На этот номер нельзя отправлять сообщения"})
        } else {
            let n = accept(&state, &req, "sms_ru", phone, field(&form, "msg"), json!(form));
            json!({"status": "OK", "status_code": 100, "sms_id": format!("000000-{}", 10_000_000 + n)})
        };
        HttpResponse::Ok().json(json!({"status": "OK", "status_code": 100,
            "sms": {phone: result}, "balance": 4122.56}))
    })
    .await
}

/// SMSC.ru answers 200 whatever happened; with `fmt=3`, in JSON.
async fn smsc(state: Data, req: HttpRequest, form: Form) -> HttpResponse {
    let form = form.into_inner();
    addressed(&req, field(&form, "phones"));
    faulted(&state, &req, sms_fault, || {
        if field(&form, "fmt") != "3" {
            log(&state, &req, 200);
            return HttpResponse::Ok().body("OK - 1 SMS, ID - 1");
        }
        let error = |code: u16, text: &str| {
            log(&state, &req, 200);
            HttpResponse::Ok().json(json!({"error": text, "error_code": code}))
        };
        if field(&form, "login").is_empty() || field(&form, "psw").is_empty() {
            return error(2, "authorise error");
        }
        let (phone, text) = (field(&form, "phones"), field(&form, "mes"));
        if text.is_empty() {
            return error(1, "parameters error");
        }
        if refused(&state, phone) {
            return error(8, "message cannot be delivered");
        }
        let parts = crate::sms::segments(text).parts;
        let n = accept(&state, &req, "smsc", phone, text, json!(form));
        HttpResponse::Ok().json(json!({"id": n, "cnt": parts}))
    })
    .await
}

async fn sms_webhook(state: Data, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let body = body.into_inner();
    addressed(&req, body["phone"].as_str().unwrap_or_default());
    faulted(&state, &req, sms_fault, || {
        let phone = body["phone"].as_str().unwrap_or_default();
        let text = body["text"].as_str().unwrap_or_default();
        if phone.is_empty() || text.is_empty() || refused(&state, phone) {
            log(&state, &req, 400);
            return HttpResponse::BadRequest().json(json!({"error": "refused"}));
        }
        let n = accept(&state, &req, "webhook", phone, text, body.clone());
        HttpResponse::Ok().json(json!({"id": format!("sms-{n}")}))
    })
    .await
}

impl Simulator {
    /// `staff.telegram_api_base_url`: `/bot{token}/sendMessage` is appended.
    pub fn telegram_url(&self) -> String {
        format!("{}/telegram", self.base_url())
    }
    /// `fallback.sms_ru.base_url`.
    pub fn sms_ru_url(&self) -> String {
        format!("{}/smsru", self.base_url())
    }
    /// `fallback.smsc.base_url`.
    pub fn smsc_url(&self) -> String {
        format!("{}/smsc", self.base_url())
    }
    /// `fallback.webhook.url`.
    pub fn sms_webhook_url(&self) -> String {
        format!("{}/sms-webhook/send", self.base_url())
    }

    /// Awaits `n` accepted Telegram messages in all.
    pub async fn wait_for_telegram(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<TelegramMessage>, String> {
        self.wait_until(timeout, |w| {
            (w.telegram.len() >= n).then(|| w.telegram.clone())
        })
        .await
    }

    /// Awaits `n` accepted SMS in all, whichever provider.
    pub async fn wait_for_sms(&self, n: usize, timeout: Duration) -> Result<Vec<SentSms>, String> {
        self.wait_until(timeout, |w| (w.sms.len() >= n).then(|| w.sms.clone()))
            .await
    }
}
