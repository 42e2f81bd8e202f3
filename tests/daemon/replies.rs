//! Clients answer: a confirmation marks the visit «Подтвердил» in YClients and the
//! client is thanked; everything a person must read reaches the salon's staff
//! (Telegram and the page); nothing is guessed, lost or done twice. One test per
//! rule, named after it; real HTTP to the simulator's YClients, WhatsApp and
//! Telegram.

use booking_monitor::simulator::{
    gateway_message, green_message, green_status, inbound_id, meta_message, post_to_daemon,
    Booking, ClientMessage, Fault, SentMessage, World,
};
use booking_monitor::store::{Kind, Status};
use serde_json::Value;

use crate::helpers::*;

const SECRET: &str = "test-app-secret";
const NUMBER_ID: &str = "100200300";
const CHAT: i64 = -1004564;

/// Replies on, the confirmation asking for an answer; staff alerts to Telegram.
fn options(template: bool) -> Options {
    let templates = if template {
        "templates = { created = { name = \"booking_confirmation\", parameters = [\"client_name\", \"date\", \"time\"] } }"
    } else {
        ""
    };
    Options {
        delay_ms: 300,
        cloud_api_extra: format!("app_secret = \"{SECRET}\"\n{templates}"),
        company_extra: "staff_telegram_chat_id = -100{id}".into(),
        ..Options::default()
    }
}

fn tables(app: &TestApp, replies: &str) -> String {
    format!(
        "{HTTP}\n[replies]\nenabled = true\nask_in = [\"created\"]\n{replies}\n\
         [staff]\ntelegram_bot_token = \"123456:test-bot-token\"\ntelegram_api_base_url = \"{}\"\n",
        app.sim.telegram_url()
    )
}

async fn started(template: bool, replies: &str) -> TestApp {
    let mut app = prepare(options(template)).await;
    app.options.extra = tables(&app, replies);
    app.start().await;
    app.wait_until_monitoring().await;
    app
}

/// The client's message, as Meta delivers it, signed; the daemon's status code.
async fn says(app: &TestApp, from: &str, message: ClientMessage, quoting: Option<&str>) -> u16 {
    says_with_id(app, from, &inbound_id(), message, quoting).await
}

async fn says_with_id(
    app: &TestApp,
    from: &str,
    id: &str,
    message: ClientMessage,
    quoting: Option<&str>,
) -> u16 {
    let body = meta_message(NUMBER_ID, from, "Клиент", id, &message, quoting);
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    post_to_daemon(&url, &body, Some(SECRET)).await.0
}

fn text(s: &str) -> ClientMessage {
    ClientMessage::Text(s.into())
}

fn puts(w: &World) -> usize {
    w.requests.iter().filter(|r| r.method == "PUT").count()
}

fn attendance(app: &TestApp, id: i64) -> i64 {
    app.sim.world().record(id).unwrap()["attendance"]
        .as_i64()
        .unwrap()
}

/// Waits for the `n`th message to `phone`; returns it.
async fn nth_message_to(app: &TestApp, phone: &str, n: usize) -> SentMessage {
    app.sim
        .wait_until(PATIENCE, |w| {
            w.messages
                .iter()
                .filter(|m| m.phone == phone)
                .nth(n - 1)
                .cloned()
        })
        .await
        .unwrap_or_else(|e| panic!("message {n} to {phone}: {e}"))
}

async fn telegram(app: &TestApp, n: usize) -> Vec<String> {
    app.sim
        .wait_until(PATIENCE, |w| {
            (w.telegram.len() >= n).then(|| w.telegram.iter().map(|t| t.text.clone()).collect())
        })
        .await
        .unwrap_or_else(|e| panic!("{n} staff alerts: {e}"))
}

#[actix_rt::test]
async fn a_tap_on_confirm_marks_the_visit_confirmed_in_yclients_and_thanks_the_client() {
    let mut app = started(true, "").await;
    let (id, sent) = confirmed(&app, "Анна", "79161230001", 2).await;
    let payload = sent
        .button_payload(0)
        .expect("a confirm button with our payload");
    assert!(sent.button_payload(1).is_some(), "and a cancel button");
    let tap = ClientMessage::Button {
        payload,
        title: "Подтверждаю".into(),
    };
    assert_eq!(says(&app, "79161230001", tap, Some(&sent.id)).await, 200);

    let thanks = nth_message_to(&app, "79161230001", 2).await;
    assert!(thanks.text.starts_with("Спасибо, Анна!"), "{}", thanks.text);
    assert_eq!(attendance(&app, id), 2, "«Подтвердил» in YClients");
    let put = app
        .sim
        .world()
        .requests
        .iter()
        .find(|r| r.method == "PUT")
        .cloned()
        .unwrap();
    assert_eq!(put.path, format!("/api/v1/visits/{}/{id}", id + 500_000));
    assert_eq!(puts(&app.sim.world()), 1, "exactly one YClients request");
    assert_eq!(
        app.sim.world().telegram.len(),
        0,
        "a plain confirmation alerts nobody"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn da_1_and_ok_confirm() {
    let mut app = started(false, "").await;
    for (n, word) in ["Да!", "1", "ок"].into_iter().enumerate() {
        let phone = format!("7916123001{n}");
        let (id, _) = confirmed(&app, "Клиент", &phone, 2).await;
        assert_eq!(says(&app, &phone, text(word), None).await, 200);
        nth_message_to(&app, &phone, 2).await;
        assert_eq!(attendance(&app, id), 2, "{word:?} confirms");
    }
    assert_eq!(puts(&app.sim.world()), 3);
    app.stop().await;
}

#[actix_rt::test]
async fn da_but_and_a_voice_message_go_to_the_staff_and_the_client_hears_once_a_day() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Борис", "79161230002", 2).await;
    assert_eq!(
        says(
            &app,
            "79161230002",
            text("да, но можно на час позже?"),
            None
        )
        .await,
        200
    );
    let alerts = telegram(&app, 1).await;
    assert!(
        alerts[0].contains("Клиент: Борис (в WhatsApp: Клиент), +79161230002"),
        "the booking's name, the profile's beside it, the full phone for a call back: {}",
        alerts[0]
    );
    assert_eq!(
        app.sim.world().telegram[0].chat_id,
        CHAT,
        "the salon's staff chat"
    );
    assert!(
        alerts[0].contains("«да, но можно на час позже?»"),
        "{}",
        alerts[0]
    );
    let forwarded = nth_message_to(&app, "79161230002", 2).await;
    assert_eq!(forwarded.text, "Передали ваше сообщение администратору.");

    assert_eq!(
        says(&app, "79161230002", ClientMessage::Media("audio"), None).await,
        200
    );
    let alerts = telegram(&app, 2).await;
    assert!(alerts[1].contains("голосовое сообщение"), "{}", alerts[1]);
    app.wait_for_more_polls(3).await;
    let to_client = app
        .sim
        .world()
        .messages
        .iter()
        .filter(|m| m.phone == "79161230002")
        .count();
    assert_eq!(to_client, 2, "one \"passed on\" a day");
    assert_eq!(attendance(&app, id), 0, "nothing confirmed on a guess");
    assert_eq!(puts(&app.sim.world()), 0);
    let logs = app.logs.lines().join("\n");
    assert!(
        !logs.contains("час позже") && !logs.contains("79161230002"),
        "no text or full phone in the log"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn ne_smogu_changes_nothing_in_yclients_and_tells_the_staff() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Вера", "79161230003", 2).await;
    assert_eq!(says(&app, "79161230003", text("не смогу"), None).await, 200);
    let alerts = telegram(&app, 1).await;
    assert!(
        alerts[0].contains("просит отменить или перенести"),
        "{}",
        alerts[0]
    );
    let answer = nth_message_to(&app, "79161230003", 2).await;
    assert!(
        answer.text.starts_with("Передали администратору"),
        "{}",
        answer.text
    );
    assert_eq!(attendance(&app, id), 0);
    assert_eq!(puts(&app.sim.world()), 0);
    assert!(!app.sim.world().record(id).unwrap()["deleted"]
        .as_bool()
        .unwrap());
    // `status` shows the reply at its salon's time, named, as every other time.
    let (code, stdout, stderr) = app.command(&["status"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.contains("7916***0003") && l.contains("cancel"))
        .unwrap_or_else(|| panic!("the reply in status: {stdout}"));
    assert!(line.contains(" MSK  7916***0003"), "{line}");
    app.stop().await;
}

#[actix_rt::test]
async fn a_button_payload_and_a_quoted_reply_pick_the_right_one_of_two_bookings() {
    let mut app = started(true, "").await;
    let (first, first_sent) = confirmed(&app, "Глеб", "79161230004", 2).await;
    let (second, second_sent) = confirmed(&app, "Глеб", "79161230004", 3).await;
    // A tap on the first booking's button, though the second is the latest.
    let tap = ClientMessage::Button {
        payload: first_sent.button_payload(0).unwrap(),
        title: "Подтверждаю".into(),
    };
    assert_eq!(says(&app, "79161230004", tap, None).await, 200);
    nth_message_to(&app, "79161230004", 3).await;
    assert_eq!((attendance(&app, first), attendance(&app, second)), (2, 0));
    // A quote of the second one.
    assert_eq!(
        says(&app, "79161230004", text("да"), Some(&second_sent.id)).await,
        200
    );
    nth_message_to(&app, "79161230004", 4).await;
    assert_eq!((attendance(&app, first), attendance(&app, second)), (2, 2));
    app.stop().await;
}

#[actix_rt::test]
async fn an_ambiguous_da_guesses_nothing() {
    let mut app = started(false, "").await;
    let (first, _) = confirmed(&app, "Дарья", "79161230005", 2).await;
    let (second, _) = confirmed(&app, "Дарья", "79161230005", 3).await;
    assert_eq!(says(&app, "79161230005", text("да"), None).await, 200);
    let alerts = telegram(&app, 1).await;
    assert!(alerts[0].contains("несколько записей"), "{}", alerts[0]);
    nth_message_to(&app, "79161230005", 3).await;
    assert_eq!((attendance(&app, first), attendance(&app, second)), (0, 0));
    assert_eq!(puts(&app.sim.world()), 0);
    app.stop().await;
}

#[actix_rt::test]
async fn one_message_delivered_three_times_makes_one_write_back_and_one_answer() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Егор", "79161230006", 2).await;
    let message = inbound_id();
    for _ in 0..3 {
        assert_eq!(
            says_with_id(&app, "79161230006", &message, text("да"), None).await,
            200
        );
    }
    nth_message_to(&app, "79161230006", 2).await;
    app.wait_for_more_polls(3).await;
    assert_eq!(attendance(&app, id), 2);
    assert_eq!(puts(&app.sim.world()), 1);
    let to_client = app
        .sim
        .world()
        .messages
        .iter()
        .filter(|m| m.phone == "79161230006")
        .count();
    assert_eq!(to_client, 2, "the confirmation and one answer");
    app.stop().await;
}

#[actix_rt::test]
async fn a_da_and_a_tap_at_once_make_one_write_back_and_one_thanks() {
    let mut app = started(true, "").await;
    let (id, sent) = confirmed(&app, "Жанна", "79161230007", 2).await;
    let tap = ClientMessage::Button {
        payload: sent.button_payload(0).expect("a confirm button"),
        title: "Подтверждаю".into(),
    };
    let (typed, tapped) = futures_util::future::join(
        says(&app, "79161230007", text("да"), None),
        says(&app, "79161230007", tap, Some(&sent.id)),
    )
    .await;
    assert_eq!((typed, tapped), (200, 200));

    // Both replies taken: one write-back carried out, the other kept as skipped.
    let done = app
        .wait_for_kind(id, Kind::VisitConfirmation, Status::Sent)
        .await;
    let kept = app
        .wait_for_kind(id, Kind::VisitConfirmation, Status::Skipped)
        .await;
    assert_ne!(done.id, kept.id);
    assert_eq!(kept.last_error.as_deref(), Some("already_confirmed"));
    nth_message_to(&app, "79161230007", 2).await;
    app.wait_for_kind(id, Kind::ReplyAnswer, Status::Sent).await;
    app.wait_for_more_polls(2).await;

    assert_eq!(attendance(&app, id), 2);
    assert_eq!(puts(&app.sim.world()), 1, "one PUT for one visit");
    let to_client = app
        .sim
        .world()
        .messages
        .iter()
        .filter(|m| m.phone == "79161230007")
        .count();
    assert_eq!(to_client, 2, "the confirmation and one «Спасибо»");
    app.stop().await;
}

#[actix_rt::test]
async fn a_bad_signature_is_401_and_nothing_happens() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Жанна", "79161230007", 2).await;
    let body = meta_message(
        NUMBER_ID,
        "79161230007",
        "Жанна",
        &inbound_id(),
        &text("да"),
        None,
    );
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    assert_eq!(
        post_to_daemon(&url, &body, Some("not-the-secret")).await.0,
        401
    );
    assert_eq!(post_to_daemon(&url, &body, None).await.0, 401);
    // Other endpoints: off without their tokens (404); malformed is 400 with why.
    let green = format!("{}/webhooks/green-api/anything", app.http_url());
    assert_eq!(post_to_daemon(&green, &Value::Null, None).await.0, 404);
    let (code, answer) = post_to_daemon(&url, &Value::String("x".into()), Some(SECRET)).await;
    assert_eq!(
        code, 200,
        "a body with neither statuses nor messages: {answer}"
    );
    app.wait_for_more_polls(3).await;
    assert_eq!(attendance(&app, id), 0);
    assert_eq!(
        app.db
            .run(booking_monitor::store::count_replies)
            .await
            .unwrap()
            .len(),
        0
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_403_makes_a_staff_alert_and_stops() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Зоя", "79161230008", 2).await;
    app.sim.change(|w| {
        w.yclients_faults_for.push((
            "/api/v1/visits/".into(),
            Fault::Status {
                status: 403,
                body:
                    r#"{"success": false, "data": null, "meta": {"message": "Недостаточно прав"}}"#
                        .into(),
                retry_after: None,
            },
        ))
    });
    assert_eq!(says(&app, "79161230008", text("да"), None).await, 200);
    let alerts = telegram(&app, 1).await;
    assert!(
        alerts[0].contains("Недостаточно прав") && alerts[0].contains("edit_records_access"),
        "{}",
        alerts[0]
    );
    let failed = app
        .wait_for_kind(id, Kind::VisitConfirmation, Status::Failed)
        .await;
    assert!(failed.last_error.unwrap().contains("edit_records_access"));
    assert_eq!(failed.attempts, 1, "not retried");
    nth_message_to(&app, "79161230008", 2).await;
    assert_eq!(puts(&app.sim.world()), 1);
    app.stop().await;
}

#[actix_rt::test]
async fn the_write_back_survives_500s() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Ирина", "79161230009", 2).await;
    app.sim.change(|w| {
        for _ in 0..2 {
            w.yclients_faults_for.push((
                "/api/v1/visits/".into(),
                Fault::Status {
                    status: 500,
                    body: "{}".into(),
                    retry_after: None,
                },
            ));
        }
    });
    assert_eq!(says(&app, "79161230009", text("да"), None).await, 200);
    nth_message_to(&app, "79161230009", 2).await;
    assert_eq!(attendance(&app, id), 2);
    assert_eq!(puts(&app.sim.world()), 3, "two 500s, then the write");
    app.stop().await;
}

#[actix_rt::test]
async fn a_reply_after_the_visit_began_writes_nothing() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Кира", "79161230010", 2).await;
    // The visit began (moved to an hour ago) before the client answered.
    let begun = chrono::Utc::now() + chrono::Duration::hours(2);
    let local = begun
        .with_timezone(&chrono_tz::Europe::Moscow)
        .naive_local()
        - chrono::Duration::hours(3);
    app.sim.move_to(COMPANY, id, local);
    app.wait_for_more_polls(3).await;
    assert_eq!(says(&app, "79161230010", text("да"), None).await, 200);
    let alerts = telegram(&app, 1).await;
    assert!(alerts[0].contains("визит уже начался"), "{}", alerts[0]);
    assert_eq!(puts(&app.sim.world()), 0);
    assert_eq!(attendance(&app, id), 0);
    app.stop().await;
}

#[actix_rt::test]
async fn our_own_attendance_write_makes_no_changed() {
    let mut app = started(false, "").await;
    let (id, _) = confirmed(&app, "Лев", "79161230011", 2).await;
    assert_eq!(says(&app, "79161230011", text("1"), None).await, 200);
    nth_message_to(&app, "79161230011", 2).await;
    app.wait_for_more_polls(4).await;
    let changed = app
        .notifications()
        .await
        .into_iter()
        .filter(|n| n.record_id == id && n.kind == Kind::Changed)
        .count();
    assert_eq!(changed, 0);
    assert_eq!(
        app.sim
            .world()
            .messages
            .iter()
            .filter(|m| m.phone == "79161230011")
            .count(),
        2
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_gateways_reply_quoting_our_message_confirms() {
    let mut app = prepare(Options {
        delay_ms: 300,
        ..Options::default()
    })
    .await;
    app.options.extra = format!("{}\n", tables(&app, ""));
    app.options.cloud_api_extra = String::new();
    let gateway = app.sim.webhook_url();
    app.options.extra.push_str(&format!(
        "[whatsapp.webhook]\nurl = \"{gateway}\"\ninbound_token = \"gateway-inbound-token-0123456789\"\n"
    ));
    app.options.whatsapp_provider = Some("webhook");
    app.start().await;
    app.wait_until_monitoring().await;
    let (id, sent) = confirmed(&app, "Маша", "79161230012", 2).await;
    let url = format!(
        "{}/webhooks/gateway/gateway-inbound-token-0123456789",
        app.http_url()
    );
    let body = gateway_message("gw-in-1", "79161230012", "Подтверждаю", Some(&sent.id));
    assert_eq!(post_to_daemon(&url, &body, None).await.0, 200);
    nth_message_to(&app, "79161230012", 2).await;
    assert_eq!(attendance(&app, id), 2);
    let wrong = format!("{}/webhooks/gateway/wrong", app.http_url());
    assert_eq!(post_to_daemon(&wrong, &body, None).await.0, 404);
    app.stop().await;
}

#[actix_rt::test]
async fn green_apis_1_confirms_and_its_delivered_shows() {
    let mut app = prepare(Options {
        delay_ms: 300,
        ..Options::default()
    })
    .await;
    app.options.extra = tables(&app, "");
    app.options.whatsapp_provider = Some("green_api");
    let green = app.sim.green_api_url();
    app.options.extra.push_str(&format!(
        "[whatsapp.green_api]\nbase_url = \"{green}\"\nid_instance = \"1101000001\"\n\
         api_token = \"green-token-0123456789abcdef\"\nwebhook_token = \"green-webhook-token-0123456789\"\n"
    ));
    app.start().await;
    app.wait_until_monitoring().await;
    let (id, sent) = confirmed(&app, "Нина", "79161230013", 2).await;
    let url = format!(
        "{}/webhooks/green-api/green-webhook-token-0123456789",
        app.http_url()
    );
    let status = green_status("1101000001", &sent.id, "delivered");
    assert_eq!(post_to_daemon(&url, &status, None).await.0, 200);
    let reply = green_message(
        "1101000001",
        "79161230013",
        "Нина",
        "BAE5F4886A3C2F1D",
        "1",
        Some(&sent.id),
    );
    assert_eq!(post_to_daemon(&url, &reply, None).await.0, 200);
    nth_message_to(&app, "79161230013", 2).await;
    assert_eq!(attendance(&app, id), 2);
    let (_, report) = get(&format!("{}/status", app.http_url())).await;
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["deliveries"]["delivered"], 1, "{report}");
    app.stop().await;
}

#[actix_rt::test]
async fn the_write_back_survives_a_kill_9_right_after_the_200() {
    let port = free_port();
    let mut app = prepare(options(false)).await;
    app.options.extra = tables(&app, "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    let id = app.create(Booking::by_admin(
        COMPANY,
        "Олег",
        "79161230014",
        visit(2, 14, 0),
    ));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let body = meta_message(
        NUMBER_ID,
        "79161230014",
        "Олег",
        &inbound_id(),
        &text("да"),
        None,
    );
    let url = format!("http://127.0.0.1:{port}/webhooks/whatsapp");
    assert_eq!(post_to_daemon(&url, &body, Some(SECRET)).await.0, 200);
    daemon.signal("KILL");
    daemon.wait_exit(PATIENCE).await;

    let _again = app.spawn_binary();
    nth_message_to(&app, "79161230014", 2).await;
    assert_eq!(
        attendance(&app, id),
        2,
        "the acknowledged reply was not lost"
    );
    app.wait_for_more_polls(3).await;
    assert_eq!(puts(&app.sim.world()), 1, "and not written twice");
    assert_eq!(
        app.sim
            .world()
            .messages
            .iter()
            .filter(|m| m.phone == "79161230014")
            .count(),
        2
    );
}
