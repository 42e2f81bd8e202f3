//! `cargo bench --bench lifecycle`: what the booking lifecycle costs in YClients
//! requests and how late its notices are, measured on the real release binary
//! (`booking-monitor run --config <tmp>/config.toml`) against the crate's simulator
//! on 127.0.0.1, as `benches/footprint.rs` does.
//!
//! Three parts, one after another:
//! * `requests`: 200 companies at the production timings (polls every 60 s, a 30 s
//!   grace delay, 5 requests/s and 200/min): bookings by an administrator spread
//!   over the companies for 3 minutes, a third of them moved once their
//!   confirmation arrived; every YClients request the simulator answered is
//!   counted, and the re-reads (`GET /record`) are set against the notices sent.
//! * `burst`: 5,000 online bookings whose day-before reminder falls due at the same
//!   second, a WhatsApp answering in 50 ms (`World::whatsapp_latency`), with
//!   `whatsapp.max_concurrent_sends` 4 and then 8: how long until the last
//!   reminder, duplicates, and the peak YClients traffic.
//! * `lateness`: 1 company (polls every 500 ms, 1 s delay), 100 bookings, some moved,
//!   some deleted, some with an hours-before reminder due within a minute:
//!   sent − first due per kind, measured on the simulator's side.
//!
//! Every notice kind gets a one-line template whose first word is the kind, so the
//! simulator's message log tells the kinds apart; every booking has its own phone.
//!
//! Prints a markdown table (figure | value | note). `BENCH_QUICK=1` shrinks it to a
//! smoke run of under a minute (the three parts then run side by side);
//! `BENCH_ONLY=requests|burst|lateness` runs one part. Exits 1 when a figure could
//! not be measured or a daemon did not exit 0.

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, ConfigParts, Simulator, World};
use chrono::{DateTime, Days, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use support::{
    first_page, ms, peak_in_window, percentile, secs, sorted, start_sim, Report, Running, Stopped,
    ZONE,
};

/// One line per kind, its first word the kind: the simulator's log says which went out.
const MESSAGES: &str = "[messages]\n\
    booking_created = \"created {client_name} {date} {time}\"\n\
    booking_changed = \"changed {client_name}: {changes}; {date} {time}\"\n\
    booking_cancelled = \"cancelled {client_name} {date} {time}\"\n\
    reminder_day_before = \"reminder_day_before {client_name} {date} {time}\"\n\
    reminder_hours_before = \"reminder_hours_before {client_name} {time}\"\n";

// ------------------------------------------------------------------- scales

struct RequestsScale {
    companies: usize,
    poll_ms: u64,
    delay_ms: u64,
    bookings: usize,
    /// Bookings are made evenly from `book_from` to `book_until` after the spawn,
    /// each for a company already monitored (its first poll answered).
    book_from: Duration,
    book_until: Duration,
    /// Every `move_every`-th booking is moved once its confirmation arrived, until
    /// `move_until` after the spawn.
    move_every: usize,
    move_until: Duration,
    /// The most the part waits for the notices, after the spawn.
    deadline: Duration,
    settle: Duration,
}

struct BurstScale {
    bookings: usize,
    companies: usize,
    poll_ms: u64,
    /// The reminders fall due this long after the bookings are made.
    lead: Duration,
    latency: Duration,
    concurrency: Vec<u32>,
    /// How long after the due time the part waits for the last reminder.
    patience: Duration,
}

struct LateScale {
    bookings: usize,
    pace: Duration,
    /// The first hours-before reminder falls due this long after the first booking,
    /// the next ones a second apart.
    reminder_at: Duration,
    poll_ms: u64,
    delay_ms: u64,
}

struct Scale {
    requests: RequestsScale,
    burst: BurstScale,
    late: LateScale,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        if quick {
            Scale {
                requests: RequestsScale {
                    companies: 8,
                    poll_ms: 4_000,
                    delay_ms: 1_000,
                    bookings: 24,
                    book_from: Duration::from_secs(1),
                    book_until: Duration::from_secs(7),
                    move_every: 3,
                    move_until: Duration::from_secs(12),
                    deadline: Duration::from_secs(35),
                    settle: Duration::from_secs(1),
                },
                burst: BurstScale {
                    bookings: 300,
                    companies: 2,
                    poll_ms: 2_000,
                    lead: Duration::from_secs(12),
                    latency: Duration::from_millis(50),
                    concurrency: vec![4],
                    patience: Duration::from_secs(30),
                },
                late: LateScale {
                    bookings: 30,
                    pace: Duration::from_millis(100),
                    reminder_at: Duration::from_secs(10),
                    poll_ms: 500,
                    delay_ms: 1_000,
                },
            }
        } else {
            Scale {
                requests: RequestsScale {
                    companies: 200,
                    poll_ms: 60_000,
                    delay_ms: 30_000,
                    bookings: 240,
                    book_from: Duration::from_secs(5),
                    book_until: Duration::from_secs(180),
                    move_every: 3,
                    move_until: Duration::from_secs(210),
                    deadline: Duration::from_secs(400),
                    settle: Duration::from_secs(5),
                },
                burst: BurstScale {
                    bookings: 5_000,
                    companies: 5,
                    poll_ms: 5_000,
                    lead: Duration::from_secs(60),
                    latency: Duration::from_millis(50),
                    concurrency: vec![4, 8],
                    patience: Duration::from_secs(300),
                },
                late: LateScale {
                    bookings: 100,
                    pace: Duration::from_millis(100),
                    reminder_at: Duration::from_secs(40),
                    poll_ms: 500,
                    delay_ms: 1_000,
                },
            }
        }
    }
}

fn main() -> ExitCode {
    let quick = support::quick();
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if !["", "requests", "burst", "lateness"].contains(&only.as_str()) {
        eprintln!("BENCH_ONLY={only}: expected requests, burst or lateness");
        return ExitCode::FAILURE;
    }
    let scale = Scale::new(quick);
    let started = Instant::now();
    let mut report = Report::default();
    actix_rt::System::new().block_on(bench(&scale, &only, quick, &mut report));
    report.print(quick, started.elapsed());
    report.exit_code()
}

async fn bench(scale: &Scale, only: &str, quick: bool, report: &mut Report) {
    let run = |part: &str| only.is_empty() || only == part;
    let requests = async {
        if run("requests") {
            Some(requests_part(&scale.requests).await)
        } else {
            None
        }
    };
    let burst = async {
        let mut out = Vec::new();
        if run("burst") {
            for &c in &scale.burst.concurrency {
                out.push((c, burst_part(&scale.burst, c).await));
            }
        }
        out
    };
    let late = async {
        if run("lateness") {
            Some(lateness_part(&scale.late).await)
        } else {
            None
        }
    };
    let (requests, burst, late) = if quick {
        // A smoke run: side by side, each against its own simulator.
        tokio::join!(requests, burst, late)
    } else {
        let r = requests.await;
        let b = burst.await;
        let l = late.await;
        (r, b, l)
    };
    if let Some(r) = requests {
        report.requests(&scale.requests, r);
    }
    for (c, b) in burst {
        report.burst(&scale.burst, c, b);
    }
    if let Some(l) = late {
        report.lateness(&scale.late, l);
    }
}

// ---------------------------------------------------------------- the daemon

/// `[notifications]` with these lines, the one-line templates, and the rest.
fn tables(notifications: &str) -> String {
    format!("[notifications]\n{notifications}\n\n{MESSAGES}\n")
}

/// How a part's daemon ended: its stop, its WARN-or-worse log lines, its outbox.
#[derive(Default)]
struct Ended {
    stopped: Option<Stopped>,
    warnings: Vec<String>,
    outbox: String,
}

/// Spawns the daemon against `sim`, measures, then stops both: the figures and how
/// the daemon ended.
async fn with_daemon<F>(
    sim: &Simulator,
    companies: &[i64],
    parts: &ConfigParts,
    measure: impl AsyncFnOnce(&mut Running) -> Result<F, String>,
) -> Result<(F, Ended), String> {
    let mut daemon = Running::spawn(sim, companies, parts)?;
    let result = measure(&mut daemon).await;
    let (f, stopped) = daemon.finish(sim, result).await?;
    let ended = Ended {
        stopped: Some(stopped),
        warnings: daemon.warnings(),
        outbox: support::outbox_counts(&daemon.db_path()),
    };
    Ok((f, ended))
}

fn zone() -> Tz {
    ZONE.parse().expect("a known zone")
}

fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    at - chrono::Duration::nanoseconds(at.timestamp_subsec_nanos() as i64)
}

/// The salon-local wall clock of an instant, to the second.
fn local(at: DateTime<Utc>) -> NaiveDateTime {
    whole_second(at).with_timezone(&zone()).naive_local()
}

fn salon_tomorrow_at(hour: u32) -> NaiveDateTime {
    (Utc::now().with_timezone(&zone()).date_naive() + Days::new(1))
        .and_time(NaiveTime::from_hms_opt(hour, 0, 0).expect("a time"))
}

// ---------------------------------------------------- what the simulator saw

/// The kind a message announces: its first word (see `MESSAGES`).
fn kind_of(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or("")
}

/// YClients traffic by endpoint, as the simulator logged it.
#[derive(Debug, Default, Clone)]
struct Traffic {
    total: usize,
    /// Record-list pages asked with `changed_after`, and how many were first pages.
    changed_pages: usize,
    polls: usize,
    /// Record-list pages of the baseline (`start_date`/`end_date`).
    baseline_pages: usize,
    company_gets: usize,
    /// `GET /record/{company}/{record}`: (record, when answered).
    rereads: Vec<(i64, Instant)>,
    failures: usize,
    peak_minute: usize,
    peak_second: usize,
}

fn traffic(world: &World) -> Traffic {
    let mut t = Traffic::default();
    let mut times = Vec::new();
    for r in world
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
    {
        t.total += 1;
        times.push(r.at);
        if r.status != 200 {
            t.failures += 1;
        }
        if r.path.starts_with("/api/v1/records/") {
            if r.query.contains("changed_after") {
                t.changed_pages += 1;
                if first_page(&r.query) {
                    t.polls += 1;
                }
            } else {
                t.baseline_pages += 1;
            }
        } else if r.path.starts_with("/api/v1/company/") {
            t.company_gets += 1;
        } else if let Some(rest) = r.path.strip_prefix("/api/v1/record/") {
            let record = rest
                .split_once('/')
                .and_then(|(_, id)| id.parse().ok())
                .unwrap_or(0);
            t.rereads.push((record, r.at));
        }
    }
    t.peak_minute = peak_in_window(&times, Duration::from_secs(60));
    t.peak_second = peak_in_window(&times, Duration::from_secs(1));
    t
}

/// The company of each record-list request asked with `changed_after` from
/// `requests[from..]`: a company is monitored once its first poll's second request
/// (after the baseline) was answered.
fn newly_polled(world: &World, from: usize) -> Vec<i64> {
    world.requests[from.min(world.requests.len())..]
        .iter()
        .filter(|r| r.query.contains("changed_after"))
        .filter_map(|r| r.path.strip_prefix("/api/v1/records/")?.parse().ok())
        .collect()
}

/// Messages beyond the first per (phone, kind).
fn duplicates<'a>(messages: impl Iterator<Item = (&'a str, &'a str)>) -> usize {
    let mut count: HashMap<(&str, &str), usize> = HashMap::new();
    for (phone, kind) in messages {
        *count.entry((phone, kind)).or_default() += 1;
    }
    count.values().map(|n| n - 1).sum()
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

fn ms_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    ms(to - from)
}

// ------------------------------------------------------------------ requests

/// One booking the bench made and what became of it.
struct Made {
    company: i64,
    record: i64,
    visit: NaiveDateTime,
    created: DateTime<Utc>,
    moved: Option<DateTime<Utc>>,
    created_sent: Option<DateTime<Utc>>,
    changed_sent: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct RequestsFigures {
    run: Duration,
    /// Spawn → every company's first poll answered.
    first_round: Option<Duration>,
    bookings: usize,
    moved: usize,
    created_sent: usize,
    changed_sent: usize,
    other_messages: usize,
    duplicates: usize,
    traffic: Traffic,
    /// Re-reads before the booking's confirmation went out, and after it.
    rereads_before_confirmation: usize,
    rereads_after_confirmation: usize,
    created_lateness: Vec<f64>,
    changed_lateness: Vec<f64>,
    cpu: Duration,
    ended: Ended,
}

async fn requests_part(s: &RequestsScale) -> Result<RequestsFigures, String> {
    let companies: Vec<i64> = (0..s.companies).map(|i| 100_001 + i as i64).collect();
    let sim = start_sim(&companies).await?;
    let parts = ConfigParts {
        monitor: support::monitor(s.poll_ms, s.delay_ms),
        tables: tables(""),
        ..ConfigParts::default()
    };
    let measure = async |daemon: &mut Running| requests_measure(s, &sim, daemon).await;
    let (f, ended) = with_daemon(&sim, &companies, &parts, measure).await?;
    Ok(RequestsFigures { ended, ..f })
}

async fn requests_measure(
    s: &RequestsScale,
    sim: &Simulator,
    daemon: &mut Running,
) -> Result<RequestsFigures, String> {
    let spawned = daemon.spawned;
    let anchor = Anchor::now();
    let mut f = RequestsFigures::default();
    let mut monitored: Vec<i64> = Vec::new();
    let mut booked: HashMap<i64, usize> = HashMap::new();
    let mut made: Vec<Made> = Vec::new();
    let mut by_phone: HashMap<String, usize> = HashMap::new();
    let (mut seen_requests, mut seen_messages) = (0, 0);
    let hour = chrono::Duration::hours(1);
    let book_span = s.book_until.saturating_sub(s.book_from);
    loop {
        daemon.alive("the requests part")?;
        let elapsed = spawned.elapsed();
        let (polled, messages) = {
            let w = sim.world();
            let polled = newly_polled(&w, seen_requests);
            seen_requests = w.requests.len();
            let messages: Vec<(String, String, DateTime<Utc>)> = w.messages[seen_messages..]
                .iter()
                .map(|m| (m.phone.clone(), kind_of(&m.text).to_string(), m.at))
                .collect();
            seen_messages = w.messages.len();
            (polled, messages)
        };
        for company in polled {
            if !monitored.contains(&company) {
                monitored.push(company);
                if monitored.len() == s.companies {
                    f.first_round = Some(elapsed);
                }
            }
        }
        for (phone, kind, at) in messages {
            let Some(&i) = by_phone.get(&phone) else {
                f.other_messages += 1;
                continue;
            };
            let b = &mut made[i];
            match kind.as_str() {
                "created" => {
                    if b.created_sent.is_none() {
                        b.created_sent = Some(at);
                        if i % s.move_every == 0 && spawned.elapsed() < s.move_until {
                            sim.move_to(b.company, b.record, b.visit + hour);
                            b.moved = Some(Utc::now());
                        }
                    }
                }
                "changed" => {
                    b.changed_sent.get_or_insert(at);
                }
                _ => f.other_messages += 1,
            }
        }
        // The bookings due by now, each for the monitored company with the fewest.
        while made.len() < s.bookings {
            let i = made.len();
            let at = s.book_from + book_span.mul_f64(i as f64 / s.bookings as f64);
            if elapsed < at {
                break;
            }
            let Some(&company) = monitored
                .iter()
                .min_by_key(|c| booked.get(c).copied().unwrap_or(0))
            else {
                break;
            };
            *booked.entry(company).or_default() += 1;
            let phone = format!("7916{i:07}");
            let visit = salon_tomorrow_at(10) + chrono::Duration::minutes(5 * (i % 96) as i64);
            let record = sim.create(Booking::by_admin(
                company,
                &format!("Клиент {i}"),
                &phone,
                visit,
            ));
            by_phone.insert(phone, i);
            made.push(Made {
                company,
                record,
                visit,
                created: Utc::now(),
                moved: None,
                created_sent: None,
                changed_sent: None,
            });
        }
        let all_made = made.len() == s.bookings;
        let all_sent = made
            .iter()
            .all(|b| b.created_sent.is_some() && (b.moved.is_none() || b.changed_sent.is_some()));
        let moves_over = elapsed >= s.move_until
            || made
                .iter()
                .enumerate()
                .all(|(i, b)| i % s.move_every != 0 || b.moved.is_some());
        if (all_made && all_sent && moves_over) || elapsed >= s.deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(s.settle).await;
    daemon.alive("the requests part")?;
    f.run = spawned.elapsed();
    f.cpu = daemon.cpu().unwrap_or_default();

    let world = sim.world();
    f.traffic = traffic(&world);
    let all: Vec<(&str, &str)> = world
        .messages
        .iter()
        .map(|m| (m.phone.as_str(), kind_of(&m.text)))
        .collect();
    f.duplicates = duplicates(all.into_iter());
    drop(world);

    let delay = chrono::Duration::milliseconds(s.delay_ms as i64);
    let record_index: HashMap<i64, usize> = made
        .iter()
        .enumerate()
        .map(|(i, b)| (b.record, i))
        .collect();
    for (record, at) in &f.traffic.rereads {
        let at = anchor.utc(*at);
        match record_index.get(record).and_then(|i| made[*i].created_sent) {
            Some(sent) if sent <= at => f.rereads_after_confirmation += 1,
            _ => f.rereads_before_confirmation += 1,
        }
    }
    for b in &made {
        if let Some(sent) = b.created_sent {
            f.created_lateness.push(ms_between(b.created + delay, sent));
        }
        if let (Some(moved), Some(sent)) = (b.moved, b.changed_sent) {
            f.changed_lateness.push(ms_between(moved + delay, sent));
        }
    }
    f.bookings = made.len();
    f.moved = made.iter().filter(|b| b.moved.is_some()).count();
    f.created_sent = made.iter().filter(|b| b.created_sent.is_some()).count();
    f.changed_sent = made.iter().filter(|b| b.changed_sent.is_some()).count();
    Ok(f)
}

// --------------------------------------------------------------------- burst

#[derive(Default)]
struct BurstFigures {
    made_in: Duration,
    due: Option<DateTime<Utc>>,
    /// Spawn → every company's baseline and first poll answered, and that moment
    /// relative to the due time (negative: before).
    baseline_done: Option<Duration>,
    baseline_before_due: Option<f64>,
    sent: usize,
    duplicates: usize,
    wrong_kind: usize,
    /// sent − due, per reminder.
    after_due: Vec<f64>,
    sent_within_2_min: usize,
    traffic: Traffic,
    cpu: Duration,
    ended: Ended,
}

async fn burst_part(s: &BurstScale, concurrency: u32) -> Result<BurstFigures, String> {
    let companies: Vec<i64> = (0..s.companies).map(|i| 200_001 + i as i64).collect();
    let sim = start_sim(&companies).await?;
    let tz = zone();
    // The reminders' time of day, in the salon's zone; the visits are on the
    // salon's day after the one it falls on (whatever midnight does in between).
    let due = whole_second(Utc::now() + s.lead);
    let due_local = due.with_timezone(&tz);
    let visit_day = due_local.date_naive() + Days::new(1);
    let made_at = Instant::now();
    // Made and last changed ten minutes ago (YClients' clock set back): older than
    // any poll's overlap, so only the baseline brings them.
    sim.change(|w| {
        w.whatsapp_latency = s.latency;
        w.clock_skew = chrono::Duration::minutes(-10);
    });
    for i in 0..s.bookings {
        let visit = visit_day.and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("a time"))
            + chrono::Duration::minutes((i % 720) as i64);
        sim.create(Booking {
            online: true,
            ..Booking::by_admin(
                companies[i % companies.len()],
                &format!("Клиент {i}"),
                &format!("7926{i:07}"),
                visit,
            )
        });
    }
    sim.change(|w| w.clock_skew = chrono::Duration::zero());
    let made_in = made_at.elapsed();
    let parts = ConfigParts {
        monitor: format!("poll_interval_ms = {}", s.poll_ms),
        whatsapp: format!("max_concurrent_sends = {concurrency}"),
        tables: tables(&format!(
            "reminder_day_before = \"{}\"",
            due_local.format("%H:%M:%S")
        )),
        ..ConfigParts::default()
    };
    let measure =
        async |daemon: &mut Running| burst_measure(s, &sim, daemon, &companies, due).await;
    let (f, ended) = with_daemon(&sim, &companies, &parts, measure).await?;
    Ok(BurstFigures {
        made_in,
        ended,
        ..f
    })
}

async fn burst_measure(
    s: &BurstScale,
    sim: &Simulator,
    daemon: &mut Running,
    companies: &[i64],
    due: DateTime<Utc>,
) -> Result<BurstFigures, String> {
    let mut f = BurstFigures {
        due: Some(due),
        ..BurstFigures::default()
    };
    let until_due = (due - Utc::now()).to_std().unwrap_or_default();
    let all: HashSet<i64> = companies.iter().copied().collect();
    let baseline = daemon
        .await_world(sim, until_due + s.patience, "the baselines", |w| {
            let polled: HashSet<i64> = newly_polled(w, 0).into_iter().collect();
            (polled == all).then(Utc::now)
        })
        .await?;
    if let Some(at) = baseline {
        f.baseline_done = Some(daemon.spawned.elapsed());
        f.baseline_before_due = Some(ms_between(due, at));
    }
    let cpu_before = daemon.cpu().unwrap_or_default();
    let timeout = (due - Utc::now()).to_std().unwrap_or_default() + s.patience;
    let n = s.bookings;
    daemon
        .await_world(sim, timeout, "the reminders", |w| {
            (w.messages.len() >= n).then_some(())
        })
        .await?;
    // Long enough for a duplicate to show up: two polls and a send.
    tokio::time::sleep(Duration::from_millis(2 * s.poll_ms + 1_000)).await;
    daemon.alive("the burst")?;
    f.cpu = daemon.cpu().unwrap_or_default().saturating_sub(cpu_before);
    let world = sim.world();
    f.traffic = traffic(&world);
    f.sent = world.messages.len();
    f.wrong_kind = world
        .messages
        .iter()
        .filter(|m| kind_of(&m.text) != "reminder_day_before")
        .count();
    f.duplicates = duplicates(
        world
            .messages
            .iter()
            .map(|m| (m.phone.as_str(), kind_of(&m.text))),
    );
    f.after_due = world
        .messages
        .iter()
        .map(|m| ms_between(due, m.at))
        .collect();
    drop(world);
    f.sent_within_2_min = f.after_due.iter().filter(|ms| **ms <= 120_000.0).count();
    Ok(f)
}

// ------------------------------------------------------------------ lateness

/// What the bench did to one booking, and when (the simulator's clock: no skew).
struct Tracked {
    company: i64,
    record: i64,
    role: Role,
    visit: NaiveDateTime,
    created: DateTime<Utc>,
    /// When the move or the deletion was made.
    touched: Option<DateTime<Utc>>,
    /// When its hours-before reminder falls due.
    reminder_due: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Move,
    Delete,
    Remind,
    Plain,
}

const LATE_COMPANY: i64 = 4564;
const REMINDER_LEAD_HOURS: i64 = 1;

#[derive(Default)]
struct LateFigures {
    /// sent − first due, per kind, in ms.
    by_kind: BTreeMap<&'static str, Vec<f64>>,
    expected: BTreeMap<&'static str, usize>,
    messages: usize,
    duplicates: usize,
    unexpected: usize,
    traffic: Traffic,
    run: Duration,
    ended: Ended,
}

const LATE_KINDS: [&str; 4] = ["created", "changed", "cancelled", "reminder_hours_before"];

async fn lateness_part(s: &LateScale) -> Result<LateFigures, String> {
    let sim = start_sim(&[LATE_COMPANY]).await?;
    let parts = ConfigParts {
        monitor: support::monitor(s.poll_ms, s.delay_ms),
        tables: tables(&format!(
            "reminder_hours_before = {REMINDER_LEAD_HOURS}.0\nreminder_min_gap_hours = 0"
        )),
        ..ConfigParts::default()
    };
    let measure = async |daemon: &mut Running| lateness_measure(s, &sim, daemon).await;
    let (f, ended) = with_daemon(&sim, &[LATE_COMPANY], &parts, measure).await?;
    Ok(LateFigures { ended, ..f })
}

async fn lateness_measure(
    s: &LateScale,
    sim: &Simulator,
    daemon: &mut Running,
) -> Result<LateFigures, String> {
    daemon
        .await_world(sim, Duration::from_secs(30), "the first poll", |w| {
            (!newly_polled(w, 0).is_empty()).then_some(())
        })
        .await?
        .ok_or("the first poll: not within 30 s")?;
    let started = Instant::now();
    let t0 = Utc::now();
    let lead = chrono::Duration::hours(REMINDER_LEAD_HOURS);
    let mut tracked: Vec<Tracked> = Vec::new();
    let mut by_phone: HashMap<String, usize> = HashMap::new();
    let mut sent: Vec<(usize, &'static str, DateTime<Utc>)> = Vec::new();
    let mut unexpected = 0;
    let mut seen_messages = 0;
    let mut reminders = 0;
    let deadline = s.reminder_at + Duration::from_secs(60) + s.pace * s.bookings as u32;
    loop {
        daemon.alive("the lateness part")?;
        while tracked.len() < s.bookings && started.elapsed() >= s.pace * tracked.len() as u32 {
            let i = tracked.len();
            let role = match i % 5 {
                0 => Role::Move,
                1 => Role::Delete,
                2 => Role::Remind,
                _ => Role::Plain,
            };
            let (visit, reminder_due) = if role == Role::Remind {
                let due = whole_second(
                    t0 + chrono::Duration::from_std(s.reminder_at).unwrap_or_default()
                        + chrono::Duration::seconds(reminders),
                );
                reminders += 1;
                (local(due + lead), Some(due))
            } else {
                (
                    salon_tomorrow_at(10) + chrono::Duration::minutes(5 * i as i64),
                    None,
                )
            };
            let phone = format!("7903{i:07}");
            let record = sim.create(Booking::by_admin(
                LATE_COMPANY,
                &format!("Клиент {i}"),
                &phone,
                visit,
            ));
            by_phone.insert(phone, i);
            tracked.push(Tracked {
                company: LATE_COMPANY,
                record,
                role,
                visit,
                created: Utc::now(),
                touched: None,
                reminder_due,
            });
        }
        let new: Vec<(String, String, DateTime<Utc>)> = {
            let w = sim.world();
            let new = w.messages[seen_messages..]
                .iter()
                .map(|m| (m.phone.clone(), kind_of(&m.text).to_string(), m.at))
                .collect();
            seen_messages = w.messages.len();
            new
        };
        for (phone, kind, at) in new {
            let (Some(&i), Some(&kind)) = (
                by_phone.get(&phone),
                LATE_KINDS.iter().find(|k| **k == kind),
            ) else {
                unexpected += 1;
                continue;
            };
            sent.push((i, kind, at));
            let b = &mut tracked[i];
            if kind == "created" && b.touched.is_none() {
                match b.role {
                    Role::Move => sim.move_to(b.company, b.record, b.visit + lead),
                    Role::Delete => sim.delete(b.company, b.record),
                    _ => continue,
                }
                b.touched = Some(Utc::now());
            }
        }
        let expected = expected_messages(&tracked);
        if (tracked.len() == s.bookings && sent.len() >= expected) || started.elapsed() >= deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Long enough for a duplicate to show up: a poll, a delay, a send.
    tokio::time::sleep(Duration::from_millis(2 * s.poll_ms + s.delay_ms + 500)).await;
    daemon.alive("the lateness part")?;

    let delay = chrono::Duration::milliseconds(s.delay_ms as i64);
    let mut f = LateFigures {
        run: started.elapsed(),
        unexpected,
        ..LateFigures::default()
    };
    let world = sim.world();
    f.traffic = traffic(&world);
    f.messages = world.messages.len();
    f.duplicates = duplicates(
        world
            .messages
            .iter()
            .map(|m| (m.phone.as_str(), kind_of(&m.text))),
    );
    drop(world);
    let mut first: HashMap<(usize, &str), DateTime<Utc>> = HashMap::new();
    for (i, kind, at) in &sent {
        first.entry((*i, kind)).or_insert(*at);
    }
    for b_kind in LATE_KINDS {
        let expected = tracked
            .iter()
            .filter(|b| match b_kind {
                "created" => true,
                "changed" => b.role == Role::Move && b.touched.is_some(),
                "cancelled" => b.role == Role::Delete && b.touched.is_some(),
                _ => b.role == Role::Remind,
            })
            .count();
        f.expected.insert(b_kind, expected);
        f.by_kind.insert(b_kind, Vec::new());
    }
    for ((i, kind), at) in first {
        let b = &tracked[i];
        let first_due = match kind {
            "created" => Some(b.created + delay),
            "changed" | "cancelled" => b.touched.map(|t| t + delay),
            _ => b.reminder_due,
        };
        if let (Some(due), Some(list)) = (first_due, f.by_kind.get_mut(kind)) {
            list.push(ms_between(due, at));
        }
    }
    Ok(f)
}

/// Created for each, a change or cancellation for each touched, a reminder for each
/// to remind.
fn expected_messages(tracked: &[Tracked]) -> usize {
    tracked.len()
        + tracked
            .iter()
            .filter(|b| b.touched.is_some() || b.role == Role::Remind)
            .count()
}

// -------------------------------------------------------------------- report

/// p50 / p95 / max, in ms or s.
fn spread(values: &[f64]) -> String {
    let v = sorted(values);
    let show = |ms: f64| {
        if ms.abs() >= 10_000.0 {
            format!("{:.1} s", ms / 1000.0)
        } else {
            format!("{ms:.0} ms")
        }
    };
    format!(
        "p50 {} / p95 {} / max {}",
        show(percentile(&v, 50.0)),
        show(percentile(&v, 95.0)),
        show(percentile(&v, 100.0))
    )
}

impl Report {
    fn ended(&mut self, l: &str, ended: &Ended) {
        self.ending(l, ended.stopped.as_ref(), &ended.warnings);
    }

    fn requests(&mut self, s: &RequestsScale, result: Result<RequestsFigures, String>) {
        let l = format!("[requests, {} companies]", s.companies);
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        let t = &f.traffic;
        let notices = f.created_sent + f.changed_sent;
        if notices == 0 {
            self.fail(format!("{l} no notification was sent"));
            return;
        }
        self.row(
            format!("{l} setup"),
            format!(
                "{} bookings by an administrator over {}–{} s after start, {} moved after their confirmation",
                f.bookings,
                s.book_from.as_secs(),
                s.book_until.as_secs(),
                f.moved
            ),
            format!(
                "poll_interval_ms = {}, notification_delay_ms = {}{}, default 5 req/s and 200 req/min; each booking for the monitored company with the fewest so far; run {} in all; every company's first poll answered {} after start",
                s.poll_ms,
                s.delay_ms,
                if s.poll_ms == 60_000 && s.delay_ms == 30_000 {
                    " (production)"
                } else {
                    ""
                },
                secs(f.run),
                f.first_round.map(secs).unwrap_or_else(|| "never".into())
            ),
        );
        self.row(
            format!("{l} notifications sent"),
            format!(
                "{notices}: {} created + {} changed ({} duplicates)",
                f.created_sent, f.changed_sent, f.duplicates
            ),
            format!(
                "of {} bookings and {} moves; outbox at the end: {}",
                f.bookings, f.moved, f.ended.outbox
            ),
        );
        let rereads = t.rereads.len();
        let per = rereads as f64 / notices as f64;
        self.row(
            format!("{l} re-reads (GET /record) per notification"),
            format!("**{per:.3}** ({rereads} / {notices})"),
            format!(
                "goal ≤ 0.05; {} before the booking's confirmation, {} after it (for a change notice)",
                f.rereads_before_confirmation, f.rereads_after_confirmation
            ),
        );
        if per > 0.05 {
            self.problems.push(format!(
                "{l} {per:.3} re-reads per notification (goal ≤ 0.05)"
            ));
        }
        self.row(
            format!("{l} all YClients requests per notification"),
            format!("{:.2} ({} / {notices})", t.total as f64 / notices as f64, t.total),
            format!(
                "over the whole run: polling dominates and costs the same whatever the bookings ({} companies × {:.0} polls a minute = {:.0} of the 200/min budget), so this ratio falls as bookings rise",
                s.companies,
                60_000.0 / s.poll_ms as f64,
                s.companies as f64 * 60_000.0 / s.poll_ms as f64
            ),
        );
        self.row(
            format!("{l} YClients requests by endpoint"),
            format!(
                "{} total: {} polls ({} changed_after pages), {} baseline pages, {} GET /company, {} GET /record",
                t.total, t.polls, t.changed_pages, t.baseline_pages, t.company_gets, rereads
            ),
            format!(
                "{:.3} pages per poll; {} answered non-200",
                t.changed_pages as f64 / t.polls.max(1) as f64,
                t.failures
            ),
        );
        self.row(
            format!("{l} peak YClients requests in any 60 s / any 1 s"),
            format!("{} / {}", t.peak_minute, t.peak_second),
            "limits 200/min and 5/s (the limiter: 200 per 61 s)",
        );
        self.row(
            format!("{l} lateness: created, sent − (made + delay)"),
            spread(&f.created_lateness),
            format!("includes the wait for the poll that sees the booking and for the one after the due time that proves it current (a company is polled every {} s at best)", s.poll_ms as f64 / 1000.0),
        );
        self.row(
            format!("{l} lateness: changed, sent − (moved + delay)"),
            spread(&f.changed_lateness),
            "same two waits",
        );
        self.row(
            format!("{l} daemon CPU"),
            secs(f.cpu),
            format!("user+sys over the {} run", secs(f.run)),
        );
        if f.created_sent < f.bookings || f.changed_sent < f.moved {
            self.problems.push(format!(
                "{l} missing: {} confirmations and {} change notices by the end of the run",
                f.bookings - f.created_sent,
                f.moved - f.changed_sent
            ));
        }
        if f.duplicates > 0 || f.other_messages > 0 {
            self.problems.push(format!(
                "{l} {} duplicates, {} unexpected messages",
                f.duplicates, f.other_messages
            ));
        }
        self.ended(&l, &f.ended);
    }

    fn burst(&mut self, s: &BurstScale, concurrency: u32, result: Result<BurstFigures, String>) {
        let l = format!(
            "[burst, {} reminders, max_concurrent_sends = {concurrency}]",
            s.bookings
        );
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        if f.sent == 0 {
            self.fail(format!("{l} no reminder was sent"));
            return;
        }
        let v = sorted(&f.after_due);
        let last = percentile(&v, 100.0);
        self.row(
            format!("{l} setup"),
            format!(
                "{} online bookings over {} companies, made in {} ms",
                s.bookings,
                s.companies,
                f.made_in.as_millis()
            ),
            format!(
                "reminder_day_before due at {} UTC for all; poll_interval_ms = {} ({} req/min of polling); WhatsApp answers in {} ms; default limits; baseline done {} after start, {:.1} s before the due time",
                f.due.map(|d| d.format("%H:%M:%S").to_string()).unwrap_or_default(),
                s.poll_ms,
                s.companies as u64 * 60_000 / s.poll_ms,
                s.latency.as_millis(),
                f.baseline_done.map(secs).unwrap_or_else(|| "never".into()),
                -f.baseline_before_due.unwrap_or(f64::NAN) / 1000.0
            ),
        );
        self.row(
            format!("{l} due → last reminder sent"),
            format!("**{:.1} s**", last / 1000.0),
            format!(
                "goal ≤ 120 s; {} of {} sent within 120 s; first {:.1} s after the due time; {:.0} reminders/s from first to last",
                f.sent_within_2_min,
                s.bookings,
                percentile(&v, 0.0) / 1000.0,
                f.sent as f64 / ((last - percentile(&v, 0.0)) / 1000.0).max(1e-3)
            ),
        );
        self.row(
            format!("{l} sent − due"),
            spread(&f.after_due),
            "the first wait is for a poll asked after the due time (the proof that the stored booking is current)",
        );
        self.row(
            format!("{l} sent / duplicates"),
            format!("{} / {}", f.sent, f.duplicates),
            format!(
                "duplicates: messages beyond one per phone and kind (one phone per booking); {} of another kind; outbox at the end: {}",
                f.wrong_kind, f.ended.outbox
            ),
        );
        self.row(
            format!("{l} peak YClients requests in any 60 s / any 1 s"),
            format!("{} / {}", f.traffic.peak_minute, f.traffic.peak_second),
            format!(
                "limits 200 and 5; {} requests in all ({} polls, {} baseline pages, {} GET /record)",
                f.traffic.total,
                f.traffic.polls,
                f.traffic.baseline_pages,
                f.traffic.rereads.len()
            ),
        );
        self.row(
            format!("{l} daemon CPU from the baseline to the end"),
            secs(f.cpu),
            "user+sys",
        );
        if last > 120_000.0 || f.sent < s.bookings {
            self.problems.push(format!(
                "{l} {} of {} reminders sent, the last {:.1} s after the due time (goal: all within 120 s)",
                f.sent,
                s.bookings,
                last / 1000.0
            ));
        }
        if f.duplicates > 0 || f.traffic.peak_minute > 200 || f.traffic.peak_second > 5 {
            self.problems.push(format!(
                "{l} {} duplicates; peak {} requests/60 s, {} /1 s",
                f.duplicates, f.traffic.peak_minute, f.traffic.peak_second
            ));
        }
        if f.baseline_before_due.is_none_or(|ms| ms > 0.0) {
            self.problems
                .push(format!("{l} the baseline was not done before the due time"));
        }
        self.ended(&l, &f.ended);
    }

    fn lateness(&mut self, s: &LateScale, result: Result<LateFigures, String>) {
        let l = format!("[lateness, {} bookings]", s.bookings);
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        self.row(
            format!("{l} setup"),
            format!(
                "1 company, {} bookings by an administrator at {} ms intervals",
                s.bookings,
                s.pace.as_millis()
            ),
            format!(
                "poll_interval_ms = {}, notification_delay_ms = {}, default limits and proof logic; one in five moved once confirmed, one in five deleted once confirmed, one in five with a visit {REMINDER_LEAD_HOURS} h + {}–{} s away (reminder_hours_before = {REMINDER_LEAD_HOURS}, reminder_min_gap_hours = 0)",
                s.poll_ms,
                s.delay_ms,
                s.reminder_at.as_secs(),
                s.reminder_at.as_secs() + s.bookings as u64 / 5 - 1
            ),
        );
        for kind in LATE_KINDS {
            let values = f.by_kind.get(kind).cloned().unwrap_or_default();
            let expected = f.expected.get(kind).copied().unwrap_or(0);
            let first_due = match kind {
                "created" => "made + delay",
                "changed" => "moved + delay",
                "cancelled" => "deleted + delay",
                _ => "visit − lead",
            };
            if values.is_empty() {
                self.fail(format!("{l} lateness of {kind}: nothing sent"));
                continue;
            }
            self.row(
                format!("{l} lateness: {kind}"),
                spread(&values),
                format!("sent − ({first_due}); {} of {expected} sent", values.len()),
            );
            if values.len() < expected {
                self.problems
                    .push(format!("{l} {kind}: {} of {expected} sent", values.len()));
            }
        }
        self.row(
            format!("{l} messages / duplicates / re-reads"),
            format!(
                "{} / {} / {}",
                f.messages,
                f.duplicates,
                f.traffic.rereads.len()
            ),
            format!(
                "{} YClients requests ({} polls) in {}; peak {} in 1 s; {} unexpected messages; outbox: {}",
                f.traffic.total,
                f.traffic.polls,
                secs(f.run),
                f.traffic.peak_second,
                f.unexpected,
                f.ended.outbox
            ),
        );
        if f.duplicates > 0 || f.unexpected > 0 {
            self.problems.push(format!(
                "{l} {} duplicates, {} unexpected messages",
                f.duplicates, f.unexpected
            ));
        }
        self.ended(&l, &f.ended);
    }

    fn print(&self, quick: bool, took: Duration) {
        let support::Machine { cores, rustc, cpu } = support::Machine::read();
        println!();
        println!(
            "## booking-monitor lifecycle{}",
            if quick { " (BENCH_QUICK)" } else { "" }
        );
        println!();
        println!(
            "Machine: {cores} cores (nproc), {cpu}; {rustc}. {} Bench took {}.",
            if quick {
                "The parts ran side by side (a smoke run)."
            } else {
                "The parts ran one after another."
            },
            secs(took)
        );
        println!();
        self.print_table(&[]);
    }
}
