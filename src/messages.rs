//! The typed messages the actors pass, each with the actor that handles it.

use actix::Message;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::{CompanyId, NotificationId};
use crate::yclients::{Record, RecordError};

/// Poller (or a YClients webhook) → Filter: what one poll of a company found, or
/// the one record a webhook brought. The filter commits its decisions and
/// `next_cursor` together, then replies; only then does the poller move on, or the
/// webhook endpoint answer 200.
#[derive(Debug, Message)]
#[rtype(result = "Result<FilterOutcome, ActorFailure>")]
pub struct RecordsSeen {
    pub company: CompanyId,
    pub records: Vec<Result<Record, RecordError>>,
    /// When the poll was asked (our clock): the records are current as of then.
    pub asked_at: DateTime<Utc>,
    /// When its answer came.
    pub polled_at: DateTime<Utc>,
    /// The poll's new cursor; `None` for a webhook, which leaves the cursor alone.
    pub next_cursor: Option<DateTime<Utc>>,
    /// The records include the baseline of the company's future bookings.
    pub baselined: bool,
    /// This process's start on YClients' clock: when monitoring of the company
    /// began, unless a process registered an earlier start.
    pub monitoring_began: DateTime<Utc>,
    /// YClients' clock minus ours.
    pub yclients_ahead_by: chrono::Duration,
    /// The salon's zone, to tell a past visit from a future one.
    pub timezone: Tz,
    /// How often the poller polls the salon now (`None` for a webhook), kept
    /// with the cursor for `status`.
    pub poll_every: Option<std::time::Duration>,
}

/// Filter → Poller (the answer to `RecordsSeen`): what the poll's records meant,
/// and what the salon's cadence needs to know of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterOutcome {
    pub scheduled: usize,
    pub skipped: usize,
    pub ignored: usize,
    /// Bookings created or changed: records that opened or closed a notice.
    pub news: usize,
    /// With proving polls, the earliest notice falling due after the poll and
    /// within its reach: the salon's next poll comes then to prove it.
    pub next_due: Option<DateTime<Utc>>,
}

/// The daemon → Poller: a reload changed the running config (companies added or
/// removed, the interval); the poller reads the new one from `LiveConfig`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct ConfigChanged;

/// Leases → Delay: this instance now holds more companies; their pending rows
/// are timed here from now on.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Refill;

/// Filter → Delay: a pending notification and when it is due.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Schedule {
    pub id: NotificationId,
    pub due_at: DateTime<Utc>,
}

/// Filter → Delay: a poll proved these notices current (each had fallen due since
/// the poll before): one waiting for that proof is carried out now, and one being
/// carried out right now is brought back as soon as it is answered, whatever it
/// was told to wait for.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Proven {
    pub ids: Vec<NotificationId>,
}

/// Delay → Notifier: its time has come. The reply is the retry arrow back.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<DueOutcome, ActorFailure>")]
pub struct Due {
    pub id: NotificationId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueOutcome {
    /// Nothing more to do for this row (sent, skipped, cancelled, failed, or not ours).
    Done,
    /// Still pending: ask again at this time.
    RetryAt(DateTime<Utc>),
    /// Done, and carrying it out opened these rows (the client's answer once the
    /// visit is confirmed in YClients), due then.
    Opened(Vec<(NotificationId, DateTime<Utc>)>),
}

/// Shutdown → Notifier: answered once the send in flight, if any, has finished.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Drain;

/// Why an actor could not do what a message asked; it restarts itself after replying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{actor} failed: {reason}")]
pub struct ActorFailure {
    pub actor: &'static str,
    pub reason: String,
}
