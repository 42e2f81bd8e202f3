//! Push in: YClients' salon webhooks and WhatsApp's delivery statuses.

use std::time::Duration;

use booking_monitor::simulator::{Fault, StatusCallbacks, WebhookSender};
use booking_monitor::store::{self, Kind, Status};
use booking_monitor::webhooks::sign;
use serde_json::{json, Value};

use crate::helpers::*;

const TOKEN: &str = "hook-token-0123456789abcdef";
const SECRET: &str = "meta-app-secret";
const VERIFY: &str = "meta-verify-token";

/// Webhooks on, and polls rare enough that only a webhook can be quick.
fn pushed(poll_ms: u64) -> Options {
    Options {
        poll_ms,
        yclients_extra: format!("webhook_token = \"{TOKEN}\""),
        cloud_api_extra: format!("app_secret = \"{SECRET}\"\nverify_token = \"{VERIFY}\""),
        extra: HTTP.into(),
        ..Options::default()
    }
}

/// Waits until the first poll is committed (its cursor is in the database): the
/// webhook endpoint answers 503 before.
async fn wait_for_the_first_poll(app: &TestApp) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while app
        .db
        .run(|c| store::cursor(c, booking_monitor::domain::CompanyId(COMPANY)))
        .await
        .unwrap()
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "no first poll");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn send_webhooks_to(app: &TestApp, repeats: usize) {
    let url = format!("{}/webhooks/yclients/{TOKEN}", app.http_url());
    app.sim.change(|w| {
        w.webhooks = Some(WebhookSender {
            url,
            update_repeats: repeats,
        })
    });
}

async fn post(url: &str, body: String, headers: &[(&str, String)]) -> (u16, String) {
    let mut request = awc::Client::new()
        .post(url)
        .insert_header(("Content-Type", "application/json"));
    for (name, value) in headers {
        request = request.insert_header((*name, value.clone()));
    }
    let mut response = request.send_body(body).await.unwrap();
    let text = response.body().limit(1 << 21).await.unwrap();
    (
        response.status().as_u16(),
        String::from_utf8_lossy(&text).into_owned(),
    )
}

/// Waits until the simulator's pushed events have all been answered.
async fn wait_for_pushed(app: &TestApp, n: usize) -> Vec<u16> {
    app.sim
        .wait_until(PATIENCE, |w| {
            (w.pushed.len() >= n).then(|| w.pushed.iter().map(|p| p.status).collect())
        })
        .await
        .unwrap()
}

#[actix_rt::test]
async fn a_webhook_announced_booking_is_confirmed_within_the_delay_and_a_second() {
    let app = spawn_app_with(pushed(60_000)).await;
    wait_for_the_first_poll(&app).await;
    send_webhooks_to(&app, 1);
    let polls = app.sim.world().record_list_requests();

    let created = chrono::Utc::now();
    let id = app.create(admin_booking("Пуш", "79162220001"));
    let messages = app.wait_for_messages(1).await;
    let waited = messages[0].at - created;
    let delay = chrono::Duration::milliseconds(app.options.delay_ms as i64);
    assert!(
        waited >= delay && waited <= delay + chrono::Duration::seconds(1),
        "sent {waited} after the booking"
    );
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    // The webhook brought it: the stored booking says so. (Counting polls instead
    // failed once under CI's load, when extra record requests showed up.)
    let booking = app
        .db
        .run(move |c| {
            store::booking(
                c,
                booking_monitor::domain::CompanyId(COMPANY),
                booking_monitor::domain::RecordId(id),
            )
        })
        .await
        .unwrap()
        .expect("a stored booking");
    assert!(booking.pushed_at.is_some(), "{booking:?}");
    let polls_now = app.sim.world().record_list_requests();
    if polls_now != polls {
        println!(
            "note: {} record-list requests during the test",
            polls_now - polls
        );
    }
    let (_, status, _) = app.command(&["status"]).await;
    assert!(status.contains("last webhook"), "{status}");
}

#[actix_rt::test]
async fn four_identical_updates_make_one_message() {
    let app = spawn_app_with(pushed(60_000)).await;
    wait_for_the_first_poll(&app).await;
    send_webhooks_to(&app, 4);
    let id = app.create(admin_booking("Четыре", "79162220002"));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    app.sim.move_to(COMPANY, id, visit(1, 18, 0));
    let answers = wait_for_pushed(&app, 5).await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    // Long after the delay: still one change notice.
    let rows = app.notifications().await;
    assert_eq!(
        rows.iter().filter(|r| r.kind == Kind::Changed).count(),
        1,
        "{rows:?}"
    );
    assert_eq!(app.sim.world().messages.len(), 2);
}

#[actix_rt::test]
async fn a_delete_event_cancels_a_pending_confirmation() {
    let app = spawn_app_with(Options {
        delay_ms: 2_000,
        ..pushed(60_000)
    })
    .await;
    wait_for_the_first_poll(&app).await;
    send_webhooks_to(&app, 1);
    let id = app.create(admin_booking("Удалён", "79162220003"));
    app.wait_for_kind(id, Kind::Created, Status::Pending).await;
    app.sim.delete(COMPANY, id);
    let row = app
        .wait_for_kind(id, Kind::Created, Status::Cancelled)
        .await;
    assert_eq!(row.last_error.as_deref(), Some("deleted"));
    assert!(app.sim.world().messages.is_empty());
}

fn event(id: i64) -> String {
    let record: Value = serde_json::from_str(include_str!(
        "../fixtures/yclients/webhook_record_create_online_altegio_masked.json"
    ))
    .unwrap();
    let mut event = record;
    event["company_id"] = json!(COMPANY);
    event["data"]["id"] = json!(id);
    // Made just now, for tomorrow: news to a daemon that monitors since a moment ago.
    let now = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Moscow);
    event["data"]["create_date"] = json!(now.format("%Y-%m-%dT%H:%M:%S%z").to_string());
    let tomorrow = now + chrono::Duration::days(1);
    event["data"]["datetime"] = json!(tomorrow.format("%Y-%m-%dT12:00:00%:z").to_string());
    event["data"]["date"] = json!(tomorrow.format("%Y-%m-%d 12:00:00").to_string());
    event.to_string()
}

#[actix_rt::test]
async fn a_wrong_token_is_404_and_stores_nothing_a_malformed_body_400() {
    let app = spawn_app_with(pushed(60_000)).await;
    wait_for_the_first_poll(&app).await;
    let base = format!("{}/webhooks/yclients", app.http_url());

    let (status, _) = post(&format!("{base}/wrong-token"), event(77), &[]).await;
    assert_eq!(status, 404);
    let (status, body) = post(&format!("{base}/{TOKEN}"), "{not json".into(), &[]).await;
    assert_eq!(status, 400);
    assert!(body.contains("not JSON"), "{body}");
    let (status, _) = post(
        &format!("{base}/{TOKEN}"),
        json!({"company_id": COMPANY, "resource": "client", "status": "update", "data": {}})
            .to_string(),
        &[],
    )
    .await;
    assert_eq!(status, 200, "another resource is ignored");
    let (status, _) = post(&format!("{base}/{TOKEN}"), "x".repeat(2 << 20), &[]).await;
    assert_eq!(status, 413, "a body over 1 MiB is refused");
    assert!(app.notifications().await.is_empty());
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    assert!(
        metrics.contains(
            "booking_monitor_webhook_events_total{status=\"unknown\",outcome=\"wrong_token\"} 1"
        ),
        "{metrics}"
    );
    // The token never reaches the log.
    assert!(app.logs.lines().iter().all(|l| !l.contains(TOKEN)));
}

#[actix_rt::test]
async fn the_documented_webhook_is_accepted() {
    let app = spawn_app_with(pushed(60_000)).await;
    wait_for_the_first_poll(&app).await;
    let url = format!("{}/webhooks/yclients/{TOKEN}", app.http_url());
    let (status, body) = post(&url, event(4242), &[]).await;
    assert_eq!(status, 200, "{body}");
    // An online booking (the sample is one): a skipped confirmation, decided at once.
    let row = app
        .wait_for_kind(4242, Kind::Created, Status::Skipped)
        .await;
    assert_eq!(row.last_error.as_deref(), Some("online_booking"));
}

#[actix_rt::test]
async fn the_daemon_killed_right_after_a_200_still_sends_after_restart() {
    let port = free_port();
    let app = prepare(Options {
        delay_ms: 1_500,
        extra: format!("[http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"test-http-token\"\n"),
        ..pushed(60_000)
    })
    .await;
    let mut daemon = app.spawn_binary();
    wait_for_the_first_poll(&app).await;
    app.sim.change(|w| {
        w.webhooks = Some(WebhookSender {
            url: format!("http://127.0.0.1:{port}/webhooks/yclients/{TOKEN}"),
            update_repeats: 1,
        })
    });
    let id = app.create(admin_booking("Убит", "79162220004"));
    assert_eq!(wait_for_pushed(&app, 1).await, [200]);
    daemon.signal("KILL");
    daemon.wait_exit(PATIENCE).await;
    // No poll came since: the webhook's commit alone holds the confirmation.
    let rows = app.notifications().await;
    assert!(
        rows.iter()
            .any(|r| r.record_id == id && r.status == Status::Pending),
        "{rows:?}"
    );
    let _again = app.spawn_binary();
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn webhooks_install_registers_our_url_and_keeps_the_salons_others() {
    let app = prepare(pushed(60_000)).await;
    app.sim.change(|w| {
        w.hooks.insert(
            COMPANY,
            json!({"urls": ["https://crm.example.com/hook"], "active": 1, "record": 0, "client": 1}),
        )
    });
    let (code, stdout, stderr) = app
        .command(&["webhooks", "install", "--url", "https://bm.example.com"])
        .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout
            .contains("https://bm.example.com/webhooks/yclients/*** registered (1 other URL kept)"),
        "{stdout}"
    );
    assert!(!stdout.contains(TOKEN), "the token is never printed");
    let hooks = app.sim.world().hooks[&COMPANY].clone();
    assert_eq!(
        hooks["urls"],
        json!([
            "https://crm.example.com/hook",
            format!("https://bm.example.com/webhooks/yclients/{TOKEN}")
        ])
    );
    assert_eq!(
        (hooks["record"].clone(), hooks["client"].clone()),
        (json!(1), json!(1))
    );

    let (_, check, _) = app.command(&["check"]).await;
    assert!(
        check.contains(&format!(
            "ok    YClients webhooks of {COMPANY}: booking events come to us"
        )),
        "{check}"
    );
}

#[actix_rt::test]
async fn webhooks_install_says_which_right_is_missing() {
    let app = prepare(pushed(60_000)).await;
    app.sim.change(|w| {
        w.yclients_faults_for.push((
            "hooks_settings".into(),
            Fault::Status {
                status: 403,
                body: json!({"success": false, "data": null, "meta": {"message": "Недостаточно прав"}})
                    .to_string(),
                retry_after: None,
            },
        ))
    });
    let (code, stdout, _) = app
        .command(&["webhooks", "install", "--url", "https://bm.example.com"])
        .await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("Недостаточно прав"), "{stdout}");
    assert!(
        stdout.contains("right to change the salon's settings"),
        "{stdout}"
    );
}

#[actix_rt::test]
async fn metas_verification_handshake() {
    let app = spawn_app_with(pushed(60_000)).await;
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    let (status, body) = get(&format!(
        "{url}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"
    ))
    .await;
    assert_eq!((status, body.as_str()), (200, "1158201444"));
    let (status, _) = get(&format!(
        "{url}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1158201444"
    ))
    .await;
    assert_eq!(status, 403);
}

fn statuses(id: &str, status: &str, errors: Value) -> String {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "74950000000", "phone_number_id": "100200300"},
        "statuses": [{"id": id, "status": status, "timestamp": "1", "recipient_id": "79162220005",
                      "errors": errors}]}}]}]})
    .to_string()
}

#[actix_rt::test]
async fn delivery_statuses_move_a_notification_forward_only_and_need_the_signature() {
    let app = spawn_app_with(pushed(100)).await;
    app.wait_until_monitoring().await;
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    app.sim.change(|w| {
        w.status_callbacks = Some(StatusCallbacks {
            url: url.clone(),
            app_secret: SECRET.into(),
            statuses: vec!["delivered", "read"],
        })
    });
    let id = app.create(admin_booking("Прочитал", "79162220005"));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    assert_eq!(wait_for_pushed(&app, 2).await, [200, 200]);
    let delivery = || async {
        let (_, json) = get(&format!("{}/status", app.http_url())).await;
        let report: Value = serde_json::from_str(&json).unwrap();
        report["recent"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["record_id"] == json!(id))
            .map(|d| d["delivery"].clone())
            .unwrap()
    };
    assert_eq!(delivery().await, json!("read"));

    // A stale `delivered` after `read`, even signed: nothing changes.
    let stale = statuses("wamid.SIM1", "delivered", json!([]));
    let (status, _) = post(
        &url,
        stale.clone(),
        &[("X-Hub-Signature-256", sign(SECRET, stale.as_bytes()))],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(delivery().await, json!("read"));

    // Unsigned or wrongly signed: 401, nothing read.
    let failed = statuses(
        "wamid.SIM1",
        "failed",
        json!([{"code": 131026, "title": "Message undeliverable"}]),
    );
    let (status, _) = post(&url, failed.clone(), &[]).await;
    assert_eq!(status, 401);
    let (status, _) = post(
        &url,
        failed.clone(),
        &[("X-Hub-Signature-256", sign("wrong", failed.as_bytes()))],
    )
    .await;
    assert_eq!(status, 401);

    // A second message fails: the error is kept; an unknown id is counted.
    app.sim.change(|w| w.status_callbacks = None);
    let other = app.create(admin_booking("Недоставлен", "79162220006"));
    app.wait_for_kind(other, Kind::Created, Status::Sent).await;
    let failed = statuses(
        "wamid.SIM2",
        "failed",
        json!([{"code": 131026, "title": "Message undeliverable"}]),
    );
    let (status, _) = post(
        &url,
        failed.clone(),
        &[("X-Hub-Signature-256", sign(SECRET, failed.as_bytes()))],
    )
    .await;
    assert_eq!(status, 200);
    let unknown = statuses("wamid.NOPE", "read", json!([]));
    let (status, body) = post(
        &url,
        unknown.clone(),
        &[("X-Hub-Signature-256", sign(SECRET, unknown.as_bytes()))],
    )
    .await;
    assert_eq!(
        (status, body.contains("\"unknown\":1")),
        (200, true),
        "{body}"
    );

    let (_, text, _) = app.command(&["status"]).await;
    assert!(
        text.contains("failed (131026: Message undeliverable)"),
        "{text}"
    );
    let (_, page) = get(&format!("{}/", app.http_url())).await;
    assert!(page.contains("прочитано"), "{page}");
    assert!(
        page.contains("не доставлено: 131026: Message undeliverable"),
        "{page}"
    );
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    let sample = |labels: &str| -> u64 {
        let name = format!("booking_monitor_delivery_statuses_total{{{labels}}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name.as_str()))
            .map_or(0, |v| v.trim().parse().unwrap())
    };
    // The simulated Meta reports at once, so its `read` may beat our `sent`: then it
    // is counted as an unknown id at arrival (and kept, and applies when `sent`
    // lands). With wamid.NOPE: two `read`s in all, at least one unknown.
    let read_applied = sample("status=\"read\",outcome=\"applied\"");
    let read_unknown = sample("status=\"read\",outcome=\"unknown_id\"");
    assert_eq!(read_applied + read_unknown, 2, "{metrics}");
    assert!(read_unknown >= 1, "{metrics}");
    assert_eq!(
        sample("status=\"failed\",outcome=\"applied\""),
        1,
        "{metrics}"
    );
    assert_eq!(
        sample("status=\"delivered\",outcome=\"stale\""),
        1,
        "{metrics}"
    );
    assert_eq!(
        sample("status=\"unknown\",outcome=\"bad_signature\""),
        2,
        "{metrics}"
    );
    for line in [
        "booking_monitor_deliveries{delivery=\"failed\"} 1",
        "booking_monitor_deliveries{delivery=\"read\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(app.logs.lines().iter().all(|l| !l.contains(SECRET)));
}
