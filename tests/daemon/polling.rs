//! How the daemon polls YClients: nothing missed, every page, within the limits.

use std::time::Duration;

use booking_monitor::simulator::{Booking, Fault};
use booking_monitor::store::Status;

use crate::helpers::*;

#[actix_rt::test]
async fn a_booking_made_while_a_poll_is_answered_is_not_lost() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    // YClients works out its answer, then takes a while to send it: a booking made
    // in between is not in this answer, and is older than the answer's Date.
    app.sim.change(|w| {
        w.yclients_faults
            .push_back(Fault::Stall(Duration::from_millis(1_500)))
    });
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled > 0).then_some(()))
        .await
        .unwrap();
    let id = app.create(admin_booking("Между", "79160001122"));
    let messages = app.wait_for_messages(1).await;
    assert_eq!(messages[0].phone, "79160001122");
    app.wait_for_status(id, Status::Sent).await;
}

#[actix_rt::test]
async fn each_poll_asks_changed_after_and_costs_one_request_when_nothing_changes() {
    let app = spawn_app_with(Options {
        yclients_extra: "partner_id = 4242".into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let before = app.sim.world().requests.len();
    app.wait_for_more_polls(5).await;
    let world = app.sim.world();
    let new = &world.requests[before..];
    // Only record lists: nothing else was asked while nothing changed.
    assert!(
        new.iter()
            .all(|r| r.path == format!("/api/v1/records/{COMPANY}")),
        "{new:?}"
    );
    assert!(
        new.iter()
            .all(|r| r.query.contains("changed_after=") && r.query.contains("page=1")),
        "{new:?}"
    );
    assert!(new.iter().all(|r| r.partner_id.as_deref() == Some("4242")));
}

#[actix_rt::test]
async fn a_hundred_and_thirty_new_records_across_pages_are_all_notified_once() {
    let app = spawn_app_with(Options {
        delay_ms: 200,
        poll_ms: 200,
        yclients_extra:
            "page_size = 50\nmax_requests_per_second = 1000\nmax_requests_per_minute = 100000"
                .into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    // All 130 appear between two polls.
    app.sim.change(|w| {
        w.yclients_faults
            .push_back(Fault::Stall(Duration::from_millis(300)))
    });
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled > 0).then_some(()))
        .await
        .unwrap();
    for i in 0..130 {
        app.create(Booking::by_admin(
            COMPANY,
            &format!("Клиент {i}"),
            &format!("7916{:07}", i),
            visit(3, 10, 0),
        ));
    }
    let messages = app
        .sim
        .wait_for_messages(130, Duration::from_secs(60))
        .await
        .unwrap();
    let mut phones: Vec<&str> = messages.iter().map(|m| m.phone.as_str()).collect();
    phones.sort();
    phones.dedup();
    assert_eq!(phones.len(), 130);
    let paged = app
        .sim
        .world()
        .requests
        .iter()
        .filter(|r| r.query.contains("page=3"))
        .count();
    assert!(paged >= 1, "the third page was never asked for");
    app.wait_for_more_polls(3).await;
    assert_eq!(app.sim.world().messages.len(), 130);
}

#[actix_rt::test]
async fn twenty_companies_polled_together_never_exceed_five_requests_a_second() {
    let companies: Vec<(i64, &str)> = (1..=20).map(|i| (1000 + i, "Europe/Moscow")).collect();
    let app = spawn_app_with(Options {
        companies,
        // Every company wants a poll each 200 ms: far more than YClients allows.
        poll_ms: 200,
        ..Options::default()
    })
    .await;
    // Each company's first poll costs three requests (the salon, the baseline of
    // its future bookings, the changes): 60 for the first round.
    app.sim
        .wait_until(Duration::from_secs(60), |w| {
            (w.requests.len() >= 65).then_some(())
        })
        .await
        .unwrap();
    let times: Vec<std::time::Instant> = app.sim.world().requests.iter().map(|r| r.at).collect();
    for (i, t) in times.iter().enumerate() {
        let in_a_second = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
            .count();
        assert!(in_a_second <= 5, "{in_a_second} requests within one second");
    }
    // All twenty companies got their turn.
    let polled: std::collections::HashSet<String> = app
        .sim
        .world()
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/records/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(polled.len(), 20);
    // 20 companies every 200 ms want 6000 requests a minute: the daemon said so at start.
    let warning = app
        .logs
        .lines()
        .into_iter()
        .find(|l| l.contains("request budget"))
        .expect("a warning");
    assert!(
        warning.contains("polls_per_minute: 6000") && warning.contains("at least 8000"),
        "{warning}"
    );
}

#[actix_rt::test]
async fn a_yclients_outage_loses_nothing() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    app.sim.change(|w| {
        for _ in 0..3 {
            w.yclients_faults.push_back(Fault::Status {
                status: 500,
                body: "oops".into(),
                retry_after: None,
            });
        }
        w.yclients_faults.push_back(Fault::Status {
            status: 200,
            body: "{\"success\": true, \"data\": [".into(),
            retry_after: None,
        });
    });
    let id = app.create(admin_booking("Сбой", "79160003344"));
    app.wait_for_status(id, Status::Sent).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}
