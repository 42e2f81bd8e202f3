//! Where each company's polling resumes, and the poll's commit: the filter's
//! decisions and the new cursor in one transaction.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::plans::{apply, known, Known, Planned};
use super::proving::Proofs;
use super::replan::Replanned;
use super::schema::poll_cursors;
use super::{db_time, each_backend, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, NotificationId, RecordId};

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
    /// Each record's client phone (digits), where it has one: a forgotten
    /// phone's booking is recognised by it and not stored.
    pub phones: Vec<(RecordId, String)>,
    /// With proving polls: how far back and ahead of the poll its proofs reach
    /// (`Committed::proofs`).
    pub proving_within: Option<chrono::Duration>,
    /// How often the company is polled now, for `status`.
    pub poll_every: Option<std::time::Duration>,
}

/// What a committed poll (or webhook) left to do, and what it replanned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Committed {
    /// Rows now pending and new to the delay actor, with their due time.
    pub scheduled: Vec<(NotificationId, DateTime<Utc>)>,
    pub replanned: Option<Replanned>,
    /// A poll's proofs, with proving polls.
    pub proofs: Proofs,
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
        known.forgotten = super::forget::forgotten_among(conn, &poll.phones)?;
        let mut committed = Committed::default();
        for planned in decide(&known)? {
            super::bookings::upsert(conn, company, &planned.booking, now)?;
            apply(conn, company, &planned, now, &mut committed.scheduled)?;
        }
        for record in &known.forgotten {
            super::forget::skip_forgotten(conn, company, *record, now)?;
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
        if let Some(within) = poll.proving_within {
            // Each notice is woken once: by the first poll asked after its due time.
            let before = proven_at(conn, company)?;
            let since = before.map_or(poll.asked_at - within, |b| b.max(poll.asked_at - within));
            committed.proofs = super::proving::proofs(
                conn,
                company,
                since,
                poll.asked_at,
                poll.asked_at + within,
            )?;
        }
        let poll_every = poll.poll_every.map(|d| d.as_millis() as i64);
        let upsert = diesel::insert_into(poll_cursors::table)
            .values((
                poll_cursors::company_id.eq(company.0),
                poll_cursors::changed_after.eq(db_time(new_cursor)),
                poll_cursors::monitored_since.eq(db_time(monitored_since)),
                poll_cursors::updated_at.eq(db_time(now)),
                poll_cursors::last_poll_at.eq(db_time(now)),
                poll_cursors::proven_at.eq(db_time(poll.asked_at)),
                poll_cursors::planned_with.eq(&poll.planned_with),
                poll_cursors::poll_every_ms.eq(poll_every),
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
                poll_cursors::poll_every_ms.eq(poll_every),
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
    /// How often it was polled at its last poll (ms): its interval, or less while busy.
    pub poll_every_ms: Option<i64>,
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
