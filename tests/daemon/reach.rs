//! Each salon its own sender, texts and page: messages go out from the salon's own
//! number (or the global one), statuses and replies come back to that salon, a
//! salon's staff see only their salon; and `send-test` tries a salon's set-up.

use booking_monitor::simulator::{
    inbound_id, meta_message, post_to_daemon, Booking, ClientMessage, Fault, StatusCallbacks,
};
use booking_monitor::store::{Kind, Status};
use serde_json::{json, Value};

use crate::helpers::*;

const SECRET: &str = "test-app-secret";
const OTHER: i64 = 4565;
const OTHER_NUMBER: &str = "200300400";
const TOKEN_A: &str = "staff-token-of-salon-4564-0123456789";
const TOKEN_B: &str = "staff-token-of-salon-4565-0123456789";

/// Salon 4564 on the global sender (number 100200300); salon 4565 with its own
/// number and its own confirmation text; both with staff pages and chats.
async fn two_salons(listen: &str) -> TestApp {
    let mut app = prepare(Options {
        delay_ms: 300,
        cloud_api_extra: format!("app_secret = \"{SECRET}\""),
        company_extra: format!("staff_telegram_chat_id = -100{{id}}\nstaff_token = \"{TOKEN_A}\""),
        ..Options::default()
    })
    .await;
    app.sim
        .add_company(OTHER, "Салон Б", "Москва, Тверская, 1", "Europe/Moscow");
    app.options.extra = format!(
        "[http]\nlisten = \"{listen}\"\ntoken = \"test-http-token\"\n\
         [replies]\nenabled = true\n\
         [staff]\ntelegram_bot_token = \"123456:test-bot-token\"\ntelegram_api_base_url = \"{telegram}\"\n\
         [[companies]]\nid = {OTHER}\nstaff_telegram_chat_id = -100{OTHER}\nstaff_token = \"{TOKEN_B}\"\n\
         [companies.whatsapp]\nprovider = \"cloud_api\"\n\
         [companies.whatsapp.cloud_api]\nbase_url = \"{cloud}\"\nphone_number_id = \"{OTHER_NUMBER}\"\n\
         access_token = \"salon-b-access-token\"\napp_secret = \"{SECRET}\"\n\
         [companies.messages]\nbooking_created = \"Салон Б ждёт вас, {{client_name}}: {{date}} в {{time}}.\"\n",
        telegram = app.sim.telegram_url(),
        cloud = app.sim.cloud_api_url(),
    );
    app.start().await;
    app.sim
        .wait_for_polls(6, PATIENCE)
        .await
        .expect("both salons' first polls");
    let url = format!(
        "{}/webhooks/whatsapp",
        app.http_url().replace("0.0.0.0", "127.0.0.1")
    );
    app.sim.change(|w| {
        w.status_callbacks = Some(StatusCallbacks {
            url,
            app_secret: SECRET.into(),
            statuses: vec!["delivered"],
        })
    });
    app
}

fn base(app: &TestApp) -> String {
    app.http_url().replace("0.0.0.0", "127.0.0.1")
}

async fn get_with(url: &str, bearer: Option<&str>) -> (u16, String) {
    let mut request = awc::Client::new().get(url);
    if let Some(token) = bearer {
        request = request.insert_header(("Authorization", format!("Bearer {token}")));
    }
    let mut response = request.send().await.unwrap();
    let body = response.body().await.unwrap();
    (
        response.status().as_u16(),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[actix_rt::test]
async fn two_salons_two_senders_each_message_from_its_own_number_and_back_to_its_salon() {
    let mut app = two_salons("127.0.0.1:0").await;
    let a = app.create(Booking::by_admin(
        COMPANY,
        "Анна",
        "79162220001",
        visit(2, 12, 0),
    ));
    let b = app.create(Booking::by_admin(
        OTHER,
        "Борис",
        "79162220002",
        visit(2, 13, 0),
    ));
    let to_a = app.wait_for_kind(a, Kind::Created, Status::Sent).await;
    let to_b = app.wait_for_kind(b, Kind::Created, Status::Sent).await;
    let sent = app.sim.world().messages.clone();
    let from = |id: &Option<String>| {
        sent.iter()
            .find(|m| Some(&m.id) == id.as_ref())
            .cloned()
            .unwrap()
    };
    let (ma, mb) = (
        from(&to_a.provider_message_id),
        from(&to_b.provider_message_id),
    );
    assert_eq!(
        ma.sender, "100200300",
        "salon A has no sender of its own: the global one"
    );
    assert_eq!(mb.sender, OTHER_NUMBER, "salon B's own number");
    assert!(
        mb.text.starts_with("Салон Б ждёт вас, Борис"),
        "salon B's own text: {}",
        mb.text
    );
    assert!(ma.text.starts_with("Здравствуйте, Анна"), "{}", ma.text);

    // Each status came back through its own number and applied (Meta reports
    // them after its answer to the send: awaited, not assumed).
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (_, status) = get_with(&format!("{}/status", base(&app)), None).await;
        let status: Value = serde_json::from_str(&status).unwrap();
        if status["deliveries"]["delivered"] == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // A stranger writes to salon B's number: salon B's staff hear, not salon A's.
    let body = meta_message(
        OTHER_NUMBER,
        "79169990000",
        "Незнакомец",
        &inbound_id(),
        &ClientMessage::Text("Здравствуйте, есть запись на завтра?".into()),
        None,
    );
    assert_eq!(
        post_to_daemon(
            &format!("{}/webhooks/whatsapp", base(&app)),
            &body,
            Some(SECRET)
        )
        .await
        .0,
        200
    );
    let chats = app
        .sim
        .wait_until(PATIENCE, |w| {
            (!w.telegram.is_empty())
                .then(|| w.telegram.iter().map(|t| t.chat_id).collect::<Vec<_>>())
        })
        .await
        .unwrap();
    assert_eq!(chats, vec![-1004565]);

    // A status or a reply for a number we do not know: 200, counted, nothing done.
    let unknown = meta_message(
        "999999999",
        "79162220001",
        "Анна",
        &inbound_id(),
        &ClientMessage::Text("да".into()),
        None,
    );
    assert_eq!(
        post_to_daemon(
            &format!("{}/webhooks/whatsapp", base(&app)),
            &unknown,
            Some(SECRET)
        )
        .await
        .0,
        200
    );
    let (_, metrics) = get_with(&format!("{}/metrics", base(&app)), None).await;
    assert!(
        metrics.contains("booking_monitor_replies_total{intent=\"unknown_number\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_salons_page_shows_only_that_salon_and_another_salons_token_gets_nothing() {
    let mut app = two_salons("127.0.0.1:0").await;
    let a = app.create(Booking::by_admin(
        COMPANY,
        "Алиса",
        "79162220003",
        visit(2, 12, 0),
    ));
    let b = app.create(Booking::by_admin(
        OTHER,
        "Богдан",
        "79162220004",
        visit(2, 13, 0),
    ));
    app.wait_for_kind(a, Kind::Created, Status::Sent).await;
    app.wait_for_kind(b, Kind::Created, Status::Sent).await;
    let page_b = format!("{}/salons/{OTHER}", base(&app));

    let (code, html) = get_with(&page_b, Some(TOKEN_B)).await;
    assert_eq!(code, 200);
    assert!(html.contains("Богдан") && !html.contains("Алиса"), "{html}");
    let (code, json) = get_with(&format!("{page_b}/status"), Some(TOKEN_B)).await;
    assert_eq!(code, 200);
    assert!(
        json.contains("Богдан") && !json.contains("Алиса") && !json.contains("4564"),
        "{json}"
    );

    // Salon A's token on salon B's page, no token, an unknown salon: 401, nothing else.
    for (url, token) in [
        (&page_b, Some(TOKEN_A)),
        (&page_b, None),
        (&format!("{}/salons/999", base(&app)), Some(TOKEN_A)),
    ] {
        let (code, body) = get_with(url, token).await;
        assert_eq!(code, 401, "{url}");
        assert!(
            !body.contains("Богдан") && !body.contains("Алиса") && !body.contains("Салон"),
            "{body}"
        );
    }

    // A one-time `?token=` login sets a cookie for that salon's page only.
    let no_redirects = awc::Client::builder().disable_redirects().finish();
    let response = no_redirects
        .get(format!("{page_b}?token={TOKEN_B}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 303);
    let cookie = response
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains(&format!("Path=/salons/{OTHER}")),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let mut again = awc::Client::new()
        .get(&page_b)
        .insert_header(("Cookie", pair.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    assert!(String::from_utf8_lossy(&again.body().await.unwrap()).contains("Богдан"));
    let other = awc::Client::new()
        .get(format!("{}/salons/{COMPANY}", base(&app)))
        .insert_header(("Cookie", pair))
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status().as_u16(),
        401,
        "salon B's cookie opens nothing of salon A"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn the_all_salons_page_needs_the_http_token_off_loopback() {
    let mut app = two_salons("0.0.0.0:0").await;
    for path in ["/", "/status"] {
        let url = format!("{}{path}", base(&app));
        assert_eq!(get_with(&url, None).await.0, 401, "{path}");
        assert_eq!(
            get_with(&url, Some(TOKEN_A)).await.0,
            401,
            "a salon's token is not the operator's"
        );
        assert_eq!(
            get_with(&url, Some("test-http-token")).await.0,
            200,
            "{path}"
        );
    }
    app.stop().await;
}

async fn send_test(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["send-test"];
    all.extend_from_slice(args);
    app.command(&all).await
}

#[actix_rt::test]
async fn send_test_sends_through_each_salons_sender_waits_for_delivered_and_writes_no_outbox_row() {
    let mut app = two_salons("127.0.0.1:0").await;
    let (code, stdout, stderr) =
        send_test(&app, &["--company", "4565", "--phone", "+7 916 555-00-01"]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("sent: the provider's message id wamid."),
        "{stdout}"
    );
    assert!(
        stdout.contains("delivered after"),
        "the daemon took its status: {stdout}"
    );
    let sent = app.sim.world().messages.last().cloned().unwrap();
    assert_eq!(
        (sent.sender.as_str(), sent.phone.as_str()),
        (OTHER_NUMBER, "79165550001")
    );
    assert!(
        sent.text.starts_with("Салон Б ждёт вас, Проверка"),
        "{}",
        sent.text
    );

    // Refused by the provider: exit 1 with its words.
    app.sim.change(|w| {
        w.whatsapp_faults.push_back(Fault::Status {
            status: 400,
            body: json!({"error": {"message": "Message undeliverable", "code": 131026}})
                .to_string(),
            retry_after: None,
        })
    });
    let (code, stdout, _) = send_test(&app, &["--company", "4564", "--phone", "79165550002"]).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.contains("131026"), "{stdout}");
    // Bad usage: exit 2.
    for args in [
        vec!["--company", "1", "--phone", "79165550003"],
        vec!["--company", "4564", "--phone", "not a phone"],
        vec![
            "--company",
            "4564",
            "--phone",
            "79165550003",
            "--kind",
            "reminder",
        ],
        vec!["--company", "4564", "--phone", "79165550003", "--sms"],
    ] {
        assert_eq!(send_test(&app, &args).await.0, Some(2), "{args:?}");
    }
    assert!(
        app.notifications().await.is_empty(),
        "nothing in the outbox"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn send_test_through_green_api_the_gateway_and_each_sms_provider() {
    let mut app = prepare(Options::default()).await;
    let (green, gateway) = (app.sim.green_api_url(), app.sim.webhook_url());
    app.options.extra = format!(
        "[fallback]\nprovider = \"smsc\"\n\
         smsc = {{ base_url = \"{}\", login = \"salon\", password = \"smsc-password\" }}\n\
         [[companies]]\nid = 4570\n[companies.whatsapp]\nprovider = \"green_api\"\n\
         [companies.whatsapp.green_api]\nbase_url = \"{green}\"\nid_instance = \"1101000001\"\napi_token = \"green-token-0123456789abcdef\"\n\
         [[companies]]\nid = 4571\n[companies.whatsapp]\nprovider = \"webhook\"\n\
         [companies.whatsapp.webhook]\nurl = \"{gateway}\"\n",
        app.sim.smsc_url(),
    );
    for company in ["4570", "4571"] {
        let (code, stdout, stderr) =
            send_test(&app, &["--company", company, "--phone", "79165550010"]).await;
        assert_eq!(code, Some(0), "{stdout}{stderr}");
        assert!(
            stdout.contains("cannot tell whether it was delivered"),
            "{stdout}"
        );
    }
    let providers: Vec<&str> = app
        .sim
        .world()
        .messages
        .iter()
        .map(|m| m.provider)
        .collect();
    assert_eq!(providers, ["green_api", "webhook"]);
    let (code, stdout, stderr) = send_test(
        &app,
        &["--company", "4564", "--phone", "79165550011", "--sms"],
    )
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert_eq!(app.sim.world().sms.len(), 1);
    assert_eq!(app.sim.world().sms[0].provider, "smsc");
    app.sim.change(|w| {
        w.sms_refused_phones.insert("79165550012".into());
    });
    let (code, stdout, _) = send_test(
        &app,
        &["--company", "4564", "--phone", "79165550012", "--sms"],
    )
    .await;
    assert_eq!(code, Some(1), "{stdout}");
    app.start().await;
    assert!(app.notifications().await.is_empty());
    app.stop().await;
}
