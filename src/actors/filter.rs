//! FilterActor: decides, per record, in one transaction with the company's cursor.

use actix::prelude::*;

use crate::domain::{NotificationId, RecordId, Status};
use crate::lifecycle::{self, Policy, Sighting};
use crate::messages::{ActorFailure, FilterOutcome, Proven, RecordsSeen, Schedule};
use crate::panic_guard::{self, Guarded};
use crate::shared::Shared;
use crate::store::{self, Planned, PollCommit, StoreError};
use chrono::{DateTime, Utc};

use crate::yclients::Record;

const NAME: &str = "filter";

pub struct FilterActor {
    shared: Shared,
    delay: Recipient<Schedule>,
    proven: Recipient<Proven>,
}

impl FilterActor {
    pub fn new(
        shared: Shared,
        delay: Recipient<Schedule>,
        proven: Recipient<Proven>,
    ) -> FilterActor {
        FilterActor {
            shared,
            delay,
            proven,
        }
    }
}

impl Actor for FilterActor {
    type Context = Context<Self>;
}

impl Supervised for FilterActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // No in-memory state to reset: every decision lives in the database.
        self.shared.supervision.restarted(NAME);
    }
}

/// What one committed poll produced.
struct Decided {
    scheduled: Vec<(NotificationId, DateTime<Utc>)>,
    /// Notices that were waiting for this poll's proof: due now.
    proven: Vec<NotificationId>,
    /// Each record's plan in a few words, for the log once it is committed.
    decisions: Vec<(RecordId, String)>,
    outcome: FilterOutcome,
    replanned: Option<store::Replanned>,
}

/// Plans every readable record and commits the plans together with the company's
/// new cursor. Runs on the blocking pool.
fn commit(
    shared: &Shared,
    conn: &mut store::Conn,
    msg: &RecordsSeen,
) -> Result<Decided, StoreError> {
    let company = msg.company;
    let mut records = Vec::new();
    for item in &msg.records {
        match item {
            Ok(record) => records.push(record),
            // The poller keeps the cursor where it was, so the record is asked for
            // again until YClients sends it whole.
            Err(e) => {
                slog::warn!(shared.logger, "unreadable record"; "company_id" => company.0,
                "record_id" => e.id.map(|id| id.0), "error" => %e)
            }
        }
    }
    let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
    let phones = records
        .iter()
        .filter_map(|r| Some((r.id, lifecycle::phone_of(r).ok()?.digits().to_string())))
        .collect();
    let poll = PollCommit {
        // A webhook's record is the database's to decide, whoever holds the lease.
        lease_holder: msg.next_cursor.and_then(|_| shared.cluster.lease_holder()),
        company,
        new_cursor: msg.next_cursor,
        monitored_since: msg.monitoring_began,
        planned_with: msg.next_cursor.map(|_| shared.policy.planned_with()),
        asked_at: msg.asked_at,
        now: msg.polled_at,
        baselined: msg.baselined,
        phones,
        // A poll asked after a notice's due time proves it (DESIGN: "On time
        // without webhooks"): two intervals either side of the poll.
        proving_within: (msg.next_cursor.is_some() && shared.config.monitor.proving_poll).then(
            || chrono::Duration::milliseconds(2 * shared.config.monitor.poll_interval_ms as i64),
        ),
        poll_every: msg.poll_every,
    };
    let mut decisions = Vec::new();
    let mut outcome = FilterOutcome::default();
    let decide = |known: &store::Known| {
        // Test-only faults strike here, inside the transaction.
        shared.faults.strike(NAME)?;
        let plans: Vec<Planned> = records
            .iter()
            .filter(|record| !known.forgotten.contains(&record.id))
            .map(|record| shared.policy.plan(&sighting(msg, record, known)))
            .collect();
        for planned in &plans {
            let skipped = planned.open.iter().filter(|n| n.status == Status::Skipped);
            outcome.skipped += skipped.count();
            if planned.open.is_empty() && planned.close.is_empty() {
                outcome.ignored += 1;
            } else {
                outcome.news += 1;
            }
            decisions.push(Policy::describe(planned));
        }
        Ok(plans)
    };
    let replan = |known: &store::Known| {
        Ok(known
            .bookings
            .values()
            .filter_map(|stored| {
                let record = lifecycle::parse_record(&stored.record_json)?;
                shared.policy.replan(&sighting(msg, &record, known), stored)
            })
            .collect())
    };
    let committed = store::commit_poll(conn, &poll, &ids, decide, replan)?;
    outcome.scheduled = committed.scheduled.len();
    outcome.next_due = committed.proofs.next_due;
    Ok(Decided {
        proven: committed.proofs.proven,
        scheduled: committed.scheduled,
        decisions,
        outcome,
        replanned: committed.replanned,
    })
}

fn sighting<'a>(msg: &RecordsSeen, record: &'a Record, known: &'a store::Known) -> Sighting<'a> {
    Sighting {
        record,
        known,
        seen_at: msg.asked_at,
        yclients_ahead_by: msg.yclients_ahead_by,
        tz: msg.timezone,
        // A webhook's record leaves the cursor alone.
        pushed: msg.next_cursor.is_none(),
    }
}

impl Handler<RecordsSeen> for FilterActor {
    type Result = AtomicResponse<Self, Result<FilterOutcome, ActorFailure>>;

    fn handle(&mut self, msg: RecordsSeen, _ctx: &mut Context<Self>) -> Self::Result {
        // The config as it stands now: the whole commit plans with it.
        let shared = self.shared.current();
        let company = msg.company;
        let work = Guarded::new(async move {
            let db = shared.db.clone();
            db.run(move |conn| commit(&shared, conn, &msg)).await
        });
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |result, act, ctx| {
            let log = act.shared.logger.new(slog::o!("company_id" => company.0));
            if let Ok(Err(lost @ StoreError::LeaseLost(_))) = &result {
                // Not the filter's failure: the poll outlived its lease.
                return Err(ActorFailure { actor: NAME, reason: lost.to_string() });
            }
            let Decided { scheduled, proven, decisions, outcome, replanned } =
                panic_guard::or_restart::<Self, _, _>(ctx, &log, "filter: committing a poll", result)
                    .map_err(|reason| ActorFailure { actor: NAME, reason })?;
            for (record, plan) in decisions {
                if plan == "nothing new" {
                    slog::debug!(log, "filter: not news"; "record_id" => record.0);
                } else {
                    slog::info!(log, "filter: planned"; "record_id" => record.0, "plan" => plan);
                }
            }
            if let Some(r) = replanned {
                slog::info!(log, "filter: the lifecycle settings changed since this salon's notices were planned; planned its stored bookings again";
                    "before" => r.before.as_deref().unwrap_or("unknown (planned before settings were recorded)"),
                    "now" => act.shared.policy.planned_with(), "bookings" => r.bookings,
                    "opened" => r.opened, "closed" => r.closed, "moved" => r.moved);
            }
            for (id, due_at) in scheduled {
                act.delay.do_send(Schedule { id, due_at });
            }
            if !proven.is_empty() {
                act.proven.do_send(Proven { ids: proven });
            }
            Ok(outcome)
        })))
    }
}
