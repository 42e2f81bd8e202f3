//! YClients' webhook events, committed in groups: the events that arrive while the
//! filter commits one group share the next group's transaction (and its fsync), so
//! a burst costs one commit per group, not per event. Each event is still answered
//! only once its group is committed. An event about a company whose monitoring has
//! not begun (it came before the process's first YClients answer) waits for the
//! start, up to `yclients.request_timeout_ms`, rather than being refused.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use chrono::Utc;
use tokio::sync::{mpsc, oneshot};

use crate::domain::CompanyId;
use crate::messages::RecordsSeen;
use crate::monitoring_start::MonitoringStart;
use crate::salons::Salons;
use crate::store::{self, Db};
use crate::yclients::Record;

/// The most events one transaction takes.
const MAX_GROUP: usize = 256;

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    Yes,
    /// Monitoring of the salon has not begun (its start is not known yet):
    /// whether a booking is news cannot be told.
    NotYet,
    Failed(String),
}

struct Pending {
    company: CompanyId,
    record: Record,
    reply: oneshot::Sender<Committed>,
}

/// The way from the webhook endpoint to the filter.
#[derive(Clone)]
pub struct Batcher {
    inbox: mpsc::UnboundedSender<Pending>,
    start: Arc<MonitoringStart>,
    /// How long an event waits for its company's monitoring to begin.
    patience: Duration,
}

impl Batcher {
    /// Starts the grouping loop on the current actix system.
    pub fn start(
        filter: Recipient<RecordsSeen>,
        db: Db,
        salons: Arc<Salons>,
        start: Arc<MonitoringStart>,
        patience: Duration,
    ) -> Batcher {
        let (inbox, rx) = mpsc::unbounded_channel();
        actix_rt::spawn(run(rx, filter, db, salons));
        Batcher {
            inbox,
            start,
            patience,
        }
    }

    /// Resolves once the record's group is committed (or could not be). Before
    /// its company's monitoring began, waits for the start up to `patience`
    /// (in this task: the grouping loop goes on for the others).
    pub async fn commit(&self, company: CompanyId, record: Record) -> Committed {
        let deadline = tokio::time::Instant::now() + self.patience;
        loop {
            let began = self.start.next_beginning();
            match self.commit_once(company, record.clone()).await {
                Committed::NotYet => {}
                done => return done,
            }
            if tokio::time::timeout_at(deadline, began).await.is_err() {
                return Committed::NotYet;
            }
        }
    }

    async fn commit_once(&self, company: CompanyId, record: Record) -> Committed {
        let (reply, answer) = oneshot::channel();
        if self
            .inbox
            .send(Pending {
                company,
                record,
                reply,
            })
            .is_err()
        {
            return Committed::Failed("the webhook queue is closed (shutting down)".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Committed::Failed("the webhook queue stopped".into()))
    }
}

/// Waits for the next item, then takes what else has queued meanwhile, up to
/// `max`: what arrived while the last group was committed (`None`: closed).
pub(super) async fn next_group<T>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    max: usize,
) -> Option<Vec<T>> {
    let mut group = vec![rx.recv().await?];
    while group.len() < max {
        match rx.try_recv() {
            Ok(next) => group.push(next),
            Err(_) => break,
        }
    }
    Some(group)
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Pending>,
    filter: Recipient<RecordsSeen>,
    db: Db,
    salons: Arc<Salons>,
) {
    // Once a salon's monitoring began, it never un-begins: ask the database once.
    let mut monitored: HashSet<CompanyId> = HashSet::new();
    while let Some(arrived) = next_group(&mut rx, MAX_GROUP).await {
        let mut groups: BTreeMap<CompanyId, Vec<Pending>> = BTreeMap::new();
        for pending in arrived {
            groups.entry(pending.company).or_default().push(pending);
        }
        for (company, group) in groups {
            let answer = commit(&filter, &db, &salons, &mut monitored, company, &group).await;
            for pending in group {
                let _ = pending.reply.send(answer.clone());
            }
        }
    }
}

async fn commit(
    filter: &Recipient<RecordsSeen>,
    db: &Db,
    salons: &Salons,
    monitored: &mut HashSet<CompanyId>,
    company: CompanyId,
    group: &[Pending],
) -> Committed {
    if !monitored.contains(&company) {
        match db.run(move |c| store::monitored_since(c, company)).await {
            Ok(Some(_)) => {
                monitored.insert(company);
            }
            Ok(None) => return Committed::NotYet,
            Err(e) => return Committed::Failed(format!("database: {e}")),
        }
    }
    // One record once, as its latest event has it (YClients repeats updates).
    let mut records: Vec<Record> = Vec::new();
    let mut at: HashMap<crate::domain::RecordId, usize> = HashMap::new();
    for pending in group {
        match at.get(&pending.record.id) {
            Some(i) => records[*i] = pending.record.clone(),
            None => {
                at.insert(pending.record.id, records.len());
                records.push(pending.record.clone());
            }
        }
    }
    let now = Utc::now();
    let seen = RecordsSeen {
        company,
        records: records.into_iter().map(Ok).collect(),
        asked_at: now,
        polled_at: now,
        next_cursor: None,
        baselined: false,
        // Taken only once monitoring began: the filter reads the start stored then.
        monitoring_began: now,
        yclients_ahead_by: chrono::Duration::zero(),
        timezone: salons.known(company).timezone,
        poll_every: None,
    };
    match filter.send(seen).await {
        Ok(Ok(_)) => Committed::Yes,
        Ok(Err(failure)) => Committed::Failed(failure.to_string()),
        Err(e) => Committed::Failed(format!("the filter is unreachable: {e}")),
    }
}
