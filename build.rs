//! Tells the tests what this machine can run, so that a test which cannot run here
//! shows as `ignored` in `cargo test`'s output instead of passing without having run:
//!
//! - `cfg(chromium)`: Chromium is installed (the browser test of the status page).
//!   Under CI (`CI` set) it is always on: there a missing Chromium fails that test.
//! - `cfg(docker)`: `docker info` reaches an engine (the image and compose tests).
//!   CI has no engine: there those tests are ignored, with that reason.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const DOCKER_SOCKET: &str = "/var/run/docker.sock";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(chromium)");
    println!("cargo::rustc-check-cfg=cfg(docker)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=DOCKER_HOST");
    // Installing Chromium (or docker) changes /usr/bin: the cfgs are worked out again then.
    println!("cargo::rerun-if-changed=/usr/bin");
    // A restarted engine makes its socket anew. A socket that does not exist yet
    // cannot be watched (cargo would rerun this on every build): after starting an
    // engine, `touch build.rs`.
    if Path::new(DOCKER_SOCKET).exists() {
        println!("cargo::rerun-if-changed={DOCKER_SOCKET}");
    }
    let installed = CHROMIUM.iter().any(|p| Path::new(p).exists());
    if installed || std::env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=chromium");
    }
    if docker_engine_answers() {
        println!("cargo::rustc-cfg=docker");
    }
}

/// `docker info` succeeds within 10 s (a missing CLI or an engine that does not
/// answer: no).
fn docker_engine_answers() -> bool {
    let Ok(mut child) = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}
