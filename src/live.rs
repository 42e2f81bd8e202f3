//! The running config (DESIGN: "Live configuration"): one immutable value that
//! each piece of work (a poll, a due row, a webhook, a purge) takes at its start,
//! swapped whole when a reloaded config is applied. Work that began under the old
//! value finishes under it; nothing is patched in place.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::config::Config;
use crate::domain::CompanyId;
use crate::lifecycle::Policy;

/// One running config, with what is derived from it.
pub struct Settings {
    pub config: Arc<Config>,
    pub policy: Arc<Policy>,
    /// When it was loaded (our clock).
    pub loaded_at: DateTime<Utc>,
    /// Counts the configs applied since start (0: the one the process started with).
    pub generation: u64,
    /// The companies a reload added, and when: their monitoring begins then, not
    /// at the process's start.
    pub added_at: HashMap<CompanyId, Instant>,
}

impl Settings {
    pub fn first(config: Config) -> Settings {
        Settings {
            policy: Arc::new(Policy::new(&config)),
            config: Arc::new(config),
            loaded_at: Utc::now(),
            generation: 0,
            added_at: HashMap::new(),
        }
    }

    /// What follows `self` when `config` is applied.
    pub fn next(&self, config: Config) -> Settings {
        let now = Instant::now();
        let mut added_at = self.added_at.clone();
        for company in &config.companies {
            let id = company.company_id();
            if self.config.company(id).is_none() {
                added_at.insert(id, now);
            }
        }
        added_at.retain(|id, _| config.company(*id).is_some());
        Settings {
            policy: Arc::new(Policy::new(&config)),
            config: Arc::new(config),
            loaded_at: Utc::now(),
            generation: self.generation + 1,
            added_at,
        }
    }
}

/// The running config, swapped whole; loops that wait (the purge) can wake when
/// it changes.
pub struct LiveConfig(watch::Sender<Arc<Settings>>);

impl LiveConfig {
    pub fn new(config: Config) -> LiveConfig {
        LiveConfig(watch::Sender::new(Arc::new(Settings::first(config))))
    }

    /// The config as it stands now: what a piece of work keeps to its end.
    pub fn current(&self) -> Arc<Settings> {
        self.0.borrow().clone()
    }

    /// The config of the process from now on.
    pub fn replace(&self, settings: Settings) -> Arc<Settings> {
        let settings = Arc::new(settings);
        self.0.send_replace(settings.clone());
        settings
    }

    /// Wakes when a reload replaces the config.
    pub fn changes(&self) -> watch::Receiver<Arc<Settings>> {
        self.0.subscribe()
    }

    pub fn config(&self) -> Arc<Config> {
        self.current().config.clone()
    }
}
