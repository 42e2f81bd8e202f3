//! Planning a company's stored bookings again when the lifecycle settings changed
//! (reminders turned on, off or moved, quiet hours changed) since its notices were
//! planned: once per company and change, inside a poll's commit, which records the
//! new settings.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::plans::{apply, known, Known, Planned};
use super::schema::{bookings, poll_cursors};
use super::{Conn, StoreError};
use crate::domain::{CompanyId, NotificationId, RecordId};

/// Bookings planned per chunk: a salon's whole history never sits in memory.
const CHUNK: usize = 200;

/// What a replan did, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replanned {
    /// The settings the notices had been planned with (`None`: unknown, a
    /// database from before they were recorded).
    pub before: Option<String>,
    pub bookings: usize,
    pub opened: usize,
    pub closed: usize,
    /// Pending notices now due at another time.
    pub moved: usize,
}

/// Plans the company's stored bookings (but `seen`, which the poll itself planned)
/// again when `settings` differ from those recorded for it. `None` when they do not,
/// or when there was nothing stored to plan.
pub(super) fn if_settings_changed(
    conn: &mut Conn,
    company: CompanyId,
    (settings, monitored_since, now): (&str, DateTime<Utc>, DateTime<Utc>),
    seen: &[RecordId],
    mut replan: impl FnMut(&Known) -> Result<Vec<Planned>, StoreError>,
    scheduled: &mut Vec<(NotificationId, DateTime<Utc>)>,
) -> Result<Option<Replanned>, StoreError> {
    let before: Option<String> = poll_cursors::table
        .find(company.0)
        .select(poll_cursors::planned_with)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten();
    if before.as_deref() == Some(settings) {
        return Ok(None);
    }
    let seen: HashSet<i64> = seen.iter().map(|r| r.0).collect();
    let stored: Vec<RecordId> = bookings::table
        .filter(bookings::company_id.eq(company.0))
        .select(bookings::record_id)
        .order(bookings::record_id.asc())
        .load::<i64>(conn)?
        .into_iter()
        .filter(|id| !seen.contains(id))
        .map(RecordId)
        .collect();
    if stored.is_empty() {
        return Ok(None);
    }
    let mut done = Replanned {
        before,
        bookings: stored.len(),
        ..Replanned::default()
    };
    for chunk in stored.chunks(CHUNK) {
        let mut known = known(conn, company, chunk)?;
        known.monitored_since = monitored_since;
        for planned in replan(&known)? {
            let before = scheduled.len();
            apply(conn, company, &planned, now, scheduled)?;
            done.closed += planned.close.len();
            done.moved += planned.reschedule.len();
            done.opened += scheduled.len() - before - planned.reschedule.len();
        }
    }
    Ok(Some(done))
}
