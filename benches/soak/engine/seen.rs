//! What the simulator saw, in the soak's terms: each WhatsApp message and SMS by
//! the kind its text names (the soak's `[messages]` and `[sms]` start with it),
//! each visit write-back, each with when its request arrived and was answered
//! (on the soak's clock) and which process sent it.

use std::time::{Duration, Instant};

use booking_monitor::simulator::World;
use chrono::{DateTime, Utc};

use super::instances::{process_of, sms_process};

/// What a message to a client is, by its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    Created,
    Changed,
    Cancelled,
    Thanks,
    CancelRequest,
    Forwarded,
    OptedOut,
    OptedIn,
    Other,
}

impl Class {
    pub fn of(text: &str) -> Class {
        let text = text
            .strip_prefix("SOAK SMS ")
            .or_else(|| text.strip_prefix("SOAK "));
        let Some(text) = text else {
            return Class::Other;
        };
        [
            ("created", Class::Created),
            ("changed", Class::Changed),
            ("cancelled", Class::Cancelled),
            ("thanks", Class::Thanks),
            ("cancel request", Class::CancelRequest),
            ("forwarded", Class::Forwarded),
            ("opted out", Class::OptedOut),
            ("opted in", Class::OptedIn),
        ]
        .iter()
        .find(|(prefix, _)| text.starts_with(prefix))
        .map_or(Class::Other, |(_, class)| *class)
    }
}

/// A WhatsApp message or an SMS the providers accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    pub phone: String,
    pub text: String,
    pub class: Class,
    /// The provider's id (WhatsApp's wamid; the SMS's ordinal).
    pub id: String,
    pub arrived: Instant,
    pub answered: Instant,
    /// The process that sent it.
    pub process: Option<usize>,
}

impl Sent {
    /// Its first line without the kind: `12 марта 14:30`.
    pub fn visit_text(&self) -> &str {
        let first = self.text.lines().next().unwrap_or_default();
        let rest = first
            .strip_prefix("SOAK SMS ")
            .or_else(|| first.strip_prefix("SOAK "))
            .unwrap_or(first);
        rest.split_once(' ').map_or("", |(_, visit)| visit)
    }
}

/// A `PUT /api/v1/visits/{visit}/{record}` YClients answered.
#[derive(Debug, Clone)]
pub struct Put {
    pub record: i64,
    pub status: u16,
    pub arrived: Instant,
    pub answered: Instant,
    /// The process that sent it.
    pub process: Option<usize>,
}

pub struct Seen {
    pub messages: Vec<Sent>,
    pub sms: Vec<Sent>,
    pub puts: Vec<Put>,
    /// Staff alerts the fake Telegram took.
    pub alerts: usize,
    /// Pushes (booking events, status callbacks) chaos lost, and all pushes.
    pub lost_pushes: usize,
    pub pushes: usize,
}

/// Maps the simulator's UTC stamps onto the soak's clock.
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    pub instant: Instant,
    pub utc: DateTime<Utc>,
}

impl Anchor {
    pub fn now() -> Anchor {
        Anchor {
            instant: Instant::now(),
            utc: Utc::now(),
        }
    }

    pub fn instant(&self, utc: DateTime<Utc>) -> Instant {
        match (utc - self.utc).to_std() {
            Ok(after) => self.instant + after,
            Err(_) => self
                .instant
                .checked_sub((self.utc - utc).to_std().unwrap_or_default())
                .unwrap_or(self.instant),
        }
    }

    pub fn utc(&self, instant: Instant) -> DateTime<Utc> {
        match instant.checked_duration_since(self.instant) {
            Some(after) => self.utc + chrono::Duration::from_std(after).unwrap_or_default(),
            None => {
                let before = self.instant.duration_since(instant);
                self.utc - chrono::Duration::from_std(before).unwrap_or_default()
            }
        }
    }
}

impl Seen {
    pub fn of(world: &World, anchor: &Anchor) -> Seen {
        let messages = world
            .messages
            .iter()
            .map(|m| Sent {
                phone: m.phone.clone(),
                class: Class::of(&m.text),
                text: m.text.clone(),
                id: m.id.clone(),
                arrived: m.arrived,
                answered: anchor.instant(m.at),
                process: process_of(m.authorization.as_deref()),
            })
            .collect();
        let sms = world
            .sms
            .iter()
            .enumerate()
            .map(|(i, s)| Sent {
                phone: s.phone.clone(),
                class: Class::of(&s.text),
                text: s.text.clone(),
                id: format!("sms #{}", i + 1),
                arrived: s.arrived,
                answered: anchor.instant(s.at),
                process: sms_process(&s.body),
            })
            .collect();
        let puts = world
            .requests
            .iter()
            .filter(|r| r.method == "PUT" && r.path.starts_with("/api/v1/visits/"))
            .filter_map(|r| {
                let record = r.path.rsplit('/').next()?.parse().ok()?;
                Some(Put {
                    record,
                    status: r.status,
                    arrived: r.arrived,
                    answered: r.at,
                    process: process_of(r.partner_id.as_deref()),
                })
            })
            .collect();
        Seen {
            messages,
            sms,
            puts,
            alerts: world.telegram.len(),
            lost_pushes: world
                .pushed
                .iter()
                .filter(|p| p.what.starts_with("lost "))
                .count(),
            pushes: world.pushed.len(),
        }
    }

    pub fn to<'a>(list: &'a [Sent], phone: &'a str) -> impl Iterator<Item = &'a Sent> + 'a {
        list.iter().filter(move |m| m.phone == phone)
    }
}

/// Whether a request took longer than the client's timeout: the client gave up
/// and tried again, though the provider carried the first one out.
pub fn timed_out(arrived: Instant, answered: Instant, timeout: Duration) -> bool {
    answered.saturating_duration_since(arrived) >= timeout
}
