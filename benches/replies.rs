//! `cargo bench --bench replies`: clients' answers, measured on the real release
//! binary (`booking-monitor run`) against the crate's simulator on 127.0.0.1, each
//! reply a signed Cloud API webhook (`POST /webhooks/whatsapp`) as Meta sends it.
//!
//! Three parts, one after another:
//! * `latency`: bookings confirmed to their clients (`replies.ask_in = ["created"]`),
//!   then each client answers «да» (or «1», «ок») once, the answers spread over time:
//!   from the reply's POST to the simulated YClients answering the visit's
//!   `PUT /api/v1/visits/{visit_id}/{record_id}`, p50/p99/max, and every YClients
//!   request made meanwhile, sorted by kind. Twice: a reply every 100 ms with
//!   YClients' limits lifted (the daemon's own latency), and a reply every 500 ms at
//!   the default limits (5/s, 200/min: what a salon's budget allows).
//! * `throughput`: day-before reminders sent, then thousands of distinct inbound
//!   messages with 32 in flight (confirmations, questions, cancel requests, strangers):
//!   replies taken per second (each answered 200 only once committed) and the
//!   daemon's peak memory; the counts `/status` shows afterwards must match. Then
//!   up to two minutes watching the burst's staff alerts (and write-backs) go out.
//! * `day`: 500 day-before reminders (a Cloud API template with its two buttons),
//!   answered by script (confirm by button, text or 👍; cancel by button or text;
//!   questions and voice messages; silence; some confirm twice): the per-salon counts
//!   of `/status` (`replies.salons[]`) must match the script exactly, and so must
//!   the visits confirmed in YClients, the staff's Telegram and the clients' answers;
//!   a booking written more than once is reported.
//!
//! Prints a markdown table. `BENCH_QUICK=1`: a smoke run of under 1.5 minutes;
//! `BENCH_ONLY=latency|throughput|day` runs one part. Exits 1 when a figure could
//! not be measured, a check failed, or a daemon did not exit 0 on SIGTERM.

#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use booking_monitor::domain::{Kind, MatchedBy};
use booking_monitor::simulator::{Booking, ClientMessage, SentMessage, Simulator, World};
use booking_monitor::store::{self, Db};
use chrono::{Days, NaiveTime, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use support::replies::{
    burst, burst_message, committed, companies, make_bookings, monitored, puts_since, reminded,
    says, signed, spread, stop, text, yclients_kinds, zone, Daemon, Ended, Reminded, Setup,
    PATIENCE,
};
use support::{millis, percentile, secs, sorted, start_sim, Memory, Report};

/// How long the throughput part watches the effects of its burst being carried out.
const DRAIN: Duration = Duration::from_secs(120);
/// The throughput part's poll interval, and the longest a salon may go without a
/// poll while the burst's effects are carried out: the interval twice over (a poll
/// waits its turn at the budget, behind the burst's transactions).
const POLL_MS: u64 = 2_000;
const THROUGHPUT_SALONS: usize = 4;
const POLL_GAP_MAX: Duration = Duration::from_millis(2 * POLL_MS);

// ------------------------------------------------------------------- scales

struct LatencyRun {
    replies: usize,
    pace: Duration,
    poll_ms: u64,
    lifted: bool,
}

struct Scale {
    latency: Vec<LatencyRun>,
    /// Bookings reminded, then messages sent, this many in flight.
    bookings: usize,
    messages: usize,
    in_flight: usize,
    /// The day: reminders, and how long before they fall due they are made.
    day: usize,
    lead: Duration,
}

impl Scale {
    fn new(quick: bool) -> Scale {
        let n = if quick { 30 } else { 200 };
        Scale {
            latency: vec![
                LatencyRun {
                    replies: n,
                    pace: Duration::from_millis(100),
                    poll_ms: 1_000,
                    lifted: true,
                },
                LatencyRun {
                    replies: n,
                    pace: Duration::from_millis(500),
                    poll_ms: 2_000,
                    lifted: false,
                },
            ],
            bookings: if quick { 100 } else { 1_000 },
            messages: if quick { 500 } else { 5_000 },
            in_flight: 32,
            day: if quick { 100 } else { 500 },
            lead: Duration::from_secs(if quick { 10 } else { 20 }),
        }
    }
}

fn main() -> ExitCode {
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if !["", "latency", "throughput", "day"].contains(&only.as_str()) {
        eprintln!("BENCH_ONLY={only}: expected latency, throughput or day");
        return ExitCode::FAILURE;
    }
    let quick = support::quick();
    let scale = Scale::new(quick);
    let run = |part: &str| only.is_empty() || only == part;
    let started = Instant::now();
    let mut report = Report::default();
    actix_rt::System::new().block_on(async {
        if run("latency") {
            for r in &scale.latency {
                let result = latency(r).await;
                report.latency(r, result);
            }
        }
        if run("throughput") {
            let result = throughput(&scale).await;
            report.throughput(&scale, result);
        }
        if run("day") {
            let result = day(&scale).await;
            report.day(&scale, result);
        }
    });
    let support::Machine { cores, rustc, cpu } = support::Machine::read();
    println!();
    println!(
        "## booking-monitor replies{}",
        if quick { " (BENCH_QUICK)" } else { "" }
    );
    println!();
    println!(
        "Machine: {cores} cores (nproc), {cpu}; {rustc}. Bench took {}.",
        secs(started.elapsed())
    );
    println!();
    report.print_table(&[]);
    report.exit_code()
}

// ------------------------------------------------------------------- latency

struct LatencyFigures {
    /// Reply POSTed → the simulator answered its PUT, ms.
    to_put: Vec<f64>,
    /// POST → the daemon's 200 (the reply committed), ms.
    to_200: Vec<f64>,
    /// POST → the client's «Спасибо» accepted by WhatsApp, ms.
    to_thanks: Vec<f64>,
    refused: usize,
    confirmed: usize,
    kinds: BTreeMap<&'static str, usize>,
    took: Duration,
    ended: Ended,
}

async fn latency(r: &LatencyRun) -> Result<LatencyFigures, String> {
    let company = 4564;
    let sim = start_sim(&[company]).await?;
    let setup = Setup {
        companies: &[company],
        poll_ms: r.poll_ms,
        lifted: r.lifted,
        ask_in: "\"created\"",
        notifications: String::new(),
        template: false,
    };
    let mut daemon = Daemon::spawn(&sim, &setup).await?;
    let result = latency_measure(r, &sim, &mut daemon, company).await;
    let ended = stop(daemon, &sim).await;
    result.map(|f| LatencyFigures { ended, ..f })
}

async fn latency_measure(
    r: &LatencyRun,
    sim: &Simulator,
    daemon: &mut Daemon,
    company: i64,
) -> Result<LatencyFigures, String> {
    daemon
        .run
        .expect_world(sim, PATIENCE, "the first poll", |w| {
            monitored(w, &[company]).then_some(())
        })
        .await?;
    let day = Utc::now().with_timezone(&zone()).date_naive() + Days::new(2);
    let mut bookings = Vec::new();
    for i in 0..r.replies {
        let phone = format!("7916{i:07}");
        let visit = day.and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("a time"))
            + chrono::Duration::minutes(3 * i as i64);
        let record = sim.create(Booking::by_admin(company, "Анна", &phone, visit));
        bookings.push((record, phone));
    }
    let n = r.replies;
    daemon
        .run
        .expect_world(sim, PATIENCE, "the confirmations", |w| {
            (w.messages.len() >= n).then_some(())
        })
        .await?;
    committed(daemon, Kind::Created, n).await?;
    let (requests_from, messages_from) = {
        let w = sim.world();
        (w.requests.len(), w.messages.len())
    };
    let started = Instant::now();
    let words = ["да", "1", "ок", "Да!"];
    let replies = bookings.iter().enumerate().map(|(i, (_, phone))| {
        let at = started + r.pace * i as u32;
        let daemon = &*daemon;
        async move {
            actix_rt::time::sleep_until(at.into()).await;
            let (sent, sent_utc) = (Instant::now(), Utc::now());
            let code = says(daemon, phone, &text(words[i % words.len()]), None).await;
            (sent, sent_utc, sent.elapsed(), code)
        }
    });
    let sent = futures_util::future::join_all(replies).await;
    daemon
        .run
        .expect_world(sim, PATIENCE, "the PUTs and the clients' thanks", |w| {
            let puts = puts_since(w, requests_from).len();
            (puts >= n && w.messages.len() >= messages_from + n).then_some(())
        })
        .await?;
    // Two polls more: whatever the writes cause (their echo in the polls) shows.
    let polls = |w: &World| w.record_list_requests();
    let seen = polls(&sim.world());
    daemon
        .run
        .expect_world(sim, PATIENCE, "two more polls", |w| {
            (polls(w) >= seen + 2).then_some(())
        })
        .await?;
    let took = started.elapsed();
    let w = sim.world();
    let puts = puts_since(&w, requests_from);
    let mut f = LatencyFigures {
        to_put: Vec::new(),
        to_200: Vec::new(),
        to_thanks: Vec::new(),
        refused: sent.iter().filter(|s| s.3 != 200).count(),
        confirmed: bookings
            .iter()
            .filter(|(id, _)| w.record(*id).is_some_and(|r| r["attendance"] == 2))
            .count(),
        kinds: yclients_kinds(&w, requests_from),
        took,
        ended: Ended::unknown(),
    };
    for ((record, phone), (at, at_utc, answered, _)) in bookings.iter().zip(&sent) {
        if let Some(put) = puts.get(record).and_then(|p| p.first()) {
            f.to_put
                .push(put.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        }
        f.to_200.push(answered.as_secs_f64() * 1000.0);
        let thanks = w.messages[messages_from..]
            .iter()
            .find(|m| &m.phone == phone && m.text.starts_with("Спасибо"));
        if let Some(m) = thanks {
            f.to_thanks.push(support::ms(m.at - *at_utc));
        }
    }
    Ok(f)
}

// ---------------------------------------------------------------- throughput

struct ThroughputFigures {
    accepted: usize,
    sent: usize,
    took: Duration,
    before: Memory,
    after: Memory,
    cpu: Duration,
    expected: BTreeMap<&'static str, i64>,
    counts: BTreeMap<String, i64>,
    puts_during: usize,
    /// Staff alerts and answers to clients sent while the burst ran.
    alerts_during: usize,
    answers_during: usize,
    /// The staff alerts the burst called for, how many were sent within
    /// `DRAIN` after it, and when the last of those went.
    alerts_expected: usize,
    alerts_drained: usize,
    drained_in: Duration,
    puts_drained: usize,
    /// Record-list requests (the polls) from the burst's end to the drain's.
    polls_drained: usize,
    /// Each salon's polls around the burst.
    polls: PollGaps,
    ended: Ended,
}

/// The salons' polls (record-list requests) from the last one before the burst
/// to the first after its effects were carried out.
struct PollGaps {
    /// The longest time a salon went without a poll: how long, which salon, and
    /// when the gap began, from the burst's start (negative: before it).
    longest: (Duration, i64, f64),
    /// Every poll in that span, seconds from the burst's start, with the PUTs.
    timeline: String,
}

/// The polls and PUTs in `requests[from..]`, timed from `burst`, until `end`.
fn poll_gaps(world: &World, from: usize, burst: Instant, end: Instant) -> PollGaps {
    let mut by_salon: BTreeMap<i64, Vec<Instant>> = BTreeMap::new();
    let mut timeline = Vec::new();
    let at = |t: Instant| {
        if t >= burst {
            (t - burst).as_secs_f64()
        } else {
            -(burst - t).as_secs_f64()
        }
    };
    for r in &world.requests[from..] {
        let salon = r
            .path
            .strip_prefix("/api/v1/records/")
            .and_then(|c| c.parse::<i64>().ok());
        if let Some(salon) = salon {
            by_salon.entry(salon).or_default().push(r.at);
            timeline.push(format!("{:+.1} poll {salon}", at(r.at)));
        } else if r.method == "PUT" {
            timeline.push(format!("{:+.1} PUT", at(r.at)));
        }
    }
    let mut longest = (Duration::ZERO, 0, 0.0);
    for (salon, polls) in &by_salon {
        let mut times = polls.clone();
        times.push(end);
        for pair in times.windows(2) {
            let gap = pair[1].saturating_duration_since(pair[0]);
            if gap > longest.0 {
                longest = (gap, *salon, at(pair[0]));
            }
        }
    }
    // Runs of PUTs shown as one entry with their count.
    let mut folded: Vec<(String, usize)> = Vec::new();
    for entry in timeline {
        match folded.last_mut() {
            Some((last, n)) if last.ends_with("PUT") && entry.ends_with("PUT") => *n += 1,
            _ => folded.push((entry, 1)),
        }
    }
    let timeline = folded
        .into_iter()
        .map(|(e, n)| if n > 1 { format!("{e} ×{n}") } else { e })
        .collect::<Vec<_>>()
        .join(", ");
    PollGaps { longest, timeline }
}

async fn throughput(s: &Scale) -> Result<ThroughputFigures, String> {
    let companies = companies(300_001, THROUGHPUT_SALONS);
    let sim = start_sim(&companies).await?;
    let (made, notifications) = make_bookings(&sim, &companies, s.bookings, s.lead);
    let setup = Setup {
        companies: &companies,
        poll_ms: POLL_MS,
        lifted: false,
        ask_in: "\"reminder_day_before\"",
        notifications,
        template: false,
    };
    let mut daemon = Daemon::spawn(&sim, &setup).await?;
    let result = throughput_measure(s, &sim, &mut daemon, made).await;
    let ended = stop(daemon, &sim).await;
    result.map(|f| ThroughputFigures { ended, ..f })
}

async fn throughput_measure(
    s: &Scale,
    sim: &Simulator,
    daemon: &mut Daemon,
    made: Vec<(i64, i64, String)>,
) -> Result<ThroughputFigures, String> {
    let reminded = reminded(sim, daemon, made, s.lead).await?;
    let mut expected: BTreeMap<&'static str, i64> = BTreeMap::new();
    let bodies: Vec<(String, ClientMessage)> = (0..s.messages)
        .map(|k| {
            let (sort, phone, message) = burst_message(k, &reminded);
            *expected.entry(sort.label()).or_default() += 1;
            (phone, message)
        })
        .collect();
    let (requests_from, alerts_from, messages_from) = {
        let w = sim.world();
        (w.requests.len(), w.telegram.len(), w.messages.len())
    };
    // From each salon's last poll before the burst.
    let polls_from = {
        let w = sim.world();
        let mut from = requests_from;
        let mut salons = std::collections::HashSet::new();
        while from > 0 && salons.len() < THROUGHPUT_SALONS {
            from -= 1;
            if let Some(salon) = w.requests[from].path.strip_prefix("/api/v1/records/") {
                salons.insert(salon.to_string());
            }
        }
        from
    };
    let before = daemon.run.memory()?;
    let cpu_before = daemon.run.cpu()?;
    let started = Instant::now();
    let (answers, took) = burst(daemon, signed(&bodies), s.in_flight).await;
    let after = daemon.run.memory()?;
    let cpu = daemon.run.cpu()?.saturating_sub(cpu_before);
    let (puts_during, alerts_during, answers_during) = {
        let w = sim.world();
        let puts = puts_since(&w, requests_from).values().map(Vec::len).sum();
        (
            puts,
            w.telegram.len() - alerts_from,
            w.messages.len() - messages_from,
        )
    };
    // Every cancel request and question is a staff alert: watch them go out.
    let alerts_expected = (expected["cancel"] + expected["other"]) as usize;
    let burst_over = Utc::now();
    let polls_before = sim.world().record_list_requests();
    let drained = daemon
        .run
        .await_world(sim, DRAIN, "the staff alerts", |w| {
            (w.telegram.len() >= alerts_from + alerts_expected).then_some(())
        })
        .await?;
    let (alerts_drained, puts_drained, drained_in, polls_drained) = {
        let w = sim.world();
        let puts = puts_since(&w, requests_from).values().map(Vec::len).sum();
        // Drained: when the last alert went; else all the time watched.
        let last = match (drained, w.telegram.last()) {
            (Some(()), Some(t)) => t.at,
            _ => Utc::now(),
        };
        let took = (last - burst_over).to_std().unwrap_or_default();
        let polls = w.record_list_requests() - polls_before;
        (w.telegram.len() - alerts_from, puts, took, polls)
    };
    // Until every salon was polled again after the drain: a stall shows whole.
    let drain_end = Instant::now();
    let polled_after = |w: &World| {
        let mut salons = std::collections::HashSet::new();
        for r in w.requests.iter().rev().take_while(|r| r.at >= drain_end) {
            if let Some(salon) = r.path.strip_prefix("/api/v1/records/") {
                salons.insert(salon.to_string());
            }
        }
        (salons.len() >= THROUGHPUT_SALONS).then_some(())
    };
    daemon
        .run
        .expect_world(
            sim,
            PATIENCE,
            "a poll of every salon after the drain",
            polled_after,
        )
        .await?;
    let polls = poll_gaps(&sim.world(), polls_from, started, Instant::now());
    let status = daemon.status().await?;
    let counts = status
        .pointer("/replies/counts")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(-1)))
                .collect()
        })
        .unwrap_or_default();
    Ok(ThroughputFigures {
        accepted: answers.iter().filter(|c| **c == 200).count(),
        sent: answers.len(),
        took,
        before,
        after,
        cpu,
        expected,
        counts,
        puts_during,
        alerts_during,
        answers_during,
        alerts_expected,
        alerts_drained,
        drained_in,
        puts_drained,
        polls_drained,
        polls,
        ended: Ended::unknown(),
    })
}

// ----------------------------------------------------------------------- day

/// What a client does after the reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    ConfirmButton,
    ConfirmText(&'static str),
    ConfirmReaction,
    /// «да» and a tap on the confirm button at once: one booking, confirmed twice.
    ConfirmTwice,
    CancelButton,
    CancelText(&'static str),
    Question(&'static str),
    Voice,
    Silent,
}

impl Script {
    fn counted_as(self) -> &'static str {
        match self {
            Script::ConfirmButton
            | Script::ConfirmText(_)
            | Script::ConfirmReaction
            | Script::ConfirmTwice => "confirmed_by_reply",
            Script::CancelButton | Script::CancelText(_) => "asked_to_cancel",
            Script::Question(_) | Script::Voice => "other_reply",
            Script::Silent => "no_answer",
        }
    }
}

/// The script for `n` reminders (500: 300 confirm — 100 by button, 80 by text,
/// 100 by 👍, 20 by text and the button at once —, 60 ask to cancel, 40 write
/// something else, 100 stay silent), spread over the salons by a fixed shuffle.
fn script(n: usize) -> Vec<Script> {
    let part = |share: usize| n * share / 500;
    let texts = [
        "да",
        "1",
        "ок",
        "Да!",
        "подтверждаю",
        "+",
        "буду",
        "Да, буду",
    ];
    let mut out = Vec::with_capacity(n);
    out.extend((0..part(100)).map(|_| Script::ConfirmButton));
    out.extend((0..part(80)).map(|i| Script::ConfirmText(texts[i % texts.len()])));
    out.extend((0..part(100)).map(|_| Script::ConfirmReaction));
    out.extend((0..part(20)).map(|_| Script::ConfirmTwice));
    out.extend((0..part(30)).map(|_| Script::CancelButton));
    out.extend((0..part(30)).map(|i| Script::CancelText(["не смогу", "2", "Нет"][i % 3])));
    out.extend((0..part(20)).map(|_| Script::Question("да, но можно на час позже?")));
    out.extend((0..part(10)).map(|_| Script::Question("Спасибо! А парковка есть?")));
    out.extend((0..part(10)).map(|_| Script::Voice));
    out.resize(n, Script::Silent);
    // A fixed shuffle (7 is prime to 500 and 100): every salon gets a mix.
    (0..n).map(|i| out[(i * 7) % n]).collect()
}

struct DayFigures {
    expected: BTreeMap<i64, BTreeMap<&'static str, i64>>,
    shown: BTreeMap<i64, BTreeMap<&'static str, i64>>,
    refused: usize,
    /// Messages the clients sent.
    codes: usize,
    confirmed_bookings: usize,
    confirmed_in_yclients: usize,
    puts: usize,
    /// Bookings YClients was asked to confirm more than once.
    put_twice: usize,
    alerts: usize,
    expected_alerts: usize,
    expected_answers: usize,
    /// Replies the daemon tied to no booking: what each was, and how long after
    /// WhatsApp accepted its client's reminder it was taken.
    unmatched: Vec<String>,
    /// Replies the daemon keeps (one per message sent).
    kept: usize,
    /// Everything expected happened within `PATIENCE`.
    settled: bool,
    answers: BTreeMap<&'static str, usize>,
    took: Duration,
    ended: Ended,
}

const SALON_FIGURES: [&str; 5] = [
    "reminded",
    "confirmed_by_reply",
    "asked_to_cancel",
    "other_reply",
    "no_answer",
];

async fn day(s: &Scale) -> Result<DayFigures, String> {
    let companies = companies(400_001, 5);
    let sim = start_sim(&companies).await?;
    let (made, notifications) = make_bookings(&sim, &companies, s.day, s.lead);
    let setup = Setup {
        companies: &companies,
        poll_ms: 2_000,
        lifted: true,
        ask_in: "\"reminder_day_before\"",
        notifications,
        template: true,
    };
    let mut daemon = Daemon::spawn(&sim, &setup).await?;
    let result = day_measure(s, &sim, &mut daemon, made).await;
    let ended = stop(daemon, &sim).await;
    result.map(|f| DayFigures { ended, ..f })
}

/// What one client sends, in order.
fn messages_of(script: Script, sent: &SentMessage) -> Result<Vec<ClientMessage>, String> {
    let button = |index: usize, title: &str| {
        sent.button_payload(index)
            .map(|payload| ClientMessage::Button {
                payload,
                title: title.into(),
            })
            .ok_or_else(|| format!("the reminder {} has no button {index}", sent.id))
    };
    Ok(match script {
        Script::ConfirmButton => vec![button(0, "Подтверждаю")?],
        Script::ConfirmText(t) => vec![text(t)],
        Script::ConfirmReaction => vec![ClientMessage::Reaction {
            to: sent.id.clone(),
            emoji: "👍".into(),
        }],
        Script::ConfirmTwice => vec![text("да"), button(0, "Подтверждаю")?],
        Script::CancelButton => vec![button(1, "Не смогу")?],
        Script::CancelText(t) => vec![text(t)],
        Script::Question(t) => vec![text(t)],
        Script::Voice => vec![ClientMessage::Media("audio")],
        Script::Silent => Vec::new(),
    })
}

async fn day_measure(
    s: &Scale,
    sim: &Simulator,
    daemon: &mut Daemon,
    made: Vec<(i64, i64, String)>,
) -> Result<DayFigures, String> {
    let reminded = reminded(sim, daemon, made, s.lead).await?;
    let script = script(reminded.len());
    let mut expected: BTreeMap<i64, BTreeMap<&'static str, i64>> = BTreeMap::new();
    for (b, act) in reminded.iter().zip(&script) {
        let salon = expected.entry(b.company).or_default();
        *salon.entry("reminded").or_default() += 1;
        *salon.entry(act.counted_as()).or_default() += 1;
    }
    let (requests_from, messages_from) = {
        let w = sim.world();
        (w.requests.len(), w.messages.len())
    };
    let started = Instant::now();
    let mut plans = Vec::new();
    for (b, act) in reminded.iter().zip(&script) {
        plans.push((b, messages_of(*act, &b.sent)?));
    }
    // Eight clients at a time; a client's messages all at once (the one who confirms
    // twice taps the button while her «да» is still on its way).
    let daemon_ref = &*daemon;
    let codes: Vec<u16> = futures_util::stream::iter(plans)
        .map(|(b, messages)| async move {
            let each = messages.iter().map(|m| {
                let quoting =
                    matches!(m, ClientMessage::Button { .. }).then_some(b.sent.id.as_str());
                says(daemon_ref, &b.phone, m, quoting)
            });
            futures_util::future::join_all(each).await
        })
        .buffer_unordered(8)
        .flat_map(futures_util::stream::iter)
        .collect()
        .await;
    let count = |what: fn(&Script) -> bool| script.iter().filter(|a| what(a)).count();
    let confirmed_bookings = count(|a| a.counted_as() == "confirmed_by_reply");
    let expected_alerts = count(|a| matches!(a.counted_as(), "asked_to_cancel" | "other_reply"));
    // One «Спасибо» per confirmed booking, however many times it was confirmed.
    let expected_answers = confirmed_bookings + expected_alerts;
    // A shortfall is reported with the figures below, not as an error.
    let settled = daemon
        .run
        .await_world(sim, PATIENCE, "the write-backs, alerts and answers", |w| {
            let puts = puts_since(w, requests_from).len();
            (puts >= confirmed_bookings
                && w.telegram.len() >= expected_alerts
                && w.messages.len() >= messages_from + expected_answers)
                .then_some(())
        })
        .await?
        .is_some();
    // Two polls more: a repeat, or an echo of our own write, would show by then.
    let seen = sim.world().record_list_requests();
    daemon
        .run
        .expect_world(sim, PATIENCE, "two more polls", |w| {
            (w.record_list_requests() >= seen + 2 * 5).then_some(())
        })
        .await?;
    let took = started.elapsed();
    let (kept, unmatched) = unmatched_replies(daemon, &reminded)?;
    let status = daemon.status().await?;
    let mut shown: BTreeMap<i64, BTreeMap<&'static str, i64>> = BTreeMap::new();
    for salon in status
        .pointer("/replies/salons")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("/status has no replies.salons: {status}"))?
    {
        let id = salon["company_id"].as_i64().unwrap_or(0);
        let figures = SALON_FIGURES
            .iter()
            .map(|k| (*k, salon[*k].as_i64().unwrap_or(-1)))
            .collect();
        shown.insert(id, figures);
    }
    let w = sim.world();
    let puts = puts_since(&w, requests_from);
    let mut answers: BTreeMap<&'static str, usize> = BTreeMap::new();
    for m in &w.messages[messages_from..] {
        let kind = if m.text.starts_with("Спасибо") {
            "thanks"
        } else if m.text.starts_with("Передали администратору") {
            "cancel request passed on"
        } else if m.text.starts_with("Передали ваше сообщение") {
            "forwarded"
        } else {
            "other"
        };
        *answers.entry(kind).or_default() += 1;
    }
    Ok(DayFigures {
        expected,
        shown,
        refused: codes.iter().filter(|c| **c != 200).count(),
        codes: codes.len(),
        confirmed_bookings,
        confirmed_in_yclients: reminded
            .iter()
            .filter(|b| w.record(b.record).is_some_and(|r| r["attendance"] == 2))
            .count(),
        puts: puts.values().map(Vec::len).sum(),
        put_twice: puts.values().filter(|p| p.len() > 1).count(),
        alerts: w.telegram.len(),
        expected_alerts,
        expected_answers,
        settled,
        unmatched,
        kept,
        answers,
        took,
        ended: Ended::unknown(),
    })
}

/// How many replies the daemon keeps, and those it tied to no booking, read from
/// its database: each as "type, taken N ms after WhatsApp accepted the reminder".
fn unmatched_replies(
    daemon: &Daemon,
    reminded: &[Reminded],
) -> Result<(usize, Vec<String>), String> {
    let db = Db::open_read_only(&daemon.run.db_path()).map_err(|e| format!("the database: {e}"))?;
    let replies = db
        .blocking(|c| store::recent_replies(c, None, 1_000_000))
        .map_err(|e| format!("reading the replies: {e}"))?;
    let sent: HashMap<&str, &SentMessage> = reminded
        .iter()
        .map(|b| (b.phone.as_str(), &b.sent))
        .collect();
    let unmatched = replies
        .iter()
        .filter(|r| r.matched_by == MatchedBy::Unmatched)
        .map(|r| match sent.get(r.phone.as_str()) {
            Some(m) => format!(
                "{} taken {:.0} ms after WhatsApp accepted its reminder",
                r.message_type,
                support::ms(r.created_at.and_utc() - m.at)
            ),
            None => format!("{} from a number we never wrote to", r.message_type),
        })
        .collect();
    Ok((replies.len(), unmatched))
}

// -------------------------------------------------------------------- report

trait Parts {
    fn ended(&mut self, l: &str, ended: &Ended);
    fn latency(&mut self, r: &LatencyRun, result: Result<LatencyFigures, String>);
    fn throughput(&mut self, s: &Scale, result: Result<ThroughputFigures, String>);
    fn day(&mut self, s: &Scale, result: Result<DayFigures, String>);
}

fn kinds_text(kinds: &BTreeMap<&'static str, usize>) -> String {
    kinds
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Parts for Report {
    fn ended(&mut self, l: &str, ended: &Ended) {
        self.row(
            format!("{l} outbox at the end"),
            ended.outbox.clone(),
            "kind, status, rows",
        );
        if let Err(e) = &ended.stopped {
            self.failures.push(format!("{l} {e}"));
        }
        Report::ending(self, l, ended.stopped.as_ref().ok(), &ended.warnings);
    }

    fn latency(&mut self, r: &LatencyRun, result: Result<LatencyFigures, String>) {
        let limits = if r.lifted {
            "YClients' limits lifted"
        } else {
            "default limits 5/s, 200/min"
        };
        let l = format!(
            "[latency, {} replies every {} ms, {limits}]",
            r.replies,
            r.pace.as_millis()
        );
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        let p99 = percentile(&sorted(&f.to_put), 99.0);
        self.row(
            format!("{l} reply POSTed → visit confirmed (PUT answered)"),
            format!("**{}**", spread(&f.to_put)),
            format!(
                "goal p99 ≤ 2 s; {} of {} visits attendance 2 in YClients; polls every {} ms",
                f.confirmed, r.replies, r.poll_ms
            ),
        );
        self.row(
            format!("{l} POST → 200 (reply committed)"),
            spread(&f.to_200),
            format!("{} answered other than 200", f.refused),
        );
        self.row(
            format!("{l} POST → client thanked (WhatsApp accepted)"),
            spread(&f.to_thanks),
            format!("{} of {} thanked", f.to_thanks.len(), r.replies),
        );
        let puts = f.kinds.get("PUT /visits").copied().unwrap_or(0);
        let polls = f.kinds.get("GET /records (polls)").copied().unwrap_or(0);
        let other: usize = f.kinds.values().sum::<usize>() - puts - polls;
        self.row(
            format!("{l} YClients requests per confirmation"),
            format!(
                "**{:.3} PUT**, {:.3} other",
                puts as f64 / r.replies as f64,
                other as f64 / r.replies as f64
            ),
            format!(
                "everything YClients answered in the {} from the first reply to two polls after the last answer: {} (polls are background)",
                secs(f.took),
                kinds_text(&f.kinds)
            ),
        );
        if f.to_put.len() < r.replies || f.confirmed < r.replies || f.refused > 0 {
            self.failures.push(format!(
                "{l} {} of {} replies led to a PUT, {} visits confirmed, {} refused",
                f.to_put.len(),
                r.replies,
                f.confirmed,
                f.refused
            ));
        }
        if puts != r.replies || other > 0 {
            self.failures.push(format!(
                "{l} {puts} PUTs and {other} other non-poll requests for {} confirmations",
                r.replies
            ));
        }
        if p99 > 2_000.0 {
            self.problems
                .push(format!("{l} p99 {p99:.0} ms is over the 2 s goal"));
        }
        self.ended(&l, &f.ended);
    }

    fn throughput(&mut self, s: &Scale, result: Result<ThroughputFigures, String>) {
        let l = format!(
            "[throughput, {} messages, {} in flight]",
            s.messages, s.in_flight
        );
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        let rate = f.accepted as f64 / f.took.as_secs_f64();
        self.row(
            format!("{l} replies taken per second (SQLite)"),
            format!("**{rate:.0}/s**"),
            format!(
                "goal ≥ 1,000/s; {} of {} answered 200 in {}, each only once committed (`synchronous = FULL`); {} day-before reminders sent first; daemon CPU {} ({:.2} ms a reply)",
                f.accepted,
                f.sent,
                millis(f.took),
                s.bookings,
                secs(f.cpu),
                f.cpu.as_secs_f64() * 1000.0 / f.accepted.max(1) as f64
            ),
        );
        self.row(
            format!("{l} mix"),
            kinds_text(&f.expected.iter().map(|(k, n)| (*k, *n as usize)).collect()),
            format!(
                "/status counts afterwards: {}; while the burst ran the daemon also carried out {} staff alerts, {} answers to clients and {} PUTs (default limits), each a claim and a settle transaction",
                f.counts
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                f.alerts_during,
                f.answers_during,
                f.puts_during
            ),
        );
        self.row(
            format!("{l} the burst's staff alerts sent"),
            format!(
                "{} of {} within {} after the burst",
                f.alerts_drained,
                f.alerts_expected,
                secs(f.drained_in)
            ),
            format!(
                "watched for at most {} s; {} PUTs by then for {} confirmations, and {} record-list requests (polls) in that time (YClients' default limits, 4 salons polled every 2 s)",
                DRAIN.as_secs(),
                f.puts_drained,
                f.expected.get("confirm").copied().unwrap_or(0),
                f.polls_drained
            ),
        );
        let (gap, salon, began) = f.polls.longest;
        self.row(
            format!("{l} the longest a salon went without a poll, from the burst until each was polled after its effects"),
            format!("**{}** (salon {salon}, from {began:+.1} s)", millis(gap)),
            format!(
                "polls due every {} ms; seconds from the burst's start: {}",
                POLL_MS, f.polls.timeline
            ),
        );
        if gap > POLL_GAP_MAX {
            self.failures.push(format!(
                "{l} salon {salon} went {} without a poll (from {began:+.1} s after the burst began); goal at most {}",
                millis(gap),
                millis(POLL_GAP_MAX)
            ));
        }
        self.row(
            format!("{l} memory"),
            format!("peak {} VmHWM", support::mib(f.after.hwm_kib)),
            format!(
                "before the burst: peak {}, {} resident; after: {} resident, {} threads",
                support::mib(f.before.hwm_kib),
                support::mib(f.before.rss_kib),
                support::mib(f.after.rss_kib),
                f.after.threads
            ),
        );
        let matches = f.expected.iter().all(|(k, n)| f.counts.get(*k) == Some(n));
        if f.accepted < f.sent || !matches {
            self.failures.push(format!(
                "{l} {} of {} accepted; counts shown {:?}, sent {:?}",
                f.accepted, f.sent, f.counts, f.expected
            ));
        }
        if rate < 1_000.0 {
            self.problems
                .push(format!("{l} {rate:.0} replies/s is under the 1,000/s goal"));
        }
        self.ended(&l, &f.ended);
    }

    fn day(&mut self, s: &Scale, result: Result<DayFigures, String>) {
        let l = format!("[day, {} reminders]", s.day);
        let Some(f) = self.figures(result, |e| format!("{l} {e}")) else {
            return;
        };
        let line = |m: &BTreeMap<&'static str, i64>| {
            SALON_FIGURES
                .iter()
                .map(|k| m.get(k).copied().unwrap_or(0).to_string())
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let mut all_match = true;
        for (company, expected) in &f.expected {
            let shown = f.shown.get(company).cloned().unwrap_or_default();
            let same = SALON_FIGURES.iter().all(|k| {
                expected.get(k).copied().unwrap_or(0) == shown.get(k).copied().unwrap_or(-1)
            });
            all_match &= same;
            self.row(
                format!("{l} salon {company}: reminded / confirmed / cancel / other / no answer"),
                format!("{}{}", line(&shown), if same { " ✓" } else { " ✗" }),
                format!("/status replies.salons[]; the script: {}", line(expected)),
            );
        }
        let total = |m: &BTreeMap<i64, BTreeMap<&'static str, i64>>| {
            let mut sum: BTreeMap<&'static str, i64> = BTreeMap::new();
            for salon in m.values() {
                for (k, n) in salon {
                    *sum.entry(k).or_default() += n;
                }
            }
            sum
        };
        self.row(
            format!("{l} all salons"),
            format!(
                "**{}**{}",
                line(&total(&f.shown)),
                if all_match { " (matches the script)" } else { " (DIFFERS)" }
            ),
            format!(
                "the script: {}; confirmed by button, text or 👍 ({} confirmed twice at once: text and button), cancel by button or text, questions and voice messages",
                line(&total(&f.expected)),
                script(s.day).iter().filter(|a| matches!(a, Script::ConfirmTwice)).count()
            ),
        );
        self.row(
            format!("{l} replies kept / tied to no booking"),
            format!("{} / {}", f.kept, f.unmatched.len()),
            if f.unmatched.is_empty() {
                format!(
                    "{} messages sent; every reply named or matched its booking",
                    f.codes
                )
            } else {
                format!(
                    "{} messages sent; unmatched: {}",
                    f.codes,
                    f.unmatched.join("; ")
                )
            },
        );
        self.row(
            format!("{l} YClients: visits confirmed / PUTs"),
            format!("{} / {}", f.confirmed_in_yclients, f.puts),
            format!(
                "expected {0} / {0}; bookings written twice: {1}",
                f.confirmed_bookings, f.put_twice
            ),
        );
        self.row(
            format!("{l} staff alerts (Telegram) / answers to clients"),
            format!("{} / {}", f.alerts, kinds_text(&f.answers)),
            format!(
                "expected {} alerts (cancel requests and other replies) and {} answers{}; {} answered other than 200",
                f.expected_alerts,
                f.expected_answers,
                if f.settled {
                    format!(", all there {} after the first reply", secs(f.took))
                } else {
                    format!(", NOT all there within {} s", PATIENCE.as_secs())
                },
                f.refused
            ),
        );
        if !all_match
            || !f.settled
            || !f.unmatched.is_empty()
            || f.kept != f.codes
            || f.confirmed_in_yclients != f.confirmed_bookings
            || f.alerts != f.expected_alerts
            || f.refused > 0
        {
            self.failures.push(format!(
                "{l} what the daemon shows or did differs from the script"
            ));
        }
        if f.puts != f.confirmed_bookings {
            self.problems.push(format!(
                "{l} {} PUTs for {} bookings confirmed ({} bookings written twice)",
                f.puts, f.confirmed_bookings, f.put_twice
            ));
        }
        self.ended(&l, &f.ended);
    }
}
