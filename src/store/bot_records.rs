//! Bookings our own bot made: never notified.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::bot_records;
use super::{db_time, Conn, StoreError};
use crate::domain::{CompanyId, RecordId};

pub fn is_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
) -> Result<bool, StoreError> {
    Ok(diesel::select(diesel::dsl::exists(
        bot_records::table.find((company.0, record.0)),
    ))
    .get_result(conn)?)
}

/// Returns false when it was already registered.
pub fn add_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = diesel::insert_into(bot_records::table)
        .values((
            bot_records::company_id.eq(company.0),
            bot_records::record_id.eq(record.0),
            bot_records::created_at.eq(db_time(now)),
        ))
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(n == 1)
}

/// Returns false when it was not registered.
pub fn remove_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
) -> Result<bool, StoreError> {
    Ok(diesel::delete(bot_records::table.find((company.0, record.0))).execute(conn)? == 1)
}
