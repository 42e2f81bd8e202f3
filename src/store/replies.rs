//! Clients' replies: each inbound message kept once, with the notice it answers,
//! and the effects it calls for written as outbox rows in the same transaction, so
//! that a reply answered 200 is never lost and never acted on twice.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::optouts::OptSource;
use super::plans::{open_notice, NewNotification};
use super::schema::{bookings, notifications, optouts, replies};
use super::{db_time, each_backend, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, Intent, Kind, MatchedBy, NotificationId, Reason, RecordId, Status};

/// An inbound message as it arrived.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub provider: &'static str,
    /// Unique per provider.
    pub provider_message_id: String,
    /// The client's phone, digits (for the staff; never logged).
    pub phone: String,
    pub client_name: Option<String>,
    /// Its text (or the reaction's emoji, or the button's title); none for media.
    pub body: Option<String>,
    pub message_type: &'static str,
    /// Which of our senders got it (Cloud API phone number id, Green API instance).
    pub sender: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// Where to look for the notice a reply answers.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// A button's payload named it.
    pub notice: Option<NotificationId>,
    /// It quotes, or reacts to, this message of ours.
    pub quoted: Option<String>,
    /// Notices sent to the phone since then count for a plain answer.
    pub since: DateTime<Utc>,
    /// An answer "passed on to the staff" to the phone since then stops another.
    pub forwarded_since: DateTime<Utc>,
    /// The salons of the sender that got it: a stop covers them.
    pub scope: Vec<CompanyId>,
}

/// A notice sent to the client, with the booking as the daemon knows it now.
#[derive(Debug, Clone, PartialEq)]
pub struct SentNotice {
    pub id: NotificationId,
    pub company: CompanyId,
    pub record: RecordId,
    pub kind: Kind,
    pub sent_at: Option<DateTime<Utc>>,
    /// The stored booking (its latest sighting), or the notice's own copy.
    pub record_json: String,
}

/// What the database knows that decides a reply.
#[derive(Debug, Clone, Default)]
pub struct ReplyContext {
    /// The notice named by a payload, a quote or a reaction.
    pub named: Option<SentNotice>,
    /// The notices sent to the phone within the window, newest first.
    pub recent: Vec<SentNotice>,
    /// We answered "passed on to the staff" to this phone lately.
    pub forwarded_lately: bool,
    /// How many of the sender's salons the phone asked to stop.
    pub stopped_salons: usize,
}

/// A client's «стоп» or «старт», for every salon of the sender they wrote to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptChange {
    pub stop: bool,
    pub companies: Vec<CompanyId>,
    /// The sender's name, kept with the stop (how it came).
    pub via: String,
}

/// What a reply was decided to be, and the outbox rows it opens.
#[derive(Debug, Clone)]
pub struct ReplyDecision {
    pub company: Option<CompanyId>,
    pub record: Option<RecordId>,
    pub notification: Option<NotificationId>,
    pub matched_by: MatchedBy,
    pub intent: Intent,
    pub effects: Vec<(CompanyId, RecordId, NewNotification)>,
    /// A stop taken or lifted.
    pub opt: Option<OptChange>,
}

/// The reply's id and the rows now pending, due then; `None` when the message was
/// taken before (a provider's repeat), or comes from a forgotten phone.
pub type Taken = Option<(i64, super::Opened)>;

/// Keeps each reply once and writes what `decide` (given the reply's index) makes
/// of it, all in one transaction: a burst costs one commit (and one `fsync`) per
/// group, not per reply. A later reply of the group sees what the earlier ones
/// wrote (a «да» and a tap on the same visit make one write-back).
pub fn take_replies(
    conn: &mut Conn,
    replies: &[(NewReply, Lookup)],
    now: DateTime<Utc>,
    mut decide: impl FnMut(usize, &ReplyContext, i64) -> ReplyDecision,
) -> Result<Vec<Taken>, StoreError> {
    write_transaction(conn, Serialize::Replies, |conn| {
        let forgotten = super::Forgotten::read(conn)?;
        replies
            .iter()
            .enumerate()
            .map(|(i, (reply, lookup))| {
                if forgotten.as_ref().is_some_and(|f| f.covers(&reply.phone)) {
                    // Erased at the client's request: nothing of them is kept.
                    return Ok(None);
                }
                take_one(conn, reply, lookup, now, |context, id| {
                    decide(i, context, id)
                })
            })
            .collect()
    })
}

fn take_one(
    conn: &mut Conn,
    reply: &NewReply,
    lookup: &Lookup,
    now: DateTime<Utc>,
    decide: impl FnOnce(&ReplyContext, i64) -> ReplyDecision,
) -> Result<Taken, StoreError> {
    let insert = diesel::insert_into(replies::table)
        .values((
            replies::provider.eq(reply.provider),
            replies::provider_message_id.eq(&reply.provider_message_id),
            replies::phone.eq(&reply.phone),
            replies::client_name.eq(&reply.client_name),
            replies::body.eq(&reply.body),
            replies::message_type.eq(reply.message_type),
            replies::sender.eq(&reply.sender),
            replies::matched_by.eq(MatchedBy::Unmatched),
            replies::intent.eq(Intent::Other),
            replies::received_at.eq(db_time(reply.received_at)),
            replies::created_at.eq(db_time(now)),
        ))
        .on_conflict_do_nothing();
    if each_backend!(conn, |c| insert.execute(c))? == 0 {
        return Ok(None);
    }
    let id: i64 = replies::table
        .filter(replies::provider.eq(reply.provider))
        .filter(replies::provider_message_id.eq(&reply.provider_message_id))
        .select(replies::id)
        .first(conn)?;
    let context = context(conn, &reply.phone, lookup)?;
    let decision = decide(&context, id);
    diesel::update(replies::table.find(id))
        .set((
            replies::company_id.eq(decision.company.map(|c| c.0)),
            replies::record_id.eq(decision.record.map(|r| r.0)),
            replies::notification_id.eq(decision.notification.map(|n| n.0)),
            replies::matched_by.eq(decision.matched_by),
            replies::intent.eq(decision.intent),
        ))
        .execute(conn)?;
    let mut scheduled = Vec::new();
    // The stop first: what this reply opens (the acknowledgement aside) heeds it.
    match &decision.opt {
        Some(change) if change.stop => {
            let how = (OptSource::Reply, change.via.as_str());
            super::opt_out(conn, &change.companies, &reply.phone, how, now)?;
        }
        Some(change) => {
            let (_, reopened) =
                super::opt_in(conn, &change.companies, &reply.phone, OptSource::Reply, now)?;
            scheduled.extend(reopened);
        }
        None => {}
    }
    for (company, record, row) in &decision.effects {
        let row = once_per_visit(conn, *company, *record, row)?;
        if let Some(opened) = open_notice(conn, *company, *record, &row, now)? {
            scheduled.push((opened, row.due_at));
        }
    }
    Ok(Some((id, scheduled)))
}

fn context(conn: &mut Conn, phone: &str, lookup: &Lookup) -> Result<ReplyContext, StoreError> {
    // A notice being sent counts too: the client may answer before our `sent`
    // is committed (the provider delivered first).
    let notices = || {
        notifications::table
            .filter(notifications::kind.eq_any(Kind::NOTICES))
            .filter(notifications::status.eq_any([Status::Sent, Status::Sending]))
            .into_boxed()
    };
    let named = match (&lookup.notice, &lookup.quoted) {
        (Some(id), _) => notices()
            .filter(notifications::id.eq(id.0))
            .first::<super::Notification>(conn)
            .optional()?,
        (None, Some(quoted)) => notices()
            .filter(notifications::provider_message_id.eq(quoted))
            .first::<super::Notification>(conn)
            .optional()?,
        (None, None) => None,
    };
    // `updated_at` is when it was sent (or claimed, for one being sent).
    let recent = notices()
        .filter(notifications::phone.eq(phone))
        .filter(notifications::updated_at.gt(db_time(lookup.since)))
        .order((notifications::updated_at.desc(), notifications::id.desc()))
        .load::<super::Notification>(conn)?;
    let forwarded = notifications::table
        .filter(notifications::kind.eq(Kind::ReplyAnswer))
        .filter(notifications::phone.eq(phone))
        .filter(notifications::notice_key.like("%:forwarded"))
        .filter(notifications::created_at.gt(db_time(lookup.forwarded_since)))
        .count()
        .get_result::<i64>(conn)?;
    let stopped_salons = optouts::table
        .filter(optouts::company_id.eq_any(lookup.scope.iter().map(|c| c.0)))
        .filter(optouts::phone.eq(phone))
        .count()
        .get_result::<i64>(conn)? as usize;
    let mut with_booking = |n: super::Notification| -> Result<SentNotice, StoreError> {
        let stored = bookings::table
            .find((n.company_id, n.record_id))
            .select(bookings::record_json)
            .first::<String>(conn)
            .optional()?;
        Ok(SentNotice {
            id: n.id(),
            company: n.company(),
            record: n.record(),
            kind: n.kind,
            sent_at: n.sent_at.map(|t: NaiveDateTime| t.and_utc()),
            record_json: stored.unwrap_or(n.record_json),
        })
    };
    Ok(ReplyContext {
        stopped_salons,
        named: named.map(&mut with_booking).transpose()?,
        recent: recent
            .into_iter()
            .map(&mut with_booking)
            .collect::<Result<_, _>>()?,
        forwarded_lately: forwarded > 0,
    })
}

/// A reply as the staff's page and `status` show it.
#[derive(Debug, Clone, PartialEq, Queryable, serde::Serialize)]
pub struct StoredReply {
    pub id: i64,
    pub provider: String,
    pub provider_message_id: String,
    #[serde(skip)]
    pub phone: String,
    pub client_name: Option<String>,
    #[serde(skip)]
    pub body: Option<String>,
    pub message_type: String,
    pub sender: Option<String>,
    pub company_id: Option<i64>,
    pub record_id: Option<i64>,
    pub notification_id: Option<i64>,
    pub matched_by: MatchedBy,
    pub intent: Intent,
    pub received_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
}

/// The latest replies, newest first; with `company`, only those concerning it.
pub fn recent_replies(
    conn: &mut Conn,
    company: Option<CompanyId>,
    limit: i64,
) -> Result<Vec<StoredReply>, StoreError> {
    let mut query = replies::table
        .order((replies::created_at.desc(), replies::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(company) = company {
        query = query.filter(replies::company_id.eq(company.0));
    }
    Ok(query.load(conn)?)
}

/// Replies by intent and how they matched, for `status` and the page's counts.
pub fn count_replies(conn: &mut Conn) -> Result<Vec<(Intent, MatchedBy, i64)>, StoreError> {
    Ok(replies::table
        .group_by((replies::intent, replies::matched_by))
        .select((
            replies::intent,
            replies::matched_by,
            diesel::dsl::count_star(),
        ))
        .load(conn)?)
}

/// A write-back for a visit that already has one (pending, being written or
/// done) is kept as skipped: a «да» and a tap at once, or a second «да», make one
/// PUT and one «Спасибо». The replies' lock serialises this check.
fn once_per_visit(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
    row: &NewNotification,
) -> Result<NewNotification, StoreError> {
    let mut row = row.clone();
    if row.kind != Kind::VisitConfirmation {
        return Ok(row);
    }
    let write_backs = notifications::table
        .filter(notifications::company_id.eq(company.0))
        .filter(notifications::record_id.eq(record.0))
        .filter(notifications::kind.eq(Kind::VisitConfirmation))
        .filter(notifications::status.eq_any([Status::Pending, Status::Sending, Status::Sent]))
        .count()
        .get_result::<i64>(conn)?;
    if write_backs > 0 {
        row.status = Status::Skipped;
        row.reason = Some(Reason::AlreadyConfirmed);
    }
    Ok(row)
}

/// Whether the daemon already marked this visit confirmed in YClients.
pub fn visit_confirmed(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
) -> Result<bool, StoreError> {
    let sent = notifications::table
        .filter(notifications::company_id.eq(company.0))
        .filter(notifications::record_id.eq(record.0))
        .filter(notifications::kind.eq(Kind::VisitConfirmation))
        .filter(notifications::status.eq(Status::Sent))
        .count()
        .get_result::<i64>(conn)?;
    Ok(sent > 0)
}

/// The bookings asked to confirm, and the replies tied to bookings.
#[derive(Debug, Clone, Default)]
pub struct AskedAndAnswered {
    /// (company, record) with a notice of an asking kind sent.
    pub asked: Vec<(i64, i64)>,
    /// (company, record, intent) of each reply tied to a booking.
    pub answered: Vec<(i64, i64, Intent)>,
}

/// What `AskedAndAnswered` holds, since `since`.
pub fn asked_and_answered(
    conn: &mut Conn,
    asking: &[Kind],
    since: DateTime<Utc>,
) -> Result<AskedAndAnswered, StoreError> {
    let asked = notifications::table
        .filter(notifications::kind.eq_any(asking))
        .filter(notifications::status.eq(Status::Sent))
        .filter(notifications::sent_at.gt(db_time(since)))
        .select((notifications::company_id, notifications::record_id))
        .distinct()
        .load(conn)?;
    let answered = replies::table
        .filter(replies::created_at.gt(db_time(since)))
        .filter(replies::company_id.is_not_null())
        .filter(replies::record_id.is_not_null())
        .select((
            replies::company_id.assume_not_null(),
            replies::record_id.assume_not_null(),
            replies::intent,
        ))
        .load(conn)?;
    Ok(AskedAndAnswered { asked, answered })
}

/// Whether the client of `phone` wrote to us since then (they have the notice).
/// By when we took the reply: providers stamp theirs to the second.
pub fn replied_since(
    conn: &mut Conn,
    phone: &str,
    since: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = replies::table
        .filter(replies::phone.eq(phone))
        .filter(replies::created_at.ge(db_time(since)))
        .count()
        .get_result::<i64>(conn)?;
    Ok(n > 0)
}
