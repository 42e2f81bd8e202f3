//! The outbox: one row per booking and kind, `pending → sending → sent | failed`,
//! or `skipped`, `cancelled`. What `status` reads of it is in `history.rs`.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{bookings, notifications, optouts};
use super::{db_time, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, Kind, NotificationId, Reason, RecordId, Status};

#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Notification {
    pub id: i64,
    pub company_id: i64,
    pub record_id: i64,
    pub kind: Kind,
    pub notice_key: String,
    pub status: Status,
    pub phone: Option<String>,
    pub due_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    pub message: Option<String>,
    pub record_json: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
    /// The instance that claimed the row for sending.
    pub claimed_by: Option<String>,
}

impl Notification {
    pub fn id(&self) -> NotificationId {
        NotificationId(self.id)
    }
    pub fn company(&self) -> CompanyId {
        CompanyId(self.company_id)
    }
    pub fn record(&self) -> RecordId {
        RecordId(self.record_id)
    }
    pub fn due_at(&self) -> DateTime<Utc> {
        self.due_at.and_utc()
    }
}

/// The row, as long as it is still `pending`: an update through it changes
/// nothing once another decision (a send, a close) came first.
type PendingRow = diesel::dsl::Filter<
    diesel::dsl::Find<notifications::table, i64>,
    diesel::dsl::Eq<notifications::status, Status>,
>;

fn pending_row(id: NotificationId) -> PendingRow {
    notifications::table
        .find(id.0)
        .filter(notifications::status.eq(Status::Pending))
}

/// The notifications still to be sent that fall due before `until`, for the delay
/// actor's heap (it holds only a horizon in memory and comes back for the rest);
/// with `companies`, only theirs (an instance times the rows of what it holds).
pub fn open_due_before(
    conn: &mut Conn,
    until: DateTime<Utc>,
    companies: Option<&[CompanyId]>,
) -> Result<Vec<(NotificationId, DateTime<Utc>)>, StoreError> {
    let mut query = notifications::table
        .filter(notifications::status.eq_any([Status::Pending, Status::Sending]))
        .filter(notifications::due_at.le(db_time(until)))
        .select((notifications::id, notifications::due_at))
        .into_boxed();
    if let Some(companies) = companies {
        let ids: Vec<i64> = companies.iter().map(|c| c.0).collect();
        query = query.filter(notifications::company_id.eq_any(ids));
    }
    Ok(query
        .load::<(i64, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(id, due)| (NotificationId(id), due.and_utc()))
        .collect())
}

/// Rows this instance left in `sending` (or, from before instances had names, any
/// unnamed one) were interrupted mid-send: back to `pending`. Other instances' rows
/// are theirs until their lease lapses (`lease_round` reclaims them then).
pub fn reset_interrupted_sends(
    conn: &mut Conn,
    me: &str,
    in_flight: &[NotificationId],
    now: DateTime<Utc>,
) -> Result<Vec<Notification>, StoreError> {
    let in_flight: Vec<i64> = in_flight.iter().map(|id| id.0).collect();
    let interrupted = notifications::table
        .filter(notifications::status.eq(Status::Sending))
        .filter(
            notifications::claimed_by
                .eq(me)
                .or(notifications::claimed_by.is_null()),
        );
    let rows = interrupted
        .filter(notifications::id.ne_all(in_flight))
        .load::<Notification>(conn)?;
    for row in &rows {
        diesel::update(interrupted.filter(notifications::id.eq(row.id)))
            .set((
                notifications::status.eq(Status::Pending),
                notifications::claimed_by.eq(None::<String>),
                notifications::updated_at.eq(db_time(now)),
            ))
            .execute(conn)?;
    }
    Ok(rows)
}

pub fn notification(
    conn: &mut Conn,
    id: NotificationId,
) -> Result<Option<Notification>, StoreError> {
    Ok(notifications::table.find(id.0).first(conn).optional()?)
}

/// What goes out, as it is recorded when a row is claimed for sending.
#[derive(Debug, Clone)]
pub struct Outbound {
    pub phone: String,
    pub message: String,
    /// The booking as it was re-read just before sending.
    pub record_json: String,
}

/// How a claim ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This instance sends it now.
    Claimed,
    /// Another instance, or another decision about the row, came first.
    Lost,
    /// The client asked to stop: the row is closed `skipped` `opted_out`.
    OptedOut,
}

/// Claims a pending row for sending: `sending` by `me`, one more attempt, the text
/// that goes out. `Lost` when the row is no longer pending (another instance, or
/// another decision, came first). Running it again after a commit whose answer
/// was lost with the connection finds its own claim (same instance, same `now`).
/// A row that reaches the client is claimed only while the client has no stop
/// for its salon, checked in the same statement: a stop committed first always wins.
pub fn claim_for_send(
    conn: &mut Conn,
    id: NotificationId,
    send: &Outbound,
    (me, heeds_stops): (&str, bool),
    now: DateTime<Utc>,
) -> Result<Claim, StoreError> {
    let mut claim = diesel::update(pending_row(id))
        .set((
            notifications::status.eq(Status::Sending),
            notifications::claimed_by.eq(me),
            notifications::attempts.eq(notifications::attempts + 1),
            notifications::phone.eq(&send.phone),
            notifications::message.eq(&send.message),
            notifications::record_json.eq(&send.record_json),
            notifications::updated_at.eq(db_time(now)),
        ))
        .into_boxed::<super::backend::MultiBackend>();
    if heeds_stops {
        claim = claim.filter(diesel::dsl::not(diesel::dsl::exists(
            optouts::table
                .filter(optouts::company_id.eq(notifications::company_id))
                .filter(optouts::phone.eq(&send.phone)),
        )));
    }
    let n = claim.execute(conn)?;
    if n == 1 {
        return Ok(Claim::Claimed);
    }
    let ours = notifications::table
        .find(id.0)
        .filter(notifications::status.eq(Status::Sending))
        .filter(notifications::claimed_by.eq(me))
        .filter(notifications::updated_at.eq(db_time(now)))
        .count()
        .get_result::<i64>(conn)?;
    if ours == 1 {
        return Ok(Claim::Claimed);
    }
    let company: Option<i64> = notifications::table
        .find(id.0)
        .filter(notifications::status.eq(Status::Pending))
        .select(notifications::company_id)
        .first(conn)
        .optional()?;
    match company {
        Some(company)
            if heeds_stops && super::is_opted_out(conn, CompanyId(company), &send.phone)? =>
        {
            close_pending(conn, id, Reason::OptedOut, now)?;
            Ok(Claim::OptedOut)
        }
        _ => Ok(Claim::Lost),
    }
}

/// `sent`, and (for a notice that tells the booking's state: created, changed,
/// cancelled) what the client now knows, and what follows from it (an SMS in case
/// WhatsApp does not deliver it), in one transaction: a crash between them would
/// otherwise announce the same change again, or lose the follow-up. A `failed` that
/// beat this commit takes effect now: `undelivered`'s rows are opened instead.
pub fn mark_sent(
    conn: &mut Conn,
    id: NotificationId,
    provider_message_id: Option<&str>,
    tells_state: bool,
    now: DateTime<Utc>,
    follow_ups: &super::Effects,
    undelivered: &dyn Fn(&Notification, &str) -> super::Effects,
) -> Result<super::Opened, StoreError> {
    // Gone while it was being sent: its client was forgotten (`forget`).
    let Some(row) = notification(conn, id)? else {
        return Ok(Vec::new());
    };
    write_transaction(conn, Serialize::Company(row.company_id), |conn| {
        if notification(conn, id)?.is_none() {
            return Ok(Vec::new());
        }
        diesel::update(notifications::table.find(id.0))
            .set((
                notifications::status.eq(Status::Sent),
                notifications::provider_message_id.eq(provider_message_id),
                notifications::last_error.eq(None::<String>),
                notifications::sent_at.eq(db_time(now)),
                notifications::updated_at.eq(db_time(now)),
            ))
            .execute(conn)?;
        let row: Notification = notifications::table.find(id.0).first(conn)?;
        if tells_state {
            diesel::update(bookings::table.find((row.company_id, row.record_id)))
                .set((
                    bookings::told_json.eq(&row.record_json),
                    bookings::told_at.eq(db_time(now)),
                ))
                .execute(conn)?;
        }
        let failed_first = match provider_message_id {
            Some(m) if Kind::NOTICES.contains(&row.kind) => super::push::held_failure(conn, m)?,
            _ => None,
        };
        // The failure is known: its SMS goes now, instead of after the wait.
        let effects = match failed_first {
            Some(error) => undelivered(&row, &error),
            None => follow_ups.clone(),
        };
        let mut opened = Vec::new();
        for (company, record, effect) in &effects {
            if let Some(id) = super::plans::open_notice(conn, *company, *record, effect, now)? {
                opened.push((id, effect.due_at));
            }
        }
        Ok(opened)
    })
}

/// Still pending, but not before `due_at` (quiet hours, waiting for a poll).
pub fn postpone(
    conn: &mut Conn,
    id: NotificationId,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(pending_row(id))
        .set((
            notifications::due_at.eq(db_time(due_at)),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Held until `due_at`, with why (an outside service could not answer before the
/// claim), only while the row is still `pending`: an instance that took the salon
/// over meanwhile may have claimed or sent it, and that must not be undone.
pub fn delay_pending(
    conn: &mut Conn,
    id: NotificationId,
    due_at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(pending_row(id))
        .set((
            notifications::due_at.eq(db_time(due_at)),
            notifications::last_error.eq(error),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Back to `pending`, to be tried again at `due_at`: the row `me` claimed and whose
/// call failed, unless another instance has reset it since (`me`'s heartbeat had
/// lapsed) and taken it over.
pub fn mark_retry(
    conn: &mut Conn,
    id: NotificationId,
    me: &str,
    due_at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let claimed = notifications::table
        .find(id.0)
        .filter(notifications::status.eq(Status::Sending))
        .filter(notifications::claimed_by.eq(me));
    diesel::update(claimed)
        .set((
            notifications::status.eq(Status::Pending),
            notifications::due_at.eq(db_time(due_at)),
            notifications::last_error.eq(error),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes back the attempt counted by `claim_for_send`, when the provider refused the
/// account rather than the message.
pub fn refund_attempt(conn: &mut Conn, id: NotificationId) -> Result<(), StoreError> {
    diesel::update(
        notifications::table
            .find(id.0)
            .filter(notifications::attempts.gt(0)),
    )
    .set(notifications::attempts.eq(notifications::attempts - 1))
    .execute(conn)?;
    Ok(())
}

/// A final state (`failed`, `skipped`, `cancelled`) with its reason, for a row not yet
/// sent. Returns whether the row changed.
pub fn mark_final(
    conn: &mut Conn,
    id: NotificationId,
    status: Status,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        notifications::table
            .find(id.0)
            .filter(notifications::status.eq_any([Status::Pending, Status::Sending])),
    )
    .set((
        notifications::status.eq(status),
        notifications::last_error.eq(reason),
        notifications::updated_at.eq(db_time(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// A pending notice that no longer applies (a visit moved, an edit undone) becomes
/// `skipped` with its reason; one already being sent is left to finish.
pub fn close_pending(
    conn: &mut Conn,
    id: NotificationId,
    reason: Reason,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(pending_row(id))
        .set((
            notifications::status.eq(Status::Skipped),
            notifications::last_error.eq(reason.as_str()),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}
