//! Retention: a booking whose visit ended longer ago than `keep_after_visit` goes
//! with every row of it, at start and then hourly; the page's counts stay as
//! numbers; nothing of the purged client stays in the SQLite files; "off" keeps
//! everything.

use booking_monitor::erasure::contains_phone;
use booking_monitor::simulator::{inbound_id, meta_message, post_to_daemon, ClientMessage};
use booking_monitor::store::{Kind, Status};
use serde_json::Value;

use crate::helpers::*;

const SECRET: &str = "test-app-secret";
const OLD: &str = "79161260001";
const RECENT: &str = "79161260002";

async fn started(keep: &str) -> TestApp {
    let mut app = prepare(Options {
        delay_ms: 300,
        cloud_api_extra: format!("app_secret = \"{SECRET}\""),
        // No overlap: a poll after the restart does not see the aged booking again.
        monitor_extra: "cursor_overlap_ms = 0".into(),
        ..Options::default()
    })
    .await;
    app.options.extra =
        format!("{HTTP}\n[replies]\nenabled = true\n[retention]\nkeep_after_visit = \"{keep}\"\n");
    app.start().await;
    app.wait_until_monitoring().await;
    app
}

/// Two clients confirmed, the first of whom answered «да».
async fn two_visits(app: &TestApp) -> (i64, i64) {
    let old = app.create(admin_booking("Давний", OLD));
    let recent = app.create(admin_booking("Недавний", RECENT));
    app.wait_for_kind(old, Kind::Created, Status::Sent).await;
    app.wait_for_kind(recent, Kind::Created, Status::Sent).await;
    let body = meta_message(
        "100200300",
        OLD,
        "Давний",
        &inbound_id(),
        &ClientMessage::Text("да".into()),
        None,
    );
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    assert_eq!(post_to_daemon(&url, &body, Some(SECRET)).await.0, 200);
    app.wait_for_kind(old, Kind::VisitConfirmation, Status::Sent)
        .await;
    app.wait_for_kind(old, Kind::ReplyAnswer, Status::Sent)
        .await;
    // Polls until YClients' clock has passed the last change (our write-back):
    // after the restart no poll sees the booking again.
    let settled = chrono::Utc::now() + chrono::Duration::seconds(2);
    while chrono::Utc::now() < settled {
        app.wait_for_more_polls(1).await;
    }
    app.wait_for_more_polls(2).await;
    (old, recent)
}

/// As if the first visit had been 200 days ago.
async fn age(app: &TestApp, record: i64) {
    use diesel::RunQueryDsl;
    let sql =
        format!("UPDATE bookings SET visit_at = '2020-01-01 10:00:00' WHERE record_id = {record}");
    app.db
        .run(move |c| Ok(diesel::sql_query(sql.clone()).execute(c)?))
        .await
        .unwrap();
}

async fn report(app: &TestApp) -> Value {
    let (_, body) = get(&format!("{}/status", app.http_url())).await;
    serde_json::from_str(&body).unwrap()
}

#[actix_rt::test]
async fn an_old_visit_goes_with_its_rows_at_start_and_the_counts_stay() {
    let mut app = started("180d").await;
    let (old, recent) = two_visits(&app).await;
    let before = report(&app).await;
    app.stop().await;
    age(&app, old).await;

    app.start().await;
    let gone =
        |rows: &[booking_monitor::store::Notification]| rows.iter().all(|n| n.record_id != old);
    let deadline = std::time::Instant::now() + PATIENCE;
    while !gone(&app.notifications().await) {
        assert!(
            std::time::Instant::now() < deadline,
            "the old visit was never purged"
        );
        app.wait_for_more_polls(1).await;
    }
    let rows = app.notifications().await;
    assert!(
        rows.iter().any(|n| n.record_id == recent),
        "a recent visit stays"
    );
    let after = report(&app).await;
    assert_eq!(
        after["kinds"], before["kinds"],
        "the page counts what was purged, as numbers"
    );
    assert_eq!(after["replies"]["counts"], before["replies"]["counts"]);
    assert!(
        after["replies"]["latest"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["record_id"] != old),
        "the reply went with its booking"
    );
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    for table in ["bookings", "notifications", "replies"] {
        let series = format!("booking_monitor_purged_total{{table=\"{table}\"}}");
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
    if !skip_on_postgres("retention: the files' bytes") {
        let wal = app.db_path.with_extension("db-wal");
        assert!(!contains_phone(&app.db_path, OLD) && !contains_phone(&wal, OLD));
        assert!(contains_phone(&app.db_path, RECENT) || contains_phone(&wal, RECENT));
    }
    app.stop().await;
}

#[actix_rt::test]
async fn off_keeps_everything() {
    let mut app = started("off").await;
    let (old, _) = two_visits(&app).await;
    app.stop().await;
    age(&app, old).await;
    app.start().await;
    app.wait_for_more_polls(3).await;
    assert!(app.notifications().await.iter().any(|n| n.record_id == old));
    app.stop().await;
}
