//! Lifecycle settings changed on a running installation (reminders turned on, off
//! or moved): at the next start, each salon's stored future bookings are planned
//! again once, so bookings that do not change afterwards get what the new settings
//! promise, and nothing is sent twice.

use booking_monitor::simulator::Booking;
use booking_monitor::store::{Kind, Notification, Status};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::helpers::*;

const MOSCOW: chrono_tz::Tz = chrono_tz::Europe::Moscow;

/// Polls never reach back for a booking once it was seen: only a replan can open
/// a reminder for it.
fn options(notifications: &str) -> Options {
    Options {
        delay_ms: 300,
        monitor_extra: "cursor_overlap_ms = 0".into(),
        extra: settings(notifications),
        ..Options::default()
    }
}

fn settings(notifications: &str) -> String {
    format!("[notifications]\nreminder_min_gap_hours = 0\n{notifications}\n")
}

/// A visit two hours ahead, on the minute: the salon's wall clock and the instant.
fn visit_in_two_hours() -> (NaiveDateTime, DateTime<Utc>) {
    let local = (Utc::now() + Duration::hours(2))
        .with_timezone(&MOSCOW)
        .naive_local()
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap();
    let at = MOSCOW
        .from_local_datetime(&local)
        .unwrap()
        .with_timezone(&Utc);
    (local, at)
}

/// `reminder_hours_before` that makes the reminder of a visit at `visit` due at `due`.
fn hours_before(visit: DateTime<Utc>, due: DateTime<Utc>) -> String {
    let hours = (visit - due).num_milliseconds() as f64 / 3_600_000.0;
    format!("reminder_hours_before = {hours:.9}")
}

/// A started app with a booking confirmed and stored; polls no longer bring it.
async fn known_booking(notifications: &str) -> (TestApp, i64, DateTime<Utc>) {
    let app = spawn_app_with(options(notifications)).await;
    app.wait_until_monitoring().await;
    let (local, at) = visit_in_two_hours();
    let id = app.create(Booking::by_admin(COMPANY, "Анна", "79161230001", local));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    app.wait_for_more_polls(2).await;
    (app, id, at)
}

/// Restarts the daemon with other `[notifications]`.
async fn restart_with(app: &mut TestApp, notifications: &str) {
    app.stop().await;
    app.options.extra = settings(notifications);
    app.start().await;
}

async fn reminders(app: &TestApp, id: i64) -> Vec<Notification> {
    app.notifications()
        .await
        .into_iter()
        .filter(|n| n.record_id == id && n.kind == Kind::ReminderHoursBefore)
        .collect()
}

fn replan_line(app: &TestApp) -> String {
    let lines: Vec<String> = app
        .logs
        .lines()
        .into_iter()
        .filter(|l| l.contains("planned its stored bookings again"))
        .collect();
    assert_eq!(lines.len(), 1, "one replan: {lines:?}");
    lines[0].clone()
}

#[actix_rt::test]
async fn reminders_turned_on_later_are_planned_for_the_bookings_already_known() {
    let (mut app, id, visit) = known_booking("").await;
    assert!(reminders(&app, id).await.is_empty());

    restart_with(
        &mut app,
        &hours_before(visit, Utc::now() + Duration::seconds(3)),
    )
    .await;
    app.wait_for_kind(id, Kind::ReminderHoursBefore, Status::Sent)
        .await;
    let line = replan_line(&app);
    assert!(
        line.contains("opened: 1") && line.contains("closed: 0"),
        "{line}"
    );
    app.wait_for_more_polls(3).await;
    assert_eq!(reminders(&app, id).await.len(), 1);
    assert_eq!(
        app.sim.world().messages.len(),
        2,
        "the confirmation and one reminder"
    );
    app.stop().await;
}

#[actix_rt::test]
async fn a_reminder_moved_to_another_time_goes_out_once_at_the_new_time() {
    let (local, visit) = visit_in_two_hours();
    let mut app = spawn_app_with(options(&hours_before(visit, visit - Duration::hours(1)))).await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking::by_admin(COMPANY, "Борис", "79161230002", local));
    app.wait_for_kind(id, Kind::Created, Status::Sent).await;
    let planned = app
        .wait_for_kind(id, Kind::ReminderHoursBefore, Status::Pending)
        .await;
    assert!(planned.due_at() > Utc::now() + Duration::minutes(50));
    app.wait_for_more_polls(2).await;

    let new_due = Utc::now() + Duration::seconds(3);
    restart_with(&mut app, &hours_before(visit, new_due)).await;
    let sent = app
        .wait_for_kind(id, Kind::ReminderHoursBefore, Status::Sent)
        .await;
    assert!(sent.sent_at.unwrap().and_utc() >= new_due - Duration::seconds(1));
    assert!(replan_line(&app).contains("moved: 1"));

    // Started again with the same settings: nothing is planned again or sent twice.
    restart_with(&mut app, &hours_before(visit, new_due)).await;
    app.wait_for_more_polls(3).await;
    assert_eq!(reminders(&app, id).await.len(), 1);
    assert_eq!(app.sim.world().messages.len(), 2);
    app.stop().await;
}

#[actix_rt::test]
async fn reminders_turned_off_close_their_pending_notices_at_once() {
    let (local, visit) = visit_in_two_hours();
    let mut app = spawn_app_with(options(&hours_before(visit, visit - Duration::hours(1)))).await;
    app.wait_until_monitoring().await;
    let id = app.create(Booking::by_admin(COMPANY, "Вера", "79161230003", local));
    app.wait_for_kind(id, Kind::ReminderHoursBefore, Status::Pending)
        .await;
    app.wait_for_more_polls(2).await;

    restart_with(&mut app, "").await;
    let closed = app
        .wait_for_kind(id, Kind::ReminderHoursBefore, Status::Skipped)
        .await;
    assert_eq!(closed.last_error.as_deref(), Some("turned_off"));
    let line = replan_line(&app);
    assert!(
        line.contains("closed: 1") && line.contains("opened: 0"),
        "{line}"
    );
    app.stop().await;
}
