//! Inbound bodies as the providers really send them: their own published samples
//! (`tests/fixtures/meta`, `tests/fixtures/green_api`, each README naming where
//! each comes from), fed to the running daemon's real endpoints against the
//! simulator. Only the fields that must name our test's sender, client and sent
//! message are set; everything else is as published.

use booking_monitor::simulator::post_to_daemon;
use booking_monitor::store::{self, Kind, Status};
use serde_json::Value;

use crate::helpers::*;

mod green_api;
mod meta;

const CHAT: i64 = -1004564;

/// A published sample; `case` picks one of a keyed file's bodies.
fn fixture(path: &str, case: Option<&str>) -> Value {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    let all: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    match case {
        Some(case) => all[case].clone(),
        None => all,
    }
}

/// Replies on and asked for in the confirmation; staff alerts to Telegram;
/// `provider` adds the sender's tables (it may name the simulator's URLs).
async fn started(mut options: Options, provider: impl Fn(&TestApp) -> String) -> TestApp {
    options.delay_ms = 300;
    options.company_extra = "staff_telegram_chat_id = -100{id}".into();
    let mut app = prepare(options).await;
    app.options.extra = format!(
        "{HTTP}\n[replies]\nenabled = true\nask_in = [\"created\"]\n\
         [staff]\ntelegram_bot_token = \"123456:test-bot-token\"\ntelegram_api_base_url = \"{}\"\n\
         {}",
        app.sim.telegram_url(),
        provider(&app)
    );
    app.start().await;
    app.wait_until_monitoring().await;
    app
}

/// POSTs `body` to the daemon's `path`; the status code.
async fn post(app: &TestApp, path: &str, body: &Value, secret: Option<&str>) -> u16 {
    let url = format!("{}{path}", app.http_url());
    let (code, answer) = post_to_daemon(&url, body, secret).await;
    assert_eq!(code, 200, "{path}: {answer}");
    code
}

fn attendance(app: &TestApp, id: i64) -> i64 {
    app.sim.world().record(id).unwrap()["attendance"]
        .as_i64()
        .unwrap()
}

fn messages_to(app: &TestApp, phone: &str) -> usize {
    app.sim
        .world()
        .messages
        .iter()
        .filter(|m| m.phone == phone)
        .count()
}

async fn staff_alerts(app: &TestApp, n: usize) -> Vec<String> {
    app.sim
        .wait_until(PATIENCE, |w| {
            (w.telegram.len() >= n).then(|| w.telegram.iter().map(|t| t.text.clone()).collect())
        })
        .await
        .unwrap_or_else(|e| panic!("{n} staff alerts: {e}"))
}

async fn replies_kept(app: &TestApp) -> i64 {
    app.db
        .run(store::count_replies)
        .await
        .unwrap()
        .iter()
        .map(|(_, _, n)| n)
        .sum()
}

/// Nothing more came of what was posted: no reply kept, no staff alert, nothing
/// more to the client (`sent` messages, the confirmation among them).
async fn nothing_came_of_it(app: &TestApp, phone: &str, sent: usize) {
    app.wait_for_more_polls(3).await;
    assert_eq!(replies_kept(app).await, 0, "no reply row");
    assert!(app.sim.world().telegram.is_empty(), "no staff alert");
    assert_eq!(messages_to(app, phone), sent, "no answer to the client");
}

/// The visit is marked «Подтвердил» in YClients, once.
async fn confirmed_in_yclients(app: &TestApp, id: i64) {
    app.wait_for_kind(id, Kind::VisitConfirmation, Status::Sent)
        .await;
    assert_eq!(attendance(app, id), 2);
}
