//! Many instances of the real binary on one PostgreSQL database: the companies
//! shared out by leases, taken over from a killed instance, rebalanced when one
//! joins; the database restarted under them; two instances racing on one row.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use booking_monitor::domain::{Audience, CompanyId, Kind, NotificationId, RecordId};
use booking_monitor::simulator::{Booking, World};
use booking_monitor::store::{
    self, BookingUpdate, Db, DbOptions, NewNotification, Outbound, Planned, PollCommit, Status,
};
use chrono::Utc;

use crate::helpers::*;

const POLL_MS: u64 = 500;

/// One cluster test at a time: each runs three or four daemons polling thirty
/// salons twice a second, and the machine running the suite has two cores.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
const TTL_MS: u64 = 3_000;
const FIRST_COMPANY: i64 = 6_001;

fn companies(n: i64) -> Vec<(i64, &'static str)> {
    (FIRST_COMPANY..FIRST_COMPANY + n)
        .map(|id| (id, "Europe/Moscow"))
        .collect()
}

/// A shared database with `n` companies, the daemon not started (instances are
/// spawned as binaries).
async fn cluster_app(server: String, n: i64, ttl_ms: u64) -> TestApp {
    prepare(Options {
        companies: companies(n),
        poll_ms: POLL_MS,
        delay_ms: 500,
        extra: format!("[cluster]\nlease_ttl_ms = {ttl_ms}\n"),
        // The simulator is no real YClients: fast polls of many salons fit.
        yclients_extra: "max_requests_per_second = 1000\nmax_requests_per_minute = 60000\n".into(),
        postgres: Some(server),
        ..Options::default()
    })
    .await
}

/// Who holds what, as `status --json` reads it from the database: live instances'
/// companies.
async fn holders(app: &TestApp) -> BTreeMap<String, Vec<i64>> {
    let (code, stdout, stderr) = app.command(&["status", "--json"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    report["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["live"] == true)
        .map(|i| {
            let held = i["companies"].as_array().unwrap();
            (
                i["instance_id"].as_str().unwrap().to_string(),
                held.iter().map(|c| c.as_i64().unwrap()).collect(),
            )
        })
        .collect()
}

/// Waits until `instances` live instances hold every company, none twice, each
/// its fair share (the count divided among them, rounded down or up).
async fn wait_balanced(app: &TestApp, running: &[Process]) -> BTreeMap<String, Vec<i64>> {
    let instances = running.len();
    let n = app.options.companies.len();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let held = holders(app).await;
        let all: Vec<i64> = held.values().flatten().copied().collect();
        let distinct: BTreeSet<i64> = all.iter().copied().collect();
        let fair = |c: usize| c == n / instances || c == n.div_ceil(instances);
        if held.len() == instances
            && all.len() == n
            && distinct.len() == n
            && held.values().all(|c| fair(c.len()))
        {
            return held;
        }
        if Instant::now() > deadline {
            for p in running {
                eprintln!("--- instance {}:\n{}", p.pid(), p.log());
            }
            panic!("never balanced over {instances} instances: {held:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Each company's record-list requests (polls), in order.
fn polls_by_company(world: &World) -> HashMap<i64, Vec<Instant>> {
    let mut polls: HashMap<i64, Vec<Instant>> = HashMap::new();
    for r in &world.requests {
        if let Some(company) = r.path.strip_prefix("/api/v1/records/") {
            if let Ok(company) = company.parse() {
                polls.entry(company).or_default().push(r.at);
            }
        }
    }
    polls
}

/// Books client `n` at `company`; returns the client's phone.
fn book(app: &TestApp, company: i64, n: usize) -> String {
    let phone = format!("7916{n:07}");
    app.create(Booking::by_admin(
        company,
        &format!("Клиент {n}"),
        &phone,
        visit(2, 12, 0),
    ));
    phone
}

/// Messages per phone.
pub fn messages_per_phone(app: &TestApp) -> HashMap<String, usize> {
    let mut sent = HashMap::new();
    for m in &app.sim.world().messages {
        *sent.entry(m.phone.clone()).or_default() += 1;
    }
    sent
}

/// Waits until every phone in `phones` got a message.
pub async fn wait_all_sent(app: &TestApp, phones: &[String]) {
    app.sim
        .wait_until(Duration::from_secs(60), |w| {
            phones
                .iter()
                .all(|p| w.messages.iter().any(|m| &m.phone == p))
                .then_some(())
        })
        .await
        .unwrap_or_else(|e| {
            let sent = messages_per_phone(app);
            let missing: Vec<&String> = phones.iter().filter(|p| !sent.contains_key(*p)).collect();
            panic!("not every booking was confirmed: {e}; missing {missing:?}")
        });
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn three_instances_share_thirty_companies_and_each_is_polled_by_one_at_a_time() {
    let server = postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = cluster_app(server, 30, TTL_MS).await;
    let instances: Vec<Process> = (0..3).map(|_| app.spawn_binary()).collect();
    wait_balanced(&app, &instances).await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_millis(8 * POLL_MS)).await;
    let polls = polls_by_company(&app.sim.world());
    for (company, _) in &app.options.companies {
        let recent: Vec<Instant> = polls[company]
            .iter()
            .copied()
            .filter(|t| *t >= since)
            .collect();
        // One instance polls it every interval: 8 intervals give about 8 polls;
        // two instances at once would give about 16.
        assert!(
            (5..=10).contains(&recent.len()),
            "company {company}: {} polls in 8 intervals",
            recent.len()
        );
        let closest = recent.windows(2).map(|w| w[1] - w[0]).min().unwrap();
        assert!(
            closest >= Duration::from_millis(POLL_MS / 2),
            "company {company} polled twice within {closest:?}"
        );
    }
    // Every booking, whichever instance polls its salon, is confirmed once.
    let phones: Vec<String> = app
        .options
        .companies
        .iter()
        .enumerate()
        .map(|(n, (company, _))| book(&app, *company, n))
        .collect();
    wait_all_sent(&app, &phones).await;
    let sent = messages_per_phone(&app);
    assert!(phones.iter().all(|p| sent[p] == 1), "{sent:?}");
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn a_killed_instance_s_companies_resume_within_the_ttl_and_no_booking_is_lost() {
    let server = postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = cluster_app(server, 30, TTL_MS).await;
    let mut instances: Vec<Process> = (0..3).map(|_| app.spawn_binary()).collect();
    let held = wait_balanced(&app, &instances).await;
    let victim = instances.remove(0);
    let victims_companies = held
        .iter()
        .find(|(id, _)| id.ends_with(&format!(":{}", victim.pid())))
        .map(|(_, c)| c.clone())
        .expect("the victim holds companies");
    // Bookings keep arriving, across every salon, before and after the kill.
    let mut phones = Vec::new();
    for n in 0..60 {
        let company = FIRST_COMPANY + (n as i64 % 30);
        phones.push(book(&app, company, 100 + n));
        if n == 30 {
            victim.signal("KILL");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let killed_at = Instant::now() - Duration::from_millis(29 * 50);
    // Every company the dead instance held is polled again within the ttl plus
    // one interval (and a second of slack for a loaded machine).
    let bound = Duration::from_millis(TTL_MS + POLL_MS + 1_000);
    for company in &victims_companies {
        let resumed = app
            .sim
            .wait_until(Duration::from_secs(30), |w| {
                polls_by_company(w)[company]
                    .iter()
                    .find(|t| **t > killed_at + Duration::from_millis(POLL_MS))
                    .copied()
            })
            .await
            .unwrap();
        assert!(
            resumed - killed_at <= bound,
            "company {company} resumed {:?} after the kill",
            resumed - killed_at
        );
    }
    wait_all_sent(&app, &phones).await;
    let sent = messages_per_phone(&app);
    let twice: Vec<&String> = phones.iter().filter(|p| sent[*p] > 1).collect();
    // A duplicate only where the kill hit a send: that row was claimed twice.
    let rows = app.notifications().await;
    for phone in &twice {
        let row = rows
            .iter()
            .find(|r| r.phone.as_deref() == Some(phone.as_str()))
            .unwrap();
        assert!(
            row.attempts >= 2,
            "{phone} sent twice by one claim: {row:?}"
        );
    }
    assert!(twice.len() <= 4, "{} duplicates: {twice:?}", twice.len());
    assert_eq!(wait_balanced(&app, &instances).await.len(), 2);
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn a_fourth_instance_joining_takes_its_share() {
    let server = postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = cluster_app(server, 30, TTL_MS).await;
    let mut instances: Vec<Process> = (0..3).map(|_| app.spawn_binary()).collect();
    wait_balanced(&app, &instances).await;
    instances.push(app.spawn_binary());
    let fourth = instances.last().unwrap();
    let held = wait_balanced(&app, &instances).await;
    let its_share = held
        .iter()
        .find(|(id, _)| id.ends_with(&format!(":{}", fourth.pid())))
        .map(|(_, c)| c.len());
    assert!(matches!(its_share, Some(7 | 8)), "{held:?}");
    // Rebalancing left no company polled by two instances at once.
    let since = Instant::now();
    tokio::time::sleep(Duration::from_millis(6 * POLL_MS)).await;
    let polls = polls_by_company(&app.sim.world());
    for (company, times) in polls {
        let recent: Vec<Instant> = times.into_iter().filter(|t| *t >= since).collect();
        if let Some(closest) = recent.windows(2).map(|w| w[1] - w[0]).min() {
            assert!(
                closest >= Duration::from_millis(POLL_MS / 2),
                "company {company} polled twice within {closest:?}"
            );
        }
    }
}

/// A PostgreSQL server of this test's own, so that restarting it disturbs no
/// other test: `.ci/postgres.sh` with its own directory and port.
struct OwnServer {
    env: Vec<(&'static str, String)>,
    pub url: String,
}

impl OwnServer {
    fn script(&self, command: &str) -> std::process::Output {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/postgres.sh");
        let out = std::process::Command::new("bash")
            .args([script, command])
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "postgres.sh {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn start(port: u16) -> OwnServer {
        let mut server = OwnServer {
            env: vec![
                (
                    "PG_TEST_DIR",
                    format!("/tmp/bm-pg-restart-{}", std::process::id()),
                ),
                ("PG_TEST_PORT", port.to_string()),
            ],
            url: String::new(),
        };
        let out = server.script("start");
        server.url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        server
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.script("stop");
        let _ = std::fs::remove_dir_all(&self.env[0].1);
    }
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn the_database_restarted_under_two_instances_loses_and_repeats_nothing() {
    postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let server = OwnServer::start(55_400 + (std::process::id() % 500) as u16);
    let app = cluster_app(server.url.clone(), 6, 5_000).await;
    let instances: Vec<Process> = (0..2).map(|_| app.spawn_binary()).collect();
    wait_balanced(&app, &instances).await;
    let mut phones = Vec::new();
    for n in 0..6 {
        phones.push(book(&app, FIRST_COMPANY + n as i64, 200 + n));
    }
    // Down for about two seconds (under the ttl), while bookings keep coming.
    server.script("stop");
    for n in 6..12 {
        phones.push(book(&app, FIRST_COMPANY + (n % 6) as i64, 200 + n));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.script("start");
    wait_all_sent(&app, &phones).await;
    let sent = messages_per_phone(&app);
    assert!(phones.iter().all(|p| sent[p] == 1), "{sent:?}");
    // Neither instance stopped.
    for mut instance in instances {
        assert_eq!(
            instance.wait_exit(Duration::ZERO).await,
            None,
            "{}",
            instance.log()
        );
    }
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn two_instances_racing_on_the_same_due_rows_claim_each_once() {
    let server = postgres_required();
    let _turn = ONE_AT_A_TIME.lock().await;
    let database = TestDatabase::on_postgres(&server);
    let first = database.open();
    let second = Db::open_postgres(&database.url(), &DbOptions::default()).unwrap();
    const ROWS: i64 = 300;
    let ids: Vec<NotificationId> = first.blocking(|c| due_rows(c, ROWS)).unwrap();
    let race = |db: Db, me: &'static str, barrier: std::sync::Arc<std::sync::Barrier>| {
        let ids = ids.clone();
        std::thread::spawn(move || {
            barrier.wait();
            let send = Outbound {
                phone: "79160000000".into(),
                message: "m".into(),
                record_json: "{}".into(),
            };
            ids.iter()
                .filter(|id| {
                    db.blocking(|c| store::claim_for_send(c, **id, &send, (me, true), Utc::now()))
                        .unwrap()
                        == store::Claim::Claimed
                })
                .count()
        })
    };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let a = race(first.clone(), "a", barrier.clone());
    let b = race(second, "b", barrier);
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(a + b, ROWS as usize, "claims: a {a}, b {b}");
    let rows = first.blocking(store::all_notifications).unwrap();
    assert!(rows
        .iter()
        .all(|r| r.status == Status::Sending && r.attempts == 1));
}

/// `n` confirmations due now, committed as the filter commits them.
fn due_rows(conn: &mut store::Conn, n: i64) -> Result<Vec<NotificationId>, store::StoreError> {
    let now = Utc::now();
    let records: Vec<RecordId> = (1..=n).map(RecordId).collect();
    let planned: Vec<Planned> = records
        .iter()
        .map(|record| Planned {
            booking: BookingUpdate {
                record: *record,
                audience: Audience::Ours,
                record_json: "{}".into(),
                told_json: None,
                revision: 0,
                pushed_at: None,
                visit_at: None,
            },
            open: vec![NewNotification {
                kind: Kind::Created,
                key: String::new(),
                status: Status::Pending,
                phone: Some("79160000000".into()),
                due_at: now,
                reason: None,
                record_json: "{}".into(),
                message: None,
            }],
            close: Vec::new(),
            reschedule: Vec::new(),
        })
        .collect();
    let poll = PollCommit {
        lease_holder: None,
        company: CompanyId(FIRST_COMPANY),
        new_cursor: None,
        monitored_since: now,
        planned_with: None,
        asked_at: now,
        now,
        baselined: false,
        phones: Vec::new(),
        proving_within: None,
        poll_every: None,
    };
    let committed = store::commit_poll(conn, &poll, &records, |_| Ok(planned), |_| Ok(Vec::new()))?;
    Ok(committed.scheduled.into_iter().map(|(id, _)| id).collect())
}

#[actix_rt::test]
#[cfg_attr(
    not(postgres_server),
    ignore = "needs PostgreSQL: set BOOKING_MONITOR_PG_SERVER (.ci/postgres.sh start prints one)"
)]
async fn status_on_a_database_no_instance_has_migrated_says_so() {
    let server = postgres_required();
    let database = TestDatabase::on_postgres(&server);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{}\"\n[yclients]\npartner_token = \"p\"\n\
             user_token = \"u\"\n[[companies]]\nid = 1\n[whatsapp]\nprovider = \"log\"\n",
            database.url()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_booking-monitor"))
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no tables yet: run `run` or `migrate` first"),
        "{stderr}"
    );
    assert!(!stderr.contains("booking:booking"), "{stderr}");
}
