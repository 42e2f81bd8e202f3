//! The invariants the soak checks while it runs, on what the simulator saw and
//! what the soak did: nothing sent twice but where a kill -9 (or a timeout) struck
//! inside a send's window, each such duplicate named; no notice to a booking gone
//! before its due time; no change notice without a change; nothing after an
//! opt-out once it landed. `outcome.rs` adds what can only be judged at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::ledger::{Booking, How, Ledger};
use super::schedule::Said;
use super::seen::{timed_out, Class, Put, Seen, Sent};
use super::Timing;

/// How long after a provider's answer its commit may take, for a kill then to
/// count as inside the send window.
const SETTLE: Duration = Duration::from_secs(5);

/// What the checks found: violations, and duplicates allowed with their reason.
#[derive(Debug, Default)]
pub struct Findings {
    pub violations: BTreeMap<String, String>,
    pub allowed: BTreeMap<String, String>,
    /// Violations not yet printed.
    fresh: Vec<String>,
}

impl Findings {
    /// Notes a violation under `key` (once).
    pub fn violation(&mut self, key: String, text: String) {
        if !self.violations.contains_key(&key) {
            self.fresh.push(text.clone());
            self.violations.insert(key, text);
        }
    }

    pub fn allow(&mut self, key: String, text: String) {
        self.allowed.entry(key).or_insert(text);
    }

    /// The violations found since the last call.
    pub fn take_fresh(&mut self) -> Vec<String> {
        std::mem::take(&mut self.fresh)
    }
}

pub struct Judge<'a> {
    pub ledger: &'a Ledger,
    pub seen: &'a Seen,
    pub timing: &'a Timing,
    /// The daemon has opt-outs: a stop is one.
    pub optouts: bool,
}

/// A booking as printed: `booking 17 (record 1018)`.
pub fn name(b: &Booking) -> String {
    format!("booking {} (record {})", b.plan.n, b.record)
}

impl Judge<'_> {
    /// Every check that can be made while the soak runs.
    pub fn running(&self, findings: &mut Findings) {
        for b in &self.ledger.bookings {
            self.duplicates(b, findings);
            self.gone_before_due(b, findings);
            self.opt_outs(b, findings);
        }
    }

    /// Why the request `first` may have been carried out again by the one that
    /// arrived at `next`: the provider answered it after our timeout, or the process
    /// that sent it was killed before it could commit the answer.
    fn excuse(&self, first: Excusable, next: Instant, timeout: Duration) -> Option<String> {
        let l = self.ledger;
        if timed_out(first.arrived, first.answered, timeout) {
            return Some(format!(
                "the first timed out (the provider answered it {:.1} s after it arrived, past the {} ms timeout)",
                (first.answered - first.arrived).as_secs_f64(),
                timeout.as_millis()
            ));
        }
        // The send window closes a moment after the answer, once it is committed
        // (later while the database was being restarted).
        let mut until = first.answered + SETTLE;
        for (began, ended) in &l.pg_restarts {
            if *began <= until && *ended >= first.answered {
                until = until.max(*ended + SETTLE);
            }
        }
        l.killed_by(first.process, until.min(next)).map(|kill| {
            format!(
                "kill -9 of instance {} (process {}) at {} ({}) struck the first one's send window (it reached the provider at {})",
                kill.slot,
                kill.process,
                l.t(kill.at),
                kill.why,
                l.t(first.arrived)
            )
        })
    }

    /// The messages of one class to one client beyond `owed`: each extra one needs
    /// an excuse between it and the one before it.
    fn extra(&self, b: &Booking, what: &str, list: &[&Sent], owed: usize, findings: &mut Findings) {
        let timeout = self.timing.request_timeout();
        let mut excused = 0;
        let mut reasons = Vec::new();
        for pair in list.windows(2) {
            let first = Excusable {
                arrived: pair[0].arrived,
                answered: pair[0].answered,
                process: pair[0].process,
            };
            if let Some(why) = self.excuse(first, pair[1].arrived, timeout) {
                excused += 1;
                reasons.push(why);
            }
        }
        let l = self.ledger;
        let times: Vec<String> = list.iter().map(|m| l.t(m.arrived)).collect();
        let key = format!("{what} {}", b.plan.n);
        if list.len() > owed + excused {
            findings.violation(
                key,
                format!(
                    "{}: {what} {} times ({}), {owed} owed, {excused} explained by a kill or a timeout{}",
                    name(b),
                    list.len(),
                    times.join(", "),
                    if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join("; ")) }
                ),
            );
        } else if list.len() > owed {
            findings.allow(
                key,
                format!(
                    "{}: {what} {} times ({}): {}",
                    name(b),
                    list.len(),
                    times.join(", "),
                    reasons.join("; ")
                ),
            );
        }
    }

    fn duplicates(&self, b: &Booking, findings: &mut Findings) {
        for (channel, sent) in [("WhatsApp", &self.seen.messages), ("SMS", &self.seen.sms)] {
            // In the order their requests arrived (a held one is logged after its retry).
            let mut to: Vec<&Sent> = Seen::to(sent, &b.phone).collect();
            to.sort_by_key(|m| m.arrived);
            for class in [Class::Created, Class::Changed, Class::Cancelled] {
                let list: Vec<&Sent> = to.iter().copied().filter(|m| m.class == class).collect();
                let owed = match class {
                    Class::Changed => {
                        // One change notice per move at most, and none without one.
                        let last = list.last().map_or(Instant::now(), |m| m.arrived);
                        b.moves.iter().filter(|(at, _)| *at <= last).count()
                    }
                    _ => 1,
                };
                let what = format!("{channel} {class:?}").to_lowercase();
                self.extra(b, &what, &list, owed, findings);
            }
        }
        let mut puts: Vec<&Put> = self
            .seen
            .puts
            .iter()
            .filter(|p| p.record == b.record && p.status == 200)
            .collect();
        puts.sort_by_key(|p| p.arrived);
        let timeout = self.timing.request_timeout();
        let mut excused = Vec::new();
        for pair in puts.windows(2) {
            let first = Excusable {
                arrived: pair[0].arrived,
                answered: pair[0].answered,
                process: pair[0].process,
            };
            excused.extend(self.excuse(first, pair[1].arrived, timeout));
        }
        let key = format!("write-back {}", b.plan.n);
        let times: Vec<String> = puts.iter().map(|p| self.ledger.t(p.arrived)).collect();
        if puts.len() > 1 + excused.len() {
            findings.violation(
                key,
                format!(
                    "{}: its visit written back {} times ({})",
                    name(b),
                    puts.len(),
                    times.join(", ")
                ),
            );
        } else if puts.len() > 1 {
            findings.allow(
                key,
                format!(
                    "{}: visit written back {} times ({}): {}",
                    name(b),
                    puts.len(),
                    times.join(", "),
                    excused.join("; ")
                ),
            );
        }
    }

    /// Deleted within the grace delay (less the second YClients' stamps lose):
    /// gone before its due time, so its client hears nothing at all.
    fn gone_before_due(&self, b: &Booking, findings: &mut Findings) {
        let Some(deleted) = b.deleted else {
            return;
        };
        let due_at_earliest = b.made + self.timing.grace() - Duration::from_millis(1_500);
        if deleted > due_at_earliest {
            return;
        }
        let told: Vec<&Sent> = Seen::to(&self.seen.messages, &b.phone)
            .chain(Seen::to(&self.seen.sms, &b.phone))
            .collect();
        if let Some(m) = told.first() {
            findings.violation(
                format!("gone {}", b.plan.n),
                format!(
                    "{}: deleted at {}, before its due time, yet its client got {:?} at {} ({} messages in all)",
                    name(b),
                    self.ledger.t(deleted),
                    m.class,
                    self.ledger.t(m.answered),
                    told.len()
                ),
            );
        }
    }

    /// From a stop's 200 to the next resume's, nothing reaches that client but the
    /// acknowledgement (a send already claimed may still arrive just after).
    fn opt_outs(&self, b: &Booking, findings: &mut Findings) {
        if !self.optouts {
            return;
        }
        let l = self.ledger;
        let mut windows = Vec::new();
        let mut open: Option<Instant> = None;
        for reply in l.landed(b.plan.n) {
            let landed = reply.landed.expect("landed");
            match (reply.said, open) {
                (Said::Stop(_), None) => open = Some(landed),
                (Said::Resume(_), Some(from)) => {
                    windows.push((from, reply.posted));
                    open = None;
                }
                _ => {}
            }
        }
        windows.extend(open.map(|from| (from, Instant::now() + Duration::from_secs(3600))));
        let grace = Duration::from_secs(2);
        for (from, to) in windows {
            let after = Seen::to(&self.seen.messages, &b.phone)
                .chain(Seen::to(&self.seen.sms, &b.phone))
                .filter(|m| {
                    m.class != Class::OptedOut && m.arrived > from + grace && m.arrived < to
                });
            if let Some(m) = after.into_iter().next() {
                findings.violation(
                    format!("opt-out {} {}", b.plan.n, l.t(from)),
                    format!(
                        "{}: opted out at {}, yet got {:?} (its request arrived at {})",
                        name(b),
                        l.t(from),
                        m.class,
                        l.t(m.arrived)
                    ),
                );
            }
        }
    }
}

/// A request that may have been carried out twice.
#[derive(Clone, Copy)]
struct Excusable {
    arrived: Instant,
    answered: Instant,
    process: Option<usize>,
}

/// The kills, stops and restarts, counted for the report.
pub fn signals(ledger: &Ledger) -> (usize, usize) {
    let kills = ledger.signals.iter().filter(|s| s.how == How::Kill).count();
    (kills, ledger.signals.len() - kills)
}
