//! What the dashboard and the alerts read (`deploy/grafana`, `deploy/prometheus`):
//! every metric name they (and the docs) use is one a running `demo` exports; every
//! alert has its promtool tests and its runbook line in `docs/monitoring.md`; the gauges the
//! alerts compare move as they should.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use booking_monitor::simulator::Fault;
use booking_monitor::store::{Kind, Status};
use chrono::Utc;

use crate::helpers::*;
use crate::operations::{parse_prometheus, sample};

const BIN: &str = env!("CARGO_BIN_EXE_booking-monitor");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const ALERTS: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yml";
/// The files that name our metrics.
const USERS: [&str; 7] = [
    ALERTS,
    ALERT_TESTS,
    "deploy/grafana/booking-monitor.json",
    "docs/operating.md",
    "docs/notices.md",
    "docs/many-instances.md",
    "docs/replies-and-reach.md",
];
const PREFIX: &str = "booking_monitor_";

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The metric families of a `/metrics` text: name → type.
fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.to_string()))
        .collect()
}

/// Every `booking_monitor_…` word in `text` (upper-case environment variables and
/// longer words that merely contain the prefix are not names).
fn names_in(text: &str) -> Vec<String> {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = Vec::new();
    for (at, _) in text.match_indices(PREFIX) {
        if text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| word(c) || c.is_ascii_uppercase())
        {
            continue;
        }
        let end = text[at..]
            .find(|c: char| !word(c))
            .map_or(text.len(), |n| at + n);
        names.push(text[at..end].to_string());
    }
    names
}

/// Whether `name` is exported: as a family, or as a histogram's series.
fn is_exported(name: &str, families: &BTreeMap<String, String>) -> bool {
    families.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|family| families.get(family).is_some_and(|k| k == "histogram"))
        })
}

/// The demo, killed if the test fails before it ends it.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `demo --serve-for`, returns it and the status page's URL once it serves.
fn serving_demo(tmp: &std::path::Path) -> (Demo, String) {
    let mut child = Command::new(BIN)
        .args(["demo", "--serve-for", "120"])
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let demo = Demo(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Keeping the status page at") {
                let url = line.split_whitespace().find(|w| w.starts_with("http://"));
                let _ = tx.send(url.map(str::to_string));
                return;
            }
        }
    });
    let url = rx
        .recv_timeout(PATIENCE * 6)
        .expect("the demo serves its page")
        .expect("a URL on the line");
    (demo, url)
}

#[actix_rt::test]
async fn every_metric_the_alerts_the_dashboard_and_readme_name_is_exported() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut demo, url) = serving_demo(tmp.path());
    let (status, text) = get(&format!("{}/metrics", url.trim_end_matches('/'))).await;
    assert_eq!(status, 200, "{text}");
    let exported = families(&text);
    let recorded: Vec<String> = read(ALERTS)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("record:"))
        .map(|n| n.trim().to_string())
        .collect();
    let mut unknown = Vec::new();
    for path in USERS {
        let names = names_in(&read(path));
        assert!(
            !names.is_empty(),
            "{path} names no metric: is the scan broken?"
        );
        for name in names {
            if !recorded.contains(&name) && !is_exported(&name, &exported) {
                unknown.push(format!("{path}: {name}"));
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "names the daemon does not export:\n{}\nexported: {:?}",
        unknown.join("\n"),
        exported.keys().collect::<Vec<_>>()
    );
    // The check itself: a name that does not exist is caught.
    assert!(!is_exported(
        "booking_monitor_polls_total_bucket",
        &exported
    ));
    assert!(is_exported(
        "booking_monitor_lateness_seconds_bucket",
        &exported
    ));
    let _ = Command::new("kill")
        .args(["-TERM", &demo.0.id().to_string()])
        .status();
    assert_eq!(demo.0.wait().unwrap().code(), Some(0));
}

/// Each alert's name and its `runbook` annotation, in file order.
fn alerts() -> Vec<(String, String)> {
    let text = read(ALERTS);
    let mut alerts: Vec<(String, String)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("- alert:") {
            alerts.push((name.trim().to_string(), String::new()));
        } else if let Some(runbook) = line.strip_prefix("runbook:") {
            let (name, slot) = alerts.last_mut().expect("a runbook inside an alert");
            assert!(slot.is_empty(), "{name}: two runbooks");
            *slot = serde_json::from_str(runbook.trim())
                .unwrap_or_else(|e| panic!("{name}: runbook not a double-quoted line: {e}"));
        }
    }
    alerts
}

#[test]
fn every_alert_has_a_runbook_line_in_readme_and_tests_firing_and_not() {
    let alerts = alerts();
    assert!(alerts.len() >= 9, "{alerts:?}");
    let readme = read("docs/monitoring.md");
    let tests = read(ALERT_TESTS);
    for (name, runbook) in &alerts {
        assert!(!runbook.is_empty(), "{name} has no runbook annotation");
        assert!(
            readme.contains(&format!("`{name}`")) && readme.contains(runbook.as_str()),
            "docs/monitoring.md lacks {name} with its runbook line: {runbook}"
        );
        // Each `alertname:` case is followed by `exp_alerts: []` (must not fire) or
        // by expected alerts (must fire).
        let (mut fires, mut stays_quiet) = (false, false);
        for case in tests.split("- alertname: ").skip(1) {
            let (case_name, rest) = case.split_once('\n').unwrap_or((case, ""));
            if case_name.trim() == name {
                let expected = rest
                    .lines()
                    .find(|l| l.contains("exp_alerts:"))
                    .unwrap_or("");
                if expected.trim() == "exp_alerts: []" {
                    stays_quiet = true;
                } else {
                    fires = true;
                }
            }
        }
        assert!(
            fires && stays_quiet,
            "{name}: fires tested {fires}, quiet tested {stays_quiet}"
        );
    }
}

#[actix_rt::test]
async fn the_gauges_the_alerts_compare_follow_the_daemon() {
    let started = Utc::now().timestamp() as f64;
    let app = spawn_app_with(Options {
        extra: HTTP.into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let metrics = || async {
        let (status, text) = get(&format!("{}/metrics", app.http_url())).await;
        assert_eq!(status, 200, "{text}");
        parse_prometheus(&text)
    };
    let m = metrics().await;
    let polled = sample(
        &m,
        &format!(
            "booking_monitor_last_successful_poll_timestamp_seconds{{company_id=\"{COMPANY}\"}}"
        ),
    );
    assert!(
        polled >= started - 1.0 && polled <= Utc::now().timestamp() as f64 + 1.0,
        "{polled}"
    );
    assert_eq!(sample(&m, "booking_monitor_poll_interval_seconds"), 0.1);
    assert_eq!(sample(&m, "booking_monitor_companies"), 1.0);
    assert_eq!(sample(&m, "booking_monitor_leases_fair_share"), 1.0);
    let budget = sample(&m, "booking_monitor_yclients_budget_in_use_ratio");
    assert!(
        budget > 0.0 && budget <= 1.0,
        "polls use the budget: {budget}"
    );

    // A send that hangs past its due time: the notice shows as overdue.
    app.sim.change(|w| {
        w.whatsapp_faults
            .push_back(Fault::Stall(Duration::from_secs(3)))
    });
    let id = app.create(admin_booking("Просрочка", "79168880011"));
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled > 0).then_some(()))
        .await
        .unwrap();
    let overdue = |m: &[(String, f64)], kind: Kind| {
        sample(
            m,
            &format!("booking_monitor_notifications_overdue_seconds{{kind=\"{kind}\"}}"),
        )
    };
    let m = metrics().await;
    assert!(
        overdue(&m, Kind::Created) > 0.0,
        "the confirmation is stuck"
    );
    assert_eq!(overdue(&m, Kind::Changed), 0.0);
    app.wait_for_status(id, Status::Sent).await;
    assert_eq!(
        overdue(&metrics().await, Kind::Created),
        0.0,
        "sent: nothing is overdue"
    );
}
