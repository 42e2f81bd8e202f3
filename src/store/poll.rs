//! Where each company's polling resumes, and the poll's commit: the filter's
//! decisions and the new cursor in one transaction.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::outbox::{Status, KIND_CREATED};
use super::schema::{bot_records, notifications, poll_cursors};
use super::{db_time, Conn, StoreError};
use crate::domain::{CompanyId, NotificationId, RecordId};

/// SQLite's limit on bound variables is far above this; chunks keep queries small.
const ID_CHUNK: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub changed_after: DateTime<Utc>,
    pub monitored_since: DateTime<Utc>,
}

/// What the filter decided about one record: a row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub record: RecordId,
    pub status: Status,
    pub phone: Option<String>,
    pub due_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub record_json: String,
}

/// What the filter needs from the database to decide about a batch of records.
#[derive(Debug, Clone, Default)]
pub struct Known {
    pub bot_records: HashSet<RecordId>,
    pub notified: HashSet<RecordId>,
}

/// The cursor of a company whose polls have failed before any succeeded: its row
/// exists only to carry the failure (`status` shows it), and it has no cursor.
pub const NEVER_POLLED: NaiveDateTime = DateTime::UNIX_EPOCH.naive_utc();

pub fn cursor(conn: &mut Conn, company: CompanyId) -> Result<Option<Cursor>, StoreError> {
    Ok(poll_cursors::table
        .find(company.0)
        .filter(poll_cursors::monitored_since.ne(NEVER_POLLED))
        .select((poll_cursors::changed_after, poll_cursors::monitored_since))
        .first::<(NaiveDateTime, NaiveDateTime)>(conn)
        .optional()?
        .map(|(c, m)| Cursor {
            changed_after: c.and_utc(),
            monitored_since: m.and_utc(),
        }))
}

pub fn record_poll_failure(
    conn: &mut Conn,
    company: CompanyId,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Before the first success there is no row: one without a cursor is made.
    diesel::insert_into(poll_cursors::table)
        .values((
            poll_cursors::company_id.eq(company.0),
            poll_cursors::changed_after.eq(NEVER_POLLED),
            poll_cursors::monitored_since.eq(NEVER_POLLED),
            poll_cursors::updated_at.eq(db_time(now)),
            poll_cursors::last_poll_at.eq(db_time(now)),
            poll_cursors::last_poll_error.eq(error),
        ))
        .on_conflict(poll_cursors::company_id)
        .do_update()
        .set((
            poll_cursors::last_poll_at.eq(db_time(now)),
            poll_cursors::last_poll_error.eq(error),
        ))
        .execute(conn)?;
    Ok(())
}

/// The filter's decisions and the company's new cursor, in one transaction: either
/// both are durable or neither is, so a crash between them loses nothing.
/// `decide` sees what the database knows of the records (bot bookings, existing
/// notifications); the rows it returns are inserted, and the new `pending` ones
/// come back to be scheduled.
pub fn commit_poll(
    conn: &mut Conn,
    company: CompanyId,
    records: &[RecordId],
    new_cursor: DateTime<Utc>,
    monitored_since: DateTime<Utc>,
    now: DateTime<Utc>,
    decide: impl FnOnce(&Known) -> Result<Vec<NewNotification>, StoreError>,
) -> Result<Vec<(NotificationId, DateTime<Utc>)>, StoreError> {
    conn.immediate_transaction(|conn| {
        let known = known(conn, company, records)?;
        let mut scheduled = Vec::new();
        for row in decide(&known)? {
            let inserted = diesel::insert_into(notifications::table)
                .values((
                    notifications::company_id.eq(company.0),
                    notifications::record_id.eq(row.record.0),
                    notifications::kind.eq(KIND_CREATED),
                    notifications::status.eq(row.status.as_str()),
                    notifications::phone.eq(&row.phone),
                    notifications::due_at.eq(db_time(row.due_at)),
                    notifications::last_error.eq(&row.reason),
                    notifications::record_json.eq(&row.record_json),
                    notifications::created_at.eq(db_time(now)),
                    notifications::updated_at.eq(db_time(now)),
                ))
                .on_conflict_do_nothing()
                .execute(conn)?;
            if inserted == 1 && row.status == Status::Pending {
                let id = notifications::table
                    .filter(notifications::company_id.eq(company.0))
                    .filter(notifications::record_id.eq(row.record.0))
                    .filter(notifications::kind.eq(KIND_CREATED))
                    .select(notifications::id)
                    .first::<i64>(conn)?;
                scheduled.push((NotificationId(id), row.due_at));
            }
        }
        diesel::insert_into(poll_cursors::table)
            .values((
                poll_cursors::company_id.eq(company.0),
                poll_cursors::changed_after.eq(db_time(new_cursor)),
                poll_cursors::monitored_since.eq(db_time(monitored_since)),
                poll_cursors::updated_at.eq(db_time(now)),
                poll_cursors::last_poll_at.eq(db_time(now)),
            ))
            .on_conflict(poll_cursors::company_id)
            .do_update()
            .set((
                poll_cursors::changed_after.eq(db_time(new_cursor)),
                // Unchanged for a monitored company; the first success of one whose
                // row only carried failures (NEVER_POLLED) starts its monitoring.
                poll_cursors::monitored_since.eq(db_time(monitored_since)),
                poll_cursors::updated_at.eq(db_time(now)),
                poll_cursors::last_poll_at.eq(db_time(now)),
                poll_cursors::last_poll_error.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(scheduled)
    })
}

fn known(conn: &mut Conn, company: CompanyId, records: &[RecordId]) -> Result<Known, StoreError> {
    let mut known = Known::default();
    for chunk in records.chunks(ID_CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|r| r.0).collect();
        known.bot_records.extend(
            bot_records::table
                .filter(bot_records::company_id.eq(company.0))
                .filter(bot_records::record_id.eq_any(&ids))
                .select(bot_records::record_id)
                .load::<i64>(conn)?
                .into_iter()
                .map(RecordId),
        );
        known.notified.extend(
            notifications::table
                .filter(notifications::company_id.eq(company.0))
                .filter(notifications::kind.eq(KIND_CREATED))
                .filter(notifications::record_id.eq_any(&ids))
                .select(notifications::record_id)
                .load::<i64>(conn)?
                .into_iter()
                .map(RecordId),
        );
    }
    Ok(known)
}

/// A company's polling, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct PollState {
    pub company_id: i64,
    pub changed_after: NaiveDateTime,
    pub monitored_since: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_poll_at: Option<NaiveDateTime>,
    pub last_poll_error: Option<String>,
}

impl PollState {
    /// False while every poll of the company has failed.
    pub fn ever_succeeded(&self) -> bool {
        self.monitored_since != NEVER_POLLED
    }
}

pub fn poll_states(conn: &mut Conn) -> Result<Vec<PollState>, StoreError> {
    Ok(poll_cursors::table
        .order(poll_cursors::company_id.asc())
        .load(conn)?)
}
