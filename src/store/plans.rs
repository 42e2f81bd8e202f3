//! What the filter plans for a booking (`Planned`: the notices it opens, closes,
//! reschedules), what it needs to know to plan (`Known`), and how a plan is
//! written: shared by a poll's commit, a replan, a reply and a delivery status.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::bookings::{BookingUpdate, StoredBooking};
use super::schema::{bot_records, notifications};
use super::{db_time, each_backend, Conn, StoreError};
use crate::domain::{CompanyId, Kind, NotificationId, Reason, RecordId, Status};

/// SQLite's limit on bound variables is far above this; chunks keep queries small.
const ID_CHUNK: usize = 500;

/// A notice the filter opens: a row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub kind: Kind,
    pub key: String,
    pub status: Status,
    pub phone: Option<String>,
    pub due_at: DateTime<Utc>,
    pub reason: Option<Reason>,
    pub record_json: String,
    /// The text, where it is decided when the row opens (a staff alert); notices
    /// are rendered when they go out.
    pub message: Option<String>,
}

/// An open (pending or sending) notification of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenNotice {
    pub id: NotificationId,
    pub kind: Kind,
    pub key: String,
    pub status: Status,
    pub due_at: DateTime<Utc>,
}

/// Everything the filter decided about one record.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub booking: BookingUpdate,
    pub open: Vec<NewNotification>,
    /// Pending rows that no longer apply, with why.
    pub close: Vec<(NotificationId, Reason)>,
    /// Pending rows now due at another time (the lifecycle settings changed).
    pub reschedule: Vec<(NotificationId, DateTime<Utc>)>,
}

/// What the filter needs from the database to decide about a batch of records.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// When monitoring of the company began: records created before are the backlog.
    pub monitored_since: DateTime<Utc>,
    pub bot_records: HashSet<RecordId>,
    pub bookings: HashMap<RecordId, StoredBooking>,
    pub open: HashMap<RecordId, Vec<OpenNotice>>,
    /// `created` rows of bookings stored before the lifecycle (no `bookings` row).
    pub created: HashMap<RecordId, (Status, String)>,
    /// Records whose client's phone was forgotten: not planned, not stored.
    pub forgotten: HashSet<RecordId>,
}

/// Writes one booking's plan for its notices: closes, reschedules, opens. Rows
/// that are now pending and new to the delay actor are added to `scheduled`.
pub(super) fn apply(
    conn: &mut Conn,
    company: CompanyId,
    planned: &Planned,
    now: DateTime<Utc>,
    scheduled: &mut Vec<(NotificationId, DateTime<Utc>)>,
) -> Result<(), StoreError> {
    let record = planned.booking.record;
    for (id, reason) in &planned.close {
        super::close_pending(conn, *id, *reason, now)?;
    }
    for (id, due_at) in &planned.reschedule {
        super::postpone(conn, *id, *due_at, now)?;
        scheduled.push((*id, *due_at));
    }
    for row in &planned.open {
        if let Some(id) = open_notice(conn, company, record, row, now)? {
            scheduled.push((id, row.due_at));
        }
    }
    Ok(())
}

/// Inserts a notice once per (record, kind, key). A pending notice whose key was
/// closed as `moved` (a visit moved away and back) opens again. Returns the id of a
/// row that is now pending and new to the delay actor.
pub(super) fn open_notice(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
    row: &NewNotification,
    now: DateTime<Utc>,
) -> Result<Option<NotificationId>, StoreError> {
    // A client's stop holds back what would reach them, from the moment it lands.
    let held = super::optouts::heed(conn, company, row)?;
    let row = held.as_ref().unwrap_or(row);
    let reason = row.reason.map(Reason::as_str);
    let upsert = diesel::insert_into(notifications::table)
        .values((
            notifications::company_id.eq(company.0),
            notifications::record_id.eq(record.0),
            notifications::kind.eq(row.kind),
            notifications::notice_key.eq(&row.key),
            notifications::status.eq(row.status),
            notifications::phone.eq(&row.phone),
            notifications::due_at.eq(db_time(row.due_at)),
            notifications::last_error.eq(reason),
            notifications::record_json.eq(&row.record_json),
            notifications::message.eq(&row.message),
            notifications::created_at.eq(db_time(now)),
            notifications::updated_at.eq(db_time(now)),
        ))
        .on_conflict_do_nothing();
    let inserted = each_backend!(conn, |c| upsert.execute(c))?;
    let this = notifications::table
        .filter(notifications::company_id.eq(company.0))
        .filter(notifications::record_id.eq(record.0))
        .filter(notifications::kind.eq(row.kind))
        .filter(notifications::notice_key.eq(&row.key));
    if inserted == 0 {
        if row.status != Status::Pending {
            return Ok(None);
        }
        if row.kind == Kind::Sms {
            // Opened when the notice went out, due once WhatsApp had time to
            // deliver it; a failure known sooner brings it forward.
            let advanced = diesel::update(
                this.filter(notifications::status.eq(Status::Pending))
                    .filter(notifications::due_at.gt(db_time(row.due_at))),
            )
            .set((
                notifications::due_at.eq(db_time(row.due_at)),
                notifications::updated_at.eq(db_time(now)),
            ))
            .execute(conn)?;
            if advanced == 0 {
                return Ok(None);
            }
            return Ok(Some(NotificationId(
                this.select(notifications::id).first::<i64>(conn)?,
            )));
        }
        let reopened = diesel::update(
            this.filter(notifications::status.eq(Status::Skipped))
                .filter(notifications::last_error.eq(Reason::Moved.as_str())),
        )
        .set((
            notifications::status.eq(Status::Pending),
            notifications::due_at.eq(db_time(row.due_at)),
            notifications::last_error.eq(None::<String>),
            notifications::updated_at.eq(db_time(now)),
        ))
        .execute(conn)?;
        if reopened == 0 {
            return Ok(None);
        }
    } else if row.status != Status::Pending {
        return Ok(None);
    }
    Ok(Some(NotificationId(
        this.select(notifications::id).first::<i64>(conn)?,
    )))
}

pub(super) fn known(
    conn: &mut Conn,
    company: CompanyId,
    records: &[RecordId],
) -> Result<Known, StoreError> {
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
        for booking in super::bookings::load(conn, company, &ids)? {
            known.bookings.insert(RecordId(booking.record_id), booking);
        }
        let rows: Vec<(i64, i64, Kind, String, Status, String, NaiveDateTime)> =
            notifications::table
                .filter(notifications::company_id.eq(company.0))
                .filter(notifications::record_id.eq_any(&ids))
                .filter(
                    notifications::status
                        .eq_any([Status::Pending, Status::Sending])
                        .or(notifications::kind.eq(Kind::Created)),
                )
                .select((
                    notifications::id,
                    notifications::record_id,
                    notifications::kind,
                    notifications::notice_key,
                    notifications::status,
                    notifications::record_json,
                    notifications::due_at,
                ))
                .load(conn)?;
        for (id, record, kind, key, status, record_json, due_at) in rows {
            let record = RecordId(record);
            if kind == Kind::Created {
                known.created.insert(record, (status, record_json));
            }
            if status.is_open() {
                known.open.entry(record).or_default().push(OpenNotice {
                    id: NotificationId(id),
                    kind,
                    key,
                    status,
                    due_at: due_at.and_utc(),
                });
            }
        }
    }
    Ok(known)
}
