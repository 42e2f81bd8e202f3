//! What a notice WhatsApp could not deliver calls for, as outbox rows: the salon's
//! staff are told (they may phone the client). Opened where the failure becomes
//! known: a permanent error at send, or a `failed` delivery status.

use crate::actors::Salons;
use crate::domain::{Kind, Status};
use crate::lifecycle::parse_record;
use crate::replies::alert;
use crate::store::{Effects, NewNotification, Notification};

pub fn effects(salons: &Salons, row: &Notification, error: &str) -> Effects {
    let Some(record) = parse_record(&row.record_json) else {
        return Vec::new();
    };
    let salon = salons.known(row.company());
    let phone = row.phone.clone().unwrap_or_default();
    vec![(
        row.company(),
        row.record(),
        NewNotification {
            kind: Kind::StaffAlert,
            key: format!("undelivered:{}", row.id),
            status: Status::Pending,
            phone: row.phone.clone(),
            due_at: chrono::Utc::now(),
            reason: None,
            record_json: row.record_json.clone(),
            message: Some(alert::undelivered_text(&salon, &phone, &record, error)),
        },
    )]
}
