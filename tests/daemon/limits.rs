//! Limits operators ran into: failures before the first success, long outages,
//! a user without the right to read the company, a server that closes pooled
//! connections.

use std::time::Duration;

use booking_monitor::simulator::Fault;
use booking_monitor::store::{self, PollState, Status};
use serde_json::{json, Value};

use crate::helpers::*;

fn forbidden() -> Fault {
    Fault::Status {
        status: 403,
        body: json!({"success": false, "data": null, "meta": {"message": "Недостаточно прав"}})
            .to_string(),
        retry_after: None,
    }
}

/// Waits until the company's poll state satisfies `done` (the database has no
/// events to await: it looks every 20 ms until PATIENCE runs out).
async fn wait_for_poll_state(app: &TestApp, done: impl Fn(&PollState) -> bool) -> PollState {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let states = app.db.run(store::poll_states).await.unwrap();
        if let Some(state) = states.iter().find(|s| s.company_id == COMPANY && done(s)) {
            return state.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn polls_failing_before_the_first_success_show_in_status() {
    let mut app = prepare(Options::default()).await;
    app.sim.change(|w| {
        for _ in 0..4 {
            w.yclients_faults_for
                .push(("/api/v1/records/".into(), forbidden()));
        }
    });
    app.start().await;
    wait_for_poll_state(&app, |s| s.last_poll_error.is_some()).await;
    app.stop().await;

    let (code, text, stderr) = app.command(&["status"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let line = text
        .lines()
        .find(|l| l.contains(&COMPANY.to_string()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("last poll failing"), "{text}");
    assert!(text.contains("403"), "{text}");
    let (_, json_text, _) = app.command(&["status", "--json"]).await;
    let report: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(report["companies"][0]["last_poll"], json!("failing"));
    assert_eq!(report["companies"][0]["cursor"], Value::Null);

    // Once YClients lets it read, monitoring starts and bookings are confirmed.
    app.start().await;
    wait_for_poll_state(&app, |s| s.ever_succeeded() && s.last_poll_error.is_none()).await;
    let id = app.create(admin_booking("Право", "79167770001"));
    app.wait_for_status(id, Status::Sent).await;
}

#[actix_rt::test]
async fn polling_resumes_near_the_interval_after_a_long_outage() {
    const OUTAGE: usize = 8;
    let mut app = prepare(Options {
        poll_ms: 100,
        // Sends may wait ten minutes; polls must not.
        retry_max_ms: 600_000,
        ..Options::default()
    })
    .await;
    let server_error = Fault::Status {
        status: 500,
        body: "{}".into(),
        retry_after: None,
    };
    app.sim.change(|w| {
        for _ in 0..OUTAGE {
            w.yclients_faults_for
                .push(("/api/v1/records/".into(), server_error.clone()));
        }
    });
    app.start().await;
    app.sim
        .wait_for_polls(OUTAGE + 1, PATIENCE)
        .await
        .expect("polling resumed after the outage");
    let polls: Vec<_> = app
        .sim
        .world()
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/records/"))
        .cloned()
        .collect();
    assert!(polls[..OUTAGE].iter().all(|r| r.status == 500));
    assert_eq!(polls[OUTAGE].status, 200);
    // Doubling from 100 ms, the 8th failure alone would wait 12.8 s under the
    // 10-minute cap; the poll cap is the interval plus at most the interval
    // (200 ms here), ±20 % jitter.
    let gap = polls[OUTAGE].at - polls[OUTAGE - 1].at;
    assert!(gap < Duration::from_secs(1), "resumed after {gap:?}");
}

#[actix_rt::test]
async fn a_user_that_may_not_read_the_company_still_gets_it_polled() {
    let mut app = prepare(Options::default()).await;
    app.sim.change(|w| {
        // Every GET /company of this test; the daemon asks once and remembers.
        for _ in 0..3 {
            w.yclients_faults_for
                .push(("/api/v1/company/".into(), forbidden()));
        }
    });
    let (code, stdout, _) = app.command(&["check"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.contains(&format!("YClients company {COMPANY}")))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.starts_with("ok"), "{line}");
    assert!(
        line.contains("403") && line.contains("missing: name") && line.contains("address"),
        "{line}"
    );
    assert!(line.contains("Europe/Moscow"), "{line}");

    app.start().await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Без прав", "79167770002"));
    app.wait_for_status(id, Status::Sent).await;
    let warned = app.logs.count("does not let this user read the company");
    assert_eq!(warned, 1, "{:?}", app.logs.lines());
    let line = app
        .logs
        .lines()
        .into_iter()
        .find(|l| l.contains("does not let this user read the company"))
        .unwrap();
    assert!(
        line.contains("name") && line.contains("address") && line.contains("time zone"),
        "{line}"
    );
}

/// An HTTP/1.0 server that answers the first request of each connection with the
/// company (`HTTP/1.0 200 OK`, no keep-alive) and is done with the connection: a
/// second request on it gets no answer, only the close. That is the race a client
/// loses when it reuses a pooled connection whose close it has not seen yet, made
/// certain. Returns its address and how many connections it accepted.
fn http10_server() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let read_request = |stream: &mut std::net::TcpStream| {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            true
        };
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if !read_request(&mut stream) {
                continue;
            }
            let body = json!({"success": true, "data": {"title": "Салон", "address": "Москва",
                "timezone_name": "Europe/Moscow"}})
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            // Whatever comes next on this connection is not answered.
            read_request(&mut stream);
        }
    });
    (addr, accepted)
}

#[actix_rt::test]
async fn requests_to_a_server_that_closes_each_connection_all_succeed() {
    use booking_monitor::config::Config;
    use booking_monitor::domain::CompanyId;
    use booking_monitor::http_client::TlsRoots;
    use booking_monitor::yclients::{RateLimiter, YClients};
    let (addr, accepted) = http10_server();
    let config = Config::parse(
        &format!(
            "[database]\nurl = \"sqlite://unused.db\"\n[yclients]\nbase_url = \"http://{addr}\"\n\
             partner_token = \"p\"\nuser_token = \"u\"\nmax_requests_per_second = 1000\n\
             max_requests_per_minute = 100000\n[[companies]]\nid = 1\n[whatsapp]\nprovider = \"log\"\n"
        ),
        &|_| None,
    )
    .unwrap();
    let tls = TlsRoots::load(None).unwrap();
    let limiter = std::sync::Arc::new(RateLimiter::new(1000, 100_000));
    let yclients = YClients::new(&config.yclients, &tls, limiter);
    let mut failures = Vec::new();
    for _ in 0..30 {
        if let Err(e) = yclients.company(CompanyId(1)).await {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 30 failed: {failures:?}",
        failures.len()
    );
    // Each request had its own connection in the end.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 30);
}
