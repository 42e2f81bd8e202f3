//! The HTTP side, on `http.listen`: health, readiness, metrics, status, the staff's
//! page, and the booking bot's registrations.

use std::net::SocketAddr;

use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

mod pages;

use crate::api_state::{ApiState, State};
use crate::config::constant_time_eq;

use crate::domain::{CompanyId, RecordId};
use crate::metrics::Snapshot;
use crate::status;
use crate::store;

/// At most this many connections are served at once; more wait in the listen
/// backlog. Each costs its buffers and its request while it waits for a commit:
/// 1,000 YClients webhooks at once took 80 MiB (`cargo bench --bench reach`).
const MAX_CONNECTIONS: usize = 256;

/// Binds and starts the server on the current actix system.
pub fn start(
    listen: SocketAddr,
    state: ApiState,
) -> std::io::Result<(SocketAddr, actix_web::dev::ServerHandle)> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(routes))
        .workers(1)
        .max_connections(MAX_CONNECTIONS)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(listen)?;
    let addr = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    Ok((addr, handle))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .configure(pages::routes)
        .route("/bot-records", web::post().to(bot_records))
        .route("/bot-records", web::delete().to(bot_records))
        .configure(crate::webhooks::routes);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok\n")
}

/// 200 when the database answers and every company's last poll is recent and
/// succeeded; 503 with the reasons otherwise.
async fn readyz(state: State) -> HttpResponse {
    let config = state.config();
    let companies = state
        .db
        .run_once(move |conn| status::companies(conn, &config))
        .await;
    let mut problems = Vec::new();
    match companies {
        Err(e) => problems.push(format!("database: {e}")),
        Ok(companies) => {
            if !state.config().monitor.enabled {
                problems.push("monitoring is disabled (monitor.enabled = false)".to_string());
            }
            if let Some(difference) = state.cluster.disagreement() {
                problems.push(format!("instances disagree: {difference}"));
            }
            if state.config().monitor.enabled && !state.cluster.ready() {
                problems.push(format!(
                    "instance {}: holds {} companies of its fair share of {}",
                    state.cluster.instance_id,
                    state.cluster.held(),
                    state.cluster.fair_share()
                ));
            }
            let interval = state.config().monitor.poll_interval_ms as i64;
            // A failed poll shows as an error at once; silence for three intervals
            // means the polls themselves stopped.
            let stale = chrono::Duration::milliseconds(3 * interval + 5_000);
            for c in &companies {
                match (c.last_poll, c.last_poll_at) {
                    ("never", _) | (_, None) => problems.push(format!(
                        "company {}: not polled successfully yet",
                        c.company_id
                    )),
                    ("failing", _) => problems.push(format!(
                        "company {}: last poll failed: {}",
                        c.company_id,
                        c.last_error.as_deref().unwrap_or("")
                    )),
                    (_, Some(at)) if Utc::now() - at > stale => problems.push(format!(
                        "company {}: last poll {}s ago",
                        c.company_id,
                        (Utc::now() - at).num_seconds()
                    )),
                    _ => {}
                }
            }
        }
    }
    if problems.is_empty() {
        HttpResponse::Ok().json(json!({"ready": true}))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({"ready": false, "problems": problems}))
    }
}

async fn metrics(state: State) -> HttpResponse {
    let read = state
        .db
        .run_once(|conn| {
            Ok((
                store::count_by_kind_and_status(conn, None)?,
                store::poll_states(conn)?,
                store::earliest_open_due(conn)?,
                store::durable_counters(conn)?,
            ))
        })
        .await;
    let (notifications, polls, earliest_open_due, durable) = match read {
        Ok(read) => read,
        Err(e) => return HttpResponse::ServiceUnavailable().body(format!("database: {e}\n")),
    };
    let deliveries = state
        .db
        .run_once(|c| store::count_deliveries(c, None))
        .await
        .unwrap_or_default();
    let config = state.config();
    let companies = config.companies.len() as u64;
    let (leases_held, fair_share) = if state.cluster.is_shared() {
        (
            state.cluster.held() as u64,
            state.cluster.fair_share() as u64,
        )
    } else {
        (companies, companies)
    };
    let last_good_polls = config
        .companies
        .iter()
        .map(|c| {
            let proven = polls.iter().find(|p| p.company_id == c.id);
            (c.id, proven.and_then(|p| p.proven_at).map(|t| t.and_utc()))
        })
        .collect();
    let snapshot = Snapshot {
        now: Utc::now(),
        notifications,
        deliveries,
        yclients_requests: state.limiter.requests(),
        rate_limit_waits: state.limiter.waits(),
        budget_in_use: state.limiter.budget_in_use(),
        spare_polls_per_minute: crate::budget::spare_polls_per_minute(
            &config,
            leases_held as usize,
        ),
        actor_restarts: state.supervision.restarts(),
        leases_held,
        fair_share,
        companies,
        poll_interval: std::time::Duration::from_millis(config.monitor.poll_interval_ms),
        last_good_polls,
        earliest_open_due,
        durable,
        instances_disagreeing: state.cluster.disagreeing() as u64,
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render(&snapshot))
}

#[derive(Deserialize)]
struct BotRecord {
    company_id: i64,
    record_id: i64,
}

/// The bot's requests carry `Authorization: Bearer <http.token>`.
fn authorized(state: &State, req: &HttpRequest) -> bool {
    let Some(http) = &state.config().http else {
        return false;
    };
    let expected = http.token.expose();
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    !expected.is_empty()
        && given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes()))
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .json(json!({"error": "missing or wrong bearer token (http.token)"}))
}

/// `POST` registers, `DELETE` forgets; both need the bearer token.
async fn bot_records(state: State, req: HttpRequest, body: web::Json<BotRecord>) -> HttpResponse {
    if !authorized(&state, &req) {
        return unauthorized();
    }
    let (company, record) = (CompanyId(body.company_id), RecordId(body.record_id));
    let register = req.method() == actix_web::http::Method::POST;
    let changed = state
        .db
        .run(move |c| match register {
            true => store::add_bot_record(c, company, record, Utc::now()),
            false => store::remove_bot_record(c, company, record),
        })
        .await;
    match (register, changed) {
        (true, Ok(true)) => HttpResponse::Created().json(json!({"registered": true})),
        (true, Ok(false)) => HttpResponse::Ok().json(json!({"registered": true, "already": true})),
        (false, Ok(true)) => HttpResponse::Ok().json(json!({"removed": true})),
        (false, Ok(false)) => HttpResponse::NotFound().json(json!({"removed": false})),
        (_, Err(e)) => HttpResponse::ServiceUnavailable().json(json!({"error": e.to_string()})),
    }
}
