//! A verdict of `check` (and of `webhooks install`): an item, ok / warn / fail,
//! and why; with the helpers both commands use to probe YClients.

use std::sync::Arc;

use crate::config::Config;
use crate::http_client::TlsRoots;
use crate::yclients::{RateLimiter, YClients, YClientsError};

pub struct Verdict {
    pub item: String,
    pub level: Level,
    pub detail: String,
}

/// A warning does not fail the check: the daemon runs, but something will not
/// work as the operator expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    pub fn ok(item: impl Into<String>, detail: impl Into<String>) -> Verdict {
        Verdict::new(item, Level::Ok, detail)
    }
    pub fn warn(item: impl Into<String>, detail: impl Into<String>) -> Verdict {
        Verdict::new(item, Level::Warn, detail)
    }
    pub fn fail(item: impl Into<String>, detail: impl Into<String>) -> Verdict {
        Verdict::new(item, Level::Fail, detail)
    }
    fn new(item: impl Into<String>, level: Level, detail: impl Into<String>) -> Verdict {
        Verdict {
            item: item.into(),
            level,
            detail: detail.into(),
        }
    }
    pub fn failed(&self) -> bool {
        self.level == Level::Fail
    }
}

/// The TLS roots and a YClients client for a one-shot command; a bad
/// `tls.ca_file` is the verdict.
pub fn clients(config: &Config) -> Result<(TlsRoots, YClients), Verdict> {
    let tls = TlsRoots::load(config.tls.ca_file.as_deref())
        .map_err(|e| Verdict::fail("tls.ca_file", e.to_string()))?;
    let limiter = Arc::new(RateLimiter::new(
        config.yclients.max_requests_per_second,
        config.yclients.max_requests_per_minute,
    ));
    let yclients = YClients::new(&config.yclients, &tls, limiter);
    Ok((tls, yclients))
}

/// A failed YClients request as a verdict's detail: the error, the host tried
/// when the request never got an answer, and what to do.
pub fn failure(config: &Config, e: &YClientsError, advice: &str) -> String {
    match e {
        YClientsError::Transport(_) | YClientsError::Timeout(_) => {
            format!("{e} (tried {}): {advice}", config.yclients.base_url)
        }
        _ => format!("{e}: {advice}"),
    }
}

/// One line per verdict.
pub fn lines(verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        let level = match v.level {
            Level::Ok => "ok",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        out.push_str(&format!("{level:<5} {}: {}\n", v.item, v.detail));
    }
    out
}

/// `1 company`, `2 companies`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
