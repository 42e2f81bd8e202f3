//! The benches' shared harness: the release binary run against the crate's simulator
//! in a temporary directory, its memory and CPU from /proc, a timed SIGTERM, and the
//! markdown report with its number formats. Each bench declares `mod support;`.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use booking_monitor::simulator::{ConfigParts, Simulator, World};
use booking_monitor::store::{self, Db};

pub mod pg;
pub mod reload;
pub mod replies;
pub mod stream;
pub mod year;

pub const BIN: &str = env!("CARGO_BIN_EXE_booking-monitor");
/// How long a SIGTERM may take before the daemon is killed and that is reported.
pub const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(20);
/// The salons' zone: the reminders follow its calendar.
pub const ZONE: &str = "Europe/Moscow";
/// The database's file name in the daemon's directory.
pub const DB_FILE: &str = "booking-monitor.db";

/// `BENCH_QUICK` set (and not `0`): a smoke run.
pub fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `[monitor]`'s keys for this poll interval and grace delay.
pub fn monitor(poll_ms: u64, delay_ms: u64) -> String {
    format!("poll_interval_ms = {poll_ms}\nnotification_delay_ms = {delay_ms}")
}

/// A simulator with these companies, each a salon in Moscow.
pub async fn start_sim(companies: &[i64]) -> Result<Simulator, String> {
    let sim = Simulator::start()
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    for id in companies {
        sim.add_company(*id, &format!("Салон {id}"), "Москва, ул. Пушкина, 10", ZONE);
    }
    Ok(sim)
}

/// A free port on 127.0.0.1, for a daemon's `http.listen`.
pub fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("a free port: {e}"))
}

/// `GET url`: the status and the body.
pub async fn get(url: &str) -> Result<(u16, Vec<u8>), String> {
    let mut answer = awc::Client::new()
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let body = answer
        .body()
        .limit(1 << 24)
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    Ok((answer.status().as_u16(), body.to_vec()))
}

/// `GET url` as JSON.
pub async fn get_json(url: &str) -> Result<serde_json::Value, String> {
    let (_, body) = get(url).await?;
    serde_json::from_slice(&body).map_err(|e| format!("GET {url}: {e}"))
}

// ---------------------------------------------------------------- the daemon

/// The release binary running against a simulator, in its own temporary directory.
pub struct Running {
    child: Child,
    pub pid: u32,
    pub spawned: Instant,
    log: PathBuf,
    dir: tempfile::TempDir,
}

pub struct Stopped {
    pub took: Duration,
    pub status: Option<ExitStatus>,
}

impl Stopped {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn describe(&self) -> String {
        match self.status {
            Some(s) => match s.code() {
                Some(code) => format!("exit code {code}"),
                None => format!("{s}"),
            },
            None => format!(
                "still running after {} s: killed",
                SHUTDOWN_PATIENCE.as_secs()
            ),
        }
    }
}

impl Running {
    /// `booking-monitor run --config <tmp>/config.toml`, the config pointing at `sim`,
    /// stderr to `<tmp>/daemon.log`, none of the daemon's variables inherited.
    pub fn spawn(
        sim: &Simulator,
        companies: &[i64],
        parts: &ConfigParts,
    ) -> Result<Running, String> {
        Running::spawn_on(sim, None, companies, parts)
    }

    /// As `spawn`, on `database_url` (a PostgreSQL database) when given, else on a
    /// SQLite file in the temporary directory.
    pub fn spawn_on(
        sim: &Simulator,
        database_url: Option<&str>,
        companies: &[i64],
        parts: &ConfigParts,
    ) -> Result<Running, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        Running::spawn_in(dir, sim, database_url, companies, parts)
    }

    /// As `spawn_on`, in `dir` (where a database may already lie, as `DB_FILE`).
    pub fn spawn_in(
        dir: tempfile::TempDir,
        sim: &Simulator,
        database_url: Option<&str>,
        companies: &[i64],
        parts: &ConfigParts,
    ) -> Result<Running, String> {
        let url = match database_url {
            Some(url) => url.to_string(),
            None => Simulator::sqlite_url(&dir.path().join(DB_FILE)),
        };
        let config = dir.path().join("config.toml");
        let mut text = sim.daemon_config(&url, companies, parts);
        // `BENCH_LOG=debug`: the daemon's log at that level, to trace a run.
        if let Ok(level) = std::env::var("BENCH_LOG") {
            text.push_str(&format!("\n[log]\nlevel = \"{level}\"\n"));
        }
        std::fs::write(&config, text).map_err(|e| format!("writing {}: {e}", config.display()))?;
        let log = dir.path().join("daemon.log");
        let stderr = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut command = Command::new(BIN);
        command
            .arg("run")
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for name in [
            "YCLIENTS_PARTNER_TOKEN",
            "YCLIENTS_USER_TOKEN",
            "WHATSAPP_ACCESS_TOKEN",
            "GREEN_API_TOKEN",
            "BOOKING_MONITOR_HTTP_TOKEN",
            "BOOKING_MONITOR_ENABLED",
            "BOOKING_MONITOR_INTERVAL",
            "BOOKING_NOTIFICATION_DELAY",
        ] {
            command.env_remove(name);
        }
        let spawned = Instant::now();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {BIN}: {e}"))?;
        Ok(Running {
            pid: child.id(),
            child,
            spawned,
            log,
            dir,
        })
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join(DB_FILE)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// `kill -9`, then reaps the process: when this returns, it is gone.
    pub fn kill(&mut self) -> Result<(), String> {
        self.exited("before the kill")?;
        self.child
            .kill()
            .map_err(|e| format!("kill -9 {}: {e}", self.pid))?;
        self.child
            .wait()
            .map(|_| ())
            .map_err(|e| format!("reaping {}: {e}", self.pid))
    }

    pub fn memory(&self) -> Result<Memory, String> {
        Memory::of(self.pid)
    }

    /// The sockets the daemon has open (its listeners and connections, both ways).
    pub fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .map(|fds| {
                fds.flatten()
                    .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                    .filter(|target| target.to_string_lossy().starts_with("socket:"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// The CPU time (user + system) the daemon has used so far.
    pub fn cpu(&self) -> Result<Duration, String> {
        let path = format!("/proc/{}/stat", self.pid);
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        // After the command name (which may hold spaces): utime and stime are the
        // 14th and 15th fields.
        let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let ticks: u64 = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|f| f.parse::<u64>().ok())
            .sum();
        Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64))
    }

    /// Sends SIGTERM and times the exit.
    pub async fn stop(&mut self) -> Result<Stopped, String> {
        if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!(
                "the daemon had already exited ({status}); log tail:\n{}",
                self.log_tail()
            ));
        }
        let sent = Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .map_err(|e| format!("kill -TERM: {e}"))?;
        if !kill.success() {
            return Err(format!("kill -TERM {} failed: {kill}", self.pid));
        }
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(Stopped {
                    took: sent.elapsed(),
                    status: Some(status),
                });
            }
            if sent.elapsed() > SHUTDOWN_PATIENCE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Ok(Stopped {
                    took: sent.elapsed(),
                    status: None,
                });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Stops the daemon (SIGTERM, timed) and then the simulator; the measurement's
    /// result, whose error comes first, with the stop.
    pub async fn finish<T>(
        &mut self,
        sim: &Simulator,
        result: Result<T, String>,
    ) -> Result<(T, Stopped), String> {
        let stopped = self.stop().await;
        sim.stop().await;
        let value = result?;
        Ok((value, stopped?))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The daemon's log lines at WARN or worse.
    pub fn warnings(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| [" WARN ", " ERRO ", " CRIT "].iter().any(|w| l.contains(w)))
            .map(str::to_string)
            .collect()
    }

    /// The database and its side files, in bytes.
    pub fn db_bytes(&self) -> u64 {
        std::fs::read_dir(self.dir.path())
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(DB_FILE))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Fails when the daemon has exited: "the daemon exited (…) `when`; log tail: …".
    fn exited(&mut self, when: &str) -> Result<(), String> {
        match self.child.try_wait().map_err(|e| e.to_string())? {
            Some(status) => Err(format!(
                "the daemon exited ({status}) {when}; log tail:\n{}",
                self.log_tail()
            )),
            None => Ok(()),
        }
    }

    /// Fails when the daemon has exited.
    pub fn alive(&mut self, what: &str) -> Result<(), String> {
        self.exited(&format!("during {what}"))
    }

    /// Asks `url` every 10 ms until it answers 200: how long after the spawn it
    /// first did. Fails when the daemon dies or `timeout` passes first.
    pub async fn until_ok(&mut self, url: &str, timeout: Duration) -> Result<Duration, String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.exited(&format!("before {url} answered 200"))?;
            let last = match get(url).await {
                Ok((200, _)) => return Ok(self.spawned.elapsed()),
                Ok((status, body)) => format!("{status} {}", String::from_utf8_lossy(&body)),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "{url} did not answer 200 within {} s (last: {}); daemon log tail:\n{}",
                    timeout.as_secs(),
                    last.chars().take(300).collect::<String>(),
                    self.log_tail()
                ));
            }
            // Nothing to await but the daemon's own progress.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Awaits a state of the simulator's world: `Some` when reached, `None` when
    /// `timeout` passed first; fails at once if the daemon dies (`when` says during
    /// what).
    async fn watch<T>(
        &mut self,
        sim: &Simulator,
        timeout: Duration,
        when: &str,
        mut check: impl FnMut(&World) -> Option<T>,
    ) -> Result<Option<T>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(500));
            if let Ok(found) = sim.wait_until(slice, &mut check).await {
                return Ok(Some(found));
            }
            self.exited(when)?;
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Awaits a state of the simulator's world: `Some` when reached, `None` when
    /// `timeout` passed first; fails at once if the daemon dies.
    pub async fn await_world<T>(
        &mut self,
        sim: &Simulator,
        timeout: Duration,
        what: &str,
        check: impl FnMut(&World) -> Option<T>,
    ) -> Result<Option<T>, String> {
        self.watch(sim, timeout, &format!("during {what}"), check)
            .await
    }

    /// Awaits a state of the simulator's world, failing at once if the daemon dies
    /// and when `timeout` passes first.
    pub async fn expect_world<T>(
        &mut self,
        sim: &Simulator,
        timeout: Duration,
        what: &str,
        check: impl FnMut(&World) -> Option<T>,
    ) -> Result<T, String> {
        let when = format!("while the bench awaited {what}");
        match self.watch(sim, timeout, &when, check).await? {
            Some(found) => Ok(found),
            None => Err(format!(
                "{what}: not within {} s; daemon log tail:\n{}",
                timeout.as_secs(),
                self.log_tail()
            )),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // `BENCH_KEEP=DIR`: the daemon's log and database kept there, named by its pid.
        if let Ok(keep) = std::env::var("BENCH_KEEP") {
            let keep = PathBuf::from(keep);
            let _ = std::fs::create_dir_all(&keep);
            for name in ["daemon.log", DB_FILE] {
                let to = keep.join(format!("{}-{name}", self.pid));
                let _ = std::fs::copy(self.dir.path().join(name), to);
            }
        }
    }
}

/// USER_HZ, the unit of /proc/<pid>/stat's times.
fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// A process's memory from /proc/<pid>/status, KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub anon_kib: u64,
    pub file_kib: u64,
    pub threads: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Result<Memory, String> {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(Memory {
            rss_kib: field("VmRSS:"),
            hwm_kib: field("VmHWM:"),
            anon_kib: field("RssAnon:"),
            file_kib: field("RssFile:"),
            threads: field("Threads:"),
        })
    }
}

// ---------------------------------------------------- what the simulator saw

/// The daemon's outbox after it stopped: `kind status count`, comma-separated.
pub fn outbox_counts(db: &std::path::Path) -> String {
    let read = || -> Result<String, String> {
        let db = Db::open(db).map_err(|e| format!("opening the outbox: {e}"))?;
        let rows = db
            .blocking(|c| store::count_by_kind_and_status(c, None))
            .map_err(|e| format!("reading the outbox: {e}"))?;
        Ok(rows
            .iter()
            .map(|(kind, status, n)| format!("{kind} {status} {n}"))
            .collect::<Vec<_>>()
            .join(", "))
    };
    read().unwrap_or_else(|e| e)
}

/// When each YClients request the simulator answered was answered, in answer order.
pub fn yclients_times(world: &World) -> Vec<Instant> {
    world
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .map(|r| r.at)
        .collect()
}

/// The most instants within any `window` (the log is in answer order).
pub fn peak_in_window(times: &[Instant], window: Duration) -> usize {
    let mut peak = 0;
    let mut from = 0;
    for (to, at) in times.iter().enumerate() {
        while *at - times[from] >= window {
            from += 1;
        }
        peak = peak.max(to + 1 - from);
    }
    peak
}

/// Whether a record-list request asked for its first page (no `page=`, or `page=1`).
pub fn first_page(query: &str) -> bool {
    !query
        .split('&')
        .any(|p| p.starts_with("page=") && p != "page=1")
}

// -------------------------------------------------------------------- report

/// A row of the table: figure, value, note.
pub type Row = (String, String, String);

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub problems: Vec<String>,
    pub failures: Vec<String>,
}

impl Report {
    pub fn row(
        &mut self,
        figure: impl Into<String>,
        value: impl Into<String>,
        note: impl Into<String>,
    ) {
        self.rows.push((figure.into(), value.into(), note.into()));
    }

    pub fn fail(&mut self, what: String) {
        self.row(format!("{what}: FAILED"), "—", "see below");
        self.failures.push(what);
    }

    /// The figures, or `None` with the error a failure (`what` says of which part).
    pub fn figures<T>(
        &mut self,
        result: Result<T, String>,
        what: impl FnOnce(String) -> String,
    ) -> Option<T> {
        match result {
            Ok(f) => Some(f),
            Err(e) => {
                self.fail(what(e));
                None
            }
        }
    }

    /// The SIGTERM row of a part labelled `l`; a failure unless it exited 0.
    pub fn sigterm(&mut self, l: &str, stopped: &Stopped) {
        self.row(
            format!("{l} SIGTERM → exit"),
            millis(stopped.took),
            stopped.describe(),
        );
        if !stopped.ok() {
            self.failures.push(format!(
                "{l} the daemon did not exit 0 on SIGTERM: {}",
                stopped.describe()
            ));
        }
    }

    /// The SIGTERM row, if stopped, then the first five WARN-or-worse log lines.
    pub fn ending(&mut self, l: &str, stopped: Option<&Stopped>, warnings: &[String]) {
        if let Some(stopped) = stopped {
            self.sigterm(l, stopped);
        }
        for w in warnings.iter().take(5) {
            self.problems.push(format!("{l} daemon log: {w}"));
        }
        if warnings.len() > 5 {
            self.problems
                .push(format!("{l} … {} more WARN/ERRO lines", warnings.len() - 5));
        }
    }

    /// The table (after `leading` rows), then what was seen and what failed.
    pub fn print_table(&self, leading: &[Row]) {
        println!("| figure | value | note |");
        println!("|---|---|---|");
        let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        for (figure, value, note) in leading.iter().chain(&self.rows) {
            println!("| {} | {} | {} |", cell(figure), cell(value), cell(note));
        }
        if !self.problems.is_empty() {
            println!();
            println!("Seen in the daemon's behaviour:");
            for p in &self.problems {
                println!("- {p}");
            }
        }
        if !self.failures.is_empty() {
            println!();
            println!("FAILED:");
            for f in &self.failures {
                println!("- {f}");
            }
        }
    }

    /// 1 when a figure could not be measured or a daemon did not exit 0.
    pub fn exit_code(&self) -> ExitCode {
        if self.failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// What the bench ran on: cores (nproc), `rustc --version`, the CPU's model name.
/// A bench's heading and the machine it ran on, as every report begins:
/// `## booking-monitor NAME`, then the cores, CPU, compiler, how long the bench
/// took and the load average before and now.
pub fn print_heading(name: &str, quick: bool, took: Duration, load_before: &str) {
    let Machine { cores, rustc, cpu } = Machine::read();
    println!();
    println!(
        "## booking-monitor {name}{}",
        if quick { " (BENCH_QUICK)" } else { "" }
    );
    println!();
    println!(
        "Machine: {cores} cores (nproc), {cpu}; {rustc}. Bench took {}; load average {load_before} before, {} after.",
        secs(took),
        load_average()
    );
    println!();
}

pub struct Machine {
    pub cores: usize,
    pub rustc: String,
    pub cpu: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|s| s.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        Machine { cores, rustc, cpu }
    }
}

/// The load averages over 1, 5 and 15 minutes (/proc/loadavg): how busy the machine
/// was, other work included.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

pub fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// A chrono duration in ms.
pub fn ms(d: chrono::Duration) -> f64 {
    d.num_microseconds().unwrap_or(i64::MAX) as f64 / 1000.0
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}
