//! What polling takes of YClients' per-IP request budget: the limiter keeps that
//! room for the polls (writes leave it), and an operator hears once at start (or,
//! with many instances, for the share this instance settled on) when polling alone
//! would fill it.

use slog::Logger;

use crate::config::Config;
use crate::yclients::RateLimiter;

/// Tells the limiter what the polls of `companies` need a minute; with `warn`, says
/// so when that leaves too little room for the re-reads and writes.
pub fn plan_the_budget(
    config: &Config,
    companies: usize,
    limiter: &RateLimiter,
    logger: &Logger,
    warn: bool,
) {
    let per_minute = companies as f64 * 60_000.0 / config.monitor.poll_interval_ms as f64;
    limiter.keep_for_polls(per_minute.ceil() as usize);
    let budget = f64::from(config.yclients.max_requests_per_minute);
    if warn && per_minute > 0.75 * budget {
        let enough_ms = (companies as f64 * 60_000.0 / (0.75 * budget)).ceil() as u64;
        slog::warn!(logger, "polling alone would use most of YClients' request budget: polls will run late and confirmations wait for room";
            "polls_per_minute" => per_minute.round() as u64, "max_requests_per_minute" => budget as u64,
            "what_to_do" => format!("raise monitor.poll_interval_ms to at least {enough_ms}"));
    }
}
