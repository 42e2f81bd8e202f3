//! Our quick-reply buttons' payloads: they name the notice a tap answers and what
//! the tap means, so a button needs no guessing (`bm:<notification id>:confirm`).

use crate::domain::{Intent, NotificationId};

const PREFIX: &str = "bm:";

pub fn confirm(id: NotificationId) -> String {
    format!("{PREFIX}{}:confirm", id.0)
}

pub fn cancel(id: NotificationId) -> String {
    format!("{PREFIX}{}:cancel", id.0)
}

/// The notice and the intent a payload of ours names; `None` for anything else.
pub fn parse(payload: &str) -> Option<(NotificationId, Intent)> {
    let (id, what) = payload.strip_prefix(PREFIX)?.split_once(':')?;
    let intent = match what {
        "confirm" => Intent::Confirm,
        "cancel" => Intent::Cancel,
        _ => return None,
    };
    Some((NotificationId(id.parse().ok()?), intent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_strangers_do_not_parse() {
        let id = NotificationId(42);
        assert_eq!(parse(&confirm(id)), Some((id, Intent::Confirm)));
        assert_eq!(parse(&cancel(id)), Some((id, Intent::Cancel)));
        for other in ["", "bm:", "bm:x:confirm", "bm:1:maybe", "Подтверждаю", "42"] {
            assert_eq!(parse(other), None, "{other:?}");
        }
    }
}
