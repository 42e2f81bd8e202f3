//! On time without webhooks (DESIGN): the poll that proves a notice comes at its
//! due time, busy salons are polled more often within the spare budget and never
//! closer than `min_poll_interval_ms`, and an idle salon keeps its interval. Each
//! test fails under the old scheduling (`spare_budget_share = 0`,
//! `proving_poll = false`).

use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, World};
use booking_monitor::store::Status;
use chrono::{DateTime, Utc};

use crate::helpers::*;

const IDLE: i64 = 4565;

/// When each poll of `company` asked YClients: the first page of each
/// `changed_after` list (the baseline's lists left out).
fn polls_of(world: &World, company: i64) -> Vec<Instant> {
    let path = format!("/api/v1/records/{company}");
    world
        .requests
        .iter()
        .filter(|r| r.path == path && r.query.contains("changed_after"))
        .filter(|r| r.query.split('&').any(|p| p == "page=1"))
        .map(|r| r.at)
        .collect()
}

fn gaps(times: &[Instant]) -> Vec<Duration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

fn within(times: &[Instant], from: Instant, until: Instant) -> Vec<Instant> {
    times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= until)
        .collect()
}

/// Awaits `n` polls of `company` after `after`.
async fn wait_for_polls_after(app: &TestApp, company: i64, after: Instant, n: usize) {
    app.sim
        .wait_until(PATIENCE, |w| {
            (polls_of(w, company).iter().filter(|t| **t > after).count() >= n).then_some(())
        })
        .await
        .expect("the polls");
}

/// Bookings at `company` every `every` for `count` of them: the administrator's
/// pace, not a wait for the daemon.
async fn book(app: &TestApp, company: i64, count: usize, every: Duration) {
    for i in 0..count {
        app.create(Booking::by_admin(
            company,
            &format!("Клиент {i}"),
            &format!("7916555{:04}", company % 100 * 100 + i as i64),
            visit(2, 12, 0),
        ));
        actix_rt::time::sleep(every).await;
    }
}

/// A time of our clock on the simulator's (its requests carry `Instant`s).
struct Anchor(Instant, DateTime<Utc>);

impl Anchor {
    fn now() -> Anchor {
        Anchor(Instant::now(), Utc::now())
    }
    fn instant(&self, at: DateTime<Utc>) -> Instant {
        match (at - self.1).to_std() {
            Ok(after) => self.0 + after,
            Err(_) => self.0 - (self.1 - at).to_std().unwrap(),
        }
    }
}

#[actix_rt::test]
async fn the_proving_poll_comes_at_the_due_time_and_no_reread_is_needed() {
    let app = spawn_app_with(Options {
        poll_ms: 4_000,
        delay_ms: 5_000,
        monitor_extra: "min_poll_interval_ms = 500\nspare_budget_share = 0\n".into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    // Right after a poll: the next (4 s on) finds the booking, whose confirmation
    // falls due 5 to 6 s after it was made, before the scheduled poll after that.
    app.wait_for_more_polls(1).await;
    let anchor = Anchor::now();
    let id = app.create(admin_booking("Вовремя", "79165550001"));
    let row = app.wait_for_status(id, Status::Sent).await;
    let due = anchor.instant(row.due_at.and_utc());
    let world = app.sim.world();
    let sent = anchor.instant(world.messages[0].at);
    let polls = polls_of(&world, COMPANY);
    let proving = polls
        .iter()
        .find(|t| **t >= due)
        .expect("a poll after the due time");
    assert!(
        *proving - due < Duration::from_millis(500),
        "the poll that proves it came {:?} after the due time",
        *proving - due
    );
    // The scheduled poll would have come 2 s or more after the due time.
    assert!(
        sent >= due && sent - due < Duration::from_millis(1_500),
        "sent {:?} after the due time",
        sent.checked_duration_since(due)
    );
    let rereads = world
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/record/"))
        .count();
    assert_eq!(rereads, 0, "the poll proved it: no re-read");
}

#[actix_rt::test]
async fn activity_raises_a_salons_rate_and_it_falls_back_when_activity_ends() {
    let app = spawn_app_with(Options {
        poll_ms: 2_000,
        // No notice falls due while the test looks: only activity moves the polls.
        delay_ms: 120_000,
        // 30 configured polls a minute of 200: 85 extra ones, enough for one
        // every 600 ms.
        monitor_extra: "min_poll_interval_ms = 600\n".into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    app.wait_for_more_polls(1).await;
    let busy_from = Instant::now();
    book(&app, COMPANY, 24, Duration::from_millis(250)).await;
    let busy_until = Instant::now();
    // Activity counts for two intervals after the last poll that found a booking.
    let calm = busy_until + Duration::from_millis(4_500);
    wait_for_polls_after(&app, COMPANY, calm, 3).await;
    let polls = polls_of(&app.sim.world(), COMPANY);
    let busy = within(&polls, busy_from + Duration::from_millis(1_000), busy_until);
    // Every 600 ms (give or take a poll's own start), against one poll in 2 s
    // under the interval alone.
    assert!(
        busy.len() >= 6,
        "{} polls while busy: {:?}",
        busy.len(),
        gaps(&busy)
    );
    assert!(
        gaps(&busy).iter().all(|g| *g >= Duration::from_millis(550)),
        "{:?}",
        gaps(&busy)
    );
    let after: Vec<Instant> = polls.iter().copied().filter(|t| *t > calm).collect();
    assert!(
        gaps(&after)
            .iter()
            .all(|g| *g >= Duration::from_millis(1_900) && *g <= Duration::from_millis(2_300)),
        "back to the interval: {:?}",
        gaps(&after)
    );
}

#[actix_rt::test]
async fn a_busy_salon_never_makes_an_idle_one_wait_past_its_interval() {
    let app = spawn_app_with(Options {
        poll_ms: 1_500,
        delay_ms: 120_000,
        companies: vec![(COMPANY, "Europe/Moscow"), (IDLE, "Europe/Moscow")],
        monitor_extra: "min_poll_interval_ms = 250\n".into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    app.wait_for_more_polls(2).await;
    let from = Instant::now();
    book(&app, COMPANY, 30, Duration::from_millis(200)).await;
    let until = Instant::now();
    let (idle, busy, idle_requests) = {
        let world = app.sim.world();
        let requests = world
            .requests
            .iter()
            .filter(|r| r.at >= from && r.at <= until && r.path.ends_with(&IDLE.to_string()))
            .count();
        (
            within(&polls_of(&world, IDLE), from, until),
            within(&polls_of(&world, COMPANY), from, until),
            requests,
        )
    };
    // The idle salon: every 1.5 s exactly (short of a poll in flight), one request each.
    assert!(
        gaps(&idle)
            .iter()
            .all(|g| *g >= Duration::from_millis(1_450) && *g <= Duration::from_millis(1_750)),
        "{:?}",
        gaps(&idle)
    );
    assert!(idle.len() >= 3, "{idle:?}");
    assert_eq!(idle_requests, idle.len(), "one request a poll");
    assert!(
        busy.len() >= 2 * idle.len(),
        "busy {} idle {}",
        busy.len(),
        idle.len()
    );
    // `status` shows how often each is polled now.
    let config = app.config();
    let report = app
        .db
        .run(move |c| booking_monitor::status::read(c, &config))
        .await
        .unwrap();
    let every = |id: i64| {
        let c = report.companies.iter().find(|c| c.company_id == id);
        c.unwrap().poll_interval_ms
    };
    assert_eq!(every(IDLE), 1_500);
    assert!(every(COMPANY) < 1_000, "{}", every(COMPANY));
    let text = booking_monitor::status::render_text(&report);
    assert!(text.contains("every 1.5 s"), "{text}");
}

#[actix_rt::test]
async fn the_least_gap_and_the_budget_hold_under_a_burst() {
    let companies = [COMPANY, IDLE, 4566, 4567];
    let app = spawn_app_with(Options {
        poll_ms: 4_000,
        delay_ms: 120_000,
        companies: companies.iter().map(|c| (*c, "Europe/Moscow")).collect(),
        // 60 configured polls a minute of 200: 70 extra ones (half the rest).
        monitor_extra: "min_poll_interval_ms = 1000\n".into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    app.wait_for_more_polls(4).await;
    let from = Instant::now();
    for company in companies {
        let count = if company == COMPANY { 30 } else { 2 };
        book(&app, company, count, Duration::ZERO).await;
    }
    let until = from + Duration::from_secs(12);
    wait_for_polls_after(&app, IDLE, until, 1).await;
    let world = app.sim.world();
    let burst = within(&polls_of(&world, COMPANY), from, until);
    assert!(
        // Measured at YClients: a poll's own start varies by some milliseconds.
        gaps(&burst)
            .iter()
            .all(|g| *g >= Duration::from_millis(950)),
        "never closer than min_poll_interval_ms: {:?}",
        gaps(&burst)
    );
    assert!(burst.len() >= 6, "raised: {burst:?}");
    let all = world
        .requests
        .iter()
        .filter(|r| r.at >= from && r.at <= until)
        .count();
    // 12 s of the configured polls and the spare share: (60 + 70) / 60 · 12 = 26.
    assert!(all <= 30, "{all} requests in 12 s");
}

#[actix_rt::test]
async fn the_old_scheduling_is_a_setting_and_a_reload_brings_the_new_one() {
    let mut app = spawn_app_with(Options {
        poll_ms: 2_000,
        delay_ms: 120_000,
        monitor_extra: "min_poll_interval_ms = 250\nspare_budget_share = 0\nproving_poll = false\n"
            .into(),
        ..Options::default()
    })
    .await;
    app.wait_until_monitoring().await;
    let from = Instant::now();
    book(&app, COMPANY, 12, Duration::from_millis(250)).await;
    let old = within(&polls_of(&app.sim.world(), COMPANY), from, Instant::now());
    assert!(old.len() <= 2, "the interval alone: {:?}", gaps(&old));
    app.options.monitor_extra = "min_poll_interval_ms = 250\n".into();
    app.reload().await;
    let from = Instant::now();
    book(&app, COMPANY, 12, Duration::from_millis(250)).await;
    let new = within(&polls_of(&app.sim.world(), COMPANY), from, Instant::now());
    assert!(new.len() >= 5, "busy: {:?}", gaps(&new));
}
