//! The booking lifecycle's one policy: which notices a booking gets and when
//! (`plan`, in the filter's transaction), and whether a due one still goes out
//! (`recheck`, in the notifier just before sending). The actors call these two and
//! never look at a notice's kind themselves.
//!
//! - `audience`: to whom a booking's news goes.
//! - `change`: what counts as news (every "not a change" rule).
//! - `timing`: grace delays, reminder times, usefulness windows, quiet hours.

pub mod audience;
pub mod change;
mod plan;
mod recheck;
pub use recheck::Fallback;
pub mod timing;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::{Config, NotificationsConfig};
use crate::domain::{Kind, Phone, Reason, RecordId, Status};
use crate::store::{Known, Planned, StoredBooking};
use crate::yclients::Record;
use audience::Makers;

#[derive(Debug, Clone)]
pub struct Policy {
    skip_online: bool,
    bot_user_ids: HashSet<i64>,
    delay: chrono::Duration,
    poll_interval: chrono::Duration,
    polling: bool,
    proving_poll: bool,
    notifications: NotificationsConfig,
}

/// One record as a poll (or the baseline, or a webhook) saw it.
pub struct Sighting<'a> {
    pub record: &'a Record,
    pub known: &'a Known,
    /// When it was seen (the poll was asked), our clock.
    pub seen_at: DateTime<Utc>,
    /// YClients' clock minus ours.
    pub yclients_ahead_by: chrono::Duration,
    pub tz: Tz,
    /// It came by webhook rather than a poll.
    pub pushed: bool,
}

/// A notice whose time has come, with the booking as it stands.
pub struct DueNotice<'a> {
    pub kind: Kind,
    pub key: &'a str,
    /// The booking now; `None` when YClients says it is gone (404).
    pub fresh: Option<&'a Record>,
    pub booking: Option<&'a StoredBooking>,
    pub registered_by_bot: bool,
    pub now: DateTime<Utc>,
    pub tz: Tz,
}

/// What the notifier does with a due notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Recheck {
    Send(Box<Outgoing>),
    /// A final status without a message.
    Close(Status, Reason),
    /// Not yet (quiet hours).
    WaitUntil(DateTime<Utc>),
}

/// What goes out: to whom, the booking it describes, and for a change what the
/// client was told before and what differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub phone: Phone,
    pub record: Record,
    pub told: Option<(Record, String)>,
}

/// What vouches for the stored booking when a notice falls due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Proof {
    /// A stored booking exists.
    pub stored: bool,
    /// When the company's last committed poll was asked.
    pub polled_at: Option<DateTime<Utc>>,
    /// When a webhook last brought the booking.
    pub pushed_at: Option<DateTime<Utc>>,
}

/// Where the notifier takes the booking from before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A poll asked after the due time proves the stored booking current.
    Stored,
    /// Nothing proves it: ask YClients (one request).
    Reread,
    /// The salon's poll at the due time will prove it, for no extra request, and
    /// wake it; at the latest, look again then.
    WaitForPoll(DateTime<Utc>),
    /// Without proving polls (`monitor.proving_poll = false`): a re-read if the
    /// budget has a spare slot right now, else wait for the next poll, until then.
    RereadIfSpare(DateTime<Utc>),
}

impl Policy {
    pub fn new(config: &Config) -> Policy {
        let monitor = &config.monitor;
        Policy {
            skip_online: monitor.skip_online,
            bot_user_ids: monitor.bot_user_ids.iter().copied().collect(),
            delay: chrono::Duration::milliseconds(monitor.notification_delay_ms as i64),
            poll_interval: chrono::Duration::milliseconds(monitor.poll_interval_ms as i64),
            polling: monitor.enabled,
            proving_poll: monitor.proving_poll,
            notifications: config.notifications.clone(),
        }
    }

    fn makers(&self) -> Makers<'_> {
        Makers {
            bot_user_ids: &self.bot_user_ids,
            skip_online: self.skip_online,
        }
    }

    /// When a reminder of `kind` for a visit at `visit` is due; `None` when off.
    fn reminder_at(&self, kind: Kind, visit: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match kind {
            Kind::ReminderDayBefore => self
                .notifications
                .reminder_day_before
                .map(|clock| timing::day_before_at(visit, clock, tz)),
            Kind::ReminderHoursBefore => {
                self.notifications.reminder_hours_before.map(|h| visit - h)
            }
            _ => None,
        }
    }

    /// Until when a late reminder is still worth sending.
    fn useful_until(&self, kind: Kind, visit: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        match (kind, self.notifications.reminder_hours_before) {
            (Kind::ReminderHoursBefore, Some(lead)) => {
                timing::hours_before_useful_until(visit, lead)
            }
            (Kind::ReminderDayBefore, _) => timing::day_before_useful_until(visit, tz),
            _ => visit,
        }
    }

    fn enabled(&self, kind: Kind) -> bool {
        self.notifications.announces(kind)
    }

    /// When a notice was first meant to go out, for the lateness metric: a
    /// confirmation at the booking's creation plus the delay, a change one delay
    /// after it was first seen, a reminder at its time.
    pub fn first_due(
        &self,
        kind: Kind,
        key: &str,
        record: &Record,
        opened_at: DateTime<Utc>,
        tz: Tz,
    ) -> DateTime<Utc> {
        match kind {
            Kind::Created => record.created_at + self.delay,
            Kind::Changed | Kind::Cancelled => opened_at + self.delay,
            Kind::ReplyAnswer | Kind::VisitConfirmation | Kind::StaffAlert | Kind::Sms => opened_at,
            Kind::ReminderDayBefore | Kind::ReminderHoursBefore => key
                .parse::<DateTime<Utc>>()
                .ok()
                .and_then(|visit| self.reminder_at(kind, visit, tz))
                .unwrap_or(opened_at),
        }
    }

    /// The settings that decide which notices a booking has and when, as text:
    /// stored with each company's notices (`poll_cursors.planned_with`) so that a
    /// change is noticed and the stored bookings planned again.
    pub fn planned_with(&self) -> String {
        let n = &self.notifications;
        let off = || "off".to_string();
        format!(
            "changed={} cancelled={} reminder_day_before={} reminder_hours_before={} quiet_hours={}",
            n.changed,
            n.cancelled,
            n.reminder_day_before.map_or_else(off, |t| t.to_string()),
            n.reminder_hours_before
                .map_or_else(off, |h| format!("{}s", h.num_seconds())),
            n.quiet_hours.map_or_else(off, |q| q.to_string()),
        )
    }

    /// A booking's id and what the log says of its plan.
    pub fn describe(planned: &Planned) -> (RecordId, String) {
        let opened: Vec<String> = planned
            .open
            .iter()
            .map(|n| match n.reason {
                Some(reason) => format!("{} {} ({reason})", n.kind, n.status),
                None => format!("{} {}", n.kind, n.status),
            })
            .collect();
        let closed: Vec<String> = planned
            .close
            .iter()
            .map(|(id, reason)| format!("#{id} closed ({reason})"))
            .collect();
        let all = [opened, closed].concat();
        let text = if all.is_empty() {
            "nothing new".to_string()
        } else {
            all.join(", ")
        };
        (planned.booking.record, text)
    }
}

/// The key of a reminder: the visit it reminds of, to the second, in UTC.
pub fn reminder_key(visit: DateTime<Utc>) -> String {
    visit.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn visit_at(record: &Record, tz: Tz) -> Option<DateTime<Utc>> {
    record.visit.map(|v| v.in_zone(tz).with_timezone(&Utc))
}

pub fn phone_of(record: &Record) -> Result<Phone, Reason> {
    let raw = record
        .client
        .as_ref()
        .and_then(|c| c.phone.as_deref())
        .unwrap_or("");
    Phone::parse(raw).map_err(|e| e.reason())
}

/// A stored record's JSON read back; `None` when it no longer reads.
pub fn parse_record(json: &str) -> Option<Record> {
    serde_json::from_str(json)
        .ok()
        .and_then(|v| Record::from_json(v).ok())
}

#[cfg(test)]
mod tests;
