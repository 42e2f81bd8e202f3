//! A client's erasure (`forget`): every stored trace of the phone goes while the
//! daemon runs, the database files hold its digits nowhere afterwards (SQLite:
//! read back byte by byte), and its later bookings and messages are recognised by
//! a keyed hash and never stored.

use std::time::Duration;

use booking_monitor::erasure::contains_phone;
use booking_monitor::simulator::{inbound_id, meta_message, post_to_daemon, ClientMessage, Fault};
use booking_monitor::store::{Kind, Status};

use crate::helpers::*;

const SECRET: &str = "test-app-secret";
const NUMBER_ID: &str = "100200300";
const FORGOTTEN: &str = "79161250001";
const KEPT: &str = "79161250002";

async fn started(delay_ms: u64) -> TestApp {
    let mut app = prepare(Options {
        delay_ms,
        cloud_api_extra: format!("app_secret = \"{SECRET}\""),
        company_extra: "staff_telegram_chat_id = -100{id}".into(),
        ..Options::default()
    })
    .await;
    app.options.extra = format!(
        "{HTTP}\n[replies]\nenabled = true\nask_in = [\"created\"]\n\
         [staff]\ntelegram_bot_token = \"123456:test-bot-token\"\ntelegram_api_base_url = \"{}\"\n",
        app.sim.telegram_url()
    );
    app.start().await;
    app.wait_until_monitoring().await;
    app
}

async fn writes(app: &TestApp, from: &str, text: &str) -> u16 {
    let message = ClientMessage::Text(text.into());
    let body = meta_message(NUMBER_ID, from, "Клиент", &inbound_id(), &message, None);
    let url = format!("{}/webhooks/whatsapp", app.http_url());
    post_to_daemon(&url, &body, Some(SECRET)).await.0
}

/// Whether the SQLite files (the database and its log) hold the phone in any format.
fn in_files(app: &TestApp, phone: &str) -> bool {
    let wal = app.db_path.with_extension("db-wal");
    contains_phone(&app.db_path, phone) || contains_phone(&wal, phone)
}

/// Rows (of any table that keeps a phone) that still name the phone.
async fn traces(app: &TestApp, phone: &'static str) -> usize {
    let rows = app.notifications().await;
    let notices = rows
        .iter()
        .filter(|n| n.phone.as_deref() == Some(phone) || n.record_json.contains(&phone[1..]))
        .count();
    let replies = app
        .db
        .run(|c| booking_monitor::store::recent_replies(c, None, 1000))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.phone == phone)
        .count();
    notices + replies
}

#[actix_rt::test]
async fn forget_erases_every_trace_while_the_daemon_runs_and_leaves_no_digit_in_the_files() {
    let mut app = started(300).await;
    let forgotten = app.create(admin_booking("Стёпа", "+7 (916) 125-00-01"));
    let kept = app.create(admin_booking("Маша", KEPT));
    app.wait_for_kind(forgotten, Kind::Created, Status::Sent)
        .await;
    app.wait_for_kind(kept, Kind::Created, Status::Sent).await;
    assert_eq!(writes(&app, FORGOTTEN, "да").await, 200);
    assert_eq!(writes(&app, FORGOTTEN, "а можно на час позже?").await, 200);
    assert_eq!(writes(&app, FORGOTTEN, "стоп").await, 200);
    app.sim
        .wait_until(PATIENCE, |w| (!w.telegram.is_empty()).then_some(()))
        .await
        .expect("the staff heard of the question");
    assert!(traces(&app, FORGOTTEN).await > 0);

    let (code, out, err) = app.command(&["forget", "--phone", "8 916 125 00 01"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("7916***0001"), "{out}");
    assert!(out.contains("erased 1 booking(s)"), "{out}");
    assert!(
        !out.contains(FORGOTTEN),
        "the command shows the phone masked: {out}"
    );
    assert_eq!(traces(&app, FORGOTTEN).await, 0);
    assert!(traces(&app, KEPT).await > 0, "another client's rows stay");
    if !skip_on_postgres("forget: the files' bytes") {
        assert!(out.contains("verified"), "{out}");
        assert!(
            !in_files(&app, FORGOTTEN),
            "no digit of the phone in the files"
        );
        assert!(
            in_files(&app, KEPT),
            "the check can see a phone that is there"
        );
    }
    let (_, metrics) = get(&format!("{}/metrics", app.http_url())).await;
    assert!(
        metrics.contains("booking_monitor_forgotten_total 1"),
        "{metrics}"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_forgotten_phones_later_bookings_and_messages_are_skipped_and_never_stored() {
    let mut app = started(300).await;
    let (code, out, err) = app.command(&["forget", "--phone", FORGOTTEN]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    let later = app.create(admin_booking("Стёпа", FORGOTTEN));
    let skipped = app
        .wait_for_kind(later, Kind::Created, Status::Skipped)
        .await;
    assert_eq!(skipped.last_error.as_deref(), Some("forgotten"));
    assert_eq!(skipped.phone, None);
    assert_eq!(skipped.record_json, "{}", "nothing of the client is kept");
    assert_eq!(writes(&app, FORGOTTEN, "да").await, 200);
    app.sim.move_to(COMPANY, later, visit(2, 10, 0));
    app.wait_for_more_polls(3).await;
    assert_eq!(traces(&app, FORGOTTEN).await, 0);
    assert!(app.sim.world().messages.is_empty());
    if !skip_on_postgres("forget: the files' bytes") {
        app.db
            .run(booking_monitor::store::checkpoint)
            .await
            .unwrap();
        assert!(!in_files(&app, FORGOTTEN));
    }

    let (code, out, _) = app
        .command(&["forget", "--phone", FORGOTTEN, "--undo"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    let again = app.create(admin_booking("Стёпа", FORGOTTEN));
    app.wait_for_kind(again, Kind::Created, Status::Sent).await;
    app.stop().await;
}

#[actix_rt::test]
async fn forget_while_a_notice_is_pending_and_while_one_is_being_sent() {
    // A 3 s grace delay: the first notice is pending when `forget` runs.
    let mut app = started(3_000).await;
    let pending = app.create(admin_booking("Стёпа", FORGOTTEN));
    app.wait_for_kind(pending, Kind::Created, Status::Pending)
        .await;
    let (code, out, err) = app.command(&["forget", "--phone", FORGOTTEN]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    // The polls go on; the booking, changed, is seen again: skipped, not stored.
    app.sim.move_to(COMPANY, pending, visit(2, 11, 0));
    app.wait_for_kind(pending, Kind::Created, Status::Skipped)
        .await;

    // Another client's notice stalls at WhatsApp while its phone is forgotten.
    app.sim.change(|w| {
        w.whatsapp_faults
            .push_back(Fault::Stall(Duration::from_millis(1500)))
    });
    let sending = app.create(admin_booking("Маша", KEPT));
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled == 1).then_some(()))
        .await
        .expect("the send reaches WhatsApp and stalls");
    let (code, out, err) = app.command(&["forget", "--phone", KEPT]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled == 0).then_some(()))
        .await
        .expect("the stalled send is answered");
    app.sim.move_to(COMPANY, sending, visit(2, 12, 0));
    app.wait_for_kind(sending, Kind::Created, Status::Skipped)
        .await;
    assert_eq!(app.restarts(), 0, "a row gone mid-send is not a failure");
    assert_eq!(traces(&app, KEPT).await, 0);
    assert_eq!(traces(&app, FORGOTTEN).await, 0);
    let sent: Vec<String> = app.phones_messaged();
    assert_eq!(
        sent,
        vec![KEPT.to_string()],
        "only the send already under way went"
    );
    app.stop().await;
}
