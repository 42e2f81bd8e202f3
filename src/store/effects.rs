//! Settling an effect of the outbox (a write to YClients, a staff alert, a failed
//! send) and opening what follows from it, in one transaction.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::plans::{open_notice, NewNotification};
use super::schema::notifications;
use super::{db_time, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, NotificationId, RecordId, Status};

/// How an effect (a write to YClients, a staff alert) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Sent { provider_message_id: Option<String> },
    Final { status: Status, reason: String },
}

/// Settles row `id` and opens what follows from it (the client's answer once the
/// visit is confirmed, a staff alert when it could not be), in one transaction:
/// a crash between them can neither lose the follow-up nor open it twice. Returns
/// the rows now pending, due then.
pub fn settle_effect(
    conn: &mut Conn,
    id: NotificationId,
    how: &Settled,
    follow_ups: &[(CompanyId, RecordId, NewNotification)],
    now: DateTime<Utc>,
) -> Result<super::Opened, StoreError> {
    let company: Option<i64> = notifications::table
        .find(id.0)
        .select(notifications::company_id)
        .first(conn)
        .optional()?;
    // Gone while it was carried out: its client was forgotten (`forget`).
    let Some(company) = company else {
        return Ok(Vec::new());
    };
    write_transaction(conn, Serialize::Company(company), |conn| {
        let open = notifications::table
            .find(id.0)
            .filter(notifications::status.eq_any([Status::Pending, Status::Sending]));
        let changed = match how {
            Settled::Sent {
                provider_message_id,
            } => diesel::update(open)
                .set((
                    notifications::status.eq(Status::Sent),
                    notifications::provider_message_id.eq(provider_message_id),
                    notifications::last_error.eq(None::<String>),
                    notifications::sent_at.eq(db_time(now)),
                    notifications::updated_at.eq(db_time(now)),
                ))
                .execute(conn)?,
            Settled::Final { status, reason } => diesel::update(open)
                .set((
                    notifications::status.eq(*status),
                    notifications::last_error.eq(reason),
                    notifications::updated_at.eq(db_time(now)),
                ))
                .execute(conn)?,
        };
        let mut scheduled = Vec::new();
        if changed == 0 {
            // Another decision came first: it opened what follows, if anything.
            return Ok(scheduled);
        }
        for (company, record, row) in follow_ups {
            if let Some(opened) = open_notice(conn, *company, *record, row, now)? {
                scheduled.push((opened, row.due_at));
            }
        }
        Ok(scheduled)
    })
}
