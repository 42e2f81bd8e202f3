//! Where each company's polling resumes, and the poll's commit: the filter's
//! decisions and the new cursor in one transaction.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::bookings::{BookingUpdate, StoredBooking};
use super::replan::Replanned;
use super::schema::{bot_records, notifications, poll_cursors};
use super::{db_time, each_backend, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, Kind, NotificationId, Reason, RecordId, Status};

/// SQLite's limit on bound variables is far above this; chunks keep queries small.
const ID_CHUNK: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub changed_after: DateTime<Utc>,
    pub monitored_since: DateTime<Utc>,
    /// The baseline of future bookings was read (false: a database from before
    /// the lifecycle; the next poll reads it).
    pub baselined: bool,
    /// When the company was last polled, by any instance (that instance's clock).
    pub last_poll_at: Option<DateTime<Utc>>,
}

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
}

/// The cursor of a company whose polls have failed before any succeeded: its row
/// exists only to carry the failure (`status` shows it), and it has no cursor.
pub const NEVER_POLLED: NaiveDateTime = DateTime::UNIX_EPOCH.naive_utc();

/// Where the company's polling resumes; `None` until its first poll is committed.
pub fn cursor(conn: &mut Conn, company: CompanyId) -> Result<Option<Cursor>, StoreError> {
    Ok(poll_cursors::table
        .find(company.0)
        .filter(poll_cursors::changed_after.ne(NEVER_POLLED))
        .select((
            poll_cursors::changed_after,
            poll_cursors::monitored_since,
            poll_cursors::baseline_at,
            poll_cursors::last_poll_at,
        ))
        .first::<(
            NaiveDateTime,
            NaiveDateTime,
            Option<NaiveDateTime>,
            Option<NaiveDateTime>,
        )>(conn)
        .optional()?
        .map(|(c, m, b, last)| Cursor {
            changed_after: c.and_utc(),
            monitored_since: m.and_utc(),
            baselined: b.is_some(),
            last_poll_at: last.map(|t| t.and_utc()),
        }))
}

/// When monitoring of the company began (YClients' clock), once a process has
/// registered it; `None` before.
pub fn monitored_since(
    conn: &mut Conn,
    company: CompanyId,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(poll_cursors::table
        .find(company.0)
        .filter(poll_cursors::monitored_since.ne(NEVER_POLLED))
        .select(poll_cursors::monitored_since)
        .first::<NaiveDateTime>(conn)
        .optional()?
        .map(|t| t.and_utc()))
}

/// Monitoring of `companies` begins at `start` (a process's start, YClients'
/// clock) unless it began already: a company once polled keeps its start, and one
/// registered but not yet polled keeps the earliest start any process registered
/// (instances started together: the first one's). Returns how many companies this
/// call started or moved earlier.
pub fn begin_monitoring(
    conn: &mut Conn,
    companies: &[CompanyId],
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    write_transaction(conn, Serialize::MonitoringStarts, |conn| {
        let mut begun = 0;
        for company in companies {
            let insert = diesel::insert_into(poll_cursors::table)
                .values((
                    poll_cursors::company_id.eq(company.0),
                    poll_cursors::changed_after.eq(NEVER_POLLED),
                    poll_cursors::monitored_since.eq(db_time(start)),
                    poll_cursors::updated_at.eq(db_time(now)),
                ))
                .on_conflict_do_nothing();
            let inserted = each_backend!(conn, |c| insert.execute(c))?;
            // A row that carried only failures, or a later process's start.
            let earlier = diesel::update(
                poll_cursors::table
                    .find(company.0)
                    .filter(poll_cursors::changed_after.eq(NEVER_POLLED))
                    .filter(
                        poll_cursors::monitored_since
                            .eq(NEVER_POLLED)
                            .or(poll_cursors::monitored_since.gt(db_time(start))),
                    ),
            )
            .set(poll_cursors::monitored_since.eq(db_time(start)))
            .execute(conn)?;
            begun += inserted.max(earlier);
        }
        Ok(begun)
    })
}

/// When the company's last committed poll was asked (our clock): its stored
/// bookings are current as of then.
pub fn proven_at(conn: &mut Conn, company: CompanyId) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(poll_cursors::table
        .find(company.0)
        .select(poll_cursors::proven_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional()?
        .flatten()
        .map(|t| t.and_utc()))
}

pub fn record_poll_failure(
    conn: &mut Conn,
    company: CompanyId,
    error: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Before the first success there is no row: one without a cursor is made.
    let upsert = diesel::insert_into(poll_cursors::table)
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
        ));
    each_backend!(conn, |c| upsert.execute(c))?;
    Ok(())
}

/// One committed poll's new cursor (none for a webhook's record).
#[derive(Debug, Clone)]
pub struct PollCommit {
    /// On PostgreSQL, the instance that polled: its poll is kept only while it
    /// still holds the company's lease. None on SQLite and for webhooks.
    pub lease_holder: Option<std::sync::Arc<str>>,
    pub company: CompanyId,
    pub new_cursor: Option<DateTime<Utc>>,
    /// This process's start (YClients' clock): when monitoring of the company
    /// begins unless a process registered it earlier (`begin_monitoring`).
    pub monitored_since: DateTime<Utc>,
    /// The lifecycle settings this process plans with (`Policy::planned_with`);
    /// `None` for a webhook, which leaves replanning to the polls.
    pub planned_with: Option<String>,
    /// When the poll was asked (our clock).
    pub asked_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// The poll brought the baseline of future bookings too.
    pub baselined: bool,
}

/// What a committed poll (or webhook) left to do, and what it replanned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Committed {
    /// Rows now pending and new to the delay actor, with their due time.
    pub scheduled: Vec<(NotificationId, DateTime<Utc>)>,
    pub replanned: Option<Replanned>,
}

/// The filter's decisions and the company's new cursor, in one transaction: either
/// both are durable or neither is, so a crash between them loses nothing.
/// `decide` sees what the database knows of the records (bot bookings, stored
/// bookings, open notices); what it plans is written, and the new `pending` rows
/// come back to be scheduled. When the lifecycle settings differ from those the
/// company's notices were planned with, `replan` plans its other stored bookings
/// again (in chunks), once: the poll's commit records the settings.
pub fn commit_poll(
    conn: &mut Conn,
    poll: &PollCommit,
    records: &[RecordId],
    decide: impl FnOnce(&Known) -> Result<Vec<Planned>, StoreError>,
    replan: impl FnMut(&Known) -> Result<Vec<Planned>, StoreError>,
) -> Result<Committed, StoreError> {
    let (company, now) = (poll.company, poll.now);
    write_transaction(conn, Serialize::Company(company.0), |conn| {
        if let Some(me) = poll.lease_holder.as_deref() {
            if !super::holds_lease(conn, company, me)? {
                return Err(StoreError::LeaseLost(company));
            }
        }
        let monitored_since = monitored_since(conn, company)?.unwrap_or(poll.monitored_since);
        let mut known = known(conn, company, records)?;
        known.monitored_since = monitored_since;
        let mut committed = Committed::default();
        for planned in decide(&known)? {
            super::bookings::upsert(conn, company, &planned.booking, now)?;
            apply(conn, company, &planned, now, &mut committed.scheduled)?;
        }
        if let Some(settings) = &poll.planned_with {
            committed.replanned = super::replan::if_settings_changed(
                conn,
                company,
                (settings, monitored_since, now),
                records,
                replan,
                &mut committed.scheduled,
            )?;
        }
        let Some(new_cursor) = poll.new_cursor else {
            // A webhook: the cursor stays where the polls left it.
            super::note_webhook(conn, company, now)?;
            return Ok(committed);
        };
        let upsert = diesel::insert_into(poll_cursors::table)
            .values((
                poll_cursors::company_id.eq(company.0),
                poll_cursors::changed_after.eq(db_time(new_cursor)),
                poll_cursors::monitored_since.eq(db_time(monitored_since)),
                poll_cursors::updated_at.eq(db_time(now)),
                poll_cursors::last_poll_at.eq(db_time(now)),
                poll_cursors::proven_at.eq(db_time(poll.asked_at)),
                poll_cursors::planned_with.eq(&poll.planned_with),
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
                poll_cursors::proven_at.eq(db_time(poll.asked_at)),
                poll_cursors::planned_with.eq(&poll.planned_with),
            ));
        each_backend!(conn, |c| upsert.execute(c))?;
        if poll.baselined {
            diesel::update(poll_cursors::table.find(company.0))
                .set(poll_cursors::baseline_at.eq(db_time(now)))
                .execute(conn)?;
        }
        Ok(committed)
    })
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

/// A company's polling, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct PollState {
    pub company_id: i64,
    pub changed_after: NaiveDateTime,
    pub monitored_since: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub last_poll_at: Option<NaiveDateTime>,
    pub last_poll_error: Option<String>,
    pub proven_at: Option<NaiveDateTime>,
    pub baseline_at: Option<NaiveDateTime>,
    /// The lifecycle settings its notices were planned with.
    pub planned_with: Option<String>,
}

impl PollState {
    /// False until a poll of the company has been committed.
    pub fn ever_succeeded(&self) -> bool {
        self.changed_after != NEVER_POLLED
    }

    /// When its monitoring began, once a process registered it.
    pub fn monitoring_began(&self) -> Option<NaiveDateTime> {
        (self.monitored_since != NEVER_POLLED).then_some(self.monitored_since)
    }
}

pub fn poll_states(conn: &mut Conn) -> Result<Vec<PollState>, StoreError> {
    Ok(poll_cursors::table
        .order(poll_cursors::company_id.asc())
        .load(conn)?)
}
