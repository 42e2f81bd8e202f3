//! The supervised daemon: builds the shared services, starts the four actors under
//! `actix::Supervisor` on their own arbiter, and stops them gracefully.

use std::net::SocketAddr;
use std::sync::Arc;

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
use crate::lifecycle::Policy;
use crate::messages::{Drain, RecordsSeen, Schedule};
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
        let config = Arc::new(config);
        let shared = Shared {
            policy: Arc::new(Policy::new(&config)),
            limiter: Arc::new(RateLimiter::new(
                config.yclients.max_requests_per_second,
                config.yclients.max_requests_per_minute,
            )),
            tls: TlsRoots::load(config.tls.ca_file.as_deref())?,
            salons: Arc::new(Salons::new(config.clone(), logger.clone())),
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
            http: None,
        };
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
                config: daemon.shared.config.clone(),
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
                        acknowledge: daemon.shared.config.replies.acknowledge,
                        window: daemon.shared.config.replies.window_hours,
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
        let for_replies = delay.clone().recipient();
        let (s, to_delay) = (self.shared.clone(), delay.recipient());
        let filter = Supervisor::start_in_arbiter(&handle, move |_| FilterActor::new(s, to_delay));
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
