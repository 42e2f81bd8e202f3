//! What every actor (and the lease loop, and the delivery of a due row) shares:
//! read-only config and handles to the shared services.

use std::sync::Arc;
use std::time::Duration;

use slog::Logger;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::faults::FaultPlan;
use crate::http_client::TlsRoots;
use crate::lifecycle::Policy;
use crate::live::LiveConfig;
use crate::metrics::Metrics;
use crate::monitoring_start::MonitoringStart;
use crate::store::Db;
use crate::yclients::RateLimiter;

use crate::salons::Salons;
use crate::supervision::Supervision;

/// What every actor shares: the config (as it stood when the piece of work at
/// hand began) and handles to shared services.
#[derive(Clone)]
pub struct Shared {
    /// The running config's value when this `Shared` was taken (`current`).
    pub config: Arc<Config>,
    pub policy: Arc<Policy>,
    /// The running config, swapped whole by a reload.
    pub live: Arc<LiveConfig>,
    pub db: Db,
    pub logger: Logger,
    pub limiter: Arc<RateLimiter>,
    pub tls: TlsRoots,
    pub salons: Arc<Salons>,
    pub supervision: Arc<Supervision>,
    /// Test-only failures; empty in production.
    pub faults: Arc<FaultPlan>,
    pub metrics: Arc<Metrics>,
    /// This instance and its share of the companies.
    pub cluster: Arc<Cluster>,
    /// When this process began monitoring (YClients' clock).
    pub start: Arc<MonitoringStart>,
}

impl Shared {
    /// These services with the config as it stands now: each piece of work (a
    /// poll, a due row, a purge) takes it at its start and keeps it to its end.
    pub fn current(&self) -> Shared {
        let settings = self.live.current();
        Shared {
            config: settings.config.clone(),
            policy: settings.policy.clone(),
            ..self.clone()
        }
    }
}

/// `initial · 2^(attempt-1)`, capped at `max`, with ±20 % jitter so that many
/// retries do not fall due in the same instant.
pub fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let base = initial.saturating_mul(1u32 << exp).min(max);
    base.mul_f64(0.8 + 0.4 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let (initial, max) = (Duration::from_secs(5), Duration::from_secs(60));
        let first = backoff(initial, max, 1);
        assert!(first >= Duration::from_secs(4) && first <= Duration::from_secs(6));
        let third = backoff(initial, max, 3);
        assert!(third >= Duration::from_secs(16) && third <= Duration::from_secs(24));
        assert!(backoff(initial, max, 30) <= Duration::from_secs(72));
    }
}
