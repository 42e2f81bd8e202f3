//! kill -9 at random moments, 30 times over, while bookings keep arriving: no
//! booking is lost, and a client gets a duplicate only when the kill landed inside
//! a send (ARCHITECTURE.md's at-least-once window: `sending` is committed before the call).

use std::collections::BTreeMap;
use std::time::Duration;

use booking_monitor::simulator::Fault;
use booking_monitor::store::Status;

use crate::helpers::*;

const CYCLES: usize = 30;
const DEFAULT_SEED: u64 = 20_261_125;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Moment {
    InsideAPoll,
    InsideTheFiltersTransaction,
    DuringTheDelay,
    DuringASend,
    AtRandom,
}

#[actix_rt::test]
async fn kill_9_at_random_moments_loses_nothing() {
    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("kill test: seed {seed} (set KILL_SEED to replay another)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let app = prepare(Options {
        delay_ms: 1_000,
        ..Options::default()
    })
    .await;
    let mut phones: Vec<String> = Vec::new();
    let mut moments: BTreeMap<Moment, usize> = BTreeMap::new();
    let mut send_windows = 0;

    for _ in 0..CYCLES {
        let moment = match rng.u8(0..5) {
            0 => Moment::InsideAPoll,
            1 => Moment::InsideTheFiltersTransaction,
            2 => Moment::DuringTheDelay,
            3 => Moment::DuringASend,
            _ => Moment::AtRandom,
        };
        *moments.entry(moment).or_default() += 1;
        let faults = match moment {
            // The third batch of records this process sees stalls inside the transaction.
            Moment::InsideTheFiltersTransaction => "filter:stall@3",
            _ => "",
        };
        let polls = app.sim.world().record_list_requests();
        let mut daemon = app.spawn_binary_with_env(&[("BOOKING_MONITOR_FAULTS", faults)]);
        app.sim.wait_for_polls(polls + 1, PATIENCE).await.unwrap();
        match moment {
            Moment::InsideAPoll => {
                app.sim.change(|w| {
                    w.yclients_faults
                        .push_back(Fault::Stall(Duration::from_secs(3)))
                });
                book(&app, &mut phones);
                app.sim
                    .wait_until(PATIENCE, |w| w.yclients_faults.is_empty().then_some(()))
                    .await
                    .unwrap();
            }
            Moment::InsideTheFiltersTransaction => {
                book(&app, &mut phones);
                app.sim.wait_for_polls(polls + 3, PATIENCE).await.unwrap();
                // The filter holds its transaction open for 2 s from now: land inside it.
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Moment::DuringTheDelay => {
                let phone = book(&app, &mut phones);
                wait_for_row(&app, &phone).await;
            }
            Moment::DuringASend => {
                app.sim.change(|w| {
                    w.whatsapp_faults
                        .push_back(Fault::Stall(Duration::from_secs(3)))
                });
                book(&app, &mut phones);
                app.sim
                    .wait_until(PATIENCE, |w| w.whatsapp_faults.is_empty().then_some(()))
                    .await
                    .unwrap();
            }
            Moment::AtRandom => {
                for _ in 0..rng.usize(0..3) {
                    book(&app, &mut phones);
                }
                // The randomness here is the point: a kill at an unplanned moment.
                tokio::time::sleep(Duration::from_millis(rng.u64(0..1_500))).await;
            }
        }
        daemon.signal("KILL");
        daemon.wait_exit(PATIENCE).await;
        app.sim.change(|w| {
            w.yclients_faults.clear();
            w.whatsapp_faults.clear();
        });
        let rows = app.notifications().await;
        send_windows += rows.iter().filter(|r| r.status == Status::Sending).count();
    }

    // One last, undisturbed run delivers whatever is still owed.
    let mut daemon = app.spawn_binary();
    let expected = phones.clone();
    app.sim
        .wait_until(Duration::from_secs(60), |w| {
            expected
                .iter()
                .all(|p| w.messages.iter().any(|m| &m.phone == p))
                .then_some(())
        })
        .await
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", daemon.log()));
    app.wait_for_more_polls(3).await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(5)).await, Some(0));

    let world = app.sim.world();
    let delivered = phones
        .iter()
        .filter(|p| world.messages.iter().any(|m| &m.phone == *p))
        .count();
    let duplicates: usize = phones
        .iter()
        .map(|p| {
            world
                .messages
                .iter()
                .filter(|m| &m.phone == p)
                .count()
                .saturating_sub(1)
        })
        .sum();
    let lost = phones.len() - delivered;
    println!(
        "kill test: seed {seed}, {CYCLES} kills {moments:?}: {} bookings expected, {delivered} delivered, \
         {lost} lost, {duplicates} duplicated, {send_windows} kills inside a send",
        phones.len()
    );
    assert_eq!(lost, 0);
    assert!(
        duplicates <= send_windows,
        "{duplicates} duplicates but only {send_windows} kills landed inside a send"
    );
    assert!(world.messages.iter().all(|m| phones.contains(&m.phone)));
}

/// An administrator's booking for a phone no other booking has.
fn book(app: &TestApp, phones: &mut Vec<String>) -> String {
    let phone = format!("7916{:07}", phones.len());
    app.create(admin_booking(&format!("Клиент {}", phones.len()), &phone));
    phones.push(phone.clone());
    phone
}

/// Waits until the booking to this phone has its outbox row.
async fn wait_for_row(app: &TestApp, phone: &str) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !app
        .notifications()
        .await
        .iter()
        .any(|r| r.phone.as_deref() == Some(phone))
    {
        assert!(std::time::Instant::now() < deadline, "no row for {phone}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
