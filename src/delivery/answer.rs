//! Our answer to a client's message: free-form text, allowed because the client's
//! message opened WhatsApp's 24-hour window; past it, not sent.

use chrono::{DateTime, Duration, Utc};

use super::{Delivery, Job};
use crate::domain::{mask_phone, Phone, Reason, Status};
use crate::lifecycle::parse_record;
use crate::replies::decide::Answer;
use crate::store::{self, StoreError};
use crate::template::Template;
use crate::text::MessageFields;
use crate::whatsapp::Outgoing;

/// The window a client's message opens, less a margin for the send itself.
fn window() -> Duration {
    Duration::hours(24) - Duration::minutes(5)
}

pub(super) async fn deliver(job: &Job<'_>, now: DateTime<Utc>) -> Result<Delivery, StoreError> {
    let (shared, row) = (job.shared, &job.row);
    if now > row.created_at.and_utc() + window() {
        return job
            .finish(Status::Skipped, Reason::WindowClosed.as_str())
            .await;
    }
    let Some(phone) = row.phone.as_deref().and_then(|p| Phone::parse(p).ok()) else {
        return job
            .finish(Status::Skipped, Reason::InvalidPhone.as_str())
            .await;
    };
    let messages = shared.config.messages_for(row.company());
    let template: &Template = match row
        .notice_key
        .split_once(':')
        .and_then(|(_, what)| Answer::parse(what))
    {
        Some(Answer::Confirmed) => &messages.reply_confirmed,
        Some(Answer::CancelRequest) => &messages.reply_cancel_request,
        Some(Answer::Forwarded) | None => &messages.reply_forwarded,
        Some(Answer::OptedOut) => &messages.opted_out,
        Some(Answer::OptedIn) => &messages.opted_in,
    };
    let salon = shared.salons.known(row.company());
    let fields = parse_record(&row.record_json)
        .map(|record| MessageFields::new(&record, &salon))
        .unwrap_or_else(MessageFields::empty);
    let text = template.render(&fields);
    if !job.claim(phone.digits(), &text, &row.record_json).await? {
        return Ok(Delivery::done());
    }
    let id = job.id();
    let idempotency_key = format!(
        "{}:{}:{}:{}",
        row.company_id, row.record_id, row.kind, row.notice_key
    );
    let outgoing = Outgoing {
        kind: row.kind,
        idempotency_key: &idempotency_key,
        phone: &phone,
        text: &text,
        fields: &fields,
        company: row.company(),
        record: row.record(),
        buttons: None,
    };
    let attempt = row.attempts as u32 + 1;
    match job
        .clients
        .senders
        .for_company(row.company())
        .1
        .send(&outgoing)
        .await
    {
        Ok(provider_id) => {
            let sent_at = Utc::now();
            shared
                .db
                .run(move |c| {
                    store::mark_sent(
                        c,
                        id,
                        provider_id.as_deref(),
                        false,
                        sent_at,
                        &Vec::new(),
                        &|_, _| Vec::new(),
                    )
                })
                .await?;
            shared.metrics.send(row.kind, "sent");
            slog::info!(job.log, "answered the client"; "phone" => mask_phone(phone.digits()));
            Ok(Delivery::done())
        }
        Err(error) => {
            let max = shared.config.monitor.max_attempts;
            shared.metrics.send(row.kind, error.outcome(attempt, max));
            job.after_failure(error, true, |_| Vec::new()).await
        }
    }
}
