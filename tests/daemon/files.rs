//! The files the daemon leaves and makes: the instance lock, and no database
//! created by a command that only reads.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use crate::helpers::*;

#[actix_rt::test]
async fn a_stale_lock_file_does_not_block_and_a_clean_stop_removes_it() {
    if skip_on_postgres("a_stale_lock_file_does_not_block_and_a_clean_stop_removes_it") {
        return;
    }
    let app = prepare(Options::default()).await;
    let lock = app.db_path.with_extension("db.lock");
    // What `kill -9` of an older version leaves: someone's pid, world-readable, unlocked.
    std::fs::write(&lock, "999999").unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    let mode = std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        daemon.pid().to_string()
    );
    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(10)).await,
        Some(0),
        "{}",
        daemon.log()
    );
    assert!(!lock.exists(), "the lock file is left after a clean stop");
}

#[test]
fn status_without_a_database_says_so_and_creates_none() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bm.db");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{}\"\n[yclients]\npartner_token = \"p\"\n\
             user_token = \"u\"\n[[companies]]\nid = 1\n[whatsapp]\nprovider = \"log\"\n",
            db.display()
        ),
    )
    .unwrap();
    for args in [&["status"][..], &["status", "--json"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_booking-monitor"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "no database at {} yet: run `run` or `migrate` first",
                db.display()
            )),
            "{stderr}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("config.toml")]);
    }
}

#[actix_rt::test]
async fn status_reads_a_database_no_daemon_has_open() {
    let mut app = spawn_app().await;
    app.wait_until_monitoring().await;
    app.stop().await;
    let (code, stdout, stderr) = app.command(&["status"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("last poll ok"), "{stdout}");
    assert!(stdout.contains("Recent decisions: none yet"), "{stdout}");
}
