//! Carrying out one due outbox row, whatever its kind: a notice of the booking's
//! life (`notice`), an answer to a client's message (`answer`), the visit marked
//! confirmed in YClients (`visit`), a message to the staff (`staff`). Each claims
//! its row (`pending → sending`) before the call that has an effect outside, and
//! settles it after, so every effect has the outbox's promises: once, durable,
//! retried. The notifier actor calls `deliver` and never looks at a row's kind.

mod answer;
mod notice;
mod sms;
mod staff;
mod visit;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{Effect, NotificationId, Reason, Status};
use crate::messages::DueOutcome;
use crate::shared::{backoff, Shared};
use crate::sms::SmsProvider;
use crate::store::{self, Claim, Effects, Notification, Outbound, Settled, StoreError};
use crate::telegram::Telegram;
use crate::whatsapp::{SendError, SenderKey, Senders};
use crate::yclients::YClients;

/// What the notifier builds for itself on its own thread (awc is not `Send`).
pub struct Clients {
    pub yclients: YClients,
    pub senders: Senders,
    /// The staff's Telegram bot, when `staff.telegram_bot_token` is set.
    pub telegram: Option<Telegram>,
    /// The SMS fallback's provider, when `fallback.provider` is set.
    pub sms: Option<SmsProvider>,
}

impl Clients {
    pub fn new(shared: &Shared) -> Clients {
        let config = &shared.config;
        Clients {
            yclients: YClients::new(&config.yclients, &shared.tls, shared.limiter.clone()),
            senders: Senders::new(config, &shared.tls, &shared.logger),
            telegram: config.staff.telegram_enabled().then(|| {
                Telegram::new(
                    &config.staff.telegram_api_base_url,
                    &config.staff.telegram_bot_token,
                    &shared.tls,
                    Duration::from_millis(config.whatsapp.request_timeout_ms),
                )
            }),
            sms: SmsProvider::new(
                &config.fallback,
                &shared.tls,
                Duration::from_millis(config.whatsapp.request_timeout_ms),
            ),
        }
    }
}

/// Senders whose account was refused, and until when their sends wait.
pub type Pauses = std::collections::HashMap<SenderKey, DateTime<Utc>>;

/// How one due row ended.
pub struct Delivery {
    pub outcome: DueOutcome,
    /// Pause every send of this sender until then (it refused the account).
    pub pause: Option<(SenderKey, DateTime<Utc>)>,
}

impl Delivery {
    fn done() -> Delivery {
        Delivery {
            outcome: DueOutcome::Done,
            pause: None,
        }
    }
    fn opened(rows: store::Opened) -> Delivery {
        Delivery {
            outcome: if rows.is_empty() {
                DueOutcome::Done
            } else {
                DueOutcome::Opened(rows)
            },
            pause: None,
        }
    }
    fn retry_at(at: DateTime<Utc>) -> Delivery {
        Delivery {
            outcome: DueOutcome::RetryAt(at),
            pause: None,
        }
    }
}

/// Carries out row `id` if it is still pending and due.
pub async fn deliver(
    shared: Shared,
    clients: &Clients,
    id: NotificationId,
    paused: &Pauses,
) -> Result<Delivery, StoreError> {
    let Some(row) = shared.db.run(move |c| store::notification(c, id)).await? else {
        return Ok(Delivery::done());
    };
    if row.status != Status::Pending || shared.supervision.stopping() {
        return Ok(Delivery::done());
    }
    // A salon removed from the config: its rows wait unsent, and go out if a
    // reload brings it back while they are still useful.
    if shared.config.company(row.company()).is_none() {
        return Ok(Delivery::done());
    }
    let now = Utc::now();
    if row.due_at() > now {
        return Ok(Delivery::retry_at(row.due_at()));
    }
    let log = shared.logger.new(slog::o!("company_id" => row.company_id,
        "record_id" => row.record_id, "notification_id" => row.id, "kind" => row.kind.as_str()));
    let sender = clients.senders.for_company(row.company()).0;
    let job = Job {
        shared: &shared,
        clients,
        row,
        log,
        sender,
    };
    match job.row.kind.effect() {
        // A paused WhatsApp account holds its own sender's messages, not the others.
        Effect::Notice | Effect::Answer => {
            if let Some(until) = paused.get(&sender).filter(|u| **u > now) {
                return Ok(Delivery::retry_at(*until));
            }
        }
        Effect::YClientsWrite | Effect::Staff | Effect::Sms => {}
    }
    match job.row.kind.effect() {
        Effect::Notice => notice::deliver(&job, now).await,
        Effect::Answer => answer::deliver(&job, now).await,
        Effect::YClientsWrite => visit::deliver(&job, now).await,
        Effect::Staff => staff::deliver(&job).await,
        Effect::Sms => sms::deliver(&job, now).await,
    }
}

/// One due row and what carrying it out needs.
struct Job<'a> {
    shared: &'a Shared,
    clients: &'a Clients,
    row: Notification,
    log: slog::Logger,
    /// The WhatsApp sender of the row's salon.
    sender: SenderKey,
}

impl Job<'_> {
    fn id(&self) -> NotificationId {
        self.row.id()
    }

    /// Claims the row for its outside call (`pending → sending` by this instance,
    /// with what goes out): false when another instance, or another decision about
    /// the row, came first, or the client asked us to stop (then the row is closed,
    /// and there is nothing to do).
    async fn claim(
        &self,
        phone: &str,
        message: &str,
        record_json: &str,
    ) -> Result<bool, StoreError> {
        // Test-only faults strike here: each strike is a row about to go out.
        self.shared.faults.strike("notifier")?;
        if message.trim().is_empty() {
            // A template of placeholders only, for a booking without their values:
            // a blank message is never sent.
            self.finish(Status::Failed, "the text came out empty")
                .await?;
            return Ok(false);
        }
        let outbound = Outbound {
            phone: phone.to_string(),
            message: message.to_string(),
            record_json: record_json.to_string(),
        };
        let (id, me, at) = (
            self.id(),
            self.shared.cluster.instance_id.clone(),
            Utc::now(),
        );
        let heeds_stops = self.row.kind.heeds_opt_out(&self.row.notice_key);
        let claim = self
            .shared
            .db
            .run(move |c| store::claim_for_send(c, id, &outbound, (&me, heeds_stops), at))
            .await?;
        match claim {
            Claim::Claimed => return Ok(true),
            Claim::Lost => self.shared.metrics.claim_conflict(),
            Claim::OptedOut => {
                slog::info!(self.log, "not sent: the client asked us to stop";
                    "reason" => Reason::OptedOut.as_str());
            }
        }
        Ok(false)
    }

    /// A final state without an effect, with why.
    async fn finish(&self, status: Status, reason: &str) -> Result<Delivery, StoreError> {
        let (id, owned) = (self.id(), reason.to_string());
        self.shared
            .db
            .run(move |c| store::mark_final(c, id, status, &owned, Utc::now()))
            .await?;
        match status {
            Status::Failed => {
                slog::error!(self.log, "failed for good"; "status" => status.as_str(), "reason" => reason)
            }
            _ => {
                slog::info!(self.log, "not carried out after all"; "status" => status.as_str(), "reason" => reason)
            }
        }
        Ok(Delivery::done())
    }

    /// Still pending, due at `at` (quiet hours, a fallback's wait, the budget's
    /// room): not an attempt, not an error.
    async fn wait_until(&self, at: DateTime<Utc>) -> Result<Delivery, StoreError> {
        let id = self.id();
        self.shared
            .db
            .run(move |c| store::postpone(c, id, at, Utc::now()))
            .await?;
        Ok(Delivery::retry_at(at))
    }

    /// Still pending, to be tried at `at` (an outside service could not answer:
    /// not counted as an attempt).
    async fn retry_later(&self, at: DateTime<Utc>, error: String) -> Result<Delivery, StoreError> {
        let id = self.id();
        self.shared
            .db
            .run(move |c| store::mark_retry(c, id, at, &error, Utc::now()))
            .await?;
        Ok(Delivery::retry_at(at))
    }

    /// What a failed call means for the row: `failed` for good (a permanent error,
    /// or the last attempt), opening `if_final` with it; a retry with backoff; or
    /// (`pausing`: WhatsApp's account refused) a pause of every send that does not
    /// count as an attempt.
    async fn after_failure(
        &self,
        error: SendError,
        pausing: bool,
        if_final: impl FnOnce(&str) -> Effects,
    ) -> Result<Delivery, StoreError> {
        let monitor = &self.shared.config.monitor;
        let attempt = self.row.attempts as u32 + 1;
        let wait = |attempt| {
            backoff(
                Duration::from_millis(monitor.retry_initial_ms),
                Duration::from_millis(monitor.retry_max_ms),
                attempt,
            )
        };
        let (id, db) = (self.id(), &self.shared.db);
        let failed = |reason: String| async move {
            slog::error!(self.log, "failed for good"; "reason" => &reason);
            let follow_ups = if_final(&reason);
            let how = Settled::Final {
                status: Status::Failed,
                reason,
            };
            let opened = db
                .run(move |c| store::settle_effect(c, id, &how, &follow_ups, Utc::now()))
                .await?;
            Ok(Delivery {
                outcome: DueOutcome::Opened(opened),
                pause: None,
            })
        };
        match error {
            SendError::Permanent { reason } => failed(reason).await,
            SendError::Retryable { reason, .. } if attempt >= monitor.max_attempts => {
                failed(format!("gave up after {attempt} attempts: {reason}")).await
            }
            SendError::Retryable {
                reason,
                retry_after,
            } => {
                let wait = wait(attempt).max(retry_after.unwrap_or(Duration::ZERO));
                let at =
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                slog::warn!(self.log, "failed; will retry"; "error" => &reason, "attempt" => attempt,
                    "retry_in_ms" => wait.as_millis() as u64);
                db.run(move |c| store::mark_retry(c, id, at, &reason, Utc::now()))
                    .await?;
                Ok(Delivery::retry_at(at))
            }
            SendError::Paused { reason } => {
                let wait = wait(attempt);
                let at =
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                let what = if pausing {
                    "the WhatsApp provider refused the account; all sends paused"
                } else {
                    "the service refused the account; this row waits"
                };
                slog::error!(self.log, "{}", what; "error" => &reason,
                    "retry_in_ms" => wait.as_millis() as u64);
                let error = format!("paused: {reason}");
                db.run(move |c| {
                    store::mark_retry(c, id, at, &error, Utc::now())?;
                    store::refund_attempt(c, id)
                })
                .await?;
                Ok(Delivery {
                    outcome: DueOutcome::RetryAt(at),
                    pause: pausing.then_some((self.sender, at)),
                })
            }
        }
    }
}
