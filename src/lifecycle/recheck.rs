//! `Policy::recheck` (does a due notice still apply, may it go out now?) and
//! `Policy::source` (must the notifier ask YClients first?), just before sending.

use chrono::{DateTime, Utc};

use super::change::{BookingState, Changes};
use super::{
    parse_record, phone_of, reminder_key, visit_at, DueNotice, Outgoing, Policy, Proof, Recheck,
    Source,
};
use crate::domain::{Kind, Reason, Status};
use crate::store::StoredBooking;
use crate::yclients::{Attendance, Record};

impl Policy {
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
                // Carried out by `delivery`, never rechecked as a notice.
                Kind::ReplyAnswer | Kind::VisitConfirmation | Kind::StaffAlert | Kind::Sms => {
                    Err((Status::Failed, Reason::NotANotice))
                }
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
    /// stored booking current (it would have brought any change since), and so does
    /// a webhook about the booking. Short of that, a booking that webhooks bring is
    /// re-read at once; otherwise the notice waits for the poll that proves it,
    /// which costs no request: with `monitor.proving_poll` that poll comes at the
    /// due time and wakes the notice (`WaitForPoll`); without, it is the next one,
    /// unless YClients' budget has a spare slot right now (`RereadIfSpare`). Late
    /// polls (two intervals) or polling off: re-read.
    pub fn source(&self, due_at: DateTime<Utc>, proof: Proof, now: DateTime<Utc>) -> Source {
        if !proof.stored {
            return Source::Reread;
        }
        // A webhook about the booking after its due time proves it as well as a poll.
        if proof.polled_at.max(proof.pushed_at) >= Some(due_at) {
            return Source::Stored;
        }
        // A booking that webhooks bring is not worth a poll's wait: ask now.
        if proof.pushed_at.is_some() || !self.polling {
            return Source::Reread;
        }
        let Some(polled_at) = proof.polled_at else {
            return Source::Reread;
        };
        let give_up = due_at + self.poll_interval * 2;
        if now >= give_up {
            return Source::Reread;
        }
        let margin = (self.poll_interval / 4).min(chrono::Duration::seconds(5));
        let next_poll = polled_at + self.poll_interval + margin;
        let soonest = now + chrono::Duration::milliseconds(20);
        let until = next_poll.max(soonest).min(give_up.max(soonest));
        if self.proving_poll {
            Source::WaitForPoll(until)
        } else {
            Source::RereadIfSpare(until)
        }
    }
}

/// Whether a notice WhatsApp did not deliver may go by SMS now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Now,
    /// Quiet hours: not before then.
    WaitUntil(DateTime<Utc>),
    /// No longer useful (the visit began, a reminder's window passed).
    Never(Reason),
}

impl Policy {
    /// An SMS in place of the notice of `kind` about `told` (the booking as the
    /// notice described it): only while it is still useful, never in quiet hours.
    pub fn fallback(
        &self,
        kind: Kind,
        told: &Record,
        now: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Fallback {
        let Some(visit) = visit_at(told, tz) else {
            return Fallback::Never(Reason::NoVisitTime);
        };
        let useful_until = if kind.is_reminder() {
            self.useful_until(kind, visit, tz)
        } else {
            visit
        };
        if now >= useful_until {
            return Fallback::Never(if kind.is_reminder() {
                Reason::TooLate
            } else {
                Reason::PastVisit
            });
        }
        match self.notifications.quiet_hours {
            Some(quiet) if quiet.release(now, tz) > now => {
                let release = quiet.release(now, tz);
                if release >= useful_until {
                    Fallback::Never(Reason::TooLate)
                } else {
                    Fallback::WaitUntil(release)
                }
            }
            _ => Fallback::Now,
        }
    }
}
