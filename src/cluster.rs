//! This instance's share of the companies. On SQLite one process holds them all;
//! on PostgreSQL a lease loop renews the share every third of `lease_ttl_ms`, and
//! the poller polls only what the share holds *now*: a share not renewed in time
//! lapses here before its leases can lapse in the database (and pass to another
//! instance), so two instances never poll one company at once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::Addr;
use chrono::{TimeDelta, Utc};
use slog::Logger;

use crate::actors::messages::{Refill, Schedule};
use crate::actors::{DelayActor, Shared};
use crate::config::{Agreement, Config};
use crate::domain::CompanyId;
use crate::metrics::Metrics;
use crate::store::{self, Db, LeaseRequest};

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

    fn renewal_every(&self) -> Duration {
        self.ttl / 3
    }

    /// Runs lease rounds until the process stops. Rows a dead instance left in
    /// `sending` go to this instance's delay actor once reclaimed.
    pub async fn run_leases(shared: Shared, delay: Addr<DelayActor>) {
        let this = shared.cluster.clone();
        let (config, db, metrics, log) = (shared.config, shared.db, shared.metrics, shared.logger);
        let companies: Vec<CompanyId> = config.companies.iter().map(|c| CompanyId(c.id)).collect();
        this.lease_loop(&config, &db, &companies, &delay, &metrics, &log)
            .await;
    }

    async fn lease_loop(
        &self,
        config: &Config,
        db: &Db,
        companies: &[CompanyId],
        delay: &Addr<DelayActor>,
        metrics: &Metrics,
        log: &Logger,
    ) {
        let started_at = Utc::now();
        let ttl = TimeDelta::from_std(self.ttl).unwrap_or(TimeDelta::seconds(15));
        let agreement = config.agreement();
        let (settings, fingerprint) = (agreement.to_text(), agreement.fingerprint());
        let mut failing = false;
        let mut warned_budget = false;
        loop {
            let began = Instant::now();
            let busy = self.share().polling.clone();
            let (me, list) = (self.instance_id.clone(), companies.to_vec());
            let (settings, fingerprint) = (settings.clone(), fingerprint.clone());
            let round = db
                .run_once(move |conn| {
                    store::lease_round(
                        conn,
                        &LeaseRequest {
                            me: &me,
                            started_at,
                            companies: &list,
                            busy: &busy,
                            ttl,
                            settings: &settings,
                            fingerprint: &fingerprint,
                        },
                    )
                })
                .await;
            match round {
                Ok(round) => {
                    if failing {
                        slog::info!(log, "cluster: the database answers again; leases renewed");
                        failing = false;
                    }
                    if !round.taken_over.is_empty() {
                        slog::warn!(log, "cluster: took over companies of an instance that stopped renewing";
                            "companies" => format!("{:?}", round.taken_over.iter().map(|c| c.0).collect::<Vec<_>>()));
                    }
                    metrics.takeovers(round.taken_over.len());
                    if !warned_budget && round.held.len() == round.fair_share {
                        // Once, for the share this instance settled on.
                        crate::daemon::warn_if_polls_fill_the_budget(config, round.fair_share, log);
                        warned_budget = true;
                    }
                    for (id, due_at) in round.reclaimed {
                        slog::warn!(log, "cluster: a dead instance left a send unfinished; sending it again (at least once)";
                            "notification" => id.0);
                        delay.do_send(Schedule { id, due_at });
                    }
                    let others: Vec<(String, Agreement)> = round
                        .disagreeing
                        .iter()
                        .map(|peer| {
                            (
                                peer.instance_id.clone(),
                                Agreement::from_text(peer.settings.as_deref().unwrap_or("")),
                            )
                        })
                        .collect();
                    let disagreement = agreement.disagreement(&self.instance_id, &others);
                    let mut share = self.share();
                    share.disagreeing = round.disagreeing.len();
                    if disagreement != share.disagreement {
                        match &disagreement {
                            Some(what) => {
                                slog::error!(log, "cluster: instances on this database run with different settings; make every instance's config the same";
                                "difference" => what)
                            }
                            None if share.disagreement.is_some() => slog::info!(
                                log,
                                "cluster: every live instance runs with the same settings again"
                            ),
                            None => {}
                        }
                        share.disagreement = disagreement;
                    }
                    if !round.held.is_subset(&share.held) {
                        // Rows of the companies just taken wait in the table.
                        delay.do_send(Refill);
                    }
                    share.held = round.held;
                    share.fair_share = round.fair_share;
                    // Measured from before the round began: the database's expiry
                    // is at least that far away.
                    share.valid_until = Some(began + self.ttl - self.renewal_every() / 2);
                }
                Err(e) => {
                    if !failing {
                        slog::error!(log, "cluster: cannot renew leases; polling stops when the share lapses";
                            "error" => %e);
                        failing = true;
                    }
                }
            }
            actix_rt::time::sleep(self.renewal_every().saturating_sub(began.elapsed())).await;
        }
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
