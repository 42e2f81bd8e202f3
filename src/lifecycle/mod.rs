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
pub mod timing;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::config::{Config, NotificationsConfig};
use crate::domain::{Audience, Kind, Phone, Reason, RecordId, Status};
use crate::store::{BookingUpdate, Known, NewNotification, OpenNotice, Planned, StoredBooking};
use crate::yclients::{Attendance, Record};
use audience::Makers;
use change::{BookingState, Changes};

#[derive(Debug, Clone)]
pub struct Policy {
    skip_online: bool,
    bot_user_ids: HashSet<i64>,
    delay: chrono::Duration,
    poll_interval: chrono::Duration,
    polling: bool,
    notifications: NotificationsConfig,
}

/// One record as a poll (or the baseline, or a webhook) saw it.
pub struct Sighting<'a> {
    pub record: &'a Record,
    pub known: &'a Known,
    pub monitored_since: DateTime<Utc>,
    /// When it was seen (the poll was asked), our clock.
    pub seen_at: DateTime<Utc>,
    /// YClients' clock minus ours.
    pub yclients_ahead_by: chrono::Duration,
    pub tz: Tz,
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

/// Where the notifier takes the booking from before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A poll asked after the due time proves the stored booking current.
    Stored,
    /// Nothing proves it: ask YClients (one request).
    Reread,
    /// The next poll will prove it soon, for no extra request.
    WaitForPoll(DateTime<Utc>),
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
            notifications: config.notifications.clone(),
        }
    }

    fn makers(&self) -> Makers<'_> {
        Makers {
            bot_user_ids: &self.bot_user_ids,
            skip_online: self.skip_online,
        }
    }

    /// Everything a sighting means: the booking's stored state, the notices it opens,
    /// and the pending ones it makes moot.
    pub fn plan(&self, s: &Sighting) -> Planned {
        let record = s.record;
        let id = record.id;
        let registered = s.known.bot_records.contains(&id);
        let open: &[OpenNotice] = s.known.open.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        let mut planned = Planned {
            booking: BookingUpdate {
                record: id,
                audience: Audience::Bot,
                record_json: record.raw.to_string(),
                told_json: None,
                revision: 0,
            },
            open: Vec::new(),
            close: Vec::new(),
        };
        match s.known.bookings.get(&id) {
            Some(stored) => {
                planned.booking.audience = if self.makers().is_bot(record, registered) {
                    Audience::Bot
                } else {
                    stored.audience
                };
                planned.booking.told_json = stored.told_json.clone();
                planned.booking.revision = stored.revision;
            }
            None => self.first_sight(s, registered, &mut planned),
        }
        if planned.booking.audience != Audience::Bot {
            self.plan_change(s, open, &mut planned);
        }
        self.plan_reminders(s, open, &mut planned);
        planned
    }

    /// A booking never stored before: to whom it belongs, what its client knows,
    /// and its confirmation if it is ours to confirm.
    fn first_sight(&self, s: &Sighting, registered: bool, planned: &mut Planned) {
        let record = s.record;
        let audience = self
            .makers()
            .classify(record, registered, s.monitored_since);
        let legacy_created = s.known.created.get(&record.id);
        planned.booking.audience = audience;
        planned.booking.told_json = match audience {
            Audience::NotOurs => Some(record.raw.to_string()),
            // Stored before the lifecycle: what its confirmation said.
            Audience::Ours => legacy_created
                .filter(|(status, _)| *status == Status::Sent)
                .map(|(_, json)| json.clone()),
            Audience::Bot => None,
        };
        if legacy_created.is_some() || record.is_gone() || record.created_at < s.monitored_since {
            return;
        }
        // Online and bot bookings get a `skipped` row: the salon sees why no confirmation.
        let confirmable = match audience {
            Audience::Ours => self.confirmable(record, s.seen_at, s.tz),
            Audience::NotOurs => Err(Reason::OnlineBooking),
            Audience::Bot => Err(Reason::BotBooking),
        };
        let (status, phone, reason) = match confirmable {
            Ok(phone) => (Status::Pending, Some(phone.digits().to_string()), None),
            Err(reason) => (Status::Skipped, None, Some(reason)),
        };
        planned.open.push(NewNotification {
            kind: Kind::Created,
            key: String::new(),
            status,
            phone,
            due_at: timing::grace_due_at(
                record.created_at,
                s.seen_at,
                s.yclients_ahead_by,
                self.delay,
            ),
            reason,
            record_json: record.raw.to_string(),
        });
    }

    /// A future visit with a usable phone, or why not.
    fn confirmable(&self, record: &Record, now: DateTime<Utc>, tz: Tz) -> Result<Phone, Reason> {
        match visit_at(record, tz) {
            None => return Err(Reason::NoVisitTime),
            Some(visit) if visit <= now => return Err(Reason::PastVisit),
            Some(_) => {}
        }
        phone_of(record)
    }

    /// A change or cancellation against what the client was told.
    fn plan_change(&self, s: &Sighting, open: &[OpenNotice], planned: &mut Planned) {
        let Some(told) = planned.booking.told_json.as_deref().and_then(parse_record) else {
            // Nothing told yet: a pending confirmation carries the final state.
            return;
        };
        let record = s.record;
        let told_state = BookingState::of(&told, s.tz);
        let now_state = BookingState::of(record, s.tz);
        let ahead = |state: &BookingState| state.visit_at.is_some_and(|v| v > s.seen_at);
        let has_open = |kind: Kind| open.iter().any(|n| n.kind == kind);
        let close = |kind: Kind, reason: Reason, planned: &mut Planned| {
            for n in open.iter().filter(|n| n.kind == kind) {
                planned.close.push((n.id, reason));
            }
        };
        let wanted = if record.is_gone() {
            close(Kind::Changed, Reason::Superseded, planned);
            let wanted = self.notifications.cancelled
                && !told_state.cancelled
                && ahead(&told_state)
                && !has_open(Kind::Cancelled);
            wanted.then_some(Kind::Cancelled)
        } else {
            close(Kind::Cancelled, Reason::NotCancelled, planned);
            let wanted = self.notifications.changed
                && Changes::between(&told_state, &now_state).any()
                && ahead(&now_state)
                && !has_open(Kind::Changed);
            wanted.then_some(Kind::Changed)
        };
        let Some(kind) = wanted else { return };
        let Ok(phone) = phone_of(record).or_else(|_| phone_of(&told)) else {
            return;
        };
        planned.booking.revision += 1;
        planned.open.push(NewNotification {
            kind,
            key: format!("r{}", planned.booking.revision),
            status: Status::Pending,
            phone: Some(phone.digits().to_string()),
            due_at: s.seen_at + self.delay,
            reason: None,
            record_json: record.raw.to_string(),
        });
    }

    /// Reminders keyed by the visit time: a moved visit closes the old ones and
    /// opens new ones; a cancelled or attended one closes them.
    fn plan_reminders(&self, s: &Sighting, open: &[OpenNotice], planned: &mut Planned) {
        let record = s.record;
        let visit = visit_at(record, s.tz);
        let over = if record.is_gone() {
            Some(Reason::Cancelled)
        } else if record.attendance == Attendance::Came {
            Some(Reason::Attended)
        } else if visit.is_none_or(|v| v <= s.seen_at) {
            Some(Reason::PastVisit)
        } else {
            None
        };
        let key = visit.map(reminder_key);
        for kind in [Kind::ReminderDayBefore, Kind::ReminderHoursBefore] {
            for n in open.iter().filter(|n| n.kind == kind) {
                if let Some(reason) = over {
                    planned.close.push((n.id, reason));
                } else if Some(&n.key) != key.as_ref() {
                    planned.close.push((n.id, Reason::Moved));
                }
            }
            let (Some(visit), Some(key), None) = (visit, &key, over) else {
                continue;
            };
            let Some(at) = self.reminder_at(kind, visit, s.tz) else {
                continue;
            };
            if open.iter().any(|n| n.kind == kind && &n.key == key) {
                continue;
            }
            let Ok(phone) = phone_of(record) else {
                continue;
            };
            // Too late when first learned of: not sent (late delivery is for outages).
            let late = at <= s.seen_at;
            planned.open.push(NewNotification {
                kind,
                key: key.clone(),
                status: if late {
                    Status::Skipped
                } else {
                    Status::Pending
                },
                phone: Some(phone.digits().to_string()),
                due_at: at,
                reason: late.then_some(Reason::LateBooking),
                record_json: record.raw.to_string(),
            });
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
        match kind {
            Kind::Created => true,
            Kind::Changed => self.notifications.changed,
            Kind::Cancelled => self.notifications.cancelled,
            Kind::ReminderDayBefore => self.notifications.reminder_day_before.is_some(),
            Kind::ReminderHoursBefore => self.notifications.reminder_hours_before.is_some(),
        }
    }

    /// Just before sending: does the notice still apply to the booking as it
    /// stands, and may it go out now?
    pub fn recheck(&self, due: &DueNotice) -> Recheck {
        let decided = if !self.enabled(due.kind) {
            Err((Status::Skipped, Reason::TurnedOff))
        } else {
            match due.kind {
                Kind::Created => self.recheck_created(due),
                Kind::Changed => self.recheck_changed(due),
                Kind::Cancelled => self.recheck_cancelled(due),
                Kind::ReminderDayBefore | Kind::ReminderHoursBefore => self.recheck_reminder(due),
            }
        };
        let outgoing = match decided {
            Ok(outgoing) => outgoing,
            Err((status, reason)) => return Recheck::Close(status, reason),
        };
        let Some(quiet) = self.notifications.quiet_hours else {
            return Recheck::Send(Box::new(outgoing));
        };
        let release = quiet.release(due.now, due.tz);
        if release <= due.now {
            return Recheck::Send(Box::new(outgoing));
        }
        let visit = visit_at(&outgoing.record, due.tz).unwrap_or(release);
        if due.kind.is_reminder() && release > self.useful_until(due.kind, visit, due.tz) {
            return Recheck::Close(Status::Skipped, Reason::TooLate);
        }
        Recheck::WaitUntil(release)
    }

    fn recheck_created(&self, due: &DueNotice) -> Result<Outgoing, (Status, Reason)> {
        let record = due.fresh.ok_or((Status::Cancelled, Reason::Deleted))?;
        if record.deleted {
            return Err((Status::Cancelled, Reason::Deleted));
        }
        if record.attendance == Attendance::Cancelled {
            return Err((Status::Cancelled, Reason::Cancelled));
        }
        if self.makers().is_bot(record, due.registered_by_bot) {
            return Err((Status::Skipped, Reason::BotBooking));
        }
        if self.skip_online && record.online {
            return Err((Status::Skipped, Reason::OnlineBooking));
        }
        let phone = self
            .confirmable(record, due.now, due.tz)
            .map_err(|r| (Status::Skipped, r))?;
        Ok(Outgoing {
            phone,
            record: record.clone(),
            told: None,
        })
    }

    fn told(&self, due: &DueNotice) -> Option<Record> {
        due.booking?.told_json.as_deref().and_then(parse_record)
    }

    fn recheck_changed(&self, due: &DueNotice) -> Result<Outgoing, (Status, Reason)> {
        let skip = |reason| (Status::Skipped, reason);
        let record = due
            .fresh
            .filter(|r| !r.is_gone())
            .ok_or(skip(Reason::Cancelled))?;
        let told = self.told(due).ok_or(skip(Reason::NoChange))?;
        let changes = Changes::between(
            &BookingState::of(&told, due.tz),
            &BookingState::of(record, due.tz),
        );
        if !changes.any() {
            return Err(skip(Reason::NoChange));
        }
        if visit_at(record, due.tz).is_none_or(|v| v <= due.now) {
            return Err(skip(Reason::PastVisit));
        }
        let phone = phone_of(record).map_err(skip)?;
        let described = changes.describe(&told, record, due.tz);
        Ok(Outgoing {
            phone,
            record: record.clone(),
            told: Some((told, described)),
        })
    }

    fn recheck_cancelled(&self, due: &DueNotice) -> Result<Outgoing, (Status, Reason)> {
        let skip = |reason| (Status::Skipped, reason);
        if due.fresh.is_some_and(|r| !r.is_gone()) {
            return Err(skip(Reason::NotCancelled));
        }
        let told = self.told(due).ok_or(skip(Reason::NoChange))?;
        if told.is_gone() {
            return Err(skip(Reason::NoChange));
        }
        if visit_at(&told, due.tz).is_none_or(|v| v <= due.now) {
            return Err(skip(Reason::PastVisit));
        }
        // The visit as the client knows it: a deleted record may come back bare, or
        // not at all (404), and what is kept as told must say it is off.
        let mut record = due.fresh.cloned().unwrap_or_else(|| {
            let mut gone = told.clone();
            gone.deleted = true;
            gone.raw["deleted"] = serde_json::Value::Bool(true);
            gone
        });
        if record.visit.is_none() {
            record.visit = told.visit;
        }
        let phone = phone_of(&record)
            .or_else(|_| phone_of(&told))
            .map_err(skip)?;
        Ok(Outgoing {
            phone,
            record,
            told: None,
        })
    }

    fn recheck_reminder(&self, due: &DueNotice) -> Result<Outgoing, (Status, Reason)> {
        let skip = |reason| (Status::Skipped, reason);
        let record = due
            .fresh
            .filter(|r| !r.is_gone())
            .ok_or((Status::Cancelled, Reason::Cancelled))?;
        if record.attendance == Attendance::Came {
            return Err(skip(Reason::Attended));
        }
        let visit = visit_at(record, due.tz)
            .filter(|v| reminder_key(*v) == due.key)
            .ok_or(skip(Reason::Moved))?;
        if due.now > self.useful_until(due.kind, visit, due.tz) {
            return Err(skip(Reason::TooLate));
        }
        let at = self.reminder_at(due.kind, visit, due.tz).unwrap_or(due.now);
        let told_at = due.booking.and_then(StoredBooking::told_at);
        if told_at.is_some_and(|t| t > at - self.notifications.reminder_min_gap_hours) {
            return Err(skip(Reason::RecentlyTold));
        }
        let phone = phone_of(record).map_err(skip)?;
        Ok(Outgoing {
            phone,
            record: record.clone(),
            told: None,
        })
    }

    /// Whether a due notice needs a re-read. A poll asked after `due_at` proves the
    /// stored booking current (it would have brought any change since); short of
    /// that, waiting for the next poll costs no request; only when polls are off or
    /// late does the notifier ask YClients.
    pub fn source(
        &self,
        due_at: DateTime<Utc>,
        proven_at: Option<DateTime<Utc>>,
        stored: bool,
        now: DateTime<Utc>,
    ) -> Source {
        let Some(proven_at) = proven_at.filter(|_| stored && self.polling) else {
            return Source::Reread;
        };
        if proven_at >= due_at {
            return Source::Stored;
        }
        let give_up = due_at + self.poll_interval * 2;
        if now >= give_up {
            return Source::Reread;
        }
        let margin = (self.poll_interval / 4).min(chrono::Duration::seconds(5));
        let next_poll = proven_at + self.poll_interval + margin;
        let soonest = now + chrono::Duration::milliseconds(20);
        Source::WaitForPoll(next_poll.max(soonest).min(give_up.max(soonest)))
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
            Kind::ReminderDayBefore | Kind::ReminderHoursBefore => key
                .parse::<DateTime<Utc>>()
                .ok()
                .and_then(|visit| self.reminder_at(kind, visit, tz))
                .unwrap_or(opened_at),
        }
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

fn phone_of(record: &Record) -> Result<Phone, Reason> {
    let raw = record
        .client
        .as_ref()
        .and_then(|c| c.phone.as_deref())
        .unwrap_or("");
    Phone::parse(raw).map_err(|e| e.reason())
}

fn parse_record(json: &str) -> Option<Record> {
    serde_json::from_str(json)
        .ok()
        .and_then(|v| Record::from_json(v).ok())
}

#[cfg(test)]
mod tests;
