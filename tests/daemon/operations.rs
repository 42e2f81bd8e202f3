//! Running it like a product: check, status, bot records, health, metrics, the page.

use booking_monitor::simulator::{Booking, Fault};
use booking_monitor::store::Status;
use serde_json::{json, Value};

use crate::helpers::*;

fn with_http() -> Options {
    Options {
        extra: HTTP.into(),
        ..Options::default()
    }
}

#[actix_rt::test]
async fn check_passes_against_healthy_apis() {
    let app = prepare(Options::default()).await;
    let (code, stdout, _) = app.command(&["check"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("ok    config: 1 company, provider cloud_api"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("ok    YClients company {COMPANY}")),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("ok    WhatsApp, the global sender (cloud_api), for salon 4564: the sender"),
        "{stdout}"
    );
    assert!(stdout.contains("All checks passed."), "{stdout}");
}

#[actix_rt::test]
async fn check_explains_a_403_and_fails() {
    let app = prepare(Options::default()).await;
    let forbidden =
        json!({"success": false, "data": null, "meta": {"message": "Недостаточно прав"}})
            .to_string();
    app.sim.change(|w| {
        w.yclients_faults_for.push((
            "/api/v1/records/".into(),
            Fault::Status {
                status: 403,
                body: forbidden,
                retry_after: None,
            },
        ))
    });
    let (code, stdout, stderr) = app.command(&["check"]).await;
    assert_ne!(code, Some(0), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("403") && line.contains("Недостаточно прав"),
        "{line}"
    );
    assert!(line.contains("right to read records"), "{line}");
    for secret in ["test-partner-token", "test-user-token", "test-access-token"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked"
        );
    }
}

#[actix_rt::test]
async fn status_shows_a_skipped_booking_with_its_reason_and_no_whole_phone() {
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    let online = app.create(Booking {
        online: true,
        ..admin_booking("Онлайн", "79168880001")
    });
    let sent = app.create(admin_booking("Админ", "79168880002"));
    app.wait_for_status(online, Status::Skipped).await;
    app.wait_for_status(sent, Status::Sent).await;

    let (code, text, _) = app.command(&["status"]).await;
    assert_eq!(code, Some(0), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains(&online.to_string()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("skipped") && line.contains("online_booking"),
        "{line}"
    );
    assert!(text.contains("7916***0002"), "{text}");
    assert!(
        text.lines().all(|l| l == l.trim_end()),
        "trailing spaces: {text:?}"
    );
    assert!(
        !text.contains("79168880001") && !text.contains("79168880002"),
        "{text}"
    );

    let (code, json_text, _) = app.command(&["status", "--json"]).await;
    assert_eq!(code, Some(0));
    let report: Value = serde_json::from_str(&json_text).unwrap();
    assert_eq!(report["notifications"]["sent"], json!(1));
    assert_eq!(report["notifications"]["skipped"], json!(1));
    assert_eq!(report["companies"][0]["last_poll"], json!("ok"));
    let skipped = report["recent"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["record_id"] == json!(online))
        .unwrap();
    assert_eq!(skipped["reason"], json!("online_booking"));
    assert_eq!(skipped["phone"], Value::Null);
    assert!(!json_text.contains("79168880002"));
}

/// Checks the Prometheus text format line by line; returns the samples.
pub(crate) fn parse_prometheus(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    let mut typed = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            assert!(
                matches!(parts.next(), Some("counter" | "gauge" | "histogram")),
                "{line}"
            );
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "bad name: {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                assert!(
                    labels.starts_with('{') && labels.ends_with('}'),
                    "bad labels: {line}"
                );
                for pair in labels[1..labels.len() - 1].split(',') {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(
                        !k.is_empty() && v.starts_with('"') && v.ends_with('"'),
                        "bad label: {line}"
                    );
                }
            }
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        assert!(
            typed.contains(name) || typed.contains(family),
            "no TYPE for {name}"
        );
        samples.push((series.to_string(), value));
    }
    samples
}

pub(crate) fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples
        .iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| *v)
        .unwrap_or(0.0)
}

#[actix_rt::test]
async fn metrics_parse_and_move_when_a_booking_is_sent() {
    let app = spawn_app_with(with_http()).await;
    app.wait_until_monitoring().await;
    let (status, before) = get(&format!("{}/metrics", app.http_url())).await;
    assert_eq!(status, 200);
    let before = parse_prometheus(&before);
    let id = app.create(admin_booking("Метрика", "79168880003"));
    app.wait_for_status(id, Status::Sent).await;
    let (_, after) = get(&format!("{}/metrics", app.http_url())).await;
    let after = parse_prometheus(&after);

    let polls = format!(
        "booking_monitor_polls_total{{company_id=\"{COMPANY}\",outcome=\"ok\",reason=\"scheduled\"}}"
    );
    assert!(sample(&after, &polls) > sample(&before, &polls));
    assert_eq!(
        sample(
            &after,
            "booking_monitor_notifications{kind=\"created\",status=\"sent\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "booking_monitor_sends_total{kind=\"created\",outcome=\"sent\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "booking_monitor_lateness_seconds_count{kind=\"created\"}"
        ),
        1.0
    );
    assert!(
        sample(&after, "booking_monitor_yclients_requests_total")
            > sample(&before, "booking_monitor_yclients_requests_total")
    );
    assert!(after
        .iter()
        .any(|(s, _)| s == "booking_monitor_actor_restarts_total"));
}

#[actix_rt::test]
async fn readyz_turns_503_when_yclients_fails_and_200_when_it_recovers() {
    let app = spawn_app_with(with_http()).await;
    app.wait_until_monitoring().await;
    let url = format!("{}/readyz", app.http_url());
    assert_eq!(get(&url).await.0, 200);
    assert_eq!(get(&format!("{}/healthz", app.http_url())).await.0, 200);

    app.sim.change(|w| {
        for _ in 0..3 {
            w.yclients_faults.push_back(Fault::Status {
                status: 500,
                body: "{}".into(),
                retry_after: None,
            });
        }
    });
    app.sim
        .wait_until(PATIENCE, |w| w.yclients_faults.is_empty().then_some(()))
        .await
        .unwrap();
    let (status, body) = get(&url).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("last poll failed") && body.contains("500"),
        "{body}"
    );

    app.wait_for_more_polls(2).await;
    let (status, body) = get(&url).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_rt::test]
async fn a_bot_record_registered_over_http_gets_no_notification() {
    let app = spawn_app_with(Options {
        delay_ms: 1_500,
        ..with_http()
    })
    .await;
    app.wait_until_monitoring().await;
    let bot = app.create(admin_booking("Бот", "79168880004"));
    let control = app.create(admin_booking("Админ", "79168880005"));
    let client = awc::Client::new();
    let response = client
        .post(format!("{}/bot-records", app.http_url()))
        .insert_header(("Authorization", "Bearer test-http-token"))
        .send_json(&json!({"company_id": COMPANY, "record_id": bot}))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    app.wait_for_status(control, Status::Sent).await;
    let row = app.wait_for_status(bot, Status::Skipped).await;
    assert_eq!(row.last_error.as_deref(), Some("bot_booking"));
    assert_eq!(app.sim.world().messages.len(), 1);

    let response = client
        .delete(format!("{}/bot-records", app.http_url()))
        .insert_header(("Authorization", "Bearer test-http-token"))
        .send_json(&json!({"company_id": COMPANY, "record_id": bot}))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[actix_rt::test]
async fn bot_records_without_the_token_get_401() {
    let app = spawn_app_with(with_http()).await;
    let client = awc::Client::new();
    let body = json!({"company_id": COMPANY, "record_id": 1});
    let url = format!("{}/bot-records", app.http_url());
    let none = client.post(&url).send_json(&body).await.unwrap();
    let wrong = client
        .post(&url)
        .insert_header(("Authorization", "Bearer nope"))
        .send_json(&body)
        .await
        .unwrap();
    let delete = client.delete(&url).send_json(&body).await.unwrap();
    assert_eq!(
        (
            none.status().as_u16(),
            wrong.status().as_u16(),
            delete.status().as_u16()
        ),
        (401, 401, 401)
    );
    let rows = app
        .db
        .run(|c| {
            booking_monitor::store::is_bot_record(
                c,
                booking_monitor::domain::CompanyId(COMPANY),
                booking_monitor::domain::RecordId(1),
            )
        })
        .await
        .unwrap();
    assert!(!rows);
}

#[actix_rt::test]
async fn bot_record_cli_registers_and_forgets() {
    let app = prepare(Options::default()).await;
    let (code, out, _) = app
        .command(&["bot-record", "add", &COMPANY.to_string(), "77"])
        .await;
    assert_eq!((code, out.trim()), (Some(0), "registered"));
    let (_, out, _) = app
        .command(&["bot-record", "add", &COMPANY.to_string(), "77"])
        .await;
    assert_eq!(out.trim(), "already registered");
    let (code, out, _) = app
        .command(&["bot-record", "remove", &COMPANY.to_string(), "77"])
        .await;
    assert_eq!((code, out.trim()), (Some(0), "removed"));
}

#[actix_rt::test]
async fn the_status_page_tells_the_staff_in_russian() {
    let mut app = prepare(with_http()).await;
    // The salon's name as YClients gives it, which the page shows rather than its id.
    app.sim.add_company(
        COMPANY,
        "Барбершоп «Борода»",
        "Москва, ул. Пушкина, 10",
        "Europe/Moscow",
    );
    app.start().await;
    app.wait_until_monitoring().await;
    let online = app.create(Booking {
        online: true,
        ..admin_booking("Ольга", "79168880006")
    });
    let sent = app.create(admin_booking("Иван", "79168880007"));
    app.wait_for_status(online, Status::Skipped).await;
    app.wait_for_status(sent, Status::Sent).await;
    let (status, html) = get(&format!("{}/", app.http_url())).await;
    assert_eq!(status, 200);
    assert!(html.contains("<meta http-equiv=\"refresh\""), "{html}");
    assert!(
        html.contains("Барбершоп «Борода»: <span class=\"ok\">записи читаются"),
        "{html}"
    );
    let day = visit(1, 14, 0).format("%-d").to_string();
    assert!(
        html.contains(&format!("Иван, {day} "))
            && html.contains("14:00: <span class=\"ok\">отправлено"),
        "{html}"
    );
    assert!(
        html.contains("Ольга") && html.contains("пропущено: онлайн-запись"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(!html.contains("79168880007"));
}

#[actix_rt::test]
async fn a_disabled_monitor_polls_nothing_and_is_not_ready() {
    let app = prepare(with_http()).await;
    let text = app
        .config_text()
        .replace("[monitor]\n", "[monitor]\nenabled = false\n");
    let config = booking_monitor::config::Config::parse(&text, &|_| None).unwrap();
    let daemon = booking_monitor::daemon::Daemon::start(
        config,
        app.db.clone(),
        booking_monitor::logging::discard(),
    )
    .unwrap();
    let url = format!("http://{}/readyz", daemon.http_addr().unwrap());
    let (status, body) = get(&url).await;
    assert_eq!(status, 503);
    assert!(body.contains("monitoring is disabled"), "{body}");
    // "Nothing happens" has no event to await: give it three poll intervals.
    tokio::time::sleep(std::time::Duration::from_millis(3 * app.options.poll_ms)).await;
    assert_eq!(app.sim.world().requests.len(), 0);
    daemon.shutdown().await;
}

/// The page in a real browser: Debian's Chromium, headless, which `.ci/run` installs.
/// Without Chromium the build script leaves `cfg(chromium)` off and the test shows
/// as ignored; under CI (`CI` set) it always runs, and fails if Chromium is missing.
#[actix_rt::test]
#[cfg_attr(
    not(chromium),
    ignore = "needs chromium (/usr/bin/chromium); .ci/run installs it"
)]
async fn the_status_page_renders_in_headless_chromium() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromium is not installed: CI must install it (see .ci/run)");
    let app = spawn_app_with(with_http()).await;
    app.wait_until_monitoring().await;
    let sent = app.create(admin_booking("Браузер", "79168880008"));
    app.wait_for_status(sent, Status::Sent).await;
    let url = format!("{}/", app.http_url());
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--dump-dom",
    ];
    let profile_arg = format!("--user-data-dir={}", profile.path().display());
    let chromium = chromium.to_string();
    let out = actix_rt::task::spawn_blocking(move || {
        std::process::Command::new(chromium)
            .args(args)
            .arg(profile_arg)
            .arg(url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dom.contains("<title>Подтверждения записей</title>"),
        "{dom}"
    );
    assert!(
        dom.contains("Браузер, ") && dom.contains("отправлено"),
        "{dom}"
    );
}
