//! Bookings our own bot made: never notified.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::bot_records;
use super::{db_time, each_backend, Conn, StoreError};
use crate::domain::{CompanyId, RecordId};

pub fn is_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
) -> Result<bool, StoreError> {
    let found = bot_records::table
        .find((company.0, record.0))
        .count()
        .get_result::<i64>(conn)?;
    Ok(found > 0)
}

/// Returns false when it was already registered.
pub fn add_bot_record(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let upsert = diesel::insert_into(bot_records::table)
        .values((
            bot_records::company_id.eq(company.0),
            bot_records::record_id.eq(record.0),
            bot_records::created_at.eq(db_time(now)),
        ))
        .on_conflict_do_nothing();
    let n = each_backend!(conn, |c| upsert.execute(c))?;
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
