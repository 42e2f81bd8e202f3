//! Meta's Cloud API bodies (pywa's fixtures of them), signed, on `/webhooks/whatsapp`.

use booking_monitor::simulator::inbound_id;
use serde_json::{json, Value};

use super::*;

const SECRET: &str = "test-app-secret";
/// The simulator's Cloud API number, as the test config names it.
const NUMBER_ID: &str = "100200300";

async fn meta_app() -> TestApp {
    let options = Options {
        cloud_api_extra: format!("app_secret = \"{SECRET}\""),
        ..Options::default()
    };
    started(options, |_| String::new()).await
}

/// A sample as our number got it from `phone`, under a fresh message id.
fn from_client(mut body: Value, phone: &str) -> Value {
    let value = &mut body["entry"][0]["changes"][0]["value"];
    value["metadata"]["phone_number_id"] = json!(NUMBER_ID);
    if let Some(contact) = value.get_mut("contacts").and_then(|c| c.get_mut(0)) {
        contact["wa_id"] = json!(phone);
    }
    let message = &mut value["messages"][0];
    message["from"] = json!(phone);
    message["id"] = json!(inbound_id());
    body
}

fn message(body: &mut Value) -> &mut Value {
    &mut body["entry"][0]["changes"][0]["value"]["messages"][0]
}

async fn signed(app: &TestApp, body: &Value) -> u16 {
    post(app, "/webhooks/whatsapp", body, Some(SECRET)).await
}

#[actix_rt::test]
async fn system_messages_and_a_revoke_are_not_replies_and_a_changed_number_is_noted_once() {
    let mut app = meta_app().await;
    let (_, _) = confirmed(&app, "Павел", "79163330001", 2).await;
    let mut changed = from_client(
        fixture("meta/pywa_system.json", Some("phone_number_change")),
        "79163330001",
    );
    message(&mut changed)["system"]["wa_id"] = json!("79163339999");
    let identity = from_client(
        fixture("meta/pywa_system.json", Some("identity_change")),
        "79163330001",
    );
    let revoke = from_client(
        fixture("meta/pywa_deleted_message.json", Some("revoke")),
        "79163330001",
    );
    for body in [&changed, &changed, &identity, &revoke] {
        signed(&app, body).await;
    }
    nothing_came_of_it(&app, "79163330001", 1).await;

    let (_, page) = get(&format!("{}/", app.http_url())).await;
    let note = "клиент сменил номер WhatsApp: +79163330001 → <b>+79163339999</b>";
    assert_eq!(page.matches(note).count(), 1, "noted once: {page}");
    let (_, report) = get(&format!("{}/status", app.http_url())).await;
    let report: Value = serde_json::from_str(&report).unwrap();
    let changes = report["replies"]["number_changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report}");
    assert_eq!(changes[0]["new_phone"], "7916***9999");
    assert_eq!(changes[0]["company_id"], COMPANY);

    // The client's erasure takes the note too.
    let (code, out, _) = app
        .command(&["forget", "--phone", "+7 916 333-99-99"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 changed number(s)"), "{out}");
    let (_, page) = get(&format!("{}/", app.http_url())).await;
    assert!(!page.contains("79163339999"), "{page}");
    app.stop().await;
}

#[actix_rt::test]
async fn an_edit_to_da_is_a_new_message_that_confirms_kept_once_by_its_own_id() {
    let mut app = meta_app().await;
    let (id, _) = confirmed(&app, "Роман", "79163330002", 2).await;
    let mut typo = from_client(
        fixture("meta/pywa_message.json", Some("text")),
        "79163330002",
    );
    message(&mut typo)["text"]["body"] = json!("lf");
    signed(&app, &typo).await;
    staff_alerts(&app, 1).await;

    let mut edit = from_client(
        fixture("meta/pywa_edited_message_2025.json", Some("edit_text")),
        "79163330002",
    );
    message(&mut edit)["edit"]["original_message_id"] = message(&mut typo)["id"].clone();
    message(&mut edit)["edit"]["message"]["text"]["body"] = json!("да");
    signed(&app, &edit).await;
    confirmed_in_yclients(&app, id).await;
    signed(&app, &edit).await;
    app.wait_for_more_polls(3).await;
    let puts = app
        .sim
        .world()
        .requests
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 1, "the edit kept once");
    assert_eq!(replies_kept(&app).await, 2, "the typo and its edit");
    app.stop().await;
}

#[actix_rt::test]
async fn a_video_with_a_caption_reaches_the_staff_with_it_in_russian() {
    let mut app = meta_app().await;
    confirmed(&app, "Светлана", "79163330003", 2).await;
    let mut video = from_client(
        fixture("meta/pywa_message.json", Some("video")),
        "79163330003",
    );
    message(&mut video)["video"]["caption"] = json!("можно так же?");
    signed(&app, &video).await;
    let contacts = from_client(
        fixture("meta/pywa_message.json", Some("contacts")),
        "79163330003",
    );
    signed(&app, &contacts).await;
    // The two alerts go out concurrently: either may reach Telegram first.
    let alerts = staff_alerts(&app, 2).await;
    for expected in [
        "Сообщение: видео: «можно так же?»",
        "Сообщение: (без текста: контакт)",
    ] {
        assert!(
            alerts.iter().any(|a| a.contains(expected)),
            "{expected}: {alerts:?}"
        );
    }
    app.stop().await;
}
