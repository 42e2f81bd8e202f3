//! What polling takes of YClients' per-IP request budget: the limiter keeps that
//! room for the polls (writes leave it), and an operator hears once at start (or,
//! with many instances, for the share this instance settled on) when polling alone
//! would fill it. Of what the configured polls leave free, `spare_budget_share`
//! may go to extra polls of busy salons (`crate::cadence`).

use slog::Logger;

use crate::config::Config;
use crate::yclients::RateLimiter;

/// Requests a minute the configured polls of `companies` need: one each per
/// `poll_interval_ms`.
pub fn polls_per_minute(config: &Config, companies: usize) -> f64 {
    companies as f64 * 60_000.0 / config.monitor.poll_interval_ms as f64
}

/// Extra polls a minute that busy salons may take: `monitor.spare_budget_share` of
/// what the configured polls of `companies` leave of the per-minute budget (the
/// rest stays for re-reads and writes).
pub fn spare_polls_per_minute(config: &Config, companies: usize) -> f64 {
    let budget = f64::from(config.yclients.max_requests_per_minute);
    let free = (budget - polls_per_minute(config, companies)).max(0.0);
    config.monitor.spare_budget_share * free
}

/// Tells the limiter what the polls of `companies` need a minute; with `warn`, says
/// so when that leaves too little room for the re-reads and writes.
pub fn plan_the_budget(
    config: &Config,
    companies: usize,
    limiter: &RateLimiter,
    logger: &Logger,
    warn: bool,
) {
    let per_minute = polls_per_minute(config, companies);
    limiter.keep_for_polls(per_minute.ceil() as usize);
    let budget = f64::from(config.yclients.max_requests_per_minute);
    if warn && per_minute > 0.75 * budget {
        let enough_ms = (companies as f64 * 60_000.0 / (0.75 * budget)).ceil() as u64;
        slog::warn!(logger, "polling alone would use most of YClients' request budget: polls will run late and confirmations wait for room";
            "polls_per_minute" => per_minute.round() as u64, "max_requests_per_minute" => budget as u64,
            "what_to_do" => format!("raise monitor.poll_interval_ms to at least {enough_ms}"));
    }
}
