//! What a notification is about (`Kind`), where it stands (`Status`), and why it
//! ended without a send (`Reason`). Stored as text; see `store::sql_types`.

/// Generates an enum stored and shown as snake_case text, with `ALL`, `as_str` and `parse`.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(
    /// The moments of a booking's life a client hears about.
    Kind {
        /// An administrator made it.
        Created = "created",
        /// Its time, master or services changed (or a cancellation was undone).
        Changed = "changed",
        /// The salon cancelled it.
        Cancelled = "cancelled",
        /// The evening before, salon-local.
        ReminderDayBefore = "reminder_day_before",
        /// A few hours before.
        ReminderHoursBefore = "reminder_hours_before",
        /// Our answer to a client's reply (confirmed, cancel request, forwarded).
        ReplyAnswer = "reply_answer",
        /// The visit marked confirmed in YClients after the client said so.
        VisitConfirmation = "visit_confirmation",
        /// A message to the salon's staff (a reply a person must read, a failure).
        StaffAlert = "staff_alert",
        /// A notice WhatsApp did not deliver, sent again by SMS (`[fallback]`).
        Sms = "sms",
    }
);

/// The end of the key of the answer that acknowledges a stop.
pub const OPT_OUT_ACKNOWLEDGEMENT: &str = ":opted_out";

/// What carries out an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A notice of the booking's life to its client, rendered from the booking as
    /// it stands at send time (the lifecycle's kinds).
    Notice,
    /// A free-form WhatsApp text answering the client's message.
    Answer,
    /// A write to YClients.
    YClientsWrite,
    /// A message to the staff.
    Staff,
    /// An SMS standing in for an undelivered WhatsApp notice.
    Sms,
}

impl Kind {
    pub fn is_reminder(self) -> bool {
        matches!(self, Kind::ReminderDayBefore | Kind::ReminderHoursBefore)
    }

    /// The lifecycle's notices of a booking.
    pub const NOTICES: [Kind; 5] = [
        Kind::Created,
        Kind::Changed,
        Kind::Cancelled,
        Kind::ReminderDayBefore,
        Kind::ReminderHoursBefore,
    ];

    pub fn effect(self) -> Effect {
        match self {
            Kind::Created
            | Kind::Changed
            | Kind::Cancelled
            | Kind::ReminderDayBefore
            | Kind::ReminderHoursBefore => Effect::Notice,
            Kind::ReplyAnswer => Effect::Answer,
            Kind::VisitConfirmation => Effect::YClientsWrite,
            Kind::StaffAlert => Effect::Staff,
            Kind::Sms => Effect::Sms,
        }
    }

    /// Whether the row reaches the client (a notice, an answer, an SMS), so that a
    /// client's stop holds it back. The acknowledgement of the stop itself
    /// (`reply_answer` keyed `…:opted_out`) is the one message that still goes.
    pub fn heeds_opt_out(self, key: &str) -> bool {
        match self.effect() {
            Effect::Notice | Effect::Sms => true,
            Effect::Answer => !key.ends_with(OPT_OUT_ACKNOWLEDGEMENT),
            Effect::YClientsWrite | Effect::Staff => false,
        }
    }

    /// What the status page calls it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Created => "подтверждение",
            Kind::Changed => "изменение",
            Kind::Cancelled => "отмена",
            Kind::ReminderDayBefore => "напоминание накануне",
            Kind::ReminderHoursBefore => "напоминание за несколько часов",
            Kind::ReplyAnswer => "ответ клиенту",
            Kind::VisitConfirmation => "подтверждение визита в YClients",
            Kind::StaffAlert => "сообщение администратору",
            Kind::Sms => "SMS вместо WhatsApp",
        }
    }
}

text_enum!(
    /// An outbox row's state: `pending → sending → sent | failed`, or `skipped`, `cancelled`.
    Status {
        Pending = "pending",
        Sending = "sending",
        Sent = "sent",
        Failed = "failed",
        Skipped = "skipped",
        Cancelled = "cancelled",
    }
);

impl Status {
    /// Still to be sent (or interrupted mid-send).
    pub fn is_open(self) -> bool {
        matches!(self, Status::Pending | Status::Sending)
    }
}

text_enum!(
    /// What WhatsApp (Meta's Cloud API) reported after it accepted a message.
    Delivery {
        Sent = "sent",
        Delivered = "delivered",
        Read = "read",
        Failed = "failed",
    }
);

impl Delivery {
    /// Whether `new` moves a message on from `current`: only forward (read beats
    /// delivered beats sent); `failed` only before delivery, and nothing after it.
    /// Meta repeats and reorders its callbacks, so a stale one must change nothing.
    pub fn advances(current: Option<Delivery>, new: Delivery) -> bool {
        let rank = |d: Delivery| match d {
            Delivery::Sent => 1,
            Delivery::Delivered => 2,
            Delivery::Read => 3,
            Delivery::Failed => 0,
        };
        match (current, new) {
            (None, _) => true,
            (Some(Delivery::Failed), _) => false,
            (Some(current), Delivery::Failed) => current == Delivery::Sent,
            (Some(current), new) => rank(new) > rank(current),
        }
    }

    /// What the status page says.
    pub fn label(self) -> &'static str {
        match self {
            Delivery::Sent => "отправлено",
            Delivery::Delivered => "доставлено",
            Delivery::Read => "прочитано",
            Delivery::Failed => "не доставлено",
        }
    }
}

text_enum!(
    /// Whose news a booking is, decided when it is first seen.
    Audience {
        /// An administrator made it after monitoring began: we confirm it, and
        /// announce changes once the confirmation went out.
        Ours = "ours",
        /// The client already knows it (the online widget confirmed it, or it
        /// predates monitoring): no confirmation, but changes are announced.
        NotOurs = "not_ours",
        /// Our own bot made it: the bot speaks for it; only reminders go out.
        Bot = "bot",
    }
);

text_enum!(
    /// Why a notification ended without a message; stored in `last_error`.
    Reason {
        Deleted = "deleted",
        Cancelled = "cancelled",
        BotBooking = "bot_booking",
        OnlineBooking = "online_booking",
        NoVisitTime = "no_visit_time",
        PastVisit = "past_visit",
        NoPhone = "no_phone",
        InvalidPhone = "invalid_phone",
        /// The edit was undone before the message went out.
        NoChange = "no_change",
        /// The cancellation was undone before the message went out.
        NotCancelled = "not_cancelled",
        /// The visit moved: a reminder for the new time replaces this one.
        Moved = "moved",
        /// A cancellation replaced the pending change notice.
        Superseded = "superseded",
        /// The client came.
        Attended = "attended",
        /// The reminder's time had passed when the daemon learned of the visit.
        LateBooking = "late_booking",
        /// The reminder could not go out while it was still useful.
        TooLate = "too_late",
        /// A confirmation or change notice went out shortly before.
        RecentlyTold = "recently_told",
        /// Its kind was turned off in `[notifications]` before it went out.
        TurnedOff = "turned_off",
        /// A row that is not a notice reached the notices' recheck (a bug).
        NotANotice = "not_a_notice",
        /// An answer to a client's message could no longer go out as free text
        /// (WhatsApp's 24-hour window closed).
        WindowClosed = "window_closed",
        /// Replies are off (`replies.enabled = false`).
        RepliesOff = "replies_off",
        /// The visit began, or the booking is gone: nothing to confirm.
        VisitBegun = "visit_begun",
        /// YClients already shows the visit confirmed.
        AlreadyConfirmed = "already_confirmed",
        /// No Telegram bot or chat for this salon: the alert is on the page only.
        PageOnly = "page_only",
        /// WhatsApp delivered the notice (or it was read): no SMS.
        Delivered = "delivered",
        /// The client wrote back after the notice: they have it; no SMS.
        ClientReplied = "client_replied",
        /// The client asked us to stop messaging them (`optout`, or «стоп»).
        OptedOut = "opted_out",
        /// The client's phone was erased (`forget`): nothing of it is stored.
        Forgotten = "forgotten",
    }
);

impl Reason {
    /// What the status page says, in Russian.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Deleted => "запись удалена",
            Reason::Cancelled => "запись отменена",
            Reason::BotBooking => "запись сделал наш бот",
            Reason::OnlineBooking => "онлайн-запись: клиент уже получил подтверждение",
            Reason::NoVisitTime => "нет времени визита",
            Reason::PastVisit => "визит уже прошёл",
            Reason::NoPhone => "нет телефона",
            Reason::InvalidPhone => "неверный телефон",
            Reason::NoChange => "изменение отменили до отправки",
            Reason::NotCancelled => "отмену отменили до отправки",
            Reason::Moved => "визит перенесён",
            Reason::Superseded => "заменено отменой",
            Reason::Attended => "клиент пришёл",
            Reason::LateBooking => "запись сделана позже времени напоминания",
            Reason::TooLate => "время напоминания прошло",
            Reason::RecentlyTold => "клиенту недавно писали",
            Reason::TurnedOff => "этот вид уведомлений выключен",
            Reason::NotANotice => "не уведомление",
            Reason::WindowClosed => "окно 24 часа закрылось",
            Reason::RepliesOff => "ответы выключены",
            Reason::VisitBegun => "визит уже начался или запись удалена",
            Reason::AlreadyConfirmed => "визит уже подтверждён",
            Reason::PageOnly => "только на странице: Telegram не настроен",
            Reason::Delivered => "WhatsApp доставил сообщение",
            Reason::ClientReplied => "клиент ответил на сообщение",
            Reason::OptedOut => "клиент попросил не писать",
            Reason::Forgotten => "данные клиента удалены по его просьбе",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_only_moves_forward() {
        use Delivery::*;
        assert!(Delivery::advances(None, Sent));
        assert!(Delivery::advances(Some(Sent), Delivered));
        assert!(Delivery::advances(Some(Delivered), Read));
        assert!(
            !Delivery::advances(Some(Read), Delivered),
            "a stale delivered after read"
        );
        assert!(!Delivery::advances(Some(Read), Read), "a repeat");
        assert!(Delivery::advances(Some(Sent), Failed));
        assert!(!Delivery::advances(Some(Delivered), Failed));
        assert!(!Delivery::advances(Some(Failed), Read));
    }

    #[test]
    fn text_round_trips() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(*kind));
        }
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(*status));
        }
        for reason in Reason::ALL {
            assert_eq!(Reason::parse(reason.as_str()), Some(*reason));
            assert!(!reason.label().is_empty());
        }
        assert_eq!(Kind::parse("reminder"), None);
    }
}
