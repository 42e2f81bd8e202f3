//! `spawn_app`: the daemon in process, against the simulator's YClients and
//! WhatsApp on 127.0.0.1 and a real SQLite file in a temporary directory, or a
//! fresh PostgreSQL database when `BOOKING_MONITOR_TEST_BACKEND=postgres` (see `PG_SERVER`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use booking_monitor::config::Config;
use booking_monitor::daemon::Daemon;
use booking_monitor::faults::FaultPlan;
use booking_monitor::logging;
use booking_monitor::simulator::{Booking, ConfigParts, SentMessage, Simulator};
use booking_monitor::store::{self, Db, Kind, Notification, Status};
use chrono::{Days, NaiveDateTime, NaiveTime, Utc};
use slog::Drain;

pub const COMPANY: i64 = 4564;
pub const BOT_USER: i64 = 777;
/// How long a test waits for what must happen before calling it a failure.
pub const PATIENCE: Duration = Duration::from_secs(20);
pub const HTTP: &str = "[http]\nlisten = \"127.0.0.1:0\"\ntoken = \"test-http-token\"\n";

pub struct Options {
    pub delay_ms: u64,
    pub poll_ms: u64,
    /// (id, time zone)
    pub companies: Vec<(i64, &'static str)>,
    /// Extra TOML appended to the config (whole tables).
    pub extra: String,
    /// Extra keys for `[yclients]`.
    pub yclients_extra: String,
    pub yclients_timeout_ms: u64,
    /// `monitor.retry_max_ms`: the long backoff cap.
    pub retry_max_ms: u64,
    /// Extra keys for `[whatsapp.cloud_api]`.
    pub cloud_api_extra: String,
    /// Extra keys for `[monitor]`.
    pub monitor_extra: String,
    /// Extra keys for each `[[companies]]`; `{id}` stands for its id.
    pub company_extra: String,
    /// `whatsapp.provider`; `None`: `cloud_api` (the simulator's).
    pub whatsapp_provider: Option<&'static str>,
    /// A PostgreSQL server to put the test's database on, whatever the suite's backend.
    pub postgres: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            delay_ms: 1_000,
            poll_ms: 100,
            companies: vec![(COMPANY, "Europe/Moscow")],
            extra: String::new(),
            yclients_extra: String::new(),
            yclients_timeout_ms: 2_000,
            cloud_api_extra: String::new(),
            monitor_extra: String::new(),
            company_extra: String::new(),
            whatsapp_provider: None,
            retry_max_ms: 1_000,
            postgres: None,
        }
    }
}

/// `BOOKING_MONITOR_PG_SERVER`: a PostgreSQL URL whose user may create databases.
/// The cluster tests need it (and fail without it under `CI`).
pub const PG_SERVER: &str = "BOOKING_MONITOR_PG_SERVER";
/// `BOOKING_MONITOR_TEST_BACKEND=postgres`: every test's database is a fresh one on
/// that server instead of a SQLite file (`.ci/run` runs the suite both ways).
pub const TEST_BACKEND: &str = "BOOKING_MONITOR_TEST_BACKEND";

pub fn postgres_server() -> Option<String> {
    std::env::var(PG_SERVER)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// The server, for a test that needs PostgreSQL whatever the suite's backend.
/// Such a test carries `#[cfg_attr(not(postgres_server), ignore = ...)]`: without a
/// server (and outside CI) the build script leaves that cfg off and `cargo test`
/// lists the test as ignored with the reason, so reaching here without a server
/// (CI, or the test binary run by hand) is a failure.
pub fn postgres_required() -> String {
    postgres_server().unwrap_or_else(|| {
        panic!("this test needs PostgreSQL: set {PG_SERVER} (.ci/postgres.sh start prints one)")
    })
}

fn suite_on_postgres() -> Option<String> {
    let wanted = std::env::var(TEST_BACKEND).is_ok_and(|b| b == "postgres");
    if !wanted {
        return None;
    }
    Some(postgres_server().unwrap_or_else(|| panic!("{TEST_BACKEND}=postgres needs {PG_SERVER}")))
}

/// True (and says so) where a test is about SQLite's file and the suite runs on
/// PostgreSQL.
pub fn skip_on_postgres(test: &str) -> bool {
    let skip = suite_on_postgres().is_some();
    if skip {
        eprintln!("{test}: skipped on PostgreSQL (it is about the SQLite file)");
    }
    skip
}

/// A test's own database: a SQLite file, or a fresh database on the PostgreSQL
/// server, dropped with the test.
pub enum TestDatabase {
    Sqlite(PathBuf),
    Postgres { server: String, name: String },
}

static DATABASES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl TestDatabase {
    pub fn create(dir: &std::path::Path) -> TestDatabase {
        match suite_on_postgres() {
            Some(server) => TestDatabase::on_postgres(&server),
            None => TestDatabase::Sqlite(dir.join("booking-monitor.db")),
        }
    }

    /// A fresh database on the server.
    pub fn on_postgres(server: &str) -> TestDatabase {
        let server = server.to_string();
        let name = format!(
            "bm_test_{}_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            fastrand::u32(..)
        );
        admin(&server, &format!("CREATE DATABASE {name}"));
        TestDatabase::Postgres { server, name }
    }

    /// `database.url` for the config.
    pub fn url(&self) -> String {
        match self {
            TestDatabase::Sqlite(path) => Simulator::sqlite_url(path),
            TestDatabase::Postgres { server, name } => {
                let (base, _) = server.rsplit_once('/').expect("a URL with a database");
                format!("{base}/{name}")
            }
        }
    }

    pub fn open(&self) -> Db {
        match self {
            TestDatabase::Sqlite(path) => Db::open(path).expect("database opens"),
            TestDatabase::Postgres { .. } => {
                Db::open_postgres(&self.url(), &store::DbOptions::default())
                    .expect("database opens")
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { server, name } = self {
            admin(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn admin(server: &str, sql: &str) {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let mut conn = diesel::PgConnection::establish(server)
        .unwrap_or_else(|e| panic!("{PG_SERVER}: cannot connect: {e}"));
    conn.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One name for every run of a test's daemon: a restarted (or killed and started
/// again) daemon resumes its companies at once, as an operator's fixed
/// `cluster.instance_id` does; tests of many instances set their own `[cluster]`.
fn with_instance_id(extra: &str) -> String {
    if extra.contains("[cluster]") {
        extra.to_string()
    } else {
        format!("{extra}\n[cluster]\ninstance_id = \"test-instance\"\n")
    }
}

pub struct TestApp {
    pub sim: Simulator,
    pub db: Db,
    pub database: TestDatabase,
    pub db_path: PathBuf,
    pub options: Options,
    /// Every line the in-process daemon logged.
    pub logs: Logs,
    daemon: Option<Daemon>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let mut app = prepare(options).await;
    app.start().await;
    app
}

/// The simulator and the database, without the daemon.
pub async fn prepare(options: Options) -> TestApp {
    let sim = Simulator::start().await.expect("simulator starts");
    for (id, tz) in &options.companies {
        sim.add_company(*id, &format!("Салон {id}"), "Москва, ул. Пушкина, 10", tz);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db_path = dir.path().join("booking-monitor.db");
    let database = match &options.postgres {
        Some(server) => TestDatabase::on_postgres(server),
        None => TestDatabase::create(dir.path()),
    };
    let db = database.open();
    TestApp {
        sim,
        db,
        database,
        db_path,
        options,
        logs: Logs::default(),
        daemon: None,
        _dir: dir,
    }
}

impl TestApp {
    pub fn config_text(&self) -> String {
        let o = &self.options;
        let parts = ConfigParts {
            yclients: format!(
                "request_timeout_ms = {}\n{}",
                o.yclients_timeout_ms, o.yclients_extra
            ),
            monitor: format!(
                "poll_interval_ms = {}\nnotification_delay_ms = {}\nbot_user_ids = [{BOT_USER}]\n\
                 retry_initial_ms = 100\nretry_max_ms = {}\n{}",
                o.poll_ms, o.delay_ms, o.retry_max_ms, o.monitor_extra
            ),
            whatsapp: "request_timeout_ms = 2000".into(),
            cloud_api: o.cloud_api_extra.clone(),
            tables: with_instance_id(&o.extra),
            company: o.company_extra.clone(),
            provider: o.whatsapp_provider,
        };
        let companies: Vec<i64> = o.companies.iter().map(|(id, _)| *id).collect();
        self.sim
            .daemon_config(&self.database.url(), &companies, &parts)
    }

    pub fn config(&self) -> Config {
        Config::parse(&self.config_text(), &|_| None).expect("a valid test config")
    }

    pub async fn start(&mut self) {
        self.start_with_faults("").await;
    }

    /// Starts the daemon with test-only failures (see `booking_monitor::faults`).
    pub async fn start_with_faults(&mut self, faults: &str) {
        assert!(self.daemon.is_none(), "the daemon is already running");
        let logger = self.logs.logger();
        let faults = FaultPlan::parse(faults).expect("a fault plan");
        let daemon = Daemon::start_with_faults(self.config(), self.db.clone(), logger, faults);
        self.daemon = Some(daemon.expect("daemon starts"));
    }

    /// Applies the config `options` now describe, as a SIGHUP does (`Daemon::reload`).
    pub async fn reload(&self) {
        let daemon = self.daemon.as_ref().expect("the daemon is running");
        daemon.reload(self.config()).await;
    }

    /// The daemon's HTTP endpoints (`http.listen` in `options.extra`).
    pub fn http_url(&self) -> String {
        let addr = self
            .daemon
            .as_ref()
            .and_then(|d| d.http_addr())
            .expect("http.listen is set");
        format!("http://{addr}")
    }

    /// Runs a command of the binary with this app's config; (exit code, stdout, stderr).
    /// Off the test's thread: the simulator's server runs on it.
    pub async fn command(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let dir = self.db_path.parent().unwrap().to_path_buf();
        let config = self.write_config();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let out = actix_rt::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_booking-monitor"))
                .args(&args)
                .arg("--config")
                .arg(&config)
                .current_dir(&dir)
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The phones WhatsApp got a message for, in the order they came.
    pub fn phones_messaged(&self) -> Vec<String> {
        let world = self.sim.world();
        world.messages.iter().map(|m| m.phone.clone()).collect()
    }

    /// Actor restarts since the daemon started.
    pub fn restarts(&self) -> u64 {
        self.daemon
            .as_ref()
            .map(|d| d.supervision().restarts())
            .unwrap_or(0)
    }

    pub async fn stop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.shutdown().await;
        }
    }

    /// Waits until the first poll of every company is committed: from then on, a
    /// new booking is news. A first poll asks twice (the baseline, the changes);
    /// the request after them means it was committed.
    pub async fn wait_until_monitoring(&self) {
        let n = self.options.companies.len();
        self.sim
            .wait_for_polls(3 * n, PATIENCE)
            .await
            .expect("the first polls");
    }

    /// Waits for `n` more record-list requests (each poll after the next one).
    pub async fn wait_for_more_polls(&self, n: usize) {
        let seen = self.sim.world().record_list_requests();
        self.sim
            .wait_for_polls(seen + n, PATIENCE)
            .await
            .expect("more polls");
    }

    pub fn create(&self, booking: Booking) -> i64 {
        self.sim.create(booking)
    }

    pub async fn wait_for_messages(&self, n: usize) -> Vec<SentMessage> {
        self.sim
            .wait_for_messages(n, PATIENCE)
            .await
            .expect("the messages")
    }

    pub async fn notifications(&self) -> Vec<Notification> {
        self.db
            .run(store::all_notifications)
            .await
            .expect("notifications")
    }

    /// Waits until the record's notification reaches `status` (the database has no
    /// events to await, so this looks every 20 ms until PATIENCE runs out).
    pub async fn wait_for_status(&self, record: i64, status: Status) -> Notification {
        self.wait_for_row(record, None, status).await
    }

    /// As `wait_for_status`, for a notification of one kind.
    pub async fn wait_for_kind(&self, record: i64, kind: Kind, status: Status) -> Notification {
        self.wait_for_row(record, Some(kind), status).await
    }

    async fn wait_for_row(&self, record: i64, kind: Option<Kind>, status: Status) -> Notification {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let rows = self.notifications().await;
            if let Some(row) = rows.iter().find(|r| {
                r.record_id == record && r.status == status && kind.is_none_or(|k| r.kind == k)
            }) {
                return row.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "record {record} never reached {status:?}; rows: {rows:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A port free on 127.0.0.1 now, for a daemon run as a binary whose
/// `http.listen` must be known before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET to the daemon's HTTP endpoints: (status, body).
pub async fn get(url: &str) -> (u16, String) {
    let mut response = awc::Client::new().get(url).send().await.unwrap();
    let body = response.body().await.unwrap();
    (
        response.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// A wall-clock time `days` from today in the salon's zone (tests only need "in the future").
pub fn visit(days: u64, hour: u32, minute: u32) -> NaiveDateTime {
    (Utc::now().date_naive() + Days::new(days))
        .and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap())
}

/// A booking confirmed to its client: its id and the message the client got.
pub async fn confirmed(app: &TestApp, name: &str, phone: &str, days: u64) -> (i64, SentMessage) {
    let id = app.create(Booking::by_admin(COMPANY, name, phone, visit(days, 14, 0)));
    let row = app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let sent = app
        .sim
        .world()
        .messages
        .iter()
        .find(|m| Some(&m.id) == row.provider_message_id.as_ref())
        .cloned()
        .expect("the confirmation as the simulator got it");
    (id, sent)
}

pub fn admin_booking(name: &str, phone: &str) -> Booking {
    Booking::by_admin(COMPANY, name, phone, visit(1, 14, 0))
}

/// The real binary, run against the same simulator and database.
pub struct Process {
    child: std::process::Child,
    pub log_path: PathBuf,
}

impl TestApp {
    /// `config.toml` in the app's directory, written whole and renamed: a process
    /// starting beside it never reads half a file.
    pub fn write_config(&self) -> PathBuf {
        let dir = self.db_path.parent().unwrap();
        let config = dir.join("config.toml");
        let fresh = dir.join(format!("config-{}.toml", fastrand::u32(..)));
        std::fs::write(&fresh, self.config_text()).unwrap();
        std::fs::rename(&fresh, &config).unwrap();
        config
    }

    pub fn spawn_binary(&self) -> Process {
        self.spawn_binary_with_env(&[])
    }

    pub fn spawn_binary_with_env(&self, env: &[(&str, &str)]) -> Process {
        let dir = self.db_path.parent().unwrap();
        let config = self.write_config();
        let log_path = dir.join(format!("daemon-{}.log", fastrand::u32(..)));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_booking-monitor"))
            .args(["run", "--config"])
            .arg(&config)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .envs(env.iter().copied())
            .spawn()
            .expect("the binary starts");
        Process { child, log_path }
    }
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit; `None` if it is still running after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            // A child's exit has no event to await here short of a SIGCHLD handler.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

/// A test that ends without `stop()` must not leave its daemon running: its
/// actors would go on polling and sending, maybe to another test's simulator that
/// took over the port.
impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(daemon) = self.daemon.take() {
            daemon.stop_now();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A logger that keeps every line (message and key-values) for assertions, and
/// also prints it when `TEST_LOG` is set.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<String>>>);

impl Logs {
    pub fn logger(&self) -> slog::Logger {
        let keep = KeepDrain(self.0.clone());
        if std::env::var_os("TEST_LOG").is_some() {
            let term = logging::terminal(slog::Level::Debug);
            slog::Logger::root(slog::Duplicate::new(keep, term).fuse(), slog::o!())
        } else {
            slog::Logger::root(keep.fuse(), slog::o!())
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, text: &str) -> usize {
        self.lines().iter().filter(|l| l.contains(text)).count()
    }
}

struct KeepDrain(Arc<Mutex<Vec<String>>>);

impl slog::Drain for KeepDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let mut line = LineSerializer(format!(
            "{} {}",
            record.level().as_short_str(),
            record.msg()
        ));
        let _ = slog::KV::serialize(&record.kv(), record, &mut line);
        let _ = slog::KV::serialize(values, record, &mut line);
        self.0.lock().unwrap().push(line.0);
        Ok(())
    }
}

struct LineSerializer(String);

impl slog::Serializer for LineSerializer {
    fn emit_arguments(&mut self, key: slog::Key, val: &std::fmt::Arguments) -> slog::Result {
        self.0.push_str(&format!(", {key}: {val}"));
        Ok(())
    }
}
