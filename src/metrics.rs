//! Counters for `/metrics`, in Prometheus' text format. Gauges that the database
//! already knows (notifications by status) are read from it at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::domain::CompanyId;

/// Upper bounds of the lateness histogram, in seconds.
const LATENESS_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 45.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    polls: BTreeMap<(i64, &'static str), u64>,
    records_seen: BTreeMap<i64, u64>,
    sends: BTreeMap<&'static str, u64>,
    lateness_counts: [u64; LATENESS_BUCKETS.len()],
    lateness_sum: f64,
    lateness_count: u64,
}

/// What the rest of the process knows, read at scrape time.
pub struct Snapshot {
    pub notifications: Vec<(String, i64)>,
    pub yclients_requests: u64,
    pub rate_limit_waits: u64,
    pub actor_restarts: u64,
}

impl Metrics {
    /// One poll of a company ended with `outcome` (`ok`, or the failure's kind).
    pub fn poll(&self, company: CompanyId, outcome: &'static str, records: usize) {
        let mut m = self.inner.lock().expect("metrics lock");
        *m.polls.entry((company.0, outcome)).or_default() += 1;
        *m.records_seen.entry(company.0).or_default() += records as u64;
    }

    /// One send attempt ended with `outcome`: `sent`, `retry`, `paused` or `failed`.
    pub fn send(&self, outcome: &'static str) {
        *self
            .inner
            .lock()
            .expect("metrics lock")
            .sends
            .entry(outcome)
            .or_default() += 1;
    }

    /// From the booking's creation to its confirmation going out.
    pub fn lateness(&self, lateness: Duration) {
        let seconds = lateness.as_secs_f64();
        let mut m = self.inner.lock().expect("metrics lock");
        for (i, bound) in LATENESS_BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                m.lateness_counts[i] += 1;
            }
        }
        m.lateness_sum += seconds;
        m.lateness_count += 1;
    }

    pub fn render(&self, snapshot: &Snapshot) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        let name = header(
            &mut out,
            "booking_monitor_polls_total",
            "counter",
            "Polls of YClients, by company and outcome.",
        );
        for ((company, outcome), n) in &m.polls {
            let _ = writeln!(
                out,
                "{name}{{company_id=\"{company}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        let name = header(
            &mut out,
            "booking_monitor_records_seen_total",
            "counter",
            "Records returned by YClients polls, by company.",
        );
        for (company, n) in &m.records_seen {
            let _ = writeln!(out, "{name}{{company_id=\"{company}\"}} {n}");
        }
        let name = header(
            &mut out,
            "booking_monitor_notifications",
            "gauge",
            "Notifications in the outbox, by status.",
        );
        for (status, n) in &snapshot.notifications {
            let _ = writeln!(out, "{name}{{status=\"{status}\"}} {n}");
        }
        let name = header(
            &mut out,
            "booking_monitor_sends_total",
            "counter",
            "WhatsApp send attempts, by outcome.",
        );
        for (outcome, n) in &m.sends {
            let _ = writeln!(out, "{name}{{outcome=\"{outcome}\"}} {n}");
        }
        let name = header(
            &mut out,
            "booking_monitor_lateness_seconds",
            "histogram",
            "From a booking's creation in YClients to its confirmation going out.",
        );
        for (bound, n) in LATENESS_BUCKETS.iter().zip(m.lateness_counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", m.lateness_count);
        let _ = writeln!(out, "{name}_sum {}", m.lateness_sum);
        let _ = writeln!(out, "{name}_count {}", m.lateness_count);
        for (name, help, value) in [
            (
                "booking_monitor_yclients_requests_total",
                "Requests sent to YClients.",
                snapshot.yclients_requests,
            ),
            (
                "booking_monitor_yclients_rate_limit_waits_total",
                "YClients requests that waited for the shared rate limiter.",
                snapshot.rate_limit_waits,
            ),
            (
                "booking_monitor_actor_restarts_total",
                "Actor restarts by the supervisor.",
                snapshot.actor_restarts,
            ),
        ] {
            let name = header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}

fn header<'a>(out: &mut String, name: &'a str, kind: &str, help: &str) -> &'a str {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name
}
