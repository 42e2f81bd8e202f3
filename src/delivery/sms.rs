//! An SMS in place of a WhatsApp notice that was not delivered (`[fallback]`):
//! once per notice (its row is keyed by the notice and claimed like a send), and
//! only while it still makes sense — not once WhatsApp delivered it, not after the
//! client wrote back, not when the visit began or a reminder's window passed, and
//! never inside quiet hours (it waits).

use chrono::{DateTime, Utc};

use super::{Delivery, Job};
use crate::domain::{Delivery as Delivered, NotificationId, Phone, Reason, Status};
use crate::lifecycle::{parse_record, Fallback};
use crate::replies::alert;
use crate::store::{self, NewNotification, Settled, StoreError};
use crate::text::MessageFields;

pub(super) async fn deliver(job: &Job<'_>, now: DateTime<Utc>) -> Result<Delivery, StoreError> {
    let (shared, row) = (job.shared, &job.row);
    let (db, id) = (&shared.db, job.id());
    let Some(sms) = job.clients.sms.as_ref() else {
        return job
            .finish(Status::Skipped, Reason::TurnedOff.as_str())
            .await;
    };
    let provider = sms.kind().as_str();
    let Ok(notice_id) = row.notice_key.parse::<i64>().map(NotificationId) else {
        return job
            .finish(Status::Failed, "no notice to stand in for")
            .await;
    };
    let Some(notice) = db.run(move |c| store::notification(c, notice_id)).await? else {
        return job
            .finish(Status::Failed, "no notice to stand in for")
            .await;
    };
    let phone_digits = notice.phone.clone().unwrap_or_default();
    let since = notice.sent_at.map_or(notice.created_at, |t| t).and_utc();
    let message_id = notice.provider_message_id.clone();
    let (delivery, replied) = db
        .run(move |c| {
            let delivery = match &message_id {
                Some(m) => store::deliveries(c, std::slice::from_ref(m))?
                    .into_iter()
                    .next()
                    .and_then(|(_, status, _)| Delivered::parse(&status)),
                None => None,
            };
            Ok((delivery, store::replied_since(c, &phone_digits, since)?))
        })
        .await?;
    let skip = |reason: Reason, outcome: &'static str| async move {
        shared.metrics.fallback(provider, outcome);
        job.finish(Status::Skipped, reason.as_str()).await
    };
    if matches!(delivery, Some(Delivered::Delivered | Delivered::Read)) {
        return skip(Reason::Delivered, "delivered_first").await;
    }
    if replied {
        return skip(Reason::ClientReplied, "client_replied").await;
    }
    let salon = shared.salons.known(row.company());
    let Some(told) = parse_record(&notice.record_json) else {
        return skip(Reason::NoVisitTime, "not_useful").await;
    };
    match shared
        .policy
        .fallback(notice.kind, &told, now, salon.timezone)
    {
        Fallback::Now => {}
        Fallback::WaitUntil(at) => {
            return job.wait_until(at).await;
        }
        Fallback::Never(reason) => return skip(reason, "not_useful").await,
    }
    let Some(template) = shared.config.sms_for(row.company()).template(notice.kind) else {
        return job
            .finish(Status::Failed, "no SMS text for this kind")
            .await;
    };
    let Ok(phone) = Phone::parse(notice.phone.as_deref().unwrap_or("")) else {
        return skip(Reason::InvalidPhone, "not_useful").await;
    };
    let text = template.render(&MessageFields::new(&told, &salon));
    if !job
        .claim(phone.digits(), &text, &notice.record_json)
        .await?
    {
        return Ok(Delivery::done());
    }
    match sms.send(&phone, &text).await {
        Ok(receipt) => {
            shared.metrics.fallback(provider, "sent");
            let how = Settled::Sent {
                provider_message_id: Some(match receipt.provider_id {
                    Some(sms_id) => format!("{provider}:{sms_id}"),
                    None => provider.to_string(),
                }),
            };
            db.run(move |c| store::settle_effect(c, id, &how, &[], Utc::now()))
                .await?;
            slog::info!(job.log, "WhatsApp did not deliver the notice: sent it by SMS";
                "phone" => crate::domain::mask_phone(phone.digits()),
                "parts" => receipt.parts.map_or_else(|| "not told by the provider".to_string(), |p| p.to_string()));
            Ok(Delivery::done())
        }
        Err(error) => {
            let attempt = row.attempts as u32 + 1;
            let outcome = error.outcome(attempt, shared.config.monitor.max_attempts);
            shared.metrics.fallback(provider, outcome);
            // Refused for good: the staff hear (they may phone the client).
            let alert = |reason: &str| {
                let text = alert::undelivered_text(
                    &salon,
                    phone.digits(),
                    &told,
                    &format!("и SMS не ушло: {reason}"),
                );
                vec![(
                    row.company(),
                    row.record(),
                    NewNotification {
                        kind: crate::domain::Kind::StaffAlert,
                        key: format!("sms:{}", row.id),
                        status: Status::Pending,
                        phone: row.phone.clone(),
                        due_at: Utc::now(),
                        reason: None,
                        record_json: notice.record_json.clone(),
                        message: Some(text),
                    },
                )]
            };
            job.after_failure(error, false, alert).await
        }
    }
}
