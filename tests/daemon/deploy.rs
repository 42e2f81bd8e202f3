//! deploy/install.sh, run against a scratch root: every file the unit and the
//! production config need, with its mode.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use booking_monitor::config::{Config, DatabaseLocation};
use booking_monitor::simulator::Simulator;

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
        ("usr/local/share/doc/booking-monitor/README.md", 0o644),
        (
            "usr/local/share/doc/booking-monitor/docs/configuration.md",
            0o644,
        ),
        (
            "usr/local/share/doc/booking-monitor/docs/operating.md",
            0o644,
        ),
    ];
    for (path, want) in expected {
        assert_eq!(mode(&root.join(path)), want, "{path}");
    }
    // What the unit names exists in the root.
    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/booking-monitor.service")).unwrap();
    for line in unit.lines().filter(|l| !l.starts_with('#')) {
        if let Some(doc) = line.strip_prefix("Documentation=file://") {
            assert!(root.join(&doc[1..]).is_file(), "{line}");
        }
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

/// `sh -c script`, off the test's thread (the simulator's server runs on it).
async fn shell(script: String) -> std::process::Output {
    actix_rt::task::spawn_blocking(move || Command::new("sh").arg("-c").arg(script).output())
        .await
        .unwrap()
        .unwrap()
}

#[actix_rt::test]
async fn the_printed_check_step_runs_as_the_daemons_user_with_the_root_only_env_file() {
    let sim = Simulator::start().await.unwrap();
    for id in [123456, 654321] {
        sim.add_company(id, "Салон", "Москва, ул. Пушкина, 10", "Europe/Moscow");
    }
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let printed = install(root);
    let step = printed
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("2. "))
        .unwrap_or_else(|| panic!("no step 2 in: {printed}"));
    assert!(!step.contains("sudo"), "{step}");

    // Step 1 as an operator does it, with the simulator as YClients and Meta.
    let etc = root.join("etc/booking-monitor");
    let config = std::fs::read_to_string(etc.join("config.toml"))
        .unwrap()
        .replace("https://api.yclients.com", &sim.base_url())
        .replace(
            "[whatsapp.cloud_api]\n",
            &format!(
                "[whatsapp.cloud_api]\nbase_url = \"{}\"\n",
                sim.cloud_api_url()
            ),
        );
    std::fs::write(etc.join("config.toml"), config).unwrap();
    std::fs::write(
        etc.join("env"),
        "YCLIENTS_PARTNER_TOKEN=test-partner-token\nYCLIENTS_USER_TOKEN=test-user-token\n\
         WHATSAPP_ACCESS_TOKEN=test-access-token\nBOOKING_MONITOR_HTTP_TOKEN=h\n",
    )
    .unwrap();
    assert_eq!(mode(&etc.join("env")), 0o600);

    // Step 2 as printed, with the scratch root's paths.
    let bin = root.join("usr/local/bin/booking-monitor");
    let mut command = step
        .replace("/usr/local/bin/booking-monitor", &bin.to_string_lossy())
        .replace("/etc/booking-monitor", &etc.to_string_lossy());
    let as_root = String::from_utf8(Command::new("id").arg("-u").output().unwrap().stdout)
        .unwrap()
        .trim()
        == "0";
    if as_root {
        // `--no-users` left the daemon's files to root: give them to `nobody`'s
        // group as install.sh gives them to booking-monitor's, and be `nobody`.
        let group = |path: &Path| {
            let ok = Command::new("chgrp")
                .arg("nogroup")
                .arg(path)
                .status()
                .unwrap();
            assert!(ok.success(), "chgrp {}", path.display());
        };
        group(&etc);
        group(&etc.join("config.toml"));
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        command = command.replace("runuser -u booking-monitor", "runuser -u nobody");
        assert!(command.starts_with("runuser -u nobody -- "), "{command}");
        // What the old step did: the daemon's user cannot read the env file.
        let env = etc.join("env");
        let sourced = shell(format!("runuser -u nobody -- sh -c '. {}'", env.display())).await;
        assert!(
            !sourced.status.success(),
            "the env file is readable by the daemon's user"
        );
    } else {
        // Not root: no user to become; the rest of the step runs as this user.
        eprintln!("not root: the check step runs without runuser");
        command = command.replace("runuser -u booking-monitor -- ", "");
    }
    let out = shell(command.clone()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{command}\n{stdout}{stderr}");
    assert!(stdout.contains("ok    YClients company 654321"), "{stdout}");
    assert!(stdout.contains("All checks passed."), "{stdout}");
}

/// Where systemd-analyze is missing the build script leaves `cfg(systemd_analyze)`
/// off and this test shows as ignored; `.ci/run` installs it.
#[test]
#[cfg_attr(
    not(systemd_analyze),
    ignore = "needs systemd-analyze (Debian's systemd package); .ci/run installs it"
)]
fn the_unit_s_sandbox_is_rated_3_or_better_by_systemd_analyze() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/booking-monitor.service");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // "→ Overall exposure level for booking-monitor.service: 1.1 OK 🙂"
    let score: f64 = stdout
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for booking-monitor.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no overall score in: {stdout}{stderr}"));
    assert!(score <= 3.0, "exposure {score} > 3.0:\n{stdout}");
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
