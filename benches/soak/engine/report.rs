//! The soak's outcome: what it did and saw, counted for README's Reliability table,
//! the violations (each naming its booking and the seed) and the duplicates the
//! at-least-once window allowed (each named with the kill or timeout that caused it).

use std::collections::BTreeMap;
use std::time::Duration;

use super::invariants::signals;
use super::ledger::How;
use super::outcome::Stored;
use super::schedule::Said;
use super::seen::{Class, Seen};
use super::Soak;

pub struct Outcome {
    pub backend: String,
    pub seed: u64,
    /// How long the schedule ran (the drain and the stop not included).
    pub ran: Duration,
    /// Why the soak could not run to its end, if it could not.
    pub error: Option<String>,
    /// (figure, value), in the order printed.
    pub counts: Vec<(String, String)>,
    pub violations: Vec<String>,
    pub allowed: Vec<String>,
    pub skipped: BTreeMap<String, usize>,
    pub faults: BTreeMap<String, usize>,
    pub optouts: bool,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.violations.is_empty()
    }

    /// The markdown report; every violation carries the seed that replays it.
    pub fn print(&self) {
        println!();
        println!(
            "### soak on {}: seed {}, {:.1} min",
            self.backend,
            self.seed,
            self.ran.as_secs_f64() / 60.0
        );
        println!();
        println!("| figure | value |");
        println!("|---|---|");
        for (figure, value) in &self.counts {
            println!("| {figure} | {value} |");
        }
        println!();
        println!("Faults injected:");
        for (fault, n) in &self.faults {
            println!("- {fault}: {n}");
        }
        if !self.skipped.is_empty() {
            println!();
            println!("Steps not carried out:");
            for (why, n) in &self.skipped {
                println!("- {why}: {n}");
            }
        }
        if !self.optouts {
            println!();
            println!("This daemon has no opt-outs (`optout --help` fails): a stop was just another reply, and «nothing after an opt-out» was not checked.");
        }
        if !self.allowed.is_empty() {
            println!();
            println!(
                "Duplicates the at-least-once window allows ({}):",
                self.allowed.len()
            );
            for a in &self.allowed {
                println!("- {a}");
            }
        }
        if let Some(e) = &self.error {
            println!();
            println!(
                "The soak could not run to its end (seed {}): {e}",
                self.seed
            );
        }
        if !self.violations.is_empty() {
            println!();
            println!(
                "VIOLATIONS ({}, seed {}; SOAK_SEED={} replays the schedule):",
                self.violations.len(),
                self.seed,
                self.seed
            );
            for v in &self.violations {
                println!("- {v}");
            }
        }
    }
}

/// The load averages over 1, 5 and 15 minutes: how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

impl Soak {
    /// Reads the database, judges the end, and counts.
    pub(super) fn outcome(&mut self, result: Result<(), String>) -> Outcome {
        let seen = Seen::of(&self.sim.world(), &self.anchor);
        let mut findings = std::mem::take(&mut self.findings);
        let mut error = result.err();
        if error.is_none() {
            match self.database.read() {
                Ok((rows, replies)) => {
                    let stored = Stored {
                        rows: &rows,
                        replies: &replies,
                        anchor: self.anchor,
                    };
                    let ledger = self.ledger.borrow();
                    self.judge(&ledger, &seen)
                        .at_the_end(&stored, &mut findings);
                }
                Err(e) => error = Some(e),
            }
        }
        let l = self.ledger.borrow();
        let ran = self.ran;
        let count = |list: &[super::seen::Sent], class: Class| {
            list.iter().filter(|m| m.class == class).count()
        };
        let (kills, terms) = signals(&l);
        let aimed = |what: &str| {
            l.signals
                .iter()
                .filter(|s| s.how == How::Kill && s.why.starts_with(what))
                .count()
        };
        let said = |f: fn(&Said) -> bool| l.replies.iter().filter(|r| f(&r.said)).count();
        let gone_early = l
            .bookings
            .iter()
            .filter(|b| {
                b.deleted
                    .is_some_and(|d| d < b.made + self.settings.timing.grace())
            })
            .count();
        let counts = vec![
            (
                "load average at the end (1, 5, 15 min)".into(),
                load_average(),
            ),
            (
                "bookings made / moved / deleted".into(),
                format!(
                    "{} / {} / {}",
                    l.bookings.len(),
                    l.bookings.iter().map(|b| b.moves.len()).sum::<usize>(),
                    l.bookings.iter().filter(|b| b.deleted.is_some()).count()
                ),
            ),
            (
                "… deleted within the grace delay".into(),
                gone_early.to_string(),
            ),
            (
                "notices (WhatsApp): created / changed / cancelled".into(),
                format!(
                    "{} / {} / {}",
                    count(&seen.messages, Class::Created),
                    count(&seen.messages, Class::Changed),
                    count(&seen.messages, Class::Cancelled)
                ),
            ),
            (
                "answers to clients: thanks / cancel request / forwarded / opted out / in".into(),
                format!(
                    "{} / {} / {} / {} / {}",
                    count(&seen.messages, Class::Thanks),
                    count(&seen.messages, Class::CancelRequest),
                    count(&seen.messages, Class::Forwarded),
                    count(&seen.messages, Class::OptedOut),
                    count(&seen.messages, Class::OptedIn)
                ),
            ),
            (
                "replies: «да» / «не смогу» / questions / stops / resumes".into(),
                format!(
                    "{} / {} / {} / {} / {}",
                    said(|s| matches!(s, Said::Yes(_))),
                    said(|s| matches!(s, Said::No(_))),
                    said(|s| matches!(s, Said::Question(_))),
                    said(|s| matches!(s, Said::Stop(_))),
                    said(|s| matches!(s, Said::Resume(_)))
                ),
            ),
            (
                "replies answered 200 / deliveries (Meta repeats) / never taken".into(),
                format!(
                    "{} / {} / {}",
                    l.replies.iter().filter(|r| r.landed.is_some()).count(),
                    l.replies.iter().map(|r| r.deliveries).sum::<u32>(),
                    l.replies.iter().filter(|r| r.gave_up).count()
                ),
            ),
            (
                "visit write-backs (PUT 200 / PUT in all)".into(),
                format!(
                    "{} / {}",
                    seen.puts.iter().filter(|p| p.status == 200).count(),
                    seen.puts.len()
                ),
            ),
            ("SMS accepted".into(), seen.sms.len().to_string()),
            ("staff alerts (Telegram)".into(), seen.alerts.to_string()),
            (
                "kill -9: at random / mid-send / mid-write-back".into(),
                format!(
                    "{} / {} / {}",
                    aimed("at random"),
                    aimed("mid-send"),
                    aimed("mid-write-back")
                ),
            ),
            (
                "kill -9 in all / SIGTERM / instances started again".into(),
                format!("{kills} / {terms} / {}", l.restarts),
            ),
            (
                "PostgreSQL restarts".into(),
                l.pg_restarts.len().to_string(),
            ),
            (
                "faults injected (see below)".into(),
                l.faults.values().sum::<usize>().to_string(),
            ),
            (
                "pushes (YClients events, Meta statuses) / lost by chaos".into(),
                format!("{} / {}", seen.pushes, seen.lost_pushes),
            ),
            (
                "duplicates allowed (a kill or a timeout inside a send)".into(),
                findings.allowed.len().to_string(),
            ),
            ("violations".into(), findings.violations.len().to_string()),
        ];
        Outcome {
            backend: self.backend_label(),
            seed: l.seed,
            ran,
            error,
            counts,
            violations: findings.violations.values().cloned().collect(),
            allowed: findings.allowed.values().cloned().collect(),
            skipped: l.skipped.clone(),
            faults: l.faults.clone(),
            optouts: self.instances.setup.optouts,
        }
    }

    fn backend_label(&self) -> String {
        if self.instances.setup.postgres {
            let restarts = if self.settings.pg_restarts {
                "restarted"
            } else {
                "never restarted"
            };
            format!("PostgreSQL, two instances (server {restarts})")
        } else {
            "SQLite, one instance".into()
        }
    }
}
