use super::*;

#[tokio::test(start_paused = true)]
async fn never_lets_more_than_the_limit_into_one_second() {
    let limiter = RateLimiter::new(5, 200);
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..23 {
        limiter.acquire().await;
        times.push(Instant::now() - start);
    }
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| **u - *t < SECOND).count();
        assert!(
            in_window <= 5,
            "{in_window} requests within a second of {t:?}"
        );
    }
    assert!(limiter.waits() > 0);
}

#[tokio::test(start_paused = true)]
async fn keeps_to_the_minute_limit() {
    let limiter = RateLimiter::new(1000, 10);
    let start = Instant::now();
    for _ in 0..11 {
        limiter.acquire().await;
    }
    assert!(Instant::now() - start >= MINUTE);
}

#[tokio::test(start_paused = true)]
async fn a_spare_slot_is_taken_only_below_half_the_minutes_budget() {
    let limiter = RateLimiter::new(1000, 10);
    let taken = (0..10).filter(|_| limiter.try_take_spare()).count();
    assert_eq!(taken, 5, "half of 10, however many ask at once");
    assert_eq!(limiter.requests(), 5);
    tokio::time::advance(MINUTE).await;
    assert!(limiter.try_take_spare(), "the minute has passed");
    limiter.pause_for(Duration::from_secs(5));
    assert!(!limiter.try_take_spare(), "paused by a 429");
}

#[tokio::test(start_paused = true)]
async fn writes_leave_the_polls_their_room_and_keep_a_quarter() {
    let limiter = RateLimiter::new(1000, 20);
    limiter.keep_for_polls(12);
    let taken = (0..20)
        .filter(|_| limiter.try_take_for_write(1).is_ok())
        .count();
    assert_eq!(taken, 8, "20 less the polls' 12");
    for _ in 0..12 {
        limiter.acquire().await;
    }
    assert_eq!(limiter.requests(), 20);

    tokio::time::advance(MINUTE).await;
    limiter.keep_for_polls(40);
    let taken = (0..20)
        .filter(|_| limiter.try_take_for_write(1).is_ok())
        .count();
    assert_eq!(
        taken, 5,
        "polls that fill the budget still leave writes a quarter"
    );
    let wait = limiter.try_take_for_write(1).unwrap_err();
    assert!(wait > Duration::ZERO && wait <= MINUTE, "{wait:?}");
    tokio::time::advance(wait).await;
    assert!(
        limiter.try_take_for_write(1).is_ok(),
        "asked again when told"
    );
}

#[tokio::test(start_paused = true)]
async fn a_write_waits_for_the_seconds_limit_without_sleeping() {
    let limiter = RateLimiter::new(2, 200);
    assert!(limiter.try_take_for_write(1).is_ok());
    assert!(limiter.try_take_for_write(1).is_ok());
    let wait = limiter.try_take_for_write(1).unwrap_err();
    assert!(wait <= SECOND, "{wait:?}");
}

#[tokio::test(start_paused = true)]
async fn a_reread_and_its_write_take_their_two_slots_together_or_none() {
    let limiter = RateLimiter::new(5, 200);
    for _ in 0..4 {
        limiter.acquire().await;
    }
    let wait = limiter.try_take_for_write(2).unwrap_err();
    assert!(wait > Duration::ZERO && wait <= SECOND, "{wait:?}");
    assert_eq!(limiter.requests(), 4, "none taken");
    tokio::time::advance(wait).await;
    assert!(
        limiter.try_take_for_write(2).is_ok(),
        "both once two are free"
    );
    assert_eq!(limiter.requests(), 6);
}

#[tokio::test(start_paused = true)]
async fn polls_queued_at_the_limiter_leave_a_waiting_write_its_slot() {
    let limiter = std::sync::Arc::new(RateLimiter::new(5, 200));
    // A poller that wants more than the limit: it wakes the moment a slot frees.
    let poller = limiter.clone();
    let polling = tokio::spawn(async move {
        loop {
            poller.acquire().await;
        }
    });
    tokio::time::advance(Duration::from_millis(10)).await;
    let mut tries = 0;
    loop {
        tries += 1;
        match limiter.try_take_for_write(1) {
            Ok(()) => break,
            // The row comes back a little after the time it was given.
            Err(wait) => tokio::time::sleep(wait + Duration::from_millis(20)).await,
        }
        assert!(tries < 5, "the write never got a slot");
    }
    polling.abort();
}

/// The throughput bench's burst: four salons polled every 2 s (a poll asks when
/// due, waits its turn, and the next is due an interval after it began), then a
/// thousand write-backs at once, each row told when to come back and returning
/// a few milliseconds after. No salon may go long without its poll.
#[tokio::test(start_paused = true)]
async fn polls_keep_their_turn_while_writes_queue() {
    let limiter = std::sync::Arc::new(RateLimiter::new(5, 200));
    let interval = Duration::from_secs(2);
    limiter.keep_for_polls(4 * 30);
    let poller = limiter.clone();
    let polls = std::sync::Arc::new(Mutex::new(Vec::new()));
    let polled = polls.clone();
    let polling = tokio::spawn(async move {
        let step = interval / 4;
        let mut due: Vec<Instant> = (0..4).map(|i| Instant::now() + step * i).collect();
        loop {
            let (salon, at) = due
                .iter()
                .copied()
                .enumerate()
                .min_by_key(|(_, t)| *t)
                .unwrap();
            tokio::time::sleep_until(at).await;
            let began = Instant::now();
            poller.acquire().await;
            polled.lock().unwrap().push((salon, Instant::now()));
            due[salon] = began + interval;
        }
    });
    // A minute of polls alone: the minute's window holds what they take.
    tokio::time::sleep(MINUTE).await;
    let burst = Instant::now();
    let written = std::sync::Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..1000)
        .map(|_| {
            let (limiter, written) = (limiter.clone(), written.clone());
            tokio::spawn(async move {
                while let Err(wait) = limiter.try_take_for_write(1) {
                    tokio::time::sleep(wait + Duration::from_millis(5)).await;
                }
                written.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(30)).await;
    polling.abort();
    for w in writers {
        w.abort();
    }
    let polls = polls.lock().unwrap();
    let mut longest = Duration::ZERO;
    for salon in 0..4 {
        let times: Vec<Instant> = polls
            .iter()
            .filter(|(s, t)| *s == salon && *t >= burst - interval)
            .map(|(_, t)| *t)
            .collect();
        for pair in times.windows(2) {
            longest = longest.max(pair[1] - pair[0]);
        }
    }
    assert!(
        longest <= interval * 3 / 2,
        "a salon went {longest:?} without a poll while the writes queued"
    );
    // Writes go on beside the polls: a quarter of the minute's budget at least.
    let written = written.load(Ordering::Relaxed);
    assert!(written >= 40, "{written} writes in 30 s");
}

#[tokio::test(start_paused = true)]
async fn the_budget_in_use_counts_the_last_minute_only() {
    let limiter = RateLimiter::new(1000, 20);
    assert_eq!(limiter.budget_in_use(), 0.0);
    for _ in 0..5 {
        limiter.acquire().await;
    }
    tokio::time::advance(MINUTE / 2).await;
    for _ in 0..10 {
        limiter.acquire().await;
    }
    assert_eq!(limiter.budget_in_use(), 0.75);
    tokio::time::advance(MINUTE / 2).await;
    assert_eq!(
        limiter.budget_in_use(),
        0.5,
        "the first five left the window"
    );
    tokio::time::advance(MINUTE).await;
    assert_eq!(limiter.budget_in_use(), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_pause_holds_requests_back() {
    let limiter = RateLimiter::new(5, 200);
    limiter.pause_for(Duration::from_secs(7));
    let start = Instant::now();
    limiter.acquire().await;
    assert!(Instant::now() - start >= Duration::from_secs(7));
}
