//! Where a command looks for its database: a relative path in the config is
//! relative to the config file's folder, from any working directory; and only
//! `run`, `demo` and `migrate` ever create a database — every other command says
//! that none is where it looked.

use std::path::Path;
use std::process::Command;

use booking_monitor::domain::{CompanyId, RecordId};
use booking_monitor::simulator::{ConfigParts, Simulator};
use booking_monitor::store::{self, Db, DbOptions};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_booking-monitor");

/// `args` of the binary from `cwd`; (exit code, stdout, stderr).
fn command(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[actix_rt::test]
async fn a_relative_database_path_follows_the_config_file_not_the_working_directory() {
    if skip_on_postgres("a_relative_database_path_follows_the_config_file") {
        return;
    }
    let sim = Simulator::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let (etc, elsewhere) = (root.path().join("etc"), root.path().join("elsewhere"));
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let config = etc.join("config.toml");
    let text = sim.daemon_config("sqlite://bm.db", &[COMPANY], &ConfigParts::default());
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap().to_string();
    let db = std::fs::canonicalize(&etc).unwrap().join("bm.db");
    let company = COMPANY.to_string();

    let (code, stdout, stderr) = command(&elsewhere, &["migrate", "--config", &config]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.starts_with(&format!("created the database {}: ", db.display())),
        "{stdout}"
    );
    let (code, stdout, stderr) = command(
        &elsewhere,
        &["bot-record", "add", &company, "77", "--config", &config],
    );
    assert_eq!((code, stdout.trim()), (Some(0), "registered"), "{stderr}");
    // A relative --config too: the folder is the config's, whatever the cwd.
    let (code, stdout, stderr) = command(root.path(), &["status", "--config", "etc/config.toml"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&company), "{stdout}");
    assert!(entries(&elsewhere).is_empty(), "{:?}", entries(&elsewhere));

    let written = Db::open(&db).unwrap();
    let registered = written
        .blocking(|c| store::is_bot_record(c, CompanyId(COMPANY), RecordId(77)))
        .unwrap();
    assert!(registered, "the record went into the config's database");
    sim.stop().await;
}

#[actix_rt::test]
async fn commands_other_than_run_demo_and_migrate_create_no_database() {
    let sim = Simulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A database that is not there: no SQLite file, or PostgreSQL without tables.
    let database = TestDatabase::create(dir.path());
    let config = dir.path().join("config.toml");
    let text = sim.daemon_config(&database.url(), &[COMPANY], &ConfigParts::default());
    std::fs::write(&config, text).unwrap();
    let config = config.to_str().unwrap();
    let company = COMPANY.to_string();
    let looked = match &database {
        TestDatabase::Sqlite(path) => format!("no database at {} yet", path.display()),
        TestDatabase::Postgres { .. } => "has no tables yet".to_string(),
    };
    for args in [
        &["bot-record", "add", &company, "1"][..],
        &["bot-record", "remove", &company, "1"][..],
        &["status"][..],
    ] {
        let mut all = args.to_vec();
        all.extend(["--config", config]);
        let (code, stdout, stderr) = command(dir.path(), &all);
        assert_eq!(code, Some(1), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(&looked), "{args:?}: {stderr}");
        assert!(stderr.contains("run `run` or `migrate` first"), "{stderr}");
    }
    match &database {
        TestDatabase::Sqlite(path) => {
            assert!(!path.exists(), "a database was created");
            assert_eq!(entries(dir.path()), ["config.toml"]);
        }
        TestDatabase::Postgres { .. } => {
            let db = Db::connect_postgres(&database.url(), &DbOptions::default()).unwrap();
            assert_eq!(db.blocking(store::schema_version).unwrap(), None);
        }
    }
    sim.stop().await;
}
