//! Each SMS that stood in for an undelivered notice, as `status`, `/status` and
//! the pages show it: with its provider's id (to find it in SMS.ru's or SMSC's own
//! log) and how it ended.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{mask_phone, CompanyId, Kind, Reason, Status};
use crate::store::{self, Conn, Notification, StoreError};

/// How many of the latest SMS are shown.
const LATEST: i64 = 20;

#[derive(Debug, Clone, Serialize)]
pub struct SmsReport {
    pub company_id: i64,
    pub record_id: i64,
    /// Masked (`7916***4567`).
    pub phone: Option<String>,
    pub status: Status,
    /// `sms_ru`, `smsc` or `webhook`, once sent.
    pub provider: Option<String>,
    /// The provider's own id of the message, where it gave one.
    pub provider_id: Option<String>,
    /// Why it did not go (a reason code or the provider's words).
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl SmsReport {
    fn of(row: Notification) -> SmsReport {
        // Stored as `provider:id` (or the provider alone when it gave no id).
        let (provider, provider_id) = match row.provider_message_id.as_deref() {
            Some(stored) => match stored.split_once(':') {
                Some((provider, id)) => (Some(provider.to_string()), Some(id.to_string())),
                None => (Some(stored.to_string()), None),
            },
            None => (None, None),
        };
        SmsReport {
            company_id: row.company_id,
            record_id: row.record_id,
            phone: row.phone.as_deref().map(mask_phone),
            status: row.status,
            provider,
            provider_id,
            reason: row.last_error,
            at: row.updated_at.and_utc(),
        }
    }
}

/// The latest SMS that went or were tried (not those WhatsApp made needless),
/// newest first; with `only`, one salon's.
pub fn read(conn: &mut Conn, only: Option<CompanyId>) -> Result<Vec<SmsReport>, StoreError> {
    let tried = [Status::Sending, Status::Sent, Status::Failed];
    Ok(
        store::recent_of_kind(conn, Kind::Sms, &tried, LATEST, only)?
            .into_iter()
            .map(SmsReport::of)
            .collect(),
    )
}

/// `status`'s lines, each time in its salon's zone.
pub fn render_text(out: &mut String, report: &super::Report) {
    let sms = &report.sms;
    if sms.is_empty() {
        return;
    }
    out.push_str("SMS:\n");
    for s in sms {
        let outcome = match (&s.provider, &s.provider_id, &s.reason) {
            (Some(p), Some(id), _) => format!("{p} id {id}"),
            (Some(p), None, _) => format!("{p} (no id given)"),
            (None, _, Some(reason)) => reason.clone(),
            (None, _, None) => String::new(),
        };
        let line = format!(
            "  {}  {:>8}/{:<10} {:<12} {:<9} {}",
            super::when(Some(s.at), report.zone_of(s.company_id)),
            s.company_id,
            s.record_id,
            s.phone.as_deref().unwrap_or("-"),
            s.status,
            outcome
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// The page's «SMS» list, each time in its salon's zone.
pub fn render_html(out: &mut String, report: &super::Report, escape: fn(&str) -> String) {
    let sms = &report.sms;
    if sms.is_empty() {
        return;
    }
    out.push_str("<h2>SMS вместо WhatsApp</h2>\n<ul>\n");
    for s in sms {
        let (class, outcome) = match s.status {
            Status::Sent => (
                "ok",
                format!(
                    "отправлено через {}, номер у провайдера: {}",
                    provider_label(s.provider.as_deref().unwrap_or("")),
                    s.provider_id.as_deref().unwrap_or("не сообщён")
                ),
            ),
            Status::Failed => ("bad", format!("не отправлено: {}", reason(s))),
            _ => ("muted", "отправляется".to_string()),
        };
        let _ = writeln!(
            out,
            "<li>{} — запись {} ({}): <span class=\"{class}\">{}</span></li>",
            s.at.with_timezone(&report.zone_of(s.company_id))
                .format("%d.%m %H:%M"),
            s.record_id,
            escape(s.phone.as_deref().unwrap_or("")),
            escape(&outcome)
        );
    }
    out.push_str("</ul>\n");
}

fn reason(s: &SmsReport) -> String {
    let reason = s.reason.as_deref().unwrap_or("");
    Reason::parse(reason).map_or_else(|| reason.to_string(), |r| r.label().to_string())
}

fn provider_label(provider: &str) -> &str {
    match provider {
        "sms_ru" => "SMS.ru",
        "smsc" => "SMSC.ru",
        "webhook" => "шлюз",
        other => other,
    }
}
