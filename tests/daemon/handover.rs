//! A salon handed from one instance to another while the first is still carrying
//! out one of its notices (found by the soak, seed 2026021 on PostgreSQL): the
//! first one's delivery, ending after the second one sent the notice, must not put
//! it back to `pending` to be sent again.

use std::time::Duration;

use booking_monitor::simulator::{Booking, Fault, WebhookSender};

use crate::cluster::ONE_AT_A_TIME;
use crate::helpers::*;

const TOKEN: &str = "handover-hook";

/// The instance's HTTP address, from its log ("HTTP endpoints listening").
async fn http_of(process: &Process) -> String {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let log = process.log();
        let found = log
            .lines()
            .find(|l| l.contains("HTTP endpoints listening"))
            .and_then(|l| l.rsplit("address: ").next())
            .map(|a| a.trim().to_string());
        if let Some(address) = found {
            return format!("http://{address}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no HTTP address in:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn a_notice_sent_by_the_new_holder_is_not_reopened_by_the_old_one() {
    let server = postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = prepare(Options {
        delay_ms: 1_000,
        poll_ms: 500,
        extra: format!("{HTTP}\n[cluster]\nlease_ttl_ms = 3000\n"),
        yclients_extra: format!("webhook_token = \"{TOKEN}\""),
        postgres: Some(server),
        ..Options::default()
    })
    .await;
    // The first instance alone holds the salon; the second one joins, idle.
    let mut old = app.spawn_binary();
    let url = format!("{}/webhooks/yclients/{TOKEN}", http_of(&old).await);
    app.sim.change(|w| {
        w.webhooks = Some(WebhookSender {
            url,
            update_repeats: 1,
        })
    });
    app.wait_until_monitoring().await;
    let new = app.spawn_binary();
    http_of(&new).await;
    // The old holder's re-read of the booking, at its due time, is held at YClients
    // while the old holder is frozen (SIGSTOP) and its lease lapses.
    app.sim.change(|w| {
        w.yclients_faults_for.push((
            format!("/api/v1/record/{COMPANY}/"),
            Fault::Stall(Duration::from_secs(10)),
        ))
    });
    let phone = "79165550101";
    app.create(Booking::by_admin(
        COMPANY,
        "Передача",
        phone,
        visit(2, 12, 0),
    ));
    app.sim
        .wait_until(PATIENCE, |w| (!w.held.is_empty()).then_some(()))
        .await
        .expect("the old holder's re-read held");
    old.signal("STOP");
    // The new holder takes the salon and sends the notice.
    app.sim
        .wait_until(Duration::from_secs(30), |w| {
            w.messages.iter().any(|m| m.phone == phone).then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; new instance's log:\n{}", new.log()));
    // The old holder wakes: its re-read has timed out.
    old.signal("CONT");
    app.wait_for_more_polls(6).await;
    let sent = app
        .sim
        .world()
        .messages
        .iter()
        .filter(|m| m.phone == phone)
        .count();
    assert_eq!(
        sent,
        1,
        "the notice went out {sent} times; old instance's log:\n{}",
        old.log()
    );
    assert_eq!(old.wait_exit(Duration::ZERO).await, None, "{}", old.log());
}
