//! YClients misbehaving: nothing lost, no duplicate, no busy loop, and a
//! failure logged once per change of state.

use std::time::Duration;

use booking_monitor::simulator::Fault;
use booking_monitor::store::Status;
use serde_json::json;

use crate::helpers::*;

fn status(status: u16, body: serde_json::Value) -> Fault {
    Fault::Status {
        status,
        body: body.to_string(),
        retry_after: None,
    }
}

#[actix_rt::test]
async fn refused_rights_are_logged_once_and_polling_recovers_when_granted() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    let forbidden =
        json!({"success": false, "data": null, "meta": {"message": "Недостаточно прав"}});
    app.sim.change(|w| {
        for _ in 0..6 {
            w.yclients_faults.push_back(status(403, forbidden.clone()));
        }
    });
    let id = app.create(admin_booking("Права", "79160101010"));
    app.wait_for_status(id, Status::Sent).await;

    let failed = app.logs.count("YClients poll failed");
    assert_eq!(failed, 1, "{:#?}", app.logs.lines());
    let line = app
        .logs
        .lines()
        .into_iter()
        .find(|l| l.contains("YClients poll failed"))
        .unwrap();
    assert!(line.contains("Недостаточно прав"), "{line}");
    assert!(line.contains("right to read records"), "{line}");
    assert_eq!(app.logs.count("YClients answers again"), 1);
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn an_unauthorized_token_says_what_to_check() {
    let app = prepare(Options::default()).await;
    app.sim
        .change(|w| w.yclients_auth = Some("Bearer other, User other".into()));
    let mut app = app;
    app.start().await;
    app.sim
        .wait_until(PATIENCE, |w| (w.requests.len() >= 3).then_some(()))
        .await
        .unwrap();
    assert_eq!(
        app.logs.count("YClients poll failed"),
        1,
        "{:#?}",
        app.logs.lines()
    );
    let line = app
        .logs
        .lines()
        .into_iter()
        .find(|l| l.contains("YClients poll failed"))
        .unwrap();
    assert!(
        line.contains("Необходима авторизация") && line.contains("user_token"),
        "{line}"
    );
    // Recovers the moment the token is accepted.
    app.sim.change(|w| w.yclients_auth = None);
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Токен", "79160101011"));
    app.wait_for_status(id, Status::Sent).await;
}

#[actix_rt::test]
async fn an_outage_backs_off_instead_of_busy_looping() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    app.sim.change(|w| {
        for _ in 0..1000 {
            w.yclients_faults
                .push_back(status(502, json!({"message": "Bad gateway"})));
        }
    });
    app.sim
        .wait_until(PATIENCE, |w| {
            (w.requests.iter().filter(|r| r.status == 502).count() >= 6).then_some(())
        })
        .await
        .unwrap();
    // 100 ms polls would come 100 ms apart; the backoff doubles to its cap for
    // polls, the interval again (100, 200, 200… ms, ±20 %), so from the second
    // failure on they come at least 160 ms apart.
    let failed: Vec<_> = app
        .sim
        .world()
        .requests
        .iter()
        .filter(|r| r.status == 502)
        .map(|r| r.at)
        .collect();
    for pair in failed.windows(2).skip(1) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(150),
            "{gap:?} between failed polls"
        );
    }
    let id = app.create(admin_booking("После сбоя", "79160101012"));
    app.sim.change(|w| w.yclients_faults.clear());
    app.wait_for_status(id, Status::Sent).await;
    assert_eq!(app.logs.count("YClients poll failed"), 1);
}

#[actix_rt::test]
async fn rate_limit_answers_are_honoured() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    app.sim.change(|w| {
        w.yclients_faults.push_back(Fault::Status {
            status: 429,
            body: "{}".into(),
            retry_after: Some(2),
        });
        w.yclients_faults.push_back(Fault::Status {
            status: 429,
            body: "{}".into(),
            retry_after: None,
        });
    });
    let id = app.create(admin_booking("Лимит", "79160101013"));
    app.wait_for_status(id, Status::Sent).await;
    let world = app.sim.world();
    let first = world.requests.iter().position(|r| r.status == 429).unwrap();
    let pause = world.requests[first + 1].at - world.requests[first].at;
    assert!(
        pause >= Duration::from_millis(1_900),
        "the next request came {pause:?} after Retry-After: 2"
    );
}

#[actix_rt::test]
async fn timeouts_malformed_and_truncated_answers_lose_nothing() {
    let app = spawn_app_with(Options {
        yclients_timeout_ms: 300,
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    app.sim.change(|w| {
        w.yclients_faults
            .push_back(Fault::Stall(Duration::from_millis(1_000)));
        w.yclients_faults
            .push_back(status(200, json!({"success": true, "data": "not a list"})));
        w.yclients_faults.push_back(Fault::Status {
            status: 200,
            body: "{\"success\": true, \"data\": [{\"id\": 1".into(),
            retry_after: None,
        });
        w.yclients_faults.push_back(Fault::Status {
            status: 200,
            body: "<html>maintenance</html>".into(),
            retry_after: None,
        });
    });
    let id = app.create(admin_booking("Таймаут", "79160101014"));
    app.wait_for_status(id, Status::Sent).await;
    app.wait_for_more_polls(2).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn a_page_that_fails_halfway_through_loses_nothing() {
    let app = spawn_app_with(Options {
        yclients_extra: "page_size = 2".into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    app.sim.change(|w| {
        w.yclients_faults_for
            .push(("page=2".into(), status(500, json!({"message": "oops"}))))
    });
    let ids: Vec<i64> = (0..5)
        .map(|i| {
            app.create(admin_booking(
                &format!("Страница {i}"),
                &format!("791602020{i:02}"),
            ))
        })
        .collect();
    for id in &ids {
        app.wait_for_status(*id, Status::Sent).await;
    }
    assert!(app
        .sim
        .world()
        .requests
        .iter()
        .any(|r| r.status == 500 && r.query.contains("page=2")));
    app.wait_for_more_polls(2).await;
    assert_eq!(app.sim.world().messages.len(), 5);
}

async fn with_yclients_clock(skew: chrono::Duration) {
    let mut app = prepare(Options {
        delay_ms: 1_500,
        ..Options::default()
    })
    .await;
    app.sim.change(|w| w.clock_skew = skew);
    app.start().await;
    app.wait_until_monitoring().await;
    let created = chrono::Utc::now();
    let id = app.create(admin_booking("Часы", "79160303030"));
    let messages = app.wait_for_messages(1).await;
    let waited = messages[0].at - created;
    assert!(
        waited >= chrono::Duration::milliseconds(1_500),
        "skew {skew}: sent after {waited}, before the delay"
    );
    assert!(
        waited < chrono::Duration::seconds(5),
        "skew {skew}: held for {waited}"
    );
    app.wait_for_status(id, Status::Sent).await;
    app.wait_for_more_polls(3).await;
    assert_eq!(app.sim.world().messages.len(), 1, "skew {skew}");
}

#[actix_rt::test]
async fn a_yclients_clock_two_minutes_ahead_neither_loses_nor_delays() {
    with_yclients_clock(chrono::Duration::minutes(2)).await;
}

#[actix_rt::test]
async fn a_yclients_clock_two_minutes_behind_neither_loses_nor_fires_early() {
    with_yclients_clock(chrono::Duration::minutes(-2)).await;
}
