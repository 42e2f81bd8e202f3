//! What push brings: WhatsApp's delivery statuses on the outbox's rows, and when
//! each company's YClients webhooks last came.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{deliveries, notifications, webhook_receipts};
use super::{db_time, each_backend, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, Delivery, Kind, Status};

/// What one delivery status did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeliveryUpdate {
    /// The notification moved on.
    Applied,
    #[default]
    /// A repeat, or older than what is known: nothing changed.
    Stale,
    /// No notification has that provider message id (yet: it is kept).
    Unknown,
}

impl DeliveryUpdate {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryUpdate::Applied => "applied",
            DeliveryUpdate::Stale => "stale",
            DeliveryUpdate::Unknown => "unknown_id",
        }
    }
}

/// Outbox rows to open: each with its salon and booking.
pub type Effects = Vec<(CompanyId, crate::domain::RecordId, super::NewNotification)>;

/// Records what the provider reported of `provider_message_id`, only forward, in
/// one immediate transaction (two callbacks at once cannot both win). Kept even
/// when no notification has that id yet: a provider may report before `sent` is
/// committed. A `failed` that applies to a sent notice opens what `undelivered`
/// makes of it (the staff told) in the same transaction; those rows come back,
/// due then.
pub fn record_delivery(
    conn: &mut Conn,
    provider_message_id: &str,
    delivery: Delivery,
    error: Option<&str>,
    now: DateTime<Utc>,
    undelivered: &dyn Fn(&super::Notification, &str) -> Effects,
) -> Result<Recorded, StoreError> {
    write_transaction(conn, Serialize::Deliveries, |conn| {
        let known = deliveries::table
            .find(provider_message_id)
            .select(deliveries::status)
            .first::<String>(conn)
            .optional()?
            .as_deref()
            .and_then(Delivery::parse);
        if !Delivery::advances(known, delivery) {
            return Ok(Recorded {
                update: DeliveryUpdate::Stale,
                ..Recorded::default()
            });
        }
        let upsert = diesel::insert_into(deliveries::table)
            .values((
                deliveries::provider_message_id.eq(provider_message_id),
                deliveries::status.eq(delivery.as_str()),
                deliveries::error.eq(error),
                deliveries::updated_at.eq(db_time(now)),
            ))
            .on_conflict(deliveries::provider_message_id)
            .do_update()
            .set((
                deliveries::status.eq(delivery.as_str()),
                deliveries::error.eq(error),
                deliveries::updated_at.eq(db_time(now)),
            ));
        each_backend!(conn, |c| upsert.execute(c))?;
        let ours: Vec<super::Notification> = notifications::table
            .filter(notifications::provider_message_id.eq(provider_message_id))
            .load(conn)?;
        let mut scheduled = Vec::new();
        if delivery == Delivery::Failed {
            for row in ours.iter().filter(|r| Kind::NOTICES.contains(&r.kind)) {
                for (company, record, effect) in undelivered(row, error.unwrap_or("failed")) {
                    if let Some(id) =
                        super::plans::open_notice(conn, company, record, &effect, now)?
                    {
                        scheduled.push((id, effect.due_at));
                    }
                }
            }
        }
        // The SMS standing in for a notice shares its booking and is keyed by its
        // id: the outbox's unique key finds it. A status comes with every message
        // and the outbox holds months of rows: this must not read them all.
        let mut after_sms = false;
        if matches!(delivery, Delivery::Delivered | Delivery::Read) {
            for r in &ours {
                after_sms |= notifications::table
                    .filter(notifications::company_id.eq(r.company_id))
                    .filter(notifications::record_id.eq(r.record_id))
                    .filter(notifications::kind.eq(Kind::Sms))
                    .filter(notifications::notice_key.eq(r.id.to_string()))
                    .filter(notifications::status.eq(Status::Sent))
                    .count()
                    .get_result::<i64>(conn)?
                    > 0;
            }
        }
        Ok(Recorded {
            update: if ours.is_empty() {
                DeliveryUpdate::Unknown
            } else {
                DeliveryUpdate::Applied
            },
            opened: scheduled,
            after_sms,
        })
    })
}

/// What recording one delivery status did.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub update: DeliveryUpdate,
    /// Rows it opened (an alert and an SMS for a `failed`), due then.
    pub opened: super::Opened,
    /// WhatsApp delivered the notice after its SMS had gone (both reached the client).
    pub after_sms: bool,
}

/// What Meta reported of these messages: (provider message id, status, error).
pub fn deliveries(
    conn: &mut Conn,
    provider_ids: &[String],
) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
    Ok(deliveries::table
        .filter(deliveries::provider_message_id.eq_any(provider_ids))
        .select((
            deliveries::provider_message_id,
            deliveries::status,
            deliveries::error,
        ))
        .load(conn)?)
}

/// The reason of a `failed` status already kept for `provider_message_id`: one
/// that beat our own `sent` commit.
pub(super) fn held_failure(
    conn: &mut Conn,
    provider_message_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(deliveries(conn, &[provider_message_id.to_string()])?
        .into_iter()
        .find(|(_, status, _)| Delivery::parse(status) == Some(Delivery::Failed))
        .map(|(_, _, error)| error.unwrap_or_else(|| "failed".into())))
}

/// How many sent notifications (of one salon, with `company`) are in each
/// delivery status.
pub fn count_deliveries(
    conn: &mut Conn,
    company: Option<CompanyId>,
) -> Result<Vec<(String, i64)>, StoreError> {
    let ours = notifications::table
        .filter(notifications::provider_message_id.is_not_null())
        // Every company id is positive: `0` stands for "any".
        .filter(
            notifications::company_id
                .eq(company.map_or(0, |c| c.0))
                .or(company.is_none().into_sql::<diesel::sql_types::Bool>()),
        )
        .select(notifications::provider_message_id.assume_not_null());
    Ok(deliveries::table
        .filter(deliveries::provider_message_id.eq_any(ours))
        .group_by(deliveries::status)
        .select((deliveries::status, diesel::dsl::count_star()))
        .load(conn)?)
}

/// A company's webhook came now.
pub fn note_webhook(
    conn: &mut Conn,
    company: CompanyId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let upsert = diesel::insert_into(webhook_receipts::table)
        .values((
            webhook_receipts::company_id.eq(company.0),
            webhook_receipts::last_at.eq(db_time(now)),
            webhook_receipts::events.eq(1),
        ))
        .on_conflict(webhook_receipts::company_id)
        .do_update()
        .set((
            webhook_receipts::last_at.eq(db_time(now)),
            webhook_receipts::events.eq(webhook_receipts::events + 1),
        ));
    each_backend!(conn, |c| upsert.execute(c))?;
    Ok(())
}

/// Each company's last webhook and how many came: (company, last, count).
pub fn webhook_receipts(conn: &mut Conn) -> Result<Vec<(i64, NaiveDateTime, i64)>, StoreError> {
    Ok(webhook_receipts::table
        .order(webhook_receipts::company_id.asc())
        .load(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::{plans_of, scans, test_sqlite};
    use diesel::connection::SimpleConnection;

    /// A status comes with every message, inside a write transaction, and the
    /// outbox holds months of rows: recording one must not read them all.
    #[test]
    fn a_delivery_status_reads_no_table_whole() {
        let (_dir, mut conn) = test_sqlite();
        if let crate::store::AnyConnection::Sqlite(c) = &mut conn {
            c.batch_execute(
                "INSERT INTO notifications (company_id, record_id, kind, notice_key, status, phone, \
                 due_at, provider_message_id, record_json, created_at, updated_at) VALUES \
                 (1, 10, 'created', '', 'sent', '79161234567', '2020-01-01 00:00:00', 'wamid.1', '{}', \
                 '2020-01-01 00:00:00', '2020-01-01 00:00:00');",
            )
            .unwrap();
        }
        let now = "2020-01-01T00:01:00Z".parse().unwrap();
        let plans = plans_of(&mut conn, |c| {
            for status in [Delivery::Sent, Delivery::Delivered, Delivery::Read] {
                let recorded =
                    record_delivery(c, "wamid.1", status, None, now, &|_, _| Vec::new())?;
                assert_eq!(recorded.update, DeliveryUpdate::Applied);
            }
            Ok(())
        });
        let tables = ["notifications", "deliveries", "bookings"];
        assert_eq!(scans(&plans, &tables), Vec::<&str>::new(), "{plans:#?}");
    }
}
