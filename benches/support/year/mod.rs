//! A busy salon's months written through the store's own functions on a simulated
//! clock (each function's `now`): bookings seen by polls and planned by the
//! lifecycle's policy; their notices rechecked, rendered, claimed and sent; their
//! delivery statuses; the clients' replies, decided as the webhook decides them,
//! and what those open (the visit confirmed, the staff told, the client answered);
//! and retention's purge as the daemon's loop runs it. `retention` measures the
//! file over a year with it; `purge` makes a year of old bookings with it.

mod outbox;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use booking_monitor::config::Config;
use booking_monitor::domain::{CompanyId, RecordId};
use booking_monitor::lifecycle::{self, Policy, Sighting};
use booking_monitor::store::{self, Conn, Db, PollCommit, StoreError};
use booking_monitor::text::Salon;
use booking_monitor::yclients::Record;
use chrono::{DateTime, Days, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

/// YClients' own sample record: every booking is one of this size (~3.5 kB).
const SAMPLE: &str = include_str!("../../../tests/fixtures/yclients/docs_get_record_200.json");
pub const COMPANY: i64 = 4564;
pub const BOOKINGS_PER_DAY: usize = 60;
/// `[notifications]` and `[replies]` of the simulated salon, and of a daemon that
/// must plan as it did (the same `planned_with`: no replan at its first poll).
pub const TABLES: &str = "[notifications]\nreminder_day_before = \"18:00\"\n\
    reminder_hours_before = 2\n\n[replies]\nenabled = true\nask_in = [\"reminder_day_before\"]\n";
/// The simulation's step: polls, sends and replies are batched per step.
const TICK_MINUTES: i64 = 10;
const SENDER: &str = "100200300";

/// The salon, its YClients, its clients and the daemon's store.
pub struct YearSim {
    store: Store,
    config: Config,
    policy: Policy,
    salon: Salon,
    rng: fastrand::Rng,
    next_record: i64,
    next_message: u64,
    monitored_since: DateTime<Utc>,
    /// YClients' bookings as they stand (dropped two days after the visit).
    records: HashMap<i64, (Value, DateTime<Utc>)>,
    /// Edits to come: (when, record, what).
    edits: Vec<(DateTime<Utc>, i64, Edit)>,
    /// Clients' messages to come: (when, phone, text).
    replies: Vec<(DateTime<Utc>, String, &'static str)>,
    /// `keep_after_visit`, when retention is on.
    keep: Option<chrono::Duration>,
    pub purges: Purges,
}

#[derive(Debug, Clone, Copy)]
enum Edit {
    Move,
    Cancel,
    /// The write-back: attendance 2 (YClients moves its change time).
    Confirmed,
}

/// The purges run so far: how many, their time, what went.
#[derive(Debug, Default, Clone)]
pub struct Purges {
    pub runs: usize,
    pub took: Duration,
    pub longest: Duration,
    pub bookings: usize,
    pub rows: usize,
}

type Result<T> = std::result::Result<T, String>;

/// The store's calls so far, by what they did: (their time, how many).
pub type Calls = BTreeMap<&'static str, (Duration, usize)>;

/// The database, and the time its calls took.
struct Store {
    db: Db,
    calls: Calls,
}

impl Store {
    /// Runs `f` on a pooled connection made fast (see `fast`), timed as `what`.
    fn run<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Conn) -> std::result::Result<T, StoreError>,
    ) -> Result<T> {
        let began = Instant::now();
        let result = self.db.blocking(|c| {
            fast(c)?;
            f(c)
        });
        let call = self.calls.entry(what).or_default();
        call.0 += began.elapsed();
        call.1 += 1;
        result.map_err(|e| format!("{what}: {e}"))
    }
}

impl YearSim {
    /// A salon monitored from `start`, on `db`; `keep` is `[retention]
    /// keep_after_visit` (`"off"` or a humantime duration).
    pub fn new(db: Db, start: DateTime<Utc>, keep: &str, seed: u64) -> Result<YearSim> {
        let text = format!(
            "[database]\nurl = \"sqlite://unused.db\"\n[yclients]\npartner_token = \"p\"\n\
             user_token = \"u\"\n[[companies]]\nid = {COMPANY}\n[whatsapp]\nprovider = \"log\"\n\
             [monitor]\npoll_interval_ms = 60000\nnotification_delay_ms = 30000\n{TABLES}\n\
             [retention]\nkeep_after_visit = \"{keep}\"\n"
        );
        let config = Config::parse(&text, &|_| None).map_err(|e| format!("the config: {e}"))?;
        let keep = config
            .retention
            .keep_after_visit
            .map(|k| chrono::Duration::from_std(k).unwrap_or(chrono::Duration::MAX));
        Ok(YearSim {
            store: Store {
                db,
                calls: Calls::new(),
            },
            policy: Policy::new(&config),
            config,
            salon: Salon {
                title: "Салон красоты «Весна»".into(),
                address: "Москва, ул. Пушкина, 10".into(),
                timezone: super::ZONE.parse().expect("a known zone"),
            },
            rng: fastrand::Rng::with_seed(seed),
            next_record: 1_000_000,
            next_message: 0,
            monitored_since: start,
            records: HashMap::new(),
            edits: Vec::new(),
            replies: Vec::new(),
            keep,
            purges: Purges::default(),
        })
    }

    pub fn db(&self) -> &Db {
        &self.store.db
    }

    /// The store's calls so far, by what they did.
    pub fn calls(&self) -> &Calls {
        &self.store.calls
    }

    /// Simulates one day from `day_start` (UTC midnight), tick by tick; a purge on
    /// every hour's first tick, as the daemon's loop (every min(1 h, keep)).
    pub fn day(&mut self, day_start: DateTime<Utc>) -> Result<()> {
        let ticks = 24 * 60 / TICK_MINUTES;
        for i in 0..ticks {
            let t = day_start + chrono::Duration::minutes(i * TICK_MINUTES);
            self.tick(t)?;
            if (i * TICK_MINUTES) % 60 == 0 {
                self.purge(t)?;
            }
        }
        Ok(())
    }

    fn tick(&mut self, t: DateTime<Utc>) -> Result<()> {
        let now = t + chrono::Duration::minutes(TICK_MINUTES);
        let mut seen: Vec<i64> = Vec::new();
        let local_hour = t.with_timezone(&self.salon.timezone).hour();
        // The administrators book from 9 to 21, salon time.
        if (9..21).contains(&local_hour) {
            let per_tick = BOOKINGS_PER_DAY as f64 * TICK_MINUTES as f64 / (12.0 * 60.0);
            let n = per_tick.floor() as usize + usize::from(self.rng.f64() < per_tick.fract());
            for _ in 0..n {
                seen.push(self.book(t)?);
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = self.edits.drain(..).partition(|e| e.0 < now);
        self.edits = later;
        for (at, record, edit) in due {
            if self.edit(record, edit, at) {
                seen.push(record);
            }
        }
        if !seen.is_empty() {
            self.poll(&seen, now)?;
        }
        self.send_due(now)?;
        let (due, later): (Vec<_>, Vec<_>) = self.replies.drain(..).partition(|r| r.0 < now);
        self.replies = later;
        for (at, phone, text) in due {
            self.reply(&phone, text, at)?;
        }
        let gone = now - chrono::Duration::days(2);
        self.records.retain(|_, (_, visit)| *visit > gone);
        Ok(())
    }

    /// A booking made at a random minute of the tick, for a visit 1 to 14 days on.
    fn book(&mut self, t: DateTime<Utc>) -> Result<i64> {
        self.next_record += 1;
        let id = self.next_record;
        let created = t + chrono::Duration::seconds(self.rng.i64(0..TICK_MINUTES * 60));
        let tz = self.salon.timezone;
        let day = created.with_timezone(&tz).date_naive() + Days::new(self.rng.u64(1..=14));
        let clock = NaiveTime::from_hms_opt(10, 0, 0).expect("a time")
            + chrono::Duration::minutes(30 * self.rng.i64(0..20));
        let visit = tz
            .from_local_datetime(&day.and_time(clock))
            .earliest()
            .ok_or("a visit in a time gap")?
            .with_timezone(&Utc);
        let mut json: Value =
            serde_json::from_str::<Value>(SAMPLE).expect("the sample")["data"].clone();
        let stamp = created
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S%z")
            .to_string();
        json["id"] = json!(id);
        json["company_id"] = json!(COMPANY);
        json["client"] = json!({"id": id * 10, "name": "Анна", "surname": "", "display_name": "Анна",
            "phone": format!("79{:09}", id % 1_000_000_000), "email": ""});
        set_visit(&mut json, visit, tz);
        json["create_date"] = json!(stamp);
        json["last_change_date"] = json!(stamp);
        json["online"] = json!(false);
        json["created_user_id"] = json!(1_073_232);
        json["attendance"] = json!(0);
        json["deleted"] = json!(false);
        json["visit_id"] = json!((id + 500_000).to_string());
        self.records.insert(id, (json, visit));
        let hours =
            |r: &mut fastrand::Rng, max: i64| chrono::Duration::minutes(r.i64(60..max * 60));
        match self.rng.u32(0..100) {
            0..10 => self
                .edits
                .push((created + hours(&mut self.rng, 48), id, Edit::Move)),
            10..15 => self
                .edits
                .push((created + hours(&mut self.rng, 72), id, Edit::Cancel)),
            _ => {}
        }
        Ok(id)
    }

    /// Applies an edit to YClients' booking; false when it is gone or its visit passed.
    fn edit(&mut self, record: i64, edit: Edit, at: DateTime<Utc>) -> bool {
        let tz = self.salon.timezone;
        let Some((json, visit)) = self.records.get_mut(&record) else {
            return false;
        };
        if *visit <= at {
            return false;
        }
        match edit {
            Edit::Move => {
                *visit += chrono::Duration::days(1);
                set_visit(json, *visit, tz);
            }
            Edit::Cancel => json["deleted"] = json!(true),
            Edit::Confirmed => json["attendance"] = json!(2),
        }
        json["last_change_date"] = json!(at
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S%z")
            .to_string());
        true
    }

    /// One poll's commit of these records, planned by the policy as the filter plans.
    fn poll(&mut self, ids: &[i64], now: DateTime<Utc>) -> Result<()> {
        let records: Vec<Record> = ids
            .iter()
            .filter_map(|id| self.records.get(id))
            .map(|(json, _)| Record::from_json(json.clone()).map_err(|e| e.to_string()))
            .collect::<Result<_>>()?;
        let commit = PollCommit {
            lease_holder: None,
            company: CompanyId(COMPANY),
            new_cursor: Some(now),
            monitored_since: self.monitored_since,
            planned_with: Some(self.policy.planned_with()),
            asked_at: now,
            now,
            baselined: false,
            phones: records
                .iter()
                .filter_map(|r| Some((r.id, lifecycle::phone_of(r).ok()?.digits().to_string())))
                .collect(),
            // The year's polls prove nothing early: its sends do not wait on them.
            proving_within: None,
            poll_every: None,
        };
        let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
        let (policy, tz) = (&self.policy, self.salon.timezone);
        let decide = |known: &store::Known| {
            let plan = |record| {
                policy.plan(&Sighting {
                    record,
                    known,
                    seen_at: now,
                    yclients_ahead_by: chrono::Duration::zero(),
                    tz,
                    pushed: false,
                })
            };
            Ok::<_, StoreError>(records.iter().map(plan).collect())
        };
        self.store
            .run("a poll's commit", |c| {
                store::commit_poll(c, &commit, &ids, decide, |_| Ok(Vec::new()))
            })
            .map(drop)
    }

    /// Retention's purge as `retention::purge` runs it, cut off at `now - keep`.
    fn purge(&mut self, now: DateTime<Utc>) -> Result<()> {
        let Some(keep) = self.keep else { return Ok(()) };
        let cutoff = now - keep;
        let began = Instant::now();
        let visit_of = |json: &str| {
            let visit = lifecycle::parse_record(json)?.visit?;
            Some(visit.in_zone(chrono_tz::UTC).with_timezone(&Utc))
        };
        let mut purged = store::Purged::default();
        self.store.run("a purge", |c| {
            while store::fill_visit_times(c, &visit_of)? > 0 {}
            loop {
                let chunk = store::purge_chunk(c, cutoff)?;
                if chunk.total() == 0 {
                    break;
                }
                purged.add(chunk);
            }
            if purged.total() > 0 {
                store::release_free_pages(c)?;
            }
            Ok(())
        })?;
        let took = began.elapsed();
        let p = &mut self.purges;
        p.runs += 1;
        p.took += took;
        p.longest = p.longest.max(took);
        p.bookings += purged.bookings;
        p.rows += purged.total();
        Ok(())
    }
}

fn set_visit(json: &mut Value, visit: DateTime<Utc>, tz: Tz) {
    let local = visit.with_timezone(&tz);
    json["date"] = json!(local.format("%Y-%m-%d %H:%M:%S").to_string());
    json["datetime"] = json!(local.format("%Y-%m-%dT%H:%M:%S%:z").to_string());
}

/// Commits that skip the `fsync` (SQLite's `synchronous = OFF`, PostgreSQL's
/// `synchronous_commit = off`) on this connection: a year takes minutes, not
/// hours; no page of the database differs.
pub fn fast(conn: &mut Conn) -> std::result::Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    match conn {
        Conn::Sqlite(c) => c.batch_execute("PRAGMA synchronous = OFF;")?,
        Conn::Postgres(c) => c.batch_execute("SET synchronous_commit = off;")?,
    }
    Ok(())
}

/// The SQLite file and its log, in bytes.
pub fn sqlite_bytes(path: &std::path::Path) -> (u64, u64) {
    let size = |p: std::path::PathBuf| std::fs::metadata(p).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (size(path.to_path_buf()), size(wal.into()))
}

/// A SQLite pragma's value, as text (`auto_vacuum`: 2 is incremental).
pub fn pragma(db: &Db, name: &str) -> Result<String> {
    use diesel::RunQueryDsl;
    let sql = format!("SELECT CAST({name} AS TEXT) AS v FROM pragma_{name}");
    #[derive(diesel::QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let value = db.blocking(|c| match c {
        Conn::Sqlite(c) => Ok(diesel::sql_query(&sql).get_result::<V>(c)?.v),
        Conn::Postgres(_) => Ok("n/a".into()),
    });
    value.map_err(|e| format!("{name}: {e}"))
}

/// The bookings and notifications kept.
pub fn rows(db: &Db) -> Result<(i64, i64)> {
    use diesel::RunQueryDsl;
    let count = |c: &mut Conn, table: &str| -> std::result::Result<i64, StoreError> {
        let sql = format!("(SELECT COUNT(*) FROM {table})");
        Ok(diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(&sql)).get_result(c)?)
    };
    let rows = db.blocking(|c| Ok((count(c, "bookings")?, count(c, "notifications")?)));
    rows.map_err(|e| format!("counting rows: {e}"))
}
