//! The binary refuses a bad config with exit code 2 and names the key.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_booking-monitor");

const GOOD: &str = r#"
[database]
url = "sqlite://never-opened.db"
[yclients]
partner_token = "p"
user_token = "u"
[[companies]]
id = 1
[whatsapp]
provider = "log"
"#;

fn run_with(config: &str) -> (Option<i32>, String) {
    run_with_env(config, &[])
}

fn run_with_env(config: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    command_with("run", config, env)
}

/// `command` (`run`, `migrate`…) with `config`; (exit code, stderr). A command
/// that ends by itself is used where a config the fix refuses would otherwise run.
fn command_with(command: &str, config: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .args([command, "--config"])
        .arg(&path)
        .current_dir(dir.path())
        .env_remove("YCLIENTS_USER_TOKEN")
        .env_remove("YCLIENTS_PARTNER_TOKEN")
        .env_remove("BOOKING_MONITOR_INTERVAL")
        .env_remove("WHATSAPP_ACCESS_TOKEN")
        .env_remove("BOOKING_MONITOR_HTTP_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_bad_config_exits_2_naming_the_key() {
    // The binary's side of it: exit code 2 and the key on stderr. Every key, wrong
    // in turn, is covered by the config module's own tests.
    let cases = [
        (
            GOOD.replace("user_token = \"u\"", ""),
            "yclients.user_token",
        ),
        (
            GOOD.replace("[whatsapp]", "[monitor]\npoll_interval_ms = 0\n[whatsapp]"),
            "monitor.poll_interval_ms",
        ),
        ("this is = not [toml".to_string(), "config file"),
        (
            GOOD.replace("id = 1", "id = 1\ntimezone = \"Mars/Olympus\""),
            "companies[0].timezone: unknown time zone",
        ),
        (
            format!("{GOOD}[log]\nlevel = \"loud\"\n"),
            "log.level: expected trace",
        ),
        // In words, not Rust's (`expected u64`, `expected i64`).
        (
            GOOD.replace("[whatsapp]", "[monitor]\npoll_interval_ms = -1000\n[whatsapp]"),
            "monitor.poll_interval_ms: expected a whole number of milliseconds, 1 or more, got -1000",
        ),
        (
            GOOD.replace("id = 1", "id = \"abc\""),
            "companies[0].id: expected a whole number (an id), got \"abc\"",
        ),
    ];
    for (config, key) in cases {
        let (code, stderr) = run_with(&config);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "expected {key} in: {stderr}");
    }
}

#[test]
fn a_missing_config_file_exits_2_and_says_what_to_do() {
    let out = Command::new(BIN)
        .args(["run", "--config", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        "booking-monitor: no config file at /nonexistent/config.toml: \
         copy config.toml from the repository or pass --config PATH"
    );
}

#[test]
fn a_toml_error_shows_the_offending_line_with_its_marker() {
    let (code, stderr) = run_with("[database]\nurl = \"sqlite://x.db\"\nthis is = not [toml\n");
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[0].contains("at line 3, column 6"), "{stderr}");
    assert_eq!(lines[1], "  3 | this is = not [toml", "{stderr}");
    // The marker sits under the column it names.
    assert_eq!(lines[2], "    |      ^", "{stderr}");
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let (code, stderr) = run_with_env(GOOD, &[("BOOKING_MONITOR_INTERVAL", "0")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("BOOKING_MONITOR_INTERVAL: must be greater than 0"),
        "{stderr}"
    );
}

#[test]
fn four_missing_secrets_are_reported_in_one_run() {
    // The production config before its env file is filled in: one run names all four.
    let config = GOOD
        .replace("partner_token = \"p\"\n", "")
        .replace("user_token = \"u\"\n", "")
        .replace(
            "provider = \"log\"",
            "provider = \"cloud_api\"\n[whatsapp.cloud_api]\nphone_number_id = \"1\"\n\
             [http]\nlisten = \"127.0.0.1:9187\"",
        );
    let (code, stderr) = run_with(&config);
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("booking-monitor: bad config ") && lines[0].ends_with(": 4 problems:"),
        "{stderr}"
    );
    let keys = [
        ("yclients.partner_token", "YCLIENTS_PARTNER_TOKEN"),
        ("yclients.user_token", "YCLIENTS_USER_TOKEN"),
        ("whatsapp.cloud_api.access_token", "WHATSAPP_ACCESS_TOKEN"),
        ("http.token", "BOOKING_MONITOR_HTTP_TOKEN"),
    ];
    for ((key, var), line) in keys.iter().zip(&lines[1..]) {
        assert!(
            line.starts_with(&format!("  {key}: missing")) && line.contains(var),
            "{key} in: {stderr}"
        );
    }
    assert_eq!(lines.len(), 5, "{stderr}");
}

/// A text clients get may not be empty or only spaces: it would go out as an empty
/// message. Each is refused by its key, wherever it is.
#[test]
fn empty_texts_exit_2_naming_the_key() {
    let cases = [
        (
            format!("{GOOD}[messages]\nbooking_created = \"\"\n"),
            "messages.booking_created: empty",
        ),
        (
            format!("{GOOD}[messages]\nreply_confirmed = \"  \\n \"\n"),
            "messages.reply_confirmed: empty",
        ),
        (
            format!("{GOOD}[sms]\nreminder_day_before = \" \"\n"),
            "sms.reminder_day_before: empty",
        ),
        (
            GOOD.replace(
                "id = 1",
                "id = 1\n[companies.messages]\nbooking_changed = \"\"",
            ),
            "companies[0].messages.booking_changed: empty",
        ),
        (
            GOOD.replace(
                "id = 1",
                "id = 1\n[companies.sms]\nbooking_created = \"\t\"",
            ),
            "companies[0].sms.booking_created: empty",
        ),
    ];
    for (config, key) in cases {
        let (code, stderr) = command_with("migrate", &config, &[]);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "expected {key} in: {stderr}");
    }
}
