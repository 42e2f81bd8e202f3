//! The replies benches' daemon: the release binary with replies on (a signed
//! Cloud API webhook for clients' messages, the staff's Telegram), its HTTP
//! endpoints on a free port; day-before reminders sent to many clients first, for
//! them to answer. `replies` and `stops` use it.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use booking_monitor::domain::{Kind, Status};
use booking_monitor::simulator::{
    inbound_id, meta_message, post_to_daemon, Booking, ClientMessage, ConfigParts, SentMessage,
    Simulator, World,
};
use booking_monitor::store::{self, Db};
use chrono::{Days, NaiveDateTime, NaiveTime, Utc};
use futures_util::StreamExt;
use serde_json::Value;

use super::{percentile, sorted, Running, ZONE};

pub const SECRET: &str = "bench-app-secret";
pub const NUMBER_ID: &str = "100200300";
pub const BOT: &str = "123456:bench-bot-token";
/// Where the part measures the daemon, not YClients' budget.
pub const LIFTED: &str = "max_requests_per_second = 100\nmax_requests_per_minute = 6000";
pub const PATIENCE: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------- the daemon

/// The release binary with replies on, its HTTP endpoints on a free port.
pub struct Daemon {
    pub run: Running,
    pub base: String,
}

pub struct Setup<'a> {
    pub companies: &'a [i64],
    pub poll_ms: u64,
    pub lifted: bool,
    pub ask_in: &'a str,
    /// `[notifications]` lines.
    pub notifications: String,
    /// The reminder goes out as a template with the two buttons.
    pub template: bool,
}

impl Daemon {
    pub async fn spawn(sim: &Simulator, s: &Setup<'_>) -> Result<Daemon, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("a free port: {e}"))?;
        let template = if s.template {
            "\ntemplates = { reminder_day_before = { name = \"visit_reminder\", language = \"ru\", \
             parameters = [\"client_name\", \"date\", \"time\"] } }"
        } else {
            ""
        };
        sim.change(|w| w.telegram_token = Some(BOT.into()));
        let parts = ConfigParts {
            yclients: if s.lifted {
                LIFTED.into()
            } else {
                String::new()
            },
            monitor: super::monitor(s.poll_ms, 300),
            cloud_api: format!("app_secret = \"{SECRET}\"{template}"),
            company: "staff_telegram_chat_id = -100{id}".into(),
            tables: format!(
                "[http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"bench-http-token\"\n\n\
                 [replies]\nenabled = true\nask_in = [{}]\n\n\
                 [staff]\ntelegram_bot_token = \"{BOT}\"\ntelegram_api_base_url = \"{}\"\n\n\
                 [notifications]\n{}\n",
                s.ask_in,
                sim.telegram_url(),
                s.notifications
            ),
            ..ConfigParts::default()
        };
        let mut run = Running::spawn(sim, s.companies, &parts)?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            run.alive("the start")?;
            let answer = awc::Client::new()
                .get(format!("{base}/healthz"))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(Daemon { run, base });
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the daemon's HTTP endpoints never answered; log tail:\n{}",
                    run.log_tail()
                ));
            }
            // Nothing to await but the port opening.
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn webhook(&self) -> String {
        format!("{}/webhooks/whatsapp", self.base)
    }

    /// `GET /status`, as JSON.
    pub async fn status(&self) -> Result<Value, String> {
        let mut answer = awc::Client::new()
            .get(format!("{}/status", self.base))
            .send()
            .await
            .map_err(|e| format!("GET /status: {e}"))?;
        let body = answer
            .body()
            .limit(1 << 24)
            .await
            .map_err(|e| format!("GET /status: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("GET /status: {e}"))
    }
}

/// A client's message as Meta delivers it, from `phone`, signed.
pub async fn says(
    daemon: &Daemon,
    phone: &str,
    message: &ClientMessage,
    quoting: Option<&str>,
) -> u16 {
    let body = meta_message(NUMBER_ID, phone, "Клиент", &inbound_id(), message, quoting);
    post_to_daemon(&daemon.webhook(), &body, Some(SECRET))
        .await
        .0
}

/// Awaits the daemon's commit of `n` notices of `kind` as sent: WhatsApp has them
/// before the daemon has settled them, and a reply racing that commit is not what
/// these parts measure. The database is read, every 20 ms: a commit sends no event.
pub async fn committed(daemon: &mut Daemon, kind: Kind, n: usize) -> Result<(), String> {
    let db = Db::open_read_only(&daemon.run.db_path()).map_err(|e| format!("the database: {e}"))?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let rows = db
            .blocking(|c| store::count_by_kind_and_status(c, None))
            .map_err(|e| format!("reading the outbox: {e}"))?;
        let sent = rows
            .iter()
            .find(|(k, s, _)| *k == kind && *s == Status::Sent)
            .map_or(0, |(_, _, n)| *n as usize);
        if sent >= n {
            return Ok(());
        }
        daemon.run.alive("the wait for the notices' commit")?;
        if Instant::now() > deadline {
            return Err(format!("{sent} of {n} {kind} notices committed as sent"));
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn text(s: &str) -> ClientMessage {
    ClientMessage::Text(s.into())
}

pub fn zone() -> chrono_tz::Tz {
    ZONE.parse().expect("a known zone")
}

/// Whether the first poll of every company in `companies` asked for changes.
pub fn monitored(world: &World, companies: &[i64]) -> bool {
    companies.iter().all(|c| {
        let path = format!("/api/v1/records/{c}");
        world
            .requests
            .iter()
            .any(|r| r.path == path && r.query.contains("changed_after"))
    })
}

/// The PUTs the simulator answered 200 from `requests[from..]`: record id → when.
pub fn puts_since(world: &World, from: usize) -> HashMap<i64, Vec<Instant>> {
    let mut out: HashMap<i64, Vec<Instant>> = HashMap::new();
    for r in &world.requests[from..] {
        if r.method == "PUT" && r.status == 200 {
            if let Some(record) = r.path.rsplit('/').next().and_then(|s| s.parse().ok()) {
                out.entry(record).or_default().push(r.at);
            }
        }
    }
    out
}

/// YClients requests from `requests[from..]` by kind.
pub fn yclients_kinds(world: &World, from: usize) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for r in world.requests[from..]
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
    {
        let kind = match (r.method.as_str(), r.path.as_str()) {
            ("PUT", p) if p.starts_with("/api/v1/visits/") => "PUT /visits",
            ("GET", p) if p.starts_with("/api/v1/records/") => "GET /records (polls)",
            ("GET", p) if p.starts_with("/api/v1/record/") => "GET /record",
            ("GET", p) if p.starts_with("/api/v1/company/") => "GET /company",
            _ => "other",
        };
        *out.entry(kind).or_default() += 1;
    }
    out
}

pub fn spread(values: &[f64]) -> String {
    let v = sorted(values);
    format!(
        "p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&v, 50.0),
        percentile(&v, 99.0),
        percentile(&v, 100.0)
    )
}

/// How the part's daemon ended.
pub struct Ended {
    /// The SIGTERM and the exit, or why there was none (the daemon had died).
    pub stopped: Result<super::Stopped, String>,
    pub warnings: Vec<String>,
    /// `kind status count` of the outbox after the stop.
    pub outbox: String,
}

impl Ended {
    /// Until the part's daemon is stopped.
    pub fn unknown() -> Ended {
        Ended {
            stopped: Err("not stopped yet".into()),
            warnings: Vec::new(),
            outbox: String::new(),
        }
    }
}

pub async fn stop(mut daemon: Daemon, sim: &Simulator) -> Ended {
    let stopped = daemon.run.stop().await;
    sim.stop().await;
    Ended {
        stopped,
        warnings: daemon.run.warnings(),
        outbox: super::outbox_counts(&daemon.run.db_path()),
    }
}

// ---------------------------------------------------------------- reminders

/// A booking whose client got the day-before reminder.
pub struct Reminded {
    pub company: i64,
    pub record: i64,
    pub phone: String,
    pub sent: SentMessage,
}

/// `n` online bookings over `companies`, made ten minutes ago on YClients' clock
/// (only the baseline brings them, and online bookings get no confirmation), their
/// visits on the day after `lead` from now; the `[notifications]` line that makes
/// their day-before reminders fall due then.
pub fn make_bookings(
    sim: &Simulator,
    companies: &[i64],
    n: usize,
    lead: Duration,
) -> (Vec<(i64, i64, String)>, String) {
    let due = Utc::now() + lead;
    let due_local = due.with_timezone(&zone());
    let visit_day = due_local.date_naive() + Days::new(1);
    sim.change(|w| w.clock_skew = chrono::Duration::minutes(-10));
    let made = (0..n)
        .map(|i| {
            let company = companies[i % companies.len()];
            let phone = format!("7926{i:07}");
            let visit: NaiveDateTime = visit_day
                .and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("a time"))
                + chrono::Duration::minutes((i % 720) as i64);
            let record = sim.create(Booking {
                online: true,
                ..Booking::by_admin(company, &format!("Клиент {i}"), &phone, visit)
            });
            (company, record, phone)
        })
        .collect();
    sim.change(|w| w.clock_skew = chrono::Duration::zero());
    let line = format!("reminder_day_before = \"{}\"", due_local.format("%H:%M:%S"));
    (made, line)
}

/// Awaits every reminder; each booking with the message its client got.
pub async fn reminded(
    sim: &Simulator,
    daemon: &mut Daemon,
    made: Vec<(i64, i64, String)>,
    lead: Duration,
) -> Result<Vec<Reminded>, String> {
    let n = made.len();
    let messages = daemon
        .run
        .expect_world(sim, lead + PATIENCE, "the reminders", |w| {
            (w.messages.len() >= n).then(|| w.messages.clone())
        })
        .await?;
    committed(daemon, Kind::ReminderDayBefore, n).await?;
    let by_phone: HashMap<&str, &SentMessage> =
        messages.iter().map(|m| (m.phone.as_str(), m)).collect();
    made.into_iter()
        .map(|(company, record, phone)| {
            let sent = by_phone
                .get(phone.as_str())
                .map(|m| (*m).clone())
                .ok_or_else(|| format!("no reminder reached {phone}"))?;
            Ok(Reminded {
                company,
                record,
                phone,
                sent,
            })
        })
        .collect()
}

pub fn companies(from: i64, n: usize) -> Vec<i64> {
    (0..n as i64).map(|i| from + i).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sort {
    Confirm,
    Question,
    Cancel,
    Stranger,
}

impl Sort {
    /// How `/status` counts it.
    pub fn label(self) -> &'static str {
        match self {
            Sort::Confirm => "confirm",
            Sort::Question => "other",
            Sort::Cancel => "cancel",
            Sort::Stranger => "unmatched",
        }
    }
}

/// The `k`th message of the burst: which booking's client (or a stranger) says what.
/// Each booking's client sends five in a row: «1», two questions, «не смогу»; the
/// fifth comes from a number we never wrote to.
pub fn burst_message(k: usize, reminded: &[Reminded]) -> (Sort, String, ClientMessage) {
    let b = &reminded[(k / 5) % reminded.len()];
    match k % 5 {
        0 => (Sort::Confirm, b.phone.clone(), text("1")),
        1 => (
            Sort::Question,
            b.phone.clone(),
            text("Спасибо! А парковка есть?"),
        ),
        2 => (
            Sort::Question,
            b.phone.clone(),
            text("да, но можно на час позже?"),
        ),
        3 => (Sort::Cancel, b.phone.clone(), text("не смогу")),
        _ => (
            Sort::Stranger,
            format!("7999{k:07}"),
            text("Здравствуйте, хочу записаться"),
        ),
    }
}

/// Each message as Meta delivers it, signed: `(body, signature)`. Signed
/// beforehand, so that a burst's clock measures the daemon, not the bench's HMAC.
pub fn signed(messages: &[(String, ClientMessage)]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|(phone, message)| {
            let body =
                meta_message(NUMBER_ID, phone, "Клиент", &inbound_id(), message, None).to_string();
            let signature = booking_monitor::webhooks::sign(SECRET, body.as_bytes());
            (body, signature)
        })
        .collect()
}

/// POSTs every body to the daemon's webhook, `in_flight` at a time: the answers'
/// statuses (0: no answer) and how long the whole burst took.
pub async fn burst(
    daemon: &Daemon,
    bodies: Vec<(String, String)>,
    in_flight: usize,
) -> (Vec<u16>, Duration) {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let url = daemon.webhook();
    let started = Instant::now();
    let answers = futures_util::stream::iter(bodies)
        .map(|(body, signature)| {
            let request = client
                .post(&url)
                .insert_header(("Content-Type", "application/json"))
                .insert_header(("X-Hub-Signature-256", signature))
                .send_body(body);
            async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    (answers, started.elapsed())
}
