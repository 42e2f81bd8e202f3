//! PollerActor: one timer; each company polled with `changed_after` (all pages),
//! spread over the interval, never two polls at once, backing off on failure.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::domain::CompanyId;
use crate::messages::{ConfigChanged, FilterOutcome, RecordsSeen};
use crate::panic_guard::Guarded;
use crate::shared::{backoff, Shared};
use crate::store::{self, StoreError};
use crate::yclients::{ChangedRecords, YClients, YClientsError};

const NAME: &str = "poller";

struct CompanyPolls {
    id: CompanyId,
    next_at: Instant,
    failures: u32,
    /// The last failure's kind and message, so that a failure is logged once per
    /// change rather than once per poll.
    failing: Option<String>,
}

pub struct PollerActor {
    shared: Shared,
    filter: Recipient<RecordsSeen>,
    /// The YClients client, and the config generation it was built from.
    yclients: Option<(u64, Rc<YClients>)>,
    companies: Vec<CompanyPolls>,
    /// The timer of the next poll, cancelled when the companies change.
    next: Option<SpawnHandle>,
}

/// How one poll ended.
enum PollResult {
    Committed(FilterOutcome, u32, usize),
    YClients(YClientsError),
    Filter(String),
    /// The poller itself cannot go on (its database, a panic): it restarts.
    Fatal(String),
    /// Another instance polled the company within this interval (it held the
    /// lease then): the next poll is one interval after that one.
    NotYet(Duration),
}

impl From<StoreError> for PollResult {
    fn from(e: StoreError) -> PollResult {
        PollResult::Fatal(e.to_string())
    }
}

impl PollerActor {
    pub fn new(shared: Shared, filter: Recipient<RecordsSeen>) -> PollerActor {
        PollerActor {
            shared,
            filter,
            yclients: None,
            companies: Vec::new(),
            next: None,
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_millis(self.shared.live.config().monitor.poll_interval_ms)
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

    /// Waits for the company whose poll is due first, then polls it.
    fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.next.take() {
            ctx.cancel_future(timer);
        }
        if self.shared.supervision.stopping() {
            return;
        }
        let Some((company, next_at)) = self
            .companies
            .iter()
            .min_by_key(|c| c.next_at)
            .map(|c| (c.id, c.next_at))
        else {
            return;
        };
        let wait = next_at.saturating_duration_since(Instant::now());
        self.next = Some(ctx.run_later(wait, move |act, ctx| {
            act.next = None;
            act.poll(company, ctx)
        }));
    }

    fn state(&mut self, company: CompanyId) -> Option<&mut CompanyPolls> {
        self.companies.iter_mut().find(|c| c.id == company)
    }

    fn poll(&mut self, company: CompanyId, ctx: &mut Context<Self>) {
        if self.shared.supervision.stopping() {
            return;
        }
        if !self.shared.cluster.begin_poll(company) {
            // Another instance holds it, or this one's share lapsed: look again soon.
            if let Some(state) = self.state(company) {
                state.next_at = Instant::now() + NOT_HELD_RECHECK;
            }
            self.schedule_next(ctx);
            return;
        }
        let started = Instant::now();
        // The config as it stands now, kept to the poll's end.
        let shared = self.shared.current();
        let work = Guarded::new(poll_company(
            shared.clone(),
            self.yclients(&shared),
            self.filter.clone(),
            company,
        ));
        // `wait`: polls never overlap, and the next is scheduled when this one ends.
        ctx.wait(work.into_actor(self).map(move |result, act, ctx| {
            act.shared.cluster.end_poll(company);
            let result = result.unwrap_or_else(|panic| PollResult::Fatal(format!("panicked: {panic}")));
            let interval = act.interval();
            let long_max = Duration::from_millis(act.shared.config.monitor.retry_max_ms).max(interval);
            let max = poll_backoff_cap(interval, long_max);
            let log = act.shared.logger.new(slog::o!("company_id" => company.0));
            let Some(state) = act.companies.iter_mut().find(|c| c.id == company) else {
                // Removed from the config while it was polled.
                act.schedule_next(ctx);
                return;
            };
            match result {
                PollResult::Committed(outcome, requests, records) => {
                    act.shared.metrics.poll(company, "ok", records);
                    if state.failing.take().is_some() {
                        slog::info!(log, "poller: YClients answers again");
                    }
                    slog::debug!(log, "poller: poll committed"; "requests" => requests,
                        "scheduled" => outcome.scheduled, "skipped" => outcome.skipped, "ignored" => outcome.ignored);
                    state.failures = 0;
                    state.next_at = started + interval;
                }
                PollResult::YClients(error) => {
                    act.shared.metrics.poll(company, error.kind(), 0);
                    state.failures += 1;
                    let wait = match &error {
                        YClientsError::RateLimited { retry_after: Some(after) } => (*after).max(interval),
                        // Missing rights or tokens are fixed by a person, not by the
                        // next minute: these keep the long cap.
                        YClientsError::Unauthorized { .. } => backoff(interval, long_max, state.failures),
                        _ => backoff(interval, max, state.failures),
                    };
                    let described = format!("{}: {error}", error.kind());
                    if state.failing.as_deref() != Some(described.as_str()) {
                        slog::warn!(log, "poller: YClients poll failed; retrying with backoff";
                            "error" => %error, "what_to_do" => error.advice(), "retry_in_ms" => wait.as_millis() as u64);
                        state.failing = Some(described);
                    }
                    state.next_at = Instant::now() + wait;
                }
                PollResult::Filter(reason) => {
                    act.shared.metrics.poll(company, "filter_failed", 0);
                    state.failures += 1;
                    slog::error!(log, "poller: the filter could not commit; polling again later"; "error" => reason);
                    state.next_at = Instant::now() + backoff(interval, max, state.failures);
                }
                PollResult::NotYet(wait) => state.next_at = Instant::now() + wait,
                PollResult::Fatal(error) => {
                    slog::error!(log, "poller: failed; restarting"; "error" => error);
                    ctx.stop();
                    return;
                }
            }
            act.schedule_next(ctx);
        }));
    }
}

/// The most a company waits between failed polls: near the interval (at most a
/// minute more, and at most the interval again), so that polling resumes soon
/// after an outage ends; `retry_max_ms` is for sends and missing rights.
const POLL_SLACK: Duration = Duration::from_secs(60);

/// How often a company this instance does not hold is looked at again (no request:
/// an in-memory check of the share).
const NOT_HELD_RECHECK: Duration = Duration::from_millis(100);

fn poll_backoff_cap(interval: Duration, long_max: Duration) -> Duration {
    long_max.min(interval + POLL_SLACK.min(interval))
}

/// On a shared database, a company that has just passed from another instance may
/// have been polled moments ago: it is polled one interval after that poll, not
/// again at once. A tenth of the interval absorbs timer and clock jitter.
fn polled_recently(
    shared: &Shared,
    last_poll_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Duration> {
    if !shared.cluster.is_shared() {
        return None;
    }
    let interval = Duration::from_millis(shared.config.monitor.poll_interval_ms);
    let next = last_poll_at? + chrono::Duration::from_std(interval).ok()?;
    let early = (next - now).to_std().ok()?;
    (early > interval / 10).then_some(early)
}

async fn poll_company(
    shared: Shared,
    yclients: Rc<YClients>,
    filter: Recipient<RecordsSeen>,
    company: CompanyId,
) -> PollResult {
    if let Err(e) = shared.faults.strike(NAME) {
        return e.into();
    }
    let polled_at = Utc::now();
    let salon = match shared.salons.get(company, &yclients).await {
        Ok(salon) => salon,
        Err(e) => return record_failure(&shared, company, e).await,
    };
    let (cursor, registered) = match shared
        .db
        .run(move |c| {
            Ok((
                store::cursor(c, company)?,
                store::monitored_since(c, company)?,
            ))
        })
        .await
    {
        Ok(found) => found,
        Err(e) => return e.into(),
    };
    if let Some(wait) = cursor.and_then(|c| polled_recently(&shared, c.last_poll_at, polled_at)) {
        return PollResult::NotYet(wait);
    }
    let asked_at = Utc::now();
    // When monitoring begins, and once after an upgrade from before the lifecycle.
    let baselined = cursor.is_none_or(|c| !c.baselined);
    let start = Resume {
        cursor: cursor.map(|c| c.changed_after),
        registered,
        tz: salon.timezone,
    };
    let changed = match baselined {
        false => {
            let since = start.since(&shared, asked_at);
            yclients.records_changed_after(company, since).await
        }
        true => first_poll(&shared, &yclients, company, &start).await,
    };
    let changed = match changed {
        Ok(changed) => changed,
        Err(e) => return record_failure(&shared, company, e).await,
    };
    let mut began = shared
        .start
        .on_yclients(changed.server_time, changed.answered);
    if let Err(e) = register_start(&shared, began).await {
        return e.into();
    }
    // A company a reload added is monitored from then (`Daemon::reload` registered it).
    if let Some(added) = shared.live.current().added_at.get(&company) {
        began = shared.start.at(*added);
    }
    let requests = changed.requests;
    // YClients' clock, not ours: then skew between the two cannot open a gap.
    let mut next_cursor = changed.server_time.unwrap_or(polled_at);
    if changed.records.iter().any(Result::is_err) {
        // Hold the cursor until every record can be read: none is skipped unseen.
        next_cursor = cursor.map(|c| c.changed_after).unwrap_or(next_cursor);
    }
    let seen_count = changed.records.len();
    let seen = RecordsSeen {
        company,
        records: changed.records,
        asked_at,
        polled_at: Utc::now(),
        next_cursor: Some(next_cursor),
        baselined,
        monitoring_began: began,
        yclients_ahead_by: changed.clock_offset,
        timezone: salon.timezone,
    };
    match filter.send(seen).await {
        Ok(Ok(outcome)) => {
            if baselined {
                // A webhook about this company may be waiting for its start.
                shared.start.company_began();
            }
            PollResult::Committed(outcome, requests, seen_count)
        }
        Ok(Err(failure)) => PollResult::Filter(failure.to_string()),
        Err(mailbox) => PollResult::Filter(format!("filter unreachable: {mailbox}")),
    }
}

/// Where a company's poll starts from.
struct Resume {
    /// The last committed poll's cursor.
    cursor: Option<DateTime<Utc>>,
    /// When a process registered the company's monitoring start.
    registered: Option<DateTime<Utc>>,
    tz: chrono_tz::Tz,
}

impl Resume {
    /// `changed_after` for the poll: the cursor, or before the first poll, the
    /// start of monitoring (however long ago: whatever was made since is news),
    /// less the overlap that absorbs clock skew.
    fn since(&self, shared: &Shared, began: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
        let overlap =
            chrono::Duration::milliseconds(shared.config.monitor.cursor_overlap_ms as i64);
        let start = self.registered.map_or(began, |r| r.min(began));
        let from = self.cursor.unwrap_or(start) - overlap;
        // In the salon's own zone, offset included: right whether or not YClients reads the offset.
        from.with_timezone(&self.tz).fixed_offset()
    }
}

/// The first answer of this process tells its start on YClients' clock; that
/// start is registered once for every configured company, so that one polled
/// later (many salons share the budget at start; another instance may take it)
/// still counts as monitored from then.
async fn register_start(shared: &Shared, began: DateTime<Utc>) -> Result<(), StoreError> {
    if shared.start.registered() {
        return Ok(());
    }
    let companies: Vec<CompanyId> = shared
        .config
        .companies
        .iter()
        .map(|c| c.company_id())
        .collect();
    let begun = shared
        .db
        .run(move |c| store::begin_monitoring(c, &companies, began, Utc::now()))
        .await?;
    shared.start.mark_registered();
    if begun > 0 {
        slog::info!(shared.logger, "monitoring begins: bookings made from now on are news";
            "since" => %began, "companies" => begun);
    }
    Ok(())
}

/// When monitoring of a company begins: the baseline of its future bookings (so
/// that their changes and reminders work; it sends nothing by itself), then what
/// changed since monitoring began. A record in both comes once, as the later
/// answer has it.
async fn first_poll(
    shared: &Shared,
    yclients: &YClients,
    company: CompanyId,
    start: &Resume,
) -> Result<ChangedRecords, YClientsError> {
    let today = Utc::now().with_timezone(&start.tz).date_naive();
    let last = today + chrono::Days::new(shared.config.notifications.baseline_days.into());
    let baseline = yclients.records_visiting(company, today, last).await?;
    let began = shared
        .start
        .on_yclients(baseline.server_time, baseline.answered);
    let mut changed = yclients
        .records_changed_after(company, start.since(shared, began))
        .await?;
    let fresh: std::collections::HashSet<_> = changed
        .records
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.id))
        .collect();
    let mut records: Vec<_> = baseline
        .records
        .into_iter()
        .filter(|r| !r.as_ref().is_ok_and(|r| fresh.contains(&r.id)))
        .collect();
    records.append(&mut changed.records);
    changed.records = records;
    changed.requests += baseline.requests;
    Ok(changed)
}

/// Stores a failed poll for `status`, whether YClients failed on the records or on
/// the company's details (which a first poll needs).
async fn record_failure(shared: &Shared, company: CompanyId, e: YClientsError) -> PollResult {
    let error = e.to_string();
    match shared
        .db
        .run(move |c| store::record_poll_failure(c, company, &error, Utc::now()))
        .await
    {
        Ok(()) => PollResult::YClients(e),
        Err(e) => e.into(),
    }
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
            act.companies = config
                .companies
                .iter()
                .enumerate()
                .map(|(i, c)| CompanyPolls {
                    id: c.company_id(),
                    next_at: if polled.contains(&c.id) {
                        now + step * i as u32
                    } else {
                        now
                    },
                    failures: 0,
                    failing: None,
                })
                .collect();
            act.schedule_next(ctx);
        }));
    }
}

impl Handler<ConfigChanged> for PollerActor {
    type Result = ();

    /// A reload changed the config: a company added is polled at once (its
    /// monitoring begins), one removed is polled no more; the rest keep their
    /// turn, and the next waits use the new interval.
    fn handle(&mut self, _msg: ConfigChanged, ctx: &mut Context<Self>) {
        let config = self.shared.live.config();
        let now = Instant::now();
        self.companies.retain(|c| config.company(c.id).is_some());
        for company in &config.companies {
            let id = company.company_id();
            if !self.companies.iter().any(|c| c.id == id) {
                self.companies.push(CompanyPolls {
                    id,
                    next_at: now,
                    failures: 0,
                    failing: None,
                });
            }
        }
        self.schedule_next(ctx);
    }
}

impl Supervised for PollerActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.yclients = None;
        self.companies.clear();
        self.shared.supervision.restarted(NAME);
    }
}
