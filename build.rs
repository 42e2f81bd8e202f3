//! Tells the tests what this machine can run them against, so that a test that
//! cannot run shows as `ignored` (with the reason) in `cargo test`'s output
//! instead of passing without having run:
//!
//! - `cfg(chromium)`: Chromium is installed (the browser test of the status page);
//! - `cfg(postgres_server)`: `BOOKING_MONITOR_PG_SERVER` names a PostgreSQL server
//!   (the tests of many instances);
//! - `cfg(systemd_analyze)`: `systemd-analyze` is installed (the systemd unit's
//!   exposure score).
//!
//! Under CI (`CI` set) all three are always on: there a missing Chromium, server
//! or systemd-analyze fails those tests. (The container image is built and run by
//! `.ci/container`, with podman, not by a test.) Only the variables read here are
//! tracked, so the second pass of `.ci/run` (which adds
//! `BOOKING_MONITOR_TEST_BACKEND`) rebuilds nothing.
//!
//! It also links the daemon's binary as a fixed-address executable on Linux (see
//! `link_without_pie`).

use std::path::Path;

const CHROMIUM: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const PG_SERVER: &str = "BOOKING_MONITOR_PG_SERVER";
const SYSTEMD_ANALYZE: [&str; 2] = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(chromium)");
    println!("cargo::rustc-check-cfg=cfg(postgres_server)");
    println!("cargo::rustc-check-cfg=cfg(systemd_analyze)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed={PG_SERVER}");
    // Installing Chromium or systemd changes /usr/bin: the cfgs are worked out
    // again then.
    println!("cargo::rerun-if-changed=/usr/bin");
    let ci = std::env::var_os("CI").is_some();
    let installed = CHROMIUM.iter().any(|p| Path::new(p).exists());
    if installed || ci {
        println!("cargo::rustc-cfg=chromium");
    }
    let server = std::env::var(PG_SERVER).is_ok_and(|url| !url.trim().is_empty());
    if server || ci {
        println!("cargo::rustc-cfg=postgres_server");
    }
    if SYSTEMD_ANALYZE.iter().any(|p| Path::new(p).exists()) || ci {
        println!("cargo::rustc-cfg=systemd_analyze");
    }
    link_without_pie();
}

/// The daemon is linked as a fixed-address executable, not a position-independent
/// one (PIE). A PIE's loader patches about 66,000 pointers at every start (Rust's
/// vtables and static tables, OpenSSL's algorithm and object tables): it reads
/// 1.5 MiB of relocation records and turns the 1.6 MiB of data they land in into
/// private copies, resident for the process's life. Linked at a fixed address those
/// pointers are final in the file: only the pages used are read, and they stay
/// shared and reclaimable. Idle RSS with one salon: 12.2 → 9.5 MiB (the footprint
/// bench). The cost: the binary's own code and data sit at the same address in
/// every run (libraries, heap and stacks are still randomised). The code itself
/// stays position-independent, so only the binaries' link changes: tests, benches
/// and proc macros link as before.
fn link_without_pie() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
