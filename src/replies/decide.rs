//! Which booking a reply answers and what it calls for (DESIGN: "Replies").
//! A button's payload, a quoted message or a reaction names the notice exactly;
//! plain text answers the latest notice sent to that phone within the window,
//! unless the phone has two or more bookings ahead (ambiguous: the staff decide).
//! Nothing is guessed: only a whole-message confirmation of a visit still ahead
//! confirms it in YClients; everything a person must read goes to the staff.

use chrono::{DateTime, Utc};

use super::alert::{self, Alert};
use super::inbound::Inbound;
pub use crate::config::SenderScope;
use crate::domain::{CompanyId, Intent, Kind, MatchedBy, RecordId, Status};
use crate::lifecycle::parse_record;
use crate::store::{NewNotification, OptChange, ReplyContext, ReplyDecision, SentNotice};
use crate::text::Salon;
use crate::yclients::Record;

/// What is known besides the database.
pub struct Facts<'a> {
    pub inbound: &'a Inbound,
    pub now: DateTime<Utc>,
    /// `replies.acknowledge`.
    pub acknowledge: bool,
    /// The salon whose sender got the message, when that sender serves one salon:
    /// a message that answers no notice goes to its staff.
    pub sender_salon: Option<CompanyId>,
    /// A salon's name, address and zone.
    pub salon: &'a dyn Fn(CompanyId) -> Salon,
    /// The sender that got the message, as a client sees it: every salon it
    /// writes for, and its name. A stop covers them all.
    pub sender: &'a SenderScope,
}

/// The answer to the client, named in the answer row's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Confirmed,
    CancelRequest,
    Forwarded,
    /// A stop was taken: the one message that still goes.
    OptedOut,
    /// A stop was lifted.
    OptedIn,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Confirmed => "confirmed",
            Answer::CancelRequest => "cancel_request",
            Answer::Forwarded => "forwarded",
            Answer::OptedOut => "opted_out",
            Answer::OptedIn => "opted_in",
        }
    }

    pub fn parse(s: &str) -> Option<Answer> {
        [
            Answer::Confirmed,
            Answer::CancelRequest,
            Answer::Forwarded,
            Answer::OptedOut,
            Answer::OptedIn,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    /// The key of the answer to reply `reply`.
    pub fn key(self, reply: i64) -> String {
        format!("{reply}:{}", self.as_str())
    }
}

/// A booking a reply may concern, as the daemon knows it now.
struct Booking<'a> {
    notice: &'a SentNotice,
    record: Option<Record>,
    salon: Salon,
}

impl Booking<'_> {
    fn visit(&self) -> Option<DateTime<Utc>> {
        let record = self.record.as_ref()?;
        record
            .visit
            .map(|v| v.in_zone(self.salon.timezone).with_timezone(&Utc))
    }

    /// Still ahead and not cancelled: a confirmation can mean something.
    fn ahead(&self, now: DateTime<Utc>) -> bool {
        !self.record.as_ref().is_none_or(Record::is_gone) && self.visit().is_some_and(|v| v > now)
    }
}

pub fn decide(f: &Facts, ctx: &ReplyContext, reply: i64) -> ReplyDecision {
    let (intent, by_payload) = f.inbound.meaning();
    let booking = |notice| booking(f, notice);
    let mut out = Decision::new(f, reply, intent);
    if intent.is_opt_change() {
        out.opt_change(ctx.stopped_salons);
        return out.decision;
    }
    if let Some(named) = &ctx.named {
        let by = match (&by_payload, &f.inbound.content) {
            (Some(_), _) => MatchedBy::Payload,
            (None, super::inbound::Content::Reaction(_)) => MatchedBy::Reaction,
            (None, _) => MatchedBy::Quote,
        };
        out.answers(&booking(named), by, ctx.forwarded_lately);
        return out.decision;
    }
    // Plain text: the bookings ahead that had notices within the window.
    let all: Vec<Booking> = ctx.recent.iter().map(booking).collect();
    let mut ahead: Vec<&Booking> = Vec::new();
    for b in all.iter().filter(|b| b.ahead(f.now)) {
        let key = (b.notice.company, b.notice.record);
        if !ahead
            .iter()
            .any(|a| (a.notice.company, a.notice.record) == key)
        {
            ahead.push(b);
        }
    }
    match (ahead.as_slice(), all.first()) {
        ([one], _) => out.answers(one, MatchedBy::Latest, ctx.forwarded_lately),
        ([], Some(latest)) => out.answers(latest, MatchedBy::Latest, ctx.forwarded_lately),
        ([], None) => out.stranger(),
        (several, _) => out.ambiguous(several, ctx.forwarded_lately),
    }
    out.decision
}

fn booking<'b>(f: &Facts, notice: &'b SentNotice) -> Booking<'b> {
    Booking {
        notice,
        record: parse_record(&notice.record_json),
        salon: (f.salon)(notice.company),
    }
}

/// A decision being built, with the rows it opens.
struct Decision<'a> {
    f: &'a Facts<'a>,
    reply: i64,
    decision: ReplyDecision,
}

impl<'a> Decision<'a> {
    fn new(f: &'a Facts<'a>, reply: i64, intent: Intent) -> Decision<'a> {
        Decision {
            f,
            reply,
            decision: ReplyDecision {
                company: f.sender_salon,
                record: None,
                notification: None,
                matched_by: MatchedBy::Unmatched,
                intent,
                effects: Vec::new(),
                opt: None,
            },
        }
    }

    fn row(
        &mut self,
        company: CompanyId,
        record: RecordId,
        kind: Kind,
        key: String,
        json: &str,
        message: Option<String>,
    ) {
        self.decision.effects.push((
            company,
            record,
            NewNotification {
                kind,
                key,
                status: Status::Pending,
                phone: Some(self.f.inbound.from.digits().to_string()),
                due_at: self.f.now,
                reason: None,
                record_json: json.to_string(),
                message,
            },
        ));
    }

    fn alert(&mut self, company: CompanyId, record: RecordId, why: Alert, bookings: &[&Booking]) {
        let salon = (self.f.salon)(company);
        let visits: Vec<&Record> = bookings.iter().filter_map(|b| b.record.as_ref()).collect();
        let text = alert::reply_text(why, &salon, self.f.inbound, &visits);
        let json = bookings
            .first()
            .map_or("{}", |b| b.notice.record_json.as_str());
        self.row(
            company,
            record,
            Kind::StaffAlert,
            format!("reply:{}", self.reply),
            json,
            Some(text),
        );
    }

    fn answer(
        &mut self,
        company: CompanyId,
        record: RecordId,
        answer: Answer,
        json: &str,
        forwarded_lately: bool,
    ) {
        // At most one "passed on" a day to a phone: a chatty client gets no bot
        // loop; none for a message nobody could read.
        if !self.f.acknowledge
            || (answer == Answer::Forwarded && forwarded_lately)
            || !self.f.inbound.may_be_answered()
        {
            return;
        }
        self.row(
            company,
            record,
            Kind::ReplyAnswer,
            answer.key(self.reply),
            json,
            None,
        );
    }

    /// A reply tied to one booking.
    fn answers(&mut self, b: &Booking, by: MatchedBy, forwarded_lately: bool) {
        let (company, record) = (b.notice.company, b.notice.record);
        let d = &mut self.decision;
        d.company = Some(company);
        d.record = Some(record);
        d.notification = Some(b.notice.id);
        d.matched_by = by;
        let json = b.notice.record_json.clone();
        match (d.intent, b.ahead(self.f.now)) {
            (Intent::Confirm, true) => {
                // Confirmed in YClients first; the client is answered once it is.
                let key = self.reply.to_string();
                self.row(company, record, Kind::VisitConfirmation, key, &json, None);
            }
            (Intent::Confirm, false) => {
                self.alert(company, record, Alert::LateConfirmation, &[b]);
                self.answer(company, record, Answer::Forwarded, &json, forwarded_lately);
            }
            (Intent::Cancel, _) => {
                self.alert(company, record, Alert::CancelRequest, &[b]);
                self.answer(
                    company,
                    record,
                    Answer::CancelRequest,
                    &json,
                    forwarded_lately,
                );
            }
            (Intent::Other, _) => {
                self.alert(company, record, Alert::Question, &[b]);
                self.answer(company, record, Answer::Forwarded, &json, forwarded_lately);
            }
            // Decided before any booking is looked for (`opt_change`).
            (Intent::Stop | Intent::Resume, _) => {}
        }
    }

    /// Two or more bookings ahead: each salon concerned hears of it; nothing is
    /// confirmed on a guess.
    fn ambiguous(&mut self, several: &[&Booking], forwarded_lately: bool) {
        self.decision.matched_by = MatchedBy::Ambiguous;
        let mut salons: Vec<CompanyId> = several.iter().map(|b| b.notice.company).collect();
        salons.dedup();
        salons.sort_unstable_by_key(|c| c.0);
        salons.dedup();
        self.decision.company = (salons.len() == 1).then(|| salons[0]);
        for company in salons {
            let theirs: Vec<&Booking> = several
                .iter()
                .copied()
                .filter(|b| b.notice.company == company)
                .collect();
            self.alert(company, RecordId(0), Alert::Ambiguous, &theirs);
        }
        let latest = several[0];
        let json = latest.notice.record_json.clone();
        self.answer(
            latest.notice.company,
            RecordId(0),
            Answer::Forwarded,
            &json,
            forwarded_lately,
        );
    }

    /// A «стоп» or a «старт»: the phone's stop covers every salon of the sender it
    /// wrote to. One answer each way, only when it changes something; the staff
    /// are not alerted (the page shows the stops).
    fn opt_change(&mut self, stopped_salons: usize) {
        let scope = self.f.sender;
        let Some(&first) = scope.salons.first() else {
            return;
        };
        let stop = self.decision.intent == Intent::Stop;
        let changes = if stop {
            stopped_salons < scope.salons.len()
        } else {
            stopped_salons > 0
        };
        self.decision.company = self.f.sender_salon;
        if !changes {
            return;
        }
        self.decision.opt = Some(OptChange {
            stop,
            companies: scope.salons.clone(),
            via: scope.name.clone(),
        });
        let answer = if stop {
            Answer::OptedOut
        } else {
            Answer::OptedIn
        };
        self.row(
            first,
            RecordId(0),
            Kind::ReplyAnswer,
            answer.key(self.reply),
            "{}",
            None,
        );
    }

    /// Nothing sent to that phone lately: the staff of the salon whose sender got
    /// it hear of it, where that sender serves one salon; else the page shows it.
    fn stranger(&mut self) {
        if let Some(company) = self.f.sender_salon {
            self.alert(company, RecordId(0), Alert::Stranger, &[]);
        }
    }
}
