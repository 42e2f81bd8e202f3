//! `cargo bench --bench push`: what YClients' webhooks buy, against the real release
//! binary and the crate's simulator on 127.0.0.1.
//!
//! 1. Lateness (sent − created − grace delay) of confirmations with webhooks on and
//!    with polling alone, side by side, both polling every 60 s: two daemons, each
//!    with its own simulator, the same bookings made on both at the same pace.
//!    Also YClients requests per company per hour of the webhook-fed one.
//! 2. The webhook endpoint's throughput: a burst of distinct booking events POSTed
//!    with many in flight at once (online bookings: decided, nothing to send), with
//!    the daemon's peak memory (VmHWM) before and after.
//!
//! Prints a markdown table. `BENCH_QUICK=1`: fewer bookings and events.

#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, ConfigParts, Simulator, WebhookSender};
use chrono::{Days, NaiveTime, Utc};
use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{Memory, BIN};

const COMPANY: i64 = 4564;
const TOKEN: &str = "bench-webhook-token";
const POLL_MS: u64 = 60_000;
const DELAY_MS: u64 = 5_000;
const PATIENCE: Duration = Duration::from_secs(120);

struct Scale {
    bookings: usize,
    pace: Duration,
    events: usize,
    in_flight: usize,
}

fn main() -> ExitCode {
    let quick = support::quick();
    let scale = if quick {
        Scale {
            bookings: 10,
            pace: Duration::from_millis(1_500),
            events: 500,
            in_flight: 16,
        }
    } else {
        Scale {
            bookings: 60,
            pace: Duration::from_millis(1_500),
            events: 5_000,
            in_flight: 32,
        }
    };
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let result = actix_rt::System::new().block_on(async {
        lateness(&scale, &mut rows).await?;
        throughput(&scale, &mut rows).await
    });
    println!("\n| figure | value | note |\n|---|---|---|");
    for (figure, value, note) in &rows {
        println!("| {figure} | {value} | {note} |");
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("push bench failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The release binary in its own directory, its HTTP endpoints on `port`.
struct Daemon {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Daemon {
    fn spawn(sim: &Simulator, webhooks: bool) -> Result<Daemon, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = free_port()?;
        let parts = ConfigParts {
            yclients: if webhooks {
                format!("webhook_token = \"{TOKEN}\"")
            } else {
                String::new()
            },
            monitor: format!("poll_interval_ms = {POLL_MS}\nnotification_delay_ms = {DELAY_MS}"),
            tables: format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"bench\"\n[log]\nlevel = \"warn\""
            ),
            ..ConfigParts::default()
        };
        let config = dir.path().join("config.toml");
        let db = dir.path().join("booking-monitor.db");
        std::fs::write(
            &config,
            sim.daemon_config(&Simulator::sqlite_url(&db), &[COMPANY], &parts),
        )
        .map_err(|e| e.to_string())?;
        let log = dir.path().join("daemon.log");
        let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{BIN}: {e}"))?;
        Ok(Daemon {
            child,
            port,
            _dir: dir,
            log,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/webhooks/yclients/{TOKEN}", self.port)
    }

    /// Peak and current resident memory, KiB (VmHWM, VmRSS).
    fn memory(&self) -> (u64, u64) {
        let m = Memory::of(self.child.id()).unwrap_or_default();
        (m.hwm_kib, m.rss_kib)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

async fn simulator() -> Result<Simulator, String> {
    let sim = Simulator::start().await.map_err(|e| e.to_string())?;
    sim.add_company(COMPANY, "Барбершоп", "Москва", "Europe/Moscow");
    Ok(sim)
}

/// Waits until the daemon's first poll (the baseline and the changes) was answered
/// and its webhook endpoint takes events (503 before the first poll commits).
async fn wait_until_monitoring(sim: &Simulator, daemon: &Daemon) -> Result<(), String> {
    sim.wait_for_polls(2, PATIENCE).await?;
    let deadline = Instant::now() + PATIENCE;
    let probe =
        json!({"company_id": COMPANY, "resource": "client", "status": "update", "data": {}});
    while Instant::now() < deadline {
        let answer = awc::Client::new()
            .post(daemon.url())
            .send_json(&probe)
            .await;
        if answer.is_ok_and(|r| r.status().as_u16() == 200) {
            return Ok(());
        }
        // The daemon's HTTP server is coming up: nothing to await but the port.
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "the daemon never took webhooks:\n{}",
        daemon.log_tail()
    ))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn lateness(scale: &Scale, rows: &mut Vec<(String, String, String)>) -> Result<(), String> {
    let (pushed_sim, polled_sim) = (simulator().await?, simulator().await?);
    let pushed = Daemon::spawn(&pushed_sim, true)?;
    // Held to the end: dropping it stops the daemon.
    let _polled = Daemon::spawn(&polled_sim, false)?;
    wait_until_monitoring(&pushed_sim, &pushed).await?;
    polled_sim.wait_for_polls(2, PATIENCE).await?;
    pushed_sim.change(|w| {
        w.webhooks = Some(WebhookSender {
            url: pushed.url(),
            update_repeats: 1,
        })
    });
    let started = Instant::now();
    let requests_before = pushed_sim.world().requests.len();
    let tomorrow = Utc::now().date_naive() + Days::new(1);
    let mut made = Vec::new();
    for i in 0..scale.bookings {
        let visit = tomorrow.and_time(NaiveTime::from_hms_opt(10 + (i % 9) as u32, 0, 0).unwrap());
        let phone = format!("7916{:07}", i);
        let booking = Booking::by_admin(COMPANY, "Клиент", &phone, visit);
        let at = Utc::now();
        pushed_sim.create(booking.clone());
        polled_sim.create(booking);
        made.push((phone, at));
        actix_rt::time::sleep(scale.pace).await;
    }
    let n = scale.bookings;
    let pushed_messages = pushed_sim.wait_for_messages(n, PATIENCE).await?;
    let polled_messages = polled_sim.wait_for_messages(n, PATIENCE).await?;
    let elapsed = started.elapsed();
    let (rereads, others) = {
        let world = pushed_sim.world();
        let during: Vec<_> = world.requests[requests_before..]
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/"))
            .collect();
        let rereads = during
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/record/"))
            .count();
        (rereads, during.len() - rereads)
    };
    let late = |messages: &[booking_monitor::simulator::SentMessage]| {
        let mut late: Vec<f64> = made
            .iter()
            .filter_map(|(phone, at)| {
                let m = messages.iter().find(|m| &m.phone == phone)?;
                Some((m.at - *at).num_milliseconds() as f64 / 1000.0 - DELAY_MS as f64 / 1000.0)
            })
            .collect();
        late.sort_by(f64::total_cmp);
        late
    };
    for (name, late) in [
        ("webhooks on", late(&pushed_messages)),
        ("polling alone", late(&polled_messages)),
    ] {
        rows.push((
            format!("lateness, {name} (60 s polls)"),
            format!(
                "p50 {:.3} s, p99 {:.3} s, max {:.3} s",
                percentile(&late, 0.5),
                percentile(&late, 0.99),
                late.last().copied().unwrap_or(f64::NAN)
            ),
            format!(
                "sent − created − {} s delay, {} bookings",
                DELAY_MS / 1000,
                late.len()
            ),
        ));
    }
    rows.push((
        "YClients requests per company per hour, webhooks healthy".into(),
        format!(
            "{:.0} polls + {:.2} re-reads per notification",
            3_600_000.0 / POLL_MS as f64,
            rereads as f64 / n as f64
        ),
        format!(
            "measured: {rereads} re-reads for {n} confirmations and {others} other YClients requests (polls) in {:.0} s; \
             a booking that came by webhook is re-read once before its notice unless a later webhook proves it current",
            elapsed.as_secs_f64()
        ),
    ));
    Ok(())
}

fn event(id: i64) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../tests/fixtures/yclients/webhook_record_create_online_altegio_masked.json"
    ))
    .expect("the fixture");
    let now = Utc::now().with_timezone(&chrono_tz::Europe::Moscow);
    let tomorrow = now + chrono::Duration::days(1);
    event["company_id"] = json!(COMPANY);
    event["resource_id"] = json!(id);
    event["data"]["id"] = json!(id);
    event["data"]["company_id"] = json!(COMPANY);
    event["data"]["create_date"] = json!(now.format("%Y-%m-%dT%H:%M:%S%z").to_string());
    event["data"]["datetime"] = json!(tomorrow.format("%Y-%m-%dT12:00:00%:z").to_string());
    event["data"]["date"] = json!(tomorrow.format("%Y-%m-%d 12:00:00").to_string());
    event
}

async fn throughput(scale: &Scale, rows: &mut Vec<(String, String, String)>) -> Result<(), String> {
    let sim = simulator().await?;
    let daemon = Daemon::spawn(&sim, true)?;
    wait_until_monitoring(&sim, &daemon).await?;
    let (peak_before, _) = daemon.memory();
    let url = daemon.url();
    let events: Vec<Value> = (0..scale.events as i64)
        .map(|i| event(1_000_000 + i))
        .collect();
    let started = Instant::now();
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let answers: Vec<u16> = futures_util::stream::iter(events)
        .map(|event| {
            let request = client.post(&url).send_json(&event);
            async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(scale.in_flight)
        .collect()
        .await;
    let took = started.elapsed();
    let accepted = answers.iter().filter(|s| **s == 200).count();
    let (peak_after, rss_after) = daemon.memory();
    rows.push((
        "webhook events accepted per second (SQLite, 2 cores)".into(),
        format!("{:.0}", accepted as f64 / took.as_secs_f64()),
        format!(
            "{accepted} of {} distinct events answered 200 in {:.1} s, {} in flight; each committed before its 200",
            answers.len(),
            took.as_secs_f64(),
            scale.in_flight
        ),
    ));
    rows.push((
        "memory under the burst".into(),
        format!(
            "peak {:.1} MiB (before: {:.1} MiB)",
            peak_after as f64 / 1024.0,
            peak_before as f64 / 1024.0
        ),
        format!(
            "VmHWM of the release binary; {:.1} MiB resident after",
            rss_after as f64 / 1024.0
        ),
    ));
    if accepted != answers.len() {
        return Err(format!(
            "{} events were not accepted:\n{}",
            answers.len() - accepted,
            daemon.log_tail()
        ));
    }
    Ok(())
}
