//! The simulator's HTTP endpoints: YClients' and the WhatsApp providers'.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::answer::{addressed, arrived, authorization, log, not_found, whatsapp, yclients};
use super::{SentMessage, State, World};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/records/{company}", web::get().to(records))
        .route("/api/v1/record/{company}/{record}", web::get().to(record))
        .route("/api/v1/company/{company}", web::get().to(company))
        .route(
            "/api/v1/visits/{visit}/{record}",
            web::put().to(super::visits::put_visit),
        )
        .route(
            "/api/v1/hooks_settings/{company}",
            web::get().to(super::push::get_hooks),
        )
        .route(
            "/api/v1/hooks_settings/{company}",
            web::post().to(super::push::set_hooks),
        )
        .route(
            "/whatsapp/{phone_number_id}/messages",
            web::post().to(cloud_api),
        )
        .route(
            "/whatsapp/{phone_number_id}",
            web::get().to(cloud_api_number),
        )
        .route(
            "/green/waInstance{instance}/getStateInstance/{token}",
            web::get().to(green_api_state),
        )
        .route(
            "/green/waInstance{instance}/sendMessage/{token}",
            web::post().to(green_api),
        )
        .route("/webhook/send", web::post().to(webhook))
        .configure(super::channels::routes);
}

type Data = web::Data<State>;

#[derive(Deserialize)]
struct ListQuery {
    changed_after: Option<String>,
    with_deleted: Option<u8>,
    start_date: Option<chrono::NaiveDate>,
    end_date: Option<chrono::NaiveDate>,
    page: Option<usize>,
    count: Option<usize>,
}

async fn records(
    state: Data,
    req: HttpRequest,
    path: web::Path<i64>,
    query: web::Query<ListQuery>,
) -> HttpResponse {
    let company = path.into_inner();
    yclients(&state, &req, |w| {
        let Some(c) = w.companies.get(&company) else {
            return not_found("Компания");
        };
        let since = query
            .changed_after
            .as_deref()
            .and_then(|s| parse_since(s, c.timezone));
        let matching: Vec<Value> = w
            .records
            .iter()
            .filter(|((cid, _), r)| {
                *cid == company && (query.with_deleted == Some(1) || !World::is_deleted(r))
            })
            .filter(|(_, r)| since.is_none_or(|since| World::changed_at(r) >= since))
            .filter(|(_, r)| {
                let day = World::visit_day(r);
                query.start_date.is_none_or(|from| day >= Some(from))
                    && query.end_date.is_none_or(|to| day.is_some_and(|d| d <= to))
            })
            .map(|(_, r)| r.clone())
            .collect();
        let count = query.count.unwrap_or(50).clamp(1, w.page_cap.max(1));
        let page = query.page.unwrap_or(1).max(1);
        let total = matching.len();
        let records: Vec<Value> = matching
            .into_iter()
            .skip((page - 1) * count)
            .take(count)
            .collect();
        (
            200,
            json!({"success": true, "data": records, "meta": {"page": page, "total_count": total}}),
        )
    })
    .await
}

/// `changed_after` as ISO 8601 with an offset, or the salon's wall clock without one.
fn parse_since(s: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%:z")
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z"))
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S"))
                .ok()?;
            tz.from_local_datetime(&naive)
                .earliest()
                .map(|d| d.with_timezone(&Utc))
        })
}

async fn record(state: Data, req: HttpRequest, path: web::Path<(i64, i64)>) -> HttpResponse {
    let key = path.into_inner();
    yclients(&state, &req, |w| {
        match w.records.get(&key).filter(|r| !World::is_deleted(r)) {
            Some(r) => (200, json!({"success": true, "data": r, "meta": []})),
            None => not_found("Запись"),
        }
    })
    .await
}

async fn company(state: Data, req: HttpRequest, path: web::Path<i64>) -> HttpResponse {
    let id = path.into_inner();
    yclients(&state, &req, |w| {
        let Some(c) = w.companies.get(&id) else {
            return not_found("Компания");
        };
        let mut sample: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/yclients/docs_get_company_200.json"
        ))
        .expect("company sample");
        sample["data"]["id"] = json!(id);
        sample["data"]["title"] = json!(c.title);
        sample["data"]["address"] = json!(c.address);
        sample["data"]["timezone_name"] = json!(c.timezone.name());
        (200, sample)
    })
    .await
}

fn sent(
    state: &State,
    req: &HttpRequest,
    provider: &'static str,
    phone: String,
    text: String,
    body: Value,
) -> usize {
    log(state, req, 200);
    state.change(|w| {
        let n = w.messages.len() + 1;
        w.messages.push(SentMessage {
            at: Utc::now(),
            arrived: arrived(req),
            authorization: authorization(req),
            id: SentMessage::id_for(provider, n),
            // The number or instance it was sent from (in the path).
            sender: req
                .match_info()
                .get("phone_number_id")
                .or_else(|| req.match_info().get("instance"))
                .unwrap_or_default()
                .to_string(),
            provider,
            phone,
            text,
            body,
        });
        n
    })
}

async fn cloud_api(state: Data, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let body = body.into_inner();
    addressed(&req, body["to"].as_str().unwrap_or_default());
    whatsapp(&state, &req, || {
        let bearer = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !bearer.starts_with("Bearer ") || bearer.len() <= 7 {
            log(&state, &req, 401);
            return HttpResponse::Unauthorized().json(json!({"error": {
                "message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190, "fbtrace_id": "sim"}}));
        }
        let to = body["to"].as_str().unwrap_or_default().to_string();
        let text = match body["type"].as_str() {
            Some("text") => body.pointer("/text/body").and_then(Value::as_str).unwrap_or_default().to_string(),
            Some("template") => body
                .pointer("/template/components/0/parameters")
                .and_then(Value::as_array)
                .map(|ps| ps.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(" | "))
                .unwrap_or_default(),
            _ => {
                log(&state, &req, 400);
                return HttpResponse::BadRequest().json(json!({"error": {
                    "message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}}));
            }
        };
        let n = sent(&state, &req, "cloud_api", to.clone(), text, body.clone());
        let wamid = SentMessage::id_for("cloud_api", n);
        let number = req.match_info().get("phone_number_id").unwrap_or_default().to_string();
        super::push::message_accepted(&state.clone().into_inner(), number, wamid.clone(), to.clone());
        HttpResponse::Ok().json(json!({"messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": wamid}]}))
    })
    .await
}

async fn green_api(state: Data, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let body = body.into_inner();
    let phone = body["chatId"]
        .as_str()
        .unwrap_or_default()
        .trim_end_matches("@c.us")
        .to_string();
    addressed(&req, &phone);
    whatsapp(&state, &req, || {
        let text = body["message"].as_str().unwrap_or_default().to_string();
        let n = sent(&state, &req, "green_api", phone, text, body.clone());
        HttpResponse::Ok().json(json!({"idMessage": SentMessage::id_for("green_api", n)}))
    })
    .await
}

async fn webhook(state: Data, req: HttpRequest, body: web::Json<Value>) -> HttpResponse {
    let body = body.into_inner();
    let phone = body["phone"].as_str().unwrap_or_default().to_string();
    addressed(&req, &phone);
    whatsapp(&state, &req, || {
        let text = body["text"].as_str().unwrap_or_default().to_string();
        let n = sent(&state, &req, "webhook", phone, text, body.clone());
        HttpResponse::Ok().json(json!({"id": SentMessage::id_for("webhook", n)}))
    })
    .await
}

async fn cloud_api_number(state: Data, req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    whatsapp(&state, &req, || {
        log(&state, &req, 200);
        HttpResponse::Ok().json(
            json!({"verified_name": "Барбершоп", "display_phone_number": "+7 495 000-00-00",
            "id": path.into_inner(), "quality_rating": "GREEN"}),
        )
    })
    .await
}

async fn green_api_state(state: Data, req: HttpRequest) -> HttpResponse {
    whatsapp(&state, &req, || {
        log(&state, &req, 200);
        HttpResponse::Ok().json(json!({"stateInstance": "authorized"}))
    })
    .await
}
