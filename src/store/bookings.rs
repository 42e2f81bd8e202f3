//! Every booking the daemon knows, with what its client was last told.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::bookings;
use super::{db_time, each_backend, Conn, StoreError};
use crate::domain::{Audience, CompanyId, RecordId};

#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct StoredBooking {
    pub company_id: i64,
    pub record_id: i64,
    pub audience: Audience,
    /// The booking as last seen (poll, baseline, re-read).
    pub record_json: String,
    /// The booking as its client was last told it; `None` while nothing was told.
    pub told_json: Option<String>,
    pub told_at: Option<NaiveDateTime>,
    /// Change and cancellation notices opened so far (their `notice_key`).
    pub revision: i32,
    pub first_seen_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// When a webhook last told us of it.
    pub pushed_at: Option<NaiveDateTime>,
    /// When the visit is (UTC), for retention.
    pub visit_at: Option<NaiveDateTime>,
}

impl StoredBooking {
    pub fn told_at(&self) -> Option<DateTime<Utc>> {
        self.told_at.map(|t| t.and_utc())
    }
}

/// What the filter writes about a booking it saw.
#[derive(Debug, Clone, PartialEq)]
pub struct BookingUpdate {
    pub record: RecordId,
    pub audience: Audience,
    pub record_json: String,
    /// Written only when the booking is first stored (later, only a send tells).
    pub told_json: Option<String>,
    pub revision: i32,
    /// Set when a webhook brought it (then: when).
    pub pushed_at: Option<DateTime<Utc>>,
    /// When the visit is, for retention (none: no visit time).
    pub visit_at: Option<DateTime<Utc>>,
}

pub fn booking(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
) -> Result<Option<StoredBooking>, StoreError> {
    Ok(bookings::table
        .find((company.0, record.0))
        .first(conn)
        .optional()?)
}

pub(super) fn load(
    conn: &mut Conn,
    company: CompanyId,
    ids: &[i64],
) -> Result<Vec<StoredBooking>, StoreError> {
    Ok(bookings::table
        .filter(bookings::company_id.eq(company.0))
        .filter(bookings::record_id.eq_any(ids))
        .load(conn)?)
}

pub(super) fn upsert(
    conn: &mut Conn,
    company: CompanyId,
    update: &BookingUpdate,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let upsert = diesel::insert_into(bookings::table)
        .values((
            bookings::company_id.eq(company.0),
            bookings::record_id.eq(update.record.0),
            bookings::audience.eq(update.audience),
            bookings::record_json.eq(&update.record_json),
            bookings::told_json.eq(&update.told_json),
            bookings::revision.eq(update.revision),
            bookings::first_seen_at.eq(db_time(now)),
            bookings::updated_at.eq(db_time(now)),
            bookings::pushed_at.eq(update.pushed_at.map(db_time)),
            bookings::visit_at.eq(update.visit_at.map(db_time)),
        ))
        .on_conflict((bookings::company_id, bookings::record_id))
        .do_update()
        .set((
            bookings::audience.eq(update.audience),
            bookings::record_json.eq(&update.record_json),
            bookings::revision.eq(update.revision),
            bookings::updated_at.eq(db_time(now)),
            bookings::visit_at.eq(update.visit_at.map(db_time)),
        ));
    each_backend!(conn, |c| upsert.execute(c))?;
    if let Some(at) = update.pushed_at {
        diesel::update(bookings::table.find((company.0, update.record.0)))
            .set(bookings::pushed_at.eq(db_time(at)))
            .execute(conn)?;
    }
    Ok(())
}

/// Keeps a re-read booking as the newest known state.
pub fn refresh_booking(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
    record_json: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    diesel::update(bookings::table.find((company.0, record.0)))
        .set((
            bookings::record_json.eq(record_json),
            bookings::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    Ok(())
}
