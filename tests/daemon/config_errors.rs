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
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&path)
        .current_dir(dir.path())
        .env_remove("YCLIENTS_USER_TOKEN")
        .env_remove("YCLIENTS_PARTNER_TOKEN")
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
    ];
    for (config, key) in cases {
        let (code, stderr) = run_with(&config);
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "expected {key} in: {stderr}");
    }
}

#[test]
fn a_missing_config_file_exits_2() {
    let out = Command::new(BIN)
        .args(["run", "--config", "/nonexistent/config.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/config.toml"));
}
