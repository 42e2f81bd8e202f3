//! OTP's restart intensity on top of `actix::Supervisor`, which restarts forever:
//! past `max_restarts` within `restart_window_ms` the daemon gives up with exit
//! code 70 and leaves the restart to whatever runs the process.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use slog::Logger;
use tokio::sync::watch;

use crate::config::SupervisorConfig;
use crate::panic_guard::EXIT_GAVE_UP;

pub struct Supervision {
    max_restarts: usize,
    window: Duration,
    recent: Mutex<VecDeque<Instant>>,
    total: AtomicU64,
    stopping: AtomicBool,
    exit: watch::Sender<Option<i32>>,
    logger: Logger,
}

impl Supervision {
    pub fn new(config: &SupervisorConfig, logger: Logger) -> Supervision {
        Supervision {
            max_restarts: config.max_restarts as usize,
            window: Duration::from_millis(config.restart_window_ms),
            recent: Mutex::new(VecDeque::new()),
            total: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            exit: watch::channel(None).0,
            logger,
        }
    }

    /// Called from an actor's `restarting()`.
    pub fn restarted(&self, actor: &'static str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let count = {
            let mut recent = self.recent.lock().expect("restart log lock");
            recent.push_back(now);
            while recent.front().is_some_and(|t| now - *t > self.window) {
                recent.pop_front();
            }
            recent.len()
        };
        slog::warn!(self.logger, "actor restarting"; "actor" => actor,
            "restarts_in_window" => count, "max_restarts" => self.max_restarts);
        if count > self.max_restarts {
            self.give_up(&format!(
                "{count} restarts within {}ms (max_restarts = {})",
                self.window.as_millis(),
                self.max_restarts
            ));
        }
    }

    fn give_up(&self, reason: &str) {
        slog::crit!(self.logger, "supervisor gives up"; "reason" => reason, "exit_code" => EXIT_GAVE_UP);
        self.stopping.store(true, Ordering::SeqCst);
        self.exit.send_replace(Some(EXIT_GAVE_UP));
    }

    pub fn restarts(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// Set on shutdown: no new polls, no new sends.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Resolves with the exit code once the supervisor has given up.
    pub async fn gave_up(&self) -> i32 {
        let mut rx = self.exit.subscribe();
        loop {
            if let Some(code) = *rx.borrow_and_update() {
                return code;
            }
            if rx.changed().await.is_err() {
                return EXIT_GAVE_UP;
            }
        }
    }
}
