//! What a notice WhatsApp could not deliver calls for, as outbox rows: the salon's
//! staff are told (they may phone the client), and with `[fallback]` on, the
//! notice goes by SMS. Opened where the failure becomes known: a final error at
//! send, or a `failed` delivery status; and when a notice goes out through a sender
//! whose statuses come in, an SMS is opened for later, in case no `delivered`
//! comes in time. A sender whose sending WhatsApp suspended tells its salons'
//! staff, once a day.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::domain::{CompanyId, Kind, RecordId, Status};
use crate::lifecycle::parse_record;
use crate::replies::alert;
use crate::salons::Salons;
use crate::store::{Effects, NewNotification, Notification};

/// A notice failed for good (`error`): the staff, and an SMS now.
pub fn effects(config: &Config, salons: &Salons, row: &Notification, error: &str) -> Effects {
    let Some(record) = parse_record(&row.record_json) else {
        return Vec::new();
    };
    let salon = salons.known(row.company());
    let phone = row.phone.clone().unwrap_or_default();
    let mut effects = vec![(
        row.company(),
        row.record(),
        NewNotification {
            kind: Kind::StaffAlert,
            key: format!("undelivered:{}", row.id),
            status: Status::Pending,
            phone: row.phone.clone(),
            due_at: Utc::now(),
            reason: None,
            record_json: row.record_json.clone(),
            message: Some(alert::undelivered_text(&salon, &phone, &record, error)),
        },
    )];
    effects.extend(sms(config, row, Utc::now()));
    effects
}

/// A notice just went out: its SMS, due once WhatsApp had `fallback.after_ms` to
/// deliver it, where its sender's statuses come in (else nothing would ever say
/// it was delivered).
pub fn after_sent(config: &Config, row: &Notification, sent_at: DateTime<Utc>) -> Effects {
    if !config.whatsapp_for(row.company()).statuses_come_in() {
        return Vec::new();
    }
    let after = chrono::Duration::milliseconds(config.fallback.after_ms as i64);
    sms(config, row, sent_at + after)
}

fn sms(config: &Config, row: &Notification, due_at: DateTime<Utc>) -> Effects {
    if !config.fallback.enabled() || !Kind::NOTICES.contains(&row.kind) {
        return Vec::new();
    }
    vec![(
        row.company(),
        row.record(),
        NewNotification {
            kind: Kind::Sms,
            key: row.id.to_string(),
            status: Status::Pending,
            phone: row.phone.clone(),
            due_at,
            reason: None,
            record_json: row.record_json.clone(),
            message: None,
        },
    )]
}

/// WhatsApp suspended `sender`'s sending (Green API's `yellowCard`): each salon it
/// serves hears of it, once a day (the key names the sender and the salon's date).
pub fn sending_suspended(
    salons: &Salons,
    sender: &str,
    companies: &[CompanyId],
    description: Option<&str>,
    now: DateTime<Utc>,
) -> Effects {
    companies
        .iter()
        .map(|&company| {
            let salon = salons.known(company);
            let day = now.with_timezone(&salon.timezone).date_naive();
            (
                company,
                RecordId(0),
                NewNotification {
                    kind: Kind::StaffAlert,
                    key: format!("yellow_card:{sender}:{day}"),
                    status: Status::Pending,
                    phone: None,
                    due_at: now,
                    reason: None,
                    record_json: "{}".into(),
                    message: Some(alert::sending_suspended_text(&salon, description)),
                },
            )
        })
        .collect()
}
