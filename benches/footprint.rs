//! `cargo bench --bench footprint`: what the real release binary costs at rest and
//! how late its confirmations are, against the crate's simulator on 127.0.0.1.
//!
//! Three runs of `booking-monitor run --config <tmp>/config.toml`:
//! * idle, 1 company, polled every 2 s (10 polls), and
//! * idle, 200 companies at the default 60 s interval and default rate limits
//!   (these two run side by side: both are idle, neither loads the machine);
//! * then, alone, 1 company polled every 500 ms with a 1 s grace delay, 300
//!   bookings made at 10 a second, every confirmation timed.
//!
//! Prints a markdown table (figure | value | note). `BENCH_QUICK=1` shrinks it to a
//! smoke run: 20 companies polled every 10 s, 5 polls, 60 bookings.
//! `BENCH_ONLY=idle` or `BENCH_ONLY=lateness` runs one part; `BENCH_MANY=1000`
//! sets the many-company run's size (past 200, with YClients' limits lifted).
//! Exits 1 when a figure could not be measured or the daemon did not exit 0.

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, ConfigParts, Simulator, World};
use booking_monitor::store::{self, Db};
use chrono::{DateTime, Days, NaiveTime, Utc};
use support::{
    first_page, mib, millis, ms, peak_in_window, percentile, secs, start_sim, yclients_times,
    Machine, Memory, Report, Running, Stopped, BIN,
};

const FIRST_COMPANY: i64 = 100_001;
/// How long to let a daemon sit after its first round before reading its memory.
const SETTLE: Duration = Duration::from_secs(5);

struct Scale {
    many: usize,
    many_poll_ms: u64,
    one_poll_ms: u64,
    one_polls: usize,
    bookings: usize,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                many: 20,
                many_poll_ms: 10_000,
                one_poll_ms: 2_000,
                one_polls: 5,
                bookings: 60,
            }
        } else {
            Scale {
                // `BENCH_MANY=1000` for the 1,000-company footprint figure.
                many: std::env::var("BENCH_MANY")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(200),
                many_poll_ms: 60_000,
                one_poll_ms: 2_000,
                one_polls: 10,
                bookings: 300,
            }
        }
    }
}

fn main() -> ExitCode {
    let quick = support::quick();
    let scale = Scale::new(quick);
    let started = Instant::now();
    let mut report = Report::default();
    actix_rt::System::new().block_on(bench(&scale, &mut report));
    report.print(quick, started.elapsed());
    report.exit_code()
}

async fn bench(scale: &Scale, report: &mut Report) {
    let size = std::fs::metadata(BIN).map(|m| m.len()).unwrap_or(0);
    report.row(
        "release binary size",
        format!("{:.1} MiB", size as f64 / 1_048_576.0),
        "bench profile = release: opt-level z, fat LTO, one codegen unit, stripped",
    );

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only != "lateness" {
        idle_runs(scale, report).await;
    }
    if only != "idle" {
        let lateness_result = lateness(scale.bookings).await;
        report.lateness(scale.bookings, lateness_result);
    }
}

/// The 1-company and the many-company idle runs, side by side.
async fn idle_runs(scale: &Scale, report: &mut Report) {
    let one = IdleSpec {
        label: "1 company".into(),
        companies: 1,
        poll_ms: scale.one_poll_ms,
        rounds: scale.one_polls + 1,
    };
    let many = IdleSpec {
        label: format!("{} companies", scale.many),
        companies: scale.many,
        poll_ms: scale.many_poll_ms,
        rounds: 2,
    };
    let (one_result, many_result) = tokio::join!(idle(&one), idle(&many));
    let one_memory = report.idle(&one, one_result);
    let many_memory = report.idle(&many, many_result);
    if let (Some(a), Some(b)) = (one_memory, many_memory) {
        let per = |a: u64, b: u64| (b as f64 - a as f64) / (scale.many - 1) as f64;
        report.row(
            "memory per extra company",
            format!(
                "{:.1} KiB anon ({:.1} KiB VmRSS)",
                per(a.anon_kib, b.anon_kib),
                per(a.rss_kib, b.rss_kib)
            ),
            format!(
                "(with {} − with 1) / {}, both after the first round + {} s; VmRSS also counts which pages of the binary were touched",
                scale.many,
                scale.many - 1,
                SETTLE.as_secs()
            ),
        );
    }
}

// ---------------------------------------------------------------- the daemon

/// The daemon's config: these timings, and these keys added to `[yclients]`.
fn daemon_parts(poll_ms: u64, delay_ms: u64, yclients_extra: &str) -> ConfigParts {
    ConfigParts {
        yclients: yclients_extra.to_string(),
        monitor: support::monitor(poll_ms, delay_ms),
        ..ConfigParts::default()
    }
}

// ---------------------------------------------------- what the simulator saw

/// One company's YClients traffic, as the simulator logged it.
#[derive(Debug, Default)]
struct Tally {
    /// When each poll's first page was answered.
    polls: Vec<Instant>,
    /// When each record-list page (of any poll) was answered.
    pages: Vec<Instant>,
    list_pages: usize,
    company_gets: usize,
    record_gets: usize,
    /// Every YClients request for this company after its first poll's first page.
    after_first_poll: usize,
}

enum Endpoint {
    List { first_page: bool },
    Baseline,
    Company,
    Record(i64),
}

fn classify(path: &str, query: &str) -> Option<(Endpoint, i64)> {
    if let Some(id) = path.strip_prefix("/api/v1/records/") {
        // The baseline (visit dates) is read once when monitoring begins: not a poll.
        if query.contains("start_date=") {
            return Some((Endpoint::Baseline, id.parse().ok()?));
        }
        let first_page = first_page(query);
        return Some((Endpoint::List { first_page }, id.parse().ok()?));
    }
    if let Some(id) = path.strip_prefix("/api/v1/company/") {
        return Some((Endpoint::Company, id.parse().ok()?));
    }
    if let Some(rest) = path.strip_prefix("/api/v1/record/") {
        let (company, record) = rest.split_once('/')?;
        return Some((
            Endpoint::Record(record.parse().ok()?),
            company.parse().ok()?,
        ));
    }
    None
}

fn tally(world: &World) -> BTreeMap<i64, Tally> {
    let mut out: BTreeMap<i64, Tally> = BTreeMap::new();
    for r in &world.requests {
        let Some((endpoint, company)) = classify(&r.path, &r.query) else {
            continue;
        };
        let t = out.entry(company).or_default();
        if t.polls.first().is_some_and(|first| r.at > *first) {
            t.after_first_poll += 1;
        }
        match endpoint {
            Endpoint::List { first_page } => {
                t.list_pages += 1;
                t.pages.push(r.at);
                if first_page {
                    t.polls.push(r.at);
                }
            }
            Endpoint::Baseline => {}
            Endpoint::Company => t.company_gets += 1,
            Endpoint::Record(_) => t.record_gets += 1,
        }
    }
    out
}

fn every_company_polled(world: &World, companies: &[i64], times: usize) -> bool {
    let tallies = tally(world);
    companies
        .iter()
        .all(|id| tallies.get(id).is_some_and(|t| t.polls.len() >= times))
}

fn yclients_failures(world: &World) -> usize {
    world
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/") && r.status != 200)
        .count()
}

// ------------------------------------------------------------------ idle runs

struct IdleSpec {
    label: String,
    companies: usize,
    poll_ms: u64,
    /// Polls of every company to await in all.
    rounds: usize,
}

struct IdleFigures {
    /// Spawn → the first poll answered.
    first_poll: Duration,
    /// Spawn → every company polled once.
    first_round: Duration,
    /// Spawn → every company polled `rounds` times.
    last_round: Duration,
    settled: Memory,
    end: Memory,
    /// CPU used from the settled reading to the end, and the polls in that time.
    idle_cpu: Duration,
    idle_polls: usize,
    idle_span: Duration,
    peak_minute: usize,
    peak_second: usize,
    /// YClients requests after each company's first poll, and polls after it.
    requests_after_first: usize,
    polls_after_first: usize,
    company_gets: usize,
    record_gets: usize,
    failures: usize,
    /// Between the first and the second poll of each company.
    first_gaps: Vec<Duration>,
    /// Between any two consecutive polls of a company.
    gaps: Vec<Duration>,
    stopped: Stopped,
    warnings: Vec<String>,
}

async fn idle(spec: &IdleSpec) -> Result<IdleFigures, String> {
    let companies: Vec<i64> = (0..spec.companies)
        .map(|i| FIRST_COMPANY + i as i64)
        .collect();
    let sim = start_sim(&companies).await?;
    let mut daemon = Running::spawn(
        &sim,
        &companies,
        &daemon_parts(
            spec.poll_ms,
            30_000,
            // Past one IP's budget (about 200 salons a minute) the rounds would take
            // many minutes; the memory figure does not depend on the pace.
            if spec.companies > 200 {
                LATE_LIMITS
            } else {
                ""
            },
        ),
    )?;
    let result = idle_measure(spec, &sim, &mut daemon, &companies).await;
    let (mut figures, stopped) = daemon.finish(&sim, result).await?;
    figures.stopped = stopped;
    figures.warnings = daemon.warnings();
    Ok(figures)
}

async fn idle_measure(
    spec: &IdleSpec,
    sim: &Simulator,
    daemon: &mut Running,
    companies: &[i64],
) -> Result<IdleFigures, String> {
    // Generous: with the default 5/s and 200/min the first round of 200 companies
    // (two requests each) takes about 105 s, the second ends near 170 s.
    let interval = Duration::from_millis(spec.poll_ms);
    let round_budget = interval + Duration::from_secs(2 * spec.companies as u64 / 3 + 30);
    let spawned = daemon.spawned;

    daemon
        .expect_world(sim, round_budget, "the first poll", |w| {
            tally(w).values().any(|t| !t.polls.is_empty()).then_some(())
        })
        .await?;
    let first_poll = spawned.elapsed();
    daemon
        .expect_world(
            sim,
            round_budget,
            &format!("a first poll of each of {}", spec.label),
            |w| every_company_polled(w, companies, 1).then_some(()),
        )
        .await?;
    let first_round = spawned.elapsed();
    tokio::time::sleep(SETTLE).await;
    let settled = daemon.memory()?;
    let (settled_at, cpu_settled) = (Instant::now(), daemon.cpu()?);
    let polls_settled: usize = tally(&sim.world()).values().map(|t| t.polls.len()).sum();

    let more = spec.rounds.saturating_sub(1) as u32;
    daemon
        .expect_world(
            sim,
            interval * more + round_budget,
            &format!("{} polls of each of {}", spec.rounds, spec.label),
            |w| every_company_polled(w, companies, spec.rounds).then_some(()),
        )
        .await?;
    let last_round = spawned.elapsed();
    let end = daemon.memory()?;
    let idle_cpu = daemon.cpu()?.saturating_sub(cpu_settled);
    let idle_span = settled_at.elapsed();

    let world = sim.world();
    let tallies = tally(&world);
    let failures = yclients_failures(&world);
    let times = yclients_times(&world);
    let peak_minute = peak_in_window(&times, Duration::from_secs(60));
    let peak_second = peak_in_window(&times, Duration::from_secs(1));
    drop(world);
    let idle_polls = tallies.values().map(|t| t.polls.len()).sum::<usize>() - polls_settled;
    let mut first_gaps = Vec::new();
    let mut gaps = Vec::new();
    for t in tallies.values() {
        if let [a, b, ..] = t.polls[..] {
            first_gaps.push(b - a);
        }
        gaps.extend(t.polls.windows(2).map(|w| w[1] - w[0]));
    }
    Ok(IdleFigures {
        first_poll,
        first_round,
        last_round,
        settled,
        end,
        idle_cpu,
        idle_polls,
        idle_span,
        peak_minute,
        peak_second,
        requests_after_first: tallies.values().map(|t| t.after_first_poll).sum(),
        polls_after_first: tallies
            .values()
            .map(|t| t.polls.len().saturating_sub(1))
            .sum(),
        company_gets: tallies.values().map(|t| t.company_gets).sum(),
        record_gets: tallies.values().map(|t| t.record_gets).sum(),
        failures,
        first_gaps,
        gaps,
        stopped: Stopped {
            took: Duration::ZERO,
            status: None,
        },
        warnings: Vec::new(),
    })
}

// ------------------------------------------------------------------ lateness

const LATE_COMPANY: i64 = 4564;
const LATE_POLL_MS: u64 = 500;
const LATE_DELAY_MS: u64 = 1_000;
const LATE_PACE: Duration = Duration::from_millis(100);
const LATE_LIMITS: &str = "max_requests_per_second = 1000\nmax_requests_per_minute = 100000";

/// A booking the bench made: when `Simulator::create` returned.
struct Made {
    record: i64,
    phone: String,
    at_utc: DateTime<Utc>,
}

/// What the simulator saw of one booking's confirmation.
struct Delivered {
    record: i64,
    created: DateTime<Utc>,
    refetched: Option<DateTime<Utc>>,
    sent: DateTime<Utc>,
}

#[derive(Default)]
struct LateFigures {
    /// sent − created − delay, per booking.
    lateness: Vec<f64>,
    /// The outbox row's created_at (the daemon's polled_at) − created: the wait for
    /// the poll that saw it and its fetch.
    detection: Vec<f64>,
    /// due − created − delay, the daemon's own due time: lateness by design.
    by_design: Vec<f64>,
    /// sent − due: the pipeline's own latency ...
    pipeline: Vec<f64>,
    /// ... split at the re-fetch: due → GET /record answered,
    to_refetch: Vec<f64>,
    /// and GET /record answered → WhatsApp received.
    refetch_to_sent: Vec<f64>,
    /// The most confirmations that fell due within the same 10 ms.
    largest_batch: usize,
    /// Confirmations whose due time is the clamp's upper end, seen + delay.
    due_at_seen_plus_delay: usize,
    messages: usize,
    duplicates: usize,
    missing: usize,
    outbox_error: Option<String>,
    created_over: Duration,
    sent_over: Duration,
    record_gets: usize,
    polls: usize,
    list_pages: usize,
    stopped: Option<Stopped>,
    db_bytes: u64,
    memory: Memory,
    cpu: Duration,
    warnings: Vec<String>,
}

async fn lateness(n: usize) -> Result<LateFigures, String> {
    let sim = start_sim(&[]).await?;
    sim.add_company(
        LATE_COMPANY,
        "Барбершоп «Борода»",
        "Москва, Большой Саввинский пер., д. 3",
        "Europe/Moscow",
    );
    let mut daemon = Running::spawn(
        &sim,
        &[LATE_COMPANY],
        &daemon_parts(LATE_POLL_MS, LATE_DELAY_MS, LATE_LIMITS),
    )?;
    let result = lateness_measure(n, &sim, &mut daemon).await;
    let ((mut figures, delivered), stopped) = daemon.finish(&sim, result).await?;
    figures.stopped = Some(stopped);
    figures.db_bytes = daemon.db_bytes();
    figures.warnings = daemon.warnings();
    // The daemon's own due times, from its outbox, now that it has stopped.
    match outbox_due_times(&daemon.db_path()) {
        Ok(due) => figures.split(&delivered, &due),
        Err(e) => figures.outbox_error = Some(e),
    }
    Ok(figures)
}

/// record id → (created_at, due_at), from the daemon's outbox.
type Outbox = HashMap<i64, (DateTime<Utc>, DateTime<Utc>)>;

fn outbox_due_times(db: &Path) -> Result<Outbox, String> {
    let db = Db::open(db).map_err(|e| format!("opening the outbox: {e}"))?;
    let rows = db
        .blocking(store::all_notifications)
        .map_err(|e| format!("reading the outbox: {e}"))?;
    Ok(rows
        .iter()
        .map(|r| (r.record_id, (r.created_at.and_utc(), r.due_at())))
        .collect())
}

async fn lateness_measure(
    n: usize,
    sim: &Simulator,
    daemon: &mut Running,
) -> Result<(LateFigures, Vec<Delivered>), String> {
    // The second record-list request means the first poll is committed: from then
    // on a new booking is news.
    daemon
        .expect_world(sim, Duration::from_secs(20), "the first poll", |w| {
            (w.record_list_requests() >= 2).then_some(())
        })
        .await?;
    let cpu_before = daemon.cpu()?;
    let visit = (Utc::now().date_naive() + Days::new(1))
        .and_time(NaiveTime::from_hms_opt(14, 0, 0).expect("a time"));
    let (anchor, anchor_utc) = (Instant::now(), Utc::now());
    let start = tokio::time::Instant::now();
    let mut made = Vec::with_capacity(n);
    for i in 0..n {
        tokio::time::sleep_until(start + LATE_PACE * i as u32).await;
        let phone = format!("7916{i:07}");
        let record = sim.create(Booking::by_admin(
            LATE_COMPANY,
            &format!("Клиент {i}"),
            &phone,
            visit,
        ));
        // Taken once the booking exists: `create` may wait for the simulator's lock
        // while it answers a poll.
        made.push(Made {
            record,
            phone,
            at_utc: Utc::now(),
        });
    }
    let created_over = made
        .last()
        .map(|m| m.at_utc - made[0].at_utc)
        .and_then(|d| d.to_std().ok())
        .unwrap_or_default();
    daemon
        .expect_world(
            sim,
            Duration::from_secs(60),
            &format!("{n} WhatsApp messages"),
            |w| (w.messages.len() >= n).then_some(()),
        )
        .await?;
    // Long enough for a duplicate to show up: a poll, a delay, a send.
    tokio::time::sleep(Duration::from_millis(LATE_POLL_MS + LATE_DELAY_MS + 500)).await;
    let memory = daemon.memory()?;
    let cpu = daemon.cpu()?.saturating_sub(cpu_before);

    let world = sim.world();
    let messages = world.messages.clone();
    let tallies = tally(&world);
    let mut refetched: HashMap<i64, Instant> = HashMap::new();
    for r in &world.requests {
        if let Some((Endpoint::Record(record), LATE_COMPANY)) = classify(&r.path, &r.query) {
            refetched.entry(record).or_insert(r.at);
        }
    }
    drop(world);
    let company = tallies.get(&LATE_COMPANY);
    let to_utc =
        |at: Instant| anchor_utc + chrono::Duration::from_std(at - anchor).unwrap_or_default();

    let mut sent: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    for m in &messages {
        sent.entry(m.phone.as_str()).or_default().push(m.at);
    }
    let mut figures = LateFigures {
        messages: messages.len(),
        duplicates: sent.values().map(|v| v.len().saturating_sub(1)).sum(),
        created_over,
        record_gets: company.map(|t| t.record_gets).unwrap_or(0),
        polls: company.map(|t| t.polls.len()).unwrap_or(0),
        list_pages: company.map(|t| t.list_pages).unwrap_or(0),
        memory,
        cpu,
        ..LateFigures::default()
    };
    let delay = chrono::Duration::milliseconds(LATE_DELAY_MS as i64);
    let mut delivered = Vec::new();
    for m in &made {
        let Some(at) = sent
            .get(m.phone.as_str())
            .and_then(|v| v.iter().min())
            .copied()
        else {
            figures.missing += 1;
            continue;
        };
        figures.lateness.push(ms(at - m.at_utc - delay));
        delivered.push(Delivered {
            record: m.record,
            created: m.at_utc,
            refetched: refetched.get(&m.record).copied().map(to_utc),
            sent: at,
        });
    }
    let mut times: Vec<DateTime<Utc>> = messages.iter().map(|m| m.at).collect();
    times.sort();
    if let (Some(first), Some(last)) = (times.first(), times.last()) {
        figures.sent_over = (*last - *first).to_std().unwrap_or_default();
    }
    Ok((figures, delivered))
}

impl LateFigures {
    /// Splits each booking's lateness at the daemon's own due time.
    fn split(&mut self, delivered: &[Delivered], outbox: &Outbox) {
        let delay = chrono::Duration::milliseconds(LATE_DELAY_MS as i64);
        let mut dues = Vec::new();
        for d in delivered {
            let Some((seen, due)) = outbox.get(&d.record).copied() else {
                continue;
            };
            self.detection.push(ms(seen - d.created));
            self.by_design.push(ms(due - d.created - delay));
            if (due - seen - delay).num_milliseconds().abs() < 1 {
                self.due_at_seen_plus_delay += 1;
            }
            self.pipeline.push(ms(d.sent - due));
            if let Some(refetched) = d.refetched {
                self.to_refetch.push(ms(refetched - due));
                self.refetch_to_sent.push(ms(d.sent - refetched));
            }
            dues.push(due);
        }
        dues.sort();
        let window = chrono::Duration::milliseconds(10);
        let mut from = 0;
        for (to, due) in dues.iter().enumerate() {
            while *due - dues[from] >= window {
                from += 1;
            }
            self.largest_batch = self.largest_batch.max(to + 1 - from);
        }
    }
}

// -------------------------------------------------------------------- report

fn spread(values: &[f64]) -> String {
    let v = support::sorted(values);
    format!(
        "min {:.0} / p50 {:.0} / p95 {:.0} / max {:.0} ms",
        percentile(&v, 0.0),
        percentile(&v, 50.0),
        percentile(&v, 95.0),
        percentile(&v, 100.0)
    )
}

fn durations_spread(values: &[Duration]) -> String {
    let v: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    spread(&v)
}

impl Report {
    /// Adds an idle run's rows; returns its memory after the first round.
    fn idle(&mut self, spec: &IdleSpec, result: Result<IdleFigures, String>) -> Option<Memory> {
        let l = &spec.label;
        let f = self.figures(result, |e| format!("idle run, {l}: {e}"))?;
        let interval = format!("poll_interval_ms = {}", spec.poll_ms);
        self.row(
            format!("[{l}] start → first poll answered"),
            millis(f.first_poll),
            "spawn of the release binary to the first record-list request",
        );
        if spec.companies > 1 {
            self.row(
                format!("[{l}] start → every company polled once"),
                secs(f.first_round),
                format!(
                    "{interval}, YClients' limits lifted past 200 companies; each first poll also costs GET /company and the baseline"
                ),
            );
        }
        self.row(
            format!("[{l}] idle VmRSS, first round + {} s", SETTLE.as_secs()),
            mib(f.settled.rss_kib),
            format!(
                "anon {} + file {}; {} threads",
                mib(f.settled.anon_kib),
                mib(f.settled.file_kib),
                f.settled.threads
            ),
        );
        self.row(
            format!("[{l}] idle VmRSS after {} polls of each", spec.rounds),
            mib(f.end.rss_kib),
            format!(
                "at {} after start; VmHWM (peak) {}",
                secs(f.last_round),
                mib(f.end.hwm_kib)
            ),
        );
        let ratio = f.requests_after_first as f64 / f.polls_after_first.max(1) as f64;
        self.row(
            format!("[{l}] YClients requests per company per poll, nothing changing"),
            format!("{ratio:.3}"),
            format!(
                "{} requests after each company's first poll / {} later polls (aim 1.0); GET /company: {} for {} companies; GET /record: {}",
                f.requests_after_first, f.polls_after_first, f.company_gets, spec.companies, f.record_gets
            ),
        );
        if ratio > 1.0 + 1e-9 {
            self.problems.push(format!(
                "[{l}] {ratio:.3} YClients requests per company per idle poll (aim 1.0)"
            ));
        }
        if f.company_gets != spec.companies {
            self.problems.push(format!(
                "[{l}] {} GET /api/v1/company for {} companies (expected one each)",
                f.company_gets, spec.companies
            ));
        }
        if f.failures > 0 {
            self.problems.push(format!(
                "[{l}] {} YClients requests answered non-200",
                f.failures
            ));
        }
        let cpu_ms = f.idle_cpu.as_secs_f64() * 1000.0;
        self.row(
            format!("[{l}] idle CPU"),
            format!(
                "{:.2} % of a core",
                100.0 * f.idle_cpu.as_secs_f64() / f.idle_span.as_secs_f64().max(1e-3)
            ),
            format!(
                "{cpu_ms:.0} ms user+sys (in 10 ms ticks) over {} and {} polls ({:.1} ms per poll)",
                secs(f.idle_span),
                f.idle_polls,
                cpu_ms / f.idle_polls.max(1) as f64
            ),
        );
        if spec.companies > 1 {
            self.row(
                format!("[{l}] gap between 1st and 2nd poll of a company"),
                durations_spread(&f.first_gaps),
                interval.clone(),
            );
            self.row(
                format!("[{l}] peak YClients requests in any 60 s / any 1 s"),
                format!("{} / {}", f.peak_minute, f.peak_second),
                "the limiter allows 200 per 61 s and 5 per 1.2 s by default (YClients: 200/min, 5/s per IP)",
            );
            let demand = spec.companies as f64 * 60_000.0 / spec.poll_ms as f64;
            if demand >= 200.0 * 0.9 {
                self.problems.push(format!(
                    "[{l}] polling alone asks for {demand:.0} requests/min against a budget of 200/min (the limiter: 200 per 61 s): \
                     the first round took {} instead of {interval}, the 2nd poll came {} after the 1st, and no \
                     request is left for the GET /record each confirmation needs",
                    secs(f.first_round),
                    durations_spread(&f.first_gaps),
                ));
            }
        } else {
            self.row(
                format!("[{l}] gap between polls"),
                durations_spread(&f.gaps),
                interval,
            );
        }
        self.ending(&format!("[{l}]"), Some(&f.stopped), &f.warnings);
        Some(f.settled)
    }

    fn lateness(&mut self, n: usize, result: Result<LateFigures, String>) {
        let l = format!("[lateness, {n} bookings]");
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        self.row(
            format!("{l} setup"),
            format!("{n} bookings in {}, 1 company", secs(f.created_over)),
            format!(
                "poll_interval_ms = {LATE_POLL_MS}, notification_delay_ms = {LATE_DELAY_MS}; [yclients] max_requests_per_second = 1000, max_requests_per_minute = 100000, because the re-fetch of each booking before its send would otherwise cap throughput at 5 confirmations/s"
            ),
        );
        self.row(
            format!("{l} lateness = sent − created − delay"),
            spread(&f.lateness),
            "includes the wait for the next poll, by design: a booking is seen only when polled",
        );
        if let Some(e) = &f.outbox_error {
            self.fail(format!("{l} splitting the lateness: {e}"));
        }
        self.row(
            format!("{l} … seen by a poll (outbox created_at − created)"),
            spread(&f.detection),
            "created_at is the daemon's polled_at: the wait for the next poll (≤ poll interval) + its fetch; the due rule may absorb part of it",
        );
        self.row(
            format!("{l} … part by design (due − created − delay)"),
            spread(&f.by_design),
            format!(
                "due from the daemon's outbox: (create_date + 1 s − YClients' clock offset + delay) clamped to [seen, seen + delay]; {} of {} at seen + delay",
                f.due_at_seen_plus_delay,
                f.by_design.len()
            ),
        );
        self.row(
            format!("{l} … part in the pipeline (sent − due)"),
            spread(&f.pipeline),
            "delay timer → notifier → WhatsApp received; the rest of the lateness",
        );
        self.row(
            format!("{l} … pipeline: due → GET /record answered"),
            spread(&f.to_refetch),
            format!(
                "waiting behind the other sends due at once (the notifier sends one at a time; up to {} fell due within 10 ms) + claiming the row",
                f.largest_batch
            ),
        );
        self.row(
            format!("{l} … pipeline: GET /record → WhatsApp received"),
            spread(&f.refetch_to_sent),
            "salon, bot check, rendering, the POST",
        );
        let rate = f.messages as f64 / f.sent_over.as_secs_f64().max(1e-3);
        self.row(
            format!("{l} messages received"),
            format!(
                "{} ({} duplicates, {} missing)",
                f.messages, f.duplicates, f.missing
            ),
            format!("sent over {} ({rate:.1}/s)", secs(f.sent_over)),
        );
        self.row(
            format!("{l} GET /record per message"),
            format!("{:.2}", f.record_gets as f64 / f.messages.max(1) as f64),
            "the re-fetch before each send",
        );
        self.row(
            format!("{l} record-list pages per poll"),
            format!("{:.2}", f.list_pages as f64 / f.polls.max(1) as f64),
            format!(
                "{} polls, {} pages: every poll re-reads cursor_overlap_ms (default 300 s) of changes, in pages of 200",
                f.polls, f.list_pages
            ),
        );
        self.row(
            format!("{l} CPU during the run"),
            format!("{:.1} s", f.cpu.as_secs_f64()),
            format!(
                "user+sys from the first booking to {} s after the last message",
                (LATE_POLL_MS + LATE_DELAY_MS + 500) as f64 / 1000.0
            ),
        );
        self.row(
            format!("{l} VmRSS after the run"),
            mib(f.memory.rss_kib),
            format!("VmHWM (peak) {}", mib(f.memory.hwm_kib)),
        );
        self.row(
            format!("{l} database size after the run"),
            format!("{:.1} KiB", f.db_bytes as f64 / 1024.0),
            "the SQLite file and its -wal/-shm after shutdown",
        );
        if let Some(stopped) = &f.stopped {
            self.sigterm(&l, stopped);
        }
        if f.duplicates > 0 || f.missing > 0 {
            self.problems.push(format!(
                "{l} {} duplicate and {} missing confirmations",
                f.duplicates, f.missing
            ));
        }
        for w in f.warnings.iter().take(5) {
            self.problems.push(format!("{l} daemon log: {w}"));
        }
    }

    fn print(&self, quick: bool, took: Duration) {
        let Machine { cores, rustc, cpu } = Machine::read();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        println!();
        println!(
            "## booking-monitor footprint{}",
            if quick { " (BENCH_QUICK)" } else { "" }
        );
        println!();
        println!("Machine: {cores} cores (nproc), {cpu}, Linux {kernel}; {rustc}.");
        println!(
            "The two idle runs ran side by side (each against its own simulator); the lateness run ran alone. Bench took {}.",
            secs(took)
        );
        println!();
        let machine = (
            "machine".to_string(),
            format!("{cores} cores, {rustc}"),
            cpu,
        );
        self.print_table(&[machine]);
    }
}
