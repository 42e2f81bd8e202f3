//! Whether polling alone would fill YClients' per-IP request budget: said once at
//! start (or, with many instances, for the share this instance settled on).

use slog::Logger;

use crate::config::Config;

/// One request per company per poll must leave room in YClients' per-minute budget
/// for the re-read before each confirmation; say so at start when it does not.
pub fn warn_if_polls_fill_the_budget(config: &Config, companies: usize, logger: &Logger) {
    let per_minute = companies as f64 * 60_000.0 / config.monitor.poll_interval_ms as f64;
    let budget = f64::from(config.yclients.max_requests_per_minute);
    if per_minute > 0.75 * budget {
        let enough_ms = (companies as f64 * 60_000.0 / (0.75 * budget)).ceil() as u64;
        slog::warn!(logger, "polling alone would use most of YClients' request budget: polls will run late and confirmations wait for room";
            "polls_per_minute" => per_minute.round() as u64, "max_requests_per_minute" => budget as u64,
            "what_to_do" => format!("raise monitor.poll_interval_ms to at least {enough_ms}"));
    }
}
