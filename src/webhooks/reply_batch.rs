//! Clients' replies, committed in groups: the replies that arrive while one group
//! is being committed share the next group's transaction (and its `fsync`), so a
//! burst costs one commit per group, not per reply. Each reply is still answered
//! 200 only once its group is committed. A group that fails is taken again one
//! reply per transaction, so one bad reply cannot hold the others back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::batch::next_group;
use crate::domain::{CompanyId, Intent, MatchedBy, RecordId};
use crate::replies::decide::{decide, Facts, SenderScope};
use crate::replies::inbound::Inbound;
use crate::salons::Salons;
use crate::store::{self, Conn, Db, StoreError, Taken};

/// The most replies one transaction takes.
const MAX_GROUP: usize = 128;

/// What was made of a reply: its id, the rows it opened (due then) and what it
/// was read as; `None` for a provider's repeat.
#[derive(Debug, Clone)]
pub struct Decided {
    pub reply_id: i64,
    pub scheduled: store::Opened,
    pub matched_by: MatchedBy,
    pub intent: Intent,
    pub company: Option<CompanyId>,
    pub record: Option<RecordId>,
}

/// Which of our senders got a reply.
#[derive(Debug, Clone, Default)]
pub struct Arrival {
    /// The one salon the sender serves, if one.
    pub only_salon: Option<CompanyId>,
    /// Every salon the sender writes for.
    pub sender: SenderScope,
}

/// A reply waiting for its group.
struct Pending {
    message: Inbound,
    arrival: Arrival,
    received: DateTime<Utc>,
    answer: oneshot::Sender<Result<Option<Decided>, String>>,
}

/// The way from the inbound endpoints to the database.
#[derive(Clone)]
pub struct ReplyBatcher {
    inbox: mpsc::UnboundedSender<Pending>,
}

/// What deciding a reply needs besides the reply and the database.
#[derive(Clone)]
pub struct Deciding {
    pub salons: Arc<Salons>,
    pub acknowledge: bool,
    pub window: chrono::Duration,
}

impl ReplyBatcher {
    /// Starts the grouping loop on the current actix system.
    pub fn start(db: Db, deciding: Deciding) -> ReplyBatcher {
        let (inbox, rx) = mpsc::unbounded_channel();
        actix_rt::spawn(run(rx, db, deciding));
        ReplyBatcher { inbox }
    }

    /// Resolves once the reply's group is committed (or could not be).
    pub async fn take(
        &self,
        message: Inbound,
        arrival: Arrival,
    ) -> Result<Option<Decided>, String> {
        let (answer, answered) = oneshot::channel();
        let pending = Pending {
            message,
            arrival,
            received: Utc::now(),
            answer,
        };
        if self.inbox.send(pending).is_err() {
            return Err("the reply queue is closed (shutting down)".into());
        }
        answered
            .await
            .unwrap_or_else(|_| Err("the reply queue stopped".into()))
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Pending>, db: Db, deciding: Deciding) {
    while let Some(group) = next_group(&mut rx, MAX_GROUP).await {
        let (answers, work): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|p| (p.answer, (p.message, p.arrival, p.received)))
            .unzip();
        let deciding = deciding.clone();
        let results = db
            .run(move |c| {
                if work.len() > 1 {
                    match take_group(c, &work, &deciding) {
                        Ok(all) => return Ok(all.into_iter().map(Ok).collect()),
                        // The database is away: `run` tries the group again.
                        Err(e) if e.is_unavailable() => return Err(e),
                        Err(_) => {}
                    }
                }
                // One at a time: each reply its own transaction and its own fate.
                work.iter()
                    .map(
                        |one| match take_group(c, std::slice::from_ref(one), &deciding) {
                            Ok(mut decided) => Ok(Ok(decided.remove(0))),
                            Err(e) if e.is_unavailable() => Err(e),
                            Err(e) => Ok(Err(e.to_string())),
                        },
                    )
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await
            .unwrap_or_else(|e| vec![Err(e.to_string()); answers.len()]);
        for (answer, result) in answers.into_iter().zip(results) {
            // The endpoint may have gone (the provider hung up): it sends again.
            let _ = answer.send(result);
        }
    }
}

/// Takes the replies in one transaction.
fn take_group(
    conn: &mut Conn,
    work: &[(Inbound, Arrival, DateTime<Utc>)],
    deciding: &Deciding,
) -> Result<Vec<Option<Decided>>, StoreError> {
    let now = Utc::now();
    let replies: Vec<_> = work
        .iter()
        .map(|(message, arrival, received)| {
            let mut lookup = message.lookup(*received, deciding.window);
            lookup.scope = arrival.sender.salons.clone();
            (message.to_reply(), lookup)
        })
        .collect();
    let mut summaries = vec![None; work.len()];
    let taken = store::take_replies(conn, &replies, now, |i, context, id| {
        let (inbound, arrival, _) = &work[i];
        let salon = |company: CompanyId| deciding.salons.known(company);
        let facts = Facts {
            inbound,
            now,
            acknowledge: deciding.acknowledge,
            sender_salon: arrival.only_salon,
            salon: &salon,
            sender: &arrival.sender,
        };
        let decision = decide(&facts, context, id);
        summaries[i] = Some((
            decision.matched_by,
            decision.intent,
            decision.company,
            decision.record,
        ));
        decision
    })?;
    Ok(taken
        .into_iter()
        .zip(summaries)
        .map(|(taken, summary): (Taken, _)| {
            let ((reply_id, scheduled), (matched_by, intent, company, record)) =
                taken.zip(summary)?;
            Some(Decided {
                reply_id,
                scheduled,
                matched_by,
                intent,
                company,
                record,
            })
        })
        .collect())
}
