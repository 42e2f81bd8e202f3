//! Counters for `/metrics`, in Prometheus' text format. Gauges that the database
//! already knows (notifications by status, the last good poll of each company, the
//! earliest open notice) are read from it at scrape time.
//!
//! `deploy/grafana/booking-monitor.json` and `deploy/prometheus/alerts.yml` read
//! these names; `tests/daemon/monitoring.rs` fails on any name they use that is not
//! rendered here.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::{CompanyId, Kind, Status};

mod render;

/// Upper bounds of the lateness histogram, in seconds.
const LATENESS_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 45.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

pub struct Metrics {
    inner: Mutex<Inner>,
    /// A company this process has not seen polled successfully ages from here.
    started_at: DateTime<Utc>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            inner: Mutex::default(),
            started_at: Utc::now(),
        }
    }
}

#[derive(Default)]
struct Inner {
    polls: BTreeMap<(i64, &'static str, &'static str), u64>,
    records_seen: BTreeMap<i64, u64>,
    sends: BTreeMap<(Kind, &'static str), u64>,
    lateness: BTreeMap<Kind, Histogram>,
    rereads: u64,
    takeovers: u64,
    claim_conflicts: u64,
    webhooks: BTreeMap<(&'static str, &'static str), u64>,
    replies: BTreeMap<&'static str, u64>,
    yclients_writes: BTreeMap<&'static str, u64>,
    staff_alerts: BTreeMap<&'static str, u64>,
    fallbacks: BTreeMap<(&'static str, &'static str), u64>,
    deliveries: BTreeMap<(&'static str, &'static str), u64>,
    config_reloads: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; LATENESS_BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// What the rest of the process knows, read at scrape time.
#[derive(Default)]
pub struct Snapshot {
    pub now: DateTime<Utc>,
    pub notifications: Vec<(Kind, Status, i64)>,
    pub deliveries: Vec<(String, i64)>,
    pub yclients_requests: u64,
    pub rate_limit_waits: u64,
    /// The share of YClients' per-minute budget the last minute's requests used.
    pub budget_in_use: f64,
    /// Extra polls a minute busy salons may take (`budget::spare_polls_per_minute`).
    pub spare_polls_per_minute: f64,
    pub actor_restarts: u64,
    pub leases_held: u64,
    /// Other live instances whose settings differ from this one's.
    pub instances_disagreeing: u64,
    /// What this instance should hold (every company when alone).
    pub fair_share: u64,
    /// The companies configured.
    pub companies: u64,
    pub poll_interval: Duration,
    /// Each configured company and when its last successful poll asked YClients.
    pub last_good_polls: Vec<(i64, Option<DateTime<Utc>>)>,
    /// The due time of the earliest notice still to be sent, by kind.
    pub earliest_open_due: Vec<(Kind, DateTime<Utc>)>,
    /// The counters kept in the database (name, labels, value): what the command
    /// line counts too.
    pub durable: Vec<(String, String, i64)>,
}

impl Metrics {
    /// One poll of a company, made for `reason` (`scheduled`, `proving`, `active`:
    /// `cadence::Reason`), ended with `outcome` (`ok`, or the failure's kind).
    pub fn poll(
        &self,
        company: CompanyId,
        outcome: &'static str,
        reason: &'static str,
        records: usize,
    ) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.polls.entry((company.0, outcome, reason)).or_default() += 1;
        *m.records_seen.entry(company.0).or_default() += records as u64;
    }

    /// One send attempt ended with `outcome`: `sent`, `retry`, `paused` or `failed`.
    pub fn send(&self, kind: Kind, outcome: &'static str) {
        *self
            .inner
            .lock()
            .expect("metrics lock")
            .sends
            .entry((kind, outcome))
            .or_default() += 1;
    }

    /// A YClients webhook event (`create`, `update`, `delete`, `other`) and what became of it.
    pub fn webhook(&self, status: &'static str, outcome: &'static str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.webhooks.entry((status, outcome)).or_default() += 1;
    }

    /// A client's reply taken, by what it was read as: `confirm`, `cancel`,
    /// `other`, `ambiguous`, `unmatched`.
    pub fn reply(&self, intent: &'static str) {
        *self
            .inner
            .lock()
            .expect("metrics lock")
            .replies
            .entry(intent)
            .or_default() += 1;
    }

    /// A write to YClients (the visit confirmed) and how it ended: `confirmed`,
    /// `already_confirmed`, `retry`, `failed`.
    pub fn yclients_write(&self, outcome: &'static str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.yclients_writes.entry(outcome).or_default() += 1;
    }

    /// A staff alert and how it ended: `sent`, `page_only`, `retry`, `failed`.
    pub fn staff_alert(&self, outcome: &'static str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.staff_alerts.entry(outcome).or_default() += 1;
    }

    /// An SMS in place of an undelivered WhatsApp notice, by provider and outcome:
    /// `sent`, `failed`, `retry`, `paused`, `delivered_first`, `client_replied`,
    /// `not_useful`, `both` (WhatsApp delivered it after the SMS went).
    pub fn fallback(&self, provider: &'static str, outcome: &'static str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.fallbacks.entry((provider, outcome)).or_default() += 1;
    }

    /// A WhatsApp delivery status and what it did (`applied`, `stale`, `unknown_id`…).
    pub fn delivery(&self, status: &'static str, outcome: &'static str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.deliveries.entry((status, outcome)).or_default() += 1;
    }

    /// A reloaded config, `applied` or `refused`.
    pub fn config_reload(&self, outcome: &'static str) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.config_reloads.entry(outcome).or_default() += 1;
    }

    /// A booking re-read from YClients before a send (nothing proved it current).
    pub fn reread(&self) {
        self.inner.lock().expect("metrics lock").rereads += 1;
    }

    /// Companies taken over from an instance that stopped renewing its leases.
    pub fn takeovers(&self, companies: usize) {
        self.inner.lock().expect("metrics lock").takeovers += companies as u64;
    }

    /// A due row another instance (or decision) claimed first.
    pub fn claim_conflict(&self) {
        self.inner.lock().expect("metrics lock").claim_conflicts += 1;
    }

    /// From when a notice was first due to its going out.
    pub fn lateness(&self, kind: Kind, lateness: Duration) {
        let seconds = lateness.as_secs_f64();
        let mut m = self.inner.lock().expect("metrics lock");
        let h = m.lateness.entry(kind).or_default();
        for (i, bound) in LATENESS_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }
}
