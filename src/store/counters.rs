//! Counters kept in the database, for what the command line does as well as the
//! daemon (a stop taken by hand, a phone forgotten, rows purged): `/metrics` reads
//! them, so they count whoever acted, across restarts. Each is added to in the
//! transaction of what it counts.

use diesel::prelude::*;

use super::schema::counters;
use super::{each_backend, Conn, StoreError};

/// The durable counters' names.
pub const OPTOUTS: &str = "booking_monitor_optouts_total";
pub const FORGOTTEN: &str = "booking_monitor_forgotten_total";
pub const PURGED: &str = "booking_monitor_purged_total";

/// Adds `n` to counter `name{labels}` (labels in Prometheus' text form).
pub fn add_to_counter(conn: &mut Conn, name: &str, labels: &str, n: i64) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    let upsert = diesel::insert_into(counters::table)
        .values((
            counters::name.eq(name),
            counters::labels.eq(labels),
            counters::value.eq(n),
        ))
        .on_conflict((counters::name, counters::labels))
        .do_update()
        .set(counters::value.eq(counters::value + n));
    each_backend!(conn, |c| upsert.execute(c))?;
    Ok(())
}

/// Every durable counter: name, labels, value.
pub fn durable_counters(conn: &mut Conn) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(counters::table
        .order((counters::name.asc(), counters::labels.asc()))
        .load(conn)?)
}
