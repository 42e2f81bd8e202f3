//! Who is polled when, and why (DESIGN: "On time without webhooks"). Pure: the
//! poller tells it what happened (a poll began, found something, failed, could not
//! begin) and asks which salon comes next; it reads no clock of its own.
//!
//! - **Scheduled**: every salon once per `poll_interval_ms`, counted from the start
//!   of its last poll. It is the longest a salon waits, whatever the others do.
//! - **Proving**: a notice that falls due before any poll has proved its booking
//!   current brings the salon's next poll forward to the due time. The cadence goes
//!   on from there, so this costs no request while due times are rarer than polls.
//! - **Active**: extra polls for salons whose bookings were created or changed
//!   within the last two intervals (`rates`). Together they stay within the spare
//!   budget, and no salon is polled sooner than `min_poll_interval_ms` after its
//!   last poll.

mod rates;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::domain::CompanyId;

/// Why a salon is polled (`booking_monitor_polls_total{reason}`). Listed by
/// priority: when several polls are due at once, a scheduled one goes first, so
/// a busy salon never makes an idle one wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    Scheduled,
    Proving,
    Active,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Scheduled => "scheduled",
            Reason::Proving => "proving",
            Reason::Active => "active",
        }
    }
}

/// The settings the cadence follows, from `[monitor]` and the budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub interval: Duration,
    /// The least gap before a poll that comes sooner than the interval.
    pub min_interval: Duration,
    pub proving: bool,
    /// Requests a minute the configured polls need.
    pub configured_per_minute: f64,
    /// Extra requests a minute that active polls may add.
    pub spare_per_minute: f64,
}

impl Rules {
    /// The rules of `config` for the `companies` this instance polls.
    pub fn new(config: &Config, companies: usize) -> Rules {
        let monitor = &config.monitor;
        Rules {
            interval: Duration::from_millis(monitor.poll_interval_ms),
            min_interval: Duration::from_millis(monitor.min_poll_interval_ms),
            proving: monitor.proving_poll,
            configured_per_minute: crate::budget::polls_per_minute(config, companies),
            spare_per_minute: crate::budget::spare_polls_per_minute(config, companies),
        }
    }

    /// The least gap, never more than the interval itself.
    fn min_gap(&self) -> Duration {
        self.min_interval.min(self.interval)
    }
}

/// The next poll: of which salon, from when, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub company: CompanyId,
    pub at: Instant,
    pub reason: Reason,
}

/// What a committed poll found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Found {
    /// The requests it took (pages, the salon's details) beyond the first.
    pub more_requests: u32,
    /// Bookings created or changed since the poll before.
    pub news: u32,
    /// The earliest notice falling due after the poll was asked.
    pub next_due: Option<Instant>,
}

/// How far back activity counts, in intervals.
const ACTIVE_FOR: u32 = 2;
/// The budget's window.
const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Salon {
    /// When the cadence wants it: the last poll's start plus the interval, or when
    /// a failed poll is tried again.
    due: Instant,
    /// When its last poll began.
    last: Option<Instant>,
    /// Not polled before then, for any reason (a failure's backoff, another
    /// instance holding it).
    not_before: Option<Instant>,
    /// The earliest notice falling due that no poll has proved current yet.
    proving: Option<Instant>,
    /// Bookings created or changed, by the start of the poll that found them.
    news: VecDeque<(Instant, u32)>,
}

/// Every polled salon's turn.
#[derive(Debug)]
pub struct Cadence {
    rules: Rules,
    salons: BTreeMap<CompanyId, Salon>,
    /// The requests of the last minute's polls, by their start.
    recent: VecDeque<(Instant, u32)>,
}

impl Cadence {
    pub fn new(rules: Rules) -> Cadence {
        Cadence {
            rules,
            salons: BTreeMap::new(),
            recent: VecDeque::new(),
        }
    }

    /// After a reload, or when this instance's share of the salons changed.
    pub fn set_rules(&mut self, rules: Rules) {
        self.rules = rules;
    }

    /// A salon to poll, first at `first` (its earlier turn kept if it has one).
    pub fn add(&mut self, company: CompanyId, first: Instant) {
        self.salons.entry(company).or_insert(Salon {
            due: first,
            last: None,
            not_before: None,
            proving: None,
            news: VecDeque::new(),
        });
    }

    /// Whether this instance has polled `company` since it was added here (a salon
    /// just taken over from another instance has not).
    pub fn polled_here(&self, company: CompanyId) -> bool {
        self.salons.get(&company).is_some_and(|s| s.last.is_some())
    }

    pub fn contains(&self, company: CompanyId) -> bool {
        self.salons.contains_key(&company)
    }

    /// Keeps the salons `keep` names (a reload removed the others).
    pub fn retain(&mut self, keep: impl Fn(CompanyId) -> bool) {
        self.salons.retain(|id, _| keep(*id));
    }

    pub fn clear(&mut self) {
        self.salons.clear();
        self.recent.clear();
    }

    /// A poll of `company` began at `at`: its cadence counts from here, and the
    /// notices due by then are its to prove.
    pub fn began(&mut self, company: CompanyId, at: Instant) {
        self.recent.push_back((at, 1));
        if let Some(s) = self.salons.get_mut(&company) {
            s.last = Some(at);
            s.due = at + self.rules.interval;
            s.not_before = None;
            s.proving = s.proving.filter(|p| *p > at);
        }
    }

    /// The poll that began at `began` was committed with `found`.
    pub fn polled(&mut self, company: CompanyId, began: Instant, found: Found) {
        if found.more_requests > 0 {
            self.recent.push_back((began, found.more_requests));
        }
        if let Some(s) = self.salons.get_mut(&company) {
            if found.news > 0 {
                s.news.push_back((began, found.news));
            }
            s.proving = found.next_due;
        }
    }

    /// Not polled again before `until`, for any reason: a failed poll's backoff,
    /// or another instance polls it.
    pub fn hold_back(&mut self, company: CompanyId, until: Instant) {
        if let Some(s) = self.salons.get_mut(&company) {
            s.due = until;
            s.not_before = Some(until);
            s.proving = None;
        }
    }

    /// The salon polled next: the one whose poll is due first, a scheduled or
    /// proving poll before an active one when both are due by `now`.
    pub fn next(&self, now: Instant) -> Option<Next> {
        let gaps = self.gaps(now);
        let budget_from = self.active_budget_from(now);
        // Among polls due at once, scheduled and proving ones before active ones,
        // each in the order it was wanted: a proving poll takes the salon's next
        // turn (its cadence goes on from there), so it must not wait behind every
        // overdue scheduled poll when the configured polls fill the budget.
        self.salons
            .iter()
            .map(|(id, salon)| {
                let gap = gaps.get(id).copied();
                let (at, reason, wanted) = self.turn(salon, gap, budget_from);
                let next = Next {
                    company: *id,
                    at,
                    reason,
                };
                (next, wanted)
            })
            .min_by_key(|(n, wanted)| (n.at.max(now), n.reason == Reason::Active, *wanted))
            .map(|(next, _)| next)
    }

    /// How often `company` is polled now: its interval, or less while it is busy.
    pub fn interval_of(&self, company: CompanyId, now: Instant) -> Duration {
        self.gaps(now)
            .get(&company)
            .copied()
            .unwrap_or(self.rules.interval)
    }

    /// The polls' requests within the last minute.
    pub fn requests_in_last_minute(&self, now: Instant) -> u32 {
        self.recent
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) < MINUTE)
            .map(|(_, n)| n)
            .sum()
    }

    /// Forgets what is older than any window counts.
    pub fn prune(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= MINUTE)
        {
            self.recent.pop_front();
        }
        let active_for = self.rules.interval * ACTIVE_FOR;
        for s in self.salons.values_mut() {
            while s
                .news
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) >= active_for)
            {
                s.news.pop_front();
            }
        }
    }

    /// One salon's next poll, why, and when it would come but for the budget and
    /// a hold.
    fn turn(
        &self,
        s: &Salon,
        gap: Option<Duration>,
        budget_from: Instant,
    ) -> (Instant, Reason, Instant) {
        let min_gap = self.rules.min_gap();
        let after_last = |at: Instant| s.last.map_or(at, |last| at.max(last + min_gap));
        let mut turn = (s.due, Reason::Scheduled);
        let proving = s.proving.filter(|_| self.rules.proving).map(after_last);
        if let Some(at) = proving.filter(|at| *at < turn.0) {
            turn = (at, Reason::Proving);
        }
        let mut wanted = turn.0;
        if let (Some(gap), Some(last)) = (gap, s.last) {
            let at = (last + gap).max(budget_from);
            if at < turn.0 {
                turn = (at, Reason::Active);
                wanted = last + gap;
            }
        }
        // A poll due a little before a proving one waits for it: one request
        // finds what is new and proves the notice.
        if let Some(at) = proving.filter(|at| *at > turn.0 && *at < turn.0 + min_gap) {
            turn = (at, Reason::Proving);
            wanted = at;
        }
        let at = s.not_before.map_or(turn.0, |nb| turn.0.max(nb));
        (at, turn.1, wanted.min(at))
    }

    /// Each busy salon's gap between polls (those at their interval left out).
    fn gaps(&self, now: Instant) -> BTreeMap<CompanyId, Duration> {
        let active_for = self.rules.interval * ACTIVE_FOR;
        let busy: Vec<(CompanyId, f64)> = self
            .salons
            .iter()
            .filter_map(|(id, s)| {
                let news: u32 = s
                    .news
                    .iter()
                    .filter(|(at, _)| now.saturating_duration_since(*at) < active_for)
                    .map(|(_, n)| n)
                    .sum();
                (news > 0).then_some((*id, f64::from(news)))
            })
            .collect();
        let activity: Vec<f64> = busy.iter().map(|(_, a)| *a).collect();
        let per_second = rates::rates(
            &activity,
            1.0 / self.rules.interval.as_secs_f64(),
            1.0 / self.rules.min_gap().as_secs_f64(),
            self.rules.spare_per_minute / 60.0,
        );
        busy.iter()
            .zip(per_second)
            .map(|((id, _), rate)| (*id, Duration::from_secs_f64(1.0 / rate)))
            // Within a millisecond of the interval: polled as scheduled.
            .filter(|(_, gap)| *gap + Duration::from_millis(1) < self.rules.interval)
            .collect()
    }

    /// From when one more active poll fits the budget: the configured polls and
    /// the spare share together, over the last minute.
    fn active_budget_from(&self, now: Instant) -> Instant {
        let allowed = self.rules.configured_per_minute + self.rules.spare_per_minute;
        let in_window: Vec<&(Instant, u32)> = self
            .recent
            .iter()
            .filter(|(at, _)| now.saturating_duration_since(*at) < MINUTE)
            .collect();
        let mut used: f64 = in_window.iter().map(|(_, n)| f64::from(*n)).sum();
        // The moment enough of the window's requests have left it.
        for (at, n) in &in_window {
            if used + 1.0 <= allowed {
                break;
            }
            used -= f64::from(*n);
            if used + 1.0 <= allowed {
                return *at + MINUTE;
            }
        }
        if used + 1.0 <= allowed {
            now
        } else {
            // Not even an empty window would do (no spare at all).
            now + MINUTE * 60
        }
    }
}
