//! Tokens never reach a log line; phones are masked (`7916***4567`).

use std::time::Duration;

use booking_monitor::simulator::Fault;
use booking_monitor::store::Status;
use serde_json::json;

use crate::helpers::*;

const SECRETS: [&str; 3] = ["test-partner-token", "test-user-token", "test-access-token"];

/// A run that logs as much as it can: refusals, failures, retries, sends.
async fn eventful_run(format: &str) -> String {
    let app = prepare(Options {
        extra: format!("[log]\nlevel = \"debug\"\nformat = \"{format}\"\n"),
        ..Options::default()
    })
    .await;
    app.sim.change(|w| {
        w.yclients_faults.push_back(Fault::Status {
            status: 401,
            body: json!({"errors": {"code": 401, "message": "Необходима авторизация"}}).to_string(),
            retry_after: None,
        });
        w.whatsapp_faults.push_back(Fault::Status {
            status: 401,
            body: json!({"error": {"message": "Session has expired", "code": 190}}).to_string(),
            retry_after: None,
        });
        w.whatsapp_faults.push_back(Fault::Status {
            status: 500,
            body: "{}".into(),
            retry_after: None,
        });
    });
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    let sent = app.create(admin_booking("Секрет", "79167770001"));
    let skipped = app.create(booking_monitor::simulator::Booking {
        online: true,
        ..admin_booking("Онлайн", "79167770002")
    });
    app.wait_for_status(sent, Status::Sent).await;
    app.wait_for_status(skipped, Status::Skipped).await;
    daemon.signal("TERM");
    assert_eq!(daemon.wait_exit(Duration::from_secs(5)).await, Some(0));
    daemon.log()
}

fn assert_clean(log: &str) {
    for secret in SECRETS {
        assert!(!log.contains(secret), "{secret} leaked:\n{log}");
    }
    for phone in ["79167770001", "9167770001"] {
        assert!(!log.contains(phone), "a phone leaked:\n{log}");
    }
    assert!(
        log.contains("7916***0001"),
        "the masked phone is missing:\n{log}"
    );
}

#[actix_rt::test]
async fn terminal_logs_carry_no_token_and_no_whole_phone() {
    assert_clean(&eventful_run("term").await);
}

#[actix_rt::test]
async fn json_logs_carry_no_token_and_no_whole_phone() {
    let log = eventful_run("json").await;
    assert_clean(&log);
    for line in log.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value.get("msg").is_some(), "{line}");
    }
}

#[test]
fn debug_output_of_the_config_hides_every_token() {
    let text = "[database]\nurl = \"sqlite://x.db\"\n[yclients]\npartner_token = \"test-partner-token\"\n\
                user_token = \"test-user-token\"\n[[companies]]\nid = 1\n[whatsapp]\nprovider = \"cloud_api\"\n\
                [whatsapp.cloud_api]\nphone_number_id = \"1\"\naccess_token = \"test-access-token\"\n";
    let config = booking_monitor::config::Config::parse(text, &|_| None).unwrap();
    let debug = format!("{config:?}");
    for secret in SECRETS {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
}
