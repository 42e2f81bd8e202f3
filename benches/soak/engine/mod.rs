//! The randomized soak (issue 21): the daemon's binary against the simulator, on
//! SQLite (one instance) or PostgreSQL (two), for as long as asked, while a seeded
//! schedule makes, moves and deletes bookings, has clients answer (and stop), and
//! injects faults: kill -9 (at random, mid-send, mid-write-back), SIGTERM,
//! PostgreSQL restarts, YClients' and WhatsApp's and the SMS provider's errors,
//! 429s and timeouts, 131026, `failed` statuses, and webhooks lost, repeated and
//! reordered. The invariants (`invariants.rs`, `outcome.rs`) are checked as it runs
//! and at the end. `cargo bench --bench soak` runs it on the release binary;
//! `tests/daemon/soak.rs` runs a short form on the debug one.
//!
//! The seed decides the schedule (`schedule.rs`): the same seed replays the same
//! actions and faults at the same offsets. What it cannot fix is the wall clock:
//! which sends a fault or a kill meets, and how the daemon's work interleaves with
//! the schedule, differ from run to run.
//!
//! Opt-outs («стоп») switch on by themselves once the binary has them
//! (`booking-monitor optout --help` succeeds): then a stop is an opt-out, the
//! config sets `messages.opted_out`/`opted_in`, and «nothing after an opt-out once
//! it landed» is checked. Until then a stop is just another reply.

mod actions;
mod database;
mod instances;
pub mod invariants;
mod keeping;
pub mod ledger;
pub mod outcome;
mod report;
pub mod schedule;
pub mod seen;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Chaos, Simulator};

pub use database::Server;
pub use report::Outcome;

use database::Database;
use instances::{Instances, Setup, BOT};
use invariants::{Findings, Judge};
use ledger::Ledger;
use schedule::{Pace, COMPANIES};
use seen::{Anchor, Seen};

/// The daemon's timings under soak: fast, so that an hour holds thousands of
/// bookings and hundreds of faults.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub poll_ms: u64,
    pub grace_ms: u64,
    /// YClients', WhatsApp's and the SMS provider's request timeout.
    pub request_timeout_ms: u64,
    pub sms_after_ms: u64,
    pub lease_ttl_ms: u64,
}

impl Timing {
    pub const SOAK: Timing = Timing {
        poll_ms: 1_000,
        grace_ms: 3_000,
        request_timeout_ms: 2_000,
        sms_after_ms: 4_000,
        lease_ttl_ms: 3_000,
    };

    pub fn grace(&self) -> Duration {
        Duration::from_millis(self.grace_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

pub enum Backend {
    /// One instance on a SQLite file.
    Sqlite,
    /// Two instances on a database of their own on this server.
    Postgres(Server),
}

pub struct Settings {
    pub seed: u64,
    pub length: Duration,
    /// The mean gap between two steps of the schedule.
    pub mean_gap: Duration,
    pub backend: Backend,
    /// PostgreSQL restarts are faults (only on a server of the soak's own).
    pub pg_restarts: bool,
    pub binary: PathBuf,
    pub timing: Timing,
    /// Prints every step as it is carried out.
    pub trace: bool,
}

/// `SOAK_SEED`, or a fresh one.
pub fn seed_from_env() -> Result<u64, String> {
    match std::env::var("SOAK_SEED") {
        Ok(s) if !s.trim().is_empty() => s
            .trim()
            .parse()
            .map_err(|_| format!("SOAK_SEED={s}: not a number")),
        _ => Ok(fastrand::u64(..) % 1_000_000_000),
    }
}

/// A kill -9 to strike when a request to `target` is held at the simulator.
pub(crate) struct Watch {
    target: String,
    why: String,
    until: Instant,
}

pub(crate) struct Soak {
    sim: Simulator,
    instances: Instances,
    database: Database,
    settings: Settings,
    ledger: Rc<RefCell<Ledger>>,
    /// Each slot's base URL while it runs: where clients' replies are delivered.
    doors: Rc<RefCell<Vec<Option<String>>>>,
    findings: Findings,
    watches: Vec<Watch>,
    /// Slots to start again: when, which, with a fresh identity.
    returns: Vec<(Instant, usize, bool)>,
    /// Slots sent SIGTERM, and how long each stays down once it exited.
    back_after_stop: Vec<(usize, Duration)>,
    pg_busy: Rc<Cell<bool>>,
    anchor: Anchor,
    /// How long the schedule ran, once it has.
    ran: Duration,
    last_check: Instant,
    last_progress: Instant,
}

/// Runs the soak (inside an actix system): the outcome, or why it could not run.
pub async fn run(mut settings: Settings) -> Result<Outcome, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    let sim = Simulator::start()
        .await
        .map_err(|e| format!("simulator: {e}"))?;
    for id in COMPANIES {
        sim.add_company(
            id,
            &format!("Салон {id}"),
            "Москва, ул. Пушкина, 10",
            "Europe/Moscow",
        );
    }
    let (database, slots) = match std::mem::replace(&mut settings.backend, Backend::Sqlite) {
        Backend::Sqlite => (Database::Sqlite(dir.path().join("soak.db")), 1),
        Backend::Postgres(server) => {
            let name = format!("bm_soak_{}_{}", std::process::id(), settings.seed);
            (Database::postgres(server, &name)?, 2)
        }
    };
    let optouts = std::process::Command::new(&settings.binary)
        .args(["optout", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    let setup = Setup {
        binary: settings.binary.clone(),
        dir: dir.path().to_path_buf(),
        database_url: database.url(),
        postgres: slots == 2,
        optouts,
        timing: settings.timing,
    };
    let seed = settings.seed;
    let mut soak = Soak {
        instances: Instances::new(setup, slots),
        sim,
        database,
        ledger: Rc::new(RefCell::new(Ledger::new(seed))),
        doors: Rc::new(RefCell::new(vec![None; slots])),
        findings: Findings::default(),
        watches: Vec::new(),
        returns: Vec::new(),
        back_after_stop: Vec::new(),
        pg_busy: Rc::new(Cell::new(false)),
        anchor: Anchor::now(),
        ran: Duration::ZERO,
        last_check: Instant::now(),
        last_progress: Instant::now(),
        settings,
    };
    let result = soak.run_all().await;
    let outcome = soak.outcome(result);
    soak.sim.stop().await;
    if !outcome.passed() {
        soak.database.keep();
        let kept = dir.keep();
        println!(
            "soak: the instances' logs kept in {}; the database at {}",
            kept.display(),
            soak.database.url()
        );
    }
    Ok(outcome)
}

impl Soak {
    async fn run_all(&mut self) -> Result<(), String> {
        self.sim.change(|w| {
            w.telegram_token = Some(BOT.into());
            w.chaos = Some(Chaos {
                seed: self.settings.seed,
                lose_percent: 10,
                repeat_percent: 15,
                reorder_percent: 15,
                hold_max: Duration::from_secs(3),
            });
        });
        for slot in 0..self.instances.slots.len() {
            self.instances.spawn(&self.sim, slot, false)?;
        }
        self.doors_changed();
        self.monitoring_begun().await?;
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::Moscow)
            .date_naive();
        let pace = Pace {
            mean_gap: self.settings.mean_gap,
            grace: self.settings.timing.grace(),
        };
        let steps = schedule::draw(self.settings.seed, self.settings.length, pace, today);
        self.ledger.borrow_mut().start = Instant::now();
        self.anchor = Anchor::now();
        let start = Instant::now();
        for step in &steps {
            let due = start + step.at;
            while Instant::now() < due {
                self.housekeeping();
                let left = due.saturating_duration_since(Instant::now());
                tokio::time::sleep(left.min(Duration::from_millis(50))).await;
            }
            if self.settings.trace {
                println!(
                    "soak {}: {:?}",
                    self.ledger.borrow().t(Instant::now()),
                    step.action
                );
            }
            self.act(step);
        }
        self.ran = start.elapsed();
        self.drain().await;
        self.stop_all().await;
        Ok(())
    }

    /// Waits until every salon's first poll was committed (a first poll asks twice;
    /// the request after them means it was): from then on, every booking is news.
    async fn monitoring_begun(&mut self) -> Result<(), String> {
        let polled = |w: &booking_monitor::simulator::World| {
            COMPANIES.iter().all(|c| {
                let path = format!("/api/v1/records/{c}");
                w.requests.iter().filter(|r| r.path == path).count() >= 3
            })
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !polled(&self.sim.world()) {
            self.housekeeping();
            if Instant::now() > deadline {
                return Err(format!(
                    "monitoring never began within 120 s; instance 0's log:\n{}",
                    self.instances.log_tail(0, 20)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    fn judge<'a>(&'a self, ledger: &'a Ledger, seen: &'a Seen) -> Judge<'a> {
        Judge {
            ledger,
            seen,
            timing: &self.settings.timing,
            optouts: self.instances.setup.optouts,
        }
    }

    fn check_running(&mut self) {
        let seen = Seen::of(&self.sim.world(), &self.anchor);
        let ledger = self.ledger.borrow();
        let mut findings = std::mem::take(&mut self.findings);
        self.judge(&ledger, &seen).running(&mut findings);
        for v in findings.take_fresh() {
            println!(
                "soak VIOLATION [{}] (seed {}, {}): {v}",
                self.backend_name(),
                ledger.seed,
                ledger.t(Instant::now())
            );
        }
        self.findings = findings;
    }

    fn backend_name(&self) -> &'static str {
        if self.instances.setup.postgres {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }

    fn progress(&self) {
        let l = self.ledger.borrow();
        let w = self.sim.world();
        println!(
            "soak [{}] {}: {} bookings, {} WhatsApp messages, {} SMS, {} replies, {} kills/stops, {} violations (load {})",
            self.backend_name(),
            l.t(Instant::now()),
            l.bookings.len(),
            w.messages.len(),
            w.sms.len(),
            l.replies.len(),
            l.signals.len(),
            self.findings.violations.len(),
            report::load_average()
        );
    }
}
