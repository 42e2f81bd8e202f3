//! The outbox's history as `status`, the page and `/metrics` read it: recent rows,
//! counts by kind and status, what is coming.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::outbox::Notification;
use super::schema::notifications;
use super::{Conn, StoreError};
use crate::domain::{CompanyId, Kind, Status};

pub fn all_notifications(conn: &mut Conn) -> Result<Vec<Notification>, StoreError> {
    Ok(notifications::table
        .order(notifications::id.asc())
        .load(conn)?)
}

/// Every salon's rows, or (`Some`) one salon's only: its own page shows nothing else.
fn of(
    company: Option<CompanyId>,
) -> notifications::BoxedQuery<'static, super::backend::MultiBackend> {
    let query = notifications::table.into_boxed();
    match company {
        Some(c) => query.filter(notifications::company_id.eq(c.0)),
        None => query,
    }
}

/// The most recently decided notifications, newest first.
pub fn recent(
    conn: &mut Conn,
    limit: i64,
    company: Option<CompanyId>,
) -> Result<Vec<Notification>, StoreError> {
    Ok(of(company)
        .order((notifications::updated_at.desc(), notifications::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// The latest rows of one kind in `statuses` (of `company`, if given), newest first.
pub fn recent_of_kind(
    conn: &mut Conn,
    kind: Kind,
    statuses: &[Status],
    limit: i64,
    company: Option<CompanyId>,
) -> Result<Vec<Notification>, StoreError> {
    Ok(of(company)
        .filter(notifications::kind.eq(kind))
        .filter(notifications::status.eq_any(statuses))
        .order((notifications::updated_at.desc(), notifications::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// How many notifications (of one salon, with `company`) of each kind are in
/// each status.
pub fn count_by_kind_and_status(
    conn: &mut Conn,
    company: Option<CompanyId>,
) -> Result<Vec<(Kind, Status, i64)>, StoreError> {
    let columns = (
        notifications::kind,
        notifications::status,
        diesel::dsl::count_star(),
    );
    let grouped = (notifications::kind, notifications::status);
    Ok(match company {
        None => notifications::table
            .group_by(grouped)
            .select(columns)
            .load(conn)?,
        Some(c) => notifications::table
            .filter(notifications::company_id.eq(c.0))
            .group_by(grouped)
            .select(columns)
            .load(conn)?,
    })
}

/// For each kind with notices still to be sent, the due time of the earliest (for
/// the metric an alert on stuck sends reads).
pub fn earliest_open_due(conn: &mut Conn) -> Result<Vec<(Kind, DateTime<Utc>)>, StoreError> {
    let rows: Vec<(Kind, Option<NaiveDateTime>)> = notifications::table
        .filter(notifications::status.eq_any([Status::Pending, Status::Sending]))
        .group_by(notifications::kind)
        .select((notifications::kind, diesel::dsl::min(notifications::due_at)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(kind, due)| Some((kind, due?.and_utc())))
        .collect())
}

/// The open notifications, earliest due first (for `status`: what is coming).
pub fn upcoming(
    conn: &mut Conn,
    limit: i64,
    company: Option<CompanyId>,
) -> Result<Vec<Notification>, StoreError> {
    Ok(of(company)
        .filter(notifications::status.eq_any([Status::Pending, Status::Sending]))
        .order((notifications::due_at.asc(), notifications::id.asc()))
        .limit(limit)
        .load(conn)?)
}
