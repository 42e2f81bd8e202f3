//! A client's reply: what it means (`Intent`) and how it was tied to a notice
//! (`MatchedBy`). Stored as text in `replies`.

use super::notice::text_enum;

text_enum!(
    /// What a reply asks for, read from the whole message (`replies::intent`).
    Intent {
        Confirm = "confirm",
        Cancel = "cancel",
        /// Anything else (a question, a voice message): a person reads it.
        Other = "other",
        /// Stop messaging this phone from this sender (DESIGN: "The client's say").
        Stop = "stop",
        /// Messages again, after a stop.
        Resume = "resume",
    }
);

text_enum!(
    /// How a reply was tied to the booking it answers.
    MatchedBy {
        /// Our quick-reply button's payload names the notice.
        Payload = "payload",
        /// It quotes one of our messages.
        Quote = "quote",
        /// A reaction to one of our messages.
        Reaction = "reaction",
        /// Plain text: the latest notice sent to that phone within the window.
        Latest = "latest",
        /// Plain text from a phone with two or more bookings ahead: the staff decide.
        Ambiguous = "ambiguous",
        /// Nothing sent to that phone lately: a stranger, or an old conversation.
        Unmatched = "unmatched",
    }
);

/// What a reply was read as, in one word (`status`, the page, `/metrics`): a
/// stop or a resume, else how it failed to match, else its intent.
pub fn reading(intent: Intent, matched_by: MatchedBy) -> &'static str {
    match matched_by {
        _ if intent.is_opt_change() => intent.as_str(),
        MatchedBy::Ambiguous => "ambiguous",
        MatchedBy::Unmatched => "unmatched",
        _ => intent.as_str(),
    }
}

impl Intent {
    /// A stop or a resume: it changes whether we may write to the phone, and is
    /// honoured even with replies off.
    pub fn is_opt_change(self) -> bool {
        matches!(self, Intent::Stop | Intent::Resume)
    }

    /// What the staff's page calls it.
    pub fn label(self) -> &'static str {
        match self {
            Intent::Confirm => "подтвердил",
            Intent::Cancel => "просит отменить или перенести",
            Intent::Other => "написал",
            Intent::Stop => "попросил не писать",
            Intent::Resume => "попросил снова писать",
        }
    }
}
