//! `cargo bench --bench reach`: each salon its own WhatsApp sender, and the SMS
//! fallback, measured on the real release binary (`booking-monitor run`) against the
//! crate's simulator on 127.0.0.1. Every salon has its own `[companies.whatsapp]`
//! (a Cloud API number, token and app secret) and staff page token; the fallback is
//! SMS.ru with `fallback.after_ms` = 3 s; YClients' limits are lifted.
//!
//! Two parts, one after another:
//! * `salons`: 1 salon, then 1,000, each size started `starts` times on a fresh
//!   SQLite database, polls every 60 s. **Start-up** is from the spawn until
//!   `/readyz` first answers 200: the database migrated, the actors up and every
//!   salon's first poll (its company, its baseline, its changes) committed. **Idle
//!   memory** is VmRSS 5 s after that. After the last start of each size, one booking
//!   per salon, pushed by YClients' webhook, must go out from that salon's own
//!   number; Meta reports them delivered, so no SMS may follow. Memory is read again
//!   then, 20 s later, and every second until a minute after the last notice: VmRSS
//!   must be back under 32 MiB by then.
//! * `fallback`: 5,000 notices over 10 salons, 40 bookings made a second, polls every
//!   second with a 5 s cursor overlap, a 1 s grace delay; Meta reports `sent` and
//!   `delivered` for nine clients in ten and only `sent` for every tenth
//!   (`World::undelivered_phones`). Each of those must get exactly one SMS within
//!   `after_ms` + 5 s of its notice's send, and nobody else any.
//!
//! Prints a markdown table. `BENCH_QUICK=1`: a smoke run (100 salons, one start each,
//! 500 notices). `BENCH_ONLY=salons|fallback` runs one part; `BENCH_PACE=N` makes N
//! bookings a second in the fallback part; `BENCH_ATTACH="heaptrack -p"` attaches
//! a profiler to the daemon before the sends (build with `--profile profiling`). Exits 1 when a figure could not be
//! measured, a check failed, or a daemon did not exit 0 on SIGTERM.

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{
    Booking, ConfigParts, SentMessage, SentSms, Simulator, StatusCallbacks, WebhookSender,
};
use chrono::{Days, NaiveDateTime, NaiveTime, Utc};
use serde_json::Value;
use support::{
    mib, millis, percentile, secs, sorted, start_sim, Memory, Report, Running, Stopped, ZONE,
};

const FIRST_COMPANY: i64 = 100_001;
/// Each salon's Cloud API phone number id is this followed by its company id.
const NUMBER_PREFIX: &str = "77";
/// One app secret for every salon's number: the simulated Meta signs all its
/// callbacks with one.
const SECRET: &str = "bench-app-secret";
const WEBHOOK_TOKEN: &str = "bench-yclients-webhook-token-0123456789";
/// The machine, not YClients' budget, is what is measured: 1,000 salons' first
/// polls would take five minutes at 200 requests a minute.
const LIFTED: &str = "max_requests_per_second = 1000\nmax_requests_per_minute = 100000";
const AFTER_MS: u64 = 3_000;
/// The fallback part polls every second; each poll reads back this far before its
/// cursor. Five intervals, as production's 5 min is of its 60 s: at the default the
/// daemon would re-read every booking of the run on every poll.
const OVERLAP_MS: u64 = 5_000;
/// The goal: every SMS within `after_ms` + this of its notice's send.
const SLACK: Duration = Duration::from_secs(5);
/// How long the daemon sits after `/readyz` before its memory is read.
const SETTLE: Duration = Duration::from_secs(5);
const PATIENCE: Duration = Duration::from_secs(180);
/// Past the HTTP client's 15 s keep-alive: what the senders' idle connections hold.
const LATER: Duration = Duration::from_secs(20);
/// Within this of the last notice sent, the daemon's memory is back under `GOAL_KIB`.
const MINUTE: Duration = Duration::from_secs(60);
const GOAL_KIB: u64 = 32 * 1024;

struct Scale {
    many: usize,
    starts: usize,
    notices: usize,
    salons: usize,
    /// Bookings made per second in the fallback part.
    pace: usize,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        Scale {
            many: if quick { 100 } else { 1_000 },
            starts: if quick { 1 } else { 3 },
            notices: if quick { 500 } else { 5_000 },
            salons: 10,
            // `BENCH_PACE=N`: N bookings a second instead of 40.
            pace: std::env::var("BENCH_PACE")
                .ok()
                .and_then(|v| v.parse().ok())
                .filter(|p| *p > 0)
                .unwrap_or(40),
        }
    }
}

fn main() -> ExitCode {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if !["", "salons", "fallback"].contains(&only.as_str()) {
        eprintln!("BENCH_ONLY={only}: expected salons or fallback");
        return ExitCode::FAILURE;
    }
    let quick = support::quick();
    let scale = Scale::new(quick);
    let started = Instant::now();
    let load_before = support::load_average();
    let mut report = Report::default();
    actix_rt::System::new().block_on(async {
        if only.is_empty() || only == "salons" {
            let mut sizes = Vec::new();
            for n in [1, scale.many] {
                let mut starts = Vec::new();
                for i in 0..scale.starts {
                    starts.push(salons(n, i + 1 == scale.starts).await);
                }
                sizes.push(report.salons(n, starts));
            }
            if let [Some(one), Some(many)] = &sizes[..] {
                report.compare(scale.many, one, many);
            }
        }
        if only.is_empty() || only == "fallback" {
            let result = fallback(&scale).await;
            report.fallback(&scale, result);
        }
    });
    let support::Machine { cores, rustc, cpu } = support::Machine::read();
    println!();
    println!(
        "## booking-monitor reach{}",
        if quick { " (BENCH_QUICK)" } else { "" }
    );
    println!();
    println!(
        "Machine: {cores} cores (nproc), {cpu}; {rustc}. Bench took {}. Load average (1, 5, 15 min) before: {load_before}; after: {}.",
        secs(started.elapsed()),
        support::load_average()
    );
    println!();
    report.print_table(&[]);
    report.exit_code()
}

// ---------------------------------------------------------------- the daemon

fn number(company: i64) -> String {
    format!("{NUMBER_PREFIX}{company}")
}

/// The `[[companies]]` keys of a salon with its own sender and staff page.
fn own_sender(sim: &Simulator) -> String {
    format!(
        "staff_token = \"bench-staff-token-{{id}}-0123456789\"\n\
         [companies.whatsapp]\nprovider = \"cloud_api\"\n\
         [companies.whatsapp.cloud_api]\nbase_url = \"{}\"\n\
         phone_number_id = \"{NUMBER_PREFIX}{{id}}\"\n\
         access_token = \"bench-access-token-{{id}}\"\napp_secret = \"{SECRET}\"\n",
        sim.cloud_api_url()
    )
}

/// The release binary, every salon with its own sender, the SMS fallback on, its
/// HTTP endpoints on a free port.
struct Daemon {
    run: Running,
    base: String,
}

impl Daemon {
    /// `monitor`: more `[monitor]` keys.
    fn spawn(
        sim: &Simulator,
        companies: &[i64],
        poll_ms: u64,
        monitor: &str,
    ) -> Result<Daemon, String> {
        let port = support::free_port()?;
        let parts = ConfigParts {
            yclients: format!("{LIFTED}\nwebhook_token = \"{WEBHOOK_TOKEN}\""),
            monitor: format!("{}\n{monitor}", support::monitor(poll_ms, 1_000)),
            cloud_api: format!("app_secret = \"{SECRET}\""),
            company: own_sender(sim),
            tables: format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"bench-http-token\"\n\n\
                 [fallback]\nprovider = \"sms_ru\"\nafter_ms = {AFTER_MS}\n\
                 sms_ru = {{ base_url = \"{}\", api_id = \"bench-sms-api-id\" }}\n",
                sim.sms_ru_url()
            ),
            ..ConfigParts::default()
        };
        Ok(Daemon {
            run: Running::spawn(sim, companies, &parts)?,
            base: format!("http://127.0.0.1:{port}"),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// From the spawn: `/healthz` 200, every salon's first poll answered by the
    /// simulator, `/readyz` 200 (each awaited after the one before, so the probes
    /// of `/readyz`, which read every salon's poll state, do not slow the start).
    async fn started(&mut self, sim: &Simulator, companies: &[i64]) -> Result<Start, String> {
        let healthz = self.run.until_ok(&self.url("/healthz"), PATIENCE).await?;
        let n = companies.len();
        let (mut seen, mut from, mut last) = (HashSet::new(), 0, None);
        let last = self
            .run
            .expect_world(sim, PATIENCE, "every salon's first poll", |w| {
                for r in &w.requests[from..] {
                    let company = r.path.strip_prefix("/api/v1/records/");
                    if let Some(c) = company.filter(|_| r.query.contains("changed_after")) {
                        if seen.insert(c.to_string()) {
                            last = Some(r.at);
                        }
                    }
                }
                from = w.requests.len();
                (seen.len() >= n).then_some(last)
            })
            .await?
            .ok_or("no first poll")?;
        let ready = self.run.until_ok(&self.url("/readyz"), PATIENCE).await?;
        Ok(Start {
            healthz,
            first_round: last - self.run.spawned,
            ready,
            cpu: self.run.cpu()?,
        })
    }

    /// Meta reports these statuses for every message the salons' numbers send,
    /// signed with their app secret, to the daemon.
    fn statuses(&self, sim: &Simulator, statuses: Vec<&'static str>) {
        let url = self.url("/webhooks/whatsapp");
        sim.change(|w| {
            w.status_callbacks = Some(StatusCallbacks {
                url,
                app_secret: SECRET.into(),
                statuses,
            })
        });
    }

    /// Awaits every one of `rows` SMS rows decided (none pending or being sent):
    /// `/status`'s `kinds.sms`, and when that was first seen after the spawn.
    async fn sms_decided(&mut self, rows: i64) -> Result<(BTreeMap<String, i64>, Instant), String> {
        let deadline = Instant::now() + PATIENCE;
        let mut last = BTreeMap::new();
        loop {
            self.run.alive("the SMS decisions")?;
            let status = support::get_json(&self.url("/status")).await?;
            last = status
                .pointer("/kinds/sms")
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or(last);
            let open = ["pending", "sending"]
                .iter()
                .map(|k| last.get(*k).copied().unwrap_or(0))
                .sum::<i64>();
            if last.values().sum::<i64>() >= rows && open == 0 {
                return Ok((last, Instant::now()));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{rows} SMS rows decided: not within {} s (kinds.sms: {last:?}); log tail:\n{}",
                    PATIENCE.as_secs(),
                    self.run.log_tail()
                ));
            }
            // `/status` reads the whole outbox: a few times a second is plenty.
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Times from the spawn.
struct Start {
    healthz: Duration,
    first_round: Duration,
    ready: Duration,
    /// CPU time the daemon used until `/readyz` answered 200.
    cpu: Duration,
}

fn zone() -> chrono_tz::Tz {
    ZONE.parse().expect("a known zone")
}

/// The `i`th booking's client.
fn phone(i: usize) -> String {
    format!("7916{i:07}")
}

/// Two days ahead, from 09:00 in steps of a minute, in the salons' zone.
fn visit(i: usize) -> NaiveDateTime {
    let day = Utc::now().with_timezone(&zone()).date_naive() + Days::new(2);
    day.and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("a time"))
        + chrono::Duration::minutes((i % 600) as i64)
}

fn status_text(kinds: &BTreeMap<String, i64>) -> String {
    kinds
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// -------------------------------------------------------------------- salons

struct SalonsFigures {
    start: Start,
    idle: Memory,
    idle_sockets: usize,
    sends: Option<SendFigures>,
    stopped: Stopped,
    warnings: Vec<String>,
}

/// One booking per salon, pushed by webhook.
struct SendFigures {
    took: Duration,
    from_own: usize,
    /// Notices sent from a number not their salon's.
    mismatched: usize,
    messages: usize,
    after: Memory,
    sockets: usize,
    /// `LATER` after the SMS rows were decided.
    later: Memory,
    later_sockets: usize,
    /// `MINUTE` after the last notice was sent, and when VmRSS was first under
    /// `GOAL_KIB` from then (read every second).
    minute: Memory,
    under_goal: Option<Duration>,
    sms_rows: BTreeMap<String, i64>,
    sms: usize,
}

/// `n` salons started once; `sends`: then one booking each.
async fn salons(n: usize, sends: bool) -> Result<SalonsFigures, String> {
    let companies: Vec<i64> = (0..n).map(|i| FIRST_COMPANY + i as i64).collect();
    let sim = start_sim(&companies).await?;
    let mut daemon = Daemon::spawn(&sim, &companies, 60_000, "")?;
    let result = salons_measure(&sim, &mut daemon, &companies, sends).await;
    let (mut figures, stopped) = daemon.run.finish(&sim, result).await?;
    if let Some(s) = figures.sends.as_mut() {
        s.messages = sim.world().messages.len();
    }
    figures.stopped = stopped;
    figures.warnings = daemon.run.warnings();
    Ok(figures)
}

async fn salons_measure(
    sim: &Simulator,
    daemon: &mut Daemon,
    companies: &[i64],
    sends: bool,
) -> Result<SalonsFigures, String> {
    let start = daemon.started(sim, companies).await?;
    tokio::time::sleep(SETTLE).await;
    let idle = daemon.run.memory()?;
    let idle_sockets = daemon.run.sockets();
    let sends = if sends {
        Some(one_each(sim, daemon, companies).await?)
    } else {
        None
    };
    Ok(SalonsFigures {
        start,
        idle,
        idle_sockets,
        sends,
        stopped: Stopped {
            took: Duration::ZERO,
            status: None,
        },
        warnings: Vec::new(),
    })
}

/// One booking per salon, pushed by YClients' webhook (so no poll is awaited):
/// each notice must come from its salon's own number; all are delivered.
async fn one_each(
    sim: &Simulator,
    daemon: &mut Daemon,
    companies: &[i64],
) -> Result<SendFigures, String> {
    daemon.statuses(sim, vec!["delivered"]);
    attach(daemon.run.pid).await?;
    let url = daemon.url(&format!("/webhooks/yclients/{WEBHOOK_TOKEN}"));
    sim.change(|w| {
        w.webhooks = Some(WebhookSender {
            url,
            update_repeats: 1,
        })
    });
    let n = companies.len();
    let expected: HashMap<String, String> = companies
        .iter()
        .enumerate()
        .map(|(i, c)| (phone(i), number(*c)))
        .collect();
    let started = Instant::now();
    for (i, c) in companies.iter().enumerate() {
        sim.create(Booking::by_admin(*c, "Анна", &phone(i), visit(i)));
    }
    let sent: Vec<SentMessage> = daemon
        .run
        .expect_world(sim, PATIENCE, "one notice from each salon", |w| {
            (w.messages.len() >= n).then(|| w.messages.clone())
        })
        .await?;
    let took = started.elapsed();
    let from_own = sent
        .iter()
        .filter(|m| expected.get(&m.phone) == Some(&m.sender))
        .count();
    let (sms_rows, decided) = daemon.sms_decided(n as i64).await?;
    let (after, sockets) = (daemon.run.memory()?, daemon.run.sockets());
    let last_sent = started + took;
    let mut under_goal = None;
    let mut later = None;
    loop {
        let now = Instant::now();
        let memory = daemon.run.memory()?;
        if under_goal.is_none() && memory.rss_kib < GOAL_KIB {
            under_goal = Some(now - last_sent);
        }
        if later.is_none() && now >= decided + LATER {
            later = Some((memory, daemon.run.sockets()));
        }
        if later.is_some() && now >= last_sent + MINUTE {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let (later, later_sockets) = later.expect("read before the loop ends");
    Ok(SendFigures {
        took,
        from_own,
        mismatched: sent.len() - from_own,
        messages: sent.len(),
        after,
        sockets,
        later,
        later_sockets,
        minute: daemon.run.memory()?,
        under_goal,
        sms_rows,
        sms: sim.world().sms.len(),
    })
}

/// `BENCH_ATTACH="heaptrack -p"`: that command started with the daemon's pid
/// before the burst (a profiler attaching), and a few seconds given it.
async fn attach(pid: u32) -> Result<(), String> {
    let Ok(command) = std::env::var("BENCH_ATTACH") else {
        return Ok(());
    };
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{command} {pid} >&2 &"))
        .status()
        .map_err(|e| format!("BENCH_ATTACH: {e}"))?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    Ok(())
}

// ------------------------------------------------------------------ fallback

struct FallbackFigures {
    start: Start,
    /// Past `after_ms`, ms, of each silent client's first SMS.
    lateness: Vec<f64>,
    /// Booking made → its notice accepted by WhatsApp, ms.
    to_notice: Vec<f64>,
    /// SMS per client → how many clients got that many, the silent and the others.
    silent_counts: BTreeMap<usize, usize>,
    heard_counts: BTreeMap<usize, usize>,
    silent: usize,
    messages: usize,
    /// Clients who got more than one WhatsApp notice.
    messages_repeated: usize,
    /// Every SMS the simulated SMS.ru accepted.
    sms_total: usize,
    /// From the first booking made: the last made, the last notice sent, the last
    /// SMS sent, every SMS row decided.
    made: Duration,
    last_notice: Duration,
    last_sms: Duration,
    decided: Duration,
    sms_rows: BTreeMap<String, i64>,
    deliveries: String,
    fallback_metrics: String,
    callbacks_refused: usize,
    memory: Memory,
    cpu: Duration,
    stopped: Option<Stopped>,
    warnings: Vec<String>,
}

async fn fallback(s: &Scale) -> Result<FallbackFigures, String> {
    let companies: Vec<i64> = (0..s.salons).map(|i| FIRST_COMPANY + i as i64).collect();
    let sim = start_sim(&companies).await?;
    let mut daemon = Daemon::spawn(
        &sim,
        &companies,
        1_000,
        &format!("cursor_overlap_ms = {OVERLAP_MS}"),
    )?;
    let result = fallback_measure(s, &sim, &mut daemon, &companies).await;
    let (mut figures, stopped) = daemon.run.finish(&sim, result).await?;
    figures.stopped = Some(stopped);
    figures.warnings = daemon.run.warnings();
    Ok(figures)
}

async fn fallback_measure(
    s: &Scale,
    sim: &Simulator,
    daemon: &mut Daemon,
    companies: &[i64],
) -> Result<FallbackFigures, String> {
    let start = daemon.started(sim, companies).await?;
    daemon.statuses(sim, vec!["sent", "delivered"]);
    // Every tenth client's WhatsApp never delivers.
    let silent = |i: usize| i % 10 == 9;
    sim.change(|w| {
        w.undelivered_phones = (0..s.notices).filter(|i| silent(*i)).map(phone).collect();
    });
    let started = Instant::now();
    let mut created = Vec::with_capacity(s.notices);
    let tick = Duration::from_millis(100);
    let per_tick = (s.pace / 10).max(1);
    for (k, first) in (0..s.notices).step_by(per_tick).enumerate() {
        tokio::time::sleep_until((started + tick * k as u32).into()).await;
        for i in first..(first + per_tick).min(s.notices) {
            let company = companies[i % companies.len()];
            sim.create(Booking::by_admin(company, "Анна", &phone(i), visit(i)));
            created.push(Utc::now());
        }
    }
    let made = started.elapsed();
    let n = s.notices;
    daemon
        .run
        .expect_world(sim, PATIENCE, "every notice sent", |w| {
            (w.messages.len() >= n).then_some(())
        })
        .await?;
    let (sms_rows, decided) = daemon.sms_decided(n as i64).await?;
    let status = support::get_json(&daemon.url("/status")).await?;
    let (_, metrics) = support::get(&daemon.url("/metrics")).await?;
    let fallback_metrics = String::from_utf8_lossy(&metrics)
        .lines()
        .filter(|l| l.starts_with("booking_monitor_fallback_total"))
        .map(|l| l.trim_start_matches("booking_monitor_fallback_total"))
        .collect::<Vec<_>>()
        .join(", ");
    let (memory, cpu) = (daemon.run.memory()?, daemon.run.cpu()?);
    let w = sim.world();
    let since = |at: chrono::DateTime<Utc>| {
        let ago = (Utc::now() - at).to_std().unwrap_or_default();
        started.elapsed().saturating_sub(ago)
    };
    let last_notice = w.messages.iter().map(|m| m.at).max().map(since);
    let last_sms = w.sms.iter().map(|m| m.at).max().map(since);
    let mut first_message: HashMap<&str, &SentMessage> = HashMap::new();
    for m in &w.messages {
        first_message.entry(m.phone.as_str()).or_insert(m);
    }
    let mut sms: HashMap<&str, Vec<&SentSms>> = HashMap::new();
    for m in &w.sms {
        sms.entry(m.phone.as_str()).or_default().push(m);
    }
    let mut f = FallbackFigures {
        start,
        lateness: Vec::new(),
        to_notice: Vec::new(),
        silent_counts: BTreeMap::new(),
        heard_counts: BTreeMap::new(),
        silent: 0,
        messages: w.messages.len(),
        messages_repeated: {
            let mut per: HashMap<&str, usize> = HashMap::new();
            for m in &w.messages {
                *per.entry(m.phone.as_str()).or_default() += 1;
            }
            per.values().filter(|k| **k > 1).count()
        },
        sms_total: w.sms.len(),
        made,
        last_notice: last_notice.unwrap_or_default(),
        last_sms: last_sms.unwrap_or_default(),
        decided: decided - started,
        sms_rows,
        deliveries: status
            .get("deliveries")
            .map(Value::to_string)
            .unwrap_or_default(),
        fallback_metrics,
        callbacks_refused: w.pushed.iter().filter(|p| p.status != 200).count(),
        memory,
        cpu,
        stopped: None,
        warnings: Vec::new(),
    };
    // One creation time per booking, in the order made: the `i`th is `phone(i)`'s.
    for (i, made_at) in created.iter().enumerate() {
        let phone = phone(i);
        let got = sms.get(phone.as_str()).map_or(&[][..], Vec::as_slice);
        if let Some(notice) = first_message.get(phone.as_str()) {
            f.to_notice.push(support::ms(notice.at - *made_at));
        }
        if silent(i) {
            f.silent += 1;
            *f.silent_counts.entry(got.len()).or_default() += 1;
            if let (Some(first), Some(notice)) = (got.first(), first_message.get(phone.as_str())) {
                f.lateness
                    .push(support::ms(first.at - notice.at) - AFTER_MS as f64);
            }
        } else {
            *f.heard_counts.entry(got.len()).or_default() += 1;
        }
    }
    Ok(f)
}

// -------------------------------------------------------------------- report

/// What a size's starts come to: medians.
struct Size {
    ready: Duration,
    idle: Memory,
}

fn median(values: &[Duration]) -> Duration {
    let ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    Duration::from_secs_f64(percentile(&sorted(&ms), 50.0) / 1000.0)
}

fn spread(values: &[Duration]) -> String {
    let ms: Vec<f64> = values.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    let v = sorted(&ms);
    if v.len() == 1 {
        return format!("{:.0} ms", v[0]);
    }
    format!(
        "median {:.0} ms ({:.0}–{:.0} ms)",
        percentile(&v, 50.0),
        v[0],
        v[v.len() - 1]
    )
}

fn counts_text(counts: &BTreeMap<usize, usize>) -> String {
    counts
        .iter()
        .map(|(sms, clients)| format!("{clients} got {sms}"))
        .collect::<Vec<_>>()
        .join(", ")
}

trait Parts {
    fn salons(&mut self, n: usize, starts: Vec<Result<SalonsFigures, String>>) -> Option<Size>;
    fn compare(&mut self, many: usize, one: &Size, big: &Size);
    fn fallback(&mut self, s: &Scale, result: Result<FallbackFigures, String>);
}

impl Parts for Report {
    fn salons(&mut self, n: usize, starts: Vec<Result<SalonsFigures, String>>) -> Option<Size> {
        let l = if n == 1 {
            "[1 salon, its own sender]".to_string()
        } else {
            format!("[{n} salons, each its own sender]")
        };
        let tried = starts.len();
        let mut ok = Vec::new();
        for (i, result) in starts.into_iter().enumerate() {
            if let Some(f) = self.figures(result, |e| format!("{l} start {}: {e}", i + 1)) {
                ok.push(f);
            }
        }
        if ok.is_empty() {
            return None;
        }
        let times = |pick: fn(&Start) -> Duration| -> Vec<Duration> {
            ok.iter().map(|f| pick(&f.start)).collect()
        };
        let ready = times(|s| s.ready);
        self.row(
            format!("{l} start-up: spawn → `/readyz` 200"),
            format!("**{}**", spread(&ready)),
            format!(
                "{} of {tried} starts, a fresh SQLite database each; spawn → `/healthz` 200 (config read, database migrated, HTTP up): {}; → every salon's first poll answered by YClients: {}; CPU used by `/readyz` 200: {}",
                ok.len(),
                spread(&times(|s| s.healthz)),
                spread(&times(|s| s.first_round)),
                spread(&times(|s| s.cpu))
            ),
        );
        let mut idle: Vec<(Memory, usize)> = ok.iter().map(|f| (f.idle, f.idle_sockets)).collect();
        idle.sort_by_key(|(m, _)| m.rss_kib);
        let (mid, sockets) = idle[idle.len() / 2];
        self.row(
            format!("{l} idle memory"),
            format!("**{}** VmRSS", mib(mid.rss_kib)),
            format!(
                "{} s after `/readyz` 200, the start with the median VmRSS ({}–{} over the starts): {} anonymous, {} file pages, {} threads, {sockets} sockets",
                SETTLE.as_secs(),
                mib(idle[0].0.rss_kib),
                mib(idle[idle.len() - 1].0.rss_kib),
                mib(mid.anon_kib),
                mib(mid.file_kib),
                mid.threads,
            ),
        );
        for s in ok.iter().filter_map(|f| f.sends.as_ref()) {
            self.row(
                format!("{l} then one booking per salon, pushed by webhook"),
                format!(
                    "**{} of {n} notices from the salon's own number, {} from another** in {}",
                    s.from_own,
                    s.mismatched,
                    millis(s.took)
                ),
                format!(
                    "booking made → every notice accepted by WhatsApp (1 s grace delay); Meta reported them delivered, so SMS rows: {}, SMS sent: {}",
                    status_text(&s.sms_rows),
                    s.sms,
                ),
            );
            self.row(
                format!("{l} memory once every sender has sent"),
                format!("{} VmRSS, {} sockets", mib(s.after.rss_kib), s.sockets),
                format!(
                    "{} anonymous, peak {}; {} s later (past the HTTP client's 15 s keep-alive): {} VmRSS, {} anonymous, {} sockets",
                    mib(s.after.anon_kib),
                    mib(s.after.hwm_kib),
                    LATER.as_secs(),
                    mib(s.later.rss_kib),
                    mib(s.later.anon_kib),
                    s.later_sockets
                ),
            );
            let back = match s.under_goal {
                Some(after) => format!(
                    "under {} {} after the last notice",
                    mib(GOAL_KIB),
                    secs(after)
                ),
                None => format!("not under {} within {} s", mib(GOAL_KIB), MINUTE.as_secs()),
            };
            self.row(
                format!("{l} memory a minute after the last notice"),
                format!("**{}** VmRSS", mib(s.minute.rss_kib)),
                format!(
                    "{} anonymous, {} threads; {back} (goal: under {} within {} s)",
                    mib(s.minute.anon_kib),
                    s.minute.threads,
                    mib(GOAL_KIB),
                    MINUTE.as_secs()
                ),
            );
            if s.under_goal.is_none_or(|t| t > MINUTE) {
                self.failures.push(format!(
                    "{l} memory {} a minute after the last notice; goal under {}",
                    mib(s.minute.rss_kib),
                    mib(GOAL_KIB)
                ));
            }
            if s.from_own != n || s.mismatched > 0 || s.messages != n || s.sms > 0 {
                self.failures.push(format!(
                    "{l} {} of {n} notices from the salon's own number, {} from another, {} messages in all, {} SMS (expected {n}, 0, {n}, 0)",
                    s.from_own, s.mismatched, s.messages, s.sms
                ));
            }
        }
        let stops: Vec<Duration> = ok.iter().map(|f| f.stopped.took).collect();
        let failed: Vec<String> = ok
            .iter()
            .filter(|f| !f.stopped.ok())
            .map(|f| f.stopped.describe())
            .collect();
        self.row(
            format!("{l} SIGTERM → exit"),
            spread(&stops),
            if failed.is_empty() {
                "exit code 0 every time".to_string()
            } else {
                failed.join("; ")
            },
        );
        if !failed.is_empty() {
            self.failures.push(format!(
                "{l} the daemon did not exit 0 on SIGTERM: {}",
                failed.join("; ")
            ));
        }
        for (i, f) in ok.iter().enumerate() {
            self.ending(&format!("{l} start {}", i + 1), None, &f.warnings);
        }
        Some(Size {
            ready: median(&ready),
            idle: mid,
        })
    }

    fn compare(&mut self, many: usize, one: &Size, big: &Size) {
        let per = |a: u64, b: u64| (b as f64 - a as f64) / (many - 1) as f64;
        self.row(
            format!("{many} salons against 1"),
            format!(
                "start-up ×{:.1}; **{:.1} KiB VmRSS per extra salon**",
                big.ready.as_secs_f64() / one.ready.as_secs_f64().max(1e-6),
                per(one.idle.rss_kib, big.idle.rss_kib)
            ),
            format!(
                "{:.1} KiB anonymous per extra salon; medians: {} against {} to ready, {} against {} VmRSS",
                per(one.idle.anon_kib, big.idle.anon_kib),
                millis(big.ready),
                millis(one.ready),
                mib(big.idle.rss_kib),
                mib(one.idle.rss_kib)
            ),
        );
    }

    fn fallback(&mut self, s: &Scale, result: Result<FallbackFigures, String>) {
        let l = format!(
            "[fallback, {} notices, {} salons, 10 % never delivered]",
            s.notices, s.salons
        );
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        let one = f.silent_counts.get(&1).copied().unwrap_or(0);
        let duplicates: usize = f
            .silent_counts
            .iter()
            .filter(|(k, _)| **k > 1)
            .map(|(_, v)| v)
            .sum();
        let wrong: usize = f
            .heard_counts
            .iter()
            .filter(|(k, _)| **k > 0)
            .map(|(_, v)| v)
            .sum();
        self.row(
            format!("{l} SMS sent / never delivered; duplicates; WhatsApp sends"),
            format!(
                "**{} SMS for {} never delivered ({one} once); {} duplicate SMS; {} WhatsApp sends**",
                f.sms_total,
                f.silent,
                f.sms_total.saturating_sub(one),
                f.messages
            ),
            format!(
                "duplicate SMS: every SMS past the first to a silent client, and any to a delivered one ({duplicates} silent clients got more than one, {wrong} delivered clients any); WhatsApp: {} notices for {} bookings, {} clients with more than one",
                f.messages,
                s.notices,
                f.messages_repeated
            ),
        );
        let late = sorted(&f.lateness);
        let worst = late.last().copied().unwrap_or(f64::NAN);
        let slack = SLACK.as_secs_f64() * 1000.0;
        let over = late.iter().filter(|v| **v > slack).count();
        let early = late.iter().filter(|v| **v < 0.0).count();
        self.row(
            format!("{l} SMS lateness past `after_ms` ({AFTER_MS} ms)"),
            format!(
                "**worst {:.0} ms, p99 {:.0} ms**, p50 {:.0} ms",
                worst,
                percentile(&late, 99.0),
                percentile(&late, 50.0)
            ),
            format!(
                "goal ≤ {} ms: {over} over, {early} early; from WhatsApp accepting the notice to SMS.ru accepting its SMS, as the simulator saw them; {} of {} silent clients",
                slack,
                late.len(),
                f.silent
            ),
        );
        let to_notice = sorted(&f.to_notice);
        self.row(
            format!("{l} booking made → notice sent"),
            format!(
                "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
                percentile(&to_notice, 50.0),
                percentile(&to_notice, 99.0),
                percentile(&to_notice, 100.0)
            ),
            format!(
                "the 1 s grace delay (from YClients' creation stamp, rounded up to its second), the wait for the next 1 s poll, the send: what the SMS rows queue behind; {} bookings a second",
                s.pace
            ),
        );
        self.row(
            format!("{l} SMS per client"),
            format!(
                "**never delivered: {}; delivered: {}**",
                counts_text(&f.silent_counts),
                counts_text(&f.heard_counts)
            ),
            format!(
                "{one} of {} silent clients got exactly one SMS, {duplicates} more than one, {wrong} delivered clients any; `/status` SMS rows: {}; deliveries: {}; `booking_monitor_fallback_total`: {}",
                f.silent,
                status_text(&f.sms_rows),
                f.deliveries,
                f.fallback_metrics
            ),
        );
        self.row(
            format!("{l} time taken"),
            format!("{} until every SMS row was decided", secs(f.decided)),
            format!(
                "from the first booking: the last made at {}, the last notice sent at {}, the last SMS at {}; {} notices sent; ready {} after spawn; daemon CPU {}, peak {} VmHWM; {} status callbacks not answered 200",
                secs(f.made),
                secs(f.last_notice),
                secs(f.last_sms),
                f.messages,
                millis(f.start.ready),
                secs(f.cpu),
                mib(f.memory.hwm_kib),
                f.callbacks_refused
            ),
        );
        if one != f.silent
            || duplicates > 0
            || wrong > 0
            || f.sms_total != f.silent
            || f.messages != s.notices
            || f.messages_repeated > 0
        {
            self.failures.push(format!(
                "{l} {one} of {} silent clients got one SMS, {duplicates} more than one, {wrong} delivered clients got some, {} SMS in all; {} notices for {}, {} clients with more than one",
                f.silent, f.sms_total, f.messages, s.notices, f.messages_repeated
            ));
        }
        if over > 0 || early > 0 {
            self.failures.push(format!(
                "{l} {over} SMS later than after_ms + {} s, {early} before after_ms",
                SLACK.as_secs()
            ));
        }
        if f.callbacks_refused > 0 {
            self.problems.push(format!(
                "{l} {} status callbacks were not answered 200",
                f.callbacks_refused
            ));
        }
        self.ending(&l, f.stopped.as_ref(), &f.warnings);
    }
}
