//! What the HTTP side reads: the shared services, the ways into the pipeline
//! (a YClients event to the filter, a reply's rows to the delay actor), and the
//! sparse log of refused requests. Below both the endpoints and the webhooks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::web;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::live::LiveConfig;
use crate::metrics::Metrics;
use crate::salons::Salons;
use crate::store::Db;
use crate::supervision::Supervision;
use crate::yclients::RateLimiter;

/// A refused request is logged at most this often (a flood must not flood the log).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What the endpoints read.
#[derive(Clone)]
pub struct ApiState {
    /// The running config: each request reads it once (`config`).
    pub live: Arc<LiveConfig>,
    pub db: Db,
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<RateLimiter>,
    pub supervision: Arc<Supervision>,
    pub cluster: Arc<Cluster>,
    /// Names of salons the config does not name, once the poller has fetched them.
    pub salons: Arc<Salons>,
    /// Where a YClients webhook's record goes (to the filter, in groups); `None`
    /// while monitoring is off.
    pub webhooks: Option<crate::webhooks::batch::Batcher>,
    /// Where clients' replies go to be kept and decided (in groups).
    pub replies: crate::webhooks::reply_batch::ReplyBatcher,
    /// Where outbox rows opened here (by a client's reply) are timed; `None`
    /// while monitoring is off.
    pub schedule: Option<actix::Recipient<crate::messages::Schedule>>,
    pub logger: slog::Logger,
    /// Refused webhook requests, logged sparingly.
    pub rejects: Arc<RejectLog>,
}

impl ApiState {
    /// The config as it stands now, for one request.
    pub fn config(&self) -> Arc<Config> {
        self.live.config()
    }
}

/// The state as actix hands it to a handler.
pub type State = web::Data<ApiState>;

/// Logs a rejected request once per `LOG_EVERY`, with how many were rejected since.
#[derive(Default)]
pub struct RejectLog(Mutex<Option<(Instant, u64)>>);

impl RejectLog {
    pub fn note(&self, logger: &slog::Logger, endpoint: &str, reason: &str) {
        let mut last = self.0.lock().expect("reject log lock");
        match last.as_mut() {
            Some((at, skipped)) if at.elapsed() < LOG_EVERY => *skipped += 1,
            _ => {
                let skipped = last.map(|(_, n)| n).unwrap_or(0);
                slog::warn!(logger, "webhook refused"; "endpoint" => endpoint,
                    "reason" => reason, "refused_since_last_line" => skipped);
                *last = Some((Instant::now(), 0));
            }
        }
    }
}
