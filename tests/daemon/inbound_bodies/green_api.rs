//! Green API's published bodies on `/webhooks/green-api/{token}`.

use serde_json::{json, Value};

use super::*;

const INSTANCE: u64 = 1101000001;
const TOKEN: &str = "green-webhook-token-0123456789";

async fn green_app() -> TestApp {
    let options = Options {
        whatsapp_provider: Some("green_api"),
        ..Options::default()
    };
    started(options, |app| {
        format!(
            "[whatsapp.green_api]\nbase_url = \"{}\"\nid_instance = \"{INSTANCE}\"\n\
             api_token = \"green-token-0123456789abcdef\"\nwebhook_token = \"{TOKEN}\"\n",
            app.sim.green_api_url()
        )
    })
    .await
}

/// A sample as our instance got it from `phone`, under a fresh message id.
fn from_client(path: &str, phone: &str) -> Value {
    let mut body = to_us(path);
    body["senderData"]["chatId"] = json!(format!("{phone}@c.us"));
    body["senderData"]["sender"] = json!(format!("{phone}@c.us"));
    body["idMessage"] = json!(format!("{:016X}", fastrand::u64(..)));
    body
}

/// A sample as our instance got it.
fn to_us(path: &str) -> Value {
    let mut body = fixture(&format!("green_api/{path}"), None);
    body["instanceData"]["idInstance"] = json!(INSTANCE);
    body
}

async fn hook(app: &TestApp, body: &Value) -> u16 {
    post(app, &format!("/webhooks/green-api/{TOKEN}"), body, None).await
}

#[actix_rt::test]
async fn a_quote_in_extended_text_data_picks_the_right_one_of_two_bookings() {
    let mut app = green_app().await;
    let (first, first_sent) = confirmed(&app, "Галина", "79164440001", 2).await;
    let (second, _) = confirmed(&app, "Галина", "79164440001", 3).await;
    let mut quote = from_client("incoming_quoted_message_deprecated.json", "79164440001");
    quote["messageData"]["extendedTextMessageData"]["stanzaId"] = json!(first_sent.id);
    quote["messageData"]["extendedTextMessageData"]["text"] = json!("да");
    hook(&app, &quote).await;
    confirmed_in_yclients(&app, first).await;
    app.wait_for_more_polls(2).await;
    assert_eq!(attendance(&app, second), 0, "not the other booking");
    assert!(app.sim.world().telegram.is_empty(), "not ambiguous");
    app.stop().await;
}

#[actix_rt::test]
async fn a_tap_on_a_template_or_simple_button_in_every_spelling_confirms_the_booking_it_names() {
    let mut app = green_app().await;
    let cases = [
        (
            "incoming_template_button_reply_waba.json",
            "templateButtonReplyMessage",
            "selectedDisplayText",
        ),
        (
            "incoming_template_buttons_reply.json",
            "templateButtonReplyMessage",
            "selectedDisplayText",
        ),
        (
            "incoming_buttons_response.json",
            "buttonsResponseMessage",
            "selectedButtonText",
        ),
    ];
    for (n, (path, object, title)) in cases.into_iter().enumerate() {
        let phone = format!("7916444001{n}");
        // Two bookings each: only the button's own message names which one.
        let (id, sent) = confirmed(&app, "Дина", &phone, 2).await;
        let (other, _) = confirmed(&app, "Дина", &phone, 3).await;
        let mut tap = from_client(path, &phone);
        tap["messageData"][object]["stanzaId"] = json!(sent.id);
        tap["messageData"][object][title] = json!("Подтверждаю");
        hook(&app, &tap).await;
        confirmed_in_yclients(&app, id).await;
        assert_eq!(attendance(&app, other), 0, "{path}");
    }
    assert!(app.sim.world().telegram.is_empty(), "nothing ambiguous");
    app.stop().await;
}

#[actix_rt::test]
async fn an_edit_to_da_confirms() {
    let mut app = green_app().await;
    let (id, _) = confirmed(&app, "Ева", "79164440002", 2).await;
    let mut edit = from_client("incoming_edited.json", "79164440002");
    edit["messageData"]["editedMessageData"]["textMessage"] = json!("Да");
    hook(&app, &edit).await;
    confirmed_in_yclients(&app, id).await;
    app.stop().await;
}

#[actix_rt::test]
async fn an_undecryptable_message_tells_the_staff_and_answers_the_client_nothing() {
    let mut app = green_app().await;
    confirmed(&app, "Жанна", "79164440003", 2).await;
    hook(
        &app,
        &from_client("incoming_text_swe001.json", "79164440003"),
    )
    .await;
    let alerts = staff_alerts(&app, 1).await;
    assert!(alerts[0].contains("не смог расшифровать"), "{}", alerts[0]);
    assert!(!alerts[0].contains("SWE001"), "{}", alerts[0]);
    app.wait_for_more_polls(3).await;
    assert_eq!(messages_to(&app, "79164440003"), 1, "no automatic answer");
    app.stop().await;
}

#[actix_rt::test]
async fn deleted_outgoing_and_group_messages_are_not_replies() {
    let mut app = green_app().await;
    confirmed(&app, "Зоя", "79164440004", 2).await;
    let mut group = from_client("incoming_text.json", "79164440004");
    group["senderData"]["chatId"] = json!("120363043968066561@g.us");
    for body in [
        from_client("incoming_deleted.json", "79164440004"),
        from_client("outgoing_api_message.json", "79164440004"),
        from_client("outgoing_message_quoted.json", "79164440004"),
        group,
    ] {
        hook(&app, &body).await;
    }
    nothing_came_of_it(&app, "79164440004", 1).await;
    app.stop().await;
}

#[actix_rt::test]
async fn a_yellow_card_is_logged_counted_and_told_to_the_staff_once_a_day() {
    let mut app = green_app().await;
    for _ in 0..2 {
        hook(&app, &to_us("status_yellow_card.json")).await;
    }
    let alerts = staff_alerts(&app, 1).await;
    assert!(alerts[0].contains("приостановил отправку"), "{}", alerts[0]);
    assert_eq!(app.sim.world().telegram[0].chat_id, CHAT);
    app.wait_for_more_polls(2).await;
    assert_eq!(app.sim.world().telegram.len(), 1, "once a day");
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    for outcome in ["staff_told", "repeat"] {
        let series = format!(
            "booking_monitor_delivery_statuses_total{{status=\"yellow_card\",outcome=\"{outcome}\"}} 1"
        );
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
    assert_eq!(app.logs.count("yellowCard"), 2, "logged");
    app.stop().await;
}

#[actix_rt::test]
async fn a_failed_status_keeps_green_apis_description_as_the_reason() {
    let mut app = green_app().await;
    let (id, sent) = confirmed(&app, "Инна", "79164440005", 2).await;
    let mut failed = to_us("status_failed_swe004.json");
    failed["chatId"] = json!("79164440005@c.us");
    failed["idMessage"] = json!(sent.id);
    hook(&app, &failed).await;
    let alert = app.wait_for_kind(id, Kind::StaffAlert, Status::Sent).await;
    assert!(
        alert
            .message
            .unwrap_or_default()
            .contains("SWE004: the number of participants"),
        "the staff read Green API's own words"
    );
    let (_, report) = get(&format!("{}/status", app.http_url())).await;
    assert!(report.contains("failed: SWE004"), "{report}");
    app.stop().await;
}
