//! This instance's share of the companies. On SQLite one process holds them all;
//! on PostgreSQL the lease loop (`leases`) renews the share every third of
//! `lease_ttl_ms`, and
//! the poller polls only what the share holds *now*: a share not renewed in time
//! lapses here before its leases can lapse in the database (and pass to another
//! instance), so two instances never poll one company at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::CompanyId;
use crate::store::{self, Db, LeaseRound};

/// This instance and what it holds.
pub struct Cluster {
    pub instance_id: Arc<str>,
    /// False on SQLite: the one process holds every company, always.
    shared_database: bool,
    ttl: Duration,
    share: Mutex<Share>,
}

#[derive(Default)]
struct Share {
    held: HashSet<CompanyId>,
    fair_share: usize,
    /// The share is good until then (this host's monotonic clock).
    valid_until: Option<Instant>,
    /// Companies whose poll is in flight: not given away until it ends.
    polling: HashSet<CompanyId>,
    /// The live instances whose settings differ from this one's, and the first
    /// difference; `None` while all agree.
    disagreement: Option<String>,
    disagreeing: usize,
}

impl Share {
    /// Renewed recently enough that no other instance can hold these companies.
    fn is_current(&self) -> bool {
        self.valid_until.is_some_and(|t| Instant::now() < t)
    }
}

impl Cluster {
    /// One process on its own database: it holds every company.
    pub fn alone(instance_id: String) -> Cluster {
        Cluster {
            instance_id: instance_id.into(),
            shared_database: false,
            ttl: Duration::ZERO,
            share: Mutex::default(),
        }
    }

    /// One of many instances on a shared database: holds nothing until its first
    /// lease round.
    pub fn shared(instance_id: String, ttl: Duration) -> Cluster {
        Cluster {
            instance_id: instance_id.into(),
            shared_database: true,
            ttl,
            share: Mutex::default(),
        }
    }

    pub fn is_shared(&self) -> bool {
        self.shared_database
    }

    /// The instance whose lease a poll's commit must still hold (None: alone).
    pub fn lease_holder(&self) -> Option<Arc<str>> {
        self.shared_database.then(|| self.instance_id.clone())
    }

    fn share(&self) -> std::sync::MutexGuard<'_, Share> {
        self.share.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this instance may poll `company` now; if so, the company is kept
    /// until `end_poll`.
    pub fn begin_poll(&self, company: CompanyId) -> bool {
        if !self.shared_database {
            return true;
        }
        let mut share = self.share();
        if share.is_current() && share.held.contains(&company) {
            share.polling.insert(company);
            true
        } else {
            false
        }
    }

    pub fn end_poll(&self, company: CompanyId) {
        self.share().polling.remove(&company);
    }

    /// Ready: alone, or holding a current share at least as large as its fair one.
    pub fn ready(&self) -> bool {
        if !self.shared_database {
            return true;
        }
        let share = self.share();
        share.is_current() && share.held.len() >= share.fair_share
    }

    /// The instances whose settings differ from this one's, with the first
    /// difference (for `/readyz` and `/metrics`); `None` while all agree.
    pub fn disagreement(&self) -> Option<String> {
        self.share().disagreement.clone()
    }

    /// How many other live instances run with other settings (for `/metrics`).
    pub fn disagreeing(&self) -> usize {
        self.share().disagreeing
    }

    /// Companies held now (for `/metrics` and `/readyz`).
    pub fn held(&self) -> usize {
        let share = self.share();
        if share.is_current() {
            share.held.len()
        } else {
            0
        }
    }

    /// The companies whose rows this instance times: None alone (every row).
    pub fn held_companies(&self) -> Option<Vec<CompanyId>> {
        self.shared_database
            .then(|| self.share().held.iter().copied().collect())
    }

    pub fn fair_share(&self) -> usize {
        self.share().fair_share
    }

    pub fn renewal_every(&self) -> Duration {
        self.ttl / 3
    }

    /// The busy companies (a poll in flight): kept through a lease round.
    pub fn busy(&self) -> HashSet<CompanyId> {
        self.share().polling.clone()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A lease round that began at `began` renewed the share: holds `round.held`
    /// until a little before its leases could lapse. Returns whether companies
    /// were gained (their rows must be timed), and the disagreement among
    /// instances when it changed (`Some(new)`, with `None` inside once all agree).
    pub fn renewed(
        &self,
        round: &LeaseRound,
        disagreement: Option<String>,
        began: Instant,
    ) -> (bool, Option<Option<String>>) {
        let mut share = self.share();
        share.disagreeing = round.disagreeing.len();
        let changed = (disagreement != share.disagreement).then(|| disagreement.clone());
        share.disagreement = disagreement;
        let gained = !round.held.is_subset(&share.held);
        share.held = round.held.clone();
        share.fair_share = round.fair_share;
        // Measured from before the round began: the database's expiry is at
        // least that far away.
        share.valid_until = Some(began + self.ttl - self.renewal_every() / 2);
        (gained, changed)
    }

    /// Gives back this instance's leases (a clean stop): the others take them at
    /// their next round instead of after the ttl.
    pub async fn release(&self, db: &Db) {
        if !self.shared_database {
            return;
        }
        self.share().valid_until = None;
        let me = self.instance_id.clone();
        let _ = db.run_once(move |conn| store::release_all(conn, &me)).await;
    }
}
