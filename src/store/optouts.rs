//! Clients who asked us to stop (DESIGN: "The client's say"): one row per salon
//! and phone. A stop holds back every row that reaches the client (notices,
//! answers, SMS) from the moment it is committed: the pending ones are closed,
//! new ones open as skipped, and a send's claim checks it in its own statement.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::plans::NewNotification;
use super::schema::{notifications, optouts};
use super::{db_time, each_backend, Conn, Opened, StoreError};
use crate::domain::{CompanyId, Kind, NotificationId, Reason, Status, OPT_OUT_ACKNOWLEDGEMENT};

/// How a client's stop came to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptSource {
    /// A «стоп» written to one of our senders.
    Reply,
    /// `booking-monitor optout add`, for a client who asked at the desk.
    Command,
}

impl OptSource {
    pub fn as_str(self) -> &'static str {
        match self {
            OptSource::Reply => "reply",
            OptSource::Command => "command",
        }
    }
}

/// One salon's stop for one phone, as `status`, the page and `optout list` show it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct OptOut {
    pub company_id: i64,
    /// Digits; shown masked.
    pub phone: String,
    pub source: String,
    pub via: String,
    pub since: NaiveDateTime,
}

/// The kinds a stop holds back (and the acknowledgement of a stop, which it does not).
fn heeding() -> Vec<Kind> {
    Kind::ALL
        .iter()
        .copied()
        .filter(|k| k.heeds_opt_out(""))
        .collect()
}

/// The pattern of the one answer a stop does not hold back.
fn acknowledgement_pattern() -> String {
    format!("%{OPT_OUT_ACKNOWLEDGEMENT}")
}

/// Opts `phone` out of `companies`' messages: the stops are kept (a repeat
/// changes nothing), and the rows still pending to that phone are closed as
/// `skipped` `opted_out`. Returns how many salons were newly opted out.
pub fn opt_out(
    conn: &mut Conn,
    companies: &[CompanyId],
    phone: &str,
    (source, via): (OptSource, &str),
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut added = 0;
    for company in companies {
        let insert = diesel::insert_into(optouts::table)
            .values((
                optouts::company_id.eq(company.0),
                optouts::phone.eq(phone),
                optouts::source.eq(source.as_str()),
                optouts::via.eq(via),
                optouts::since.eq(db_time(now)),
            ))
            .on_conflict_do_nothing();
        added += each_backend!(conn, |c| insert.execute(c))?;
    }
    let ids: Vec<i64> = companies.iter().map(|c| c.0).collect();
    diesel::update(
        notifications::table
            .filter(notifications::company_id.eq_any(&ids))
            .filter(notifications::phone.eq(phone))
            .filter(notifications::status.eq(Status::Pending))
            .filter(notifications::kind.eq_any(heeding()))
            .filter(notifications::notice_key.not_like(acknowledgement_pattern())),
    )
    .set((
        notifications::status.eq(Status::Skipped),
        notifications::last_error.eq(Reason::OptedOut.as_str()),
        notifications::updated_at.eq(db_time(now)),
    ))
    .execute(conn)?;
    if added > 0 {
        count(conn, source, "out")?;
    }
    Ok(added)
}

fn count(conn: &mut Conn, source: OptSource, action: &str) -> Result<(), StoreError> {
    let labels = format!("source=\"{}\",action=\"{action}\"", source.as_str());
    super::add_to_counter(conn, super::OPTOUTS, &labels, 1)
}

/// Lifts `phone`'s stop for `companies`. What the stop held back and is still to
/// come (due after now) goes out again; what fell due meanwhile is not sent late.
/// Returns how many salons' stops were lifted, and the rows pending again.
pub fn opt_in(
    conn: &mut Conn,
    companies: &[CompanyId],
    phone: &str,
    source: OptSource,
    now: DateTime<Utc>,
) -> Result<(usize, Opened), StoreError> {
    let ids: Vec<i64> = companies.iter().map(|c| c.0).collect();
    let removed = diesel::delete(
        optouts::table
            .filter(optouts::company_id.eq_any(&ids))
            .filter(optouts::phone.eq(phone)),
    )
    .execute(conn)?;
    let held_back = notifications::table
        .filter(notifications::company_id.eq_any(&ids))
        .filter(notifications::phone.eq(phone))
        .filter(notifications::status.eq(Status::Skipped))
        .filter(notifications::last_error.eq(Reason::OptedOut.as_str()))
        .filter(notifications::due_at.gt(db_time(now)));
    let rows: Vec<(i64, NaiveDateTime)> = held_back
        .select((notifications::id, notifications::due_at))
        .load(conn)?;
    let reopened: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    diesel::update(notifications::table.filter(notifications::id.eq_any(reopened)))
        .set((
            notifications::status.eq(Status::Pending),
            notifications::last_error.eq(None::<String>),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
    if removed > 0 {
        count(conn, source, "in")?;
    }
    let opened = rows
        .into_iter()
        .map(|(id, due)| (NotificationId(id), due.and_utc()))
        .collect();
    Ok((removed, opened))
}

/// Whether `phone` asked `company` to stop.
pub fn is_opted_out(conn: &mut Conn, company: CompanyId, phone: &str) -> Result<bool, StoreError> {
    let n = optouts::table
        .filter(optouts::company_id.eq(company.0))
        .filter(optouts::phone.eq(phone))
        .count()
        .get_result::<i64>(conn)?;
    Ok(n > 0)
}

/// Whether `phone` asked any of `companies` to stop.
pub fn opted_out_of_any(
    conn: &mut Conn,
    companies: &[CompanyId],
    phone: &str,
) -> Result<bool, StoreError> {
    let ids: Vec<i64> = companies.iter().map(|c| c.0).collect();
    let n = optouts::table
        .filter(optouts::company_id.eq_any(ids))
        .filter(optouts::phone.eq(phone))
        .count()
        .get_result::<i64>(conn)?;
    Ok(n > 0)
}

/// A row about to open, as a stop leaves it: one that would reach an opted-out
/// client opens as `skipped` `opted_out`.
pub(super) fn heed(
    conn: &mut Conn,
    company: CompanyId,
    row: &NewNotification,
) -> Result<Option<NewNotification>, StoreError> {
    let Some(phone) = row.phone.as_deref() else {
        return Ok(None);
    };
    if row.status != Status::Pending
        || !row.kind.heeds_opt_out(&row.key)
        || !is_opted_out(conn, company, phone)?
    {
        return Ok(None);
    }
    let mut held = row.clone();
    held.status = Status::Skipped;
    held.reason = Some(Reason::OptedOut);
    Ok(Some(held))
}

/// The stops of one salon (or of all), newest first.
pub fn optouts(conn: &mut Conn, company: Option<CompanyId>) -> Result<Vec<OptOut>, StoreError> {
    let mut query = optouts::table
        .order((optouts::since.desc(), optouts::phone.asc()))
        .into_boxed();
    if let Some(company) = company {
        query = query.filter(optouts::company_id.eq(company.0));
    }
    Ok(query.load(conn)?)
}
