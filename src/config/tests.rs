//! The whole contract: parsing, defaults, overrides, and the key each error names.

use super::*;

pub const MINIMAL: &str = r#"
[database]
url = "sqlite://test.db"
[yclients]
partner_token = "p"
user_token = "u"
[[companies]]
id = 1
[whatsapp]
provider = "log"
"#;

fn no_env(_: &str) -> Option<String> {
    None
}

/// The secrets the shipped `config.toml` leaves to the environment.
pub fn shipped_secrets(name: &str) -> Option<String> {
    ["YCLIENTS_PARTNER_TOKEN", "YCLIENTS_USER_TOKEN"]
        .contains(&name)
        .then(|| format!("{name} from the environment"))
}

#[test]
fn a_minimal_config_takes_the_defaults() {
    let c = Config::parse(MINIMAL, &no_env).unwrap();
    assert_eq!(c.monitor.poll_interval_ms, 60_000);
    assert_eq!(c.monitor.notification_delay_ms, 30_000);
    assert!(c.monitor.skip_online);
    assert_eq!(c.monitor.min_poll_interval_ms, 5_000);
    assert_eq!(c.monitor.spare_budget_share, 0.5);
    assert!(c.monitor.proving_poll);
    assert_eq!(c.supervisor.max_restarts, 5);
    assert_eq!(
        *c.database_location(),
        DatabaseLocation::Sqlite("test.db".into())
    );
}

#[test]
fn absolute_sqlite_paths_keep_their_slash() {
    let text = MINIMAL.replace("sqlite://test.db", "sqlite:///var/lib/bm/db.sqlite");
    let c = Config::parse(&text, &no_env).unwrap();
    assert_eq!(
        *c.database_location(),
        DatabaseLocation::Sqlite("/var/lib/bm/db.sqlite".into())
    );
}

#[test]
fn a_postgres_url_selects_postgresql_and_hides_its_password() {
    let url = "postgres://booking:s3cret@db.internal:5432/booking";
    let c = Config::parse(&MINIMAL.replace("sqlite://test.db", url), &no_env).unwrap();
    assert_eq!(
        *c.database_location(),
        DatabaseLocation::Postgres(Secret::new(url))
    );
    assert!(!format!("{c:?}").contains("s3cret"));
    assert_eq!(
        redact_password(url),
        "postgres://booking:***@db.internal:5432/booking"
    );
    let err = Config::parse(
        &MINIMAL.replace("sqlite://test.db", "mysql://u:s3cret@h/db"),
        &no_env,
    )
    .unwrap_err();
    assert_eq!(err.key, "database.url");
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

#[test]
fn a_lease_shorter_than_a_safe_renewal_is_refused() {
    let text = format!("{MINIMAL}\n[cluster]\nlease_ttl_ms = 100\n");
    let err = Config::parse(&text, &no_env).unwrap_err();
    assert_eq!(err.key, "cluster.lease_ttl_ms", "{err}");
}

#[test]
fn the_environment_overrides_the_file() {
    let env = |k: &str| match k {
        "YCLIENTS_USER_TOKEN" => Some("from-env".to_string()),
        "BOOKING_MONITOR_ENABLED" => Some("false".to_string()),
        "BOOKING_MONITOR_INTERVAL" => Some("1500".to_string()),
        "BOOKING_NOTIFICATION_DELAY" => Some("10".to_string()),
        _ => None,
    };
    let c = Config::parse(MINIMAL, &env).unwrap();
    assert_eq!(c.yclients.user_token.expose(), "from-env");
    assert!(!c.monitor.enabled);
    assert_eq!(c.monitor.poll_interval_ms, 1500);
    assert_eq!(c.monitor.notification_delay_ms, 10);
}

#[test]
fn errors_name_the_key() {
    let cases = [
        (
            MINIMAL.replace("user_token = \"u\"", ""),
            "yclients.user_token",
        ),
        (
            MINIMAL.replace("[whatsapp]", "[monitor]\npoll_interval_ms = 0\n[whatsapp]"),
            "monitor.poll_interval_ms",
        ),
        (
            MINIMAL.replace(
                "[whatsapp]",
                "[monitor]\npoll_interval_ms = \"soon\"\n[whatsapp]",
            ),
            "monitor.poll_interval_ms",
        ),
        (
            MINIMAL.replace("[whatsapp]", "[monitor]\npoll_intervall_ms = 5\n[whatsapp]"),
            "monitor",
        ),
        (
            MINIMAL.replace(
                "[whatsapp]",
                "[monitor]\nspare_budget_share = 1.5\n[whatsapp]",
            ),
            "monitor.spare_budget_share",
        ),
        (
            MINIMAL.replace(
                "[whatsapp]",
                "[monitor]\nmin_poll_interval_ms = 0\n[whatsapp]",
            ),
            "monitor.min_poll_interval_ms",
        ),
        (
            MINIMAL.replace(
                "[whatsapp]",
                "[monitor]\nproving_poll = \"yes\"\n[whatsapp]",
            ),
            "monitor.proving_poll",
        ),
        (
            MINIMAL.replace("provider = \"log\"", "provider = \"telegram\""),
            "whatsapp.provider",
        ),
        (
            MINIMAL.replace("sqlite://test.db", "mysql://x"),
            "database.url",
        ),
        (
            MINIMAL.replace("id = 1", "id = 1\ntimezone = \"Mars/Olympus\""),
            "companies[0].timezone",
        ),
        (
            format!("{MINIMAL}\n[messages]\nbooking_created = \"{{nope}}\""),
            "messages.booking_created",
        ),
        ("[database".to_string(), "config file"),
        (
            format!("{MINIMAL}\n[http]\nlisten = \"127.0.0.1:9187\""),
            "http.token",
        ),
    ];
    for (text, key) in cases {
        let err = Config::parse(&text, &no_env).unwrap_err();
        assert!(err.key.starts_with(key), "expected {key}, got {err}");
    }
}

/// Every key of the contract, set.
const FULL: &str = r#"
[database]
url = "sqlite://test.db"
pool_size = 4
connect_timeout_ms = 10000
[yclients]
base_url = "https://api.yclients.com"
partner_token = "p"
user_token = "u"
request_timeout_ms = 10000
partner_id = 7
page_size = 200
max_requests_per_second = 5
max_requests_per_minute = 200
webhook_token = "y"
[[companies]]
id = 1
name = "Салон"
address = "Москва"
timezone = "Europe/Moscow"
[monitor]
enabled = true
poll_interval_ms = 60000
notification_delay_ms = 30000
skip_online = true
bot_user_ids = [1]
cursor_overlap_ms = 300000
retry_initial_ms = 5000
retry_max_ms = 600000
max_attempts = 20
default_timezone = "Europe/Moscow"
[whatsapp]
provider = "log"
request_timeout_ms = 10000
[whatsapp.cloud_api]
base_url = "https://graph.facebook.com/v21.0"
phone_number_id = "1"
access_token = "a"
template = ""
language = "ru"
template_parameters = ["client_name"]
app_secret = "s"
verify_token = "v"
[whatsapp.green_api]
base_url = "https://api.green-api.com"
id_instance = "1"
api_token = "g"
[whatsapp.webhook]
url = "http://127.0.0.1:3000/send"
token = "w"
[messages]
booking_created = "{client_name}"
[supervisor]
max_restarts = 5
restart_window_ms = 60000
[http]
listen = "127.0.0.1:9187"
token = "h"
[log]
level = "info"
format = "term"
[tls]
ca_file = "/etc/ssl/extra.pem"
[cluster]
instance_id = "bm-1"
lease_ttl_ms = 15000
[staff]
telegram_bot_token = "t"
telegram_api_base_url = "https://api.telegram.org"
[fallback]
provider = "sms_ru"
after_ms = 900000
max_segments = 2
[fallback.sms_ru]
base_url = "https://sms.ru"
api_id = "i"
from = "Salon"
[fallback.smsc]
base_url = "https://smsc.ru"
login = "l"
password = "p"
sender = "Salon"
[fallback.webhook]
url = "http://127.0.0.1:3000/sms"
token = "w"
[sms]
booking_created = "{company}: {date} {time}"
booking_changed = "{company}: {changes}"
booking_cancelled = "{company}: {old_date}"
reminder_day_before = "{company}: {weekday}"
reminder_hours_before = "{company}: {address}"
"#;

#[test]
fn each_key_wrong_in_turn_is_named() {
    Config::parse(FULL, &no_env).expect("the full config is valid");
    let mut table = String::new();
    let mut checked = 0;
    for (i, line) in FULL.lines().enumerate() {
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            table = format!("{name}[0]");
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            table = name.to_string();
            continue;
        }
        let Some((key, _)) = line.split_once(" = ") else {
            continue;
        };
        // An inline table is the wrong type for every key of the contract.
        let mut lines: Vec<&str> = FULL.lines().collect();
        let wrong = format!("{key} = {{ wrong = 1 }}");
        lines[i] = &wrong;
        let err = Config::parse(&lines.join("\n"), &no_env).unwrap_err();
        assert_eq!(err.key, format!("{table}.{key}"), "{err}");
        checked += 1;
    }
    assert_eq!(checked, 70, "every key of the contract");
}

/// The keys parsed into types at load: a value of the right TOML type that means
/// nothing is named too, with what would do.
#[test]
fn each_typed_key_with_a_meaningless_value_is_named() {
    let cases = [
        (
            "timezone = \"Europe/Moscow\"",
            "timezone = \"Mars/Olympus\"",
            "companies[0].timezone",
            "unknown time zone \"Mars/Olympus\"",
        ),
        (
            "default_timezone = \"Europe/Moscow\"",
            "default_timezone = \"Moscow\"",
            "monitor.default_timezone",
            "unknown time zone \"Moscow\"",
        ),
        (
            "level = \"info\"",
            "level = \"critical\"",
            "log.level",
            "expected trace, debug, info, warn or error",
        ),
        (
            "format = \"term\"",
            "format = \"xml\"",
            "log.format",
            "json",
        ),
        (
            "listen = \"127.0.0.1:9187\"",
            "listen = \"localhost:9187\"",
            "http.listen",
            "expected an IP address and port like \"127.0.0.1:9187\"",
        ),
        (
            "listen = \"127.0.0.1:9187\"",
            "listen = \"127.0.0.1\"",
            "http.listen",
            "got \"127.0.0.1\"",
        ),
    ];
    for (line, wrong, key, says) in cases {
        // Whole lines: `timezone = …` is also the tail of `default_timezone = …`.
        let text: Vec<&str> = FULL
            .lines()
            .map(|l| if l == line { wrong } else { l })
            .collect();
        let err = Config::parse(&text.join("\n"), &no_env).unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert!(err.problem.contains(says), "{err}");
    }
}

#[test]
fn typed_keys_parse_into_their_types() {
    let c = Config::parse(FULL, &no_env).unwrap();
    assert_eq!(c.companies[0].timezone, Some(chrono_tz::Europe::Moscow));
    assert_eq!(c.monitor.default_timezone, chrono_tz::Europe::Moscow);
    assert_eq!(c.log.level, slog::Level::Info);
    assert_eq!(c.log.format, LogFormat::Term);
    let listen = c.http.and_then(|h| h.listen);
    assert_eq!(listen, Some("127.0.0.1:9187".parse().unwrap()));

    let c = Config::parse(MINIMAL, &no_env).unwrap();
    assert_eq!(c.companies[0].timezone, None);
    assert_eq!(c.monitor.default_timezone, chrono_tz::Europe::Moscow);
    assert_eq!(c.log.level, slog::Level::Info);
    assert_eq!(c.log.format, LogFormat::Term);

    for (name, level) in [
        ("trace", slog::Level::Trace),
        ("debug", slog::Level::Debug),
        ("warn", slog::Level::Warning),
        ("error", slog::Level::Error),
    ] {
        let text = format!("{MINIMAL}\n[log]\nlevel = \"{name}\"\nformat = \"json\"");
        let c = Config::parse(&text, &no_env).unwrap();
        assert_eq!((c.log.level, c.log.format), (level, LogFormat::Json));
    }
    let text = format!("{MINIMAL}\n[http]\nlisten = \"[::1]:9187\"\ntoken = \"h\"");
    let c = Config::parse(&text, &no_env).unwrap();
    assert_eq!(c.http.unwrap().listen, Some("[::1]:9187".parse().unwrap()));
}

#[test]
fn a_value_from_the_environment_is_blamed_on_the_variable() {
    let env = |k: &str| (k == "BOOKING_MONITOR_INTERVAL").then(|| "0".to_string());
    let err = Config::parse(MINIMAL, &env).unwrap_err();
    assert_eq!(err.key, "BOOKING_MONITOR_INTERVAL", "{err}");
    assert!(err.problem.contains("monitor.poll_interval_ms"), "{err}");
}

#[test]
fn a_toml_error_keeps_its_line_and_marker() {
    let err = Config::parse("[database]\nurl = \"x\"\nthis is = not [toml\n", &no_env).unwrap_err();
    let lines: Vec<&str> = err.problem.lines().collect();
    assert!(lines[0].contains("at line 3, column 6"), "{err}");
    assert_eq!(lines[1], "  3 | this is = not [toml", "{err}");
    assert_eq!(lines[2], "    |      ^", "{err}");
}

#[test]
fn secrets_do_not_show_in_debug() {
    let c = Config::parse(&MINIMAL.replace("\"u\"", "\"very-secret-token\""), &no_env).unwrap();
    assert!(!format!("{c:?}").contains("very-secret-token"));
}

#[test]
fn every_problem_is_reported_at_once_each_with_its_key() {
    // The production config's four secrets, all missing, and a bad interval.
    let text = r#"
[database]
url = "sqlite://test.db"
[yclients]
[[companies]]
id = 1
[monitor]
poll_interval_ms = 0
[whatsapp]
provider = "cloud_api"
[whatsapp.cloud_api]
phone_number_id = "1"
[http]
listen = "127.0.0.1:9187"
"#;
    let errors = Config::parse_all(text, &no_env).unwrap_err();
    let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "yclients.partner_token",
            "yclients.user_token",
            "monitor.poll_interval_ms",
            "whatsapp.cloud_api.access_token",
            "http.token",
        ]
    );
    let shown = errors.to_string();
    assert!(
        shown.starts_with("5 problems:\n  yclients.partner_token: missing"),
        "{shown}"
    );
    // `parse` keeps the first, as before.
    assert_eq!(
        Config::parse(text, &no_env).unwrap_err().key,
        "yclients.partner_token"
    );
}

/// The examples of issue 24: what a value must be, in words, and what it was.
#[test]
fn a_value_of_the_wrong_kind_is_refused_in_words() {
    let cases = [
        (
            "[monitor]\npoll_interval_ms = -1000",
            "monitor.poll_interval_ms",
            "expected a whole number of milliseconds, 1 or more, got -1000",
        ),
        (
            "[monitor]\npoll_interval_ms = 2.5",
            "monitor.poll_interval_ms",
            "expected a whole number of milliseconds, 1 or more, got 2.5",
        ),
        (
            "[monitor]\nbot_user_ids = [\"bot\"]",
            "monitor.bot_user_ids[0]",
            "expected a whole number (an id), got \"bot\"",
        ),
        (
            "[monitor]\nskip_online = \"yes\"",
            "monitor.skip_online",
            "expected true or false, got \"yes\"",
        ),
        (
            "[notifications]\nreminder_hours_before = \"2\"",
            "notifications.reminder_hours_before",
            "expected a number of hours between 0 and 8784 (fractions allowed), got \"2\"",
        ),
        (
            "[replies]\nask_in = \"created\"",
            "replies.ask_in",
            "expected a list, got \"created\"",
        ),
    ];
    for (text, key, problem) in cases {
        let err = Config::parse(&format!("{MINIMAL}\n{text}"), &no_env).unwrap_err();
        assert_eq!((err.key.as_str(), err.problem.as_str()), (key, problem));
    }
    let text = MINIMAL.replace("id = 1", "id = \"abc\"");
    let err = Config::parse(&text, &no_env).unwrap_err();
    assert_eq!(
        err.to_string(),
        "companies[0].id: expected a whole number (an id), got \"abc\""
    );
}
