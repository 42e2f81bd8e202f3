//! The invariants judged at the end, once the last faults have passed, every
//! instance has drained and stopped, and the database can be read: what was owed
//! arrived (every booking confirmed, every «да» written back, an SMS where
//! WhatsApp could not deliver, a cancellation where the client had been told, the
//! client's last word the booking's final state) and the database agrees with
//! what the providers saw.

use std::collections::HashMap;
use std::time::Duration;

use booking_monitor::store::{Kind, Notification, Status, StoredReply};
use booking_monitor::text::month_genitive;
use chrono::{Datelike, NaiveDateTime, Timelike};

use super::invariants::{name, Findings, Judge};
use super::ledger::Booking;
use super::schedule::{Said, SendFault, SmsFault};
use super::seen::{Anchor, Class, Seen, Sent};

/// What the database held at the end.
pub struct Stored<'a> {
    pub rows: &'a [Notification],
    pub replies: &'a [StoredReply],
    pub anchor: Anchor,
}

/// `12 марта 14:30`, as the soak's texts show a visit.
pub fn visit_text(visit: NaiveDateTime) -> String {
    format!(
        "{} {} {:02}:{:02}",
        visit.day(),
        month_genitive(visit.month()),
        visit.hour(),
        visit.minute()
    )
}

impl Judge<'_> {
    pub fn at_the_end(&self, db: &Stored, findings: &mut Findings) {
        self.running(findings);
        let rows_of: HashMap<i64, Vec<&Notification>> =
            db.rows.iter().fold(HashMap::new(), |mut m, r| {
                m.entry(r.record_id).or_default().push(r);
                m
            });
        for b in &self.ledger.bookings {
            let rows = rows_of
                .get(&b.record)
                .map(Vec::as_slice)
                .unwrap_or_default();
            self.owed(b, rows, db, findings);
        }
        self.consistent(db, findings);
    }

    fn told(&self, list: &[Sent], b: &Booking, class: Class) -> usize {
        Seen::to(list, &b.phone)
            .filter(|m| m.class == class)
            .count()
    }

    /// When the client stopped (a stop that landed), if opt-outs are on.
    fn stopped(&self, b: &Booking) -> Option<std::time::Instant> {
        let mut stops = self
            .ledger
            .landed(b.plan.n)
            .filter(|r| matches!(r.said, Said::Stop(_)));
        stops.next().filter(|_| self.optouts).and_then(|r| r.landed)
    }

    fn owed(&self, b: &Booking, rows: &[&Notification], db: &Stored, findings: &mut Findings) {
        let n = b.plan.n;
        let (wa, sms) = (&self.seen.messages, &self.seen.sms);
        let undeliverable = b.plan.first_send == Some(SendFault::Undeliverable);
        let refused = b.plan.sms == Some(SmsFault::Refused);
        let stopped = self.stopped(b);
        let sent_at = |kind: Kind| {
            rows.iter()
                .filter(|r| r.kind == kind && r.status == Status::Sent)
                .filter_map(|r| r.sent_at)
                .map(|at| db.anchor.instant(at.and_utc()))
                .min()
        };
        // Every booking never deleted nor stopped is confirmed: by WhatsApp, or by
        // SMS where WhatsApp refused the number.
        if b.deleted.is_none() && stopped.is_none() {
            let confirmed = if undeliverable && !refused {
                self.told(sms, b, Class::Created)
            } else if undeliverable {
                1
            } else {
                self.told(wa, b, Class::Created)
            };
            if confirmed == 0 {
                let row = rows.iter().find(|r| r.kind == Kind::Created);
                findings.violation(
                    format!("unconfirmed {n}"),
                    format!(
                        "{}: never confirmed (its created row: {})",
                        name(b),
                        row.map_or("none".into(), |r| format!(
                            "{} after {} attempts, {:?}",
                            r.status, r.attempts, r.last_error
                        ))
                    ),
                );
            }
        }
        // Every «да» that came after its confirmation was committed is written back.
        if let (Some(confirmed_at), None) = (sent_at(Kind::Created), b.deleted) {
            let yes = self.ledger.landed(n).find(|r| {
                matches!(r.said, Said::Yes(_))
                    && r.posted > confirmed_at + Duration::from_secs(1)
                    && stopped.is_none_or(|s| s > r.posted)
            });
            let written = self
                .seen
                .puts
                .iter()
                .any(|p| p.record == b.record && p.status == 200);
            if let (Some(yes), false) = (yes, written) {
                findings.violation(
                    format!("unwritten {n}"),
                    format!(
                        "{}: «{}» landed at {}, after its confirmation, yet its visit was never written back",
                        name(b),
                        yes.said.text(),
                        self.ledger.t(yes.landed.expect("landed"))
                    ),
                );
            }
        }
        // Where WhatsApp cannot deliver and the client never answered, an SMS stands in.
        let silent_client = self.ledger.replies.iter().all(|r| r.n != n);
        let cannot_deliver =
            undeliverable || b.plan.delivery != super::schedule::Delivery::Delivered;
        if cannot_deliver
            && silent_client
            && !refused
            && b.deleted.is_none()
            && stopped.is_none()
            && self.told(sms, b, Class::Created) == 0
        {
            findings.violation(
                format!("no sms {n}"),
                format!(
                    "{}: WhatsApp could not deliver its confirmation ({:?}, {:?}), yet no SMS",
                    name(b),
                    b.plan.first_send,
                    b.plan.delivery
                ),
            );
        }
        // A client told of a booking that is then deleted hears of its cancellation.
        if let (Some(deleted), Some(told)) = (b.deleted, sent_at(Kind::Created)) {
            let cancelled =
                self.told(wa, b, Class::Cancelled) + self.told(sms, b, Class::Cancelled);
            if told + Duration::from_secs(1) < deleted
                && stopped.is_none()
                && !undeliverable
                && cancelled == 0
            {
                findings.violation(
                    format!("uncancelled {n}"),
                    format!(
                        "{}: told at {}, deleted at {}, never told of the cancellation",
                        name(b),
                        self.ledger.t(told),
                        self.ledger.t(deleted)
                    ),
                );
            }
        }
        // The last notice the daemon sent (by when it reached the provider: a late
        // answer from the provider is no later word) is the booking as it stands.
        if b.deleted.is_none() && stopped.is_none() && !undeliverable {
            let last = Seen::to(wa, &b.phone)
                .filter(|m| matches!(m.class, Class::Created | Class::Changed))
                .max_by_key(|m| m.arrived);
            let wanted = visit_text(b.visit);
            if let Some(m) = last.filter(|m| m.visit_text() != wanted) {
                findings.violation(
                    format!("stale {n}"),
                    format!("{}: its visit is {wanted}, but the client's last notice ({:?} at {}) says {}", name(b), m.class, self.ledger.t(m.answered), m.visit_text()),
                );
            }
        }
    }

    /// The database agrees with itself and with the providers.
    fn consistent(&self, db: &Stored, findings: &mut Findings) {
        let overdue = db.anchor.utc(std::time::Instant::now()) - chrono::Duration::seconds(60);
        let by_id: HashMap<&str, &Sent> = self
            .seen
            .messages
            .iter()
            .map(|m| (m.id.as_str(), m))
            .collect();
        for row in db.rows {
            let what = format!("row {} ({} of record {})", row.id, row.kind, row.record_id);
            if row.status == Status::Sending {
                findings.violation(
                    format!("sending {}", row.id),
                    format!("{what} still `sending` after every instance stopped"),
                );
            }
            if row.status == Status::Pending && row.due_at < overdue.naive_utc() {
                findings.violation(
                    format!("overdue {}", row.id),
                    format!(
                        "{what} still `pending`, due at {} UTC, after the drain",
                        row.due_at
                    ),
                );
            }
            let whatsapp = matches!(
                row.kind,
                Kind::Created | Kind::Changed | Kind::Cancelled | Kind::ReplyAnswer
            );
            if whatsapp && row.status == Status::Sent {
                let found = row
                    .provider_message_id
                    .as_deref()
                    .and_then(|id| by_id.get(id));
                if found.is_none_or(|m| Some(m.phone.as_str()) != row.phone.as_deref()) {
                    findings.violation(
                        format!("unseen {}", row.id),
                        format!(
                            "{what} is `sent` as {:?}, which WhatsApp never accepted for its phone",
                            row.provider_message_id
                        ),
                    );
                }
            }
            if row.kind == Kind::VisitConfirmation
                && row.status == Status::Sent
                && !self
                    .seen
                    .puts
                    .iter()
                    .any(|p| p.record == row.record_id && p.status == 200)
            {
                findings.violation(
                    format!("unput {}", row.id),
                    format!("{what} is `sent`, yet YClients never took its PUT"),
                );
            }
        }
        let kept: HashMap<&str, usize> = db.replies.iter().fold(HashMap::new(), |mut m, r| {
            *m.entry(r.provider_message_id.as_str()).or_default() += 1;
            m
        });
        for reply in self
            .ledger
            .replies
            .iter()
            .filter(|r| r.gave_up && r.landed.is_none())
        {
            findings.violation(
                format!("untaken {}", reply.message_id),
                format!("booking {}'s reply {} posted at {}: no instance answered it 200 within Meta's patience", reply.n, reply.message_id, self.ledger.t(reply.posted)),
            );
        }
        for reply in self.ledger.replies.iter().filter(|r| r.landed.is_some()) {
            if kept.get(reply.message_id.as_str()).copied().unwrap_or(0) != 1 {
                findings.violation(format!("reply {}", reply.message_id), format!("booking {}'s reply {} was answered 200, but the database keeps it {} times", reply.n, reply.message_id, kept.get(reply.message_id.as_str()).copied().unwrap_or(0)));
            }
        }
    }
}
