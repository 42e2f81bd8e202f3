//! The configs we ship (`config.toml`, the one `deploy/install.sh` installs, the
//! container's) pass their own `check` without a warning once their secrets are
//! given; the examples' placeholders are refused, naming the key or the variable.

use std::path::Path;

use booking_monitor::simulator::Simulator;
use toml::{Table, Value};

const BIN: &str = env!("CARGO_BIN_EXE_booking-monitor");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const SHIPPED: [&str; 3] = [
    "config.toml",
    "deploy/config.production.toml",
    "deploy/config.compose.toml",
];
/// What an operator puts in the environment (the env file, deploy/.env).
const SECRETS: [(&str, &str); 4] = [
    ("YCLIENTS_PARTNER_TOKEN", "partner-token-from-the-env-file"),
    ("YCLIENTS_USER_TOKEN", "user-token-from-the-env-file"),
    ("WHATSAPP_ACCESS_TOKEN", "access-token-from-the-env-file"),
    ("BOOKING_MONITOR_HTTP_TOKEN", "http-token-from-the-env-file"),
];

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{ROOT}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `shipped` as written, but talking to the simulator (which knows its salons).
fn pointed_at(sim: &Simulator, shipped: &str) -> String {
    let mut config: Table = toml::from_str(&read(shipped)).unwrap();
    let table = |config: &mut Table, key: &str| -> Table {
        config
            .get(key)
            .and_then(Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    let mut yclients = table(&mut config, "yclients");
    yclients.insert("base_url".into(), Value::String(sim.base_url()));
    config.insert("yclients".into(), Value::Table(yclients));
    let mut whatsapp = table(&mut config, "whatsapp");
    let mut cloud = whatsapp
        .get("cloud_api")
        .and_then(Value::as_table)
        .cloned()
        .unwrap_or_default();
    cloud.insert("base_url".into(), Value::String(sim.cloud_api_url()));
    whatsapp.insert("cloud_api".into(), Value::Table(cloud));
    config.insert("whatsapp".into(), Value::Table(whatsapp));
    for company in config["companies"].as_array().unwrap() {
        let id = company["id"].as_integer().unwrap();
        sim.add_company(
            id,
            &format!("Салон {id}"),
            "Москва, Тверская, 1",
            "Europe/Moscow",
        );
    }
    toml::to_string(&config).unwrap()
}

/// The binary's `command` with `config` and `env`; (exit code, stdout, stderr).
/// Off the test's thread: the simulator answers on it.
async fn run(
    command: &str,
    config: String,
    env: Vec<(String, String)>,
) -> (Option<i32>, String, String) {
    let command = command.to_string();
    let out = actix_rt::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).unwrap();
        std::process::Command::new(BIN)
            .args([command.as_str(), "--config"])
            .arg(&path)
            .current_dir(dir.path())
            .env_clear()
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn secrets() -> Vec<(String, String)> {
    SECRETS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[actix_rt::test]
async fn each_shipped_config_passes_its_own_check_without_a_warning_once_its_secrets_are_given() {
    let sim = Simulator::start().await.unwrap();
    for shipped in SHIPPED {
        let (code, stdout, stderr) = run("check", pointed_at(&sim, shipped), secrets()).await;
        assert_eq!(code, Some(0), "{shipped}: {stdout}{stderr}");
        assert!(stdout.contains("All checks passed."), "{shipped}: {stdout}");
        assert!(
            !stdout.contains("WARN") && !stdout.contains("FAIL"),
            "{shipped}: {stdout}"
        );
    }
    sim.stop().await;
}

#[actix_rt::test]
async fn the_examples_placeholders_are_refused_by_key_and_by_variable() {
    let sim = Simulator::start().await.unwrap();
    let production = pointed_at(&sim, "deploy/config.production.toml");
    // In the file: the placeholders an older config.toml shipped.
    for (key, placeholder) in [
        ("partner_token", "your-partner-token"),
        ("user_token", "your-user-token"),
    ] {
        let config = production.replace(
            "[yclients]\n",
            &format!("[yclients]\n{key} = \"{placeholder}\"\n"),
        );
        let (code, _, stderr) = run("check", config, secrets()).await;
        assert_eq!(code, Some(2), "{key}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "yclients.{key}: \"{placeholder}\" is an example's placeholder"
            )),
            "{stderr}"
        );
    }
    // In the environment: every value deploy/compose.env.example ships for a
    // variable the daemon reads.
    let reference = read("docs/configuration.md");
    let mut tried = 0;
    for line in read("deploy/compose.env.example").lines() {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        if value.is_empty() || line.starts_with('#') || !reference.contains(&format!("`{name}`")) {
            continue;
        }
        let mut env = secrets();
        env.retain(|(k, _)| *k != name);
        env.push((name.to_string(), value.to_string()));
        let (code, _, stderr) = run("check", production.clone(), env).await;
        assert_eq!(code, Some(2), "{name}={value}: {stderr}");
        assert!(
            stderr.contains(&format!("{name}: \"{value}\" is an example's placeholder")),
            "{stderr}"
        );
        tried += 1;
    }
    assert!(
        tried >= 1,
        "compose.env.example ships no placeholder the daemon reads"
    );
    assert!(Path::new(ROOT).join("deploy/compose.env.example").exists());
    sim.stop().await;
}
