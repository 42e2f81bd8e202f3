//! WhatsApp misbehaving: retried with backoff when it can succeed, failed at once
//! when it cannot, paused while the account is refused.

use std::time::Duration;

use booking_monitor::simulator::Fault;
use booking_monitor::store::Status;
use serde_json::json;

use crate::helpers::*;

fn cloud_error(http: u16, code: i64, message: &str) -> Fault {
    Fault::Status {
        status: http,
        body: json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "x"}}).to_string(),
        retry_after: None,
    }
}

#[actix_rt::test]
async fn server_errors_and_rate_limits_are_retried_with_backoff() {
    let app = spawn_app().await;
    app.sim.change(|w| {
        w.whatsapp_faults.push_back(Fault::Status {
            status: 500,
            body: "{}".into(),
            retry_after: None,
        });
        w.whatsapp_faults
            .push_back(cloud_error(400, 131000, "Something went wrong"));
        w.whatsapp_faults
            .push_back(cloud_error(429, 130429, "Rate limit hit"));
        w.whatsapp_faults
            .push_back(cloud_error(400, 131056, "Pair rate limit hit"));
    });
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Повтор", "79164040401"));
    let row = app.wait_for_status(id, Status::Sent).await;
    assert_eq!(row.attempts, 5);
    let world = app.sim.world();
    let sends: Vec<_> = world
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/whatsapp/"))
        .collect();
    assert_eq!(sends.len(), 5);
    // Backoff grows: 100 ms, 200 ms, 400 ms, 800 ms (±20 %): the fourth wait is at least 640 ms.
    let gaps: Vec<Duration> = sends.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[3] >= Duration::from_millis(640), "{gaps:?}");
    assert_eq!(world.messages.len(), 1);
}

#[actix_rt::test]
async fn a_timed_out_send_is_retried() {
    let mut app = prepare(Options::default()).await;
    app.sim.change(|w| {
        w.whatsapp_faults
            .push_back(Fault::Stall(Duration::from_millis(2_500)))
    });
    app.start().await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Тишина", "79164040402"));
    let row = app.wait_for_status(id, Status::Sent).await;
    assert_eq!(row.attempts, 2);
    // The first send timed out on our side; whether it reached the client is unknown
    // (no idempotency key exists), which is the documented at-least-once window.
    let messages = app.wait_for_messages(1).await;
    assert!(messages.iter().all(|m| m.phone == "79164040402"));
}

#[actix_rt::test]
async fn permanent_errors_fail_after_one_attempt_with_the_reason() {
    let app = spawn_app().await;
    app.sim.change(|w| {
        w.whatsapp_faults
            .push_back(cloud_error(400, 131026, "Message undeliverable"));
        w.whatsapp_faults.push_back(cloud_error(
            404,
            132001,
            "Template name does not exist in the translation",
        ));
    });
    app.wait_until_monitoring().await;
    let first = app.create(admin_booking("Нет WhatsApp", "79164040403"));
    let a = app.wait_for_status(first, Status::Failed).await;
    let second = app.create(admin_booking("Нет шаблона", "79164040404"));
    let b = app.wait_for_status(second, Status::Failed).await;
    assert_eq!((a.attempts, b.attempts), (1, 1));
    assert!(a.last_error.unwrap().contains("131026"));
    assert!(b
        .last_error
        .unwrap()
        .contains("Template name does not exist"));
    app.wait_for_more_polls(3).await;
    assert_eq!(
        app.sim
            .world()
            .requests
            .iter()
            .filter(|r| r.path.starts_with("/whatsapp/"))
            .count(),
        2
    );
}

#[actix_rt::test]
async fn an_expired_token_pauses_every_send_until_it_works_again() {
    let app = spawn_app().await;
    app.sim.change(|w| {
        for _ in 0..3 {
            w.whatsapp_faults.push_back(cloud_error(
                401,
                190,
                "Error validating access token: Session has expired",
            ));
        }
    });
    app.wait_until_monitoring().await;
    let a = app.create(admin_booking("Пауза А", "79164040405"));
    let b = app.create(admin_booking("Пауза Б", "79164040406"));
    let ra = app.wait_for_status(a, Status::Sent).await;
    let rb = app.wait_for_status(b, Status::Sent).await;
    // The refusals were the account's, not the messages': no attempt was spent on them.
    assert_eq!((ra.attempts, rb.attempts), (1, 1));
    assert!(app.logs.count("all sends paused") >= 1);
    let line = app
        .logs
        .lines()
        .into_iter()
        .find(|l| l.contains("all sends paused"))
        .unwrap();
    assert!(line.contains("Session has expired"), "{line}");
    assert_eq!(app.sim.world().messages.len(), 2);
}
