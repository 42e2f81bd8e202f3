//! SIGTERM: stop polling, let the send in flight finish, exit 0 within 5 s.

use std::time::Duration;

use booking_monitor::simulator::Fault;
use booking_monitor::store::Status;

use crate::helpers::*;

#[actix_rt::test]
async fn sigterm_lets_the_send_in_flight_finish_and_exits_0() {
    let app = prepare(Options::default()).await;
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    app.sim.change(|w| {
        w.whatsapp_faults
            .push_back(Fault::Stall(Duration::from_millis(1_500)))
    });
    let id = app.create(admin_booking("Сигнал", "79160007788"));
    app.sim
        .wait_until(PATIENCE, |w| (w.stalled > 0).then_some(()))
        .await
        .unwrap();

    let polls = app.sim.world().record_list_requests();
    daemon.signal("TERM");
    let code = daemon.wait_exit(Duration::from_secs(5)).await;
    assert_eq!(code, Some(0), "log:\n{}", daemon.log());
    // The send that was in flight went out and was recorded.
    assert_eq!(app.sim.world().messages.len(), 1);
    assert_eq!(app.wait_for_status(id, Status::Sent).await.attempts, 1);
    // No poll after the signal, beyond the one that may have been under way.
    assert!(app.sim.world().record_list_requests() <= polls + 1);
}

#[actix_rt::test]
async fn sigint_on_an_idle_daemon_exits_0() {
    let app = prepare(Options::default()).await;
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    daemon.signal("INT");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(5)).await,
        Some(0),
        "log:\n{}",
        daemon.log()
    );
}
