//! `Policy::plan`: what a sighting of a booking means, inside the filter's
//! transaction: its stored state, the notices it opens, the pending ones it closes.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::change::{BookingState, Changes};
use super::{parse_record, phone_of, reminder_key, timing, visit_at, Policy, Sighting};
use crate::domain::{Audience, Kind, Phone, Reason, Status};
use crate::store::{BookingUpdate, NewNotification, OpenNotice, Planned, StoredBooking};
use crate::yclients::{Attendance, Record};

impl Policy {
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
                pushed_at: s.pushed.then_some(s.seen_at),
                visit_at: visit_at(record, s.tz),
            },
            open: Vec::new(),
            close: Vec::new(),
            reschedule: Vec::new(),
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
            .classify(record, registered, s.known.monitored_since);
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
        if legacy_created.is_some()
            || record.is_gone()
            || record.created_at < s.known.monitored_since
        {
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
            message: None,
        });
    }

    /// A future visit with a usable phone, or why not.
    pub(super) fn confirmable(
        &self,
        record: &Record,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Result<Phone, Reason> {
        match visit_at(record, tz) {
            None => return Err(Reason::NoVisitTime),
            Some(visit) if visit <= now => return Err(Reason::PastVisit),
            Some(_) => {}
        }
        phone_of(record)
    }

    /// A change or cancellation against what the client was told.
    fn plan_change(&self, s: &Sighting, open: &[OpenNotice], planned: &mut Planned) {
        // What the client was told, or is being told right now: a confirmation on its
        // way out carries the state it was rendered from, and a change seen meanwhile
        // is news after it.
        let in_flight = s
            .known
            .created
            .get(&s.record.id)
            .filter(|(status, _)| *status == Status::Sending)
            .map(|(_, json)| json.as_str());
        let told = planned.booking.told_json.as_deref().or(in_flight);
        let Some(told) = told.and_then(parse_record) else {
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
            message: None,
        });
    }

    /// A stored booking planned again under changed lifecycle settings: the
    /// reminders they call for open, those they no longer do close (`moved`,
    /// `turned_off`), and pending notices whose time the settings moved (a reminder's
    /// hour, or one held by quiet hours) fall due at their new time, where the
    /// notifier checks them once more. Nothing else about the booking changes.
    /// `None` for a booking that is gone or whose visit is over.
    pub fn replan(&self, s: &Sighting, stored: &StoredBooking) -> Option<Planned> {
        let record = s.record;
        if record.is_gone() || visit_at(record, s.tz).is_none_or(|v| v <= s.seen_at) {
            return None;
        }
        let open: &[OpenNotice] = s
            .known
            .open
            .get(&record.id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut planned = Planned {
            booking: BookingUpdate {
                record: record.id,
                audience: stored.audience,
                record_json: stored.record_json.clone(),
                told_json: stored.told_json.clone(),
                revision: stored.revision,
                pushed_at: None,
                visit_at: visit_at(record, s.tz),
            },
            open: Vec::new(),
            close: Vec::new(),
            reschedule: Vec::new(),
        };
        let (off, on): (Vec<&OpenNotice>, Vec<&OpenNotice>) =
            open.iter().partition(|n| !self.enabled(n.kind));
        planned
            .close
            .extend(off.iter().map(|n| (n.id, Reason::TurnedOff)));
        let on: Vec<OpenNotice> = on.into_iter().cloned().collect();
        self.plan_reminders(s, &on, &mut planned);
        let visit = visit_at(record, s.tz);
        for n in on.iter().filter(|n| n.status == Status::Pending) {
            if planned.close.iter().any(|(id, _)| *id == n.id) {
                continue;
            }
            let due = if n.kind.is_reminder() {
                visit.and_then(|v| self.reminder_at(n.kind, v, s.tz))
            } else {
                // Held past its grace delay: by quiet hours, or a retry's backoff.
                (n.due_at > s.seen_at + self.delay).then_some(s.seen_at)
            };
            if let Some(due) = due.filter(|d| *d != n.due_at) {
                planned.reschedule.push((n.id, due));
            }
        }
        Some(planned)
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
                message: None,
            });
        }
    }
}
