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
mod tests;
