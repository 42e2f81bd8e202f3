//! `status` as people read it at a terminal.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::{replies, sms, Report};

/// For people at a terminal. Each salon's times are in its own zone, named.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    // The operator's zone: the first salon's.
    let zone = report
        .companies
        .first()
        .map(|c| report.zone_of(c.company_id))
        .unwrap_or(chrono_tz::UTC);
    for r in &report.running_config {
        let _ = writeln!(
            out,
            "Config: loaded {} ({} reload(s)), sha256 {}{}",
            when(Some(r.loaded_at), zone),
            r.reloads,
            r.fingerprint.get(..16).unwrap_or(&r.fingerprint),
            if report.running_config.len() > 1 {
                format!("  [{}]", r.instance_id)
            } else {
                String::new()
            }
        );
    }
    out.push_str("Companies:\n");
    for c in &report.companies {
        let tz = report.zone_of(c.company_id);
        let _ = writeln!(
            out,
            "  {:<10} last poll {:<8} at {:<24} cursor {}  every {}{}{}",
            c.company_id,
            c.last_poll,
            when(c.last_poll_at, tz),
            when(c.cursor, tz),
            seconds(c.poll_interval_ms),
            match c.last_webhook_at {
                Some(at) => format!(
                    "  last webhook {} ({} in all)",
                    when(Some(at), tz),
                    c.webhook_events
                ),
                None => String::new(),
            },
            c.last_error
                .as_deref()
                .map(|e| format!("\n             error: {e}"))
                .unwrap_or_default()
        );
    }
    for c in report.companies.iter().filter(|c| !c.optouts.is_empty()) {
        let tz = report.zone_of(c.company_id);
        let _ = writeln!(
            out,
            "  {:<10} asked us to stop: {} client(s)",
            c.company_id,
            c.optouts.len()
        );
        for o in c.optouts.iter().take(5) {
            let _ = writeln!(
                out,
                "             {}  since {}  by {} ({})",
                o.phone,
                when(Some(o.since), tz),
                o.source,
                o.via
            );
        }
    }
    if !report.instances.is_empty() {
        out.push_str("Instances:\n");
    }
    for i in &report.instances {
        let _ = writeln!(
            out,
            "  {:<24} {:<5} heartbeat {:<24} {} companies {:?}",
            i.instance_id,
            if i.live { "live" } else { "gone" },
            when(Some(i.last_heartbeat), chrono_tz::UTC),
            i.companies.len(),
            i.companies
        );
    }
    if let Some(difference) = &report.instances_disagree {
        let _ = writeln!(
            out,
            "  ! instances disagree (give every instance the same config): {difference}"
        );
    }
    replies::render_text(&mut out, &report.replies, |at, company| {
        when(Some(at), report.zone_for(company))
    });
    sms::render_text(&mut out, report);
    out.push_str("Notifications:");
    if report.kinds.is_empty() {
        out.push_str(" none yet");
    }
    for (kind, statuses) in &report.kinds {
        let _ = write!(out, "\n  {kind:<22}");
        for (status, n) in statuses {
            let _ = write!(out, " {status} {n}");
        }
    }
    out.push('\n');
    for (title, rows, time) in [
        ("Due next", &report.upcoming, "due"),
        ("Recent decisions", &report.recent, "at"),
    ] {
        if rows.is_empty() {
            if time == "at" {
                let _ = writeln!(out, "{title}: none yet");
            }
            continue;
        }
        let _ = writeln!(out, "{title}:");
        for d in rows {
            let at = if time == "due" {
                d.due_at
            } else {
                d.updated_at
            };
            let line = format!(
                "  {}  {:>8}/{:<10} {:<21} {:<12} {:<16} {:<12} {:<9} {}",
                when(Some(at), report.zone_of(d.company_id)),
                d.company_id,
                d.record_id,
                d.kind,
                d.client,
                d.visit.as_deref().unwrap_or("-"),
                d.phone.as_deref().unwrap_or("-"),
                d.status,
                match (&d.delivery, &d.delivery_error) {
                    (Some(delivery), Some(error)) => format!("{delivery} ({error})"),
                    (Some(delivery), None) => delivery.clone(),
                    (None, _) => d.reason.clone().unwrap_or_default(),
                }
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

/// `2026-11-28 14:50:08 MSK`: a time in the zone it is shown in, named.
pub(crate) fn when(t: Option<DateTime<Utc>>, tz: Tz) -> String {
    t.map(|t| {
        t.with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

/// `60 s`, `2.5 s`: how often something happens.
fn seconds(ms: u64) -> String {
    format!("{} s", ms as f64 / 1000.0)
}
