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

mod actions;
mod database;
mod instances;
mod invariants;
mod ledger;
pub mod outcome;
mod report;
pub mod schedule;
pub mod seen;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Chaos, Simulator, StatusCallbacks, WebhookSender};

pub use database::Server;
pub use report::Outcome;

use database::Database;
use instances::{Instances, Setup, APP_SECRET, BOT, WEBHOOK_TOKEN};
use invariants::{Findings, Judge};
use ledger::{How, Ledger, Signal};
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
    if !outcome.violations.is_empty() || outcome.error.is_some() {
        let kept = dir.keep();
        println!("soak: logs and database kept in {}", kept.display());
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

    /// Between steps: kills that wait for a held request, instances that stopped
    /// or died, instances due back, and the running checks every ten seconds.
    fn housekeeping(&mut self) {
        self.strike_held();
        let now = Instant::now();
        for (slot, status, took) in self.instances.stopped() {
            let t = self.ledger.borrow().t(now);
            match status {
                Some(s) if s.success() => {}
                Some(s) => self.findings.violation(
                    format!("term {slot} {t}"),
                    format!(
                        "instance {slot} exited {s} on SIGTERM ({t}, after {took:?}); log:\n{}",
                        self.instances.log_tail(slot, 10)
                    ),
                ),
                None => {
                    self.findings.violation(
                        format!("term {slot} {t}"),
                        format!(
                            "instance {slot} had not exited {took:?} after SIGTERM ({t}): killed"
                        ),
                    );
                    self.ledger.borrow_mut().signals.push(Signal {
                        slot,
                        at: now,
                        how: How::Kill,
                        why: "SIGTERM not obeyed".into(),
                    });
                }
            }
            let i = self.back_after_stop.iter().position(|(s, _)| *s == slot);
            let down = i.map_or(Duration::ZERO, |i| self.back_after_stop.remove(i).1);
            self.returns.push((now + down, slot, false));
        }
        for (slot, status) in self.instances.exited() {
            let t = self.ledger.borrow().t(now);
            self.findings.violation(
                format!("exit {slot} {t}"),
                format!(
                    "instance {slot} exited by itself ({status}) at {t}; log:\n{}",
                    self.instances.log_tail(slot, 15)
                ),
            );
            self.ledger.borrow_mut().signals.push(Signal {
                slot,
                at: now,
                how: How::Kill,
                why: "it exited by itself".into(),
            });
            self.returns
                .push((now + Duration::from_secs(1), slot, false));
            self.doors_changed();
        }
        if !self.pg_busy.get() {
            let due: Vec<(Instant, usize, bool)> = self
                .returns
                .iter()
                .copied()
                .filter(|r| r.0 <= now)
                .collect();
            self.returns.retain(|r| r.0 > now);
            for (_, slot, fresh) in due {
                match self.instances.spawn(&self.sim, slot, fresh) {
                    Ok(()) => self.ledger.borrow_mut().restarts += 1,
                    Err(e) => self.findings.violation(
                        format!("spawn {slot}"),
                        format!("instance {slot} could not start: {e}"),
                    ),
                }
                self.doors_changed();
            }
        }
        if now.duration_since(self.last_check) >= Duration::from_secs(10) {
            self.last_check = now;
            self.check_running();
        }
        if now.duration_since(self.last_progress) >= Duration::from_secs(60) {
            self.last_progress = now;
            self.progress();
        }
    }

    fn strike_held(&mut self) {
        if self.watches.is_empty() {
            return;
        }
        let held = self.sim.world().held.clone();
        let now = Instant::now();
        let mut strike = Vec::new();
        let mut missed = 0;
        self.watches.retain(|w| {
            if let Some(h) = held.iter().find(|h| h.target.contains(&w.target)) {
                strike.push((instances::slot_of(h.by.as_deref()), w.why.clone()));
                false
            } else if now > w.until {
                missed += 1;
                false
            } else {
                true
            }
        });
        for _ in 0..missed {
            self.ledger
                .borrow_mut()
                .skip("aimed kill: nothing held in time (booking gone, or answered before)");
        }
        for (slot, why) in strike {
            match slot.filter(|s| *s < self.instances.slots.len()) {
                Some(slot) => self.kill(slot, why, Duration::from_secs(1), false),
                None => self
                    .ledger
                    .borrow_mut()
                    .skip("aimed kill: the sender is unknown"),
            }
        }
    }

    /// Clients' replies go to the instances that run; YClients' events and Meta's
    /// statuses to the first of them.
    fn doors_changed(&mut self) {
        let urls: Vec<Option<String>> = (0..self.instances.slots.len())
            .map(|s| self.instances.url(s))
            .collect();
        let first = urls.iter().flatten().next().cloned();
        *self.doors.borrow_mut() = urls;
        if let Some(url) = first {
            self.sim.change(|w| {
                w.webhooks = Some(WebhookSender {
                    url: format!("{url}/webhooks/yclients/{WEBHOOK_TOKEN}"),
                    update_repeats: 2,
                });
                w.status_callbacks = Some(StatusCallbacks {
                    url: format!("{url}/webhooks/whatsapp"),
                    app_secret: APP_SECRET.into(),
                    statuses: vec!["sent", "delivered", "read"],
                });
            });
        }
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
                "soak VIOLATION (seed {}, {}): {v}",
                ledger.seed,
                ledger.t(Instant::now())
            );
        }
        self.findings = findings;
    }

    fn progress(&self) {
        let l = self.ledger.borrow();
        let w = self.sim.world();
        println!(
            "soak {}: {} bookings, {} WhatsApp messages, {} SMS, {} replies, {} kills/stops, {} violations (load {})",
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

    /// The schedule is over: the faults end, every instance comes back, and the
    /// soak waits until nothing more is sent for a while.
    async fn drain(&mut self) {
        self.sim.change(|w| {
            w.yclients_faults.clear();
            w.yclients_faults_for.clear();
            w.whatsapp_faults.clear();
            w.whatsapp_faults_for.clear();
            w.sms_faults.clear();
            w.sms_faults_for.clear();
        });
        self.watches.clear();
        let quiet_for = Duration::from_millis(
            self.settings.timing.sms_after_ms + self.settings.timing.grace_ms,
        ) * 3;
        let deadline = Instant::now() + Duration::from_secs(240);
        let mut last = (0, Instant::now());
        while Instant::now() < deadline {
            for slot in 0..self.instances.slots.len() {
                let away = !self.instances.running(slot) && !self.instances.stopping(slot);
                if away && !self.returns.iter().any(|r| r.1 == slot) {
                    self.returns.push((Instant::now(), slot, false));
                }
            }
            self.housekeeping();
            let activity = {
                let w = self.sim.world();
                w.messages.len()
                    + w.sms.len()
                    + w.requests.iter().filter(|r| r.method == "PUT").count()
                    + w.telegram.len()
            };
            if activity != last.0 {
                last = (activity, Instant::now());
            }
            let replies_done = self
                .ledger
                .borrow()
                .replies
                .iter()
                .all(|r| r.gave_up || r.deliveries > 0);
            let all_up = (0..self.instances.slots.len()).all(|s| self.instances.running(s));
            if all_up && replies_done && last.1.elapsed() >= quiet_for {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop_all(&mut self) {
        for slot in 0..self.instances.slots.len() {
            if self.instances.term(slot) {
                self.back_after_stop.push((slot, Duration::from_secs(3600)));
            }
        }
        while (0..self.instances.slots.len()).any(|s| self.instances.stopping(s)) {
            self.housekeeping();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.returns.clear();
        self.doors_changed();
    }
}
