//! The container's files, checked where no image can be built: every target
//! `Cargo.toml` declares, and every source the `Dockerfile` copies, reaches the
//! build (exists, and `.dockerignore` lets it through); the base images are
//! arguments with the public ones as defaults; every file `deploy/compose.yaml`
//! mounts exists. The image itself is built and run by `.ci/container` (podman on
//! images made from Debian's packages and the machine's Rust), which `.ci/run`
//! calls: it runs `demo` in the image and its health check against the daemon.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Whether `.dockerignore` keeps `path` (relative to the repository) out of the
/// build context. Only the pattern forms the file uses are understood: a folder
/// (`target/`), a file name's ending (`*.db`), a path; any other form fails.
fn ignored(path: &str) -> bool {
    read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|pattern| {
            if let Some(folder) = pattern.strip_suffix('/') {
                path == folder || path.starts_with(&format!("{folder}/"))
            } else if let Some(ending) = pattern.strip_prefix('*') {
                assert!(!ending.contains(['*', '?', '[', '/']), "{pattern}");
                path.rsplit('/').next().unwrap().ends_with(ending)
            } else {
                assert!(!pattern.contains(['*', '?', '[', '!']), "{pattern}");
                path == pattern || path.starts_with(&format!("{pattern}/"))
            }
        })
}

fn reaches_the_build(path: &str) -> Result<(), String> {
    if !Path::new(ROOT).join(path).exists() {
        return Err(format!("{path} does not exist"));
    }
    if ignored(path) {
        return Err(format!("{path} is left out by .dockerignore"));
    }
    Ok(())
}

/// Every target the manifest declares, with the file cargo needs for it: a build
/// stops at the first one missing ("can't find `reach` bench"), whatever it builds.
fn declared_targets() -> Vec<String> {
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let mut paths = vec!["src/main.rs".to_string(), "src/lib.rs".to_string()];
    if Path::new(ROOT).join("build.rs").exists() {
        paths.push("build.rs".into());
    }
    for (section, folder) in [
        ("bin", "src/bin"),
        ("bench", "benches"),
        ("test", "tests"),
        ("example", "examples"),
    ] {
        for target in manifest
            .get(section)
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = target["name"].as_str().unwrap();
            let path = target
                .get("path")
                .and_then(toml::Value::as_str)
                .map_or_else(|| default_path(folder, name), str::to_string);
            paths.push(path);
        }
    }
    paths
}

/// Where cargo looks for a target without a `path`: `{folder}/{name}.rs`, or a
/// folder of its own with a `main.rs` (as `benches/soak/`).
fn default_path(folder: &str, name: &str) -> String {
    let file = format!("{folder}/{name}.rs");
    if Path::new(ROOT).join(&file).exists() {
        file
    } else {
        format!("{folder}/{name}/main.rs")
    }
}

#[test]
fn every_target_cargo_toml_declares_reaches_the_image_build() {
    let targets = declared_targets();
    assert!(
        targets.iter().any(|t| t.starts_with("benches/")),
        "{targets:?}"
    );
    let problems: Vec<String> = targets
        .iter()
        .filter_map(|t| reaches_the_build(t).err())
        .collect();
    assert!(problems.is_empty(), "{problems:?}");
    // The build stage copies the whole context, after the recipe's layer.
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains("cargo chef cook") && dockerfile.contains("COPY . ."),
        "the dependencies' layer comes from cargo-chef's recipe of every target"
    );
}

#[test]
fn every_source_the_dockerfile_copies_reaches_the_build() {
    let mut copied = 0;
    for line in read("Dockerfile").lines() {
        let Some(args) = line.strip_prefix("COPY ") else {
            continue;
        };
        if args.starts_with("--from=") {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        for source in &words[..words.len() - 1] {
            copied += 1;
            if *source != "." {
                reaches_the_build(source).unwrap();
            }
        }
    }
    assert!(
        copied >= 2,
        "the Dockerfile copies the context and the health check"
    );
    // What src/ includes at build time.
    reaches_the_build("tests/fixtures/yclients/docs_get_record_200.json").unwrap();
    reaches_the_build("migrations").unwrap();
}

#[test]
fn the_base_images_are_arguments_with_the_public_ones_by_default() {
    let dockerfile = read("Dockerfile");
    let default = |arg: &str| -> String {
        dockerfile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("ARG {arg}=")))
            .unwrap_or_else(|| panic!("ARG {arg} with a default"))
            .to_string()
    };
    let rust = default("RUST_IMAGE");
    assert_eq!(default("RUNTIME_IMAGE"), "debian:bookworm-slim");
    assert!(dockerfile.contains("FROM ${RUST_IMAGE} AS chef"));
    assert!(dockerfile.contains("FROM ${RUNTIME_IMAGE}\n"));
    // The public builder is new enough for the crate.
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let needed = manifest["package"]["rust-version"].as_str().unwrap();
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    let image = rust
        .strip_prefix("rust:")
        .and_then(|r| r.split('-').next())
        .unwrap();
    assert!(
        version(image) >= version(needed),
        "{rust} is older than rust-version {needed}"
    );
}

#[test]
fn every_file_compose_mounts_exists() {
    let compose = read("deploy/compose.yaml");
    let mut mounted = 0;
    for line in compose.lines() {
        let Some(source) = line.trim().strip_prefix("- ./") else {
            continue;
        };
        let source = source.split(':').next().unwrap();
        assert!(
            Path::new(ROOT).join("deploy").join(source).exists(),
            "compose.yaml mounts ./{source}, which deploy/ lacks"
        );
        mounted += 1;
    }
    assert!(mounted >= 4, "{compose}");
}
