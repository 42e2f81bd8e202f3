//! The YClients REST API, as `docs/yclients-api.md` sums up what we rely on.

mod error;
mod rate_limit;
mod record;
mod visits;

use std::sync::Arc;
use std::time::Duration;

use awc::http::{header, StatusCode};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::Value;

pub use error::YClientsError;
pub use rate_limit::RateLimiter;
pub use record::{
    lenient_i64, parse_timestamp, Attendance, Client, Record, RecordError, Service, VisitTime,
};
pub use visits::{ReadSlot, WriteSlot};

use crate::config::YClientsConfig;
use crate::domain::{CompanyId, RecordId};
use crate::http_client::{describe, send_get, TlsRoots};

const MAX_BODY: usize = 64 * 1024 * 1024;
/// A runaway pagination guard: 1000 pages of 200 is far beyond one salon's changes.
const MAX_PAGES: u32 = 1000;

/// What one poll of a company brought back.
#[derive(Debug)]
pub struct ChangedRecords {
    /// Every record changed since the cursor, across all pages; those that could
    /// not be read are kept as errors so that none disappears unseen.
    pub records: Vec<Result<Record, RecordError>>,
    /// YClients' own clock (its `Date` header) when the first page was answered:
    /// the next cursor, immune to skew between its clock and ours.
    pub server_time: Option<DateTime<Utc>>,
    /// How far YClients' clock is ahead of ours (negative: behind), read off the
    /// same `Date` header when it arrived; whole seconds, so it errs on the late side.
    pub clock_offset: chrono::Duration,
    /// When the first page was answered (with `server_time`: YClients' clock then).
    pub answered: std::time::Instant,
    pub requests: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompanyInfo {
    pub title: String,
    pub address: String,
    pub timezone: Option<String>,
}

pub struct YClients {
    http: awc::Client,
    /// For a new connection when a pooled one turns out closed.
    tls: TlsRoots,
    base_url: String,
    authorization: String,
    partner_id: Option<i64>,
    /// The `Accept` header (`yclients.accept`).
    accept: String,
    page_size: u32,
    timeout: Duration,
    limiter: Arc<RateLimiter>,
}

impl YClients {
    pub fn new(config: &YClientsConfig, tls: &TlsRoots, limiter: Arc<RateLimiter>) -> YClients {
        let timeout = Duration::from_millis(config.request_timeout_ms);
        YClients {
            http: tls.client(timeout),
            tls: tls.clone(),
            base_url: config.base_url.trim_end_matches('/').to_string(),
            authorization: format!(
                "Bearer {}, User {}",
                config.partner_token.expose(),
                config.user_token.expose()
            ),
            partner_id: config.partner_id.filter(|id| *id != 0),
            accept: config.accept.clone(),
            page_size: config.page_size,
            timeout,
            limiter,
        }
    }

    /// Every record created, changed or deleted after `since`, all pages.
    pub async fn records_changed_after(
        &self,
        company: CompanyId,
        since: DateTime<FixedOffset>,
    ) -> Result<ChangedRecords, YClientsError> {
        let since = since.format("%Y-%m-%dT%H:%M:%S%:z").to_string();
        // Deleted records too: a deletion is news (a cancellation) to announce.
        self.list(company, &[("changed_after", &since), ("with_deleted", "1")])
            .await
    }

    /// Every booking whose visit falls on `from ..= to` (salon-local dates), all
    /// pages: the baseline taken when monitoring of a company begins.
    pub async fn records_visiting(
        &self,
        company: CompanyId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<ChangedRecords, YClientsError> {
        let (from, to) = (from.to_string(), to.to_string());
        self.list(company, &[("start_date", &from), ("end_date", &to)])
            .await
    }

    async fn list(
        &self,
        company: CompanyId,
        filters: &[(&str, &str)],
    ) -> Result<ChangedRecords, YClientsError> {
        let count = self.page_size.to_string();
        let mut out = ChangedRecords {
            records: Vec::new(),
            server_time: None,
            clock_offset: chrono::Duration::zero(),
            answered: std::time::Instant::now(),
            requests: 0,
        };
        for page in 1..=MAX_PAGES {
            let page_str = page.to_string();
            let mut query: Vec<(&str, &str)> = filters.to_vec();
            query.extend([
                ("page", page_str.as_str()),
                ("count", count.as_str()),
                ("include_consumables", "0"),
                ("include_finance_transactions", "0"),
            ]);
            let (body, date) = self
                .get(&format!("/api/v1/records/{company}"), &query)
                .await?;
            out.requests += 1;
            if page == 1 {
                out.answered = std::time::Instant::now();
                out.server_time = date;
                out.clock_offset = date.map(|d| d - Utc::now()).unwrap_or_default();
            }
            let Page {
                records,
                total_count: total,
            } = read_page(&body)?;
            let got = records.len();
            out.records.extend(records);
            let done = match total {
                Some(total) => out.records.len() >= total || got == 0,
                None => got < self.page_size as usize,
            };
            if done {
                return Ok(out);
            }
        }
        Err(YClientsError::Malformed(format!(
            "records: more than {MAX_PAGES} pages"
        )))
    }

    /// One request for the newest records: can this user read them at all?
    pub async fn probe_records(&self, company: CompanyId) -> Result<(), YClientsError> {
        let since = (Utc::now() - chrono::Duration::hours(1))
            .format("%Y-%m-%dT%H:%M:%S+00:00")
            .to_string();
        let query = [
            ("changed_after", since.as_str()),
            ("page", "1"),
            ("count", "1"),
        ];
        self.get(&format!("/api/v1/records/{company}"), &query)
            .await
            .map(drop)
    }

    /// One record as it stands now; `None` when YClients says it is gone (404).
    pub async fn record(
        &self,
        company: CompanyId,
        id: RecordId,
    ) -> Result<Option<Record>, YClientsError> {
        self.limiter.acquire().await;
        self.read_record(company, id).await
    }

    /// `record`, but only if the request budget has room to spare right now (see
    /// `RateLimiter::try_take_spare`); `None` without asking otherwise.
    pub async fn record_if_spare(
        &self,
        company: CompanyId,
        id: RecordId,
    ) -> Option<Result<Option<Record>, YClientsError>> {
        if !self.limiter.try_take_spare() {
            return None;
        }
        Some(self.read_record(company, id).await)
    }

    /// The request itself; its rate-limiter slot is already taken.
    async fn read_record(
        &self,
        company: CompanyId,
        id: RecordId,
    ) -> Result<Option<Record>, YClientsError> {
        match self
            .get_in_slot(&format!("/api/v1/record/{company}/{id}"), &[])
            .await
        {
            Ok((body, _)) => {
                let data = body.get("data").cloned().unwrap_or(Value::Null);
                if data.is_null() {
                    return Ok(None);
                }
                Record::from_json(data)
                    .map(Some)
                    .map_err(|e| YClientsError::Malformed(e.to_string()))
            }
            Err(YClientsError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The salon's webhook settings (`data`: `urls`, `active`, `record`…).
    pub async fn hooks_settings(&self, company: CompanyId) -> Result<Value, YClientsError> {
        let (body, _) = self
            .get(&format!("/api/v1/hooks_settings/{company}"), &[])
            .await?;
        Ok(body.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Writes the salon's webhook settings.
    pub async fn set_hooks_settings(
        &self,
        company: CompanyId,
        settings: &Value,
    ) -> Result<(), YClientsError> {
        self.post(&format!("/api/v1/hooks_settings/{company}"), settings)
            .await
            .map(drop)
    }

    pub async fn company(&self, company: CompanyId) -> Result<CompanyInfo, YClientsError> {
        let (body, _) = self.get(&format!("/api/v1/company/{company}"), &[]).await?;
        let data = body
            .get("data")
            .filter(|d| d.is_object())
            .ok_or_else(|| YClientsError::Malformed("company: no data object".into()))?;
        let text = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        Ok(CompanyInfo {
            title: text("title"),
            address: text("address"),
            timezone: Some(text("timezone_name")).filter(|t| !t.is_empty()),
        })
    }

    async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(Value, Option<DateTime<Utc>>), YClientsError> {
        self.limiter.acquire().await;
        self.get_in_slot(path, query).await
    }

    async fn get_in_slot(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(Value, Option<DateTime<Utc>>), YClientsError> {
        let mut request = self.request(self.http.get(format!("{}{}", self.base_url, path)));
        if !query.is_empty() {
            request = request
                .query(&query)
                .map_err(|e| YClientsError::Transport(e.to_string()))?;
        }
        let fresh = || self.tls.client(self.timeout);
        let response = send_get(request, fresh)
            .await
            .map_err(|e| self.send_error(e))?;
        self.answer(response).await
    }

    /// A POST: never sent twice by us (YClients may have acted on the first).
    async fn post(&self, path: &str, body: &Value) -> Result<Value, YClientsError> {
        self.limiter.acquire().await;
        let request = self.request(self.http.post(format!("{}{}", self.base_url, path)));
        let response = request
            .send_json(body)
            .await
            .map_err(|e| self.send_error(e))?;
        self.answer(response).await.map(|(json, _)| json)
    }

    /// YClients' headers on a request.
    fn request(&self, request: awc::ClientRequest) -> awc::ClientRequest {
        let request = request
            .insert_header((header::ACCEPT, self.accept.as_str()))
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header((header::AUTHORIZATION, self.authorization.as_str()));
        match self.partner_id {
            Some(partner_id) => request.insert_header(("X-Partner-Id", partner_id.to_string())),
            None => request,
        }
    }

    fn send_error(&self, e: awc::error::SendRequestError) -> YClientsError {
        match e {
            awc::error::SendRequestError::Timeout => YClientsError::Timeout(self.timeout),
            other => YClientsError::Transport(describe(&other)),
        }
    }

    /// YClients' answer: its JSON and its clock (`Date`), or a typed error.
    async fn answer<S>(
        &self,
        mut response: awc::ClientResponse<S>,
    ) -> Result<(Value, Option<DateTime<Utc>>), YClientsError>
    where
        S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
    {
        let status = response.status();
        let date = response
            .headers()
            .get(header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|d| d.with_timezone(&Utc));
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.body().limit(MAX_BODY).await.map_err(|e| match e {
            awc::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                YClientsError::Timeout(self.timeout)
            }
            other => YClientsError::Transport(format!("reading the answer: {other}")),
        })?;
        let json: Result<Value, _> = serde_json::from_slice(&body);
        let message = json
            .as_ref()
            .ok()
            .and_then(error_message)
            .unwrap_or_else(|| snippet(&body));
        match status {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(YClientsError::Unauthorized {
                    status: status.as_u16(),
                    message: message.clone(),
                })
            }
            StatusCode::NOT_FOUND => return Err(YClientsError::NotFound),
            StatusCode::TOO_MANY_REQUESTS => {
                self.limiter
                    .pause_for(retry_after.unwrap_or(Duration::from_secs(1)));
                return Err(YClientsError::RateLimited { retry_after });
            }
            s if s.is_server_error() => {
                return Err(YClientsError::Server {
                    status: s.as_u16(),
                    message: message.clone(),
                })
            }
            s => {
                return Err(YClientsError::Malformed(format!(
                    "unexpected status {}: {}",
                    s.as_u16(),
                    message
                )))
            }
        }
        let json =
            json.map_err(|e| YClientsError::Malformed(format!("{e}: {}", snippet(&body))))?;
        if json.get("success") == Some(&Value::Bool(false)) {
            return Err(YClientsError::Malformed(format!(
                "success: false: {message}"
            )));
        }
        Ok((json, date))
    }
}

pub struct Page {
    pub records: Vec<Result<Record, RecordError>>,
    pub total_count: Option<usize>,
}

/// One page of a records list: its records (each read on its own, so one bad record
/// does not hide the others) and `meta.total_count`.
pub fn read_page(body: &Value) -> Result<Page, YClientsError> {
    let items = match body.get("data") {
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => {
            return Err(YClientsError::Malformed(format!(
                "records: data is not a list but {}",
                type_name(other)
            )))
        }
    };
    let total = body
        .pointer("/meta/total_count")
        .and_then(record::lenient_i64)
        .map(|t| t.max(0) as usize);
    Ok(Page {
        records: items.into_iter().map(Record::from_json).collect(),
        total_count: total,
    })
}

/// YClients puts its reason in `meta.message` or `errors.message`.
fn error_message(body: &Value) -> Option<String> {
    body.pointer("/meta/message")
        .or_else(|| body.pointer("/errors/message"))
        .or_else(|| body.get("message"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
