//! The operator's one-shot commands as they are typed: `check`'s warnings,
//! `webhooks install`'s refusals, `bot-record`, `migrate` and the help text.

use crate::helpers::*;

/// The WARN line of `check`'s output, if any.
fn warning(stdout: &str) -> Option<&str> {
    stdout.lines().find(|l| l.starts_with("WARN"))
}

#[actix_rt::test]
async fn check_warns_of_cloud_api_kinds_that_are_on_without_a_template() {
    // Templates for the confirmation (the older key) and changes; cancellations
    // and the hours-before reminder are on without one; the day-before one is off.
    let app = prepare(Options {
        cloud_api_extra: "template = \"confirmation\"\ntemplates = { changed = \"changed\" }"
            .into(),
        extra: "[notifications]\nreminder_hours_before = 2\n".into(),
        ..Options::default()
    })
    .await;
    let (code, stdout, _) = app.command(&["check"]).await;
    assert_eq!(code, Some(0), "a warning fails nothing: {stdout}");
    let line = warning(&stdout).unwrap_or_else(|| panic!("no warning: {stdout}"));
    assert!(
        line.contains("no approved template for cancelled, reminder_hours_before:"),
        "{line}"
    );
    assert!(line.contains("24 h"), "{line}");
    assert!(
        stdout.contains("All checks passed.\n1 warning: see WARN above."),
        "{stdout}"
    );

    // Every kind that is on has its template (cancellations turned off): no warning.
    let app = prepare(Options {
        cloud_api_extra: "templates = { created = \"c\", changed = \"ch\", \
                          reminder_hours_before = \"r\" }"
            .into(),
        extra: "[notifications]\ncancelled = false\nreminder_hours_before = 2\n".into(),
        ..Options::default()
    })
    .await;
    let (code, stdout, _) = app.command(&["check"]).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(warning(&stdout), None, "{stdout}");
}

const HOOK_TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn with_webhook_token(token: &str) -> Options {
    Options {
        yclients_extra: format!("webhook_token = \"{token}\""),
        ..Options::default()
    }
}

#[actix_rt::test]
async fn webhooks_install_refuses_a_url_without_https_and_a_short_token() {
    let app = prepare(with_webhook_token(HOOK_TOKEN)).await;
    for url in ["example.test", "http://bm.example.com", "https://"] {
        let (code, stdout, stderr) = app.command(&["webhooks", "install", "--url", url]).await;
        assert_eq!(code, Some(2), "{url}: {stdout}{stderr}");
        assert!(stderr.starts_with("booking-monitor: --url "), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
    }
    // Plain http is fine to this machine itself (a proxy on the same host).
    let (code, stdout, _) = app
        .command(&["webhooks", "install", "--url", "http://127.0.0.1:9187"])
        .await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.ends_with("Registered with every company (1).\n"),
        "{stdout}"
    );

    let app = prepare(with_webhook_token("s3cr3")).await;
    let (code, _, stderr) = app
        .command(&["webhooks", "install", "--url", "https://bm.example.com"])
        .await;
    assert_eq!(code, Some(2), "{stderr}");
    let config = app.write_config();
    assert!(
        stderr.starts_with(&format!(
            "booking-monitor: bad config {}: yclients.webhook_token: too short (5 characters)",
            config.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3"), "the token is never printed");
    assert!(app.sim.world().hooks.is_empty(), "nothing was registered");
    // `check` warns of it too.
    let (_, stdout, _) = app.command(&["check"]).await;
    assert!(
        stdout.contains("WARN  yclients.webhook_token: too short (5 characters)"),
        "{stdout}"
    );
}

#[actix_rt::test]
async fn webhooks_install_without_a_token_names_the_config_and_the_variable() {
    let app = prepare(Options::default()).await;
    let (code, _, stderr) = app
        .command(&["webhooks", "install", "--url", "https://bm.example.com"])
        .await;
    assert_eq!(code, Some(2), "{stderr}");
    let config = app.write_config();
    assert!(
        stderr.starts_with(&format!(
            "booking-monitor: bad config {}: yclients.webhook_token: missing",
            config.display()
        )) && stderr.contains("YCLIENTS_WEBHOOK_TOKEN"),
        "{stderr}"
    );
}

#[actix_rt::test]
async fn webhooks_install_names_the_host_it_could_not_reach_in_its_own_words() {
    let app = prepare(with_webhook_token(HOOK_TOKEN)).await;
    let host = app.sim.base_url();
    app.sim.stop().await;
    let (code, stdout, _) = app
        .command(&["webhooks", "install", "--url", "https://bm.example.com"])
        .await;
    assert_eq!(code, Some(1), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains(&format!("(tried {host})")), "{line}");
    assert!(line.contains("run `webhooks install` again"), "{line}");
    // Not `check`'s wording: install does not retry by itself, and it counts companies.
    assert!(!stdout.contains("retries by itself"), "{stdout}");
    assert!(
        stdout.ends_with("Registered with 0 of 1 company: see FAIL above.\n"),
        "{stdout}"
    );
}

#[actix_rt::test]
async fn bot_record_add_refuses_a_company_not_in_the_config_unless_forced() {
    let app = prepare(Options::default()).await;
    let (code, stdout, stderr) = app.command(&["bot-record", "add", "9999", "1"]).await;
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    let config = app.write_config();
    assert_eq!(
        stderr.trim_end(),
        format!(
            "booking-monitor: company 9999 is not in {} ([[companies]]: {COMPANY}); \
             pass --force to register the booking anyway",
            config.display()
        )
    );
    assert!(stdout.is_empty(), "{stdout}");

    let (code, stdout, stderr) = app
        .command(&["bot-record", "add", "9999", "1", "--force"])
        .await;
    assert_eq!(
        (code, stdout.as_str()),
        (Some(0), "registered\n"),
        "{stderr}"
    );
    let company = COMPANY.to_string();
    let (code, stdout, _) = app.command(&["bot-record", "add", &company, "2"]).await;
    assert_eq!((code, stdout.as_str()), (Some(0), "registered\n"));
    // Forgetting needs no such care: it says what was there.
    let (code, stdout, _) = app.command(&["bot-record", "remove", "9999", "7"]).await;
    assert_eq!((code, stdout.as_str()), (Some(0), "was not registered\n"));
}

fn help(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_booking-monitor"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_help_describes_every_command_and_argument() {
    // Every listed subcommand and argument has a description.
    for (args, listed) in [
        (&["bot-record"][..], &["add", "remove"][..]),
        (
            &["bot-record", "add"],
            &["<COMPANY_ID>", "<RECORD_ID>", "--force"],
        ),
        (&["bot-record", "remove"], &["<COMPANY_ID>", "<RECORD_ID>"]),
        (&["webhooks"], &["install"]),
    ] {
        let text = help(args);
        for name in listed {
            let line = text
                .lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap_or_else(|| panic!("{args:?} lists no {name}: {text}"));
            assert!(
                line.trim_start().len() > name.len() + 10,
                "{args:?}: {name} has no description: {line:?}"
            );
        }
    }
    // --config is optional wherever it is offered, and `demo`, which reads none,
    // does not offer it.
    for args in [
        &[][..],
        &["run"],
        &["check"],
        &["status"],
        &["bot-record", "add"],
    ] {
        let text = help(args);
        let usage = text.lines().find(|l| l.starts_with("Usage:")).unwrap();
        assert!(!usage.contains("--config"), "{args:?}: {usage}");
        if !args.is_empty() {
            assert!(
                text.lines().any(|l| l.contains("--config <PATH>")
                    && l.ends_with("The config file [default: config.toml]")),
                "{args:?}: {text}"
            );
        }
    }
    assert!(!help(&["demo"]).contains("--config"), "{}", help(&["demo"]));
}

/// `migrate` with a config naming the database `url`; (exit code, stdout).
fn migrate_url(dir: &std::path::Path, url: &str) -> (Option<i32>, String) {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\n[yclients]\npartner_token = \"p\"\n\
             user_token = \"u\"\n[[companies]]\nid = 1\n[whatsapp]\nprovider = \"log\"\n"
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_booking-monitor"))
        .args(["migrate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

/// `migrate` on the SQLite file `db`.
fn migrate(dir: &std::path::Path, db: &std::path::Path) -> (Option<i32>, String) {
    migrate_url(dir, &format!("sqlite://{}", db.display()))
}

#[test]
fn migrate_says_whether_it_created_upgraded_or_left_the_database_and_where() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut all: Vec<std::path::PathBuf> = std::fs::read_dir(&migrations)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    all.sort();
    let version = |dir: &std::path::Path| -> String {
        let name = dir.file_name().unwrap().to_string_lossy();
        name.split('_').next().unwrap().replace('-', "")
    };
    let (latest, previous) = (version(&all[all.len() - 1]), version(&all[all.len() - 2]));

    let (code, stdout) = migrate(dir.path(), &db);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!(
            "created the database {}: schema version {latest} ({} migrations)\n",
            db.display(),
            all.len()
        )
    );
    // docs/operating.md shows the same for the production path.
    let example = stdout.replace(
        &db.display().to_string(),
        "/var/lib/booking-monitor/booking-monitor.db",
    );
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operating.md"),
    )
    .unwrap();
    assert!(
        docs.contains(example.trim_end()),
        "docs/operating.md should show: {example}"
    );
    let (code, stdout) = migrate(dir.path(), &db);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!(
            "the database {} is up to date: schema version {latest}\n",
            db.display()
        )
    );
    // A database one migration behind (as after an upgrade of the binary).
    let mut conn = diesel::SqliteConnection::establish(db.to_str().unwrap()).unwrap();
    let down = std::fs::read_to_string(all[all.len() - 1].join("down.sql")).unwrap();
    conn.batch_execute(&format!(
        "{down}; DELETE FROM __diesel_schema_migrations WHERE version = '{latest}';"
    ))
    .unwrap();
    drop(conn);
    let (code, stdout) = migrate(dir.path(), &db);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        format!(
            "upgraded the database {} from schema version {previous} to {latest} (1 migration applied)\n",
            db.display()
        )
    );
}

#[test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
fn migrate_on_postgresql_names_the_database_without_its_password() {
    let database = TestDatabase::on_postgres(&postgres_required());
    let url = database.url();
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout) = migrate_url(dir.path(), &url);
    assert_eq!(code, Some(0));
    let shown = booking_monitor::config::redact_password(&url);
    assert!(shown.contains(":***@"), "{shown}");
    assert!(
        stdout.starts_with(&format!("created the database {shown}: schema version ")),
        "{stdout}"
    );
    let (_, stdout) = migrate_url(dir.path(), &url);
    assert!(
        stdout.starts_with(&format!("the database {shown} is up to date")),
        "{stdout}"
    );
}
