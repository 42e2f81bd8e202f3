//! The SMS fallback: a notice WhatsApp does not deliver goes once by SMS — at once
//! on a permanent failure or a `failed` status, or when no `delivered` came within
//! `fallback.after_ms` — and never when it was delivered in time, when the client
//! wrote back, or inside quiet hours (it waits).

use booking_monitor::simulator::{
    inbound_id, meta_message, post_to_daemon, ClientMessage, Fault, SentMessage, Simulator,
    StatusCallbacks,
};
use booking_monitor::store::{Kind, Status};
use chrono::{Duration, Utc};
use serde_json::json;

use crate::helpers::*;

const SECRET: &str = "test-app-secret";
const AFTER_MS: u64 = 1_500;
const STAFF: &str = "salon-staff-token-0123456789";

fn options(notifications: &str) -> Options {
    Options {
        delay_ms: 300,
        cloud_api_extra: format!("app_secret = \"{SECRET}\""),
        company_extra: format!("staff_telegram_chat_id = -100{{id}}\nstaff_token = \"{STAFF}\""),
        extra: format!("[notifications]\n{notifications}\n"),
        ..Options::default()
    }
}

/// The app with SMS.ru as the fallback, WhatsApp's statuses (`statuses`) coming
/// back to it, replies on.
async fn started(notifications: &str, statuses: Vec<&'static str>) -> TestApp {
    started_with(notifications, statuses, |sim| {
        format!(
            "provider = \"sms_ru\"\nsms_ru = {{ base_url = \"{}\", api_id = \"test-sms-api-id\" }}",
            sim.sms_ru_url()
        )
    })
    .await
}

/// As `started`, with `[fallback]`'s provider keys from `provider`.
async fn started_with(
    notifications: &str,
    statuses: Vec<&'static str>,
    provider: impl Fn(&Simulator) -> String,
) -> TestApp {
    let mut app = prepare(options(notifications)).await;
    app.options.extra.push_str(&format!(
        "{HTTP}\n[replies]\nenabled = true\n\
         [fallback]\nafter_ms = {AFTER_MS}\n{}\n\
         [staff]\ntelegram_bot_token = \"123456:test-bot-token\"\ntelegram_api_base_url = \"{}\"\n",
        provider(&app.sim),
        app.sim.telegram_url(),
    ));
    app.start().await;
    app.wait_until_monitoring().await;
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    app.sim.change(|w| {
        w.status_callbacks = Some(StatusCallbacks {
            url,
            app_secret: SECRET.into(),
            statuses,
        })
    });
    app
}

fn sms_to(app: &TestApp, phone: &str) -> Vec<String> {
    app.sim
        .world()
        .sms
        .iter()
        .filter(|s| s.phone == phone)
        .map(|s| s.text.clone())
        .collect()
}

async fn one_sms_to(app: &TestApp, phone: &str) -> String {
    let phone = phone.to_string();
    app.sim
        .wait_until(PATIENCE, |w| {
            w.sms
                .iter()
                .find(|s| s.phone == phone)
                .map(|s| s.text.clone())
        })
        .await
        .unwrap_or_else(|e| panic!("an SMS to {phone}: {e}"))
}

/// Long enough after `after_ms` that an SMS that should not go would have.
async fn past_the_wait(app: &TestApp, from: chrono::DateTime<Utc>) {
    let until = from + Duration::milliseconds(AFTER_MS as i64 * 2);
    while Utc::now() < until {
        app.wait_for_more_polls(1).await;
    }
    app.wait_for_more_polls(2).await;
}

/// Meta refuses the next message: the number has no WhatsApp (131026).
fn no_whatsapp_next(app: &TestApp) {
    app.sim.change(|w| {
        w.whatsapp_faults.push_back(Fault::Status {
            status: 400,
            body: json!({"error": {"message": "Message undeliverable", "code": 131026}})
                .to_string(),
            retry_after: None,
        })
    });
}

#[actix_rt::test]
async fn a_client_without_whatsapp_131026_gets_one_sms_at_once() {
    let mut app = started("", vec![]).await;
    no_whatsapp_next(&app);
    let id = app.create(admin_booking("Без WhatsApp", "79161110001"));
    app.wait_for_kind(id, Kind::Created, Status::Failed).await;
    let text = one_sms_to(&app, "79161110001").await;
    assert!(text.contains("вы записаны на"), "{text}");
    let sms = app.wait_for_kind(id, Kind::Sms, Status::Sent).await;
    assert!(sms.provider_message_id.unwrap().starts_with("sms_ru:"));
    past_the_wait(&app, Utc::now()).await;
    assert_eq!(sms_to(&app, "79161110001").len(), 1, "once");
    app.stop().await;
}

/// A page or JSON with the salon's staff token.
async fn as_staff(url: &str) -> String {
    let mut response = awc::Client::new()
        .get(url)
        .insert_header(("Authorization", format!("Bearer {STAFF}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{url}");
    String::from_utf8_lossy(&response.body().await.unwrap()).into_owned()
}

/// A salon finds each SMS in its provider's own log by the id it gave.
#[actix_rt::test]
async fn status_and_the_pages_show_each_sms_with_its_provider_id_and_outcome() {
    let mut app = started("", vec!["failed"]).await;
    app.sim.change(|w| {
        w.sms_refused_phones.insert("79161110012".into());
    });
    let sent = app.create(admin_booking("Смс ушло", "79161110011"));
    let refused = app.create(admin_booking("Смс отказ", "79161110012"));
    let sms = app.wait_for_kind(sent, Kind::Sms, Status::Sent).await;
    app.wait_for_kind(refused, Kind::Sms, Status::Failed).await;
    let stored = sms.provider_message_id.unwrap();
    let id = stored.strip_prefix("sms_ru:").expect("sms_ru:<its id>");
    assert!(id.starts_with("000000-"), "{stored}");

    let (_, json, _) = app.command(&["status", "--json"]).await;
    let (_, http_json) = get(&format!("{}/status", app.http_url())).await;
    let base = app.http_url();
    let salon_json = as_staff(&format!("{base}/salons/{COMPANY}/status")).await;
    for report in [json, http_json, salon_json] {
        let report: serde_json::Value = serde_json::from_str(&report).unwrap();
        let all = report["sms"].as_array().expect("an sms list");
        let ok = all
            .iter()
            .find(|s| s["record_id"] == sent)
            .expect("the sent one");
        assert_eq!(
            (&ok["status"], &ok["provider"], &ok["provider_id"]),
            (&json!("sent"), &json!("sms_ru"), &json!(id)),
            "{report}"
        );
        let bad = all
            .iter()
            .find(|s| s["record_id"] == refused)
            .expect("the refused one");
        assert_eq!(bad["status"], "failed");
        assert!(
            bad["reason"].as_str().unwrap_or("").contains("207"),
            "{bad}"
        );
    }
    let (_, text, _) = app.command(&["status"]).await;
    assert!(text.contains(&format!("sms_ru id {id}")), "{text}");
    for page in [format!("{base}/"), format!("{base}/salons/{COMPANY}")] {
        let html = as_staff(&page).await;
        assert!(
            html.contains(&format!(
                "отправлено через SMS.ru, номер у провайдера: {id}"
            )),
            "{page}: {html}"
        );
        assert!(html.contains("не отправлено: "), "{page}: {html}");
    }
    app.stop().await;
}

/// A gateway that does not say how many parts it billed: the log says so in
/// words, not Rust's `None`.
#[actix_rt::test]
async fn an_sms_through_a_gateway_is_logged_in_words() {
    let mut app = started_with("", vec![], |sim| {
        format!(
            "provider = \"webhook\"\nwebhook = {{ url = \"{}\" }}",
            sim.sms_webhook_url()
        )
    })
    .await;
    no_whatsapp_next(&app);
    let id = app.create(admin_booking("Без WhatsApp", "79161110009"));
    app.wait_for_kind(id, Kind::Sms, Status::Sent).await;
    let line = app
        .logs
        .lines()
        .into_iter()
        .find(|l| l.contains("sent it by SMS"))
        .expect("the SMS is logged");
    assert!(
        line.contains("parts: not told by the provider") && !line.contains("None"),
        "{line}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_failed_status_sends_one_sms() {
    let mut app = started("", vec!["failed"]).await;
    let id = app.create(admin_booking("Не дошло", "79161110002"));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    one_sms_to(&app, "79161110002").await;
    past_the_wait(&app, Utc::now()).await;
    assert_eq!(sms_to(&app, "79161110002").len(), 1);
    app.stop().await;
}

/// Meta may report a message before the send's own answer is handled: the
/// `failed` is kept, and our `sent` commit acts on it at once.
#[actix_rt::test]
async fn a_failed_status_before_our_sent_commit_sends_the_sms_at_that_commit() {
    let mut app = started("", vec![]).await;
    let next = SentMessage::id_for("cloud_api", app.sim.world().messages.len() + 1);
    let status = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "100200300"},
        "statuses": [{"id": next, "status": "failed",
            "errors": [{"code": 131026, "title": "Message undeliverable"}]}]}}]}]});
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    let (code, answer) = post_to_daemon(&url, &status, Some(SECRET)).await;
    assert_eq!(
        (code, answer["unknown"].as_i64()),
        (200, Some(1)),
        "{answer}"
    );

    let id = app.create(admin_booking("Раньше ответа", "79161110009"));
    let sent = app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    assert_eq!(sent.provider_message_id.as_deref(), Some(next.as_str()));
    let sms = app.wait_for_kind(id, Kind::Sms, Status::Sent).await;
    let due_after_sent = sms.due_at.and_utc() - sent.sent_at.unwrap().and_utc();
    assert!(
        due_after_sent < Duration::milliseconds(AFTER_MS as i64 / 2),
        "due {due_after_sent} after the sent commit, not at fallback.after_ms"
    );
    let alert = app.wait_for_kind(id, Kind::StaffAlert, Status::Sent).await;
    assert!(
        alert.message.unwrap_or_default().contains("131026"),
        "the staff hear why"
    );
    assert_eq!(sms_to(&app, "79161110009").len(), 1);
    app.stop().await;
}

#[actix_rt::test]
async fn no_delivered_within_after_ms_sends_one_sms_and_a_delivered_in_time_none() {
    let mut app = started("", vec![]).await;
    let silent = app.create(admin_booking("Тишина", "79161110003"));
    let sent = app.wait_for_kind(silent, Kind::Created, Status::Sent).await;
    one_sms_to(&app, "79161110003").await;
    let sms = app.wait_for_kind(silent, Kind::Sms, Status::Sent).await;
    let waited = sms.sent_at.unwrap().and_utc() - sent.sent_at.unwrap().and_utc();
    assert!(
        waited >= Duration::milliseconds(AFTER_MS as i64),
        "not before after_ms: {waited}"
    );

    app.sim
        .change(|w| w.status_callbacks.as_mut().unwrap().statuses = vec!["delivered"]);
    let heard = app.create(admin_booking("Дошло", "79161110004"));
    let sent = app.wait_for_kind(heard, Kind::Created, Status::Sent).await;
    let skipped = app.wait_for_kind(heard, Kind::Sms, Status::Skipped).await;
    assert_eq!(skipped.last_error.as_deref(), Some("delivered"));
    past_the_wait(&app, sent.sent_at.unwrap().and_utc()).await;
    assert!(sms_to(&app, "79161110004").is_empty());
    app.stop().await;
}

#[actix_rt::test]
async fn a_reply_before_after_ms_means_no_sms() {
    let mut app = started("", vec![]).await;
    let id = app.create(admin_booking("Ответил", "79161110005"));
    let sent = app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let body = meta_message(
        "100200300",
        "79161110005",
        "Ответил",
        &inbound_id(),
        &ClientMessage::Text("спасибо".into()),
        None,
    );
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    assert_eq!(post_to_daemon(&url, &body, Some(SECRET)).await.0, 200);
    let skipped = app.wait_for_kind(id, Kind::Sms, Status::Skipped).await;
    assert_eq!(skipped.last_error.as_deref(), Some("client_replied"));
    past_the_wait(&app, sent.sent_at.unwrap().and_utc()).await;
    assert!(sms_to(&app, "79161110005").is_empty());
    app.stop().await;
}

#[actix_rt::test]
async fn quiet_hours_hold_the_sms() {
    // Quiet from a few seconds after the notice goes until an hour later.
    let moscow = chrono_tz::Europe::Moscow;
    let start = (Utc::now() + Duration::seconds(2)).with_timezone(&moscow);
    let end = (Utc::now() + Duration::hours(1)).with_timezone(&moscow);
    let quiet = format!(
        "quiet_hours = \"{}-{}\"",
        start.format("%H:%M:%S"),
        end.format("%H:%M:%S")
    );
    let mut app = started(&quiet, vec![]).await;
    let id = app.create(admin_booking("Ночью", "79161110006"));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let sms = app
        .notifications()
        .await
        .into_iter()
        .find(|n| n.record_id == id && n.kind == Kind::Sms)
        .expect("an SMS row opened with the send");
    past_the_wait(&app, sms.due_at()).await;
    let held = app.wait_for_kind(id, Kind::Sms, Status::Pending).await;
    assert!(
        held.due_at() > Utc::now() + Duration::minutes(50),
        "held until the quiet hours end"
    );
    assert!(sms_to(&app, "79161110006").is_empty());
    app.stop().await;
}

#[actix_rt::test]
async fn sms_rus_per_number_error_is_permanent_and_alerts_the_staff() {
    let mut app = started("", vec!["failed"]).await;
    app.sim.change(|w| {
        w.sms_refused_phones.insert("79161110007".into());
    });
    let id = app.create(admin_booking("Отказ", "79161110007"));
    let failed = app.wait_for_kind(id, Kind::Sms, Status::Failed).await;
    assert_eq!(failed.attempts, 1, "not retried");
    let alerts = app
        .sim
        .wait_until(PATIENCE, |w| {
            let texts: Vec<String> = w.telegram.iter().map(|t| t.text.clone()).collect();
            texts
                .iter()
                .any(|t| t.contains("SMS не ушло"))
                .then_some(texts)
        })
        .await
        .unwrap();
    assert!(
        alerts.iter().any(|t| t.contains("+79161110007")),
        "{alerts:?}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn whatsapp_delivered_after_the_sms_counts_as_both() {
    let mut app = started("", vec![]).await;
    let id = app.create(admin_booking("Дважды", "79161110008"));
    let sent = app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    one_sms_to(&app, "79161110008").await;
    app.wait_for_kind(id, Kind::Sms, Status::Sent).await;
    let status = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"phone_number_id": "100200300"},
        "statuses": [{"id": sent.provider_message_id.unwrap(), "status": "delivered"}]}}]}]});
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    assert_eq!(post_to_daemon(&url, &status, Some(SECRET)).await.0, 200);
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    assert!(
        metrics.contains("booking_monitor_fallback_total{provider=\"sms_ru\",outcome=\"both\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("booking_monitor_fallback_total{provider=\"sms_ru\",outcome=\"sent\"} 1")
    );
    app.stop().await;
}

#[actix_rt::test]
async fn an_sms_text_over_max_segments_is_refused_at_start_naming_the_key() {
    let mut app = prepare(options("")).await;
    let long =
        "Очень длинное сообщение о вашей записи, которое никак не помещается в две части SMS, \
                потому что в нём слишком много слов о салоне {company} и о визите {date} в {time}.";
    app.options.extra.push_str(&format!(
        "[fallback]\nprovider = \"sms_ru\"\nsms_ru = {{ api_id = \"x\" }}\n[sms]\nbooking_created = \"{long}\"\n"
    ));
    let (code, stdout, stderr) = app.command(&["check"]).await;
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("sms.booking_created") && stderr.contains("SMS parts"),
        "{stderr}"
    );
}

#[actix_rt::test]
async fn a_kill_9_between_the_sms_claim_and_its_send_repeats_it_at_most_once_and_says_so() {
    let mut app = prepare(options("")).await;
    app.options.extra.push_str(&format!(
        "[fallback]\nprovider = \"sms_ru\"\nafter_ms = {AFTER_MS}\n\
         sms_ru = {{ base_url = \"{}\", api_id = \"test-sms-api-id\" }}\n",
        app.sim.sms_ru_url(),
    ));
    app.sim.change(|w| {
        w.whatsapp_faults.push_back(Fault::Status {
            status: 400,
            body: json!({"error": {"message": "Message undeliverable", "code": 131026}})
                .to_string(),
            retry_after: None,
        });
        // The SMS provider holds its answer: the daemon is killed while it waits.
        w.sms_faults
            .push_back(Fault::Stall(std::time::Duration::from_secs(3)));
    });
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Убит", "79161110009"));
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled > 0).then_some(()))
        .await
        .unwrap();
    daemon.signal("KILL");
    daemon.wait_exit(PATIENCE).await;
    let again = app.spawn_binary();
    app.wait_for_kind(id, Kind::Sms, Status::Sent).await;
    let sent = app
        .sim
        .wait_until(PATIENCE, |w| (w.stalled == 0).then_some(w.sms.len()))
        .await
        .unwrap();
    assert!((1..=2).contains(&sent), "{sent} SMS");
    if sent == 2 {
        assert!(
            again.log().contains("sending again"),
            "the log says so: {}",
            again.log()
        );
    }
}
