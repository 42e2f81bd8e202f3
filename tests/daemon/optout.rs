//! The client's say: a whole-message «стоп» stops every message to that phone from
//! the salons of the sender it wrote to (one acknowledgement, no staff alert), a
//! «старт» lifts it, and a stop taken at the desk works the same. Real HTTP to
//! the simulator; the daemon's own endpoints for the client's messages.

use booking_monitor::domain::{CompanyId, RecordId};
use booking_monitor::replies::intent::{RESUME, STOP};
use booking_monitor::simulator::{
    gateway_message, green_message, inbound_id, meta_message, post_to_daemon, Booking,
    ClientMessage,
};
use booking_monitor::store::{self, Kind, Status};
use chrono::Utc;
use serde_json::Value;

use crate::helpers::*;

const SECRET: &str = "test-app-secret";
const NUMBER_ID: &str = "100200300";
const ACK_OUT: &str = "Хорошо, больше не будем присылать";
const ACK_IN: &str = "Снова будем присылать";

fn options(extra_notifications: &str) -> Options {
    Options {
        delay_ms: 300,
        cloud_api_extra: format!("app_secret = \"{SECRET}\""),
        company_extra: "staff_telegram_chat_id = -100{id}".into(),
        extra: format!("[notifications]\n{extra_notifications}\n"),
        ..Options::default()
    }
}

fn tables(app: &TestApp, replies: &str) -> String {
    format!(
        "{HTTP}\n[replies]\n{replies}\n\
         [staff]\ntelegram_bot_token = \"123456:test-bot-token\"\ntelegram_api_base_url = \"{}\"\n",
        app.sim.telegram_url()
    )
}

async fn started(options: Options, replies: &str) -> TestApp {
    let mut app = prepare(options).await;
    let tables = tables(&app, replies);
    app.options.extra.push_str(&tables);
    app.start().await;
    app.wait_until_monitoring().await;
    app
}

/// The client writes `text` to our Cloud API number; the daemon's status code.
async fn writes(app: &TestApp, from: &str, text: &str) -> u16 {
    writes_to(app, NUMBER_ID, from, text).await
}

async fn writes_to(app: &TestApp, number: &str, from: &str, text: &str) -> u16 {
    let message = ClientMessage::Text(text.into());
    let body = meta_message(number, from, "Клиент", &inbound_id(), &message, None);
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    post_to_daemon(&url, &body, Some(SECRET)).await.0
}

fn texts_to(app: &TestApp, phone: &str) -> Vec<String> {
    app.sim
        .world()
        .messages
        .iter()
        .filter(|m| m.phone == phone)
        .map(|m| m.text.clone())
        .collect()
}

/// Waits for a message to `phone` that contains `text`.
async fn message_to(app: &TestApp, phone: &str, text: &str) {
    let (phone, text) = (phone.to_string(), text.to_string());
    app.sim
        .wait_until(PATIENCE, |w| {
            w.messages
                .iter()
                .any(|m| m.phone == phone && m.text.contains(&text))
                .then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("a message to {phone} with {text:?}: {e}"));
}

/// The stops `/status` shows for `company`: (masked phone, source).
async fn stops_shown(app: &TestApp, company: i64) -> Vec<(String, String)> {
    let (_, body) = get(&format!("{}/status", app.http_url())).await;
    let report: Value = serde_json::from_str(&body).unwrap();
    report["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["company_id"] == company)
        .map(|c| {
            c["optouts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    (
                        o["phone"].as_str().unwrap().to_string(),
                        o["source"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn confirmed(app: &TestApp, name: &str, phone: &str, days: u64) -> i64 {
    let id = app.create(Booking::by_admin(COMPANY, name, phone, visit(days, 14, 0)));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    id
}

async fn row(app: &TestApp, record: i64, kind: Kind) -> booking_monitor::store::Notification {
    app.notifications()
        .await
        .into_iter()
        .find(|n| n.record_id == record && n.kind == kind)
        .unwrap_or_else(|| panic!("a {kind} row of record {record}"))
}

async fn telegram_alerts(app: &TestApp, n: usize) {
    app.sim
        .wait_until(PATIENCE, |w| (w.telegram.len() >= n).then_some(()))
        .await
        .unwrap_or_else(|e| panic!("{n} staff alerts: {e}"));
}

#[actix_rt::test]
async fn each_stop_phrase_stops_once_and_each_near_miss_goes_to_a_person() {
    let mut app = started(options(""), "enabled = true").await;
    for (i, phrase) in STOP.iter().enumerate() {
        let phone = format!("7916124{i:04}");
        assert_eq!(writes(&app, &phone, phrase).await, 200);
        message_to(&app, &phone, ACK_OUT).await;
        // A second stop changes nothing: no second acknowledgement.
        assert_eq!(writes(&app, &phone, &phrase.to_uppercase()).await, 200);
    }
    let shown = stops_shown(&app, COMPANY).await;
    assert_eq!(shown.len(), STOP.len(), "{shown:?}");
    assert!(shown
        .iter()
        .all(|(phone, source)| phone.contains("***") && source == "reply"));
    let answers = app
        .notifications()
        .await
        .into_iter()
        .filter(|n| n.kind == Kind::ReplyAnswer)
        .count();
    assert_eq!(answers, STOP.len(), "one acknowledgement per client");

    let near_misses = ["стоп, я опоздаю", "стоп-кран", "не пишите, а позвоните"];
    for (i, phrase) in near_misses.iter().enumerate() {
        let phone = format!("7916125{i:04}");
        assert_eq!(writes(&app, &phone, phrase).await, 200);
        telegram_alerts(&app, i + 1).await;
    }
    assert_eq!(
        app.sim.world().telegram.len(),
        near_misses.len(),
        "the staff hear of the near misses only, not of the stops"
    );
    assert_eq!(stops_shown(&app, COMPANY).await.len(), STOP.len());
    for (i, _) in near_misses.iter().enumerate() {
        assert!(texts_to(&app, &format!("7916125{i:04}"))
            .iter()
            .all(|t| !t.contains(ACK_OUT)));
    }
    // Each start phrase lifts a stop; from a phone that never stopped it does nothing.
    for (i, phrase) in RESUME.iter().enumerate() {
        let phone = format!("7916124{i:04}");
        assert_eq!(writes(&app, &phone, phrase).await, 200);
        message_to(&app, &phone, ACK_IN).await;
    }
    assert_eq!(writes(&app, "79161259999", RESUME[0]).await, 200);
    assert_eq!(
        stops_shown(&app, COMPANY).await.len(),
        STOP.len() - RESUME.len()
    );
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    for (action, n) in [("out", STOP.len()), ("in", RESUME.len())] {
        let series =
            format!("booking_monitor_optouts_total{{source=\"reply\",action=\"{action}\"}} {n}");
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
    assert!(texts_to(&app, "79161259999").is_empty());
    app.stop().await;
}

#[actix_rt::test]
async fn after_a_stop_a_change_a_reminder_and_an_sms_send_nothing_and_another_client_is_unaffected()
{
    let mut app = prepare(options("reminder_day_before = \"18:00\"")).await;
    let tables = tables(&app, "enabled = true");
    app.options.extra.push_str(&format!(
        "{tables}[fallback]\nprovider = \"sms_ru\"\nafter_ms = 1500\n\
         sms_ru = {{ base_url = \"{}\", api_id = \"test-sms-api-id\" }}\n",
        app.sim.sms_ru_url()
    ));
    app.start().await;
    app.wait_until_monitoring().await;
    let stopped = confirmed(&app, "Ира", "79161240101", 3).await;
    assert_eq!(writes(&app, "79161240101", "Стоп").await, 200);
    assert_eq!(
        row(&app, stopped, Kind::ReminderDayBefore).await.status,
        Status::Skipped,
        "the pending reminder is closed at once"
    );
    let sms = row(&app, stopped, Kind::Sms).await;
    assert_eq!(
        (sms.status, sms.last_error.as_deref()),
        (Status::Skipped, Some("opted_out"))
    );
    app.sim.move_to(COMPANY, stopped, visit(4, 15, 0));
    let change = app
        .wait_for_kind(stopped, Kind::Changed, Status::Skipped)
        .await;
    assert_eq!(change.last_error.as_deref(), Some("opted_out"));

    // Another client of the salon: confirmed, moved, and (never delivered) an SMS.
    let other = confirmed(&app, "Оля", "79161240102", 3).await;
    app.sim.move_to(COMPANY, other, visit(4, 16, 0));
    app.wait_for_kind(other, Kind::Changed, Status::Sent).await;
    app.sim
        .wait_until(PATIENCE, |w| {
            w.sms.iter().any(|s| s.phone == "79161240102").then_some(())
        })
        .await
        .expect("the other client's SMS, which came due after the stopped one's");
    let to_stopped = texts_to(&app, "79161240101");
    assert_eq!(
        to_stopped.len(),
        2,
        "the confirmation and the acknowledgement: {to_stopped:?}"
    );
    assert!(to_stopped[1].contains(ACK_OUT));
    assert!(app.sim.world().sms.iter().all(|s| s.phone != "79161240101"));
    app.stop().await;
}

#[actix_rt::test]
async fn a_stop_covers_every_salon_of_its_sender_but_not_a_salon_with_its_own() {
    const SHARED: i64 = 4570;
    const OWN: i64 = 4571;
    const OWN_NUMBER: &str = "100200399";
    let mut app = prepare(options("")).await;
    app.sim
        .add_company(SHARED, "Салон Б", "Москва, Тверская, 1", "Europe/Moscow");
    app.sim
        .add_company(OWN, "Салон В", "Москва, Арбат, 2", "Europe/Moscow");
    let tables = tables(&app, "enabled = true");
    app.options.extra.push_str(&format!(
        "{tables}[[companies]]\nid = {SHARED}\n\
         [[companies]]\nid = {OWN}\n\
         [companies.whatsapp]\nprovider = \"cloud_api\"\n\
         [companies.whatsapp.cloud_api]\nbase_url = \"{}\"\nphone_number_id = \"{OWN_NUMBER}\"\n\
         access_token = \"salon-v-access-token\"\napp_secret = \"{SECRET}\"\n",
        app.sim.cloud_api_url()
    ));
    app.start().await;
    app.sim
        .wait_for_polls(9, PATIENCE)
        .await
        .expect("three salons' first polls");
    let phone = "79161240201";
    assert_eq!(writes(&app, phone, "не присылайте").await, 200);
    message_to(&app, phone, ACK_OUT).await;
    assert_eq!(stops_shown(&app, COMPANY).await.len(), 1);
    assert_eq!(stops_shown(&app, SHARED).await.len(), 1, "the same sender");
    assert!(stops_shown(&app, OWN).await.is_empty(), "its own sender");

    let at = |company| Booking::by_admin(company, "Лена", phone, visit(2, 12, 0));
    let (a, b, c) = (
        app.create(at(COMPANY)),
        app.create(at(SHARED)),
        app.create(at(OWN)),
    );
    app.wait_for_kind(c, Kind::Created, Status::Sent).await;
    for skipped in [a, b] {
        let r = app
            .wait_for_kind(skipped, Kind::Created, Status::Skipped)
            .await;
        assert_eq!(r.last_error.as_deref(), Some("opted_out"));
    }
    // A stop written to the salon's own number covers that salon only.
    assert_eq!(writes_to(&app, OWN_NUMBER, phone, "stop").await, 200);
    assert_eq!(stops_shown(&app, OWN).await.len(), 1);
    app.sim
        .wait_until(PATIENCE, |w| {
            let acks = w
                .messages
                .iter()
                .filter(|m| m.phone == phone && m.text.contains(ACK_OUT));
            (acks.count() == 2).then_some(())
        })
        .await
        .expect("one acknowledgement from each sender");
    app.stop().await;
}

#[actix_rt::test]
async fn a_resume_sends_what_comes_due_after_not_what_was_skipped() {
    let mut app = started(options("reminder_day_before = \"18:00\""), "enabled = true").await;
    let phone = "79161240301";
    let id = confirmed(&app, "Вера", phone, 3).await;
    assert_eq!(writes(&app, phone, "отписаться").await, 200);
    app.sim.move_to(COMPANY, id, visit(3, 16, 0));
    app.wait_for_kind(id, Kind::Changed, Status::Skipped).await;
    assert_eq!(writes(&app, phone, "Старт").await, 200);
    message_to(&app, phone, ACK_IN).await;
    assert!(stops_shown(&app, COMPANY).await.is_empty());
    // The reminder for the visit's new time, still to come, is pending again.
    let reminders: Vec<_> = app
        .notifications()
        .await
        .into_iter()
        .filter(|n| n.record_id == id && n.kind == Kind::ReminderDayBefore)
        .collect();
    assert!(
        reminders.iter().any(|r| r.status == Status::Pending),
        "{reminders:?}"
    );
    app.sim.move_to(COMPANY, id, visit(3, 17, 0));
    app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    let texts = texts_to(&app, phone);
    assert_eq!(
        texts.len(),
        4,
        "confirmation, two acknowledgements, the later change: {texts:?}"
    );
    assert!(
        texts[3].contains("17:00"),
        "the change after the resume: {}",
        texts[3]
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_stop_taken_at_the_desk_takes_any_phone_format_and_can_be_lifted() {
    let mut app = started(options(""), "enabled = true").await;
    let (code, out, err) = app
        .command(&[
            "optout",
            "add",
            "--company",
            &COMPANY.to_string(),
            "--phone",
            "8 (916) 124-04-01",
        ])
        .await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("7916***0401"), "{out}");
    let id = app.create(admin_booking("Гена", "+7 916 124 04 01"));
    let skipped = app.wait_for_kind(id, Kind::Created, Status::Skipped).await;
    assert_eq!(skipped.last_error.as_deref(), Some("opted_out"));
    let (_, listed, _) = app
        .command(&["optout", "list", "--company", &COMPANY.to_string()])
        .await;
    assert!(
        listed.contains("7916***0401") && listed.contains("command"),
        "{listed}"
    );
    assert_eq!(
        stops_shown(&app, COMPANY).await,
        vec![("7916***0401".into(), "command".into())]
    );

    let (code, out, _) = app
        .command(&[
            "optout",
            "remove",
            "--company",
            &COMPANY.to_string(),
            "--phone",
            "9161240401",
        ])
        .await;
    assert_eq!(code, Some(0), "{out}");
    let again = app.create(admin_booking("Гена", "79161240401"));
    app.wait_for_kind(again, Kind::Created, Status::Sent).await;

    for (args, what) in [
        (
            vec![
                "optout",
                "add",
                "--company",
                "999",
                "--phone",
                "79161240401",
            ],
            "company",
        ),
        (
            vec!["optout", "add", "--company", "4564", "--phone", "12-34"],
            "--phone",
        ),
    ] {
        let (code, _, err) = app.command(&args).await;
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(what), "{err}");
    }
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    for action in ["out", "in"] {
        let series =
            format!("booking_monitor_optouts_total{{source=\"command\",action=\"{action}\"}} 1");
        assert!(metrics.contains(&series), "{series}\n{metrics}");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn a_stop_is_taken_through_green_api_and_the_gateway_even_with_replies_off() {
    for road in ["green_api", "webhook"] {
        let mut app = prepare(options("")).await;
        app.options.cloud_api_extra = String::new();
        app.options.whatsapp_provider = Some(road);
        let tables = tables(&app, "enabled = false");
        app.options.extra.push_str(&format!(
            "{tables}[whatsapp.green_api]\nbase_url = \"{}\"\nid_instance = \"1101000001\"\n\
             api_token = \"green-token-0123456789abcdef\"\nwebhook_token = \"green-webhook-token-0123456789\"\n\
             [whatsapp.webhook]\nurl = \"{}\"\ninbound_token = \"gateway-inbound-token-0123456789\"\n",
            app.sim.green_api_url(),
            app.sim.webhook_url()
        ));
        app.start().await;
        app.wait_until_monitoring().await;
        let phone = "79161240501";
        let (url, stop, question) = match road {
            "green_api" => (
                format!(
                    "{}/webhooks/green-api/green-webhook-token-0123456789",
                    app.http_url()
                ),
                green_message(
                    "1101000001",
                    phone,
                    "Клиент",
                    "BAE5000000000001",
                    "СТОП",
                    None,
                ),
                green_message(
                    "1101000001",
                    phone,
                    "Клиент",
                    "BAE5000000000002",
                    "а во сколько?",
                    None,
                ),
            ),
            _ => (
                format!(
                    "{}/webhooks/gateway/gateway-inbound-token-0123456789",
                    app.http_url()
                ),
                gateway_message("gw-stop-1", phone, "СТОП", None),
                gateway_message("gw-stop-2", phone, "а во сколько?", None),
            ),
        };
        assert_eq!(post_to_daemon(&url, &stop, None).await.0, 200, "{road}");
        message_to(&app, phone, ACK_OUT).await;
        assert_eq!(stops_shown(&app, COMPANY).await.len(), 1, "{road}");
        // With replies off, nothing else of a reply is acted on.
        assert_eq!(post_to_daemon(&url, &question, None).await.0, 200);
        let id = app.create(admin_booking("Катя", phone));
        app.wait_for_kind(id, Kind::Created, Status::Skipped).await;
        assert!(
            app.sim.world().telegram.is_empty(),
            "{road}: no staff alert"
        );
        assert_eq!(
            texts_to(&app, phone).len(),
            1,
            "{road}: the acknowledgement only"
        );
        app.stop().await;
    }
}

#[actix_rt::test]
async fn a_kill_9_right_after_a_stops_200_keeps_the_stop() {
    let port = free_port();
    let mut app = prepare(options("")).await;
    let tables =
        tables(&app, "enabled = true").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"));
    app.options.extra.push_str(&tables);
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    let phone = "79161240601";
    let id = app.create(admin_booking("Юля", phone));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let body = meta_message(
        NUMBER_ID,
        phone,
        "Юля",
        &inbound_id(),
        &ClientMessage::Text("стоп".into()),
        None,
    );
    let url = format!("http://127.0.0.1:{port}/webhooks/whatsapp");
    assert_eq!(post_to_daemon(&url, &body, Some(SECRET)).await.0, 200);
    daemon.signal("KILL");
    daemon.wait_exit(PATIENCE).await;

    let _again = app.spawn_binary();
    message_to(&app, phone, ACK_OUT).await;
    app.sim.move_to(COMPANY, id, visit(1, 18, 0));
    let change = app.wait_for_kind(id, Kind::Changed, Status::Skipped).await;
    assert_eq!(change.last_error.as_deref(), Some("opted_out"));
    // The confirmation, then the acknowledgement: twice at most, when the kill
    // struck inside its send (the at-least-once window), and nothing after it.
    let texts = texts_to(&app, phone);
    let acks = texts.iter().filter(|t| t.contains(ACK_OUT)).count();
    assert!(
        texts.len() == acks + 1 && (1..=2).contains(&acks) && !texts[0].contains(ACK_OUT),
        "the confirmation and the acknowledgement: {texts:?}"
    );
}

#[actix_rt::test]
async fn a_claim_gives_way_to_a_stop_committed_before_it() {
    // A row opened before the stop landed and not closed by it (a race with a
    // poll's commit): its claim checks the stop in the same statement.
    let app = prepare(options("")).await;
    let (company, phone) = (CompanyId(COMPANY), "79161240801");
    let opened = app
        .db
        .run(move |c| {
            let poll = store::PollCommit {
                lease_holder: None,
                company,
                new_cursor: None,
                monitored_since: Utc::now(),
                planned_with: None,
                asked_at: Utc::now(),
                now: Utc::now(),
                baselined: false,
                phones: Vec::new(),
                proving_within: None,
                poll_every: None,
            };
            let pending = store::NewNotification {
                kind: Kind::Created,
                key: String::new(),
                status: Status::Pending,
                phone: Some(phone.into()),
                due_at: Utc::now(),
                reason: None,
                record_json: "{}".into(),
                message: None,
            };
            let committed = store::commit_poll(
                c,
                &poll,
                &[RecordId(1)],
                |_| {
                    Ok(vec![store::Planned {
                        booking: store::BookingUpdate {
                            record: RecordId(1),
                            audience: booking_monitor::domain::Audience::Ours,
                            record_json: "{}".into(),
                            told_json: None,
                            revision: 0,
                            pushed_at: None,
                            visit_at: None,
                        },
                        open: vec![pending.clone()],
                        close: Vec::new(),
                        reschedule: Vec::new(),
                    }])
                },
                |_| Ok(Vec::new()),
            )?;
            Ok(committed.scheduled[0].0)
        })
        .await
        .unwrap();
    // The stop, as a concurrent transaction would leave it: kept, the row not closed.
    use diesel::RunQueryDsl;
    let insert = format!(
        "INSERT INTO optouts (company_id, phone, source, via, since) \
         VALUES ({COMPANY}, '{phone}', 'reply', 'whatsapp', CURRENT_TIMESTAMP)"
    );
    app.db
        .run(move |c| Ok(diesel::sql_query(insert.clone()).execute(c)?))
        .await
        .unwrap();
    let send = store::Outbound {
        phone: phone.into(),
        message: "m".into(),
        record_json: "{}".into(),
    };
    let claim = app
        .db
        .run(move |c| store::claim_for_send(c, opened, &send, ("me", true), Utc::now()))
        .await
        .unwrap();
    assert_eq!(claim, store::Claim::OptedOut);
    let row = app.wait_for_status(1, Status::Skipped).await;
    assert_eq!(row.last_error.as_deref(), Some("opted_out"));
}
