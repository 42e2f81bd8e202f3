//! When this process began monitoring, on YClients' clock. Monitoring of a company
//! begins at the start of the first process that monitors it: every record created
//! at or after it is news, however long the company then waited for its first poll
//! (200 salons share 5 requests a second at start; a first poll has pages, errors
//! and retries). Records created before it are the backlog.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use tokio::sync::futures::Notified;
use tokio::sync::Notify;

pub struct MonitoringStart {
    started: Instant,
    started_wall: DateTime<Utc>,
    on_yclients: OnceLock<DateTime<Utc>>,
    /// The start was written for every configured company (`store::begin_monitoring`).
    registered: AtomicBool,
    /// Wakes whoever waits for a company's monitoring to begin (a YClients webhook
    /// that came before the process's first YClients answer).
    began: Notify,
}

impl MonitoringStart {
    /// This process starts now.
    pub fn now() -> MonitoringStart {
        MonitoringStart {
            started: Instant::now(),
            started_wall: Utc::now(),
            on_yclients: OnceLock::new(),
            registered: AtomicBool::new(false),
            began: Notify::new(),
        }
    }

    /// The start on YClients' clock, read off the first answer that carried its
    /// `Date`: that date less the time since the start, rounded down to the second,
    /// so that it errs early (a booking made a second before the start may be
    /// confirmed; none made after it is lost). Every later call returns the same.
    /// Without a `Date` yet, our own clock's start stands in.
    pub fn on_yclients(&self, date: Option<DateTime<Utc>>, answered: Instant) -> DateTime<Utc> {
        let Some(date) = date else {
            return self
                .on_yclients
                .get()
                .copied()
                .unwrap_or_else(|| floor_to_second(self.started_wall));
        };
        *self.on_yclients.get_or_init(|| {
            let since_start = answered.saturating_duration_since(self.started);
            floor_to_second(date - TimeDelta::from_std(since_start).unwrap_or(TimeDelta::MAX))
        })
    }

    /// A later moment of this process (a reload that added companies), on
    /// YClients' clock as far as the start is known, rounded down to the second.
    pub fn at(&self, moment: Instant) -> DateTime<Utc> {
        let start = self
            .on_yclients
            .get()
            .copied()
            .unwrap_or_else(|| floor_to_second(self.started_wall));
        let since = moment.saturating_duration_since(self.started);
        floor_to_second(start + TimeDelta::from_std(since).unwrap_or(TimeDelta::zero()))
    }

    pub fn registered(&self) -> bool {
        self.registered.load(Ordering::SeqCst)
    }

    pub fn mark_registered(&self) {
        self.registered.store(true, Ordering::SeqCst);
        self.began.notify_waiters();
    }

    /// A company's first poll was committed: its monitoring began, whether or not
    /// this process registered the start (a company added since).
    pub fn company_began(&self) {
        self.began.notify_waiters();
    }

    /// Resolves at the next `mark_registered` or `company_began` after this call:
    /// take it before looking, so that one in between is not missed.
    pub fn next_beginning(&self) -> Notified<'_> {
        self.began.notified()
    }
}

fn floor_to_second(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::seconds(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_start_is_the_first_date_less_the_time_since_start_rounded_down() {
        let start = MonitoringStart::now();
        let date: DateTime<Utc> = "2026-12-06T10:00:05Z".parse().unwrap();
        let answered = start.started + Duration::from_millis(2_300);
        assert_eq!(
            start.on_yclients(Some(date), answered),
            "2026-12-06T10:00:02Z".parse::<DateTime<Utc>>().unwrap()
        );
        // A later answer, whatever its date, does not move it.
        let later: DateTime<Utc> = "2026-12-06T10:09:00Z".parse().unwrap();
        assert_eq!(
            start.on_yclients(Some(later), answered + Duration::from_secs(1)),
            "2026-12-06T10:00:02Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            start.on_yclients(None, answered),
            "2026-12-06T10:00:02Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn without_a_date_our_own_start_stands_in_until_one_comes() {
        let start = MonitoringStart::now();
        let ours = start.on_yclients(None, Instant::now());
        assert!(ours <= start.started_wall && start.started_wall - ours < TimeDelta::seconds(1));
        let date: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        assert!(start.on_yclients(Some(date), start.started) > ours);
    }
}
