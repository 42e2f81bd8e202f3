//! The whole booking lifecycle: changes, cancellations, reminders, quiet hours.
//! One test per rule, each named after it.

use booking_monitor::simulator::Booking;
use booking_monitor::store::{Kind, Status};
use chrono::{Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::json;

use crate::helpers::*;

const DELAY_MS: u64 = 400;

fn options(notifications: &str) -> Options {
    Options {
        delay_ms: DELAY_MS,
        extra: format!("[notifications]\n{notifications}\n"),
        ..Options::default()
    }
}

/// A started app whose client of `name` was confirmed a booking tomorrow at 14:00.
async fn confirmed(notifications: &str, name: &str) -> (TestApp, i64) {
    let app = spawn_app_with(options(notifications)).await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking(name, "79161234567"));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    (app, id)
}

/// The salon's wall clock now, plus `seconds`.
fn local_in(tz: &str, seconds: i64) -> NaiveDateTime {
    let tz: Tz = tz.parse().unwrap();
    (Utc::now() + Duration::seconds(seconds))
        .with_timezone(&tz)
        .naive_local()
}

/// Enough polls for a notice opened by the last one to have come due and gone.
async fn settle(app: &TestApp) {
    app.wait_for_more_polls(3).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(DELAY_MS);
    while std::time::Instant::now() < deadline {
        app.wait_for_more_polls(1).await;
    }
    app.wait_for_more_polls(3).await;
}

#[actix_rt::test]
async fn a_time_change_sends_one_changed_with_old_and_new_time() {
    let (app, id) = confirmed("", "Иван").await;
    app.sim.move_to(COMPANY, id, visit(1, 16, 30));

    let row = app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    let text = row.message.unwrap();
    assert!(
        text.contains("14:00") && text.contains("16:30"),
        "old and new time: {text}"
    );
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 2);
}

#[actix_rt::test]
async fn confirmation_alone_sends_nothing_with_a_time_change_one() {
    let (app, id) = confirmed("", "Пётр").await;
    app.sim.edit(COMPANY, id, |r| r["attendance"] = json!(2));
    settle(&app).await;
    assert_eq!(
        app.sim.world().messages.len(),
        1,
        "a confirmation is no change"
    );

    app.sim.edit(COMPANY, id, |r| r["attendance"] = json!(0));
    app.sim.move_to(COMPANY, id, visit(1, 15, 0));
    app.sim.edit(COMPANY, id, |r| r["attendance"] = json!(2));
    app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 2);
}

#[actix_rt::test]
async fn services_reordered_send_nothing() {
    let app = spawn_app_with(options("")).await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking {
        services: vec![("Стрижка".into(), 1500.0), ("Укладка".into(), 900.0)],
        ..admin_booking("Анна", "79161234568")
    });
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    app.sim.edit(COMPANY, id, |r| {
        let services = r["services"].as_array_mut().unwrap();
        services.reverse();
        services[0]["cost"] = json!(1700); // a price alone is no change either
    });
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn two_edits_inside_the_delay_send_one_message_with_the_final_state() {
    let (app, id) = confirmed("", "Олег").await;
    app.sim.move_to(COMPANY, id, visit(1, 16, 0));
    app.wait_for_kind(id, Kind::Changed, Status::Pending).await;
    app.sim.move_to(COMPANY, id, visit(1, 17, 45));

    let row = app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    assert!(row.message.unwrap().contains("17:45"));
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 2);
}

#[actix_rt::test]
async fn an_edit_undone_inside_the_delay_sends_nothing() {
    let (app, id) = confirmed("", "Мария").await;
    app.sim.move_to(COMPANY, id, visit(1, 18, 0));
    app.wait_for_kind(id, Kind::Changed, Status::Pending).await;
    app.sim.move_to(COMPANY, id, visit(1, 14, 0));

    let row = app.wait_for_kind(id, Kind::Changed, Status::Skipped).await;
    assert_eq!(row.last_error.as_deref(), Some("no_change"));
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn a_change_while_the_confirmation_is_pending_sends_only_the_confirmation() {
    let app = spawn_app_with(options("")).await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Ольга", "79161234569"));
    app.wait_for_kind(id, Kind::Created, Status::Pending).await;
    app.sim.move_to(COMPANY, id, visit(2, 11, 15));

    let row = app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    assert!(row.message.unwrap().contains("11:15"), "the final state");
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn two_real_changes_apart_send_two() {
    let (app, id) = confirmed("", "Сергей").await;
    app.sim.move_to(COMPANY, id, visit(1, 16, 0));
    app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    app.sim.move_to(COMPANY, id, visit(1, 12, 0));
    app.wait_for_messages(3).await;
    settle(&app).await;
    let messages = app.sim.world().messages.clone();
    assert_eq!(messages.len(), 3);
    assert!(messages[2].text.contains("16:00") && messages[2].text.contains("12:00"));
}

#[actix_rt::test]
async fn a_deletion_of_a_future_booking_sends_one_cancelled() {
    let (app, id) = confirmed("", "Дмитрий").await;
    app.sim.delete(COMPANY, id);
    let row = app.wait_for_kind(id, Kind::Cancelled, Status::Sent).await;
    assert!(row.message.unwrap().contains("отменена"));
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 2);
}

#[actix_rt::test]
async fn attendance_minus_one_of_a_future_booking_sends_one_cancelled() {
    let (app, id) = confirmed("", "Елена").await;
    app.sim.edit(COMPANY, id, |r| r["attendance"] = json!(-1));
    app.wait_for_kind(id, Kind::Cancelled, Status::Sent).await;
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 2);
}

#[actix_rt::test]
async fn a_cancellation_of_a_past_visit_sends_nothing() {
    let app = spawn_app_with(options("")).await;
    app.wait_until_monitoring().await;
    // Seen before monitoring would have made it ours; a visit already over.
    let id = app.create(Booking {
        online: true,
        ..Booking::by_admin(
            COMPANY,
            "Прошлый",
            "79161234570",
            local_in("Europe/Moscow", -3600),
        )
    });
    app.wait_for_kind(id, Kind::Created, Status::Skipped).await;
    app.sim.delete(COMPANY, id);
    settle(&app).await;
    let rows = app.notifications().await;
    assert!(rows.iter().all(|r| r.kind != Kind::Cancelled), "{rows:?}");
    assert!(app.sim.world().messages.is_empty());
}

#[actix_rt::test]
async fn a_cancellation_undone_within_the_delay_sends_nothing() {
    let (app, id) = confirmed("", "Игорь").await;
    app.sim.delete(COMPANY, id);
    app.wait_for_kind(id, Kind::Cancelled, Status::Pending)
        .await;
    app.sim.edit(COMPANY, id, |r| r["deleted"] = json!(false));
    let row = app
        .wait_for_kind(id, Kind::Cancelled, Status::Skipped)
        .await;
    assert_eq!(row.last_error.as_deref(), Some("not_cancelled"));
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn a_cancellation_undone_after_the_client_was_told_sends_a_restore() {
    let (app, id) = confirmed("", "Кирилл").await;
    app.sim.delete(COMPANY, id);
    app.wait_for_kind(id, Kind::Cancelled, Status::Sent).await;
    app.sim.edit(COMPANY, id, |r| r["deleted"] = json!(false));
    let row = app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    assert!(row.message.unwrap().contains("восстановлена"));
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 3);
}

#[actix_rt::test]
async fn a_bot_bookings_change_sends_nothing_an_online_bookings_change_sends_one() {
    let app = spawn_app_with(options("")).await;
    app.wait_until_monitoring().await;
    let bot = app.create(Booking {
        created_user_id: BOT_USER,
        ..admin_booking("Бот", "79160000002")
    });
    let online = app.create(Booking {
        online: true,
        created_user_id: 0,
        ..admin_booking("Онлайн", "79160000001")
    });
    app.wait_for_kind(online, Kind::Created, Status::Skipped)
        .await;
    app.wait_for_kind(bot, Kind::Created, Status::Skipped).await;
    app.sim.move_to(COMPANY, bot, visit(1, 19, 0));
    app.sim.move_to(COMPANY, online, visit(1, 19, 30));

    app.wait_for_kind(online, Kind::Changed, Status::Sent).await;
    settle(&app).await;
    let messages = app.sim.world().messages.clone();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].phone, "79160000001");
}

#[actix_rt::test]
async fn a_booking_made_before_the_first_start_edited_later_gets_changed() {
    let mut app = prepare(options("")).await;
    // Made and last changed ten minutes before the first start (YClients' clock set
    // back for it): older than any poll's overlap, so only the baseline brings it.
    app.sim.change(|w| w.clock_skew = Duration::minutes(-10));
    let id = app.create(Booking::by_admin(
        COMPANY,
        "Давний",
        "79161234571",
        visit(20, 10, 0),
    ));
    app.sim.change(|w| w.clock_skew = Duration::zero());
    app.start().await;
    app.wait_until_monitoring().await;
    let baseline = app
        .sim
        .world()
        .requests
        .iter()
        .any(|r| r.query.contains("start_date") && r.query.contains("end_date"));
    assert!(baseline, "the baseline of future bookings was read");
    settle(&app).await;
    assert!(
        app.sim.world().messages.is_empty(),
        "the baseline sends nothing"
    );

    app.sim.move_to(COMPANY, id, visit(21, 10, 0));
    app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn the_hours_before_reminder_goes_out_once_and_again_after_a_move() {
    // A lead of 118 s before a visit in 120 s: due in about 2 s.
    let lead = 118.0 / 3600.0;
    let app = spawn_app_with(options(&format!(
        "reminder_hours_before = {lead}\nreminder_min_gap_hours = 0"
    )))
    .await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking {
        online: true,
        ..Booking::by_admin(
            COMPANY,
            "Вера",
            "79161234572",
            local_in("Europe/Moscow", 120),
        )
    });
    let first = app
        .wait_for_kind(id, Kind::ReminderHoursBefore, Status::Sent)
        .await;
    assert!(first.message.unwrap().contains("Ждём вас"));
    settle(&app).await;
    assert_eq!(
        app.sim.world().messages.len(),
        1,
        "once, however many polls"
    );

    app.sim.move_to(COMPANY, id, local_in("Europe/Moscow", 123));
    app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    app.sim
        .wait_until(PATIENCE, |w| {
            (w.messages
                .iter()
                .filter(|m| m.text.contains("Ждём вас"))
                .count()
                == 2)
                .then_some(())
        })
        .await
        .expect("a second reminder for the new time");
    settle(&app).await;
    assert_eq!(app.sim.world().messages.len(), 3);
}

#[actix_rt::test]
async fn the_day_before_reminder_follows_the_salons_calendar_not_the_servers() {
    const ZONE: &str = "Asia/Vladivostok"; // UTC+10; the server runs in UTC
    let at = local_in(ZONE, 6);
    let app = spawn_app_with(Options {
        companies: vec![(COMPANY, ZONE)],
        ..options(&format!(
            "reminder_day_before = \"{}\"",
            at.format("%H:%M:%S")
        ))
    })
    .await;
    app.wait_until_monitoring().await;
    let tomorrow = (at.date() + chrono::Days::new(1))
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let later = (at.date() + chrono::Days::new(2))
        .and_hms_opt(12, 0, 0)
        .unwrap();
    let soon = app.create(Booking {
        online: true,
        ..Booking::by_admin(COMPANY, "Завтра", "79161234573", tomorrow)
    });
    let two_days = app.create(Booking {
        online: true,
        ..Booking::by_admin(COMPANY, "Послезавтра", "79161234574", later)
    });
    let sent = app
        .wait_for_kind(soon, Kind::ReminderDayBefore, Status::Sent)
        .await;
    assert!(sent.message.unwrap().contains("завтра"));
    settle(&app).await;
    let messages = app.sim.world().messages.clone();
    assert_eq!(messages.len(), 1, "never for a visit two days ahead");
    let pending = app
        .wait_for_kind(two_days, Kind::ReminderDayBefore, Status::Pending)
        .await;
    assert!(pending.due_at.and_utc() > Utc::now() + Duration::hours(23));
}

#[actix_rt::test]
async fn quiet_hours_hold_a_message_until_they_end() {
    let start = local_in("Europe/Moscow", -3600);
    let end = local_in("Europe/Moscow", 3);
    let app = spawn_app_with(options(&format!(
        "quiet_hours = \"{}-{}\"",
        start.format("%H:%M:%S"),
        end.format("%H:%M:%S")
    )))
    .await;
    app.wait_until_monitoring().await;
    let id = app.create(admin_booking("Тихо", "79161234575"));
    let row = app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let tz: Tz = "Europe/Moscow".parse().unwrap();
    let sent_local = row
        .sent_at
        .unwrap()
        .and_utc()
        .with_timezone(&tz)
        .naive_local();
    assert!(
        sent_local >= end.with_nanosecond(0).unwrap(),
        "sent at {sent_local}, inside quiet hours ending {end}"
    );
}

use chrono::Timelike;

#[actix_rt::test]
async fn kill_9_with_a_pending_change_and_a_due_reminder_loses_neither_and_sends_neither_twice() {
    // A lead of 115 s before a visit in 120 s: the reminder falls due while the
    // daemon is dead, and is still useful (half its lead) when it comes back.
    let lead = 115.0 / 3600.0;
    let app = prepare(Options {
        delay_ms: 1_000,
        ..options(&format!(
            "reminder_hours_before = {lead}\nreminder_min_gap_hours = 0"
        ))
    })
    .await;
    let mut daemon = app.spawn_binary();
    app.wait_until_monitoring().await;
    let moved = app.create(admin_booking("Пётр", "79161230001"));
    app.wait_for_kind(moved, Kind::Created, Status::Sent).await;
    let reminded = app.create(Booking {
        online: true,
        ..Booking::by_admin(
            COMPANY,
            "Нина",
            "79161230002",
            local_in("Europe/Moscow", 120),
        )
    });
    let reminder = app
        .wait_for_kind(reminded, Kind::ReminderHoursBefore, Status::Pending)
        .await;
    app.sim.move_to(COMPANY, moved, visit(1, 18, 0));
    app.wait_for_kind(moved, Kind::Changed, Status::Pending)
        .await;
    daemon.signal("KILL");
    // Killed by a signal: no exit code to check, only that it is gone.
    daemon.wait_exit(PATIENCE).await;
    let sent_before = app.sim.world().messages.len();
    assert_eq!(
        sent_before, 1,
        "only the confirmation went out before the kill"
    );

    // Dead past the reminder's time: waiting on the clock is the point here.
    let due = reminder.due_at.and_utc();
    let wait = (due - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(500)).await;

    let _restarted = app.spawn_binary();
    app.wait_for_kind(moved, Kind::Changed, Status::Sent).await;
    app.wait_for_kind(reminded, Kind::ReminderHoursBefore, Status::Sent)
        .await;
    settle(&app).await;
    let messages = app.sim.world().messages.clone();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert_eq!(
        messages.iter().filter(|m| m.phone == "79161230002").count(),
        1
    );
}

#[actix_rt::test]
async fn no_reminder_within_the_min_gap_after_a_confirmation() {
    // The reminder falls due seconds after the confirmation went out.
    let lead = 115.0 / 3600.0;
    let app = spawn_app_with(options(&format!(
        "reminder_hours_before = {lead}\nreminder_min_gap_hours = 3"
    )))
    .await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking::by_admin(
        COMPANY,
        "Зазор",
        "79161234576",
        local_in("Europe/Moscow", 120),
    ));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let row = app
        .wait_for_kind(id, Kind::ReminderHoursBefore, Status::Skipped)
        .await;
    assert_eq!(row.last_error.as_deref(), Some("recently_told"));
    assert_eq!(app.sim.world().messages.len(), 1);
}

#[actix_rt::test]
async fn a_database_from_before_the_lifecycle_reads_its_baseline_once() {
    use booking_monitor::domain::CompanyId;
    use booking_monitor::store::{self, PollCommit};

    let mut app = prepare(options("")).await;
    // A booking made two hours ago, monitored for one hour by a version without the
    // lifecycle: a cursor, but no baseline and no stored bookings.
    app.sim.change(|w| w.clock_skew = Duration::hours(-2));
    let id = app.create(Booking::by_admin(
        COMPANY,
        "Прежний",
        "79161234577",
        visit(20, 10, 0),
    ));
    app.sim.change(|w| w.clock_skew = Duration::zero());
    let now = Utc::now();
    let poll = PollCommit {
        lease_holder: None,
        company: CompanyId(COMPANY),
        new_cursor: Some(now),
        monitored_since: now - Duration::hours(1),
        planned_with: None,
        asked_at: now,
        now,
        baselined: false,
        phones: Vec::new(),
        proving_within: None,
        poll_every: None,
    };
    app.db
        .run(move |c| store::commit_poll(c, &poll, &[], |_| Ok(Vec::new()), |_| Ok(Vec::new())))
        .await
        .unwrap();

    app.start().await;
    app.wait_for_more_polls(4).await;
    let baselines = app
        .sim
        .world()
        .requests
        .iter()
        .filter(|r| r.query.contains("start_date"))
        .count();
    assert_eq!(baselines, 1, "the baseline is read once after the upgrade");
    assert!(app.sim.world().messages.is_empty(), "and sends nothing");

    app.sim.move_to(COMPANY, id, visit(21, 10, 0));
    app.wait_for_kind(id, Kind::Changed, Status::Sent).await;
    assert_eq!(app.sim.world().messages.len(), 1);
}
