//! The supervised daemon: builds the shared services, starts the four actors under
//! `actix::Supervisor` on their own arbiter, and stops them gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::ServerHandle;
use std::time::Duration;

use actix::{Addr, Recipient, Supervisor};
use actix_rt::Arbiter;
use slog::Logger;

use crate::actors::{DelayActor, FilterActor, NotifierActor, PollerActor};
use crate::api_state::ApiState;
use crate::budget::plan_the_budget;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::faults::FaultPlan;
use crate::http_api;
use crate::http_client::{TlsRoots, TlsSetupError};
use crate::live::LiveConfig;
use crate::messages::{ConfigChanged, Drain, RecordsSeen, Refill, Schedule};
use crate::metrics::Metrics;
use crate::monitoring_start::MonitoringStart;
use crate::salons::Salons;
use crate::shared::Shared;
use crate::store::Db;
use crate::supervision::Supervision;
use crate::yclients::RateLimiter;

/// How long a graceful shutdown lets a send in flight finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("tls.ca_file: {0}")]
    Tls(#[from] TlsSetupError),
    #[error("http.listen: cannot listen on {listen}: {source}")]
    Http {
        listen: std::net::SocketAddr,
        source: std::io::Error,
    },
}

impl StartError {
    /// 2 for what the config got wrong, 1 for what the machine refused.
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::Tls(_) => 2,
            StartError::Http { .. } => 1,
        }
    }
}

pub struct Daemon {
    arbiter: Arbiter,
    shared: Shared,
    notifier: Option<Addr<NotifierActor>>,
    /// Held so that the poller has an address: `actix::Supervisor` restarts only
    /// actors that someone can still reach.
    poller: Option<Addr<PollerActor>>,
    /// The delay actor, told to time again the rows of a salon a reload brings back.
    delay: Option<Recipient<Refill>>,
    http: Option<(SocketAddr, ServerHandle)>,
}

impl Daemon {
    /// Starts the pipeline: Notifier, then Delay, Filter, Poller, each given its
    /// downstream's address. With `monitor.enabled = false` nothing is started.
    pub fn start(config: Config, db: Db, logger: Logger) -> Result<Daemon, StartError> {
        Daemon::start_with_faults(config, db, logger, FaultPlan::none())
    }

    /// As `start`, with test-only failures injected into the actors.
    pub fn start_with_faults(
        config: Config,
        db: Db,
        logger: Logger,
        faults: FaultPlan,
    ) -> Result<Daemon, StartError> {
        let live = Arc::new(LiveConfig::new(config));
        let settings = live.current();
        let config = settings.config.clone();
        let shared = Shared {
            policy: settings.policy.clone(),
            limiter: Arc::new(RateLimiter::new(
                config.yclients.max_requests_per_second,
                config.yclients.max_requests_per_minute,
            )),
            tls: TlsRoots::load(config.tls.ca_file.as_deref())?,
            salons: Arc::new(Salons::new(live.clone(), logger.clone())),
            supervision: Arc::new(Supervision::new(&config.supervisor, logger.clone())),
            faults: Arc::new(faults),
            metrics: Arc::new(Metrics::default()),
            cluster: Arc::new(if db.is_postgres() {
                Cluster::shared(
                    config.cluster.instance_id(),
                    Duration::from_millis(config.cluster.lease_ttl_ms),
                )
            } else {
                Cluster::alone(config.cluster.instance_id())
            }),
            start: Arc::new(MonitoringStart::now()),
            config,
            live,
            db,
            logger,
        };
        // Database calls run on this arbiter's blocking pool; more threads than pooled
        // connections would only wait, each with its own allocator arena.
        let arbiter = Arbiter::with_tokio_rt(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .max_blocking_threads(crate::store::POOL_SIZE as usize)
                .build()
                .expect("a tokio runtime for the actors")
        });
        let mut daemon = Daemon {
            arbiter,
            shared,
            notifier: None,
            poller: None,
            delay: None,
            http: None,
        };
        daemon.record_running_config();
        daemon
            .arbiter
            .spawn(crate::memory::run(daemon.shared.logger.clone()));
        let started = if daemon.shared.config.monitor.enabled {
            Some(daemon.start_actors())
        } else {
            slog::warn!(
                daemon.shared.logger,
                "monitoring is disabled (monitor.enabled = false): nothing is polled or sent"
            );
            None
        };
        if let Some(listen) = daemon.shared.config.http.as_ref().and_then(|h| h.listen) {
            let state = ApiState {
                live: daemon.shared.live.clone(),
                db: daemon.shared.db.clone(),
                metrics: daemon.shared.metrics.clone(),
                limiter: daemon.shared.limiter.clone(),
                supervision: daemon.shared.supervision.clone(),
                cluster: daemon.shared.cluster.clone(),
                salons: daemon.shared.salons.clone(),
                webhooks: started.as_ref().map(|(filter, _)| {
                    crate::webhooks::Batcher::start(
                        filter.clone(),
                        daemon.shared.db.clone(),
                        daemon.shared.salons.clone(),
                        daemon.shared.start.clone(),
                        Duration::from_millis(daemon.shared.config.yclients.request_timeout_ms),
                    )
                }),
                replies: crate::webhooks::ReplyBatcher::start(
                    daemon.shared.db.clone(),
                    crate::webhooks::Deciding {
                        salons: daemon.shared.salons.clone(),
                        live: daemon.shared.live.clone(),
                    },
                ),
                schedule: started.map(|(_, delay)| delay),
                logger: daemon.shared.logger.clone(),
                rejects: Default::default(),
            };
            let (addr, handle) = http_api::start(listen, state)
                .map_err(|source| StartError::Http { listen, source })?;
            slog::info!(daemon.shared.logger, "HTTP endpoints listening"; "address" => %addr);
            daemon.http = Some((addr, handle));
        }
        Ok(daemon)
    }

    /// Notifier, then Delay, Filter, Poller, each given its downstream's address;
    /// returns the filter's, which YClients' webhooks feed too, and the delay
    /// actor's, which times the rows a client's reply opens.
    fn start_actors(&mut self) -> (Recipient<RecordsSeen>, Recipient<Schedule>) {
        let handle = self.arbiter.handle();
        let s = self.shared.clone();
        let notifier = Supervisor::start_in_arbiter(&handle, move |_| NotifierActor::new(s));
        let (s, to_notifier) = (self.shared.clone(), notifier.clone().recipient());
        let delay = Supervisor::start_in_arbiter(&handle, move |_| DelayActor::new(s, to_notifier));
        if self.shared.cluster.is_shared() {
            let (schedule, refill) = (delay.clone().recipient(), delay.clone().recipient());
            handle.spawn(crate::leases::run(self.shared.clone(), schedule, refill));
        }
        handle.spawn(crate::retention::run(self.shared.clone()));
        self.delay = Some(delay.clone().recipient());
        let for_replies = delay.clone().recipient();
        let proven = delay.clone().recipient();
        let (s, to_delay) = (self.shared.clone(), delay.recipient());
        let filter =
            Supervisor::start_in_arbiter(&handle, move |_| FilterActor::new(s, to_delay, proven));
        let (s, to_filter) = (self.shared.clone(), filter.recipient::<RecordsSeen>());
        let for_webhooks = to_filter.clone();
        let poller: Addr<PollerActor> =
            Supervisor::start_in_arbiter(&handle, move |_| PollerActor::new(s, to_filter));
        slog::info!(self.shared.logger, "booking-monitor started";
            "companies" => self.shared.config.companies.len(),
            "poll_interval_ms" => self.shared.config.monitor.poll_interval_ms,
            "notification_delay_ms" => self.shared.config.monitor.notification_delay_ms);
        if !self.shared.cluster.is_shared() {
            // On a shared database the lease loop warns for the share it holds.
            let (shared, companies) = (&self.shared, self.shared.config.companies.len());
            plan_the_budget(
                &shared.config,
                companies,
                &shared.limiter,
                &shared.logger,
                true,
            );
        }
        self.notifier = Some(notifier);
        self.poller = Some(poller);
        (for_webhooks, for_replies)
    }

    /// Applies a reloaded config (already checked whole): the settings that need a
    /// restart keep their running values and the log names them; the rest is the
    /// running config from now on. Work under way finishes under the config it
    /// began with.
    pub async fn reload(&self, config: Config) {
        let log = &self.shared.logger;
        let running = self.shared.live.current();
        let prepared = crate::reload::prepare(&running.config, config);
        for key in &prepared.needs_restart {
            slog::warn!(log, "config reload: this setting changes only at a restart; the running value stays";
                "key" => *key);
        }
        let settings = self.shared.live.replace(running.next(prepared.config));
        let config = &settings.config;
        if !prepared.added.is_empty() && self.shared.start.registered() {
            // Their monitoring begins now: what was booked before is the backlog.
            let (added, at) = (prepared.added.clone(), self.shared.start.at(Instant::now()));
            let begun = self
                .shared
                .db
                .run(move |c| crate::store::begin_monitoring(c, &added, at, chrono::Utc::now()))
                .await;
            if let Err(e) = begun {
                slog::error!(log, "config reload: cannot record when the added salons' monitoring began; their first poll does"; "error" => %e);
            }
        }
        if let Some(poller) = &self.poller {
            poller.do_send(ConfigChanged);
        }
        if let Some(delay) = &self.delay {
            delay.do_send(Refill);
        }
        if !self.shared.cluster.is_shared() && config.monitor.enabled {
            let companies = config.companies.len();
            plan_the_budget(config, companies, &self.shared.limiter, log, true);
        }
        self.record_running_config();
        self.shared.metrics.config_reload("applied");
        let ids = |c: &[crate::domain::CompanyId]| {
            format!("{:?}", c.iter().map(|c| c.0).collect::<Vec<_>>())
        };
        slog::info!(log, "config reloaded and applied";
            "fingerprint" => &config.fingerprint, "companies_added" => ids(&prepared.added),
            "companies_removed" => ids(&prepared.removed),
            "changed" => prepared.changed.join(", "));
    }

    /// A reloaded config with problems: refused whole, the running one stays.
    pub fn refuse_reload(&self, problems: &str) {
        self.shared.metrics.config_reload("refused");
        slog::error!(self.shared.logger, "config reload refused: the running config stays";
            "problems" => problems);
    }

    /// Writes the running config's load time and fingerprint for `status`.
    fn record_running_config(&self) {
        let settings = self.shared.live.current();
        let running = crate::store::RunningConfig {
            instance_id: self.shared.cluster.instance_id.to_string(),
            loaded_at: settings.loaded_at.naive_utc(),
            fingerprint: settings.config.fingerprint.clone(),
            reloads: settings.generation as i64,
            updated_at: chrono::Utc::now().naive_utc(),
        };
        let (db, log) = (self.shared.db.clone(), self.shared.logger.clone());
        let alone = !self.shared.cluster.is_shared();
        self.arbiter.spawn(async move {
            let recorded = db
                .run(move |c| crate::store::record_running_config(c, &running, alone))
                .await;
            if let Err(e) = recorded {
                slog::warn!(log, "cannot record the running config for `status`"; "error" => %e);
            }
        });
    }

    /// Stops at once, without waiting for a send in flight or checkpointing: for an
    /// owner that is going away (a test's app being dropped), so that no actor of
    /// this daemon goes on polling or sending after it.
    pub fn stop_now(&self) {
        self.shared.supervision.begin_shutdown();
        self.arbiter.stop();
        if let Some((_, http)) = &self.http {
            // The stop command is sent when `stop` is called; its future only
            // reports completion.
            drop(http.stop(false));
        }
    }

    /// Where the HTTP endpoints listen, when `http.listen` is set.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(addr, _)| *addr)
    }

    pub fn supervision(&self) -> Arc<Supervision> {
        self.shared.supervision.clone()
    }

    /// Resolves with 70 once the supervisor has given up.
    pub async fn gave_up(&self) -> i32 {
        self.shared.supervision.gave_up().await
    }

    /// Stops polling, lets a send in flight finish, checkpoints the database and
    /// stops the actors. Everything else is already durable.
    pub async fn shutdown(self) {
        let log = self.shared.logger.clone();
        slog::info!(log, "shutting down: no new polls or sends");
        self.shared.supervision.begin_shutdown();
        if let Some(notifier) = &self.notifier {
            if tokio::time::timeout(DRAIN_TIMEOUT, notifier.send(Drain))
                .await
                .is_err()
            {
                slog::warn!(log, "a send was still in flight; it will be retried at the next start (at-least-once)");
            }
        }
        if let Some((_, http)) = &self.http {
            http.stop(true).await;
        }
        self.arbiter.stop();
        let arbiter = self.arbiter;
        let _ = actix_rt::task::spawn_blocking(move || arbiter.join()).await;
        // The others take this instance's companies at their next lease round.
        self.shared.cluster.release(&self.shared.db).await;
        self.shared.db.close();
        let checkpoint = self.shared.db.run_once(crate::store::checkpoint).await;
        if let Err(e) = checkpoint {
            slog::warn!(log, "database checkpoint failed"; "error" => %e);
        }
        slog::info!(log, "stopped");
    }
}
