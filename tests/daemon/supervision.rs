//! Each actor, made to fail (an error that stops it, or a panic) at a chosen
//! message, is restarted with its state from the database, and nothing is lost.
//! Past `max_restarts` within the window the process exits 70.

use std::time::Duration;

use booking_monitor::store::Status;

use booking_monitor::simulator::Fault;

use crate::helpers::*;

async fn survives(faults: &str) {
    let mut app = prepare(Options {
        delay_ms: 500,
        ..Options::default()
    })
    .await;
    app.start_with_faults(faults).await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Устойчивый", "79161230000"));
    app.wait_for_status(id, Status::Sent).await;
    let second = app.create(admin_booking("Второй", "79161230001"));
    app.wait_for_status(second, Status::Sent).await;
    assert!(app.restarts() >= 1, "{faults}: no restart happened");
    app.wait_for_more_polls(2).await;
    let phones = app.phones_messaged();
    assert_eq!(phones, vec!["79161230000", "79161230001"], "{faults}");
}

#[actix_rt::test]
async fn the_poller_restarts_after_an_error_and_after_a_panic() {
    survives("poller:error@3").await;
    survives("poller:panic@3").await;
}

#[actix_rt::test]
async fn the_filter_restarts_after_an_error_and_after_a_panic() {
    // The third poll carries the first booking: its decisions fail, and the poll
    // after the restart decides them again.
    survives("filter:error@3").await;
    survives("filter:panic@3").await;
}

#[actix_rt::test]
async fn the_delay_restarts_and_rebuilds_its_timers_from_the_table() {
    survives("delay:error@1").await;
    survives("delay:panic@1").await;
}

#[actix_rt::test]
async fn the_notifier_restarts_after_an_error_and_after_a_panic() {
    survives("notifier:error@1").await;
    survives("notifier:panic@1").await;
}

#[actix_rt::test]
async fn past_max_restarts_in_the_window_the_process_exits_70() {
    let app = prepare(Options {
        extra: "[supervisor]\nmax_restarts = 2\nrestart_window_ms = 60000\n".into(),
        ..Options::default()
    })
    .await;
    let mut daemon = app.spawn_binary_with_env(&[("BOOKING_MONITOR_FAULTS", "filter:error@1+")]);
    let code = daemon.wait_exit(Duration::from_secs(20)).await;
    assert_eq!(code, Some(70), "log:\n{}", daemon.log());
    assert!(
        daemon.log().contains("supervisor gives up"),
        "{}",
        daemon.log()
    );
}

#[actix_rt::test]
async fn a_bad_fault_plan_exits_2() {
    let app = prepare(Options::default()).await;
    let mut daemon = app.spawn_binary_with_env(&[("BOOKING_MONITOR_FAULTS", "mailer:panic@1")]);
    assert_eq!(daemon.wait_exit(Duration::from_secs(10)).await, Some(2));
    assert!(daemon.log().contains("BOOKING_MONITOR_FAULTS"));
}

#[actix_rt::test]
async fn a_notifier_restart_lets_the_sends_in_flight_finish_once() {
    let mut app = prepare(Options {
        delay_ms: 500,
        ..Options::default()
    })
    .await;
    // The first send takes 1.5 s at WhatsApp (under the 2 s timeout); the second
    // row panics as it is about to go out meanwhile (the notifier's faults strike
    // at the claim), which restarts the notifier while that send is in flight.
    app.sim.change(|w| {
        w.whatsapp_faults
            .push_back(Fault::Stall(Duration::from_millis(1500)))
    });
    app.start_with_faults("notifier:panic@2").await;
    app.wait_until_monitoring().await;
    let first = app.create(admin_booking("Долгий", "79161230000"));
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled == 1).then_some(()))
        .await
        .expect("the first send reaches WhatsApp and stalls");
    let second = app.create(admin_booking("Второй", "79161230001"));
    let rows = [
        app.wait_for_status(first, Status::Sent).await,
        app.wait_for_status(second, Status::Sent).await,
    ];
    assert!(app.restarts() >= 1, "the panic restarted the notifier");
    assert_eq!(
        app.logs.count("a send was interrupted"),
        0,
        "the restart took the send in flight for an interrupted one"
    );
    assert_eq!(app.sim.world().stalled, 0, "the stalled send was answered");
    for row in &rows {
        assert_eq!(
            row.attempts, 1,
            "record {}: the send in flight went on through the restart, not cut and claimed again",
            row.record_id
        );
    }
    app.wait_for_more_polls(2).await;
    let mut phones = app.phones_messaged();
    phones.sort();
    assert_eq!(phones, vec!["79161230000", "79161230001"], "each once");
    app.stop().await;
}
