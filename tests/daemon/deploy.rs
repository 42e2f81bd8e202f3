//! deploy/install.sh, run against a scratch root: every file the unit and the
//! production config need, with its mode.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use booking_monitor::config::{Config, DatabaseLocation};

fn install(root: &Path) -> String {
    let out = Command::new("sh")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/install.sh"))
        .arg("--no-users")
        .env("DESTDIR", root)
        .env("BIN", env!("CARGO_BIN_EXE_booking-monitor"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn install_sh_lays_out_what_the_unit_and_the_config_name() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let stdout = install(root);
    let expected = [
        ("usr/local/bin/booking-monitor", 0o755),
        ("etc/booking-monitor", 0o750),
        ("etc/booking-monitor/config.toml", 0o640),
        ("etc/booking-monitor/env", 0o600),
        ("var/lib/booking-monitor", 0o700),
        ("etc/systemd/system/booking-monitor.service", 0o644),
    ];
    for (path, want) in expected {
        assert_eq!(mode(&root.join(path)), want, "{path}");
    }
    // What the unit names exists in the root.
    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/booking-monitor.service")).unwrap();
    for line in unit.lines().filter(|l| !l.starts_with('#')) {
        for key in ["ExecStart=", "WorkingDirectory=", "ReadWritePaths="] {
            if let Some(value) = line.strip_prefix(key) {
                let path = value.split_whitespace().next().unwrap();
                assert!(root.join(&path[1..]).exists(), "{line}");
            }
        }
        if let Some(config) = line
            .strip_prefix("ExecStart=")
            .and_then(|l| l.split_once("--config ").map(|(_, c)| c.trim().to_string()))
        {
            assert!(root.join(&config[1..]).exists(), "{line}");
        }
    }
    // The installed config is valid once the env file has the tokens, and its
    // database lives in the data directory.
    let text = std::fs::read_to_string(root.join("etc/booking-monitor/config.toml")).unwrap();
    let env = |name: &str| {
        [
            "YCLIENTS_PARTNER_TOKEN",
            "YCLIENTS_USER_TOKEN",
            "WHATSAPP_ACCESS_TOKEN",
            "BOOKING_MONITOR_HTTP_TOKEN",
        ]
        .contains(&name)
        .then(|| "token".to_string())
    };
    let config = Config::parse(&text, &env).expect("the production config with its tokens");
    let DatabaseLocation::Sqlite(db) = config.database_location() else {
        panic!("the production config names a SQLite file");
    };
    assert!(root
        .join(db.parent().unwrap().strip_prefix("/").unwrap())
        .is_dir());
    assert!(
        stdout.contains("systemctl enable --now booking-monitor"),
        "{stdout}"
    );

    // Run again (an upgrade): an edited config and env file are kept.
    std::fs::write(root.join("etc/booking-monitor/config.toml"), "# edited").unwrap();
    std::fs::write(
        root.join("etc/booking-monitor/env"),
        "YCLIENTS_USER_TOKEN=x",
    )
    .unwrap();
    install(root);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/booking-monitor/config.toml")).unwrap(),
        "# edited"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/booking-monitor/env")).unwrap(),
        "YCLIENTS_USER_TOKEN=x"
    );
}

#[test]
fn the_units_steps_create_the_user_and_the_directories() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/booking-monitor.service"),
    )
    .unwrap();
    let script =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/install.sh"))
            .unwrap();
    for step in [
        "groupadd --system",
        "useradd --system",
        "install -d -m 0750",
    ] {
        assert!(unit.contains(step), "the unit's comments lack {step}");
    }
    for step in [
        "groupadd --system",
        "useradd --system",
        "install -d -m 0700",
    ] {
        assert!(script.contains(step), "install.sh lacks {step}");
    }
}
