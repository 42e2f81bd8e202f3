//! What the daemon has done, read from the database: for `status`, `status --json`,
//! `GET /status` and the staff's page at `GET /`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::config::{Agreement, Config};
use crate::domain::{mask_phone, CompanyId, Kind, Status};
use crate::store::{self, Conn, StoreError};
use crate::yclients::{Record, VisitTime};

mod page;
pub mod replies;
pub mod sms;
mod text;
pub use page::render_html;
pub use text::render_text;
pub(crate) use text::when;

/// How many recent decisions are shown.
pub const RECENT: i64 = 20;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub companies: Vec<CompanyReport>,
    /// Notifications by status, all kinds together.
    pub notifications: BTreeMap<Status, i64>,
    /// Notifications by kind, then status.
    pub kinds: BTreeMap<Kind, BTreeMap<Status, i64>>,
    /// Sent notifications by what WhatsApp last reported (delivered, read, failed…).
    pub deliveries: BTreeMap<String, i64>,
    /// What is due next, earliest first.
    pub upcoming: Vec<DecisionReport>,
    /// The latest decisions, newest first.
    pub recent: Vec<DecisionReport>,
    /// The instances sharing a PostgreSQL database (none on SQLite).
    pub instances: Vec<InstanceReport>,
    /// Live instances whose settings differ, with the first difference: every
    /// instance must have the same companies and notification rules.
    pub instances_disagree: Option<String>,
    /// Clients' replies.
    pub replies: replies::RepliesReport,
    /// The config each daemon runs: when it was loaded and its file's SHA-256.
    pub running_config: Vec<RunningConfigReport>,
    /// The latest SMS that stood in for WhatsApp, with their providers' ids.
    pub sms: Vec<sms::SmsReport>,
}

/// The config a daemon runs (one on SQLite; one per instance on PostgreSQL).
#[derive(Debug, Clone, Serialize)]
pub struct RunningConfigReport {
    pub instance_id: String,
    pub loaded_at: DateTime<Utc>,
    /// SHA-256 of the config file, as `sha256sum` shows it.
    pub fingerprint: String,
    /// Reloads applied since that daemon started.
    pub reloads: i64,
}

/// One instance on a shared database, as the database knows it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub instance_id: String,
    pub started_at: DateTime<Utc>,
    pub last_heartbeat: DateTime<Utc>,
    /// False once it stopped renewing: its companies pass to the others.
    pub live: bool,
    pub companies: Vec<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompanyReport {
    pub company_id: i64,
    /// The salon's name where known: the config's `name`, or what the daemon fetched.
    pub name: Option<String>,
    pub last_poll_at: Option<DateTime<Utc>>,
    /// How often it is polled now: `monitor.poll_interval_ms`, or less while its
    /// bookings are busy (as of its last poll).
    pub poll_interval_ms: u64,
    /// `ok`, `failing` or `never` (not polled successfully yet).
    pub last_poll: &'static str,
    pub last_error: Option<String>,
    pub cursor: Option<DateTime<Utc>>,
    pub monitored_since: Option<DateTime<Utc>>,
    /// When its last YClients webhook came, and how many came.
    pub last_webhook_at: Option<DateTime<Utc>>,
    pub webhook_events: i64,
    /// The salon's zone (IANA name): `status` and the page show its times in it.
    pub timezone: String,
    /// Clients who asked this salon (or its sender) to stop, newest first.
    pub optouts: Vec<OptOutReport>,
}

/// A client's stop, as the salon sees it.
#[derive(Debug, Clone, Serialize)]
pub struct OptOutReport {
    /// Masked: `7916***4567`.
    pub phone: String,
    pub since: DateTime<Utc>,
    /// `reply` (the client wrote «стоп») or `command` (`optout add`).
    pub source: String,
    /// The sender the reply reached, or the command.
    pub via: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecisionReport {
    pub company_id: i64,
    pub record_id: i64,
    pub kind: Kind,
    pub client: String,
    /// Masked: `7916***4567`.
    pub phone: Option<String>,
    /// The visit in the salon's wall-clock time, `YYYY-MM-DD HH:MM`.
    pub visit: Option<String>,
    pub status: Status,
    /// A reason code (`past_visit`…) or the provider's error.
    pub reason: Option<String>,
    pub attempts: i32,
    /// When it is (or was last) due.
    pub due_at: DateTime<Utc>,
    /// What WhatsApp last reported after accepting it: sent, delivered, read, failed.
    pub delivery: Option<String>,
    /// Meta's error code and title for a failed delivery.
    pub delivery_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Each configured company's polling, from its cursor row.
pub fn companies(conn: &mut Conn, config: &Config) -> Result<Vec<CompanyReport>, StoreError> {
    let states = store::poll_states(conn)?;
    let receipts = store::webhook_receipts(conn)?;
    let stops = store::optouts(conn, None)?;
    Ok(config
        .companies
        .iter()
        .map(|c| {
            let state = states.iter().find(|s| s.company_id == c.id);
            // A row of failures only, before any success, has no cursor to show.
            let monitored = state.filter(|s| s.ever_succeeded());
            let receipt = receipts.iter().find(|r| r.0 == c.id);
            CompanyReport {
                company_id: c.id,
                name: c.name.clone(),
                last_poll_at: state.and_then(|s| s.last_poll_at).map(|t| t.and_utc()),
                poll_interval_ms: state
                    .and_then(|s| s.poll_every_ms)
                    .map_or(config.monitor.poll_interval_ms, |ms| ms as u64),
                last_poll: match state {
                    Some(s) if s.last_poll_error.is_some() => "failing",
                    Some(s) if s.ever_succeeded() => "ok",
                    // Monitoring may have begun (a process registered its start)
                    // while the first poll waits its turn.
                    _ => "never",
                },
                last_error: state.and_then(|s| s.last_poll_error.clone()),
                cursor: monitored.map(|s| s.changed_after.and_utc()),
                monitored_since: state
                    .and_then(store::PollState::monitoring_began)
                    .map(|t| t.and_utc()),
                last_webhook_at: receipt.map(|r| r.1.and_utc()),
                webhook_events: receipt.map(|r| r.2).unwrap_or(0),
                timezone: c
                    .timezone
                    .unwrap_or(config.monitor.default_timezone)
                    .name()
                    .to_string(),
                optouts: stops
                    .iter()
                    .filter(|o| o.company_id == c.id)
                    .map(|o| OptOutReport {
                        phone: mask_phone(&o.phone),
                        since: o.since.and_utc(),
                        source: o.source.clone(),
                        via: o.via.clone(),
                    })
                    .collect(),
            }
        })
        .collect())
}

pub fn read(conn: &mut Conn, config: &Config) -> Result<Report, StoreError> {
    read_for(conn, config, None)
}

/// The report of every salon, or (`Some`) of one salon only: its staff's own page
/// shows nothing of another.
pub fn read_for(
    conn: &mut Conn,
    config: &Config,
    only: Option<CompanyId>,
) -> Result<Report, StoreError> {
    let mut companies = companies(conn, config)?;
    companies.retain(|c| only.is_none_or(|o| o.0 == c.company_id));
    let mut notifications = BTreeMap::new();
    let mut kinds: BTreeMap<Kind, BTreeMap<Status, i64>> = BTreeMap::new();
    let purged = store::purged_counts(conn, only.map(|c| c.0))?;
    // What retention purged still counts, as numbers.
    let kept = purged
        .iter()
        .filter_map(|(what, status, n)| Some((Kind::parse(what)?, Status::parse(status)?, *n)));
    for (kind, status, n) in store::count_by_kind_and_status(conn, only)?
        .into_iter()
        .chain(kept)
    {
        *notifications.entry(status).or_default() += n;
        *kinds.entry(kind).or_default().entry(status).or_default() += n;
    }
    let decision = |n: store::Notification| {
        let record = serde_json::from_str(&n.record_json)
            .ok()
            .and_then(|json| Record::from_json(json).ok());
        DecisionReport {
            company_id: n.company_id,
            record_id: n.record_id,
            kind: n.kind,
            client: record
                .as_ref()
                .and_then(|r| r.client.as_ref())
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            phone: n.phone.as_deref().map(mask_phone),
            visit: record.and_then(|r| r.visit).map(|v| {
                let local = match v {
                    VisitTime::Exact(at) => at.naive_local(),
                    VisitTime::SalonLocal(local) => local,
                };
                local.format("%Y-%m-%d %H:%M").to_string()
            }),
            status: n.status,
            reason: n.last_error.clone(),
            attempts: n.attempts,
            due_at: n.due_at.and_utc(),
            delivery: None,
            delivery_error: None,
            updated_at: n.updated_at.and_utc(),
        }
    };
    let upcoming = store::upcoming(conn, RECENT, only)?
        .into_iter()
        .map(decision)
        .collect();
    let recent_rows = store::recent(conn, RECENT, only)?;
    let ids: Vec<String> = recent_rows
        .iter()
        .filter_map(|n| n.provider_message_id.clone())
        .collect();
    let reported = store::deliveries(conn, &ids)?;
    let recent = recent_rows
        .into_iter()
        .map(|n| {
            let id = n.provider_message_id.clone();
            let mut d = decision(n);
            if let Some((_, status, error)) =
                reported.iter().find(|(p, _, _)| Some(p) == id.as_ref())
            {
                d.delivery = Some(status.clone());
                d.delivery_error = error.clone();
            }
            d
        })
        .collect();
    let deliveries = store::count_deliveries(conn, only)?.into_iter().collect();
    // Instances are the operator's concern, not a salon's.
    let states = match only {
        None => store::instance_states(conn)?,
        Some(_) => Vec::new(),
    };
    let instances_disagree = disagreement(&states);
    let instances = states
        .into_iter()
        .map(|i| InstanceReport {
            instance_id: i.instance_id,
            started_at: i.started_at.and_utc(),
            last_heartbeat: i.heartbeat_at.and_utc(),
            live: i.live,
            companies: i.companies,
        })
        .collect();
    // Which config runs is the operator's concern, not a salon's.
    let running_config = match only {
        Some(_) => Vec::new(),
        None => store::running_configs(conn)?
            .into_iter()
            .map(|r| RunningConfigReport {
                instance_id: r.instance_id,
                loaded_at: r.loaded_at.and_utc(),
                fingerprint: r.fingerprint,
                reloads: r.reloads,
            })
            .collect(),
    };
    Ok(Report {
        running_config,
        replies: replies::read(conn, config, only, &purged)?,
        sms: sms::read(conn, only)?,
        instances,
        instances_disagree,
        companies,
        notifications,
        kinds,
        deliveries,
        upcoming,
        recent,
    })
}

/// The live instances whose settings differ from the first live one's (by name).
fn disagreement(states: &[store::InstanceState]) -> Option<String> {
    let settings =
        |i: &store::InstanceState| Agreement::from_text(i.settings.as_deref().unwrap_or(""));
    let mut live = states.iter().filter(|i| i.live);
    let first = live.next()?;
    let others: Vec<(String, Agreement)> = live
        .filter(|i| i.settings_fingerprint != first.settings_fingerprint)
        .map(|i| (i.instance_id.clone(), settings(i)))
        .collect();
    settings(first).disagreement(&first.instance_id, &others)
}

impl Report {
    /// The zone of a time that may belong to no salon (a reply that answered no
    /// notice): its salon's, else the salons' one zone when they share it, else UTC.
    pub fn zone_for(&self, company: Option<i64>) -> Tz {
        if let Some(company) = company {
            return self.zone_of(company);
        }
        let mut zones = self.companies.iter().map(|c| self.zone_of(c.company_id));
        match zones.next() {
            Some(first) if zones.all(|z| z == first) => first,
            _ => Tz::UTC,
        }
    }

    /// A salon's zone, for its times (UTC for a company the report does not list).
    pub fn zone_of(&self, company: i64) -> Tz {
        self.companies
            .iter()
            .find(|c| c.company_id == company)
            .and_then(|c| c.timezone.parse().ok())
            .unwrap_or(chrono_tz::UTC)
    }
}
