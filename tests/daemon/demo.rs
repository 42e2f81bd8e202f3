//! `demo` as a user runs it: the built binary, its temporary directory found
//! through TMPDIR, ended by itself, by a signal or by a closed stdout.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_booking-monitor");

fn spawn_demo(tmp: &Path, log: &Path, args: &[&str]) -> Child {
    Command::new(BIN)
        .arg("demo")
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Waits for the exit on another thread: the exit is an event, not something to poll.
fn exit_within(mut child: Child, timeout: Duration) -> Option<i32> {
    let (tx, rx) = mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait().unwrap().code());
    });
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        panic!("the demo did not exit within {timeout:?}")
    })
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn sigterm_while_serving_exits_0_promptly_after_the_summary_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("demo.log");
    let mut child = spawn_demo(tmp.path(), &log, &["--serve-for", "60"]);
    let mut seen = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("Keeping the status page") {
            break;
        }
    }
    // The summary comes first, then the serving.
    assert!(seen.contains("Summary ("), "{seen}");
    assert!(seen.contains("Keeping the status page"), "{seen}");
    assert_eq!(
        entries(tmp.path()),
        vec![format!("booking-monitor-demo-{}", child.id())]
    );
    let asked = Instant::now();
    kill(&child, "TERM");
    let code = exit_within(child, Duration::from_secs(10));
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
fn sigint_before_the_summary_cleans_up_too() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("demo.log");
    let mut child = spawn_demo(tmp.path(), &log, &[]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The first line names the database: the directory exists by then.
    let first = lines.next().unwrap().unwrap();
    assert!(!first.contains("Summary"), "{first}");
    kill(&child, "INT");
    let code = exit_within(child, Duration::from_secs(10));
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(130), "{log}");
    assert!(log.contains("interrupted by SIGINT"), "{log}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

#[test]
fn a_closed_stdout_neither_panics_nor_leaves_the_temp_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("demo.log");
    let mut child = spawn_demo(tmp.path(), &log, &[]);
    // `demo | head -1`: one line read, then the pipe closes.
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    drop(reader);
    let code = exit_within(child, Duration::from_secs(60));
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(!log.contains("panic"), "{log}");
    assert_eq!(code, Some(0), "{log}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
}

/// `--keep DIR` (relative, as typed) leaves a database and a config beside it, and
/// prints a command that works as printed from anywhere: the running binary's own
/// path (`booking-monitor` is not on PATH after `cargo run`) and the config's.
#[test]
fn keep_leaves_a_database_that_the_printed_status_command_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["demo", "--keep", "kept"])
        .current_dir(cwd.path())
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every booking of the summary has its client's name, and no line trails spaces.
    let summary: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("Summary"))
        .collect();
    for name in ["Анна", "Борис", "Вера", "Глеб", "Дарья"] {
        assert!(summary.iter().any(|l| l.contains(name)), "{stdout}");
    }
    assert!(summary.iter().all(|l| *l == l.trim_end()), "{stdout:?}");
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));

    let printed = stdout
        .lines()
        .skip_while(|l| !l.starts_with("The database is kept"))
        .nth(1)
        .unwrap_or_else(|| panic!("the command to read it again: {stdout}"));
    let words: Vec<&str> = printed.split_whitespace().collect();
    let binary = std::fs::canonicalize(BIN).unwrap();
    assert_eq!(
        std::fs::canonicalize(words[0]).ok(),
        Some(binary),
        "the running binary's own path: {printed}"
    );
    let kept = cwd.path().join("kept");
    assert_eq!(
        std::fs::canonicalize(words[3]).unwrap(),
        std::fs::canonicalize(kept.join("config.toml")).unwrap(),
        "{printed}"
    );
    // As printed, from another directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let status = Command::new(words[0])
        .args(&words[1..])
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(
        status.status.code(),
        Some(0),
        "{printed}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text.contains("4564")
            && text.contains("4565")
            && text.contains("created                sent 5"),
        "{text}"
    );
    assert!(
        entries(elsewhere.path()).is_empty(),
        "no database made there"
    );
}
