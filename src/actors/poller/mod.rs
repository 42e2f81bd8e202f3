//! PollerActor: one timer, and never two polls at once. Which company is polled
//! when, and why, is `crate::cadence`'s to say; the actor carries it out (a poll
//! with `changed_after`, all pages: `poll.rs`), tells the cadence what each poll
//! found, and backs off a company whose polls fail.

mod poll;

use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::cadence::{Cadence, Found, Next, Rules};
use crate::domain::CompanyId;
use crate::messages::{ConfigChanged, RecordsSeen};
use crate::panic_guard::Guarded;
use crate::shared::{backoff, Shared};
use crate::store;
use crate::yclients::{YClients, YClientsError};
use poll::{poll_company, PollResult};

const NAME: &str = "poller";

/// A company's failed polls in a row.
#[derive(Default)]
struct Failing {
    count: u32,
    /// The last failure's kind and message, so that a failure is logged once per
    /// change rather than once per poll.
    last: Option<String>,
}

pub struct PollerActor {
    shared: Shared,
    filter: Recipient<RecordsSeen>,
    /// The YClients client, and the config generation it was built from.
    yclients: Option<(u64, Rc<YClients>)>,
    cadence: Cadence,
    failing: HashMap<CompanyId, Failing>,
    /// The timer of the next poll, cancelled when the companies change.
    next: Option<SpawnHandle>,
}

impl PollerActor {
    pub fn new(shared: Shared, filter: Recipient<RecordsSeen>) -> PollerActor {
        let rules = Rules::new(&shared.config, shared.config.companies.len());
        PollerActor {
            shared,
            filter,
            yclients: None,
            cadence: Cadence::new(rules),
            failing: HashMap::new(),
            next: None,
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.shared.live.config().monitor.poll_interval_ms)
    }

    /// The running config's rules, for the companies this instance polls.
    fn rules(&self) -> Rules {
        let config = self.shared.live.config();
        let polled = self
            .shared
            .cluster
            .held_companies()
            .map_or(config.companies.len(), |held| held.len());
        Rules::new(&config, polled)
    }

    /// The YClients client of the running config (built again after a reload;
    /// a poll in flight keeps the one it began with).
    fn yclients(&mut self, shared: &Shared) -> Rc<YClients> {
        let generation = shared.live.current().generation;
        match &self.yclients {
            Some((built, client)) if *built == generation => client.clone(),
            _ => {
                let client = Rc::new(YClients::new(
                    &shared.config.yclients,
                    &shared.tls,
                    shared.limiter.clone(),
                ));
                self.yclients = Some((generation, client.clone()));
                client
            }
        }
    }

    /// The cadence's next poll, as the running config and this instance's share
    /// stand now.
    fn next_poll(&mut self, now: Instant) -> Option<Next> {
        self.cadence.set_rules(self.rules());
        self.cadence.prune(now);
        self.cadence.next(now)
    }

    /// Waits for the next poll the cadence names, then polls it.
    fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.next.take() {
            ctx.cancel_future(timer);
        }
        if self.shared.supervision.stopping() {
            return;
        }
        let now = Instant::now();
        let Some(next) = self.next_poll(now) else {
            return;
        };
        self.next = Some(
            ctx.run_later(next.at.saturating_duration_since(now), |act, ctx| {
                act.next = None;
                // Asked again: activity may have lapsed since the timer was set.
                match act.next_poll(Instant::now()) {
                    Some(next) if next.at <= Instant::now() => act.poll(next, ctx),
                    _ => act.schedule_next(ctx),
                }
            }),
        );
    }

    fn poll(&mut self, next: Next, ctx: &mut Context<Self>) {
        let company = next.company;
        if self.shared.supervision.stopping() {
            return;
        }
        if !self.shared.cluster.begin_poll(company) {
            // Another instance holds it, or this one's share lapsed: look again soon.
            self.cadence
                .hold_back(company, Instant::now() + NOT_HELD_RECHECK);
            self.schedule_next(ctx);
            return;
        }
        let least_gap = least_gap(&self.shared, self.cadence.polled_here(company));
        let started = Instant::now();
        let poll_every = self.cadence.interval_of(company, started);
        self.cadence.began(company, started);
        // The config as it stands now, kept to the poll's end.
        let shared = self.shared.current();
        let work = Guarded::new(poll_company(
            shared.clone(),
            self.yclients(&shared),
            self.filter.clone(),
            company,
            poll_every,
            least_gap,
        ));
        // `wait`: polls never overlap, and the next is scheduled when this one ends.
        ctx.wait(work.into_actor(self).map(move |result, act, ctx| {
            act.shared.cluster.end_poll(company);
            let result =
                result.unwrap_or_else(|panic| PollResult::Fatal(format!("panicked: {panic}")));
            if act.cadence.contains(company) {
                if let Err(error) = act.settle(next, started, result) {
                    let log = act.shared.logger.new(slog::o!("company_id" => company.0));
                    slog::error!(log, "poller: failed; restarting"; "error" => error);
                    ctx.stop();
                    return;
                }
            }
            // Else it was removed from the config while it was polled.
            act.schedule_next(ctx);
        }));
    }

    /// Tells the cadence how the poll that began at `started` ended (and counts
    /// and logs it); `Err` when the poller must restart.
    fn settle(&mut self, next: Next, started: Instant, result: PollResult) -> Result<(), String> {
        let (company, reason) = (next.company, next.reason.as_str());
        let interval = self.interval();
        let long_max = Duration::from_millis(self.shared.config.monitor.retry_max_ms).max(interval);
        let max = poll_backoff_cap(interval, long_max);
        let log = self.shared.logger.new(slog::o!("company_id" => company.0));
        let failing = self.failing.entry(company).or_default();
        let retry_in = match result {
            PollResult::Committed(done) => {
                self.shared
                    .metrics
                    .poll(company, "ok", reason, done.records);
                if failing.last.take().is_some() {
                    slog::info!(log, "poller: YClients answers again");
                }
                failing.count = 0;
                let o = done.outcome;
                slog::debug!(log, "poller: poll committed"; "reason" => reason, "requests" => done.requests,
                    "scheduled" => o.scheduled, "skipped" => o.skipped, "ignored" => o.ignored);
                let found = Found {
                    more_requests: done.requests.saturating_sub(1),
                    // The baseline of the salon's bookings is not activity.
                    news: if done.baselined { 0 } else { o.news as u32 },
                    next_due: o.next_due.map(|due| instant_of(due) + PROVING_MARGIN),
                };
                self.cadence.polled(company, started, found);
                return Ok(());
            }
            PollResult::YClients(error) => {
                self.shared.metrics.poll(company, error.kind(), reason, 0);
                failing.count += 1;
                let wait = match &error {
                    YClientsError::RateLimited {
                        retry_after: Some(after),
                    } => (*after).max(interval),
                    // Missing rights or tokens are fixed by a person, not by the
                    // next minute: these keep the long cap.
                    YClientsError::Unauthorized { .. } => {
                        backoff(interval, long_max, failing.count)
                    }
                    _ => backoff(interval, max, failing.count),
                };
                let described = format!("{}: {error}", error.kind());
                if failing.last.as_deref() != Some(described.as_str()) {
                    slog::warn!(log, "poller: YClients poll failed; retrying with backoff";
                        "error" => %error, "what_to_do" => error.advice(), "retry_in_ms" => wait.as_millis() as u64);
                    failing.last = Some(described);
                }
                wait
            }
            PollResult::Filter(why) => {
                self.shared
                    .metrics
                    .poll(company, "filter_failed", reason, 0);
                failing.count += 1;
                slog::error!(log, "poller: the filter could not commit; polling again later"; "error" => why);
                backoff(interval, max, failing.count)
            }
            PollResult::NotYet(wait) => wait,
            PollResult::Fatal(error) => return Err(error),
        };
        self.cadence.hold_back(company, Instant::now() + retry_in);
        Ok(())
    }
}

/// The most a company waits between failed polls: near the interval (at most a
/// minute more, and at most the interval again), so that polling resumes soon
/// after an outage ends; `retry_max_ms` is for sends and missing rights.
const POLL_SLACK: Duration = Duration::from_secs(60);

/// How often a company this instance does not hold is looked at again (no request:
/// an in-memory check of the share).
const NOT_HELD_RECHECK: Duration = Duration::from_millis(100);

/// A proving poll comes this long after the due time, so that it is asked after it
/// whatever the rounding between the two clocks.
const PROVING_MARGIN: Duration = Duration::from_millis(10);

/// How soon after the company's last poll (whichever instance made it) this one
/// may come: a salon this instance has polled before follows its cadence (proving
/// and active polls come sooner than the interval on purpose), one just taken over
/// from another instance waits out that instance's interval.
fn least_gap(shared: &Shared, polled_here: bool) -> Duration {
    let monitor = &shared.live.config().monitor;
    let interval = Duration::from_millis(monitor.poll_interval_ms);
    if polled_here {
        Duration::from_millis(monitor.min_poll_interval_ms).min(interval)
    } else {
        interval
    }
}

fn poll_backoff_cap(interval: Duration, long_max: Duration) -> Duration {
    long_max.min(interval + POLL_SLACK.min(interval))
}

/// A time of our clock on the timers' clock.
fn instant_of(at: DateTime<Utc>) -> Instant {
    Instant::now() + (at - Utc::now()).to_std().unwrap_or_default()
}

impl Actor for PollerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Which companies were polled before: they are spread over the interval
        // rather than bunched; one never polled is polled at once (its monitoring
        // began, and its webhooks wait for its first poll), as the limiter allows.
        let db = self.shared.db.clone();
        let polled = Guarded::new(async move { db.run(store::poll_states).await });
        ctx.wait(polled.into_actor(self).map(|states, act, ctx| {
            let config = act.shared.live.config();
            let polled: std::collections::HashSet<i64> = match states {
                Ok(Ok(states)) => states
                    .iter()
                    .filter(|s| s.ever_succeeded())
                    .map(|s| s.company_id)
                    .collect(),
                // Not known: every company is spread, as if polled before.
                _ => config.companies.iter().map(|c| c.id).collect(),
            };
            let count = config.companies.len().max(1) as u32;
            let step = act.interval() / count;
            let now = Instant::now();
            for (i, c) in config.companies.iter().enumerate() {
                let first = if polled.contains(&c.id) {
                    now + step * i as u32
                } else {
                    now
                };
                act.cadence.add(c.company_id(), first);
            }
            act.schedule_next(ctx);
        }));
    }
}

impl Handler<ConfigChanged> for PollerActor {
    type Result = ();

    /// A reload changed the config: a company added is polled at once (its
    /// monitoring begins), one removed is polled no more; the rest keep their
    /// turn, and the next waits follow the new `[monitor]` settings.
    fn handle(&mut self, _msg: ConfigChanged, ctx: &mut Context<Self>) {
        let config = self.shared.live.config();
        let now = Instant::now();
        self.cadence.retain(|id| config.company(id).is_some());
        self.failing.retain(|id, _| config.company(*id).is_some());
        for company in &config.companies {
            self.cadence.add(company.company_id(), now);
        }
        self.schedule_next(ctx);
    }
}

impl Supervised for PollerActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.yclients = None;
        self.cadence.clear();
        self.failing.clear();
        self.shared.supervision.restarted(NAME);
    }
}
