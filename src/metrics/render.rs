//! `/metrics` as Prometheus' text format: the counters kept here and the gauges the
//! scrape reads from the database (`Snapshot`).

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::{Metrics, Snapshot, LATENESS_BUCKETS};
use crate::domain::Kind;

impl Metrics {
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let m = self.inner.lock().expect("metrics lock");
        let mut out = String::new();
        family(
            &mut out,
            ("booking_monitor_polls_total", "counter"),
            "Polls of YClients, by company, outcome and why the salon was polled then: \
             its interval (scheduled), a notice falling due (proving), recent bookings (active).",
            m.polls.iter().map(|((company, outcome, reason), n)| {
                (
                    format!("company_id=\"{company}\",outcome=\"{outcome}\",reason=\"{reason}\""),
                    *n as f64,
                )
            }),
        );
        family(
            &mut out,
            ("booking_monitor_records_seen_total", "counter"),
            "Records returned by YClients polls, by company.",
            m.records_seen
                .iter()
                .map(|(company, n)| (format!("company_id=\"{company}\""), *n as f64)),
        );
        family(
            &mut out,
            ("booking_monitor_notifications", "gauge"),
            "Notifications in the outbox, by kind and status.",
            snapshot.notifications.iter().map(|(kind, status, n)| {
                (format!("kind=\"{kind}\",status=\"{status}\""), *n as f64)
            }),
        );
        family(
            &mut out,
            ("booking_monitor_sends_total", "counter"),
            "WhatsApp send attempts, by kind and outcome.",
            m.sends.iter().map(|((kind, outcome), n)| {
                (format!("kind=\"{kind}\",outcome=\"{outcome}\""), *n as f64)
            }),
        );
        let name = header(
            &mut out,
            "booking_monitor_lateness_seconds",
            "histogram",
            "From when a notice was first due (a confirmation: the booking's creation \
             plus the grace delay) to its going out, by kind.",
        );
        for (kind, h) in &m.lateness {
            for (bound, n) in LATENESS_BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(out, "{name}_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(out, "{name}_sum{{kind=\"{kind}\"}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{kind=\"{kind}\"}} {}", h.count);
        }
        family(
            &mut out,
            ("booking_monitor_webhook_events_total", "counter"),
            "YClients webhook events, by event status and outcome.",
            m.webhooks.iter().map(|((status, outcome), n)| {
                (
                    format!("status=\"{status}\",outcome=\"{outcome}\""),
                    *n as f64,
                )
            }),
        );
        family(
            &mut out,
            ("booking_monitor_delivery_statuses_total", "counter"),
            "WhatsApp delivery statuses received, by status and outcome.",
            m.deliveries.iter().map(|((status, outcome), n)| {
                (
                    format!("status=\"{status}\",outcome=\"{outcome}\""),
                    *n as f64,
                )
            }),
        );
        for (name, help, label, values) in [
            (
                "booking_monitor_replies_total",
                "Clients' replies taken, by what they were read as.",
                "intent",
                &m.replies,
            ),
            (
                "booking_monitor_yclients_writes_total",
                "Visits marked confirmed in YClients after a client's reply, by outcome.",
                "outcome",
                &m.yclients_writes,
            ),
            (
                "booking_monitor_staff_alerts_total",
                "Messages to the salons' staff, by outcome.",
                "outcome",
                &m.staff_alerts,
            ),
            (
                "booking_monitor_config_reloads_total",
                "Configs reloaded on SIGHUP: applied whole, or refused whole.",
                "outcome",
                &m.config_reloads,
            ),
        ] {
            family(
                &mut out,
                (name, "counter"),
                help,
                values
                    .iter()
                    .map(|(value, n)| (format!("{label}=\"{value}\""), *n as f64)),
            );
        }
        family(
            &mut out,
            ("booking_monitor_fallback_total", "counter"),
            "SMS in place of undelivered WhatsApp notices, by provider and outcome.",
            m.fallbacks.iter().map(|((provider, outcome), n)| {
                (
                    format!("provider=\"{provider}\",outcome=\"{outcome}\""),
                    *n as f64,
                )
            }),
        );
        family(
            &mut out,
            ("booking_monitor_deliveries", "gauge"),
            "Sent notifications by what WhatsApp last reported of them.",
            snapshot
                .deliveries
                .iter()
                .map(|(status, n)| (format!("delivery=\"{status}\""), *n as f64)),
        );
        for (name, help) in [
            (
                crate::store::OPTOUTS,
                "Clients' stops taken (action=\"out\") and lifted (\"in\"), by source: a reply or the command line.",
            ),
            (
                crate::store::FORGOTTEN,
                "Phones whose every trace was erased (`forget`).",
            ),
            (
                crate::store::PURGED,
                "Rows purged by retention ([retention] keep_after_visit), by table.",
            ),
        ] {
            family(
                &mut out,
                (name, "counter"),
                help,
                snapshot
                    .durable
                    .iter()
                    .filter(|(n, _, _)| n == name)
                    .map(|(_, labels, value)| (labels.clone(), *value as f64)),
            );
        }
        let name = header(
            &mut out,
            "booking_monitor_leases_held",
            "gauge",
            "Companies whose lease this instance holds (every configured one on SQLite).",
        );
        let _ = writeln!(out, "{name} {}", snapshot.leases_held);
        let name = header(
            &mut out,
            "booking_monitor_instances_disagreeing",
            "gauge",
            "Other live instances on this database whose settings (companies, notification rules) differ from this one's.",
        );
        let _ = writeln!(out, "{name} {}", snapshot.instances_disagreeing);
        self.render_gauges(&mut out, snapshot);
        for (name, help, value) in [
            (
                "booking_monitor_takeovers_total",
                "Companies taken over from an instance that stopped renewing its leases.",
                m.takeovers,
            ),
            (
                "booking_monitor_claim_conflicts_total",
                "Due notifications another instance or decision claimed first.",
                m.claim_conflicts,
            ),
            (
                "booking_monitor_rereads_total",
                "Bookings re-read from YClients just before a send (no poll proved them current).",
                m.rereads,
            ),
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

    /// The gauges the alerts compare: a company's polls, the outbox's lag, the
    /// YClients budget, an instance's share.
    fn render_gauges(&self, out: &mut String, snapshot: &Snapshot) {
        family(
            out,
            (
                "booking_monitor_last_successful_poll_timestamp_seconds",
                "gauge",
            ),
            "When the last successful poll of each company asked YClients (Unix time); \
             before its first, when this process started.",
            snapshot.last_good_polls.iter().map(|(company, at)| {
                let at = at.unwrap_or(self.started_at);
                (format!("company_id=\"{company}\""), unix_seconds(at))
            }),
        );
        let overdue = |kind: &Kind| {
            snapshot
                .earliest_open_due
                .iter()
                .filter(|(k, _)| k == kind)
                .map(|(_, due)| (snapshot.now - *due).as_seconds_f64().max(0.0))
                .fold(0.0, f64::max)
        };
        family(
            out,
            ("booking_monitor_notifications_overdue_seconds", "gauge"),
            "How long past its due time the most overdue notice not yet sent is, by kind \
             (0: none is due).",
            Kind::ALL
                .iter()
                .map(|kind| (format!("kind=\"{kind}\""), overdue(kind))),
        );
        for (name, help, value) in [
            (
                "booking_monitor_yclients_budget_in_use_ratio",
                "The share of YClients' per-minute request budget this instance used in the \
                 last minute.",
                snapshot.budget_in_use,
            ),
            (
                "booking_monitor_spare_polls_per_minute",
                "Extra polls a minute that salons with recent bookings may take: \
                 monitor.spare_budget_share of the budget the configured polls leave free \
                 (polls_total{reason=\"active\"} counts those made).",
                snapshot.spare_polls_per_minute,
            ),
            (
                "booking_monitor_leases_fair_share",
                "Companies this instance should hold: the companies divided among the live \
                 instances (every configured one on SQLite).",
                snapshot.fair_share as f64,
            ),
            (
                "booking_monitor_companies",
                "Companies in this instance's config.",
                snapshot.companies as f64,
            ),
            (
                "booking_monitor_poll_interval_seconds",
                "monitor.poll_interval_ms, in seconds.",
                snapshot.poll_interval.as_secs_f64(),
            ),
        ] {
            let name = header(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

fn unix_seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

/// One metric with its samples, each `(labels, value)`.
fn family(
    out: &mut String,
    (name, kind): (&str, &str),
    help: &str,
    samples: impl Iterator<Item = (String, f64)>,
) {
    let name = header(out, name, kind, help);
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

fn header<'a>(out: &mut String, name: &'a str, kind: &str, help: &str) -> &'a str {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    use chrono::TimeDelta;

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn a_company_never_polled_ages_from_the_start_of_the_process() {
        let metrics = Metrics::default();
        let polled = DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap();
        let text = metrics.render(&Snapshot {
            last_good_polls: vec![(1, Some(polled)), (2, None)],
            ..Snapshot::default()
        });
        let name = "booking_monitor_last_successful_poll_timestamp_seconds";
        assert_eq!(
            sample(&text, &format!("{name}{{company_id=\"1\"}}")),
            Some("1700000000.5")
        );
        let never: f64 = sample(&text, &format!("{name}{{company_id=\"2\"}}"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(never, unix_seconds(metrics.started_at));
    }

    #[test]
    fn overdue_is_the_oldest_past_due_notice_of_each_kind_and_0_for_the_rest() {
        let now = Utc::now();
        let text = Metrics::default().render(&Snapshot {
            now,
            earliest_open_due: vec![
                (Kind::Created, now - TimeDelta::seconds(700)),
                (Kind::ReminderDayBefore, now + TimeDelta::seconds(3600)),
            ],
            ..Snapshot::default()
        });
        let overdue = |kind: &str| {
            sample(
                &text,
                &format!("booking_monitor_notifications_overdue_seconds{{kind=\"{kind}\"}}"),
            )
        };
        assert_eq!(overdue("created"), Some("700"));
        assert_eq!(overdue("reminder_day_before"), Some("0"), "not due yet");
        for kind in Kind::ALL {
            assert!(overdue(kind.as_str()).is_some(), "{kind} has a series");
        }
    }

    #[test]
    fn the_share_the_budget_and_the_interval_are_gauges() {
        let text = Metrics::default().render(&Snapshot {
            budget_in_use: 0.25,
            spare_polls_per_minute: 99.5,
            leases_held: 2,
            fair_share: 3,
            companies: 5,
            poll_interval: Duration::from_millis(1500),
            ..Snapshot::default()
        });
        for (series, value) in [
            ("booking_monitor_yclients_budget_in_use_ratio", "0.25"),
            ("booking_monitor_spare_polls_per_minute", "99.5"),
            ("booking_monitor_leases_held", "2"),
            ("booking_monitor_leases_fair_share", "3"),
            ("booking_monitor_companies", "5"),
            ("booking_monitor_poll_interval_seconds", "1.5"),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series}");
            assert!(
                text.contains(&format!("# TYPE {series} gauge\n")),
                "{series}"
            );
        }
    }
}
