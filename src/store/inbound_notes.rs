//! What the providers tell us of a client that is not a reply: a changed WhatsApp
//! number, noted once for the staff's page; and the effects a provider's notice
//! calls for (a staff alert that sending was suspended), opened once by their key.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::plans::open_notice;
use super::schema::{notifications, number_changes};
use super::{
    db_time, each_backend, write_transaction, Conn, Effects, Opened, Serialize, StoreError,
};
use crate::domain::{CompanyId, Kind};

/// Notes that the client of `old` now writes from `new`, once per pair; the salon
/// is `company`, or else the one whose notice last went to `old`. Returns whether
/// it is new. Nothing is kept of a phone its client had erased (`forget`).
pub fn note_number_change(
    conn: &mut Conn,
    old: &str,
    new: &str,
    sender: Option<&str>,
    company: Option<CompanyId>,
    changed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if super::is_forgotten(conn, old)? || super::is_forgotten(conn, new)? {
        return Ok(false);
    }
    let company = match company {
        Some(c) => Some(c.0),
        None => notifications::table
            .filter(notifications::phone.eq(old))
            .filter(notifications::kind.eq_any(Kind::NOTICES))
            .order(notifications::updated_at.desc())
            .select(notifications::company_id)
            .first::<i64>(conn)
            .optional()?,
    };
    let insert = diesel::insert_into(number_changes::table)
        .values((
            number_changes::old_phone.eq(old),
            number_changes::new_phone.eq(new),
            number_changes::company_id.eq(company),
            number_changes::sender.eq(sender),
            number_changes::changed_at.eq(db_time(changed_at)),
            number_changes::created_at.eq(db_time(now)),
        ))
        .on_conflict_do_nothing();
    Ok(each_backend!(conn, |c| insert.execute(c))? == 1)
}

/// A changed number as the staff's page shows it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct NotedNumber {
    pub old_phone: String,
    pub new_phone: String,
    pub company_id: Option<i64>,
    pub changed_at: NaiveDateTime,
}

/// The latest changed numbers, newest first; with `company`, those of that salon.
pub fn number_changes(
    conn: &mut Conn,
    company: Option<CompanyId>,
    limit: i64,
) -> Result<Vec<NotedNumber>, StoreError> {
    let mut query = number_changes::table
        .order(number_changes::created_at.desc())
        .select((
            number_changes::old_phone,
            number_changes::new_phone,
            number_changes::company_id,
            number_changes::changed_at,
        ))
        .limit(limit)
        .into_boxed();
    if let Some(company) = company {
        query = query.filter(number_changes::company_id.eq(company.0));
    }
    Ok(query.load(conn)?)
}

/// Opens `effects`, each once by its key (a repeat opens nothing); returns the
/// rows now pending, due then.
pub fn open_effects(
    conn: &mut Conn,
    effects: &Effects,
    now: DateTime<Utc>,
) -> Result<Opened, StoreError> {
    let mut opened = Vec::new();
    for (company, record, row) in effects {
        write_transaction(conn, Serialize::Company(company.0), |conn| {
            if let Some(id) = open_notice(conn, *company, *record, row, now)? {
                opened.push((id, row.due_at));
            }
            Ok(())
        })?;
    }
    Ok(opened)
}
