//! Test-only failures, to prove the supervision: `BOOKING_MONITOR_FAULTS` names,
//! per actor, which message makes it fail and how, e.g.
//! `filter:panic@2,notifier:error@1,poller:error@3+,filter:stall@4` (`+`: that
//! message and every one after it). Empty in production; checked once per message.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::StoreError;

pub const ENV: &str = "BOOKING_MONITOR_FAULTS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An error that stops the actor (as a database failure does).
    Error,
    /// A panic inside the handler.
    Panic,
    /// Blocks the thread for [`STALL`]: a window to kill the process in (the
    /// filter's strike runs inside its transaction, on the blocking pool).
    Stall,
}

pub const STALL: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    actor: String,
    kind: FaultKind,
    at: u32,
    and_after: bool,
}

#[derive(Debug, Default)]
pub struct FaultPlan {
    rules: Vec<Rule>,
    seen: Mutex<HashMap<String, u32>>,
}

const ACTORS: [&str; 4] = ["poller", "filter", "delay", "notifier"];

impl FaultPlan {
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    pub fn parse(spec: &str) -> Result<FaultPlan, String> {
        let mut rules = Vec::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || {
                format!(
                    "{item:?}: expected actor:panic|error|stall@N[+], actor one of {}",
                    ACTORS.join(", ")
                )
            };
            let (actor, rest) = item.split_once(':').ok_or_else(bad)?;
            let (kind, at) = rest.split_once('@').ok_or_else(bad)?;
            if !ACTORS.contains(&actor) {
                return Err(bad());
            }
            let kind = match kind {
                "panic" => FaultKind::Panic,
                "error" => FaultKind::Error,
                // A stall blocks its thread: only the filter's strike runs on the
                // blocking pool, everyone else's would freeze their event loop.
                "stall" if actor == "filter" => FaultKind::Stall,
                "stall" => return Err(format!("{item:?}: only the filter can stall")),
                _ => return Err(bad()),
            };
            let (at, and_after) = match at.strip_suffix('+') {
                Some(n) => (n, true),
                None => (at, false),
            };
            let at: u32 = at.parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
            rules.push(Rule {
                actor: actor.to_string(),
                kind,
                at,
                and_after,
            });
        }
        Ok(FaultPlan {
            rules,
            seen: Mutex::default(),
        })
    }

    /// Counts one more message for `actor` and strikes if a rule says so: a panic
    /// unwinds from here; an error comes back as a `StoreError`.
    pub fn strike(&self, actor: &str) -> Result<(), StoreError> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let n = {
            let mut seen = self.seen.lock().expect("fault plan lock");
            let n = seen.entry(actor.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let hit = self
            .rules
            .iter()
            .find(|r| r.actor == actor && (r.at == n || (r.and_after && n >= r.at)));
        match hit.map(|r| r.kind) {
            Some(FaultKind::Panic) => panic!("injected fault: {actor} panics at message {n}"),
            Some(FaultKind::Error) => Err(StoreError::Injected(format!(
                "{actor} fails at message {n}"
            ))),
            Some(FaultKind::Stall) => {
                std::thread::sleep(STALL);
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_may_stall() {
        assert!(FaultPlan::parse("filter:stall@3").is_ok());
    }

    #[test]
    fn strikes_at_the_chosen_message() {
        let plan = FaultPlan::parse("filter:error@2, notifier:error@3+").unwrap();
        assert!(plan.strike("filter").is_ok());
        assert!(plan.strike("filter").is_err());
        assert!(plan.strike("filter").is_ok());
        assert!(plan.strike("notifier").is_ok());
        assert!(plan.strike("notifier").is_ok());
        assert!(plan.strike("notifier").is_err());
        assert!(plan.strike("notifier").is_err());
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "filter",
            "filter:boom@1",
            "mailer:panic@1",
            "filter:panic@0",
            "filter:panic@x",
            "notifier:stall@1",
        ] {
            assert!(FaultPlan::parse(bad).is_err(), "{bad}");
        }
    }
}
