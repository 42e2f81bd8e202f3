use std::collections::HashMap;

use super::*;

const S: Duration = Duration::from_secs(1);

fn rules(spare_per_minute: f64, proving: bool) -> Rules {
    Rules {
        interval: 60 * S,
        min_interval: 5 * S,
        proving,
        configured_per_minute: 2.0,
        spare_per_minute,
    }
}

fn id(n: i64) -> CompanyId {
    CompanyId(n)
}

/// Polls whatever comes next until `until`, each committed with what `found`
/// says of its salon; returns (when, salon, why) of each.
fn run(
    cadence: &mut Cadence,
    start: Instant,
    until: Instant,
    mut found: impl FnMut(CompanyId, Instant) -> Found,
) -> Vec<(Duration, i64, Reason)> {
    let mut polls = Vec::new();
    let mut now = start;
    while let Some(next) = cadence.next(now) {
        if next.at >= until {
            break;
        }
        now = now.max(next.at);
        cadence.prune(now);
        cadence.began(next.company, now);
        let f = found(next.company, now);
        cadence.polled(next.company, now, f);
        polls.push((now - start, next.company.0, next.reason));
    }
    polls
}

fn times_of(polls: &[(Duration, i64, Reason)], company: i64) -> Vec<Duration> {
    polls
        .iter()
        .filter(|p| p.1 == company)
        .map(|p| p.0)
        .collect()
}

#[test]
fn idle_salons_are_polled_once_an_interval_each() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(99.0, true));
    c.add(id(1), start);
    c.add(id(2), start + 30 * S);
    let polls = run(&mut c, start, start + 300 * S, |_, _| Found::default());
    assert_eq!(
        times_of(&polls, 1),
        vec![Duration::ZERO, 60 * S, 120 * S, 180 * S, 240 * S]
    );
    assert_eq!(
        times_of(&polls, 2),
        vec![30 * S, 90 * S, 150 * S, 210 * S, 270 * S]
    );
    assert!(polls.iter().all(|p| p.2 == Reason::Scheduled), "{polls:?}");
    assert_eq!(c.interval_of(id(1), start + 300 * S), 60 * S);
}

#[test]
fn a_notice_due_brings_the_poll_forward_and_the_cadence_goes_on_from_there() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(0.0, true));
    c.add(id(1), start);
    let polls = run(&mut c, start, start + 200 * S, |_, at| Found {
        // The first poll finds a booking whose confirmation is due 31 s later.
        next_due: (at == start).then_some(start + 31 * S),
        ..Found::default()
    });
    assert_eq!(
        polls,
        vec![
            (Duration::ZERO, 1, Reason::Scheduled),
            (31 * S, 1, Reason::Proving),
            (91 * S, 1, Reason::Scheduled),
            (151 * S, 1, Reason::Scheduled),
        ]
    );
}

#[test]
fn a_proving_poll_keeps_the_least_gap_and_a_poll_just_before_it_waits_for_it() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(0.0, true));
    c.add(id(1), start);
    c.began(id(1), start);
    // Due 2 s after the poll: proved 5 s after it, not sooner.
    c.polled(
        id(1),
        start,
        Found {
            next_due: Some(start + 2 * S),
            ..Found::default()
        },
    );
    let next = c.next(start).unwrap();
    assert_eq!((next.at - start, next.reason), (5 * S, Reason::Proving));
    // Due 3 s after the scheduled poll: that poll waits the 3 s and proves it.
    c.began(id(1), start + 5 * S);
    c.polled(
        id(1),
        start + 5 * S,
        Found {
            next_due: Some(start + 68 * S),
            ..Found::default()
        },
    );
    let next = c.next(start + 6 * S).unwrap();
    assert_eq!((next.at - start, next.reason), (68 * S, Reason::Proving));
}

#[test]
fn without_proving_polls_a_notice_waits_for_the_cadence() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(0.0, false));
    c.add(id(1), start);
    let polls = run(&mut c, start, start + 130 * S, |_, at| Found {
        next_due: (at == start).then_some(start + 31 * S),
        ..Found::default()
    });
    assert_eq!(
        times_of(&polls, 1),
        vec![Duration::ZERO, 60 * S, 120 * S],
        "{polls:?}"
    );
}

#[test]
fn activity_raises_a_salons_rate_and_it_falls_back_two_intervals_after() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(99.0, true));
    c.add(id(1), start);
    // Bookings found by the polls of the first 30 s.
    let polls = run(&mut c, start, start + 300 * S, |_, at| Found {
        news: u32::from(at - start < 30 * S),
        ..Found::default()
    });
    let times = times_of(&polls, 1);
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Every 5 s while busy (the least gap: the spare allows far more)...
    assert!(gaps[..6].iter().all(|g| *g == 5 * S), "{gaps:?}");
    // ... until the last news is two intervals old, then every interval.
    let last_news = *times.iter().rfind(|t| **t < 30 * S).unwrap();
    let busy_until = last_news + 120 * S;
    for (t, g) in times[1..].iter().zip(&gaps) {
        if *t <= busy_until {
            assert_eq!(*g, 5 * S, "at {t:?}: {gaps:?}");
        } else {
            assert!(*g <= 60 * S, "at {t:?}: {gaps:?}");
        }
    }
    assert_eq!(*gaps.last().unwrap(), 60 * S, "{gaps:?}");
    let reasons: Vec<Reason> = polls.iter().map(|p| p.2).collect();
    assert!(reasons.contains(&Reason::Active) && reasons.ends_with(&[Reason::Scheduled]));
    assert_eq!(c.interval_of(id(1), start + 300 * S), 60 * S);
}

#[test]
fn a_busy_salon_never_makes_an_idle_one_wait_past_its_interval() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(1_000.0, true));
    for n in 1..=20 {
        c.add(id(n), start + S * n as u32);
    }
    // Salon 1 is always busy; the others never are.
    let polls = run(&mut c, start, start + 600 * S, |company, _| Found {
        news: u32::from(company == id(1)) * 10,
        ..Found::default()
    });
    for n in 2..=20 {
        let times = times_of(&polls, n);
        assert!(
            times.windows(2).all(|w| w[1] - w[0] == 60 * S),
            "{n}: {times:?}"
        );
    }
    let busy = times_of(&polls, 1);
    assert!(busy.windows(2).all(|w| w[1] - w[0] >= 5 * S));
    assert!(busy.len() > 100, "{}", busy.len());
}

#[test]
fn the_extra_polls_share_the_spare_budget_by_the_square_root_of_activity() {
    let start = Instant::now();
    // 2 configured polls a minute; 3 extra ones for the busy salons.
    let mut c = Cadence::new(Rules {
        configured_per_minute: 2.0,
        spare_per_minute: 3.0,
        ..rules(0.0, true)
    });
    c.add(id(1), start);
    c.add(id(2), start);
    // Bookings every 4 s at the first salon, every 36 s at the second: 9 : 1.
    let mut last = HashMap::new();
    let polls = run(&mut c, start, start + 1200 * S, |company, at| {
        let every = if company == id(1) { 4 * S } else { 36 * S };
        let count = |t: Instant| ((t - start).as_millis() / every.as_millis()) as u32;
        let before = last.insert(company, at).map_or(0, count);
        Found {
            news: count(at) - before,
            ..Found::default()
        }
    });
    let (one, two) = (times_of(&polls, 1).len(), times_of(&polls, 2).len());
    // Up to 5 a minute in all, 3 : 1 between them (√9 : √1), over twenty minutes.
    assert!((88..=100).contains(&(one + two)), "{one} + {two}");
    let ratio = one as f64 / two as f64;
    assert!((2.5..=3.5).contains(&ratio), "{one} : {two}");
    // No minute holds more than the configured polls and the spare.
    let all: Vec<Duration> = polls.iter().map(|p| p.0).collect();
    for (i, t) in all.iter().enumerate() {
        let in_minute = all[i..].iter().take_while(|u| **u - *t < 60 * S).count();
        assert!(in_minute <= 5, "{in_minute} polls in the minute from {t:?}");
    }
}

#[test]
fn a_burst_keeps_to_the_budget_and_the_least_gap() {
    let start = Instant::now();
    // 50 salons, all busy at once; 30 extra polls a minute.
    let mut c = Cadence::new(Rules {
        configured_per_minute: 50.0,
        spare_per_minute: 30.0,
        ..rules(0.0, true)
    });
    for n in 0..50 {
        c.add(id(n), start + S * n as u32 / 2);
    }
    let polls = run(&mut c, start, start + 300 * S, |_, _| Found {
        news: 3,
        more_requests: 0,
        ..Found::default()
    });
    let all: Vec<Duration> = polls.iter().map(|p| p.0).collect();
    for (i, t) in all.iter().enumerate() {
        let in_minute = all[i..].iter().take_while(|u| **u - *t < 60 * S).count();
        assert!(
            in_minute <= 80,
            "{in_minute} polls in the minute from {t:?}"
        );
    }
    for n in 0..50 {
        let times = times_of(&polls, n);
        assert!(
            times.windows(2).all(|w| w[1] - w[0] >= 5 * S),
            "{n}: {times:?}"
        );
        assert!(
            times.windows(2).all(|w| w[1] - w[0] <= 60 * S),
            "{n}: {times:?}"
        );
    }
    assert!(polls.iter().any(|p| p.2 == Reason::Active));
}

#[test]
fn a_failure_holds_every_kind_of_poll_back() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(99.0, true));
    c.add(id(1), start);
    c.began(id(1), start);
    c.polled(
        id(1),
        start,
        Found {
            news: 4,
            next_due: Some(start + 10 * S),
            ..Found::default()
        },
    );
    assert_eq!(
        c.next(start).unwrap().at - start,
        5 * S,
        "busy: the least gap"
    );
    c.began(id(1), start + 5 * S);
    c.hold_back(id(1), start + 45 * S);
    let next = c.next(start + 6 * S).unwrap();
    assert_eq!(next.at - start, 45 * S);
}

#[test]
fn with_the_old_scheduling_only_the_interval_counts() {
    let start = Instant::now();
    let mut c = Cadence::new(rules(0.0, false));
    c.add(id(1), start);
    let polls = run(&mut c, start, start + 300 * S, |_, at| Found {
        news: 5,
        next_due: Some(at + 7 * S),
        ..Found::default()
    });
    assert_eq!(
        times_of(&polls, 1),
        vec![Duration::ZERO, 60 * S, 120 * S, 180 * S, 240 * S]
    );
}

#[test]
fn a_proving_poll_takes_its_turn_by_time_among_overdue_scheduled_ones() {
    // The configured polls fill the budget, so polls come late: at 12 s salon 1's
    // scheduled poll (wanted at 10 s) and salon 2's proving poll (wanted at 5 s,
    // the due time of a notice its poll at 0 s found) are both overdue. The
    // proving one was wanted first, and it stands in for salon 2's next turn.
    let start = Instant::now();
    let mut c = Cadence::new(rules(0.0, true));
    c.add(id(1), start + 10 * S);
    c.add(id(2), start);
    c.began(id(2), start);
    c.polled(
        id(2),
        start,
        Found {
            next_due: Some(start + 5 * S),
            ..Found::default()
        },
    );
    let next = c.next(start + 12 * S).unwrap();
    assert_eq!((next.company, next.reason), (id(2), Reason::Proving));
    // Once it is polled, salon 1's overdue scheduled poll is next.
    c.began(id(2), start + 12 * S);
    c.polled(id(2), start + 12 * S, Found::default());
    let next = c.next(start + 13 * S).unwrap();
    assert_eq!((next.company, next.reason), (id(1), Reason::Scheduled));
}
