//! The outbox: one row per booking and kind, `pending → sending → sent | failed`,
//! or `skipped`, `cancelled`; also the history `status` reads.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::notifications;
use super::{db_time, Conn, StoreError};
use crate::domain::{CompanyId, NotificationId, RecordId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Pending,
    Sending,
    Sent,
    Failed,
    Skipped,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Sending,
        Status::Sent,
        Status::Failed,
        Status::Skipped,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The kind of notification; only confirmations of new bookings exist today.
pub const KIND_CREATED: &str = "created";

#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct Notification {
    pub id: i64,
    pub company_id: i64,
    pub record_id: i64,
    pub kind: String,
    pub status: String,
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
    pub fn status(&self) -> Option<Status> {
        Status::parse(&self.status)
    }
    pub fn due_at(&self) -> DateTime<Utc> {
        self.due_at.and_utc()
    }
}

/// Every notification still to be sent, for the delay actor's heap.
pub fn pending(conn: &mut Conn) -> Result<Vec<(NotificationId, DateTime<Utc>)>, StoreError> {
    Ok(notifications::table
        .filter(notifications::status.eq_any([Status::Pending.as_str(), Status::Sending.as_str()]))
        .select((notifications::id, notifications::due_at))
        .load::<(i64, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(id, due)| (NotificationId(id), due.and_utc()))
        .collect())
}

/// Rows left in `sending` were interrupted mid-send: back to `pending`.
pub fn reset_interrupted_sends(
    conn: &mut Conn,
    now: DateTime<Utc>,
) -> Result<Vec<Notification>, StoreError> {
    conn.immediate_transaction(|conn| {
        let rows = notifications::table
            .filter(notifications::status.eq(Status::Sending.as_str()))
            .load::<Notification>(conn)?;
        diesel::update(
            notifications::table.filter(notifications::status.eq(Status::Sending.as_str())),
        )
        .set((
            notifications::status.eq(Status::Pending.as_str()),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
        Ok(rows)
    })
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

/// Claims a pending row for sending: `sending`, one more attempt, the text that goes
/// out. False when the row is no longer pending (someone else decided first).
pub fn claim_for_send(
    conn: &mut Conn,
    id: NotificationId,
    send: &Outbound,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        notifications::table
            .find(id.0)
            .filter(notifications::status.eq(Status::Pending.as_str())),
    )
    .set((
        notifications::status.eq(Status::Sending.as_str()),
        notifications::attempts.eq(notifications::attempts + 1),
        notifications::phone.eq(&send.phone),
        notifications::message.eq(&send.message),
        notifications::record_json.eq(&send.record_json),
        notifications::updated_at.eq(db_time(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn mark_sent(
    conn: &mut Conn,
    id: NotificationId,
    provider_message_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(notifications::table.find(id.0))
        .set((
            notifications::status.eq(Status::Sent.as_str()),
            notifications::provider_message_id.eq(provider_message_id),
            notifications::last_error.eq(None::<String>),
            notifications::sent_at.eq(db_time(now)),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Back to `pending`, to be tried again at `due_at`.
pub fn mark_retry(
    conn: &mut Conn,
    id: NotificationId,
    due_at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(notifications::table.find(id.0))
        .set((
            notifications::status.eq(Status::Pending.as_str()),
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
    let n = diesel::update(notifications::table.find(id.0).filter(
        notifications::status.eq_any([Status::Pending.as_str(), Status::Sending.as_str()]),
    ))
    .set((
        notifications::status.eq(status.as_str()),
        notifications::last_error.eq(reason),
        notifications::updated_at.eq(db_time(now)),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn all_notifications(conn: &mut Conn) -> Result<Vec<Notification>, StoreError> {
    Ok(notifications::table
        .order(notifications::id.asc())
        .load(conn)?)
}

/// The most recently decided notifications, newest first.
pub fn recent(conn: &mut Conn, limit: i64) -> Result<Vec<Notification>, StoreError> {
    Ok(notifications::table
        .order((notifications::updated_at.desc(), notifications::id.desc()))
        .limit(limit)
        .load(conn)?)
}

pub fn count_by_status(conn: &mut Conn) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(notifications::table
        .group_by(notifications::status)
        .select((notifications::status, diesel::dsl::count_star()))
        .load(conn)?)
}
