//! Change it while it runs: SIGHUP (or `Daemon::reload`) applies a new config
//! whole — a salon added is polled and confirms its next booking, one removed
//! stops, a text or the reminders change — or refuses it whole while the daemon
//! goes on; work under way finishes as it began, and nothing is lost or sent twice.

use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, Fault};
use booking_monitor::store::{Kind, Status};
use serde_json::Value;

use crate::helpers::*;

const OTHER: i64 = 4590;
const NEW_TEXT: &str = "Новый текст: {client_name}, ждём вас {date} в {time}.";

fn http(port: u16) -> String {
    HTTP.replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
}

async fn status(port: u16) -> Value {
    let (_, body) = get(&format!("http://127.0.0.1:{port}/status")).await;
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// Waits until the daemon on `port` has applied `n` reloads (its `/status`).
async fn wait_reloads(port: u16, n: i64) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let report = status(port).await;
        if report["running_config"][0]["reloads"] == n {
            return report;
        }
        assert!(
            Instant::now() < deadline,
            "never applied reload {n}: {report}"
        );
        // The reload has no event to await from outside: look again shortly.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metrics(port: u16) -> String {
    get(&format!("http://127.0.0.1:{port}/metrics")).await.1
}

fn polls_of(app: &TestApp, company: i64) -> usize {
    let path = format!("/api/v1/records/{company}");
    app.sim
        .world()
        .requests
        .iter()
        .filter(|r| r.path == path)
        .count()
}

#[actix_rt::test]
async fn sighup_adds_a_salon_that_confirms_its_next_booking_and_removes_one_that_stops() {
    let port = free_port();
    let mut app = prepare(Options {
        delay_ms: 300,
        ..Options::default()
    })
    .await;
    app.options.extra = http(port);
    app.sim
        .add_company(OTHER, "Салон Б", "Москва, Тверская, 1", "Europe/Moscow");
    let spawned = chrono::Utc::now();
    let daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    // Made after the process started but seconds before the salon is added: news
    // if the salon's monitoring began with the process, the backlog (never
    // confirmed) when it begins at the reload, as it must.
    while chrono::Utc::now() < spawned + chrono::Duration::seconds(8) {
        app.wait_for_more_polls(1).await;
    }
    let before = app.create(Booking::by_admin(
        OTHER,
        "Раньше",
        "79161270001",
        visit(1, 12, 0),
    ));
    let made = (chrono::Utc::now() - chrono::Duration::seconds(5))
        .with_timezone(&chrono_tz::Europe::Moscow)
        .format("%Y-%m-%dT%H:%M:%S%z")
        .to_string();
    app.sim
        .edit(OTHER, before, |record| record["create_date"] = made.into());
    app.options.companies.push((OTHER, "Europe/Moscow"));
    app.write_config();
    daemon.signal("HUP");
    let report = wait_reloads(port, 1).await;
    let fingerprint = report["running_config"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fingerprint.len(), 64, "the file's SHA-256: {report}");
    app.sim
        .wait_until(PATIENCE, |w| {
            w.requests
                .iter()
                .any(|r| r.path == format!("/api/v1/records/{OTHER}"))
                .then_some(())
        })
        .await
        .expect("the added salon is polled");
    let after = app.create(Booking::by_admin(
        OTHER,
        "Позже",
        "79161270002",
        visit(1, 13, 0),
    ));
    app.wait_for_kind(after, Kind::Created, Status::Sent).await;
    assert!(
        app.notifications()
            .await
            .iter()
            .all(|n| n.record_id != before || n.status != Status::Sent),
        "a booking made before the salon was added is not confirmed"
    );

    // Removed: no more polls of it, nothing sent for it.
    app.options.companies = vec![(OTHER, "Europe/Moscow")];
    app.write_config();
    daemon.signal("HUP");
    wait_reloads(port, 2).await;
    app.wait_for_more_polls(2).await;
    let polls = polls_of(&app, COMPANY);
    let gone = app.create(admin_booking("Никто", "79161270003"));
    let other = app.create(Booking::by_admin(
        OTHER,
        "Ещё",
        "79161270004",
        visit(1, 14, 0),
    ));
    app.wait_for_kind(other, Kind::Created, Status::Sent).await;
    app.wait_for_more_polls(3).await;
    assert_eq!(
        polls_of(&app, COMPANY),
        polls,
        "the removed salon is not polled"
    );
    assert!(app
        .notifications()
        .await
        .iter()
        .all(|n| n.record_id != gone));
    let (_, listed) = (0, metrics(port).await);
    assert!(
        listed.contains("booking_monitor_config_reloads_total{outcome=\"applied\"} 2"),
        "{listed}"
    );
    let log = daemon.log();
    assert!(log.contains("config reloaded and applied"), "{log}");
}

#[actix_rt::test]
async fn a_broken_config_is_refused_whole_and_a_fixed_one_then_applies() {
    let port = free_port();
    let mut app = prepare(Options {
        delay_ms: 300,
        ..Options::default()
    })
    .await;
    app.options.extra = http(port);
    let daemon = app.spawn_binary();
    app.wait_until_monitoring().await;

    // A new text, and beside it two mistakes: nothing of it may apply.
    let good = format!(
        "{}\n[messages]\nbooking_created = \"{NEW_TEXT}\"\n",
        http(port)
    );
    app.options.extra = format!("{good}[retention]\nkeep_after_visit = \"soon\"\n");
    app.options.monitor_extra = "notification_delay_ms = -5".into();
    app.write_config();
    daemon.signal("HUP");
    let deadline = Instant::now() + PATIENCE;
    while !metrics(port)
        .await
        .contains("config_reloads_total{outcome=\"refused\"} 1")
    {
        assert!(Instant::now() < deadline, "the refusal is never counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = daemon.log();
    assert!(log.contains("config reload refused"), "{log}");
    assert!(
        log.contains("notification_delay_ms"),
        "the log names the problem: {log}"
    );
    assert_eq!(get(&format!("http://127.0.0.1:{port}/readyz")).await.0, 200);
    let old = app.create(admin_booking("Старый", "79161270101"));
    let row = app.wait_for_kind(old, Kind::Created, Status::Sent).await;
    assert!(
        !row.message.unwrap().starts_with("Новый текст"),
        "the running text stays"
    );
    assert_eq!(status(port).await["running_config"][0]["reloads"], 0);

    app.options.extra = good;
    app.options.monitor_extra = String::new();
    app.write_config();
    daemon.signal("HUP");
    wait_reloads(port, 1).await;
    let new = app.create(admin_booking("Новый", "79161270102"));
    let row = app.wait_for_kind(new, Kind::Created, Status::Sent).await;
    assert!(row.message.unwrap().starts_with("Новый текст: Новый"));
}

#[actix_rt::test]
async fn reminders_turned_on_by_a_reload_are_sent() {
    let mut app = spawn_app_with(Options {
        delay_ms: 300,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    // A visit in 3 minutes; a reminder 170 s before it is due in about 10 s.
    let at = chrono::Utc::now().with_timezone(&chrono_tz::Europe::Moscow)
        + chrono::Duration::seconds(180);
    let id = app.create(Booking {
        online: true,
        ..Booking::by_admin(COMPANY, "Вера", "79161270201", at.naive_local())
    });
    app.wait_for_more_polls(3).await;
    assert!(app
        .notifications()
        .await
        .iter()
        .all(|n| n.record_id != id || n.kind != Kind::ReminderHoursBefore));
    app.options.extra = format!(
        "[notifications]\nreminder_hours_before = {}\nreminder_min_gap_hours = 0\n",
        170.0 / 3600.0
    );
    app.reload().await;
    let reminder = app
        .wait_for_kind(id, Kind::ReminderHoursBefore, Status::Sent)
        .await;
    assert!(reminder.message.unwrap().contains("Ждём вас"));
    app.stop().await;
}

#[actix_rt::test]
async fn fifteen_reloads_under_a_stream_of_bookings_lose_and_repeat_nothing() {
    let mut app = spawn_app_with(Options {
        delay_ms: 200,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let mut ids = Vec::new();
    for i in 0..30u32 {
        ids.push(app.create(admin_booking("Поток", &format!("791612703{i:02}"))));
        if i % 2 == 0 {
            // Alternately another interval and another text.
            app.options.poll_ms = if i % 4 == 0 { 150 } else { 100 };
            app.options.extra =
                format!("[messages]\nbooking_created = \"Версия {i}: {{client_name}}\"\n");
            app.reload().await;
        }
        app.wait_for_more_polls(1).await;
    }
    for id in &ids {
        app.wait_for_kind(*id, Kind::Created, Status::Sent).await;
    }
    app.wait_for_more_polls(3).await;
    let mut phones = app.phones_messaged();
    phones.sort();
    let before = phones.len();
    phones.dedup();
    assert_eq!(before, phones.len(), "nothing sent twice");
    assert_eq!(phones.len(), 30, "nothing lost");
    app.stop().await;
}

#[actix_rt::test]
async fn a_send_stalled_at_whatsapp_during_a_reload_finishes_as_it_began() {
    let mut app = spawn_app_with(Options {
        delay_ms: 300,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    app.sim.change(|w| {
        w.whatsapp_faults
            .push_back(Fault::Stall(Duration::from_millis(1500)))
    });
    let stalled = app.create(admin_booking("Долгий", "79161270401"));
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled == 1).then_some(()))
        .await
        .expect("the send stalls at WhatsApp");
    app.options.extra = format!("[messages]\nbooking_created = \"{NEW_TEXT}\"\n");
    app.reload().await;
    let next = app.create(admin_booking("Следующий", "79161270402"));
    let first = app
        .wait_for_kind(stalled, Kind::Created, Status::Sent)
        .await;
    let second = app.wait_for_kind(next, Kind::Created, Status::Sent).await;
    assert!(
        !first.message.unwrap().starts_with("Новый текст"),
        "begun under the old text"
    );
    assert!(second.message.unwrap().starts_with("Новый текст"));
    assert_eq!(first.attempts, 1, "not cut and sent again");
    app.wait_for_more_polls(2).await;
    assert_eq!(app.phones_messaged().len(), 2);
    app.stop().await;
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn two_instances_reloaded_one_after_the_other_disagree_meanwhile_and_lose_nothing() {
    use booking_monitor::daemon::Daemon;

    let server = postgres_required();
    let _turn = crate::cluster::ONE_AT_A_TIME.lock().await;
    let instance =
        |id: &str| format!("{HTTP}\n[cluster]\ninstance_id = \"{id}\"\nlease_ttl_ms = 1500\n");
    let mut app = prepare(Options {
        delay_ms: 300,
        companies: vec![(7_301, "Europe/Moscow")],
        extra: instance("bm-a"),
        postgres: Some(server),
        ..Options::default()
    })
    .await;
    app.sim
        .add_company(7_302, "Салон 7302", "Москва", "Europe/Moscow");
    app.start().await;
    app.options.extra = instance("bm-b");
    let b_logs = Logs::default();
    let b = Daemon::start(app.config(), app.database.open(), b_logs.logger()).unwrap();
    app.wait_for_more_polls(3).await;

    let mut ids = vec![app.create(Booking::by_admin(
        7_301,
        "До",
        "79161270501",
        visit(1, 10, 0),
    ))];
    app.options.companies.push((7_302, "Europe/Moscow"));
    app.options.extra = instance("bm-a");
    app.reload().await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (code, body) = get(&format!("{}/readyz", app.http_url())).await;
        if code == 503 && body.contains("only on bm-a: 7302") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the disagreement is never named: {body}"
        );
        // Readiness has no event to await: look again shortly.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ids.push(app.create(Booking::by_admin(
        7_301,
        "Между",
        "79161270502",
        visit(1, 11, 0),
    )));
    app.options.extra = instance("bm-b");
    b.reload(app.config()).await;
    let deadline = Instant::now() + PATIENCE;
    while get(&format!("{}/readyz", app.http_url())).await.0 != 200 {
        assert!(Instant::now() < deadline, "the instances never agree again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ids.push(app.create(Booking::by_admin(
        7_302,
        "После",
        "79161270503",
        visit(1, 12, 0),
    )));
    for id in &ids {
        app.wait_for_kind(*id, Kind::Created, Status::Sent).await;
    }
    app.wait_for_more_polls(3).await;
    let mut phones = app.phones_messaged();
    phones.sort();
    assert_eq!(phones, vec!["79161270501", "79161270502", "79161270503"]);
    b.shutdown().await;
    app.stop().await;
}
