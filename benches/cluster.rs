//! `cargo bench --bench cluster`: PostgreSQL beside SQLite, and many instances on one
//! PostgreSQL database, measured on the real release binary
//! (`booking-monitor run --config <tmp>/config.toml`) against the crate's simulator
//! on 127.0.0.1, as the other benches do.
//!
//! Three parts, one after another:
//! * `throughput`: one instance, 10 companies polled every second, a 1 s grace
//!   delay, WhatsApp answering at once; 2,000 bookings by an administrator made at
//!   once. Notifications per second from the first due time to the last message,
//!   on SQLite and then on PostgreSQL.
//! * `takeover`: 3 instances on one PostgreSQL database, 30 companies polled every
//!   second, `lease_ttl_ms = 3000`. 20 times: `kill -9` of one instance (which
//!   companies it held: `status --json` just before), then the time until each of
//!   them was polled again (a record-list request the simulator answered after the
//!   kill, from another instance); then a replacement starts and the bench waits
//!   until the three hold 10 companies each again.
//! * `polls`: 3 instances started together, 30 companies polled every second: the
//!   start-up minute (the leases settle), then a minute of steady state, each
//!   reported on its own: record-list requests per company per poll interval (goal
//!   1.00) and the smallest gap between two polls of one company (goal ≥ 0.9 of the
//!   interval: no company polled twice within one).
//!
//! Each instance sends its number as `X-Partner-Id` (`yclients.partner_id`), so the
//! simulator's request log says which instance asked. The limiter is per process and
//! 30 companies polled every second are 1,800 requests a minute: YClients' limits
//! are lifted in every part (the rate limiter is not what is measured here).
//!
//! The PostgreSQL parts need `BOOKING_MONITOR_PG_SERVER`, the URL of a role that may
//! create databases: each part creates its own `bm_bench_<pid>_<part>` and drops it
//! at the end. Unset, they are skipped and the report says so.
//!
//! Prints a markdown table. `BENCH_QUICK=1`: a smoke run (200 bookings, 3 kills,
//! 15 s windows); `BENCH_ONLY=throughput|takeover|polls` runs one part. Exits 1 when
//! a figure could not be measured or a daemon did not exit 0 on SIGTERM.

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, ConfigParts, Simulator, World};
use chrono::{DateTime, Days, NaiveTime, Utc};
use serde_json::Value;
use support::pg::{postgres_settings, PgDatabase, PG_ENV};
use support::{percentile, secs, sorted, start_sim, Report, Running, Stopped, BIN, ZONE};

/// Every part: companies polled every second.
const POLL_MS: u64 = 1_000;
/// The takeover and polls parts.
const LEASE_TTL_MS: u64 = 3_000;
const INSTANCES: usize = 3;
const CLUSTER_COMPANIES: usize = 30;
/// Limits high enough never to hold a request back.
const NO_LIMITS: &str = "max_requests_per_second = 1000\nmax_requests_per_minute = 60000";
/// A gap between two polls of one company shorter than this is a double poll.
const SHORT_GAP: f64 = 0.9;

struct Scale {
    bookings: usize,
    throughput_companies: usize,
    delay_ms: u64,
    kills: usize,
    warmup: Duration,
    steady: Duration,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        Scale {
            bookings: if quick { 200 } else { 2_000 },
            throughput_companies: 10,
            delay_ms: 1_000,
            kills: if quick { 3 } else { 20 },
            warmup: Duration::from_secs(if quick { 15 } else { 60 }),
            steady: Duration::from_secs(if quick { 15 } else { 60 }),
        }
    }
}

fn main() -> ExitCode {
    let quick = support::quick();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if !["", "throughput", "takeover", "polls"].contains(&only.as_str()) {
        eprintln!("BENCH_ONLY={only}: expected throughput, takeover or polls");
        return ExitCode::FAILURE;
    }
    let server = std::env::var(PG_ENV).ok().filter(|s| !s.trim().is_empty());
    if server.is_none() {
        eprintln!("{PG_ENV} is not set: the PostgreSQL parts are skipped (SQLite alone runs)");
    }
    let scale = Scale::new(quick);
    let started = Instant::now();
    let load_before = load_average();
    let mut report = Report::default();
    let postgres = server.as_deref().map(postgres_settings);
    actix_rt::System::new().block_on(bench(&scale, &only, server.as_deref(), &mut report));
    print(
        &report,
        quick,
        started.elapsed(),
        postgres,
        &load_before,
        &load_average(),
    );
    report.exit_code()
}

async fn bench(scale: &Scale, only: &str, server: Option<&str>, report: &mut Report) {
    let run = |part: &str| only.is_empty() || only == part;
    let skipped = |report: &mut Report, part: &str| {
        report.row(
            format!("[{part}]"),
            "skipped",
            format!("{PG_ENV} is not set: no PostgreSQL server to run it on"),
        );
    };
    if run("throughput") {
        let sqlite = throughput_part(scale, None).await;
        report_throughput(report, scale, "SQLite", sqlite);
        match server {
            Some(server) => {
                let postgres = throughput_part(scale, Some(server)).await;
                report_throughput(report, scale, "PostgreSQL", postgres);
            }
            None => skipped(report, "throughput, PostgreSQL"),
        }
    }
    if run("takeover") {
        match server {
            Some(server) => {
                let f = takeover_part(scale, server).await;
                report_takeover(report, scale, f);
            }
            None => skipped(report, "takeover"),
        }
    }
    if run("polls") {
        match server {
            Some(server) => {
                let f = polls_part(scale, server).await;
                report_polls(report, scale, f);
            }
            None => skipped(report, "polls"),
        }
    }
}

// ------------------------------------------------------------ status --json

/// An instance as `status --json` shows it.
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    live: bool,
    heartbeat: Option<DateTime<Utc>>,
    companies: Vec<i64>,
}

/// `booking-monitor status --json --config CONFIG`, run off the event loop.
async fn status(config: PathBuf) -> Result<Value, String> {
    let out = actix_rt::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["status", "--json", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .output()
    })
    .await
    .map_err(|e| format!("status: {e}"))?
    .map_err(|e| format!("status: cannot start {BIN}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "status --json: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("status --json: {e}"))
}

fn instances(status: &Value) -> Vec<Seen> {
    let Some(list) = status["instances"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|i| Seen {
            id: i["instance_id"].as_str().unwrap_or_default().to_string(),
            live: i["live"].as_bool().unwrap_or(false),
            heartbeat: i["last_heartbeat"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
            companies: i["companies"]
                .as_array()
                .map(|c| c.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// `kind status count, …` from `status --json`'s `kinds`.
fn outbox(status: &Value) -> String {
    let Some(kinds) = status["kinds"].as_object() else {
        return "—".into();
    };
    kinds
        .iter()
        .flat_map(|(kind, counts)| {
            counts
                .as_object()
                .into_iter()
                .flatten()
                .map(move |(status, n)| format!("{kind} {status} {n}"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------- what the simulator saw

/// The company of a record-list request (`/api/v1/records/{company}`).
fn record_list(path: &str) -> Option<i64> {
    path.strip_prefix("/api/v1/records/")?.parse().ok()
}

/// A poll: a record-list request asking `changed_after` on its first page (a first
/// poll's baseline page comes just before it and is part of the same poll).
fn is_poll(query: &str) -> bool {
    query.contains("changed_after") && support::first_page(query)
}

/// The instance that asked: its number, sent as `X-Partner-Id`.
fn asker(partner_id: &Option<String>) -> usize {
    partner_id
        .as_deref()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Instants of the bench's clock as UTC, from one pair read together.
#[derive(Clone, Copy)]
struct Anchor(Instant, DateTime<Utc>);

impl Anchor {
    fn now() -> Anchor {
        Anchor(Instant::now(), Utc::now())
    }

    fn utc(&self, at: Instant) -> DateTime<Utc> {
        let d = |d: Duration| chrono::Duration::from_std(d).unwrap_or_default();
        if at >= self.0 {
            self.1 + d(at - self.0)
        } else {
            self.1 - d(self.0 - at)
        }
    }
}

fn ms(d: chrono::Duration) -> f64 {
    support::ms(d)
}

fn company_ids(n: usize, first: i64) -> Vec<i64> {
    (0..n).map(|i| first + i as i64).collect()
}

/// `p50 X s, max Y s (n = N)` of values in ms.
fn p50_max(values: &[f64]) -> String {
    let v = sorted(values);
    format!(
        "p50 {:.2} s, max {:.2} s",
        percentile(&v, 50.0) / 1000.0,
        percentile(&v, 100.0) / 1000.0
    )
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A daemon's WARN-or-worse lines, but those a takeover is expected to log.
fn unexpected_warnings(daemon: &Running) -> Vec<String> {
    daemon
        .warnings()
        .into_iter()
        .filter(|l| !l.contains("took over companies"))
        .collect()
}

// ---------------------------------------------------------------- throughput

#[derive(Default)]
struct ThroughputFigures {
    made_in: Duration,
    sent: usize,
    duplicates: usize,
    /// First due (the first booking made + the delay) → the last message.
    due_to_last: f64,
    /// The first message → the last.
    first_to_last: f64,
    /// sent − (made + delay) per message, ms.
    lateness: Vec<f64>,
    polls: usize,
    record_pages: usize,
    rereads: usize,
    outbox: String,
    cpu: Duration,
    stopped: Option<Stopped>,
    warnings: Vec<String>,
}

async fn throughput_part(s: &Scale, server: Option<&str>) -> Result<ThroughputFigures, String> {
    let db = server
        .map(|server| PgDatabase::create(server, "throughput"))
        .transpose()?;
    let url = db.as_ref().map(PgDatabase::url);
    let companies = company_ids(s.throughput_companies, 100_001);
    let sim = start_sim(&companies).await?;
    let parts = ConfigParts {
        yclients: NO_LIMITS.into(),
        monitor: support::monitor(POLL_MS, s.delay_ms),
        ..ConfigParts::default()
    };
    let mut daemon = Running::spawn_on(&sim, url.as_deref(), &companies, &parts)?;
    let result = throughput_measure(s, &sim, &mut daemon, &companies).await;
    let (f, stopped) = daemon.finish(&sim, result).await?;
    Ok(ThroughputFigures {
        stopped: Some(stopped),
        warnings: daemon.warnings(),
        ..f
    })
}

async fn throughput_measure(
    s: &Scale,
    sim: &Simulator,
    daemon: &mut Running,
    companies: &[i64],
) -> Result<ThroughputFigures, String> {
    // Two polls of every company: the first (its baseline) is committed, so every
    // booking made now is new to the daemon.
    daemon
        .expect_world(
            sim,
            Duration::from_secs(60),
            "two polls of every company",
            |w| {
                let mut polls: HashMap<i64, usize> = HashMap::new();
                for r in &w.requests {
                    if let Some(c) = record_list(&r.path).filter(|_| is_poll(&r.query)) {
                        *polls.entry(c).or_default() += 1;
                    }
                }
                companies
                    .iter()
                    .all(|c| polls.get(c).is_some_and(|n| *n >= 2))
                    .then_some(())
            },
        )
        .await?;
    let cpu_before = daemon.cpu().unwrap_or_default();
    let requests_before = sim.world().requests.len();
    let visit_day = Utc::now()
        .with_timezone(&ZONE.parse::<chrono_tz::Tz>().expect("a known zone"))
        .date_naive()
        + Days::new(1);
    let made = Instant::now();
    let made_at = Utc::now();
    for i in 0..s.bookings {
        let visit = visit_day.and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("a time"))
            + chrono::Duration::minutes(5 * (i % 144) as i64);
        sim.create(Booking::by_admin(
            companies[i % companies.len()],
            &format!("Клиент {i}"),
            &format!("7916{i:07}"),
            visit,
        ));
    }
    let made_in = made.elapsed();
    let n = s.bookings;
    daemon
        .expect_world(sim, Duration::from_secs(300), "every confirmation", |w| {
            (w.messages.len() >= n).then_some(())
        })
        .await?;
    // Long enough for a duplicate to show up: two polls and a send.
    tokio::time::sleep(Duration::from_millis(2 * POLL_MS + 500)).await;
    daemon.alive("the throughput part")?;
    let cpu = daemon.cpu().unwrap_or_default().saturating_sub(cpu_before);
    let outbox = status(daemon.config_path())
        .await
        .map(|s| outbox(&s))
        .unwrap_or_else(|e| e);

    let world = sim.world();
    let due = made_at + chrono::Duration::milliseconds(s.delay_ms as i64);
    let times: Vec<DateTime<Utc>> = world.messages.iter().map(|m| m.at).collect();
    let first = times.iter().min().copied().unwrap_or(due);
    let last = times.iter().max().copied().unwrap_or(due);
    let phones: HashSet<&str> = world.messages.iter().map(|m| m.phone.as_str()).collect();
    let after = &world.requests[requests_before..];
    Ok(ThroughputFigures {
        made_in,
        sent: times.len(),
        duplicates: times.len() - phones.len(),
        due_to_last: ms(last - due),
        first_to_last: ms(last - first),
        lateness: times.iter().map(|t| ms(*t - due)).collect(),
        polls: after.iter().filter(|r| is_poll(&r.query)).count(),
        record_pages: after
            .iter()
            .filter(|r| record_list(&r.path).is_some())
            .count(),
        rereads: after
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/record/"))
            .count(),
        outbox,
        cpu,
        stopped: None,
        warnings: Vec::new(),
    })
}

fn report_throughput(
    report: &mut Report,
    s: &Scale,
    backend: &str,
    result: Result<ThroughputFigures, String>,
) {
    let l = format!("[throughput, {backend}]");
    let Some(f) = report.figures(result, |e| format!("{l} {e}")) else {
        return;
    };
    if f.sent == 0 {
        report.fail(format!("{l} nothing was sent"));
        return;
    }
    report.row(
        format!("{l} setup"),
        format!(
            "{} bookings by an administrator over {} companies, made in {} ms",
            s.bookings,
            s.throughput_companies,
            f.made_in.as_millis()
        ),
        format!(
            "one instance; poll_interval_ms = {POLL_MS}, notification_delay_ms = {}, max_concurrent_sends = 4 (default), WhatsApp answering at once; YClients' limits lifted",
            s.delay_ms
        ),
    );
    report.row(
        format!("{l} first due → all sent"),
        format!(
            "**{:.0} notifications/s** ({} in {:.2} s)",
            f.sent as f64 / (f.due_to_last / 1000.0).max(1e-3),
            f.sent,
            f.due_to_last / 1000.0
        ),
        format!(
            "first due: the first booking made + the delay; first message → last: {:.2} s, {:.0}/s (the send rate alone)",
            f.first_to_last / 1000.0,
            f.sent as f64 / (f.first_to_last / 1000.0).max(1e-3)
        ),
    );
    let v = sorted(&f.lateness);
    report.row(
        format!("{l} sent − (made + delay)"),
        format!(
            "p50 {:.2} s, p95 {:.2} s, max {:.2} s",
            percentile(&v, 50.0) / 1000.0,
            percentile(&v, 95.0) / 1000.0,
            percentile(&v, 100.0) / 1000.0
        ),
        "includes the wait for the poll that sees a booking and for the one after its due time that proves it current",
    );
    report.row(
        format!("{l} sent / duplicates"),
        format!("{} / {}", f.sent, f.duplicates),
        format!("outbox at the end: {}", f.outbox),
    );
    report.row(
        format!("{l} YClients requests from the bookings to the end"),
        format!(
            "{} polls, {} record-list pages, {} re-reads (GET /record)",
            f.polls, f.record_pages, f.rereads
        ),
        "every poll within the 5-minute cursor overlap reads its company's new bookings again (a second page once they reach page_size, 200); with the limits lifted the budget always has a spare slot, so a notice not yet proven by a poll is re-read instead of waiting for one",
    );
    report.row(
        format!("{l} daemon CPU from the bookings to the end"),
        secs(f.cpu),
        "user+sys of the daemon (the database server's own CPU not included)",
    );
    if f.sent < s.bookings || f.duplicates > 0 {
        report.problems.push(format!(
            "{l} {} of {} sent, {} duplicates",
            f.sent, s.bookings, f.duplicates
        ));
    }
    report.ending(&l, f.stopped.as_ref(), &f.warnings);
}

// ------------------------------------------------------------------ instances

/// Instances on one PostgreSQL database; instance `i<n>` sends `X-Partner-Id: n`.
struct Cluster<'a> {
    sim: &'a Simulator,
    url: String,
    companies: Vec<i64>,
    running: Vec<(usize, Running)>,
    started: usize,
    /// WARN-or-worse lines of instances already gone, with their name.
    warnings: Vec<String>,
}

fn instance_id(n: usize) -> String {
    format!("i{n}")
}

impl<'a> Cluster<'a> {
    fn new(sim: &'a Simulator, url: String, companies: Vec<i64>) -> Cluster<'a> {
        Cluster {
            sim,
            url,
            companies,
            running: Vec::new(),
            started: 0,
            warnings: Vec::new(),
        }
    }

    /// Starts one more instance; its number.
    fn start(&mut self) -> Result<usize, String> {
        self.started += 1;
        let n = self.started;
        let parts = ConfigParts {
            yclients: format!("{NO_LIMITS}\npartner_id = {n}"),
            monitor: support::monitor(POLL_MS, 1_000),
            tables: format!(
                "[cluster]\ninstance_id = \"{}\"\nlease_ttl_ms = {LEASE_TTL_MS}\n",
                instance_id(n)
            ),
            ..ConfigParts::default()
        };
        let daemon = Running::spawn_on(self.sim, Some(&self.url), &self.companies, &parts)?;
        self.running.push((n, daemon));
        Ok(n)
    }

    /// Fails when an instance has exited.
    fn alive(&mut self) -> Result<(), String> {
        for (n, daemon) in &mut self.running {
            daemon.alive(&format!("the run of instance {}", instance_id(*n)))?;
        }
        Ok(())
    }

    /// The instances as the database knows them; fails when one has exited.
    async fn status(&mut self) -> Result<Vec<Seen>, String> {
        self.alive()?;
        let (_, first) = self.running.first().ok_or("no instance is running")?;
        Ok(instances(&status(first.config_path()).await?))
    }

    /// Every running instance live, each holding the same number of companies, all
    /// of them held.
    fn balanced(&self, seen: &[Seen]) -> bool {
        let share = self.companies.len() / self.running.len().max(1);
        let live: Vec<&Seen> = seen.iter().filter(|s| s.live).collect();
        let held: HashSet<i64> = live.iter().flat_map(|s| s.companies.clone()).collect();
        live.len() == self.running.len()
            && self.running.iter().all(|(n, _)| {
                live.iter()
                    .any(|s| s.id == instance_id(*n) && s.companies.len() == share)
            })
            && self.companies.iter().all(|c| held.contains(c))
    }

    /// Waits until the companies are evenly spread; what `status` said then.
    async fn await_balance(&mut self, timeout: Duration) -> Result<Vec<Seen>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.alive()?;
            // Before the first instance migrated the database, `status` fails.
            let seen = self.status().await;
            if let Ok(seen) = &seen {
                if self.balanced(seen) {
                    return Ok(seen.clone());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the companies were not spread evenly within {} s: {}",
                    timeout.as_secs(),
                    seen.map(|s| describe(&s)).unwrap_or_else(|e| e)
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `kill -9` of the instance numbered `n`: the instant just before the signal.
    fn kill(&mut self, n: usize) -> Result<Instant, String> {
        let index = self
            .running
            .iter()
            .position(|(m, _)| *m == n)
            .ok_or_else(|| format!("instance {} is not running", instance_id(n)))?;
        let (_, mut daemon) = self.running.remove(index);
        let at = Instant::now();
        daemon.kill()?;
        self.note_warnings(n, &daemon);
        Ok(at)
    }

    fn note_warnings(&mut self, n: usize, daemon: &Running) {
        for w in unexpected_warnings(daemon) {
            self.warnings.push(format!("{}: {w}", instance_id(n)));
        }
    }

    /// SIGTERM to every running instance; each one's stop.
    async fn stop(&mut self) -> Vec<(String, Result<Stopped, String>)> {
        let mut stops = Vec::new();
        for (n, mut daemon) in std::mem::take(&mut self.running) {
            let stopped = daemon.stop().await;
            self.note_warnings(n, &daemon);
            stops.push((instance_id(n), stopped));
        }
        stops
    }
}

fn describe(seen: &[Seen]) -> String {
    seen.iter()
        .map(|s| {
            format!(
                "{} {} {} companies",
                s.id,
                if s.live { "live" } else { "gone" },
                s.companies.len()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How the instances ended, for the report.
#[derive(Default)]
struct ClusterEnd {
    stops: Vec<(String, Result<Stopped, String>)>,
    warnings: Vec<String>,
}

/// Runs `measure` with a fresh database, simulator and (empty) cluster, then stops
/// every instance and the simulator and drops the database.
async fn with_cluster<F>(
    server: &str,
    part: &str,
    measure: impl AsyncFnOnce(&mut Cluster<'_>) -> Result<F, String>,
) -> Result<(F, ClusterEnd), String> {
    let db = PgDatabase::create(server, part)?;
    let companies = company_ids(CLUSTER_COMPANIES, 300_001);
    let sim = start_sim(&companies).await?;
    let mut cluster = Cluster::new(&sim, db.url(), companies);
    let result = measure(&mut cluster).await;
    let stops = cluster.stop().await;
    let end = ClusterEnd {
        stops,
        warnings: std::mem::take(&mut cluster.warnings),
    };
    drop(cluster);
    sim.stop().await;
    drop(db);
    Ok((result?, end))
}

fn report_end(report: &mut Report, l: &str, end: &ClusterEnd) {
    let mut slowest = Duration::ZERO;
    for (id, stopped) in &end.stops {
        match stopped {
            Ok(s) if s.ok() => slowest = slowest.max(s.took),
            Ok(s) => report.failures.push(format!(
                "{l} instance {id} did not exit 0 on SIGTERM: {}",
                s.describe()
            )),
            Err(e) => report.failures.push(format!("{l} instance {id}: {e}")),
        }
    }
    report.row(
        format!("{l} SIGTERM → exit, the {} instances left", end.stops.len()),
        format!("≤ {} ms", slowest.as_millis()),
        "each gives its leases back on the way out",
    );
    for w in end.warnings.iter().take(5) {
        report.problems.push(format!("{l} daemon log: {w}"));
    }
    if end.warnings.len() > 5 {
        report.problems.push(format!(
            "{l} … {} more WARN/ERRO lines",
            end.warnings.len() - 5
        ));
    }
}

// ------------------------------------------------------------------ takeover

/// One `kill -9` and what followed.
struct Takeover {
    victim: String,
    held: usize,
    /// Kill → each company it held polled again by another instance, ms; `None`
    /// for a company not polled again within the patience.
    polled_again: Vec<Option<f64>>,
    /// The victim's last lease renewal → the kill, ms.
    since_renewal: Option<f64>,
    /// Its leases' expiry (last renewal + ttl) → the last of its companies polled
    /// again, ms: the survivors' reaction.
    after_lapse: Option<f64>,
    /// Its companies polled by another instance before its leases lapsed.
    before_lapse: usize,
    /// Its own requests answered after the kill (sent before it).
    stragglers: usize,
    /// The replacement started → 10/10/10 again, ms.
    rebalanced: Option<f64>,
}

impl Takeover {
    fn took(&self) -> Option<f64> {
        self.polled_again
            .iter()
            .copied()
            .try_fold(0.0_f64, |max, t| t.map(|t| max.max(t)))
    }
}

#[derive(Default)]
struct TakeoverFigures {
    balanced_after: Duration,
    kills: Vec<Takeover>,
    end: ClusterEnd,
}

const TAKEOVER_PATIENCE: Duration = Duration::from_secs(30);

async fn takeover_part(s: &Scale, server: &str) -> Result<TakeoverFigures, String> {
    let measure = async |cluster: &mut Cluster<'_>| takeover_measure(s, cluster).await;
    let (f, end) = with_cluster(server, "takeover", measure).await?;
    Ok(TakeoverFigures { end, ..f })
}

async fn takeover_measure(s: &Scale, cluster: &mut Cluster<'_>) -> Result<TakeoverFigures, String> {
    let anchor = Anchor::now();
    let ttl = chrono::Duration::milliseconds(LEASE_TTL_MS as i64);
    let mut f = TakeoverFigures::default();
    for _ in 0..INSTANCES {
        cluster.start()?;
    }
    let spawned = Instant::now();
    cluster.await_balance(Duration::from_secs(60)).await?;
    f.balanced_after = spawned.elapsed();
    for k in 0..s.kills {
        // Anywhere in the victim's renewal cycle (a third of the ttl).
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..LEASE_TTL_MS / 3))).await;
        let seen = cluster.await_balance(Duration::from_secs(10)).await?;
        let victim = cluster.running[k % INSTANCES].0;
        let held: Vec<i64> = seen
            .iter()
            .find(|s| s.id == instance_id(victim))
            .map(|s| s.companies.clone())
            .unwrap_or_default();
        let from = cluster.sim.world().requests.len();
        let killed = cluster.kill(victim)?;
        // Each company it held, polled again by another instance.
        let _ = cluster
            .sim
            .wait_until(TAKEOVER_PATIENCE, |w| {
                let again = polled_again(w, from, killed, victim, &held);
                again.iter().all(Option::is_some).then_some(())
            })
            .await;
        let (again, stragglers) = {
            let w = cluster.sim.world();
            let stragglers = w.requests[from..]
                .iter()
                .filter(|r| r.at >= killed && asker(&r.partner_id) == victim)
                .count();
            (polled_again(&w, from, killed, victim, &held), stragglers)
        };
        let last_renewal = cluster
            .status()
            .await?
            .into_iter()
            .find(|s| s.id == instance_id(victim))
            .and_then(|s| s.heartbeat);
        let lapse = last_renewal.map(|r| r + ttl);
        let before_lapse = match lapse {
            Some(lapse) => again
                .iter()
                .flatten()
                .filter(|at| anchor.utc(**at) < lapse)
                .count(),
            None => 0,
        };
        let polled_again: Vec<Option<f64>> = again
            .iter()
            .map(|at| at.map(|at| (at - killed).as_secs_f64() * 1000.0))
            .collect();
        let last = again.iter().copied().collect::<Option<Vec<Instant>>>();
        let after_lapse = match (lapse, last.and_then(|l| l.into_iter().max())) {
            (Some(lapse), Some(last)) => Some(ms(anchor.utc(last) - lapse)),
            _ => None,
        };
        let started = Instant::now();
        cluster.start()?;
        let rebalanced = cluster
            .await_balance(Duration::from_secs(60))
            .await
            .ok()
            .map(|_| started.elapsed().as_secs_f64() * 1000.0);
        f.kills.push(Takeover {
            victim: instance_id(victim),
            held: held.len(),
            polled_again,
            since_renewal: last_renewal.map(|r| ms(anchor.utc(killed) - r)),
            after_lapse,
            before_lapse,
            stragglers,
            rebalanced,
        });
        if rebalanced.is_none() {
            return Err(format!(
                "after the kill of {}, the companies were not spread evenly within 60 s again",
                instance_id(victim)
            ));
        }
    }
    Ok(f)
}

/// For each company of `held`, when another instance than `victim` first polled it
/// after the kill (a record-list request answered after `killed`).
fn polled_again(
    w: &World,
    from: usize,
    killed: Instant,
    victim: usize,
    held: &[i64],
) -> Vec<Option<Instant>> {
    let mut first: HashMap<i64, Instant> = HashMap::new();
    for r in &w.requests[from.min(w.requests.len())..] {
        if r.at < killed || asker(&r.partner_id) == victim {
            continue;
        }
        if let Some(c) = record_list(&r.path) {
            first.entry(c).or_insert(r.at);
        }
    }
    held.iter().map(|c| first.get(c).copied()).collect()
}

fn report_takeover(report: &mut Report, s: &Scale, result: Result<TakeoverFigures, String>) {
    let l = "[takeover]";
    let Some(f) = report.figures(result, |e| format!("{l} {e}")) else {
        return;
    };
    let bound = (LEASE_TTL_MS + POLL_MS) as f64;
    report.row(
        format!("{l} setup"),
        format!(
            "{INSTANCES} instances on one PostgreSQL database, {CLUSTER_COMPANIES} companies; {} kills",
            f.kills.len()
        ),
        format!(
            "lease_ttl_ms = {LEASE_TTL_MS} (renewed every {} ms), poll_interval_ms = {POLL_MS}; each kill -9 lands at a random point of the victim's renewal cycle, a replacement starts once its companies are polled again; the first 10/10/10 split came {} after start",
            LEASE_TTL_MS / 3,
            secs(f.balanced_after)
        ),
    );
    let took: Vec<f64> = f.kills.iter().filter_map(Takeover::took).collect();
    let missing: usize = f
        .kills
        .iter()
        .map(|k| k.polled_again.iter().filter(|t| t.is_none()).count())
        .sum();
    if took.is_empty() {
        report.fail(format!("{l} no takeover was measured"));
        return;
    }
    let over: Vec<String> = f
        .kills
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let t = k.took()?;
            (t > bound).then(|| format!("kill {} ({}): {:.2} s", i + 1, k.victim, t / 1000.0))
        })
        .collect();
    report.row(
        format!("{l} kill -9 → every company it held polled again"),
        format!("**{}**", p50_max(&took)),
        format!(
            "bound ttl + interval = {:.1} s; {} of {} kills over it; {} companies never polled again within {} s",
            bound / 1000.0,
            over.len(),
            f.kills.len(),
            missing,
            TAKEOVER_PATIENCE.as_secs()
        ),
    );
    let first: Vec<f64> = f
        .kills
        .iter()
        .filter_map(|k| {
            k.polled_again
                .iter()
                .flatten()
                .copied()
                .min_by(f64::total_cmp)
        })
        .collect();
    report.row(
        format!("{l} kill -9 → the first of its companies polled again"),
        p50_max(&first),
        format!(
            "{} companies held by the victim each time",
            f.kills
                .iter()
                .map(|k| k.held.to_string())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join("/")
        ),
    );
    let since: Vec<f64> = f.kills.iter().filter_map(|k| k.since_renewal).collect();
    let after: Vec<f64> = f.kills.iter().filter_map(|k| k.after_lapse).collect();
    report.row(
        format!("{l} its leases lapse → the last company polled again"),
        p50_max(&after),
        format!(
            "the survivors' part: up to a renewal period ({} ms) to notice, then the poller's next look at a company it does not hold (100 ms) and its queue; the victim had last renewed {:.2}–{:.2} s before the kill",
            LEASE_TTL_MS / 3,
            percentile(&sorted(&since), 0.0) / 1000.0,
            percentile(&sorted(&since), 100.0) / 1000.0
        ),
    );
    report.row(
        format!("{l} each kill, kill → all polled again"),
        f.kills
            .iter()
            .map(|k| {
                k.took()
                    .map(|t| format!("{:.2}", t / 1000.0))
                    .unwrap_or_else(|| "—".into())
            })
            .collect::<Vec<_>>()
            .join(", "),
        "seconds, in order",
    );
    let rebalanced: Vec<f64> = f.kills.iter().filter_map(|k| k.rebalanced).collect();
    report.row(
        format!("{l} replacement started → 10/10/10 again"),
        p50_max(&rebalanced),
        "`status --json` read every 200 ms",
    );
    let before: usize = f.kills.iter().map(|k| k.before_lapse).sum();
    let stragglers: usize = f.kills.iter().map(|k| k.stragglers).sum();
    report.row(
        format!("{l} victim's companies polled by another before its leases lapsed"),
        before.to_string(),
        format!(
            "goal 0 (that would be two instances on one company); the victim's own requests answered after the kill: {stragglers}"
        ),
    );
    if !over.is_empty() {
        report.problems.push(format!(
            "{l} {} of {} takeovers took longer than ttl + interval ({:.1} s): {}",
            over.len(),
            f.kills.len(),
            bound / 1000.0,
            over.join("; ")
        ));
    }
    if missing > 0 || before > 0 {
        report.problems.push(format!(
            "{l} {missing} companies not polled again within {} s; {before} polled by another instance before the victim's leases lapsed",
            TAKEOVER_PATIENCE.as_secs()
        ));
    }
    if f.kills.len() < s.kills {
        report.failures.push(format!(
            "{l} {} of {} kills measured",
            f.kills.len(),
            s.kills
        ));
    }
    report_end(report, l, &f.end);
}

// --------------------------------------------------------------------- polls

/// Polls within a window, per company.
#[derive(Default)]
struct Window {
    span: Duration,
    /// Record-list requests and polls per company per poll interval.
    requests_per_interval: Vec<f64>,
    polls_per_interval: Vec<f64>,
    /// Gaps between two consecutive polls of one company (both in the window), ms.
    gaps: Vec<f64>,
    /// The gaps under `SHORT_GAP` of the interval: company, ms since the spawn,
    /// gap, the instances that asked.
    short: Vec<(i64, f64, f64, usize, usize)>,
}

fn window(w: &World, companies: &[i64], spawned: Instant, from: Instant, to: Instant) -> Window {
    let interval = POLL_MS as f64;
    let span = to - from;
    let intervals = span.as_secs_f64() * 1000.0 / interval;
    let mut requests: HashMap<i64, usize> = HashMap::new();
    let mut polls: BTreeMap<i64, Vec<(Instant, usize)>> = BTreeMap::new();
    for r in w.requests.iter().filter(|r| r.at >= from && r.at < to) {
        let Some(c) = record_list(&r.path) else {
            continue;
        };
        *requests.entry(c).or_default() += 1;
        if is_poll(&r.query) {
            polls
                .entry(c)
                .or_default()
                .push((r.at, asker(&r.partner_id)));
        }
    }
    let mut out = Window {
        span,
        ..Window::default()
    };
    for c in companies {
        let list = polls.get(c).map(Vec::as_slice).unwrap_or_default();
        out.requests_per_interval
            .push(requests.get(c).copied().unwrap_or(0) as f64 / intervals);
        out.polls_per_interval.push(list.len() as f64 / intervals);
        for pair in list.windows(2) {
            let ((a, by_a), (b, by_b)) = (pair[0], pair[1]);
            let gap = (b - a).as_secs_f64() * 1000.0;
            out.gaps.push(gap);
            if gap < SHORT_GAP * interval {
                let at = (b - spawned).as_secs_f64() * 1000.0;
                out.short.push((*c, at, gap, by_a, by_b));
            }
        }
    }
    out
}

#[derive(Default)]
struct PollsFigures {
    /// The spawn → the first 10/10/10 split.
    balanced_after: Option<Duration>,
    startup: Window,
    steady: Window,
    /// Each company's baseline pages over the whole run (1 each: baselined once).
    baselines: Vec<usize>,
    /// The split at the steady window's start and end, if they differ.
    moved: Option<(String, String)>,
    end: ClusterEnd,
}

async fn polls_part(s: &Scale, server: &str) -> Result<PollsFigures, String> {
    let measure = async |cluster: &mut Cluster<'_>| polls_measure(s, cluster).await;
    let (f, end) = with_cluster(server, "polls", measure).await?;
    Ok(PollsFigures { end, ..f })
}

async fn polls_measure(s: &Scale, cluster: &mut Cluster<'_>) -> Result<PollsFigures, String> {
    let mut f = PollsFigures::default();
    for _ in 0..INSTANCES {
        cluster.start()?;
    }
    let spawned = Instant::now();
    if cluster.await_balance(s.warmup).await.is_ok() {
        f.balanced_after = Some(spawned.elapsed());
    }
    tokio::time::sleep((spawned + s.warmup).saturating_duration_since(Instant::now())).await;
    let at_start = cluster.status().await?;
    let from = Instant::now();
    // No `status` in the window: only the instances run.
    while from.elapsed() < s.steady {
        tokio::time::sleep(Duration::from_millis(500).min(s.steady.saturating_sub(from.elapsed())))
            .await;
        cluster.alive()?;
    }
    let to = Instant::now();
    let at_end = cluster.status().await?;
    let split = |seen: &[Seen]| {
        seen.iter()
            .filter(|s| s.live)
            .map(|s| format!("{} {:?}", s.id, s.companies))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if split(&at_start) != split(&at_end) || !cluster.balanced(&at_start) {
        f.moved = Some((split(&at_start), split(&at_end)));
    }
    let w = cluster.sim.world();
    let companies = &cluster.companies;
    f.startup = window(&w, companies, spawned, spawned, from);
    f.steady = window(&w, companies, spawned, from, to);
    f.baselines = companies
        .iter()
        .map(|c| {
            w.requests
                .iter()
                .filter(|r| record_list(&r.path) == Some(*c) && r.query.contains("start_date"))
                .count()
        })
        .collect();
    Ok(f)
}

fn report_window(report: &mut Report, l: &str, what: &str, w: &Window) {
    let per = |v: &[f64]| {
        let s = sorted(v);
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        format!(
            "{mean:.3} (companies from {:.3} to {:.3})",
            percentile(&s, 0.0),
            percentile(&s, 100.0)
        )
    };
    report.row(
        format!("{l} {what}: record-list requests per company per poll interval"),
        format!("**{}**", per(&w.requests_per_interval)),
        format!(
            "goal 1.00; over {} ({:.0} intervals); polls alone (changed_after, first page): {}",
            secs(w.span),
            w.span.as_secs_f64() * 1000.0 / POLL_MS as f64,
            per(&w.polls_per_interval)
        ),
    );
    let gaps = sorted(&w.gaps);
    report.row(
        format!("{l} {what}: gap between two polls of one company"),
        format!(
            "**min {:.0} ms**, p50 {:.0} ms, max {:.0} ms",
            percentile(&gaps, 0.0),
            percentile(&gaps, 50.0),
            percentile(&gaps, 100.0)
        ),
        format!(
            "goal min ≥ {:.0} ms; {} of {} gaps shorter",
            SHORT_GAP * POLL_MS as f64,
            w.short.len(),
            gaps.len()
        ),
    );
    if !w.short.is_empty() {
        let shown: Vec<String> = w
            .short
            .iter()
            .take(8)
            .map(|(c, at, gap, a, b)| {
                format!(
                    "company {c} at {:.1} s: {gap:.0} ms after the previous poll ({} then {})",
                    at / 1000.0,
                    instance_id(*a),
                    instance_id(*b)
                )
            })
            .collect();
        report.problems.push(format!(
            "{l} {what}: {} polls within {:.0} ms of the previous one of their company: {}{}",
            w.short.len(),
            SHORT_GAP * POLL_MS as f64,
            shown.join("; "),
            if w.short.len() > 8 { "; …" } else { "" }
        ));
    }
}

fn report_polls(report: &mut Report, s: &Scale, result: Result<PollsFigures, String>) {
    let l = "[polls]";
    let Some(f) = report.figures(result, |e| format!("{l} {e}")) else {
        return;
    };
    report.row(
        format!("{l} setup"),
        format!(
            "{INSTANCES} instances started together on one PostgreSQL database, {CLUSTER_COMPANIES} companies, nothing booked"
        ),
        format!(
            "poll_interval_ms = {POLL_MS}, lease_ttl_ms = {LEASE_TTL_MS}; start-up: the first {}, steady state: the {} after it; the first 10/10/10 split came {} after start",
            secs(s.warmup),
            secs(s.steady),
            f.balanced_after
                .map(secs)
                .unwrap_or_else(|| "never within the start-up window".into())
        ),
    );
    report_window(report, l, "start-up", &f.startup);
    report_window(report, l, "steady state", &f.steady);
    let twice = f.baselines.iter().filter(|n| **n > 1).count();
    let never = f.baselines.iter().filter(|n| **n == 0).count();
    report.row(
        format!("{l} baselines (start_date pages) per company"),
        format!("{} in all", f.baselines.iter().sum::<usize>()),
        format!("goal: one each; {twice} companies baselined more than once, {never} never"),
    );
    if twice > 0 || never > 0 {
        report.problems.push(format!(
            "{l} {twice} companies baselined more than once, {never} never"
        ));
    }
    if let Some((start, end)) = &f.moved {
        report.problems.push(format!(
            "{l} the split was not a steady 10/10/10 over the steady window: at its start {start}; at its end {end}"
        ));
    }
    report_end(report, l, &f.end);
}

// -------------------------------------------------------------------- report

fn print(
    report: &Report,
    quick: bool,
    took: Duration,
    postgres: Option<String>,
    load_before: &str,
    load_after: &str,
) {
    let support::Machine { cores, rustc, cpu } = support::Machine::read();
    println!();
    println!(
        "## booking-monitor cluster{}",
        if quick { " (BENCH_QUICK)" } else { "" }
    );
    println!();
    println!(
        "Machine: {cores} cores (nproc), {cpu}; {rustc}; {}; SQLite bundled (WAL, synchronous = FULL). The parts ran one after another; load average {load_before} before, {load_after} after. Bench took {}.",
        postgres.unwrap_or_else(|| format!("no PostgreSQL ({PG_ENV} unset)")),
        secs(took)
    );
    println!();
    report.print_table(&[]);
}
