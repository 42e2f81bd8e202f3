//! What the soak did and when, by its own clock: the bookings it made and changed,
//! the replies it landed, the kills, stops and restarts, the faults it injected.
//! The invariants judge the simulator's world and the database against it.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::NaiveDateTime;

use super::schedule::{Plan, Said};

/// A booking the soak made.
#[derive(Debug, Clone)]
pub struct Booking {
    pub plan: Plan,
    pub record: i64,
    pub visit_id: String,
    pub phone: String,
    /// When `create` returned.
    pub made: Instant,
    pub deleted: Option<Instant>,
    pub moves: Vec<(Instant, NaiveDateTime)>,
    /// Its visit now.
    pub visit: NaiveDateTime,
}

/// The phone of booking `n`: every booking its own client.
pub fn phone(n: usize) -> String {
    format!("7999{n:07}")
}

/// A client's reply and what became of it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub n: usize,
    pub said: Said,
    pub message_id: String,
    pub posted: Instant,
    /// When an instance first answered it 200 (it was committed).
    pub landed: Option<Instant>,
    pub deliveries: u32,
    /// No instance answered it 200 within Meta's patience.
    pub gave_up: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Kill,
    Term,
}

/// A signal the soak sent an instance.
#[derive(Debug, Clone)]
pub struct Signal {
    pub slot: usize,
    /// The process signalled (see `instances.rs`).
    pub process: usize,
    pub at: Instant,
    pub how: How,
    /// Why now: `at random`, `mid-send to booking 17`, `mid-write-back of booking 17`.
    pub why: String,
}

#[derive(Debug)]
pub struct Ledger {
    pub start: Instant,
    pub seed: u64,
    pub bookings: Vec<Booking>,
    pub replies: Vec<Reply>,
    pub signals: Vec<Signal>,
    /// PostgreSQL restarts: when each began and ended.
    pub pg_restarts: Vec<(Instant, Instant)>,
    /// Instances started again after a kill or a stop.
    pub restarts: usize,
    /// Faults injected, by name.
    pub faults: BTreeMap<String, usize>,
    /// Steps that could not be carried out, by reason (an instance already down…).
    pub skipped: BTreeMap<String, usize>,
}

impl Ledger {
    pub fn new(seed: u64) -> Ledger {
        Ledger {
            start: Instant::now(),
            seed,
            bookings: Vec::new(),
            replies: Vec::new(),
            signals: Vec::new(),
            pg_restarts: Vec::new(),
            restarts: 0,
            faults: BTreeMap::new(),
            skipped: BTreeMap::new(),
        }
    }

    /// Seconds since the start, as printed: `+312.4 s`.
    pub fn t(&self, at: Instant) -> String {
        format!(
            "+{:.1} s",
            at.saturating_duration_since(self.start).as_secs_f64()
        )
    }

    pub fn fault(&mut self, name: impl Into<String>) {
        *self.faults.entry(name.into()).or_default() += 1;
    }

    pub fn skip(&mut self, why: impl Into<String>) {
        *self.skipped.entry(why.into()).or_default() += 1;
    }

    /// The kill -9 of `process`, if one struck it by `by`.
    pub fn killed_by(&self, process: Option<usize>, by: Instant) -> Option<&Signal> {
        let process = process?;
        self.signals
            .iter()
            .find(|s| s.how == How::Kill && s.process == process && s.at <= by)
    }

    /// Replies of booking `n` that landed, in order.
    pub fn landed(&self, n: usize) -> impl Iterator<Item = &Reply> {
        self.replies
            .iter()
            .filter(move |r| r.n == n && r.landed.is_some())
    }
}
