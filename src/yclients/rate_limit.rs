//! One limiter shared by every request to YClients, whatever actor or company makes
//! it: YClients counts 5 requests a second and 200 a minute per IP address.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Windows a little longer than YClients' own, so that requests which leave us
/// evenly spaced cannot arrive bunched into one of its seconds by network jitter;
/// the per-minute limit binds first in steady state, so the margin costs nothing.
const SECOND: Duration = Duration::from_millis(1200);
const MINUTE: Duration = Duration::from_millis(61_000);

/// How long slots stay kept for a write told to come back (its row is postponed
/// to the moment they free; the delay actor brings it back within milliseconds).
const WRITE_RETURNS_WITHIN: Duration = Duration::from_secs(2);

pub struct RateLimiter {
    per_second: usize,
    per_minute: usize,
    /// What this instance's polls take of the minute's budget (see `keep_for_polls`).
    polls_per_minute: AtomicUsize,
    state: Mutex<Window>,
}

/// Slots go to whoever waited first, a request sleeping in `acquire` or a write
/// told to come back: each needs room for itself and for those ahead of it.
#[derive(Default)]
struct Window {
    sent: VecDeque<Instant>,
    /// The writes among `sent` (see `try_take_for_write`).
    writes: VecDeque<Instant>,
    paused_until: Option<Instant>,
    /// A write told to come back for a slot: the slots it needs are kept for it
    /// until then (and a little after), so that requests queued at the limiter,
    /// which wake the moment a slot frees, cannot take every slot before it returns.
    write_waiting: Option<WriteWaiting>,
    /// When each request now sleeping in `acquire` began to wait, by its ticket. A
    /// write leaves them their slots as they leave a waiting write its: without
    /// that, a burst of writes took every slot as it freed and the polls waited
    /// until the writes' share of the minute was spent (`cargo bench --bench
    /// replies`: of 4 salons due every 2 s, one went 4.8 to 9.7 s without a poll).
    waiting: Vec<(u64, Instant)>,
    tickets: u64,
    waits: u64,
    requests: u64,
}

#[derive(Clone, Copy)]
struct WriteWaiting {
    slots: usize,
    until: Instant,
    /// When the first write still waiting was told to come back: its place.
    since: Instant,
}

/// A request's place in `acquire`'s queue, given up when it gets its slot or
/// is dropped (a poll cancelled while it waited).
struct Place<'a> {
    limiter: &'a RateLimiter,
    ticket: u64,
    since: Instant,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut w = self.limiter.state.lock().expect("rate limiter lock");
        w.waiting.retain(|(t, _)| *t != self.ticket);
    }
}

impl RateLimiter {
    pub fn new(per_second: u32, per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_second: per_second.max(1) as usize,
            per_minute: per_minute.max(1) as usize,
            polls_per_minute: AtomicUsize::new(0),
            state: Mutex::new(Window::default()),
        }
    }

    /// Waits until one more request fits in both windows, after those that began
    /// to wait before it, and counts it.
    pub async fn acquire(&self) {
        let mut place: Option<Place> = None;
        loop {
            let now = Instant::now();
            let wait = {
                let mut w = self.state.lock().expect("rate limiter lock");
                let since = place.as_ref().map_or(now, |p| p.since);
                match self.next_slot(&mut w, now, since) {
                    None => {
                        w.sent.push_back(now);
                        w.requests += 1;
                        if let Some(p) = &place {
                            w.waits += 1;
                            w.waiting.retain(|(t, _)| *t != p.ticket);
                        }
                        return;
                    }
                    Some(at) => {
                        if place.is_none() {
                            w.tickets += 1;
                            let ticket = w.tickets;
                            w.waiting.push((ticket, now));
                            place = Some(Place {
                                limiter: self,
                                ticket,
                                since: now,
                            });
                        }
                        at - now
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request back, after YClients answered 429.
    pub fn pause_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let mut w = self.state.lock().expect("rate limiter lock");
        w.paused_until = Some(w.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Takes a slot at once if one is free and less than half of the minute's budget
    /// is in use (the polls keep the rest), else takes none. For a request that only
    /// makes a message timelier: it never waits, nor makes anything else wait, and
    /// the check and the taking are one step, so concurrent callers cannot overdraw.
    pub fn try_take_spare(&self) -> bool {
        let now = Instant::now();
        let mut w = self.state.lock().expect("rate limiter lock");
        // `next_slot` also drops what is older than the minute's window; a spare
        // slot comes after everyone waiting.
        if self.next_slot(&mut w, now, now).is_some() || w.sent.len() * 2 >= self.per_minute {
            return false;
        }
        w.sent.push_back(now);
        w.requests += 1;
        true
    }

    /// Tells the limiter how many requests a minute this instance's polls need, so
    /// that writes leave them that room.
    pub fn keep_for_polls(&self, per_minute: usize) {
        self.polls_per_minute.store(per_minute, Ordering::Relaxed);
    }

    /// Takes `n` slots for a write to YClients (a visit marked confirmed; 2 when a
    /// re-read goes before it) if they are free now and the write leaves the polls
    /// their room: the minute's requests stay under the budget less what the polls
    /// need, or the writes of the last minute are under a quarter of the budget (so
    /// writes go on, more slowly, where the polls fill it). Else how long to wait
    /// before asking again. It never waits itself: a write that waited for the
    /// budget would hold one of the notifier's send slots, and the staff's alerts
    /// and the clients' answers would queue behind.
    pub fn try_take_for_write(&self, n: usize) -> Result<(), Duration> {
        let now = Instant::now();
        let mut w = self.state.lock().expect("rate limiter lock");
        while w.sent.front().is_some_and(|t| now - *t >= MINUTE) {
            w.sent.pop_front();
        }
        while w.writes.front().is_some_and(|t| now - *t >= MINUTE) {
            w.writes.pop_front();
        }
        let polls = self.polls_per_minute.load(Ordering::Relaxed);
        let room_beside_polls = w.sent.len() + n + polls <= self.per_minute;
        let writes_floor = w.writes.len() < (self.per_minute / 4).max(1);
        if !room_beside_polls && !writes_floor {
            // A slot of the window frees when its oldest request leaves it.
            let oldest = w.sent.front().copied().unwrap_or(now);
            return Err((oldest + MINUTE).saturating_duration_since(now));
        }
        // Its place: that of the write already waiting, if one is.
        let since = match w.write_waiting {
            Some(ww) if ww.until > now => ww.since,
            _ => now,
        };
        let ahead = w.waiting.iter().filter(|(_, t)| *t < since).count();
        if let Some(at) = self.room_for(&mut w, now, n + ahead) {
            // Kept until the write comes back (it is timed for `at`).
            w.write_waiting = Some(WriteWaiting {
                slots: n,
                until: at + WRITE_RETURNS_WITHIN,
                since,
            });
            return Err(at - now);
        }
        w.write_waiting = None;
        for _ in 0..n {
            w.sent.push_back(now);
            w.writes.push_back(now);
        }
        w.requests += n as u64;
        Ok(())
    }

    /// How many requests had to wait for a slot (for metrics).
    pub fn waits(&self) -> u64 {
        self.state.lock().expect("rate limiter lock").waits
    }

    /// How many requests went out (for metrics).
    pub fn requests(&self) -> u64 {
        self.state.lock().expect("rate limiter lock").requests
    }

    /// The share of the per-minute budget that the requests of the last minute (the
    /// limiter's own window) used, 0 to 1 (for metrics).
    pub fn budget_in_use(&self) -> f64 {
        let now = Instant::now();
        let w = self.state.lock().expect("rate limiter lock");
        let in_window = w
            .sent
            .iter()
            .rev()
            .take_while(|t| now - **t < MINUTE)
            .count();
        in_window as f64 / self.per_minute as f64
    }

    /// When one more request, waiting since `since`, fits after those ahead of
    /// it: the requests that began to wait before, and a write waiting since then.
    fn next_slot(&self, w: &mut Window, now: Instant, since: Instant) -> Option<Instant> {
        let kept = match w.write_waiting {
            Some(ww) if ww.until > now && ww.since <= since => ww.slots,
            Some(ww) if ww.until > now => 0,
            _ => {
                w.write_waiting = None;
                0
            }
        };
        let ahead = w.waiting.iter().filter(|(_, t)| *t < since).count();
        self.room_for(w, now, 1 + kept + ahead)
    }

    /// When `n` more requests fit in both windows (`None`: now). `n` is capped at
    /// the per-second limit, which a group of requests could never fit otherwise.
    fn room_for(&self, w: &mut Window, now: Instant, n: usize) -> Option<Instant> {
        let n = n.clamp(1, self.per_second.min(self.per_minute));
        while w.sent.front().is_some_and(|t| now - *t >= MINUTE) {
            w.sent.pop_front();
        }
        if let Some(until) = w.paused_until {
            if until > now {
                return Some(until);
            }
            w.paused_until = None;
        }
        if w.sent.len() + n > self.per_minute {
            return Some(w.sent[w.sent.len() + n - 1 - self.per_minute] + MINUTE);
        }
        let in_last_second = w
            .sent
            .iter()
            .rev()
            .take_while(|t| now - **t < SECOND)
            .count();
        if in_last_second + n > self.per_second {
            return Some(w.sent[w.sent.len() + n - 1 - self.per_second] + SECOND);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_lets_more_than_the_limit_into_one_second() {
        let limiter = RateLimiter::new(5, 200);
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..23 {
            limiter.acquire().await;
            times.push(Instant::now() - start);
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u - *t < SECOND).count();
            assert!(
                in_window <= 5,
                "{in_window} requests within a second of {t:?}"
            );
        }
        assert!(limiter.waits() > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_to_the_minute_limit() {
        let limiter = RateLimiter::new(1000, 10);
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire().await;
        }
        assert!(Instant::now() - start >= MINUTE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spare_slot_is_taken_only_below_half_the_minutes_budget() {
        let limiter = RateLimiter::new(1000, 10);
        let taken = (0..10).filter(|_| limiter.try_take_spare()).count();
        assert_eq!(taken, 5, "half of 10, however many ask at once");
        assert_eq!(limiter.requests(), 5);
        tokio::time::advance(MINUTE).await;
        assert!(limiter.try_take_spare(), "the minute has passed");
        limiter.pause_for(Duration::from_secs(5));
        assert!(!limiter.try_take_spare(), "paused by a 429");
    }

    #[tokio::test(start_paused = true)]
    async fn writes_leave_the_polls_their_room_and_keep_a_quarter() {
        let limiter = RateLimiter::new(1000, 20);
        limiter.keep_for_polls(12);
        let taken = (0..20)
            .filter(|_| limiter.try_take_for_write(1).is_ok())
            .count();
        assert_eq!(taken, 8, "20 less the polls' 12");
        for _ in 0..12 {
            limiter.acquire().await;
        }
        assert_eq!(limiter.requests(), 20);

        tokio::time::advance(MINUTE).await;
        limiter.keep_for_polls(40);
        let taken = (0..20)
            .filter(|_| limiter.try_take_for_write(1).is_ok())
            .count();
        assert_eq!(
            taken, 5,
            "polls that fill the budget still leave writes a quarter"
        );
        let wait = limiter.try_take_for_write(1).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= MINUTE, "{wait:?}");
        tokio::time::advance(wait).await;
        assert!(
            limiter.try_take_for_write(1).is_ok(),
            "asked again when told"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_waits_for_the_seconds_limit_without_sleeping() {
        let limiter = RateLimiter::new(2, 200);
        assert!(limiter.try_take_for_write(1).is_ok());
        assert!(limiter.try_take_for_write(1).is_ok());
        let wait = limiter.try_take_for_write(1).unwrap_err();
        assert!(wait <= SECOND, "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reread_and_its_write_take_their_two_slots_together_or_none() {
        let limiter = RateLimiter::new(5, 200);
        for _ in 0..4 {
            limiter.acquire().await;
        }
        let wait = limiter.try_take_for_write(2).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= SECOND, "{wait:?}");
        assert_eq!(limiter.requests(), 4, "none taken");
        tokio::time::advance(wait).await;
        assert!(
            limiter.try_take_for_write(2).is_ok(),
            "both once two are free"
        );
        assert_eq!(limiter.requests(), 6);
    }

    #[tokio::test(start_paused = true)]
    async fn polls_queued_at_the_limiter_leave_a_waiting_write_its_slot() {
        let limiter = std::sync::Arc::new(RateLimiter::new(5, 200));
        // A poller that wants more than the limit: it wakes the moment a slot frees.
        let poller = limiter.clone();
        let polling = tokio::spawn(async move {
            loop {
                poller.acquire().await;
            }
        });
        tokio::time::advance(Duration::from_millis(10)).await;
        let mut tries = 0;
        loop {
            tries += 1;
            match limiter.try_take_for_write(1) {
                Ok(()) => break,
                // The row comes back a little after the time it was given.
                Err(wait) => tokio::time::sleep(wait + Duration::from_millis(20)).await,
            }
            assert!(tries < 5, "the write never got a slot");
        }
        polling.abort();
    }

    /// The throughput bench's burst: four salons polled every 2 s (a poll asks when
    /// due, waits its turn, and the next is due an interval after it began), then a
    /// thousand write-backs at once, each row told when to come back and returning
    /// a few milliseconds after. No salon may go long without its poll.
    #[tokio::test(start_paused = true)]
    async fn polls_keep_their_turn_while_writes_queue() {
        let limiter = std::sync::Arc::new(RateLimiter::new(5, 200));
        let interval = Duration::from_secs(2);
        limiter.keep_for_polls(4 * 30);
        let poller = limiter.clone();
        let polls = std::sync::Arc::new(Mutex::new(Vec::new()));
        let polled = polls.clone();
        let polling = tokio::spawn(async move {
            let step = interval / 4;
            let mut due: Vec<Instant> = (0..4).map(|i| Instant::now() + step * i).collect();
            loop {
                let (salon, at) = due
                    .iter()
                    .copied()
                    .enumerate()
                    .min_by_key(|(_, t)| *t)
                    .unwrap();
                tokio::time::sleep_until(at).await;
                let began = Instant::now();
                poller.acquire().await;
                polled.lock().unwrap().push((salon, Instant::now()));
                due[salon] = began + interval;
            }
        });
        // A minute of polls alone: the minute's window holds what they take.
        tokio::time::sleep(MINUTE).await;
        let burst = Instant::now();
        let written = std::sync::Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..1000)
            .map(|_| {
                let (limiter, written) = (limiter.clone(), written.clone());
                tokio::spawn(async move {
                    while let Err(wait) = limiter.try_take_for_write(1) {
                        tokio::time::sleep(wait + Duration::from_millis(5)).await;
                    }
                    written.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(30)).await;
        polling.abort();
        for w in writers {
            w.abort();
        }
        let polls = polls.lock().unwrap();
        let mut longest = Duration::ZERO;
        for salon in 0..4 {
            let times: Vec<Instant> = polls
                .iter()
                .filter(|(s, t)| *s == salon && *t >= burst - interval)
                .map(|(_, t)| *t)
                .collect();
            for pair in times.windows(2) {
                longest = longest.max(pair[1] - pair[0]);
            }
        }
        assert!(
            longest <= interval * 3 / 2,
            "a salon went {longest:?} without a poll while the writes queued"
        );
        // Writes go on beside the polls: a quarter of the minute's budget at least.
        let written = written.load(Ordering::Relaxed);
        assert!(written >= 40, "{written} writes in 30 s");
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_in_use_counts_the_last_minute_only() {
        let limiter = RateLimiter::new(1000, 20);
        assert_eq!(limiter.budget_in_use(), 0.0);
        for _ in 0..5 {
            limiter.acquire().await;
        }
        tokio::time::advance(MINUTE / 2).await;
        for _ in 0..10 {
            limiter.acquire().await;
        }
        assert_eq!(limiter.budget_in_use(), 0.75);
        tokio::time::advance(MINUTE / 2).await;
        assert_eq!(
            limiter.budget_in_use(),
            0.5,
            "the first five left the window"
        );
        tokio::time::advance(MINUTE).await;
        assert_eq!(limiter.budget_in_use(), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_requests_back() {
        let limiter = RateLimiter::new(5, 200);
        limiter.pause_for(Duration::from_secs(7));
        let start = Instant::now();
        limiter.acquire().await;
        assert!(Instant::now() - start >= Duration::from_secs(7));
    }
}
