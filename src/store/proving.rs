//! What a poll proves (DESIGN: "On time without webhooks"): the notices of the
//! company that fell due since the poll before (each waits for this proof, and is
//! woken by it), and the next one to fall due (the poller brings its poll forward
//! to that time).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::notifications;
use super::{db_time, Conn, StoreError};
use crate::domain::{CompanyId, Kind, NotificationId, Status};

/// What one committed poll proved, and the proof the company needs next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proofs {
    /// Pending notices due after `since` and by the poll: current now.
    pub proven: Vec<NotificationId>,
    /// The earliest pending notice due after the poll and by `until`.
    pub next_due: Option<DateTime<Utc>>,
}

/// The proofs of a poll asked at `asked_at`. Both look within a window (`since`,
/// `until`) that the `(status, due_at)` index serves: what fell due before `since`
/// is re-read, and what falls due after `until` is seen by a later poll.
pub(super) fn proofs(
    conn: &mut Conn,
    company: CompanyId,
    since: DateTime<Utc>,
    asked_at: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Proofs, StoreError> {
    let pending_notices = || {
        notifications::table
            .filter(notifications::status.eq(Status::Pending))
            .filter(notifications::company_id.eq(company.0))
            .filter(notifications::kind.eq_any(Kind::NOTICES))
    };
    let proven = pending_notices()
        .filter(notifications::due_at.gt(db_time(since)))
        .filter(notifications::due_at.le(db_time(asked_at)))
        .select(notifications::id)
        .load::<i64>(conn)?
        .into_iter()
        .map(NotificationId)
        .collect();
    let next_due = pending_notices()
        .filter(notifications::due_at.gt(db_time(asked_at)))
        .filter(notifications::due_at.le(db_time(until)))
        .select(diesel::dsl::min(notifications::due_at))
        .first::<Option<NaiveDateTime>>(conn)?
        .map(|t| t.and_utc());
    Ok(Proofs { proven, next_due })
}
