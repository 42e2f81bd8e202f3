use super::*;
use crate::domain::{Audience, NotificationId};
use crate::store::{Known, OpenNotice};
use serde_json::json;

const NOW: &str = "2026-11-25T07:00:30Z";

fn policy(extra: &str) -> Policy {
    Policy::new(&config(extra))
}

fn config(extra: &str) -> Config {
    let text = format!(
        "[database]\nurl = \"sqlite://x.db\"\n[yclients]\npartner_token = \"p\"\nuser_token = \"u\"\n\
         [[companies]]\nid = 1\n[monitor]\nbot_user_ids = [555]\nnotification_delay_ms = 30000\n\
         [whatsapp]\nprovider = \"log\"\n{extra}"
    );
    Config::parse(&text, &|_| None).unwrap()
}

fn record(extra: serde_json::Value) -> Record {
    let mut base = json!({
        "id": 1, "create_date": "2026-11-25T10:00:00+0300",
        "datetime": "2026-12-01T14:00:00+03:00", "staff_id": 9,
        "services": [{"id": 1, "title": "Стрижка", "cost": 1500, "amount": 1}],
        "client": {"name": "Иван", "phone": "+7 916 123-45-67"},
        "online": false, "attendance": 0, "deleted": false, "created_user_id": 1
    });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    Record::from_json(base).unwrap()
}

fn now() -> DateTime<Utc> {
    NOW.parse().unwrap()
}

fn plan(policy: &Policy, record: &Record, known: &Known) -> Planned {
    let mut known = known.clone();
    known.monitored_since = "2026-11-25T06:00:00Z".parse().unwrap();
    policy.plan(&Sighting {
        record,
        known: &known,
        seen_at: now(),
        yclients_ahead_by: chrono::Duration::zero(),
        tz: chrono_tz::Europe::Moscow,
        pushed: false,
    })
}

/// What the database knows after the client was told `told`.
fn told(audience: Audience, told: &Record, open: Vec<OpenNotice>) -> Known {
    let mut known = Known::default();
    known.bookings.insert(
        told.id,
        StoredBooking {
            company_id: 1,
            record_id: told.id.0,
            audience,
            record_json: told.raw.to_string(),
            told_json: Some(told.raw.to_string()),
            told_at: Some(now().naive_utc() - chrono::Duration::days(1)),
            revision: 0,
            first_seen_at: now().naive_utc(),
            updated_at: now().naive_utc(),
            pushed_at: None,
            visit_at: None,
        },
    );
    known.open.insert(told.id, open);
    known
}

fn kinds(planned: &Planned) -> Vec<(Kind, Status)> {
    planned.open.iter().map(|n| (n.kind, n.status)).collect()
}

#[test]
fn an_admin_booking_gets_a_confirmation_an_online_one_none() {
    let p = policy("");
    let planned = plan(&p, &record(json!({})), &Known::default());
    assert_eq!(kinds(&planned), [(Kind::Created, Status::Pending)]);
    assert_eq!(planned.booking.audience, Audience::Ours);
    assert_eq!(planned.booking.told_json, None);

    let online = plan(&p, &record(json!({"online": true})), &Known::default());
    assert_eq!(online.open[0].reason, Some(Reason::OnlineBooking));
    assert_eq!(online.booking.audience, Audience::NotOurs);
    assert!(online.booking.told_json.is_some());

    let bot = plan(
        &p,
        &record(json!({"created_user_id": 555})),
        &Known::default(),
    );
    assert_eq!(bot.open[0].reason, Some(Reason::BotBooking));
    assert_eq!(bot.booking.audience, Audience::Bot);
}

#[test]
fn the_first_sights_skip_reasons() {
    let p = policy("");
    let reason = |extra| plan(&p, &record(extra), &Known::default()).open[0].reason;
    assert_eq!(reason(json!({"client": null})), Some(Reason::NoPhone));
    assert_eq!(
        reason(json!({"client": {"name": "X", "phone": "12345"}})),
        Some(Reason::InvalidPhone)
    );
    assert_eq!(
        reason(json!({"datetime": "2026-11-25T09:00:00+03:00"})),
        Some(Reason::PastVisit)
    );
}

#[test]
fn a_time_change_opens_one_change_notice_a_confirmation_none() {
    let p = policy("");
    let before = record(json!({}));
    let known = told(Audience::Ours, &before, vec![]);
    let moved = plan(
        &p,
        &record(json!({"datetime": "2026-12-01T16:00:00+03:00", "attendance": 2})),
        &known,
    );
    assert_eq!(kinds(&moved), [(Kind::Changed, Status::Pending)]);
    assert_eq!(moved.open[0].key, "r1");
    assert_eq!(moved.open[0].due_at, now() + chrono::Duration::seconds(30));
    assert_eq!(moved.booking.revision, 1);
    assert!(plan(&p, &record(json!({"attendance": 2})), &known)
        .open
        .is_empty());
}

#[test]
fn a_change_seen_while_the_confirmation_is_being_sent_is_news_after_it() {
    let p = policy("");
    let before = record(json!({}));
    let mut known = Known::default();
    known.bookings.insert(
        before.id,
        StoredBooking {
            told_json: None,
            ..told(Audience::Ours, &before, vec![]).bookings[&before.id].clone()
        },
    );
    known
        .created
        .insert(before.id, (Status::Sending, before.raw.to_string()));
    let moved = record(json!({"datetime": "2026-12-01T16:00:00+03:00"}));
    assert_eq!(
        kinds(&plan(&p, &moved, &known)),
        [(Kind::Changed, Status::Pending)]
    );
    // Still pending instead: the confirmation will carry the new time itself.
    known
        .created
        .insert(before.id, (Status::Pending, before.raw.to_string()));
    assert!(plan(&p, &moved, &known).open.is_empty());
}

#[test]
fn a_pending_change_folds_further_edits() {
    let p = policy("");
    let open = vec![OpenNotice {
        id: NotificationId(7),
        kind: Kind::Changed,
        key: "r1".into(),
        status: Status::Pending,
        due_at: now(),
    }];
    let known = told(Audience::Ours, &record(json!({})), open);
    let again = plan(&p, &record(json!({"staff_id": 10})), &known);
    assert!(again.open.is_empty() && again.close.is_empty());
}

#[test]
fn a_cancellation_supersedes_a_pending_change() {
    let p = policy("");
    let open = vec![OpenNotice {
        id: NotificationId(7),
        kind: Kind::Changed,
        key: "r1".into(),
        status: Status::Pending,
        due_at: now(),
    }];
    let known = told(Audience::NotOurs, &record(json!({})), open);
    let gone = plan(&p, &record(json!({"deleted": true})), &known);
    assert_eq!(kinds(&gone), [(Kind::Cancelled, Status::Pending)]);
    assert_eq!(gone.close, [(NotificationId(7), Reason::Superseded)]);
}

#[test]
fn the_bot_gets_no_change_notice() {
    let p = policy("");
    let known = told(Audience::Bot, &record(json!({})), vec![]);
    let moved = plan(
        &p,
        &record(json!({"datetime": "2026-12-01T16:00:00+03:00"})),
        &known,
    );
    assert!(moved.open.is_empty());
}

#[test]
fn reminders_are_keyed_by_the_visit_and_follow_a_move() {
    let p = policy("[notifications]\nreminder_day_before = \"18:00\"\nreminder_hours_before = 2");
    let first = plan(&p, &record(json!({"online": true})), &Known::default());
    assert_eq!(
        kinds(&first),
        [
            (Kind::Created, Status::Skipped),
            (Kind::ReminderDayBefore, Status::Pending),
            (Kind::ReminderHoursBefore, Status::Pending)
        ]
    );
    // 18:00 Moscow on 30 November; 12:00 Moscow on 1 December.
    assert_eq!(
        first.open[1].due_at,
        "2026-11-30T15:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(
        first.open[2].due_at,
        "2026-12-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
    );
    assert_eq!(first.open[1].key, "2026-12-01T11:00:00Z");

    let open = vec![OpenNotice {
        id: NotificationId(3),
        kind: Kind::ReminderDayBefore,
        key: first.open[1].key.clone(),
        status: Status::Pending,
        due_at: first.open[1].due_at,
    }];
    let known = told(Audience::NotOurs, &record(json!({"online": true})), open);
    let moved = plan(
        &p,
        &record(json!({"online": true, "datetime": "2026-12-03T14:00:00+03:00"})),
        &known,
    );
    assert!(moved.close.contains(&(NotificationId(3), Reason::Moved)));
    assert!(moved
        .open
        .iter()
        .any(|n| n.kind == Kind::ReminderDayBefore && n.key == "2026-12-03T11:00:00Z"));
}

#[test]
fn a_reminder_already_past_when_learned_of_is_not_sent() {
    let p = policy("[notifications]\nreminder_hours_before = 2");
    // A visit in one hour.
    let soon = record(json!({"datetime": "2026-11-25T11:00:30+03:00"}));
    let planned = plan(&p, &soon, &Known::default());
    let reminder = planned
        .open
        .iter()
        .find(|n| n.kind == Kind::ReminderHoursBefore)
        .unwrap();
    assert_eq!(reminder.status, Status::Skipped);
    assert_eq!(reminder.reason, Some(Reason::LateBooking));
}

fn recheck(
    p: &Policy,
    kind: Kind,
    key: &str,
    fresh: &Record,
    booking: &StoredBooking,
    now: &str,
) -> Recheck {
    p.recheck(&DueNotice {
        kind,
        key,
        fresh: Some(fresh),
        booking: Some(booking),
        registered_by_bot: false,
        now: now.parse().unwrap(),
        tz: chrono_tz::Europe::Moscow,
    })
}

#[test]
fn quiet_hours_hold_a_message_until_they_end() {
    let p = policy("[notifications]\nquiet_hours = \"21:00-09:00\"");
    let r = record(json!({}));
    let known = told(Audience::Ours, &r, vec![]);
    let booking = &known.bookings[&r.id];
    let moved = record(json!({"datetime": "2026-12-01T16:00:00+03:00"}));
    // 23:00 Moscow → 09:00 Moscow.
    assert_eq!(
        recheck(
            &p,
            Kind::Changed,
            "r1",
            &moved,
            booking,
            "2026-11-25T20:00:00Z"
        ),
        Recheck::WaitUntil("2026-11-26T06:00:00Z".parse().unwrap())
    );
    assert!(matches!(
        recheck(
            &p,
            Kind::Changed,
            "r1",
            &moved,
            booking,
            "2026-11-26T06:00:00Z"
        ),
        Recheck::Send(_)
    ));
    // Undone in the meantime: nothing.
    assert_eq!(
        recheck(&p, Kind::Changed, "r1", &r, booking, "2026-11-26T06:00:00Z"),
        Recheck::Close(Status::Skipped, Reason::NoChange)
    );
}

#[test]
fn a_late_reminder_goes_out_while_useful_and_not_after() {
    let p = policy("[notifications]\nreminder_hours_before = 2\nreminder_min_gap_hours = 0");
    let r = record(json!({}));
    let known = told(Audience::NotOurs, &r, vec![]);
    let booking = &known.bookings[&r.id];
    let key = "2026-12-01T11:00:00Z";
    // Due 09:00 UTC; useful until 10:00 UTC.
    assert!(matches!(
        recheck(
            &p,
            Kind::ReminderHoursBefore,
            key,
            &r,
            booking,
            "2026-12-01T09:59:00Z"
        ),
        Recheck::Send(_)
    ));
    assert_eq!(
        recheck(
            &p,
            Kind::ReminderHoursBefore,
            key,
            &r,
            booking,
            "2026-12-01T10:01:00Z"
        ),
        Recheck::Close(Status::Skipped, Reason::TooLate)
    );
    let moved = record(json!({"datetime": "2026-12-02T14:00:00+03:00"}));
    assert_eq!(
        recheck(
            &p,
            Kind::ReminderHoursBefore,
            key,
            &moved,
            booking,
            "2026-12-01T09:00:00Z"
        ),
        Recheck::Close(Status::Skipped, Reason::Moved)
    );
}

#[test]
fn no_reminder_right_after_a_change_notice() {
    let p = policy("[notifications]\nreminder_hours_before = 2\nreminder_min_gap_hours = 3");
    let r = record(json!({}));
    let mut known = told(Audience::NotOurs, &r, vec![]);
    let booking = known.bookings.get_mut(&r.id).unwrap();
    booking.told_at = Some("2026-12-01T08:00:00".parse().unwrap());
    assert_eq!(
        recheck(
            &p,
            Kind::ReminderHoursBefore,
            "2026-12-01T11:00:00Z",
            &r,
            booking,
            "2026-12-01T09:00:00Z"
        ),
        Recheck::Close(Status::Skipped, Reason::RecentlyTold)
    );
}

#[test]
fn a_poll_after_the_due_time_spares_the_reread() {
    let p = policy(""); // polls every 60 s
    let due: DateTime<Utc> = now();
    let polled = |at: Option<DateTime<Utc>>| Proof {
        stored: true,
        polled_at: at,
        pushed_at: None,
    };
    let after = Some(due + chrono::Duration::seconds(1));
    let before = Some(due - chrono::Duration::seconds(10));
    assert_eq!(p.source(due, polled(after), due), Source::Stored);
    let nothing_stored = Proof {
        stored: false,
        ..polled(after)
    };
    assert_eq!(p.source(due, nothing_stored, due), Source::Reread);
    assert_eq!(
        p.source(due, polled(before), due),
        Source::WaitForPoll(due + chrono::Duration::seconds(55))
    );
    assert_eq!(
        p.source(due, polled(before), due + chrono::Duration::minutes(3)),
        Source::Reread
    );
    // The old scheduling: a spare slot may buy the proof.
    let mut config = config("");
    config.monitor.proving_poll = false;
    let old = Policy::new(&config);
    assert_eq!(
        old.source(due, polled(before), due),
        Source::RereadIfSpare(due + chrono::Duration::seconds(55))
    );
}

#[test]
fn a_webhook_after_the_due_time_proves_it_too_and_a_pushed_booking_waits_for_no_poll() {
    let p = policy("");
    let due: DateTime<Utc> = now();
    let pushed = |at: DateTime<Utc>| Proof {
        stored: true,
        polled_at: Some(due - chrono::Duration::seconds(10)),
        pushed_at: Some(at),
    };
    assert_eq!(
        p.source(due, pushed(due + chrono::Duration::seconds(1)), due),
        Source::Stored
    );
    assert_eq!(
        p.source(due, pushed(due - chrono::Duration::seconds(20)), due),
        Source::Reread
    );
}
