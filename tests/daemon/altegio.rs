//! Altegio, YClients' international platform, is the same API at another host;
//! its own tools send another `Accept` header. With `yclients.base_url` and
//! `yclients.accept` set as Altegio's, the daemon polls and confirms as ever; a
//! server that wants Altegio's header refuses YClients' own.

use booking_monitor::store::{Kind, Status};

use crate::helpers::*;

const ALTEGIO_ACCEPT: &str = "application/vnd.api.v2+json";

#[actix_rt::test]
async fn with_altegios_accept_header_a_booking_is_confirmed() {
    let mut app = prepare(Options {
        delay_ms: 300,
        yclients_extra: format!("accept = \"{ALTEGIO_ACCEPT}\""),
        ..Options::default()
    })
    .await;
    app.sim
        .change(|w| w.yclients_accept = Some(ALTEGIO_ACCEPT.into()));
    app.start().await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Алекс", "79161280001"));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    assert!(
        app.sim.world().requests.iter().all(|r| r.status != 400),
        "every request carried the header the server wants"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_server_that_wants_altegios_header_refuses_yclients_own() {
    let mut app = prepare(Options::default()).await;
    app.sim
        .change(|w| w.yclients_accept = Some(ALTEGIO_ACCEPT.into()));
    app.start().await;
    app.sim
        .wait_until(PATIENCE, |w| {
            w.requests.iter().any(|r| r.status == 400).then_some(())
        })
        .await
        .expect("the default header is refused");
    app.stop().await;
}
