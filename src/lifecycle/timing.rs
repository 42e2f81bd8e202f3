//! When each notice is due, how long a late one stays useful, and quiet hours: all
//! in the salon's calendar and zone, never the server's.

use std::fmt;

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// A salon-local span of the day when nothing is sent; may wrap midnight
/// (`21:00-09:00`). The start is inside, the end is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// `"21:00-09:00"`, seconds allowed.
    pub fn parse(text: &str) -> Result<QuietHours, String> {
        let (start, end) = text
            .split_once('-')
            .ok_or_else(|| format!("{text:?} is not \"HH:MM-HH:MM\""))?;
        let quiet = QuietHours {
            start: parse_clock(start)?,
            end: parse_clock(end)?,
        };
        if quiet.start == quiet.end {
            return Err(format!("{text:?} starts and ends at the same time"));
        }
        Ok(quiet)
    }

    fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// When a message may go out: `at` itself, or the end of the quiet hours it falls in.
    pub fn release(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let local = at.with_timezone(&tz);
        if !self.contains(local.time()) {
            return at;
        }
        let mut day = local.date_naive();
        if local.time() >= self.end {
            day = day + Days::new(1);
        }
        local_instant(tz, day.and_time(self.end))
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// `"18:00"` or `"18:00:30"`.
pub fn parse_clock(text: &str) -> Result<NaiveTime, String> {
    let text = text.trim();
    NaiveTime::parse_from_str(text, "%H:%M:%S")
        .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M"))
        .map_err(|_| format!("{text:?} is not a time of day \"HH:MM\" or \"HH:MM:SS\""))
}

/// A salon-local wall-clock time as an instant; a time skipped by a DST jump is
/// read as the instant after the jump.
fn local_instant(tz: Tz, local: chrono::NaiveDateTime) -> DateTime<Utc> {
    tz.from_local_datetime(&local)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| local.and_utc())
}

/// When a confirmation is due: the booking's creation plus the grace delay,
/// clamped to [first seen, first seen + delay], so that a late poll neither fires it
/// early nor holds it long. `yclients_ahead_by` (YClients' clock minus ours, from
/// its `Date` header) turns `create_date` into our clock, so skew does not eat the
/// administrator's grace delay either.
pub fn grace_due_at(
    created: DateTime<Utc>,
    first_seen: DateTime<Utc>,
    yclients_ahead_by: chrono::Duration,
    delay: chrono::Duration,
) -> DateTime<Utc> {
    // `create_date` has whole seconds: the booking was made at some instant within
    // that second, so count from its end never to send before the delay.
    let created = created - yclients_ahead_by + chrono::Duration::seconds(1);
    (created + delay).clamp(first_seen, first_seen + delay)
}

/// The evening-before reminder: at `clock` on the salon's calendar day before the visit.
pub fn day_before_at(visit: DateTime<Utc>, clock: NaiveTime, tz: Tz) -> DateTime<Utc> {
    let visit_day = visit.with_timezone(&tz).date_naive();
    let day_before = visit_day - Days::new(1);
    local_instant(tz, day_before.and_time(clock))
}

/// The day-before reminder is useful until the visit's own day begins (salon-local).
pub fn day_before_useful_until(visit: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let visit_day = visit.with_timezone(&tz).date_naive();
    local_instant(tz, visit_day.and_time(NaiveTime::MIN)).min(visit)
}

/// The hours-before reminder is useful while at least half its lead remains.
pub fn hours_before_useful_until(visit: DateTime<Utc>, lead: chrono::Duration) -> DateTime<Utc> {
    visit - lead / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn grace_due_at_is_clamped_to_the_first_sighting() {
        let created = utc("2026-11-25T07:00:00Z");
        let delay = chrono::Duration::seconds(30);
        let zero = chrono::Duration::zero();
        let due = |seen, skew| grace_due_at(created, seen, skew, delay);
        // Seen within the second it was stamped: the end of that second plus the delay.
        let seen = created + chrono::Duration::milliseconds(400);
        assert_eq!(due(seen, zero), seen + delay);
        let seen = created + chrono::Duration::seconds(3);
        assert_eq!(
            due(seen, zero),
            created + chrono::Duration::seconds(1) + delay
        );
        // YClients' clock far ahead: no later than first seen + delay.
        let early = created - chrono::Duration::minutes(5);
        assert_eq!(due(early, zero), early + delay);
        // Seen long after the delay: at once, never in the past.
        let late = created + chrono::Duration::minutes(5);
        assert_eq!(due(late, zero), late);
        // Unless YClients' clock is that far behind ours: then it was made just now.
        let behind = chrono::Duration::minutes(-5) + chrono::Duration::milliseconds(400);
        assert_eq!(due(late, behind), late + delay);
    }

    #[test]
    fn the_day_before_is_the_salons_calendar_day() {
        let vladivostok: Tz = "Asia/Vladivostok".parse().unwrap(); // UTC+10
                                                                   // A visit at 10:00 on 2 December in Vladivostok is 00:00 UTC that day.
        let visit = utc("2026-12-02T00:00:00Z");
        let clock = parse_clock("18:00").unwrap();
        // 18:00 on 1 December in Vladivostok: 08:00 UTC.
        assert_eq!(
            day_before_at(visit, clock, vladivostok),
            utc("2026-12-01T08:00:00Z")
        );
        // In the server's zone (UTC) it would have been the 30th: never.
        assert_ne!(
            day_before_at(visit, clock, chrono_tz::UTC),
            utc("2026-12-01T08:00:00Z")
        );
        assert_eq!(
            day_before_useful_until(visit, vladivostok),
            utc("2026-12-01T14:00:00Z")
        );
    }

    #[test]
    fn hours_before_stays_useful_for_half_its_lead() {
        let visit = utc("2026-12-02T12:00:00Z");
        assert_eq!(
            hours_before_useful_until(visit, chrono::Duration::hours(2)),
            utc("2026-12-02T11:00:00Z")
        );
    }

    #[test]
    fn quiet_hours_may_wrap_midnight() {
        let moscow: Tz = "Europe/Moscow".parse().unwrap(); // UTC+3
        let quiet = QuietHours::parse("21:00-09:00").unwrap();
        // 22:00 Moscow → released at 09:00 the next day.
        assert_eq!(
            quiet.release(utc("2026-12-01T19:00:00Z"), moscow),
            utc("2026-12-02T06:00:00Z")
        );
        // 03:00 Moscow → 09:00 the same day.
        assert_eq!(
            quiet.release(utc("2026-12-02T00:00:00Z"), moscow),
            utc("2026-12-02T06:00:00Z")
        );
        // 12:00 Moscow → at once.
        let noon = utc("2026-12-02T09:00:00Z");
        assert_eq!(quiet.release(noon, moscow), noon);
        // The end itself is outside.
        let nine = utc("2026-12-02T06:00:00Z");
        assert_eq!(quiet.release(nine, moscow), nine);
    }

    #[test]
    fn quiet_hours_within_one_day_and_with_seconds() {
        let quiet = QuietHours::parse("13:00:00-14:00:30").unwrap();
        assert_eq!(
            quiet.release(utc("2026-12-02T13:30:00Z"), chrono_tz::UTC),
            utc("2026-12-02T14:00:30Z")
        );
        assert!(QuietHours::parse("21:00").is_err());
        assert!(QuietHours::parse("25:00-09:00").is_err());
        assert!(QuietHours::parse("09:00-09:00").is_err());
    }
}
