//! NotifierActor: rechecks a due notice against the booking as it stands, renders
//! the text, and sends it through the outbox's states `pending → sending → sent |
//! failed`; up to `whatsapp.max_concurrent_sends` at once, each a different row.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::sync::{oneshot, Semaphore};

use super::messages::{ActorFailure, Drain, Due, DueOutcome};
use super::{backoff, Shared};
use crate::domain::Status;
use crate::domain::{mask_phone, NotificationId};
use crate::lifecycle::{DueNotice, Proof, Recheck, Source};
use crate::panic_guard::{self, Guarded};
use crate::store::{self, Outbound, StoreError};
use crate::text::MessageFields;
use crate::whatsapp::{Outgoing, Provider, SendError};
use crate::yclients::{Record, YClients};

const NAME: &str = "notifier";

/// What the notifier builds for itself on its own thread (awc is not `Send`).
struct Clients {
    yclients: YClients,
    provider: Provider,
}

pub struct NotifierActor {
    shared: Shared,
    clients: Option<Rc<Clients>>,
    /// Set when the provider refused the account (expired token…): every send waits.
    paused_until: Option<DateTime<Utc>>,
    /// One permit per send in flight.
    slots: Rc<Semaphore>,
    in_flight: usize,
    /// `Drain`s waiting for the sends in flight to finish.
    drained: Vec<oneshot::Sender<()>>,
}

impl NotifierActor {
    pub fn new(shared: Shared) -> NotifierActor {
        let slots = Rc::new(Semaphore::new(shared.config.whatsapp.concurrent_sends()));
        NotifierActor {
            shared,
            clients: None,
            paused_until: None,
            slots,
            in_flight: 0,
            drained: Vec::new(),
        }
    }

    fn finished_one(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
        if self.in_flight == 0 {
            for waiter in self.drained.drain(..) {
                let _ = waiter.send(());
            }
        }
    }
}

impl Actor for NotifierActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let config = &self.shared.config;
        self.clients = Some(Rc::new(Clients {
            yclients: YClients::new(
                &config.yclients,
                &self.shared.tls,
                self.shared.limiter.clone(),
            ),
            provider: Provider::new(&config.whatsapp, &self.shared.tls, &self.shared.logger),
        }));
        // Before any `Due`: rows left in `sending` were interrupted mid-send.
        let db = self.shared.db.clone();
        let me = self.shared.cluster.instance_id.clone();
        let reset = Guarded::new(async move {
            db.run(move |conn| store::reset_interrupted_sends(conn, &me, Utc::now()))
                .await
        });
        ctx.wait(reset.into_actor(self).map(|result, act, ctx| {
            let logger = act.shared.logger.clone();
            let what = "notifier: recovering interrupted sends";
            for row in panic_guard::or_restart::<Self, _, _>(ctx, &logger, what, result)
                .unwrap_or_default()
            {
                slog::warn!(logger,
                    "notifier: a send was interrupted; sending again (the client may get this message twice)";
                    "company_id" => row.company_id, "record_id" => row.record_id, "notification_id" => row.id);
            }
        }));
    }
}

impl Supervised for NotifierActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.clients = None;
        self.paused_until = None;
        // The sends in flight were cancelled with the old context.
        self.in_flight = 0;
        for waiter in self.drained.drain(..) {
            let _ = waiter.send(());
        }
        self.shared.supervision.restarted(NAME);
    }
}

impl Handler<Due> for NotifierActor {
    type Result = ResponseActFuture<Self, Result<DueOutcome, ActorFailure>>;

    fn handle(&mut self, msg: Due, _ctx: &mut Context<Self>) -> Self::Result {
        let shared = self.shared.clone();
        let clients = self
            .clients
            .clone()
            .expect("clients are built in started()");
        let paused_until = self.paused_until;
        let slots = self.slots.clone();
        self.in_flight += 1;
        let work = Guarded::new(async move {
            let _slot = slots
                .acquire()
                .await
                .expect("the semaphore is never closed");
            deliver(shared, clients, msg.id, paused_until).await
        });
        Box::pin(work.into_actor(self).map(move |result, act, ctx| {
            act.finished_one();
            let logger = act
                .shared
                .logger
                .new(slog::o!("notification_id" => msg.id.0));
            let Delivery { outcome, pause } = panic_guard::or_restart::<Self, _, _>(
                ctx, &logger, "notifier", result,
            )
            .map_err(|reason| ActorFailure {
                actor: NAME,
                reason,
            })?;
            if let Some(until) = pause {
                act.paused_until = Some(until);
            } else if matches!(outcome, DueOutcome::Done) {
                act.paused_until = None;
            }
            Ok(outcome)
        }))
    }
}

impl Handler<Drain> for NotifierActor {
    type Result = ResponseFuture<()>;

    /// Answers once no send is in flight.
    fn handle(&mut self, _msg: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        if self.in_flight == 0 {
            return Box::pin(async {});
        }
        let (done, wait) = oneshot::channel();
        self.drained.push(done);
        Box::pin(async move {
            let _ = wait.await;
        })
    }
}

struct Delivery {
    outcome: DueOutcome,
    /// Pause every send until then (the provider refused the account).
    pause: Option<DateTime<Utc>>,
}

impl Delivery {
    fn done() -> Delivery {
        Delivery {
            outcome: DueOutcome::Done,
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

async fn deliver(
    shared: Shared,
    clients: Rc<Clients>,
    id: NotificationId,
    paused_until: Option<DateTime<Utc>>,
) -> Result<Delivery, StoreError> {
    shared.faults.strike(NAME)?;
    let db = &shared.db;
    let log = &shared.logger;
    let monitor = &shared.config.monitor;
    let Some(row) = db.run(move |c| store::notification(c, id)).await? else {
        return Ok(Delivery::done());
    };
    if row.status != Status::Pending || shared.supervision.stopping() {
        return Ok(Delivery::done());
    }
    let now = Utc::now();
    if row.due_at() > now {
        return Ok(Delivery::retry_at(row.due_at()));
    }
    if let Some(until) = paused_until.filter(|u| *u > now) {
        return Ok(Delivery::retry_at(until));
    }
    let (company, record_id, kind) = (row.company(), row.record(), row.kind);
    let kv = slog::o!("company_id" => company.0, "record_id" => record_id.0,
        "notification_id" => id.0, "kind" => kind.as_str());
    let log = log.new(kv);

    // YClients trouble: wait a poll interval, without counting it as a send attempt.
    let yclients_retry = |error: String| async move {
        let at = Utc::now() + millis(monitor.poll_interval_ms.max(monitor.retry_initial_ms));
        db.run(move |c| store::mark_retry(c, id, at, &error, Utc::now()))
            .await?;
        Ok::<_, StoreError>(Delivery::retry_at(at))
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
        // A re-read only if the budget has room to spare right now; else the next
        // poll proves the booking. Not written to the row: its `due_at` is what the
        // proof is measured against.
        Source::WaitForPoll(at) => match clients.yclients.record_if_spare(company, record_id).await
        {
            Some(Ok(fresh)) => {
                shared.metrics.reread();
                fresh
            }
            Some(Err(_)) | None => {
                slog::debug!(log, "notifier: waiting for the next poll to prove the booking current"; "until" => %at);
                return Ok(Delivery::retry_at(at));
            }
        },
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
        Recheck::Close(status, reason) => {
            return finish(db, &log, id, status, reason.as_str()).await
        }
        Recheck::WaitUntil(at) => {
            slog::info!(log, "notifier: quiet hours; waiting"; "until" => %at);
            db.run(move |c| store::postpone(c, id, at, Utc::now()))
                .await?;
            return Ok(Delivery::retry_at(at));
        }
    };
    let mut fields = MessageFields::new(&out.record, &salon);
    if let Some((told, changes)) = &out.told {
        fields = fields.with_change(told, changes.clone(), &salon);
    }
    let text = shared.config.messages.template(kind).render(&fields);
    let phone = out.phone;
    let outbound = Outbound {
        phone: phone.digits().to_string(),
        message: text.clone(),
        record_json: out.record.raw.to_string(),
    };
    let (me, claimed_at) = (shared.cluster.instance_id.clone(), Utc::now());
    if !db
        .run(move |c| store::claim_for_send(c, id, &outbound, &me, claimed_at))
        .await?
    {
        // Another instance, or another decision about the row, came first.
        shared.metrics.claim_conflict();
        return Ok(Delivery::done());
    }
    let attempt = row.attempts as u32 + 1;
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
    };
    match clients.provider.send(&outgoing).await {
        Ok(provider_id) => {
            let sent_at = Utc::now();
            let tells_state = !kind.is_reminder();
            db.run(move |c| store::mark_sent(c, id, provider_id.as_deref(), tells_state, sent_at))
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
            Ok(Delivery::done())
        }
        Err(SendError::Permanent { reason }) => {
            shared.metrics.send(kind, "failed");
            finish(db, &log, id, Status::Failed, &reason).await
        }
        Err(SendError::Retryable { reason, .. }) if attempt >= monitor.max_attempts => {
            shared.metrics.send(kind, "failed");
            finish(
                db,
                &log,
                id,
                Status::Failed,
                &format!("gave up after {attempt} attempts: {reason}"),
            )
            .await
        }
        Err(SendError::Retryable {
            reason,
            retry_after,
        }) => {
            shared.metrics.send(kind, "retry");
            let wait = backoff(
                millis_std(monitor.retry_initial_ms),
                millis_std(monitor.retry_max_ms),
                attempt,
            )
            .max(retry_after.unwrap_or(Duration::ZERO));
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            slog::warn!(log, "notifier: send failed; will retry"; "error" => &reason, "attempt" => attempt, "retry_in_ms" => wait.as_millis() as u64);
            db.run(move |c| store::mark_retry(c, id, at, &reason, Utc::now()))
                .await?;
            Ok(Delivery::retry_at(at))
        }
        Err(SendError::Paused { reason }) => {
            shared.metrics.send(kind, "paused");
            let wait = backoff(
                millis_std(monitor.retry_initial_ms),
                millis_std(monitor.retry_max_ms),
                attempt,
            );
            let at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            slog::error!(log, "notifier: the WhatsApp provider refused the account; all sends paused"; "error" => &reason, "retry_in_ms" => wait.as_millis() as u64);
            let error = format!("paused: {reason}");
            db.run(move |c| {
                store::mark_retry(c, id, at, &error, Utc::now())?;
                store::refund_attempt(c, id)
            })
            .await?;
            Ok(Delivery {
                outcome: DueOutcome::RetryAt(at),
                pause: Some(at),
            })
        }
    }
}

async fn finish(
    db: &store::Db,
    log: &slog::Logger,
    id: NotificationId,
    status: Status,
    reason: &str,
) -> Result<Delivery, StoreError> {
    let owned = reason.to_string();
    db.run(move |c| store::mark_final(c, id, status, &owned, Utc::now()))
        .await?;
    match status {
        Status::Failed => {
            slog::error!(log, "notifier: failed for good"; "status" => status.as_str(), "reason" => reason)
        }
        _ => {
            slog::info!(log, "notifier: not sent after all"; "status" => status.as_str(), "reason" => reason)
        }
    }
    Ok(Delivery::done())
}

fn millis(ms: u64) -> chrono::Duration {
    chrono::Duration::milliseconds(ms.min(i64::MAX as u64) as i64)
}

fn millis_std(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
