//! When monitoring of a salon begins: at the start of the first process that
//! monitors it (YClients' clock), however long the salon then waits for its first
//! poll. Bookings made before are the backlog (nothing sent); every one made after
//! is confirmed once, whether the baseline, the first poll or a later one brings it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use booking_monitor::domain::CompanyId;
use booking_monitor::simulator::{Booking, Fault, WebhookSender, World};
use booking_monitor::store::{self, PollCommit};
use chrono::{DurationRound, Utc};

use crate::cluster::{messages_per_phone, wait_all_sent, ONE_AT_A_TIME};
use crate::helpers::*;

fn salons(first: i64, n: i64) -> Vec<(i64, &'static str)> {
    (first..first + n).map(|id| (id, "Europe/Moscow")).collect()
}

/// Books a client at `company`, by an administrator; returns the phone.
fn book(app: &TestApp, company: i64, phone: String) -> String {
    app.create(Booking::by_admin(
        company,
        "Клиент",
        &phone,
        visit(2, 12, 0),
    ));
    phone
}

/// When each salon's first `changed_after` request came (its first poll).
fn first_polls(world: &World) -> HashMap<i64, Instant> {
    let mut first = HashMap::new();
    for r in &world.requests {
        let Some(company) = r.path.strip_prefix("/api/v1/records/") else {
            continue;
        };
        if let (Ok(company), true) = (company.parse(), r.query.contains("changed_after")) {
            first.entry(company).or_insert(r.at);
        }
    }
    first
}

/// One booking per salon made `ago` before now on YClients' clock.
fn book_in_the_past(app: &TestApp, ago: chrono::Duration) -> Vec<String> {
    app.sim.change(|w| w.clock_skew = -ago);
    let phones = app
        .options
        .companies
        .iter()
        .enumerate()
        .map(|(n, (company, _))| book(app, *company, format!("7915{n:07}")))
        .collect();
    app.sim.change(|w| w.clock_skew = chrono::Duration::zero());
    phones
}

/// Books round the salons every 250 ms from now until every salon's first poll
/// was asked, and a little beyond; returns the phones and the longest wait for a
/// first poll, from `started`.
async fn book_until_every_salon_was_polled(
    app: &TestApp,
    started: Instant,
) -> (Vec<String>, Duration) {
    let companies: Vec<i64> = app.options.companies.iter().map(|(id, _)| *id).collect();
    let mut made = Vec::new();
    let mut after_the_last = 0;
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    while after_the_last < 4 {
        ticks.tick().await;
        let company = companies[made.len() % companies.len()];
        made.push(book(app, company, format!("7916{:07}", made.len())));
        if first_polls(&app.sim.world()).len() == companies.len() {
            after_the_last += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "first polls never came"
        );
    }
    let longest = first_polls(&app.sim.world())
        .values()
        .map(|at| at.duration_since(started))
        .max()
        .unwrap();
    (made, longest)
}

/// Every booking made after the start was confirmed exactly once; none made
/// before it was.
async fn assert_confirmed_once(app: &TestApp, before: &[String], after: &[String]) {
    wait_all_sent(app, after).await;
    let sent = messages_per_phone(app);
    let twice: Vec<_> = after.iter().filter(|p| sent[*p] != 1).collect();
    assert!(twice.is_empty(), "confirmed more than once: {twice:?}");
    let backlog: Vec<_> = before.iter().filter(|p| sent.contains_key(*p)).collect();
    assert!(backlog.is_empty(), "the backlog was confirmed: {backlog:?}");
}

#[actix_rt::test]
async fn bookings_made_while_many_salons_wait_for_their_first_poll_are_each_confirmed_once() {
    let mut app = prepare(Options {
        companies: salons(7_001, 15),
        poll_ms: 10_000,
        delay_ms: 500,
        // 15 salons' first polls (company, baseline, changes) at 3 requests a
        // second: the last one waits about 15 s.
        yclients_extra: "max_requests_per_second = 3\n".into(),
        ..Options::default()
    })
    .await;
    let before = book_in_the_past(&app, chrono::Duration::seconds(5));
    let started = Instant::now();
    app.start().await;
    let (after, longest) = book_until_every_salon_was_polled(&app, started).await;
    eprintln!(
        "{} bookings made after the start; the last salon's first poll came {longest:?} after it",
        after.len()
    );
    assert!(
        longest > Duration::from_secs(10),
        "the limiter held the last salon {longest:?}"
    );
    assert_confirmed_once(&app, &before, &after).await;
    app.stop().await;
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn with_two_instances_on_postgresql_bookings_made_before_the_second_started_are_confirmed() {
    let server = postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = prepare(Options {
        companies: salons(7_101, 12),
        poll_ms: 5_000,
        delay_ms: 500,
        yclients_extra: "max_requests_per_second = 2\n".into(),
        extra: "[cluster]\nlease_ttl_ms = 3000\n".into(),
        postgres: Some(server),
        ..Options::default()
    })
    .await;
    let before = book_in_the_past(&app, chrono::Duration::seconds(5));
    let started = Instant::now();
    let first = app.spawn_binary();
    // The second instance starts once the first is polling: the salons it takes
    // over have waited since the first one's start.
    app.sim
        .wait_until(PATIENCE, |w| (w.record_list_requests() > 0).then_some(()))
        .await
        .unwrap();
    let booked_early = book(&app, 7_112, "79170000001".into());
    let second = app.spawn_binary();
    let (mut after, longest) = book_until_every_salon_was_polled(&app, started).await;
    after.push(booked_early);
    eprintln!(
        "two instances: {} bookings; the last salon's first poll came {longest:?} after the first start",
        after.len()
    );
    assert_confirmed_once(&app, &before, &after).await;
    drop((first, second));
}

#[actix_rt::test]
async fn an_upgraded_database_keeps_when_its_salons_began_to_be_monitored() {
    let mut app = prepare(Options::default()).await;
    // Stored to the microsecond on PostgreSQL: a whole second compares exactly.
    let began = (Utc::now() - chrono::Duration::hours(1))
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap();
    let now = Utc::now();
    let poll = PollCommit {
        lease_holder: None,
        company: CompanyId(COMPANY),
        new_cursor: Some(now),
        monitored_since: began,
        planned_with: None,
        asked_at: now,
        now,
        baselined: true,
        phones: Vec::new(),
        proving_within: None,
        poll_every: None,
    };
    app.db
        .run(move |c| store::commit_poll(c, &poll, &[], |_| Ok(Vec::new()), |_| Ok(Vec::new())))
        .await
        .unwrap();

    app.start().await;
    app.wait_for_more_polls(3).await;
    let id = app.create(admin_booking("Новый", "79161234500"));
    app.wait_for_status(id, store::Status::Sent).await;
    let states = app.db.run(store::poll_states).await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].monitored_since.and_utc(), began, "kept");
    app.stop().await;
}

/// A YClients webhook that comes before the process's first YClients answer (the
/// start is not known yet) waits for it, then commits: 200, and the booking it
/// announced is confirmed, though polls are a minute apart.
#[actix_rt::test]
async fn a_webhook_before_the_first_yclients_answer_waits_for_the_start_and_commits() {
    const TOKEN: &str = "hook-token-0123456789abcdef";
    let mut app = prepare(Options {
        poll_ms: 60_000,
        yclients_timeout_ms: 5_000,
        yclients_extra: format!("webhook_token = \"{TOKEN}\""),
        extra: HTTP.into(),
        ..Options::default()
    })
    .await;
    let stall = Duration::from_millis(1_500);
    app.sim
        .change(|w| w.yclients_faults.push_back(Fault::Stall(stall)));
    app.start().await;
    let url = format!("{}/webhooks/yclients/{TOKEN}", app.http_url());
    app.sim.change(|w| {
        w.webhooks = Some(WebhookSender {
            url,
            update_repeats: 1,
        })
    });
    let sent = Instant::now();
    let id = app.create(admin_booking("Ранний", "79162220099"));
    let answered = app
        .sim
        .wait_until(PATIENCE, |w| {
            w.pushed.first().map(|p| (p.status, Instant::now()))
        })
        .await
        .unwrap();
    assert_eq!(answered.0, 200, "not 503 while the start was unknown");
    assert!(
        app.sim
            .world()
            .requests
            .iter()
            .any(|r| r.path.starts_with("/api/v1/records/")),
        "the start came from YClients' answer"
    );
    println!("the webhook waited {:?}", answered.1 - sent);
    app.wait_for_kind(id, store::Kind::Created, store::Status::Sent)
        .await;
    app.stop().await;
}
