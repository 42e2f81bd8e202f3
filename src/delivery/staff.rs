//! A message to a salon's staff: through the Telegram bot to the salon's chat,
//! once (claimed before the call, like a send), retried on Telegram's trouble.
//! Without a bot or a chat for the salon it stays on the staff's page only.

use chrono::Utc;

use super::{Delivery, Job};
use crate::domain::{Reason, Status};
use crate::store::{self, Settled, StoreError};

pub(super) async fn deliver(job: &Job<'_>) -> Result<Delivery, StoreError> {
    let (shared, row) = (job.shared, &job.row);
    let chat = shared
        .config
        .company(row.company())
        .and_then(|c| c.staff_chat());
    let (Some(telegram), Some(chat)) = (job.clients.telegram.as_ref(), chat) else {
        shared.metrics.staff_alert("page_only");
        return job.finish(Status::Skipped, Reason::PageOnly.as_str()).await;
    };
    let text = row.message.clone().unwrap_or_default();
    let phone = row.phone.clone().unwrap_or_default();
    if !job.claim(&phone, &text, &row.record_json).await? {
        return Ok(Delivery::done());
    }
    let id = job.id();
    match telegram.send(chat, &text).await {
        Ok(message_id) => {
            shared.metrics.staff_alert("sent");
            let how = Settled::Sent {
                provider_message_id: Some(format!("telegram:{chat}:{message_id}")),
            };
            shared
                .db
                .run(move |c| store::settle_effect(c, id, &how, &[], Utc::now()))
                .await?;
            slog::info!(job.log, "the salon's staff were told");
            Ok(Delivery::done())
        }
        Err(error) => {
            let attempt = row.attempts as u32 + 1;
            let max = shared.config.monitor.max_attempts;
            shared
                .metrics
                .staff_alert(match error.outcome(attempt, max) {
                    "failed" => "failed",
                    _ => "retry",
                });
            // Telegram's trouble holds this alert, never the clients' messages.
            job.after_failure(error, false, |_| Vec::new()).await
        }
    }
}
