//! FilterActor: decides, per record, in one transaction with the company's cursor.

use actix::prelude::*;

use super::messages::{ActorFailure, FilterOutcome, RecordsSeen, Schedule};
use super::Shared;
use crate::domain::NotificationId;
use crate::domain::RecordId;
use crate::panic_guard::Guarded;
use crate::rules::{Facts, Verdict};
use crate::store::{self, NewNotification, Status, StoreError};
use chrono::{DateTime, Utc};

const NAME: &str = "filter";

pub struct FilterActor {
    shared: Shared,
    delay: Recipient<Schedule>,
}

impl FilterActor {
    pub fn new(shared: Shared, delay: Recipient<Schedule>) -> FilterActor {
        FilterActor { shared, delay }
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

/// One decision, for the log once it is committed.
struct Decision {
    record: RecordId,
    verdict: String,
    phone: Option<String>,
}

/// What one committed poll produced.
struct Committed {
    scheduled: Vec<(NotificationId, DateTime<Utc>)>,
    decisions: Vec<Decision>,
    outcome: FilterOutcome,
}

/// Decides about every readable record and commits the decisions together with the
/// company's new cursor. Runs on the blocking pool.
fn commit(
    shared: &Shared,
    conn: &mut store::Conn,
    msg: RecordsSeen,
) -> Result<Committed, StoreError> {
    let company = msg.company;
    let mut records = Vec::new();
    for item in msg.records {
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
    let monitored_since = store::cursor(conn, company)?
        .map(|c| c.monitored_since)
        .unwrap_or(msg.next_cursor);
    let mut decisions = Vec::new();
    let mut outcome = FilterOutcome::default();
    let scheduled = store::commit_poll(
        conn,
        company,
        &ids,
        msg.next_cursor,
        monitored_since,
        msg.polled_at,
        |known| {
            // Test-only faults strike here, inside the transaction.
            shared.faults.strike(NAME)?;
            let mut rows = Vec::new();
            for record in &records {
                let facts = Facts {
                    now: msg.polled_at,
                    monitored_since: Some(monitored_since),
                    registered_by_bot: known.bot_records.contains(&record.id),
                    already_notified: known.notified.contains(&record.id),
                };
                let verdict = shared.rules.judge(record, facts, msg.timezone);
                let (status, phone, reason) = match &verdict {
                    Verdict::Gone(_) | Verdict::Known(_) => {
                        outcome.ignored += 1;
                        note_decision(&mut decisions, record.id, &verdict);
                        continue;
                    }
                    Verdict::Skip(reason) => {
                        outcome.skipped += 1;
                        (Status::Skipped, None, Some(reason.to_string()))
                    }
                    Verdict::Notify(phone) => {
                        (Status::Pending, Some(phone.digits().to_string()), None)
                    }
                };
                note_decision(&mut decisions, record.id, &verdict);
                rows.push(NewNotification {
                    record: record.id,
                    status,
                    phone,
                    due_at: shared
                        .rules
                        .due_at(record, msg.polled_at, msg.yclients_ahead_by),
                    reason,
                    record_json: record.raw.to_string(),
                });
            }
            Ok(rows)
        },
    )?;
    outcome.scheduled = scheduled.len();
    Ok(Committed {
        scheduled,
        decisions,
        outcome,
    })
}

fn note_decision(decisions: &mut Vec<Decision>, record: RecordId, verdict: &Verdict) {
    decisions.push(Decision {
        record,
        verdict: describe(verdict),
        phone: match verdict {
            Verdict::Notify(phone) => Some(phone.to_string()),
            _ => None,
        },
    });
}

impl Handler<RecordsSeen> for FilterActor {
    type Result = AtomicResponse<Self, Result<FilterOutcome, ActorFailure>>;

    fn handle(&mut self, msg: RecordsSeen, _ctx: &mut Context<Self>) -> Self::Result {
        let shared = self.shared.clone();
        let company = msg.company;
        let work = Guarded::new(async move {
            let db = shared.db.clone();
            db.run(move |conn| commit(&shared, conn, msg)).await
        });
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |result, act, ctx| {
            let failure = |reason: String| ActorFailure { actor: NAME, reason };
            let result = match result {
                Ok(done) => done,
                Err(panic) => {
                    ctx.stop();
                    return Err(failure(format!("panicked: {panic}")));
                }
            };
            match result {
                Ok(Committed { scheduled, decisions, outcome }) => {
                    for d in decisions {
                        let log = &act.shared.logger;
                        match d.phone {
                            Some(phone) => slog::info!(log, "filter: new booking, confirmation scheduled";
                                "company_id" => company.0, "record_id" => d.record.0, "phone" => phone),
                            None if d.verdict.starts_with("known") => slog::debug!(log, "filter: not news";
                                "company_id" => company.0, "record_id" => d.record.0, "verdict" => d.verdict),
                            None => slog::info!(log, "filter: no confirmation";
                                "company_id" => company.0, "record_id" => d.record.0, "verdict" => d.verdict),
                        }
                    }
                    for (id, due_at) in scheduled {
                        act.delay.do_send(Schedule { id, due_at });
                    }
                    Ok(outcome)
                }
                Err(e) => {
                    slog::error!(act.shared.logger, "filter: cannot commit; restarting"; "company_id" => company.0, "error" => %e);
                    ctx.stop();
                    Err(failure(e.to_string()))
                }
            }
        })))
    }
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Gone(r) => format!("gone: {r}"),
        Verdict::Known(r) => format!("known: {r}"),
        Verdict::Skip(r) => format!("skipped: {r}"),
        Verdict::Notify(_) => "notify".into(),
    }
}
