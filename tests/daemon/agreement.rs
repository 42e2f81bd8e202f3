//! Instances on one database must share their companies and notification rules:
//! each records them, and `/readyz`, `status`, `/metrics` and the log name the
//! instances that disagree and the first difference.

use std::time::{Duration, Instant};

use booking_monitor::config::Config;
use booking_monitor::daemon::Daemon;

use crate::cluster::ONE_AT_A_TIME;
use crate::helpers::*;

fn instance(id: &str) -> String {
    format!("{HTTP}\n[cluster]\ninstance_id = \"{id}\"\nlease_ttl_ms = 1500\n")
}

/// Waits until `/readyz` at `base` answers 503 naming a disagreement.
async fn wait_not_ready_for_disagreement(base: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (code, body) = get(&format!("{base}/readyz")).await;
        if code == 503 && body.contains("instances disagree") {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "never named the disagreement: {code} {body}"
        );
        // readiness has no event to await: look again shortly.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn instances_whose_company_lists_differ_are_named_by_readyz_status_metrics_and_the_log() {
    let server = postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut app = prepare(Options {
        companies: vec![(7_201, "Europe/Moscow"), (7_202, "Europe/Moscow")],
        extra: instance("bm-a"),
        postgres: Some(server),
        ..Options::default()
    })
    .await;
    app.sim
        .add_company(7_203, "Салон 7203", "Москва", "Europe/Moscow");
    app.start().await;

    // A second instance whose config lists another salon instead of 7202.
    app.options.companies = vec![(7_201, "Europe/Moscow"), (7_203, "Europe/Moscow")];
    app.options.extra = instance("bm-b");
    let other = Config::parse(&app.config_text(), &|_| None).unwrap();
    let other_logs = Logs::default();
    let other = Daemon::start(other, app.database.open(), other_logs.logger()).unwrap();

    let difference = "companies: only on bm-a: 7202; only on bm-b: 7203";
    let body = wait_not_ready_for_disagreement(&app.http_url()).await;
    assert!(
        body.contains(&format!("bm-b differs from bm-a: {difference}")),
        "{body}"
    );
    let body =
        wait_not_ready_for_disagreement(&format!("http://{}", other.http_addr().unwrap())).await;
    assert!(
        body.contains("bm-a differs from bm-b: companies: only on bm-b: 7203; only on bm-a: 7202"),
        "{body}"
    );
    assert_eq!(
        app.logs
            .count("instances on this database run with different settings"),
        1
    );
    assert!(app.logs.count(difference) >= 1);

    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    assert!(
        metrics.contains("booking_monitor_instances_disagreeing 1"),
        "{metrics}"
    );
    let (code, stdout, stderr) = app.command(&["status"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("instances disagree (give every instance the same config): bm-b differs from bm-a: {difference}")),
        "{stdout}"
    );
    other.shutdown().await;
    app.stop().await;
}
