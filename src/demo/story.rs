//! The demo's story: the salon, the bookings and what happens to them, and the
//! summary at the end.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Timelike, Utc};
use chrono_tz::Tz;

use super::{
    out, salon_two, say, DemoError, Shown, BOT_USER, COMPANY, COMPANY_NAME, DB_FILE, WAIT,
};
use crate::config::Config;
use crate::daemon::Daemon;
use crate::simulator::{Booking, ConfigParts, Simulator, StatusCallbacks, WebhookSender};
use crate::store::{self, Db};

/// The salon's zone: the bookings' times are its wall-clock times.
const SALON_TZ: Tz = chrono_tz::Europe::Moscow;

/// The salon's tomorrow at `now`: in the UTC evening Moscow is already in the next
/// day, and the demo's "tomorrow" must not be the salon's today.
fn salon_tomorrow(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&SALON_TZ).date_naive() + Days::new(1)
}

/// How soon the demo's hours-before reminder falls due after the demo starts.
const REMINDER_IN: i64 = 8;
/// The reminder's lead: short, so that a visit ten minutes away has its reminder soon.
const REMINDER_LEAD: i64 = 600 - REMINDER_IN;

/// How long WhatsApp has to report a notice delivered before its SMS goes.
const FALLBACK_AFTER_MS: u64 = 4_000;

/// The secrets of the demo's webhooks (YClients' URL token, Meta's app secret).
const WEBHOOK_TOKEN: &str = "demo-webhook-token-0123456789";
const APP_SECRET: &str = "demo-app-secret";

/// The config a demo runs with: the simulator's URLs, webhooks on and polls a
/// minute apart (everything after the first poll comes by push), a 3 s delay, and
/// an hours-before reminder with a lead of a few minutes.
pub fn config(sim: &Simulator, db_path: &std::path::Path) -> String {
    let parts = ConfigParts {
        yclients: format!("webhook_token = \"{WEBHOOK_TOKEN}\""),
        monitor: format!(
            "poll_interval_ms = 60000\nnotification_delay_ms = 3000\nbot_user_ids = [{BOT_USER}]"
        ),
        cloud_api: format!("app_secret = \"{APP_SECRET}\""),
        company: format!("staff_telegram_chat_id = -100{COMPANY}"),
        tables: format!(
            "[notifications]\nreminder_hours_before = {}\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\ntoken = \"demo-http-token\"\n\n\
             [replies]\nenabled = true\nask_in = [\"created\"]\n\n\
             [staff]\ntelegram_bot_token = \"123456:demo-bot-token\"\ntelegram_api_base_url = \"{}\"\n\n\
             [fallback]\nprovider = \"sms_ru\"\nafter_ms = {FALLBACK_AFTER_MS}\n\
             sms_ru = {{ base_url = \"{}\", api_id = \"demo-sms-api-id\" }}\n\n{}",
            REMINDER_LEAD as f64 / 3600.0,
            sim.telegram_url(),
            sim.sms_ru_url(),
            salon_two::config(sim, APP_SECRET),
        ),
        ..ConfigParts::default()
    };
    sim.daemon_config(&Simulator::sqlite_url(db_path), &[COMPANY], &parts)
}

pub(super) async fn demo(logger: slog::Logger, dir: &Path, kept: bool) -> Result<Shown, DemoError> {
    let started = std::time::Instant::now();
    let sim = Simulator::start().await.map_err(|e| e.to_string())?;
    sim.add_company(
        COMPANY,
        COMPANY_NAME,
        "Москва, Большой Саввинский пер., д. 3",
        SALON_TZ.name(),
    );
    sim.add_company(
        salon_two::SALON,
        salon_two::SALON_NAME,
        "Москва, Тверская ул., д. 12",
        SALON_TZ.name(),
    );
    let io = |source| DemoError::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let dir = std::path::absolute(dir).map_err(io)?;
    let db_path = dir.join(DB_FILE);
    // A second demo's records would collide with the first's ids and cursor.
    if kept && db_path.exists() {
        return Err(DemoError::KeepOccupied(dir));
    }
    // A visit ten minutes from now (salon-local), whose reminder falls due shortly.
    let soon = (Utc::now() + chrono::Duration::seconds(REMINDER_IN + REMINDER_LEAD))
        .with_timezone(&SALON_TZ)
        .naive_local()
        .with_nanosecond(0)
        .expect("a whole second");
    let config = Config::parse(&config(&sim, &db_path), &|_| None).map_err(|e| e.to_string())?;
    let db = Db::open(&db_path).map_err(|e| e.to_string())?;
    say(&format!(
        "A simulated YClients and WhatsApp run at {}; the database is {}.\n\
         YClients polled once a minute; its webhooks bring every booking event at once.\n\
         Confirmations 3 s after a booking is made; WhatsApp reports delivered, then read.",
        sim.base_url(),
        db_path.display()
    ));
    let daemon = Daemon::start(config, db.clone(), logger).map_err(|e| e.to_string())?;
    let page = daemon
        .http_addr()
        .map(|a| format!("http://{a}/"))
        .unwrap_or_default();
    say(&format!(
        "The status page is at {page} (metrics at {page}metrics)."
    ));
    sim.change(|w| {
        w.webhooks = Some(WebhookSender {
            url: format!("{page}webhooks/yclients/{WEBHOOK_TOKEN}"),
            // YClients repeats an update; the daemon answers each, sends once.
            update_repeats: 4,
        });
        w.status_callbacks = Some(StatusCallbacks {
            url: format!("{page}webhooks/whatsapp"),
            app_secret: APP_SECRET.into(),
            statuses: vec!["delivered", "read"],
        });
    });
    // Monitoring begins with the first poll; webhooks are taken from then on.
    wait_for(
        &db,
        |found| found == Some(true),
        |c| store::cursor(c, crate::domain::CompanyId(COMPANY)).map(|c| c.is_some()),
    )
    .await?;
    let tomorrow = salon_tomorrow(Utc::now());
    let at = |h, m| tomorrow.and_time(NaiveTime::from_hms_opt(h, m, 0).expect("a time"));
    say("An administrator books Анна for 14:00 tomorrow, by phone.");
    let anna = sim.create(Booking::by_admin(
        COMPANY,
        "Анна",
        "8 (916) 111-22-33",
        at(14, 0),
    ));
    say(
        "Борис books himself through the online widget (he already has the widget's confirmation).",
    );
    let boris = sim.create(Booking {
        online: true,
        created_user_id: 0,
        ..Booking::by_admin(COMPANY, "Борис", "+7 916 222-33-44", at(15, 0))
    });
    say("Our booking bot books Вера (the bot confirms its own bookings).");
    let vera = sim.create(Booking {
        created_user_id: BOT_USER,
        ..Booking::by_admin(COMPANY, "Вера", "79163334455", at(16, 0))
    });
    say("The administrator books Глеб for 14:00 and Дарья for 17:00.");
    let gleb = sim.create(Booking::by_admin(COMPANY, "Глеб", "9164445566", at(14, 0)));
    let darya = sim.create(Booking::by_admin(
        COMPANY,
        "Дарья",
        "+7 (916) 555-66-77",
        at(17, 0),
    ));
    say(&format!(
        "Егор books himself online for {} today; reminders go out {} min before a visit.",
        soon.format("%H:%M"),
        REMINDER_LEAD / 60
    ));
    let egor = sim.create(Booking {
        online: true,
        created_user_id: 0,
        ..Booking::by_admin(COMPANY, "Егор", "+7 916 666-77-88", soon)
    });

    // The webhooks have brought all six: every confirmation is decided or waiting.
    wait_for(
        &db,
        |rows| rows >= Some(6),
        |c| {
            store::all_notifications(c).map(|rows| {
                rows.iter()
                    .filter(|r| r.kind == store::Kind::Created)
                    .count()
            })
        },
    )
    .await?;
    say("Within the grace delay, Глеб's visit moves to 16:30 and Дарья's booking is deleted.");
    sim.move_to(COMPANY, gleb, at(16, 30));
    sim.delete(COMPANY, darya);

    let confirmations = sim.wait_for_messages(2, WAIT).await?;
    show(&confirmations);
    say("After the confirmations: Анна's visit moves to 15:30, and the salon cancels Глеб's.");
    sim.move_to(COMPANY, anna, at(15, 30));
    sim.delete(COMPANY, gleb);
    let messages = sim.wait_for_messages(5, WAIT).await?;
    show(&messages[2..]);
    // Meta's callbacks: each message delivered, then read.
    wait_for(
        &db,
        |read| read == Some(5),
        |c| {
            store::count_deliveries(c, None).map(|counts| {
                counts
                    .iter()
                    .find(|(status, _)| status == "read")
                    .map_or(0, |(_, n)| *n)
            })
        },
    )
    .await?;
    let first_chapter = messages.clone();
    let chapter = salon_two::play(&sim, &page, APP_SECRET, at).await?;
    // Every decision due by now is made; tomorrow's reminders stay pending.
    let rows = loop {
        let rows = db
            .run(store::all_notifications)
            .await
            .map_err(|e| e.to_string())?;
        let horizon = Utc::now() + chrono::Duration::minutes(1);
        let settled = rows
            .iter()
            .all(|r| !r.status.is_open() || r.due_at.and_utc() > horizon);
        if settled || started.elapsed() > Duration::from_secs(50) {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary_at = started.elapsed();

    let mut names = vec![
        (anna, "Анна"),
        (boris, "Борис"),
        (vera, "Вера"),
        (gleb, "Глеб"),
        (darya, "Дарья"),
        (egor, "Егор"),
    ];
    names.extend(chapter.names);
    let mut rows = rows;
    // Each booking's notices, then their SMS, then what the client's reply and the
    // failures set off: the same order whichever of Meta's statuses and the
    // clients' replies arrived first.
    rows.sort_by_key(|r| (r.record_id, summary_rank(r.kind), r.id));
    let summary = summary(summary_at, &rows, &names, &sim) + &salon_two::summary(&sim);
    out(&summary);
    if kept {
        let config_path = dir.join("config.toml");
        std::fs::write(&config_path, kept_config(&db_path)).map_err(|source| DemoError::Io {
            path: config_path.clone(),
            source,
        })?;
        // The binary that runs now: `booking-monitor` is not on PATH after `cargo run`.
        let me = std::env::current_exe().unwrap_or_else(|_| "booking-monitor".into());
        let config_path = std::path::absolute(&config_path).unwrap_or(config_path);
        out(&format!(
            "\nThe database is kept; to look at it again:\n  {} status --config {}\n",
            me.display(),
            config_path.display()
        ));
    }
    let sent = rows
        .iter()
        .filter(|r| r.company_id == COMPANY && r.status == store::Status::Sent)
        .filter(|r| store::Kind::NOTICES.contains(&r.kind))
        .count();
    let said = |needle: &str| first_chapter.iter().any(|m| m.text.contains(needle));
    let world = sim.world();
    // Two replies and one undelivered message told the staff; one SMS went.
    let second_chapter = world.sms.len() == 1 && world.telegram.len() == 3;
    drop(world);
    let as_expected = sent == 5
        && second_chapter
        && said("16:30")
        && said("→")
        && said("отменена")
        && said("Ждём вас");
    Ok(Shown {
        daemon,
        sim,
        page,
        as_expected,
    })
}

/// Where a row of a kind stands among its booking's rows in the summary.
fn summary_rank(kind: crate::domain::Kind) -> u8 {
    use crate::domain::Effect;
    match kind.effect() {
        Effect::Notice => 0,
        Effect::Sms => 1,
        Effect::Staff => 2,
        Effect::YClientsWrite => 3,
        Effect::Answer => 4,
    }
}

/// The closing table: each notice of each booking, then what went over the wire.
fn summary(
    took: Duration,
    rows: &[store::Notification],
    names: &[(i64, &str)],
    sim: &Simulator,
) -> String {
    let mut summary = format!("\nSummary ({:.1} s):\n", took.as_secs_f64());
    for row in rows {
        let who = names
            .iter()
            .find(|(id, _)| *id == row.record_id)
            .map(|(_, n)| *n)
            .unwrap_or("");
        let line = format!(
            "  record {:>5} {:<6} {:<21} {:<10} {}",
            row.record_id,
            who,
            row.kind,
            row.status,
            row.last_error.as_deref().unwrap_or("")
        );
        summary.push_str(line.trim_end());
        summary.push('\n');
    }
    let world = sim.world();
    let taken = |kinds: &[&str]| {
        world
            .pushed
            .iter()
            .filter(|p| p.status == 200 && kinds.iter().any(|k| p.what.starts_with(k)))
            .count()
    };
    let yclients_requests = world
        .requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/"))
        .count();
    summary.push_str(&format!(
        "  WhatsApp messages sent: {}, all reported read\n  \
         YClients webhook events taken: {}; WhatsApp statuses taken: {}\n  \
         YClients requests: {yclients_requests} (each salon's first poll and baseline, the salons' \
         details, re-reads before sending, the visit confirmed)\n",
        world.messages.len(),
        taken(&["create", "update", "delete"]),
        taken(&["delivered", "read"]),
    ));
    summary
}

/// A config for reading a kept demo database with `status` (and nothing else:
/// the simulator it pointed at is gone). The database is named relative to the
/// config, beside it: the directory may be moved.
fn kept_config(db_path: &Path) -> String {
    let file = db_path.file_name().map(Path::new).unwrap_or(db_path);
    format!(
        "# Written by `booking-monitor demo --keep`, for `status` on the demo's database.\n\
         [database]\nurl = \"sqlite://{}\"\n\n\
         [yclients]\npartner_token = \"demo\"\nuser_token = \"demo\"\n\n\
         [[companies]]\nid = {COMPANY}\nname = \"{COMPANY_NAME}\"\n\n\
         [[companies]]\nid = {}\nname = \"{}\"\n\n\
         [whatsapp]\nprovider = \"log\"\n\n\
         [replies]\nenabled = true\nask_in = [\"created\"]\n",
        file.display(),
        salon_two::SALON,
        salon_two::SALON_NAME
    )
}

/// Waits (at most `WAIT`) until what `read` finds in the database satisfies `done`.
async fn wait_for<T: Send + 'static>(
    db: &Db,
    done: impl Fn(Option<T>) -> bool,
    read: impl Fn(&mut store::Conn) -> Result<T, store::StoreError> + Send + Sync + Clone + 'static,
) -> Result<(), DemoError> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let read = read.clone();
        let found = db.run(move |c| read(c)).await.ok();
        if done(found) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(DemoError::Failed(
                "the daemon did not get there in time".into(),
            ));
        }
        // The database has no events to await.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn show(messages: &[crate::simulator::SentMessage]) {
    for m in messages {
        say(&format!(
            "WhatsApp received for {}:\n    {}",
            crate::domain::mask_phone(&m.phone),
            m.text.replace('\n', "\n    ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("an RFC 3339 time")
    }

    #[test]
    fn tomorrow_is_the_salons_tomorrow_in_the_utc_evening() {
        // 22:30 UTC is 01:30 on the 28th in Moscow: tomorrow there is the 29th.
        assert_eq!(
            salon_tomorrow(utc("2026-11-27T22:30:00Z")),
            NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
        );
        // By day both calendars agree.
        assert_eq!(
            salon_tomorrow(utc("2026-11-27T12:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
        );
    }
}
