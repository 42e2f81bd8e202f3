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

/// The judge on a made-up run: one booking (record 1001), its messages as given.
mod judge {
    use super::engine::invariants::{Findings, Judge};
    use super::engine::ledger::{self, Booking, How, Ledger, Reply, Signal};
    use super::engine::schedule::{Delivery, Plan, Said};
    use super::engine::seen::{Class, Seen, Sent};
    use super::engine::Timing;
    use std::time::{Duration, Instant};

    fn run_with(ledger: &Ledger, messages: Vec<Sent>, optouts: bool) -> Findings {
        let seen = Seen {
            messages,
            sms: Vec::new(),
            puts: Vec::new(),
            alerts: 0,
            lost_pushes: 0,
            pushes: 0,
        };
        let mut findings = Findings::default();
        let judge = Judge {
            ledger,
            seen: &seen,
            timing: &Timing::SOAK,
            optouts,
        };
        judge.running(&mut findings);
        findings
    }

    fn a_run() -> (Ledger, Instant) {
        let mut ledger = Ledger::new(7);
        let made = ledger.start + Duration::from_secs(10);
        let visit = chrono::NaiveDate::from_ymd_opt(2026, 5, 5)
            .unwrap()
            .and_hms_opt(14, 30, 0)
            .unwrap();
        ledger.bookings.push(Booking {
            plan: Plan {
                n: 0,
                company: 7_101,
                visit,
                first_send: None,
                delivery: Delivery::Delivered,
                sms: None,
            },
            record: 1_001,
            visit_id: "501001".into(),
            phone: ledger::phone(0),
            made,
            deleted: None,
            moves: Vec::new(),
            visit,
        });
        (ledger, made)
    }

    /// A message to booking 0's client that reached WhatsApp at `at`, from `process`.
    fn sent(text: &str, at: Instant, process: usize) -> Sent {
        Sent {
            phone: ledger::phone(0),
            text: text.into(),
            class: Class::of(text),
            id: format!("wamid.{process}"),
            arrived: at,
            answered: at + Duration::from_millis(10),
            process: Some(process),
        }
    }

    fn kill(ledger: &mut Ledger, process: usize, at: Instant) {
        ledger.signals.push(Signal {
            slot: 0,
            process,
            at,
            how: How::Kill,
            why: "in the test".into(),
        });
    }

    #[test]
    fn a_confirmation_sent_twice_is_a_violation_unless_its_sender_was_killed_in_its_window() {
        let (mut ledger, made) = a_run();
        let first = made + Duration::from_secs(3);
        let twice = || {
            vec![
                sent("SOAK created 5 мая 14:30", first, 1),
                sent(
                    "SOAK created 5 мая 14:30",
                    first + Duration::from_secs(2),
                    2,
                ),
            ]
        };
        let findings = run_with(&ledger, twice(), false);
        assert_eq!(findings.violations.len(), 1, "{findings:?}");
        // Another process killed: no excuse.
        kill(&mut ledger, 2, first + Duration::from_millis(5));
        assert_eq!(run_with(&ledger, twice(), false).violations.len(), 1);
        // The sender killed long after its answer was committed: no excuse either.
        kill(&mut ledger, 1, first + Duration::from_secs(30));
        assert_eq!(run_with(&ledger, twice(), false).violations.len(), 1);
        // The sender killed inside its send: allowed, and named.
        ledger.signals.clear();
        kill(&mut ledger, 1, first + Duration::from_millis(5));
        let findings = run_with(&ledger, twice(), false);
        assert!(findings.violations.is_empty(), "{findings:?}");
        assert!(findings.allowed.values().any(|a| a.contains("process 1")));
    }

    #[test]
    fn a_booking_deleted_within_its_grace_delay_tells_its_client_nothing() {
        let (mut ledger, made) = a_run();
        ledger.bookings[0].deleted = Some(made + Duration::from_millis(500));
        let told = vec![sent(
            "SOAK created 5 мая 14:30",
            made + Duration::from_secs(3),
            1,
        )];
        assert_eq!(run_with(&ledger, told.clone(), false).violations.len(), 1);
        // Deleted after its due time: a confirmation may have gone.
        ledger.bookings[0].deleted = Some(made + Duration::from_secs(4));
        assert!(run_with(&ledger, told, false).violations.is_empty());
    }

    #[test]
    fn after_a_stop_lands_only_its_acknowledgement_reaches_the_client() {
        let (mut ledger, made) = a_run();
        let stopped = made + Duration::from_secs(20);
        ledger.replies.push(Reply {
            n: 0,
            said: Said::Stop("стоп"),
            message_id: "wamid.IN1".into(),
            posted: stopped - Duration::from_millis(50),
            landed: Some(stopped),
            deliveries: 1,
            gave_up: false,
        });
        let ack = sent("SOAK opted out", stopped + Duration::from_secs(3), 1);
        let change = sent(
            "SOAK changed 6 мая 15:00",
            stopped + Duration::from_secs(5),
            1,
        );
        let visit = ledger.bookings[0].visit;
        ledger.bookings[0]
            .moves
            .push((stopped + Duration::from_secs(1), visit));
        assert!(run_with(&ledger, vec![ack.clone()], true)
            .violations
            .is_empty());
        let findings = run_with(&ledger, vec![ack.clone(), change.clone()], true);
        assert_eq!(findings.violations.len(), 1, "{findings:?}");
        // Without opt-outs in the daemon, a stop is just a reply.
        assert!(run_with(&ledger, vec![ack.clone(), change.clone()], false)
            .violations
            .is_empty());
        // After a resume, messages go again.
        ledger.replies.push(Reply {
            n: 0,
            said: Said::Resume("старт"),
            message_id: "wamid.IN2".into(),
            posted: stopped + Duration::from_secs(4),
            landed: Some(stopped + Duration::from_secs(4)),
            deliveries: 1,
            gave_up: false,
        });
        assert!(run_with(&ledger, vec![ack, change], true)
            .violations
            .is_empty());
    }
}
