//! What a client's answer means, by the whole message only: a message that merely
//! contains "да" ("да, но можно на час позже?") is a question for a person, never a
//! confirmation. Normalised first: lower case, trimmed, ё as е, inner spaces
//! collapsed, trailing punctuation and emoji aside.

pub use crate::domain::Intent;

/// Whole messages that confirm the visit.
pub const CONFIRM: &[&str] = &[
    "1",
    "да",
    "+",
    "ок",
    "ok",
    "подтверждаю",
    "буду",
    "приду",
    "да, буду",
    "👍",
];

/// Whole messages that ask to cancel (or move) the visit.
pub const CANCEL: &[&str] = &[
    "2",
    "нет",
    "отмена",
    "отменить",
    "не приду",
    "не смогу",
    "не могу",
];

/// Whole messages that ask us to stop writing (DESIGN: "The client's say").
pub const STOP: &[&str] = &[
    "стоп",
    "stop",
    "отписаться",
    "отписка",
    "не пишите",
    "не пишите мне",
    "не пишите мне больше",
    "больше не пишите",
    "больше не пишите мне",
    "не присылайте",
    "unsubscribe",
];

/// Whole messages that lift a stop.
pub const RESUME: &[&str] = &["старт", "start", "подписаться"];

/// The intent of a text message; `None` (media, a voice message) is `Other`.
pub fn of_text(text: Option<&str>) -> Intent {
    let Some(text) = text else {
        return Intent::Other;
    };
    let normal = normalise(text);
    let stripped = strip_trailing(&normal);
    for candidate in [normal.as_str(), stripped] {
        if CONFIRM.contains(&candidate) {
            return Intent::Confirm;
        }
        if CANCEL.contains(&candidate) {
            return Intent::Cancel;
        }
        if STOP.contains(&candidate) {
            return Intent::Stop;
        }
        if RESUME.contains(&candidate) {
            return Intent::Resume;
        }
    }
    Intent::Other
}

/// A reaction to one of our messages: 👍 (any skin tone) confirms; any other
/// emoji is a message for a person.
pub fn of_reaction(emoji: &str) -> Intent {
    if is_thumbs_up(emoji) {
        Intent::Confirm
    } else {
        Intent::Other
    }
}

/// Lower case, ё as е, trimmed, runs of spaces as one; the thumbs-up kept whole.
pub fn normalise(text: &str) -> String {
    if is_thumbs_up(text) {
        return "👍".to_string();
    }
    text.to_lowercase()
        .replace('ё', "е")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Without trailing punctuation, emoji and spaces: "да!" and "да 🙂" are "да".
fn strip_trailing(text: &str) -> &str {
    let kept = text.trim_end_matches(|c: char| {
        c.is_whitespace() || (c.is_ascii_punctuation() && c != '+') || is_decoration(c)
    });
    if kept.is_empty() {
        text
    } else {
        kept
    }
}

/// Punctuation outside ASCII, emoji and what modifies them.
fn is_decoration(c: char) -> bool {
    matches!(c,
        '…' | '¡' | '¿' | '«' | '»' | '—' | '–'
        | '\u{200D}' // zero-width joiner
        | '\u{FE0F}' // emoji presentation
        | '\u{2600}'..='\u{27BF}' // symbols and dingbats
        | '\u{1F000}'..='\u{1FAFF}' // emoji
    )
}

fn is_thumbs_up(text: &str) -> bool {
    let mut chars = text.trim().chars();
    chars.next() == Some('👍') && chars.all(|c| matches!(c, '\u{1F3FB}'..='\u{1F3FF}' | '\u{FE0F}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_confirming_phrase_confirms() {
        for phrase in CONFIRM {
            assert_eq!(of_text(Some(phrase)), Intent::Confirm, "{phrase}");
        }
    }

    #[test]
    fn every_cancelling_phrase_asks_to_cancel() {
        for phrase in CANCEL {
            assert_eq!(of_text(Some(phrase)), Intent::Cancel, "{phrase}");
        }
    }

    #[test]
    fn case_spaces_e_and_trailing_punctuation_or_emoji_do_not_matter() {
        for phrase in [
            "Да!",
            "  ДА  ",
            "ок.",
            "Ok",
            "OK!!",
            "Подтверждаю.",
            "Да, буду!",
            "да,  буду",
            "Буду 🙂",
            "Приду!👍",
            "1.",
            "+",
            "👍🏻",
            "👍️",
        ] {
            assert_eq!(of_text(Some(phrase)), Intent::Confirm, "{phrase:?}");
        }
        for phrase in [
            "Нет.",
            "НЕ СМОГУ!",
            "не могу…",
            "Отмена!",
            "2!",
            "не приду 😔",
        ] {
            assert_eq!(of_text(Some(phrase)), Intent::Cancel, "{phrase:?}");
        }
        assert_eq!(normalise("Пришёл"), "пришел");
    }

    #[test]
    fn a_message_that_merely_contains_a_phrase_is_for_a_person() {
        for near_miss in [
            "да, но можно на час позже?",
            "да но",
            "Да, но…",
            "данет",
            "да нет",
            "нет, буду",
            "1 2",
            "12",
            "+1",
            "не",
            "да буду в 15:00",
            "отмена записи",
            "отменить запись на завтра",
            "не смогу, перенесите",
            "ок, а во сколько?",
            "👍👍",
            "🙂",
            "!",
            "",
            "можно на час позже?",
        ] {
            assert_eq!(of_text(Some(near_miss)), Intent::Other, "{near_miss:?}");
        }
    }

    #[test]
    fn every_stop_phrase_stops_and_every_start_phrase_resumes() {
        for phrase in STOP {
            assert_eq!(of_text(Some(phrase)), Intent::Stop, "{phrase}");
        }
        for phrase in RESUME {
            assert_eq!(of_text(Some(phrase)), Intent::Resume, "{phrase}");
        }
        for phrase in [
            "СТОП",
            "Стоп!",
            "stop.",
            "STOP",
            "Отписаться 🙏",
            "Не пишите мне больше!",
            "  больше   не пишите ",
            "Unsubscribe",
        ] {
            assert_eq!(of_text(Some(phrase)), Intent::Stop, "{phrase:?}");
        }
        for phrase in ["Старт", "START!", "Подписаться."] {
            assert_eq!(of_text(Some(phrase)), Intent::Resume, "{phrase:?}");
        }
    }

    #[test]
    fn a_message_that_merely_mentions_stopping_is_for_a_person() {
        for near_miss in [
            "стоп, я опоздаю",
            "стоп-кран",
            "не пишите, а позвоните",
            "stop it please",
            "не пишите в выходные",
            "можно не писать смс?",
            "старт в 15:00?",
            "подписаться на скидки",
        ] {
            assert_eq!(of_text(Some(near_miss)), Intent::Other, "{near_miss:?}");
        }
    }

    #[test]
    fn a_voice_message_or_a_picture_is_for_a_person() {
        assert_eq!(of_text(None), Intent::Other);
    }

    #[test]
    fn a_thumbs_up_reaction_confirms_and_any_other_is_for_a_person() {
        assert_eq!(of_reaction("👍"), Intent::Confirm);
        assert_eq!(of_reaction("👍🏽"), Intent::Confirm);
        assert_eq!(of_reaction("❤️"), Intent::Other);
        assert_eq!(of_reaction("😢"), Intent::Other);
        assert_eq!(of_reaction(""), Intent::Other);
    }
}
