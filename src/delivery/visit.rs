//! The client confirmed: the visit becomes «Подтвердил» in YClients with one
//! `PUT /api/v1/visits/{visit_id}/{record_id}` (no read first), then the client is
//! answered. Never for a visit that has begun or a booking that is gone (the staff
//! hear instead), never twice: the row is claimed before the write, and the answer
//! opens in the same transaction that settles it.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Delivery, Job};
use crate::domain::{CompanyId, Kind, Reason, RecordId, Status};
use crate::lifecycle::parse_record;
use crate::messages::DueOutcome;
use crate::replies::alert::{self, Alert};
use crate::replies::decide::Answer;
use crate::store::{self, NewNotification, Settled, StoreError};
use crate::whatsapp::SendError;
use crate::yclients::{Attendance, Record, YClientsError};

pub(super) async fn deliver(job: &Job<'_>, now: DateTime<Utc>) -> Result<Delivery, StoreError> {
    let (shared, row) = (job.shared, &job.row);
    let db = &shared.db;
    let (company, record) = (row.company(), row.record());
    if !shared.config.replies.enabled {
        return job
            .finish(Status::Skipped, Reason::RepliesOff.as_str())
            .await;
    }
    let (booking, confirmed) = db
        .run(move |c| {
            Ok((
                store::booking(c, company, record)?,
                store::visit_confirmed(c, company, record)?,
            ))
        })
        .await?;
    let mut json = booking.map_or_else(|| row.record_json.clone(), |b| b.record_json);
    // The budget's slots before the claim, never waited for: a row claimed and
    // then left waiting would count as an attempt and be re-read again.
    let mut write_slot = None;
    if row.attempts > 0 {
        // Tried before: an earlier write may have landed (a kill -9 after YClients
        // answered, before `sent` was committed). One read tells, so the write is
        // not repeated; its slot and the write's are taken together.
        let (read_slot, slot) = match job.clients.yclients.reread_and_write_slots() {
            Ok(slots) => slots,
            Err(wait) => return job.wait_until(later(now, wait)).await,
        };
        write_slot = Some(slot);
        let yclients = &job.clients.yclients;
        match yclients.record_in_slot(read_slot, company, record).await {
            Ok(Some(fresh)) => json = fresh.raw.to_string(),
            Ok(None) => json = "{}".into(),
            Err(e) => {
                let at = Utc::now()
                    + chrono::Duration::milliseconds(shared.config.monitor.retry_initial_ms as i64);
                return job
                    .retry_later(at, format!("re-reading the booking: {e}"))
                    .await;
            }
        }
    }
    let current = parse_record(&json);
    let salon = match shared.salons.get(company, &job.clients.yclients).await {
        Ok(salon) => salon,
        Err(_) => shared.salons.known(company),
    };
    let follow = Follow { job, json: &json };
    let Some(current) = current else {
        return follow.late(&salon).await;
    };
    if confirmed || current.attendance == Attendance::Confirmed {
        shared.metrics.yclients_write("already_confirmed");
        return follow
            .settle(
                Settled::Final {
                    status: Status::Skipped,
                    reason: Reason::AlreadyConfirmed.as_str().into(),
                },
                vec![follow.answer(Answer::Confirmed)],
            )
            .await;
    }
    let visit = current
        .visit
        .map(|v| v.in_zone(salon.timezone).with_timezone(&Utc));
    if current.is_gone() || visit.is_none_or(|v| v <= now) {
        return follow.late(&salon).await;
    }
    let Some(visit_id) = current.raw.get("visit_id").and_then(id_text) else {
        let reason = "the record has no visit_id: it cannot be marked confirmed";
        return follow.failed(&salon, &current, reason).await;
    };
    let comment = current
        .raw
        .get("comment")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let slot = match write_slot.map_or_else(|| job.clients.yclients.write_slot(), Ok) {
        Ok(slot) => slot,
        Err(wait) => return job.wait_until(later(now, wait)).await,
    };
    let phone = row.phone.clone().unwrap_or_default();
    if !job
        .claim(&phone, "attendance 2 (Подтвердил)", &json)
        .await?
    {
        return Ok(Delivery::done());
    }
    match job
        .clients
        .yclients
        .confirm_visit(slot, &visit_id, record, &comment)
        .await
    {
        Ok(()) => {
            shared.metrics.yclients_write("confirmed");
            slog::info!(job.log, "the visit is confirmed in YClients");
            follow
                .settle(
                    Settled::Sent {
                        provider_message_id: None,
                    },
                    vec![follow.answer(Answer::Confirmed)],
                )
                .await
        }
        Err(e) => {
            let attempt = row.attempts as u32 + 1;
            match retryable(&e) {
                Some(error) if attempt < shared.config.monitor.max_attempts => {
                    shared.metrics.yclients_write("retry");
                    job.after_failure(error, false, |_| Vec::new()).await
                }
                _ => follow.failed(&salon, &current, &yclients_words(&e)).await,
            }
        }
    }
}

/// A row to open: its salon, its booking, the row.
type Effect = (CompanyId, RecordId, NewNotification);

/// What follows a settled write: the client's answer, a staff alert.
struct Follow<'a> {
    job: &'a Job<'a>,
    json: &'a str,
}

impl Follow<'_> {
    fn row(&self, kind: Kind, key: String, message: Option<String>) -> Effect {
        let row = &self.job.row;
        (
            row.company(),
            row.record(),
            NewNotification {
                kind,
                key,
                status: Status::Pending,
                phone: row.phone.clone(),
                due_at: Utc::now(),
                reason: None,
                record_json: self.json.to_string(),
                message,
            },
        )
    }

    fn reply(&self) -> i64 {
        self.job.row.notice_key.parse().unwrap_or(0)
    }

    fn answer(&self, answer: Answer) -> Effect {
        if !self.job.shared.config.replies.acknowledge {
            // A row that is never sent: the outbox keeps what was decided.
            let mut row = self.row(Kind::ReplyAnswer, answer.key(self.reply()), None);
            row.2.status = Status::Skipped;
            row.2.reason = Some(Reason::TurnedOff);
            return row;
        }
        self.row(Kind::ReplyAnswer, answer.key(self.reply()), None)
    }

    fn alert(&self, text: String) -> Effect {
        self.row(
            Kind::StaffAlert,
            format!("visit:{}", self.reply()),
            Some(text),
        )
    }

    async fn settle(&self, how: Settled, follow_ups: Vec<Effect>) -> Result<Delivery, StoreError> {
        let id = self.job.id();
        let opened = self
            .job
            .shared
            .db
            .run(move |c| store::settle_effect(c, id, &how, &follow_ups, Utc::now()))
            .await?;
        Ok(Delivery {
            outcome: DueOutcome::Opened(opened),
            pause: None,
        })
    }

    /// The visit began, or the booking is gone: nothing to confirm; the staff hear.
    async fn late(&self, salon: &crate::text::Salon) -> Result<Delivery, StoreError> {
        let record = parse_record(self.json);
        let text = match &record {
            Some(r) => alert::write_failed_text(
                salon,
                self.job.row.phone.as_deref().unwrap_or(""),
                r,
                "визит уже начался или запись удалена",
            ),
            None => format!("{}: {}", salon.title, Alert::LateConfirmation.headline()),
        };
        self.settle(
            Settled::Final {
                status: Status::Skipped,
                reason: Reason::VisitBegun.as_str().into(),
            },
            vec![self.alert(text), self.answer(Answer::Forwarded)],
        )
        .await
    }

    /// YClients refused for good: `failed` with its words, and the staff hear.
    async fn failed(
        &self,
        salon: &crate::text::Salon,
        record: &Record,
        reason: &str,
    ) -> Result<Delivery, StoreError> {
        self.job.shared.metrics.yclients_write("failed");
        slog::error!(self.job.log, "YClients refused to mark the visit confirmed"; "error" => reason);
        let phone = self.job.row.phone.as_deref().unwrap_or("");
        let text = alert::write_failed_text(salon, phone, record, reason);
        self.settle(
            Settled::Final {
                status: Status::Failed,
                reason: reason.into(),
            },
            vec![self.alert(text), self.answer(Answer::Forwarded)],
        )
        .await
    }
}

/// 429, 5xx, timeouts and lost connections are worth trying again, within
/// YClients' budget (every try waits for the rate limiter); the rest are final.
fn retryable(e: &YClientsError) -> Option<SendError> {
    match e {
        YClientsError::RateLimited { retry_after } => Some(SendError::Retryable {
            reason: e.to_string(),
            retry_after: *retry_after,
        }),
        YClientsError::Server { .. } | YClientsError::Timeout(_) | YClientsError::Transport(_) => {
            Some(SendError::Retryable {
                reason: e.to_string(),
                retry_after: None,
            })
        }
        _ => None,
    }
}

/// YClients' own words, and for a refusal the right to grant.
fn yclients_words(e: &YClientsError) -> String {
    match e {
        YClientsError::Unauthorized {
            status: 403,
            message,
        } => format!(
            "YClients 403: {message}: give the YClients user the right edit_records_access \
             (a visit already marked «Пришёл» also needs edit_records_attendance_access)"
        ),
        YClientsError::NotFound => "YClients 404: the record or visit is gone".into(),
        other => other.to_string(),
    }
}

/// An id YClients gives as a number or a string.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `now` plus the limiter's wait.
fn later(now: DateTime<Utc>, wait: std::time::Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(1))
}
