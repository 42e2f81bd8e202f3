//! What a client gets, and when.

use booking_monitor::domain::{CompanyId, RecordId};
use booking_monitor::simulator::{Booking, Fault};
use booking_monitor::store::{self, Status};
use chrono::Utc;
use serde_json::json;

use crate::helpers::*;

#[actix_rt::test]
async fn an_admin_booking_gets_exactly_one_message_after_the_delay() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;

    let created = Utc::now();
    let id = app.create(Booking::by_admin(
        COMPANY,
        "Иван",
        "8 916 123-45-67",
        visit(1, 14, 0),
    ));
    let messages = app.wait_for_messages(1).await;

    let m = &messages[0];
    assert_eq!(m.phone, "79161234567");
    assert!(m.text.contains("Иван"), "{}", m.text);
    assert!(m.text.contains("14:00"), "{}", m.text);
    assert!(
        m.text
            .contains(&format!("{} ", visit(1, 14, 0).format("%-d"))),
        "{}",
        m.text
    );
    let waited = m.at - created;
    assert!(
        waited >= chrono::Duration::milliseconds(app.options.delay_ms as i64),
        "sent after {waited}, before the delay"
    );

    let row = app.wait_for_status(id, Status::Sent).await;
    assert_eq!(row.attempts, 1);
    assert_eq!(row.provider_message_id.as_deref(), Some("wamid.SIM1"));
    assert_eq!(row.message.as_deref(), Some(m.text.as_str()));
    // Later polls see the record again (the cursor overlaps); no second message.
    app.wait_for_more_polls(3).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn online_and_bot_bookings_get_none() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;

    let online = app.create(Booking {
        online: true,
        created_user_id: 0,
        ..admin_booking("Онлайн", "79160000001")
    });
    let by_bot_user = app.create(Booking {
        created_user_id: BOT_USER,
        ..admin_booking("Бот", "79160000002")
    });
    // A bot booking registered in bot_records, as the bot does through the API.
    let registered = app.create(admin_booking("Зарегистрирован", "79160000003"));
    app.db
        .run(move |c| {
            store::add_bot_record(c, CompanyId(COMPANY), RecordId(registered), Utc::now())
        })
        .await
        .unwrap();
    let control = app.create(admin_booking("Администратор", "79160000004"));

    app.wait_for_messages(1).await;
    app.wait_for_status(control, Status::Sent).await;
    assert_eq!(
        app.wait_for_status(online, Status::Skipped)
            .await
            .last_error
            .as_deref(),
        Some("online_booking")
    );
    assert_eq!(
        app.wait_for_status(by_bot_user, Status::Skipped)
            .await
            .last_error
            .as_deref(),
        Some("bot_booking")
    );
    assert_eq!(
        app.wait_for_status(registered, Status::Skipped)
            .await
            .last_error
            .as_deref(),
        Some("bot_booking")
    );
    let phones = app.phones_messaged();
    assert_eq!(phones, vec!["79160000004"]);
}

#[actix_rt::test]
async fn a_bot_record_registered_during_the_delay_gets_none() {
    let app = spawn_app_with(Options {
        delay_ms: 1_500,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Бот", "79160000005"));
    app.wait_for_status(id, Status::Pending).await;
    app.db
        .run(move |c| store::add_bot_record(c, CompanyId(COMPANY), RecordId(id), Utc::now()))
        .await
        .unwrap();
    let row = app.wait_for_status(id, Status::Skipped).await;
    assert_eq!(row.last_error.as_deref(), Some("bot_booking"));
    assert!(app.sim.world().messages.is_empty());
}

#[actix_rt::test]
async fn a_booking_for_next_week_is_notified() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    app.create(Booking::by_admin(
        COMPANY,
        "Неделя",
        "79161112233",
        visit(7, 11, 30),
    ));
    let messages = app.wait_for_messages(1).await;
    assert!(messages[0].text.contains("11:30"), "{}", messages[0].text);
}

#[actix_rt::test]
async fn records_that_existed_before_the_first_start_are_not_notified() {
    let mut app = prepare(Options::default()).await;
    // Made a few seconds before the daemon first starts (YClients' clock set back for it).
    app.sim
        .change(|w| w.clock_skew = chrono::Duration::seconds(-3));
    let old = app.create(admin_booking("Старый", "79160000010"));
    app.sim.change(|w| w.clock_skew = chrono::Duration::zero());
    app.start().await;
    app.wait_until_monitoring().await;
    let new = app.create(admin_booking("Новый", "79160000011"));
    let messages = app.wait_for_messages(1).await;
    app.wait_for_more_polls(2).await;
    assert_eq!(messages[0].phone, "79160000011");
    assert_eq!(app.sim.world().messages.len(), 1);
    let rows = app.notifications().await;
    assert!(
        rows.iter().all(|r| r.record_id != old),
        "the old booking got a row: {rows:?}"
    );
    assert!(rows.iter().any(|r| r.record_id == new));
}

#[actix_rt::test]
async fn an_edit_during_the_delay_is_in_the_message() {
    let app = spawn_app_with(Options {
        delay_ms: 1_500,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking::by_admin(
        COMPANY,
        "Глеб",
        "79164445566",
        visit(1, 14, 0),
    ));
    app.wait_for_status(id, Status::Pending).await;
    app.sim.move_to(COMPANY, id, visit(1, 16, 30));
    let messages = app.wait_for_messages(1).await;
    assert!(messages[0].text.contains("16:30"), "{}", messages[0].text);
    assert!(!messages[0].text.contains("14:00"), "{}", messages[0].text);
    // The outbox keeps the booking as it was sent, not as it was first seen.
    let row = app.wait_for_status(id, Status::Sent).await;
    assert!(row.record_json.contains("16:30:00"), "{}", row.record_json);
}

#[actix_rt::test]
async fn a_deletion_during_the_delay_cancels() {
    let app = spawn_app_with(Options {
        delay_ms: 1_500,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let deleted = app.create(admin_booking("Дарья", "79165556677"));
    let cancelled = app.create(admin_booking("Отмена", "79165556678"));
    app.wait_for_status(deleted, Status::Pending).await;
    app.wait_for_status(cancelled, Status::Pending).await;
    app.sim.delete(COMPANY, deleted);
    app.sim
        .edit(COMPANY, cancelled, |r| r["attendance"] = json!(-1));
    let control = app.create(admin_booking("Контроль", "79165556679"));

    app.wait_for_messages(1).await;
    app.wait_for_status(control, Status::Sent).await;
    assert_eq!(
        app.wait_for_status(deleted, Status::Cancelled)
            .await
            .last_error
            .as_deref(),
        Some("deleted")
    );
    assert_eq!(
        app.wait_for_status(cancelled, Status::Cancelled)
            .await
            .last_error
            .as_deref(),
        Some("cancelled")
    );
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn reordered_services_cause_no_second_message() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking {
        services: vec![("Стрижка".into(), 1500.0), ("Борода".into(), 700.0)],
        ..admin_booking("Сергей", "79167778899")
    });
    let first = app.wait_for_messages(1).await;
    assert!(
        first[0].text.contains("Борода, Стрижка"),
        "{}",
        first[0].text
    );
    assert!(first[0].text.contains("2200"), "{}", first[0].text);
    app.sim.edit(COMPANY, id, |r| {
        let services = r["services"].as_array_mut().unwrap();
        services.reverse();
    });
    app.wait_for_more_polls(3).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn a_company_in_another_time_zone_shows_its_local_time() {
    let app = spawn_app_with(Options {
        companies: vec![(COMPANY, "Asia/Vladivostok")],
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    app.create(Booking::by_admin(
        COMPANY,
        "Владивосток",
        "79241234567",
        visit(2, 14, 0),
    ));
    let messages = app.wait_for_messages(1).await;
    assert!(messages[0].text.contains("в 14:00"), "{}", messages[0].text);
}

#[actix_rt::test]
async fn a_client_without_a_phone_is_skipped_with_the_reason() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    let walk_in = app.sim.create(admin_booking("Без клиента", ""));
    app.sim
        .edit(COMPANY, walk_in, |r| r["client"] = serde_json::Value::Null);
    let bad = app.create(Booking {
        phone: json!(12345),
        ..admin_booking("Кривой", "")
    });
    assert_eq!(
        app.wait_for_status(walk_in, Status::Skipped)
            .await
            .last_error
            .as_deref(),
        Some("no_phone")
    );
    assert_eq!(
        app.wait_for_status(bad, Status::Skipped)
            .await
            .last_error
            .as_deref(),
        Some("invalid_phone")
    );
}

#[actix_rt::test]
async fn the_daemon_restarted_mid_delay_still_sends_once() {
    let mut app = spawn_app_with(Options {
        delay_ms: 2_000,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let created = Utc::now();
    let id = app.create(admin_booking("Перезапуск", "79169990011"));
    app.wait_for_status(id, Status::Pending).await;
    app.stop().await;
    assert!(app.sim.world().messages.is_empty(), "sent before the delay");

    app.start().await;
    let messages = app.wait_for_messages(1).await;
    assert!(messages[0].at - created >= chrono::Duration::milliseconds(2_000));
    app.wait_for_status(id, Status::Sent).await;
    app.wait_for_more_polls(3).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn a_whatsapp_outage_is_retried_and_a_permanent_error_is_not() {
    let app = spawn_app().await;
    app.sim.change(|w| {
        w.whatsapp_faults.push_back(Fault::Status {
            status: 503,
            body: "{}".into(),
            retry_after: None,
        });
        w.whatsapp_faults.push_back(Fault::Status {
            status: 400,
            body: json!({"error": {"message": "Message undeliverable", "code": 131026}})
                .to_string(),
            retry_after: None,
        });
    });
    app.wait_until_monitoring().await;
    let first = app.create(admin_booking("Первая", "79161000001"));
    let row = app.wait_for_status(first, Status::Failed).await;
    // 503, then the permanent 131026: two attempts, no third.
    assert_eq!(row.attempts, 2);
    assert!(
        row.last_error.as_deref().unwrap().contains("131026"),
        "{row:?}"
    );
    let second = app.create(admin_booking("Вторая", "79161000002"));
    app.wait_for_status(second, Status::Sent).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn green_api_and_webhook_providers_deliver() {
    for provider in ["green_api", "webhook"] {
        let mut app = prepare(Options::default()).await;
        app.options.extra = format!(
            "[whatsapp.green_api]\nbase_url = \"{}\"\nid_instance = \"1101\"\napi_token = \"green-token\"\n\
             [whatsapp.webhook]\nurl = \"{}\"\n",
            app.sim.green_api_url(),
            app.sim.webhook_url()
        );
        let text = app.config_text().replace(
            "provider = \"cloud_api\"",
            &format!("provider = \"{provider}\""),
        );
        let config = booking_monitor::config::Config::parse(&text, &|_| None).unwrap();
        let daemon = booking_monitor::daemon::Daemon::start(
            config,
            app.db.clone(),
            booking_monitor::logging::discard(),
        )
        .unwrap();
        app.wait_until_monitoring().await;
        let id = app.create(admin_booking("Провайдер", "79162223344"));
        let messages = app.wait_for_messages(1).await;
        assert_eq!(messages[0].provider, provider);
        assert_eq!(messages[0].phone, "79162223344");
        if provider == "webhook" {
            assert_eq!(
                messages[0].body["idempotency_key"],
                json!(format!("{COMPANY}:{id}:created"))
            );
        }
        let row = app.wait_for_status(id, Status::Sent).await;
        assert!(row.provider_message_id.is_some());
        daemon.shutdown().await;
    }
}

#[actix_rt::test]
async fn a_text_that_comes_out_blank_is_never_sent() {
    // Placeholders only, for a booking without their values.
    let mut app = prepare(Options::default()).await;
    app.options.extra = "[messages]\nbooking_created = \"{client_name}\"\n".into();
    app.start().await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking::by_admin(
        COMPANY,
        "",
        "79161290001",
        visit(1, 12, 0),
    ));
    let row = app.wait_for_status(id, Status::Failed).await;
    assert_eq!(row.last_error.as_deref(), Some("the text came out empty"));
    app.wait_for_more_polls(2).await;
    assert!(app.sim.world().messages.is_empty());
    app.stop().await;
}
