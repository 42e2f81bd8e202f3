//! Tells the tests whether Chromium is installed (`cfg(chromium)`), so that the
//! browser test of the status page shows as `ignored` in `cargo test`'s output
//! where it cannot run, instead of passing without having run. Under CI (`CI`
//! set) the cfg is always on: there a missing Chromium fails that test.

use std::path::Path;

const CHROMIUM: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(chromium)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    // Installing Chromium changes /usr/bin: the cfg is worked out again then.
    println!("cargo::rerun-if-changed=/usr/bin");
    let installed = CHROMIUM.iter().any(|p| Path::new(p).exists());
    if installed || std::env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=chromium");
    }
}
