//! A stream of bookings made by an administrator at a steady pace, and how late
//! their confirmations came: sent (the simulator's clock) − (made + the grace
//! delay). `purge` and `reload` measure a daemon's lateness while it does
//! something else with it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{Booking, Simulator};
use chrono::{DateTime, Days, NaiveTime, Utc};

use super::{percentile, sorted, Running, ZONE};

/// One booking of the stream.
#[derive(Debug, Clone)]
pub struct Made {
    pub phone: String,
    pub created: DateTime<Utc>,
}

/// Makes a booking every `pace` at `company`, phones `7{prefix}{n:07}`, while
/// `go_on(elapsed)` says so; fails at once if the daemon dies.
pub async fn make(
    sim: &Simulator,
    daemon: &mut Running,
    company: i64,
    prefix: &str,
    pace: Duration,
    mut go_on: impl FnMut(&mut Running, Duration) -> bool,
) -> Result<Vec<Made>, String> {
    let zone: chrono_tz::Tz = ZONE.parse().expect("a known zone");
    let day = Utc::now().with_timezone(&zone).date_naive() + Days::new(2);
    let started = Instant::now();
    let mut made = Vec::new();
    while go_on(daemon, started.elapsed()) {
        daemon.alive("the stream of bookings")?;
        let i = made.len();
        let phone = format!("7{prefix}{i:07}");
        let visit = day.and_time(NaiveTime::from_hms_opt(9, 0, 0).expect("a time"))
            + chrono::Duration::minutes(i as i64 % 600);
        sim.create(Booking::by_admin(
            company,
            &format!("Клиент {i}"),
            &phone,
            visit,
        ));
        made.push(Made {
            phone,
            created: Utc::now(),
        });
        // The pace is the point: each booking at its time.
        actix_rt::time::sleep_until((started + pace * (i as u32 + 1)).into()).await;
    }
    Ok(made)
}

/// How late the stream's confirmations came.
#[derive(Debug, Default, Clone)]
pub struct Lateness {
    /// Per booking (in the stream's order), ms past made + delay; `None`: none came.
    pub late: Vec<Option<f64>>,
    /// Messages beyond the first per phone.
    pub duplicates: usize,
}

impl Lateness {
    pub fn missing(&self) -> usize {
        self.late.iter().filter(|l| l.is_none()).count()
    }

    /// p50 / p99 / max of those `pick` keeps (by index), e.g. "p50 210 ms / …".
    pub fn spread(&self, pick: impl Fn(usize) -> bool) -> String {
        let values: Vec<f64> = self
            .late
            .iter()
            .enumerate()
            .filter(|(i, _)| pick(*i))
            .filter_map(|(_, l)| *l)
            .collect();
        if values.is_empty() {
            return "none".into();
        }
        let v = sorted(&values);
        format!(
            "p50 {:.0} ms / p99 {:.0} ms / max {:.0} ms ({} bookings)",
            percentile(&v, 50.0),
            percentile(&v, 99.0),
            percentile(&v, 100.0),
            v.len()
        )
    }
}

/// Awaits a confirmation to every phone of `made` (at most `patience`), then
/// `settle` more for a repeat to show; the lateness of each, `delay_ms` being the
/// daemon's grace delay.
pub async fn lateness(
    sim: &Simulator,
    daemon: &mut Running,
    made: &[Made],
    delay_ms: u64,
    patience: Duration,
    settle: Duration,
) -> Result<Lateness, String> {
    let phones: HashMap<&str, usize> = made
        .iter()
        .enumerate()
        .map(|(i, m)| (m.phone.as_str(), i))
        .collect();
    let all = |w: &booking_monitor::simulator::World| {
        let reached = w
            .messages
            .iter()
            .filter(|m| phones.contains_key(m.phone.as_str()));
        (reached.count() >= made.len()).then_some(())
    };
    daemon
        .await_world(sim, patience, "the stream's confirmations", all)
        .await?;
    actix_rt::time::sleep(settle).await;
    daemon.alive("the stream's confirmations")?;
    let delay = chrono::Duration::milliseconds(delay_ms as i64);
    let mut out = Lateness {
        late: vec![None; made.len()],
        duplicates: 0,
    };
    for m in sim.world().messages.iter() {
        let Some(&i) = phones.get(m.phone.as_str()) else {
            continue;
        };
        match out.late[i] {
            Some(_) => out.duplicates += 1,
            None => out.late[i] = Some(super::ms(m.at - (made[i].created + delay))),
        }
    }
    Ok(out)
}
