//! To whom a booking's news goes: decided once, when the booking is first seen.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::domain::Audience;
use crate::yclients::Record;

/// Who made the booking, as far as the rules care.
pub struct Makers<'a> {
    pub bot_user_ids: &'a HashSet<i64>,
    pub skip_online: bool,
}

impl Makers<'_> {
    /// Our own bot made it (registered in `bot_records`, or by a bot user).
    pub fn is_bot(&self, record: &Record, registered_by_bot: bool) -> bool {
        registered_by_bot || self.bot_user_ids.contains(&record.created_user_id)
    }

    /// `Ours` gets a confirmation; `NotOurs` already knows of the booking (the
    /// widget confirmed it, or it predates monitoring); the bot's get only reminders.
    pub fn classify(
        &self,
        record: &Record,
        registered_by_bot: bool,
        monitored_since: DateTime<Utc>,
    ) -> Audience {
        if self.is_bot(record, registered_by_bot) {
            Audience::Bot
        } else if record.created_at < monitored_since || (self.skip_online && record.online) {
            Audience::NotOurs
        } else {
            Audience::Ours
        }
    }
}
