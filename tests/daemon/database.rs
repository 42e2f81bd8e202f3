//! The database misbehaving: locked, missing, unwritable, shared by two daemons.

use std::time::Duration;

use booking_monitor::store::Status;
use diesel::connection::SimpleConnection;
use diesel::Connection;

use crate::helpers::*;

#[actix_rt::test]
async fn a_database_locked_for_a_while_only_delays_the_booking() {
    if skip_on_postgres("a_database_locked_for_a_while_only_delays_the_booking") {
        return;
    }
    let app = spawn_app().await;
    app.wait_until_monitoring().await;
    // Another process holds the write lock for 1.5 s (below the 5 s busy timeout).
    let path = app.db_path.clone();
    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
    let holder = std::thread::spawn(move || {
        let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        conn.batch_execute("PRAGMA busy_timeout = 5000; BEGIN EXCLUSIVE;")
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(1_500));
        conn.batch_execute("COMMIT;").unwrap();
    });
    locked_rx.await.unwrap();
    let id = app.create(admin_booking("Блокировка", "79165050501"));
    app.wait_for_status(id, Status::Sent).await;
    holder.join().unwrap();
    assert_eq!(app.sim.world().messages.len(), 1);
    // The busy timeout waited the lock out: no write failed, no actor restarted.
    assert_eq!(app.restarts(), 0);
}

fn run_binary(config: &str, dir: &std::path::Path) -> (Option<i32>, String) {
    let path = dir.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_booking-monitor"))
        .args(["run", "--config"])
        .arg(&path)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CONFIG: &str =
    "[yclients]\nbase_url = \"http://127.0.0.1:9\"\npartner_token = \"p\"\nuser_token = \"u\"\n\
                      [[companies]]\nid = 1\n[whatsapp]\nprovider = \"log\"\n";

#[test]
fn a_missing_directory_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[database]\nurl = \"sqlite:///nonexistent-dir/sub/bm.db\"\n{CONFIG}");
    let (code, stderr) = run_binary(&config, dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the directory /nonexistent-dir/sub does not exist"),
        "{stderr}"
    );
}

#[test]
fn an_unwritable_directory_exits_1_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let closed = dir.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o500)).unwrap();
    // Root ignores directory permissions; sysfs refuses even root a new file.
    let target = if std::fs::write(closed.join("probe"), b"").is_ok() {
        std::path::PathBuf::from("/sys")
    } else {
        closed
    };
    let config = format!(
        "[database]\nurl = \"sqlite://{}/bm.db\"\n{CONFIG}",
        target.display()
    );
    let (code, stderr) = run_binary(&config, dir.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("no permission"), "{stderr}");
}

#[actix_rt::test]
async fn a_second_instance_on_the_same_database_refuses_and_names_the_first() {
    if skip_on_postgres("a_second_instance_on_the_same_database_refuses_and_names_the_first") {
        return;
    }
    let app = prepare(Options::default()).await;
    let first = app.spawn_binary();
    app.wait_until_monitoring().await;
    let mut second = app.spawn_binary();
    assert_eq!(second.wait_exit(Duration::from_secs(10)).await, Some(1));
    let log = second.log();
    assert!(log.contains("another booking-monitor"), "{log}");
    assert!(log.contains(&format!("pid {}", first.pid())), "{log}");
}

#[test]
fn the_database_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bm.db");
    booking_monitor::store::Db::open(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}
