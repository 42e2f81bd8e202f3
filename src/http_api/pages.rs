//! The staff's pages and their JSON: every salon's (`/`, `/status`: the operator's,
//! behind `http.token` once `http.listen` is not a loopback address) and each
//! salon's own (`/salons/{id}`, `/salons/{id}/status`: behind that salon's
//! `staff_token`, showing nothing of another salon). A token comes as a bearer
//! header, or once as `?token=` after which a cookie carries it.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::api_state::State;
use crate::config::{Config, Secret};
use crate::domain::CompanyId;
use crate::status;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(page))
        .route("/status", web::get().to(status_json))
        .route("/salons/{company}", web::get().to(salon_page))
        .route("/salons/{company}/status", web::get().to(salon_status));
}

#[derive(Deserialize)]
struct Login {
    token: Option<String>,
}

/// The cookie that carries a page's token after its one-time `?token=` login.
fn cookie_name(company: Option<CompanyId>) -> String {
    match company {
        Some(c) => format!("bm_salon_{}", c.0),
        None => "bm_operator".into(),
    }
}

/// The token a request carries: a bearer header, the page's cookie, or `?token=`.
fn given<'a>(req: &'a HttpRequest, login: &'a Login, cookie: &str) -> Option<String> {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    bearer
        .or_else(|| cookie_value(req, cookie))
        .or_else(|| login.token.clone())
}

/// A cookie's value, read from the `Cookie` header (`a=1; b=2`).
fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Who may see a page: `Ok(true)` when a `?token=` login should set the cookie.
enum Access {
    Allowed { login: bool },
    Refused,
}

fn check(
    req: &HttpRequest,
    login: &Login,
    company: Option<CompanyId>,
    expected: Option<&Secret>,
) -> Access {
    let Some(expected) = expected else {
        return Access::Allowed { login: false };
    };
    match given(req, login, &cookie_name(company)) {
        Some(token) if expected.matches(&token) => Access::Allowed {
            login: login.token.as_deref() == Some(token.as_str()),
        },
        _ => Access::Refused,
    }
}

/// The operator's pages need `http.token` once `http.listen` is not a loopback
/// address (anyone on the network could read every salon's clients otherwise).
fn operator_token(config: &Config) -> Option<&Secret> {
    let http = config.http.as_ref()?;
    let listen = http.listen?;
    (!listen.ip().is_loopback()).then_some(&http.token)
}

/// A salon's own token; a salon without one (or an unknown id) has no page.
fn salon_token(config: &Config, company: CompanyId) -> Option<&Secret> {
    config
        .company(company)
        .map(|c| &c.staff_token)
        .filter(|t| !t.is_empty())
}

fn refused() -> HttpResponse {
    // The same answer for a wrong token, a missing one, and a salon that does not
    // exist: nothing tells one salon from another.
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .json(json!({"error": "missing or wrong token"}))
}

/// After a `?token=` login: the cookie set, and the address without the token.
fn logged_in(path: &str, company: Option<CompanyId>, token: &str) -> HttpResponse {
    let scope = match company {
        Some(c) => format!("/salons/{}", c.0),
        None => "/".into(),
    };
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, path.to_string()))
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{}={token}; Path={scope}; HttpOnly; SameSite=Strict; Max-Age=2592000",
                cookie_name(company)
            ),
        ))
        .finish()
}

async fn report(state: &State, company: Option<CompanyId>) -> Result<status::Report, HttpResponse> {
    let config = state.config();
    let mut report = state
        .db
        .run_once(move |conn| status::read_for(conn, &config, company))
        .await
        .map_err(|e| HttpResponse::ServiceUnavailable().body(format!("database: {e}\n")))?;
    for c in &mut report.companies {
        let salon = state.salons.known(CompanyId(c.company_id));
        if c.name.is_none() {
            c.name = Some(salon.title).filter(|t| !t.is_empty());
        }
        // The zone YClients gave, where the config does not say.
        c.timezone = salon.timezone.name().to_string();
    }
    Ok(report)
}

async fn render(state: &State, company: Option<CompanyId>, html: bool) -> HttpResponse {
    match report(state, company).await {
        Ok(report) if html => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(status::render_html(&report)),
        Ok(report) => HttpResponse::Ok().json(report),
        Err(response) => response,
    }
}

async fn serve(
    state: State,
    req: HttpRequest,
    login: Login,
    company: Option<CompanyId>,
    html: bool,
) -> HttpResponse {
    let config = state.config();
    let expected = match company {
        Some(c) => match salon_token(&config, c) {
            Some(token) => Some(token),
            None => return refused(),
        },
        None => operator_token(&config),
    };
    match check(&req, &login, company, expected) {
        Access::Refused => refused(),
        Access::Allowed { login: true } if html => {
            logged_in(req.path(), company, login.token.as_deref().unwrap_or(""))
        }
        Access::Allowed { .. } => render(&state, company, html).await,
    }
}

async fn page(state: State, req: HttpRequest, login: web::Query<Login>) -> HttpResponse {
    serve(state, req, login.into_inner(), None, true).await
}

async fn status_json(state: State, req: HttpRequest, login: web::Query<Login>) -> HttpResponse {
    serve(state, req, login.into_inner(), None, false).await
}

async fn salon_page(
    state: State,
    req: HttpRequest,
    path: web::Path<i64>,
    login: web::Query<Login>,
) -> HttpResponse {
    let company = CompanyId(path.into_inner());
    serve(state, req, login.into_inner(), Some(company), true).await
}

async fn salon_status(
    state: State,
    req: HttpRequest,
    path: web::Path<i64>,
    login: web::Query<Login>,
) -> HttpResponse {
    let company = CompanyId(path.into_inner());
    serve(state, req, login.into_inner(), Some(company), false).await
}
