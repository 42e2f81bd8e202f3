//! The soak's short form (issue 21; the long one is `cargo bench --bench soak`):
//! the same engine, a minute and a half of its seeded schedule against the debug
//! binary, on the backend the suite runs on (two instances on PostgreSQL, on a
//! server of the test's own so that restarting it disturbs no other test;
//! `SOAK_PG_RESTARTS=0`: on the suite's server, never restarted). It fails on any
//! violation, printing each with the seed that replays it (`SOAK_SEED`;
//! `SOAK_MINUTES` lengthens it).

use std::time::{Duration, Instant};

use chrono::NaiveDate;

use crate::helpers::TEST_BACKEND;

#[path = "../../benches/soak/engine/mod.rs"]
mod engine;

use engine::schedule::{draw, Action, Pace};
use engine::seen::{Class, Sent};
use engine::{Backend, Server, Settings, Timing};

/// The schedule CI replays; `SOAK_SEED` picks another.
const SEED: u64 = 2_026_021;

#[actix_rt::test]
async fn a_short_soak_on_the_suite_s_backend_finds_no_violation() {
    let seed = match std::env::var_os("SOAK_SEED") {
        Some(_) => engine::seed_from_env().expect("SOAK_SEED"),
        None => SEED,
    };
    let seconds: f64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse::<f64>().ok())
        .map_or(75.0, |m| m * 60.0);
    println!("soak test: seed {seed} (SOAK_SEED={seed} replays this schedule)");
    let on_postgres = std::env::var(TEST_BACKEND).is_ok_and(|b| b == "postgres");
    let pg_dir = std::env::temp_dir().join(format!("bm-soak-test-pg-{}", std::process::id()));
    // SOAK_PG_RESTARTS=0: on the suite's shared server, never restarted.
    let pg_restarts = std::env::var("SOAK_PG_RESTARTS").map_or(true, |v| v != "0");
    let backend = match (on_postgres, pg_restarts) {
        (false, _) => Backend::Sqlite,
        (true, true) => {
            let port = 55_900 + (std::process::id() % 90) as u16;
            let server = Server::own(&pg_dir, port).expect("the test's own PostgreSQL server");
            Backend::Postgres(server)
        }
        (true, false) => Backend::Postgres(Server::Shared(crate::helpers::postgres_required())),
    };
    let settings = Settings {
        seed,
        length: Duration::from_secs_f64(seconds),
        mean_gap: Duration::from_millis(500),
        backend,
        pg_restarts,
        binary: env!("CARGO_BIN_EXE_booking-monitor").into(),
        timing: Timing::SOAK,
        trace: false,
    };
    let started = Instant::now();
    let outcome = engine::run(settings).await.expect("the soak runs");
    let _ = std::fs::remove_dir_all(&pg_dir);
    outcome.print();
    println!("soak test: took {:.0} s", started.elapsed().as_secs_f64());
    assert!(
        outcome.passed(),
        "the soak found violations (seed {seed}); see above"
    );
}

#[test]
fn one_seed_draws_one_schedule() {
    let pace = Pace {
        mean_gap: Duration::from_millis(300),
        grace: Duration::from_secs(3),
    };
    let today = NaiveDate::from_ymd_opt(2026, 1, 10).unwrap();
    let length = Duration::from_secs(600);
    let a = draw(42, length, pace, today);
    assert_eq!(
        format!("{a:?}"),
        format!("{:?}", draw(42, length, pace, today))
    );
    assert_ne!(
        format!("{a:?}"),
        format!("{:?}", draw(43, length, pace, today))
    );
    // Ten minutes hold every kind of step, in time order.
    let kinds: std::collections::BTreeSet<String> = a
        .iter()
        .map(|s| {
            format!("{:?}", s.action)
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    for kind in [
        "Create",
        "Move",
        "Delete",
        "Reply",
        "Kill",
        "Term",
        "PgRestart",
        "YClients",
        "WhatsApp",
        "Sms",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
    // A booking deleted within the grace delay is deleted after it was made.
    let made: std::collections::HashMap<usize, Duration> = a
        .iter()
        .filter_map(|s| match &s.action {
            Action::Create(plan) => Some((plan.n, s.at)),
            _ => None,
        })
        .collect();
    assert!(a.iter().all(|s| match &s.action {
        Action::Delete { n } | Action::Move { n, .. } => made[n] < s.at,
        _ => true,
    }));
}

#[test]
fn the_soak_tells_its_messages_apart_by_their_text() {
    assert_eq!(
        Class::of("SOAK created 5 мая 14:30\n\nSOAK ask"),
        Class::Created
    );
    assert_eq!(
        Class::of("SOAK SMS cancelled 5 мая 14:30"),
        Class::Cancelled
    );
    assert_eq!(Class::of("SOAK cancel request"), Class::CancelRequest);
    assert_eq!(Class::of("SOAK thanks"), Class::Thanks);
    assert_eq!(Class::of("Здравствуйте"), Class::Other);
    let visit = chrono::NaiveDate::from_ymd_opt(2026, 5, 5)
        .unwrap()
        .and_hms_opt(14, 30, 0)
        .unwrap();
    let wanted = engine::outcome::visit_text(visit);
    assert_eq!(wanted, "5 мая 14:30");
    for text in [
        "SOAK changed 5 мая 14:30\n\nSOAK ask",
        "SOAK SMS created 5 мая 14:30",
    ] {
        let sent = Sent {
            phone: String::new(),
            text: text.into(),
            class: Class::of(text),
            id: String::new(),
            arrived: Instant::now(),
            answered: Instant::now(),
            process: None,
        };
        assert_eq!(sent.visit_text(), wanted, "{text}");
    }
}
