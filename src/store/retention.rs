//! Retention (`[retention] keep_after_visit`): a booking whose visit ended longer
//! ago than that is purged with every row of it (its notices, their delivery
//! statuses, the replies tied to it); rows tied to no booking go once they are
//! that old. What the page counts stays, as numbers per day (`purged_counts`).
//! Each company's share is purged in its own short transaction, so a purge never
//! holds the database long from the sends.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{bookings, deliveries, notifications, number_changes, purged_counts, replies};
use super::{db_time, each_backend, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{reading, Intent, Kind, MatchedBy, Status};

/// Bookings purged per transaction.
const CHUNK: i64 = 200;

/// What a purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub bookings: usize,
    pub notifications: usize,
    pub deliveries: usize,
    pub replies: usize,
    /// Notes that a client's WhatsApp number changed.
    pub number_changes: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.bookings + self.notifications + self.deliveries + self.replies + self.number_changes
    }

    pub fn add(&mut self, other: Purged) {
        self.bookings += other.bookings;
        self.notifications += other.notifications;
        self.deliveries += other.deliveries;
        self.replies += other.replies;
        self.number_changes += other.number_changes;
    }
}

/// Gives a visit time to the bookings stored before the column was: `visit_of`
/// reads it from the stored record (the last sighting when it has none). Returns
/// how many were filled; the caller repeats until none are left.
pub fn fill_visit_times(
    conn: &mut Conn,
    visit_of: &dyn Fn(&str) -> Option<DateTime<Utc>>,
) -> Result<usize, StoreError> {
    let rows: Vec<(i64, i64, String, NaiveDateTime)> = bookings::table
        .filter(bookings::visit_at.is_null())
        .select((
            bookings::company_id,
            bookings::record_id,
            bookings::record_json,
            bookings::updated_at,
        ))
        .limit(CHUNK)
        .load(conn)?;
    for (company, record, json, seen) in &rows {
        let at = visit_of(json).map(db_time).unwrap_or(*seen);
        diesel::update(bookings::table.find((company, record)))
            .set(bookings::visit_at.eq(at))
            .execute(conn)?;
    }
    Ok(rows.len())
}

/// Purges one chunk of what is older than `cutoff`: bookings whose visit was
/// before it, one company at a time, then rows tied to no booking. Returns what
/// went; the caller repeats until nothing does.
pub fn purge_chunk(conn: &mut Conn, cutoff: DateTime<Utc>) -> Result<Purged, StoreError> {
    let due: Option<i64> = bookings::table
        .filter(bookings::visit_at.lt(db_time(cutoff)))
        .select(bookings::company_id)
        .first(conn)
        .optional()?;
    if let Some(company) = due {
        return write_transaction(conn, Serialize::Company(company), |conn| {
            let records: Vec<i64> = bookings::table
                .filter(bookings::company_id.eq(company))
                .filter(bookings::visit_at.lt(db_time(cutoff)))
                .select(bookings::record_id)
                .limit(CHUNK)
                .load(conn)?;
            purge_bookings(conn, company, &records)
        });
    }
    write_transaction(conn, Serialize::Replies, |conn| purge_loose(conn, cutoff))
}

fn purge_bookings(conn: &mut Conn, company: i64, records: &[i64]) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let rows: Vec<Row> = notifications::table
        .filter(notifications::company_id.eq(company))
        .filter(notifications::record_id.eq_any(records))
        .select(Row::as_select())
        .load(conn)?;
    purged.add(purge_rows(conn, &rows)?);
    let answers: Vec<ReplyRow> = replies::table
        .filter(replies::company_id.eq(company))
        .filter(replies::record_id.eq_any(records))
        .select(ReplyRow::as_select())
        .load(conn)?;
    purged.replies += purge_replies(conn, &answers)?;
    let bookings = diesel::delete(
        bookings::table
            .filter(bookings::company_id.eq(company))
            .filter(bookings::record_id.eq_any(records)),
    )
    .execute(conn)?;
    count_purged(
        conn,
        Purged {
            bookings,
            ..Purged::default()
        },
    )?;
    purged.bookings += bookings;
    Ok(purged)
}

/// Rows older than the cutoff that no stored booking holds: staff alerts and
/// answers to replies that named no booking, rows from before bookings were kept,
/// replies from strangers, delivery statuses of messages we never knew, notes of
/// changed numbers.
fn purge_loose(conn: &mut Conn, cutoff: DateTime<Utc>) -> Result<Purged, StoreError> {
    let mut purged = Purged::default();
    let stored = bookings::table
        .filter(bookings::company_id.eq(notifications::company_id))
        .filter(bookings::record_id.eq(notifications::record_id));
    let rows: Vec<Row> = notifications::table
        .filter(notifications::updated_at.lt(db_time(cutoff)))
        .filter(notifications::status.ne_all([Status::Pending, Status::Sending]))
        .filter(diesel::dsl::not(diesel::dsl::exists(stored)))
        .select(Row::as_select())
        .limit(CHUNK)
        .load(conn)?;
    purged.add(purge_rows(conn, &rows)?);
    let held = bookings::table
        .filter(bookings::company_id.nullable().eq(replies::company_id))
        .filter(bookings::record_id.nullable().eq(replies::record_id));
    let answers: Vec<ReplyRow> = replies::table
        .filter(replies::created_at.lt(db_time(cutoff)))
        .filter(diesel::dsl::not(diesel::dsl::exists(held)))
        .select(ReplyRow::as_select())
        .limit(CHUNK)
        .load(conn)?;
    purged.replies += purge_replies(conn, &answers)?;
    let known = notifications::table
        .filter(notifications::provider_message_id.eq(deliveries::provider_message_id.nullable()));
    purged.deliveries += diesel::delete(
        deliveries::table
            .filter(deliveries::updated_at.lt(db_time(cutoff)))
            .filter(diesel::dsl::not(diesel::dsl::exists(known))),
    )
    .execute(conn)?;
    let notes = Purged {
        number_changes: diesel::delete(
            number_changes::table.filter(number_changes::created_at.lt(db_time(cutoff))),
        )
        .execute(conn)?,
        ..Purged::default()
    };
    count_purged(conn, notes)?;
    purged.add(notes);
    Ok(purged)
}

/// A notification as the purge counts it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = notifications)]
struct Row {
    id: i64,
    company_id: i64,
    kind: Kind,
    status: Status,
    provider_message_id: Option<String>,
    created_at: NaiveDateTime,
}

/// A reply as the purge counts it.
#[derive(Queryable, Selectable)]
#[diesel(table_name = replies)]
struct ReplyRow {
    id: i64,
    company_id: Option<i64>,
    intent: Intent,
    matched_by: MatchedBy,
    created_at: NaiveDateTime,
}

/// Counts the rows by day, salon, kind and status, then deletes them and their
/// delivery statuses.
fn purge_rows(conn: &mut Conn, rows: &[Row]) -> Result<Purged, StoreError> {
    let mut counts = BTreeMap::new();
    for r in rows {
        let key = (
            day(r.created_at),
            r.company_id,
            r.kind.as_str(),
            r.status.as_str(),
        );
        *counts.entry(key).or_insert(0i64) += 1;
    }
    keep_counts(conn, counts)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let sent: BTreeSet<&String> = rows
        .iter()
        .filter_map(|r| r.provider_message_id.as_ref())
        .collect();
    let purged = Purged {
        deliveries: diesel::delete(
            deliveries::table.filter(deliveries::provider_message_id.eq_any(sent)),
        )
        .execute(conn)?,
        notifications: diesel::delete(notifications::table.filter(notifications::id.eq_any(ids)))
            .execute(conn)?,
        ..Purged::default()
    };
    count_purged(conn, purged)?;
    Ok(purged)
}

fn purge_replies(conn: &mut Conn, rows: &[ReplyRow]) -> Result<usize, StoreError> {
    let mut counts = BTreeMap::new();
    for r in rows {
        let key = (
            day(r.created_at),
            r.company_id.unwrap_or(0),
            "reply",
            reading(r.intent, r.matched_by),
        );
        *counts.entry(key).or_insert(0i64) += 1;
    }
    keep_counts(conn, counts)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let n = diesel::delete(replies::table.filter(replies::id.eq_any(ids))).execute(conn)?;
    count_purged(
        conn,
        Purged {
            replies: n,
            ..Purged::default()
        },
    )?;
    Ok(n)
}

fn day(t: NaiveDateTime) -> String {
    t.date().format("%Y-%m-%d").to_string()
}

fn keep_counts(
    conn: &mut Conn,
    counts: BTreeMap<(String, i64, &str, &str), i64>,
) -> Result<(), StoreError> {
    for ((day, company, what, status), n) in counts {
        let upsert = diesel::insert_into(purged_counts::table)
            .values((
                purged_counts::day.eq(&day),
                purged_counts::company_id.eq(company),
                purged_counts::what.eq(what),
                purged_counts::status.eq(status),
                purged_counts::count.eq(n),
            ))
            .on_conflict((
                purged_counts::day,
                purged_counts::company_id,
                purged_counts::what,
                purged_counts::status,
            ))
            .do_update()
            .set(purged_counts::count.eq(purged_counts::count + n));
        each_backend!(conn, |c| upsert.execute(c))?;
    }
    Ok(())
}

fn count_purged(conn: &mut Conn, purged: Purged) -> Result<(), StoreError> {
    for (table, n) in [
        ("bookings", purged.bookings),
        ("notifications", purged.notifications),
        ("deliveries", purged.deliveries),
        ("replies", purged.replies),
        ("number_changes", purged.number_changes),
    ] {
        let labels = format!("table=\"{table}\"");
        super::add_to_counter(conn, super::PURGED, &labels, n as i64)?;
    }
    Ok(())
}

/// What was purged, counted per salon (all salons: `None`): each notification
/// kind's statuses (`what` is the kind), and the replies (`what` is `reply`) by
/// how they were read. Summed in SQL: the table has a row per day.
pub fn purged_counts(
    conn: &mut Conn,
    company: Option<i64>,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = diesel::sql_types::Text)]
        what: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        status: String,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let filter = match company {
        Some(c) => format!("WHERE company_id = {c}"),
        None => String::new(),
    };
    let query = diesel::sql_query(format!(
        "SELECT what, status, CAST(SUM(count) AS BIGINT) AS n FROM purged_counts {filter} \
         GROUP BY what, status ORDER BY what, status"
    ));
    let sums: Vec<Sum> = each_backend!(conn, |c| query.load(c))?;
    Ok(sums.into_iter().map(|s| (s.what, s.status, s.n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::{plans_of, scans, test_sqlite};
    use diesel::connection::SimpleConnection;

    /// The purge runs every hour while sends wait for its transactions: it must
    /// find what is old through indexes, not by reading the outbox whole.
    #[test]
    fn the_hourly_purge_reads_no_table_whole() {
        let (_dir, mut conn) = test_sqlite();
        if let crate::store::AnyConnection::Sqlite(c) = &mut conn {
            c.batch_execute(
                "INSERT INTO bookings (company_id, record_id, audience, record_json, revision, \
                 first_seen_at, updated_at, visit_at) VALUES \
                 (1, 10, 'client', '{}', 0, '2020-01-01 00:00:00', '2020-01-01 00:00:00', '2020-01-02 00:00:00'); \
                 INSERT INTO notifications (company_id, record_id, kind, notice_key, status, phone, due_at, \
                 provider_message_id, record_json, created_at, updated_at) VALUES \
                 (1, 10, 'created', '', 'sent', '79161234567', '2020-01-01 00:00:00', 'wamid.1', '{}', \
                 '2020-01-01 00:00:00', '2020-01-01 00:00:00');",
            )
            .unwrap();
        }
        let cutoff = "2021-01-01T00:00:00Z".parse().unwrap();
        let plans = plans_of(&mut conn, |c| {
            while fill_visit_times(c, &|_| None)? > 0 {}
            while purge_chunk(c, cutoff)?.total() > 0 {}
            Ok(())
        });
        assert!(plans.len() > 5, "the purge ran: {plans:?}");
        let tables = ["notifications", "bookings", "replies", "deliveries"];
        assert_eq!(scans(&plans, &tables), Vec::<&str>::new(), "{plans:#?}");
    }
}
