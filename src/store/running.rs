//! The config each instance runs: when it was loaded and its file's SHA-256,
//! written at start and at each reload (DESIGN: "Live configuration").

use diesel::prelude::*;

use super::{each_backend, Conn, StoreError};

/// The config an instance runs, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Queryable)]
pub struct RunningConfig {
    pub instance_id: String,
    pub loaded_at: chrono::NaiveDateTime,
    /// SHA-256 of its file.
    pub fingerprint: String,
    /// Reloads applied since the instance started.
    pub reloads: i64,
    pub updated_at: chrono::NaiveDateTime,
}

/// Records the config `instance` runs now (at start, and at each reload).
/// `alone` (SQLite: one process per file) forgets the processes before it.
pub fn record_running_config(
    conn: &mut Conn,
    running: &RunningConfig,
    alone: bool,
) -> Result<(), StoreError> {
    use super::schema::running_configs as r;
    if alone {
        diesel::delete(r::table.filter(r::instance_id.ne(&running.instance_id))).execute(conn)?;
    }
    let upsert = diesel::insert_into(r::table)
        .values((
            r::instance_id.eq(&running.instance_id),
            r::loaded_at.eq(running.loaded_at),
            r::fingerprint.eq(&running.fingerprint),
            r::reloads.eq(running.reloads),
            r::updated_at.eq(running.updated_at),
        ))
        .on_conflict(r::instance_id)
        .do_update()
        .set((
            r::loaded_at.eq(running.loaded_at),
            r::fingerprint.eq(&running.fingerprint),
            r::reloads.eq(running.reloads),
            r::updated_at.eq(running.updated_at),
        ));
    each_backend!(conn, |c| upsert.execute(c))?;
    Ok(())
}

/// The configs the instances run (one on SQLite), latest first.
pub fn running_configs(conn: &mut Conn) -> Result<Vec<RunningConfig>, StoreError> {
    use super::schema::running_configs as r;
    Ok(r::table.order(r::updated_at.desc()).load(conn)?)
}
