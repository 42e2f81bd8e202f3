//! The container (`Dockerfile`, `deploy/compose.yaml`), where a docker engine runs:
//! the image builds and runs `demo`; compose brings up PostgreSQL, two instances
//! that both become ready, Prometheus with the alerts and Grafana with the
//! dashboard. Without an engine when the tests were built (`build.rs` leaves
//! `cfg(docker)` off, as on CI) both show as ignored, with the reason.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use booking_monitor::simulator::{ConfigParts, Simulator};

use crate::helpers::get;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const READY_PATIENCE: Duration = Duration::from_secs(120);

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("POSTGRES_PASSWORD", "test-password")
        .env("BOOKING_MONITOR_HTTP_TOKEN", "test-http-token")
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

fn succeeded(args: &[&str], output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "docker {args:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn run(args: &[&str]) -> String {
    succeeded(args, &docker(args))
}

#[cfg_attr(
    not(docker),
    ignore = "no docker engine: `docker info` failed when the tests were built (start one, then `touch build.rs`)"
)]
#[test]
fn the_image_runs_the_demo_as_a_non_root_user_with_a_health_check() {
    let tag = "booking-monitor:test";
    run(&["build", "--tag", tag, ROOT]);
    let summary = run(&["run", "--rm", tag, "demo"]);
    assert!(summary.contains("Summary ("), "{summary}");
    let uid = run(&["run", "--rm", "--entrypoint", "id", tag, "-u"]);
    assert_eq!(uid.trim(), "10001");
    let health = run(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        tag,
    ]);
    assert!(health.contains("booking-monitor-healthcheck"), "{health}");
}

/// Takes the compose project down (volumes too) however the test ends.
struct Project {
    args: Vec<String>,
}

impl Project {
    fn args<'a>(&'a self, more: &[&'a str]) -> Vec<&'a str> {
        self.args
            .iter()
            .map(String::as_str)
            .chain(more.iter().copied())
            .collect()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = docker(&self.args(&["down", "--volumes", "--remove-orphans"]));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Each instance on the host's network, so that it reaches the simulator on
/// 127.0.0.1; PostgreSQL, Prometheus and Grafana published on free ports.
fn override_file(dir: &Path, ports: &Ports) -> String {
    let instance = |name: &str, port: u16| {
        format!(
            "  booking-monitor-{name}:\n    network_mode: host\n    hostname: !reset \"\"\n    \
             ports: !reset []\n    environment:\n      BOOKING_MONITOR_HEALTH_PORT: \"{port}\"\n    \
             volumes: !override\n      - {}:/etc/booking-monitor/config.toml:ro\n",
            dir.join(format!("config-{name}.toml")).display()
        )
    };
    format!(
        "services:\n  postgres:\n    ports: [\"127.0.0.1:{}:5432\"]\n{}{}  prometheus:\n    \
         ports: !override [\"127.0.0.1:{}:9090\"]\n  grafana:\n    \
         ports: !override [\"127.0.0.1:{}:3000\"]\n",
        ports.postgres,
        instance("a", ports.a),
        instance("b", ports.b),
        ports.prometheus,
        ports.grafana
    )
}

struct Ports {
    postgres: u16,
    a: u16,
    b: u16,
    prometheus: u16,
    grafana: u16,
}

/// GETs `url` until it answers 200 with a body containing `text`.
async fn wait_for(url: &str, text: &str) {
    let deadline = Instant::now() + READY_PATIENCE;
    loop {
        let answer = awc::Client::new().get(url).send().await;
        if let Ok(mut response) = answer {
            let body = response.body().limit(1 << 22).await.unwrap_or_default();
            if response.status() == 200 && String::from_utf8_lossy(&body).contains(text) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{url} never answered 200 with {text:?}"
        );
        // A container coming up sends no event to await.
        actix_rt::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg_attr(
    not(docker),
    ignore = "no docker engine: `docker info` failed when the tests were built (start one, then `touch build.rs`)"
)]
#[actix_rt::test]
async fn compose_brings_up_two_ready_instances_prometheus_with_the_alerts_and_grafana() {
    let sim = Simulator::start().await.unwrap();
    let companies = [4564, 4565];
    for id in companies {
        sim.add_company(id, &format!("Салон {id}"), "Москва", "Europe/Moscow");
    }
    let ports = Ports {
        postgres: free_port(),
        a: free_port(),
        b: free_port(),
        prometheus: free_port(),
        grafana: free_port(),
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, port) in [("a", ports.a), ("b", ports.b)] {
        let config = sim.daemon_config(
            &format!("postgres://booking@127.0.0.1:{}/booking", ports.postgres),
            &companies,
            &ConfigParts {
                monitor: "poll_interval_ms = 500".into(),
                tables: format!(
                    "[cluster]\ninstance_id = \"{name}\"\nlease_ttl_ms = 3000\n\n\
                     [http]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"test-http-token\"\n"
                ),
                ..ConfigParts::default()
            },
        );
        std::fs::write(dir.path().join(format!("config-{name}.toml")), config).unwrap();
    }
    let overrides = dir.path().join("compose.test.yaml");
    std::fs::write(&overrides, override_file(dir.path(), &ports)).unwrap();
    let project = Project {
        args: vec![
            "compose".into(),
            "--project-name".into(),
            format!("booking-monitor-test-{}", std::process::id()),
            "--file".into(),
            format!("{ROOT}/deploy/compose.yaml"),
            "--file".into(),
            overrides.display().to_string(),
        ],
    };
    // Blocking the test's thread would stall the simulator, which answers on it.
    let up: Vec<String> = project
        .args(&["up", "--detach", "--build"])
        .into_iter()
        .map(String::from)
        .collect();
    actix_rt::task::spawn_blocking(move || run(&up.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap();

    for port in [ports.a, ports.b] {
        wait_for(&format!("http://127.0.0.1:{port}/readyz"), "\"ready\":true").await;
    }
    let (_, status) = get(&format!("http://127.0.0.1:{}/status", ports.a)).await;
    assert!(
        status.contains("\"a\"") && status.contains("\"b\""),
        "both instances live: {status}"
    );
    let rules = format!("http://127.0.0.1:{}/api/v1/rules", ports.prometheus);
    for alert in [
        "BookingMonitorDown",
        "BookingMonitorNoticeOverdue",
        "BookingMonitorInstancesDisagree",
    ] {
        wait_for(&rules, alert).await;
    }
    let dashboard = format!(
        "http://127.0.0.1:{}/api/dashboards/uid/booking-monitor",
        ports.grafana
    );
    wait_for(&dashboard, "booking_monitor_polls_total").await;
    drop(project);
    sim.stop().await;
}
