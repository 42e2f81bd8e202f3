//! A notice of the booking's life: checked once more against the booking as it
//! stands (`Policy::recheck`), rendered from it, sent through the outbox's states.

use chrono::{DateTime, Utc};

use super::{Delivery, Job};
use crate::domain::mask_phone;
use crate::lifecycle::{DueNotice, Proof, Recheck, Source};
use crate::replies::payload;
use crate::store::{self, StoreError};
use crate::text::MessageFields;
use crate::whatsapp::{Buttons, Outgoing};
use crate::yclients::Record;

pub(super) async fn deliver(job: &Job<'_>, now: DateTime<Utc>) -> Result<Delivery, StoreError> {
    let (shared, clients, row, log) = (job.shared, job.clients, &job.row, &job.log);
    let (db, monitor) = (&shared.db, &shared.config.monitor);
    let (id, company, record_id, kind) = (job.id(), row.company(), row.record(), row.kind);

    // YClients trouble: wait a poll interval, without counting it as a send attempt.
    let yclients_retry = |error: String| {
        let at = Utc::now()
            + chrono::Duration::milliseconds(
                monitor.poll_interval_ms.max(monitor.retry_initial_ms) as i64,
            );
        job.retry_later(at, error)
    };
    let (booking, proven_at) = db
        .run(move |c| {
            Ok((
                store::booking(c, company, record_id)?,
                store::proven_at(c, company)?,
            ))
        })
        .await?;
    let stored = booking.as_ref().and_then(|b| {
        serde_json::from_str(&b.record_json)
            .ok()
            .and_then(|v| Record::from_json(v).ok())
    });
    let proof = Proof {
        stored: stored.is_some(),
        polled_at: proven_at,
        pushed_at: booking
            .as_ref()
            .and_then(|b| b.pushed_at)
            .map(|t| t.and_utc()),
    };
    let fresh = match shared.policy.source(row.due_at(), proof, now) {
        Source::Stored => stored,
        // The salon's poll at the due time proves it, and its commit wakes the row.
        // Not written to the row: its `due_at` is what the proof is measured against.
        Source::WaitForPoll(at) => {
            slog::debug!(log, "notifier: waiting for the proving poll"; "until" => %at);
            return Ok(Delivery::retry_at(at));
        }
        // A re-read only if the budget has room to spare right now; else the next
        // poll proves the booking.
        Source::RereadIfSpare(at) => {
            match clients.yclients.record_if_spare(company, record_id).await {
                Some(Ok(fresh)) => {
                    shared.metrics.reread();
                    fresh
                }
                Some(Err(_)) | None => {
                    slog::debug!(log, "notifier: waiting for the next poll to prove the booking current"; "until" => %at);
                    return Ok(Delivery::retry_at(at));
                }
            }
        }
        Source::Reread => match clients.yclients.record(company, record_id).await {
            Ok(fresh) => {
                shared.metrics.reread();
                fresh
            }
            Err(e) => {
                slog::warn!(log, "notifier: cannot re-read the booking; will try again"; "error" => %e);
                return yclients_retry(format!("re-reading the booking: {e}")).await;
            }
        },
    };
    let salon = match shared.salons.get(company, &clients.yclients).await {
        Ok(salon) => salon,
        Err(e) => {
            slog::warn!(log, "notifier: cannot read the salon's details; will try again"; "error" => %e);
            return yclients_retry(format!("reading the salon: {e}")).await;
        }
    };
    let registered_by_bot = db
        .run(move |c| store::is_bot_record(c, company, record_id))
        .await?;
    let due = DueNotice {
        kind,
        key: &row.notice_key,
        fresh: fresh.as_ref(),
        booking: booking.as_ref(),
        registered_by_bot,
        now,
        tz: salon.timezone,
    };
    let out = match shared.policy.recheck(&due) {
        Recheck::Send(out) => out,
        Recheck::Close(status, reason) => return job.finish(status, reason.as_str()).await,
        Recheck::WaitUntil(at) => {
            slog::info!(log, "notifier: quiet hours; waiting"; "until" => %at);
            return job.wait_until(at).await;
        }
    };
    let mut fields = MessageFields::new(&out.record, &salon);
    if let Some((told, changes)) = &out.told {
        fields = fields.with_change(told, changes.clone(), &salon);
    }
    let messages = shared.config.messages_for(company);
    let Some(template) = messages.template(kind) else {
        return job
            .finish(crate::domain::Status::Failed, "no text for this kind")
            .await;
    };
    let mut text = template.render(&fields);
    // A notice that asks the client to answer: a text says how; a template gets
    // two quick-reply buttons whose payloads name this notice.
    let asks = shared.config.replies.asks(kind);
    if asks {
        text = format!("{text}\n\n{}", messages.ask_to_confirm.render(&fields));
    }
    let phone = out.phone;
    if !job
        .claim(phone.digits(), &text, &out.record.raw.to_string())
        .await?
    {
        return Ok(Delivery::done());
    }
    let attempt = row.attempts as u32 + 1;
    // The row as claimed: what its follow-ups (an alert, an SMS) describe.
    let mut told_row = row.clone();
    told_row.record_json = out.record.raw.to_string();
    told_row.phone = Some(phone.digits().to_string());
    let idempotency_key = match row.notice_key.as_str() {
        "" => format!("{company}:{record_id}:{kind}"),
        key => format!("{company}:{record_id}:{kind}:{key}"),
    };
    let outgoing = Outgoing {
        kind,
        idempotency_key: &idempotency_key,
        phone: &phone,
        text: &text,
        fields: &fields,
        company,
        record: record_id,
        buttons: asks.then(|| Buttons {
            confirm: payload::confirm(id),
            cancel: payload::cancel(id),
        }),
    };
    match clients.senders.for_company(company).1.send(&outgoing).await {
        Ok(provider_id) => {
            let sent_at = Utc::now();
            let tells_state = !kind.is_reminder();
            let follow_ups = crate::undelivered::after_sent(&shared.config, &told_row, sent_at);
            let (config, salons) = (shared.config.clone(), shared.salons.clone());
            let opened = db
                .run(move |c| {
                    let undelivered = |row: &store::Notification, error: &str| {
                        crate::undelivered::effects(&config, &salons, row, error)
                    };
                    store::mark_sent(
                        c,
                        id,
                        provider_id.as_deref(),
                        tells_state,
                        sent_at,
                        &follow_ups,
                        &undelivered,
                    )
                })
                .await?;
            shared.metrics.send(kind, "sent");
            let first_due = shared.policy.first_due(
                kind,
                &row.notice_key,
                &out.record,
                row.created_at.and_utc(),
                salon.timezone,
            );
            let lateness = (sent_at - first_due).to_std().unwrap_or_default();
            shared.metrics.lateness(kind, lateness);
            slog::info!(log, "notifier: sent"; "phone" => mask_phone(phone.digits()),
                "attempt" => attempt, "late_ms" => (sent_at - row.due_at()).num_milliseconds());
            Ok(Delivery::opened(opened))
        }
        Err(error) => {
            shared
                .metrics
                .send(kind, error.outcome(attempt, monitor.max_attempts));
            // Undeliverable for good: the staff hear of it (and an SMS goes).
            let undelivered = |reason: &str| {
                crate::undelivered::effects(&shared.config, &shared.salons, &told_row, reason)
            };
            job.after_failure(error, true, undelivered).await
        }
    }
}
