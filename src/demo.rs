//! `booking-monitor demo`: the whole pipeline against the built-in simulator, with
//! a temporary SQLite file and short timings. Needs no account; exits by itself.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{Days, NaiveTime, Utc};

use crate::config::Config;
use crate::daemon::Daemon;
use crate::logging;
use crate::simulator::{Booking, ConfigParts, Simulator};
use crate::store::{self, Db};

const COMPANY: i64 = 4564;
const BOT_USER: i64 = 777;
const WAIT: Duration = Duration::from_secs(20);

/// Runs the demo; `serve_for` keeps its status page up that long after the summary.
pub fn run(serve_for: Duration) -> i32 {
    let logger = logging::terminal(slog::Level::Info);
    crate::panic_guard::install_hook(logger.clone());
    let dir = std::env::temp_dir().join(format!("booking-monitor-demo-{}", std::process::id()));
    let result = actix_rt::System::new().block_on(demo(logger, dir.clone(), serve_for));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("demo failed: {e}");
            1
        }
    }
}

/// The config a demo runs with: the simulator's URLs, short timings.
pub fn config(sim: &Simulator, db_path: &std::path::Path) -> String {
    let parts = ConfigParts {
        monitor: format!(
            "poll_interval_ms = 500\nnotification_delay_ms = 3000\nbot_user_ids = [{BOT_USER}]"
        ),
        tables: "[http]\nlisten = \"127.0.0.1:0\"\ntoken = \"demo-http-token\"".into(),
        ..ConfigParts::default()
    };
    sim.daemon_config(db_path, &[COMPANY], &parts)
}

async fn demo(logger: slog::Logger, dir: PathBuf, serve_for: Duration) -> Result<(), String> {
    let started = std::time::Instant::now();
    let sim = Simulator::start().await.map_err(|e| e.to_string())?;
    sim.add_company(
        COMPANY,
        "Барбершоп «Борода»",
        "Москва, Большой Саввинский пер., д. 3",
        "Europe/Moscow",
    );
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let db_path = dir.join("demo.db");
    let config = Config::parse(&config(&sim, &db_path), &|_| None).map_err(|e| e.to_string())?;
    let db = Db::open(&db_path).map_err(|e| e.to_string())?;
    say(&format!(
        "A simulated YClients and WhatsApp run at {}; the database is {}.\n\
         Polls every 0.5 s, confirmations 3 s after a booking is made.",
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

    sim.wait_for_polls(2, WAIT).await?;
    let tomorrow = Utc::now().date_naive() + Days::new(1);
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
    sim.create(Booking {
        online: true,
        created_user_id: 0,
        ..Booking::by_admin(COMPANY, "Борис", "+7 916 222-33-44", at(15, 0))
    });
    say("Our booking bot books Вера (the bot confirms its own bookings).");
    sim.create(Booking {
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

    let polls = sim.world().record_list_requests();
    sim.wait_for_polls(polls + 2, WAIT).await?;
    say("Within the grace delay, Глеб's visit moves to 16:30 and Дарья's booking is deleted.");
    sim.move_to(COMPANY, gleb, at(16, 30));
    sim.delete(COMPANY, darya);

    let messages = sim.wait_for_messages(2, WAIT).await?;
    for m in &messages {
        say(&format!(
            "WhatsApp received for {}:\n    {}",
            crate::domain::mask_phone(&m.phone),
            m.text.replace('\n', "\n    ")
        ));
    }
    // The cancellation of the deleted booking is decided at its due time too.
    let rows = loop {
        let rows = db
            .run(store::all_notifications)
            .await
            .map_err(|e| e.to_string())?;
        let settled = rows.iter().all(|r| {
            !matches!(
                Some(r.status),
                Some(store::Status::Pending | store::Status::Sending)
            )
        });
        if settled || started.elapsed() > Duration::from_secs(50) {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary_at = started.elapsed();
    if !serve_for.is_zero() {
        say(&format!(
            "Keeping the status page at {page} up for {} s.",
            serve_for.as_secs()
        ));
        tokio::time::sleep(serve_for).await;
    }
    daemon.shutdown().await;
    sim.stop().await;

    let names = [(anna, "Анна"), (gleb, "Глеб"), (darya, "Дарья")];
    println!("\nSummary ({:.1} s):", summary_at.as_secs_f64());
    for row in &rows {
        let who = names
            .iter()
            .find(|(id, _)| *id == row.record_id)
            .map(|(_, n)| *n)
            .unwrap_or("");
        println!(
            "  record {:>5} {:<6} {:<10} {}",
            row.record_id,
            who,
            row.status,
            row.last_error.as_deref().unwrap_or("")
        );
    }
    println!("  WhatsApp messages sent: {}", sim.world().messages.len());
    let sent = rows
        .iter()
        .filter(|r| r.status == store::Status::Sent)
        .count();
    if sent == 2 && messages.len() == 2 && messages.iter().any(|m| m.text.contains("16:30")) {
        Ok(())
    } else {
        Err("the demo did not end as expected".into())
    }
}

fn say(text: &str) {
    println!("\n>>> {text}");
}
