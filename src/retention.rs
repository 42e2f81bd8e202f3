//! The purge loop (`[retention] keep_after_visit`): at start and then every hour
//! (or every `keep_after_visit`, if shorter), what is older than the setting goes,
//! a company's share at a time, so that sends never wait long behind it. The
//! SQLite file gets back what is freed (`auto_vacuum = INCREMENTAL`), and the log
//! is emptied, so that no copy of a purged row stays in the files.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::lifecycle::parse_record;
use crate::shared::Shared;
use crate::store::{self, Purged, StoreError};

/// While retention is off, the loop waits for a reload (or this long).
const OFF_RECHECK: Duration = Duration::from_secs(3600);

/// Runs until the process stops; does nothing while retention is off.
pub async fn run(shared: Shared) {
    let mut changes = shared.live.changes();
    loop {
        // The running config, read each round: a reload may turn retention on.
        let shared = shared.current();
        let every = shared.config.retention.purge_every().unwrap_or(OFF_RECHECK);
        if shared.supervision.stopping() {
            return;
        }
        match purge(&shared).await {
            Ok((purged, took)) if purged.total() > 0 => {
                slog::info!(shared.logger, "retention: purged what outlived keep_after_visit";
                    "bookings" => purged.bookings, "notifications" => purged.notifications,
                    "deliveries" => purged.deliveries, "replies" => purged.replies,
                    "number_changes" => purged.number_changes,
                    "took_ms" => took.as_millis() as u64);
            }
            Ok(_) => {}
            Err(e) => {
                slog::warn!(shared.logger, "retention: the purge failed; it runs again later";
                    "error" => %e)
            }
        }
        // A reload (retention turned on, a shorter keep) purges at once.
        tokio::select! {
            _ = actix_rt::time::sleep(every) => {}
            changed = changes.changed() => if changed.is_err() { return },
        }
    }
}

/// The visit of a stored booking (its start, as UTC: a zone's hours do not matter
/// against months), for bookings stored before visits were kept apart.
fn visit_of(json: &str) -> Option<DateTime<Utc>> {
    let visit = parse_record(json)?.visit?;
    Some(visit.in_zone(chrono_tz::UTC).with_timezone(&Utc))
}

/// One purge: everything older than the cutoff, chunk by chunk.
pub async fn purge(shared: &Shared) -> Result<(Purged, Duration), StoreError> {
    let began = Instant::now();
    let Some(keep) = shared.config.retention.keep_after_visit else {
        return Ok((Purged::default(), Duration::ZERO));
    };
    let cutoff = Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    while shared
        .db
        .run(|c| store::fill_visit_times(c, &visit_of))
        .await?
        > 0
    {}
    let mut purged = Purged::default();
    loop {
        let chunk = shared
            .db
            .run(move |c| store::purge_chunk(c, cutoff))
            .await?;
        if chunk.total() == 0 || shared.supervision.stopping() {
            break;
        }
        purged.add(chunk);
    }
    if purged.total() > 0 {
        shared.db.run(store::release_free_pages).await?;
    }
    Ok((purged, began.elapsed()))
}
