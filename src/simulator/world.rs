//! The simulated world: the salons and their records, and everything the simulator
//! was asked, sent and told to do (faults, stalls, pushes), behind `State`'s lock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};

use super::{
    Chaos, Fate, Fault, Held, Pushed, Request, SentMessage, SentSms, SimCompany, StatusCallbacks,
    TelegramMessage, WebhookSender,
};

/// Everything the simulator knows and has seen.
#[derive(Debug, Default)]
pub struct World {
    pub companies: BTreeMap<i64, SimCompany>,
    /// Records as YClients returns them; a deleted one keeps `deleted: true`.
    pub(super) records: BTreeMap<(i64, i64), Value>,
    pub(super) next_record_id: i64,
    pub requests: Vec<Request>,
    pub messages: Vec<SentMessage>,
    pub yclients_faults: VecDeque<Fault>,
    /// Faults for the first YClients request whose path and query contain the text.
    pub yclients_faults_for: Vec<(String, Fault)>,
    pub whatsapp_faults: VecDeque<Fault>,
    /// Faults for the first WhatsApp request whose target (path, query and the
    /// number it is to) contains the text: a chosen client's send fails.
    pub whatsapp_faults_for: Vec<(String, Fault)>,
    /// How far YClients' clock is ahead of the real one (negative: behind).
    pub clock_skew: chrono::Duration,
    /// The most records a page holds, whatever `count` asks.
    pub page_cap: usize,
    /// The `Authorization` header YClients accepts, when set.
    pub yclients_auth: Option<String>,
    /// The `Accept` header it requires when set (Altegio's tools send
    /// `application/vnd.api.v2+json`); else YClients' own.
    pub yclients_accept: Option<String>,
    /// Requests being held by a [`Fault::Stall`] right now.
    pub stalled: usize,
    /// What those held requests are: who asked, for what.
    pub held: Vec<Held>,
    /// Set: every booking created, edited or deleted is also POSTed there.
    pub webhooks: Option<WebhookSender>,
    /// Each salon's webhook settings (`hooks_settings`).
    pub hooks: BTreeMap<i64, Value>,
    /// Set: Meta reports delivery statuses of each accepted message there.
    pub status_callbacks: Option<StatusCallbacks>,
    /// Numbers Meta accepts messages for but never delivers to: their `delivered`
    /// and `read` statuses are left out (others, `sent` or `failed`, still go), so
    /// the SMS fallback's "no `delivered` within `after_ms`" can be played for
    /// chosen clients among many (`cargo bench --bench reach`).
    pub undelivered_phones: HashSet<String>,
    /// Numbers Meta accepts messages for and then reports `failed` (131026, not
    /// deliverable): their `delivered` and `read` become one `failed`.
    pub failed_phones: HashSet<String>,
    /// Set: pushed booking events and status callbacks are lost, repeated and
    /// reordered, as [`Chaos`] decides for each.
    pub chaos: Option<Chaos>,
    /// How many pushes each chaos key has had (the next one's ordinal).
    pub(super) chaos_counts: HashMap<String, u32>,
    /// What the pushed events and callbacks got back, in order.
    pub pushed: Vec<Pushed>,
    /// How long every WhatsApp provider endpoint takes to answer (a real provider's
    /// round trip; the benches use it). Zero by default. A message is logged when its
    /// answer is ready, after this wait.
    pub whatsapp_latency: Duration,
    /// Staff alerts the fake Telegram accepted.
    pub telegram: Vec<TelegramMessage>,
    pub telegram_faults: VecDeque<Fault>,
    /// Chats Telegram answers 400 "Bad Request: chat not found" for.
    pub telegram_missing_chats: HashSet<i64>,
    /// Set: the one bot token Telegram knows (any other: 401).
    pub telegram_token: Option<String>,
    /// SMS the fake providers accepted, whichever provider.
    pub sms: Vec<SentSms>,
    /// Faults for the next SMS request, whichever provider.
    pub sms_faults: VecDeque<Fault>,
    /// Faults for the first SMS request to a number containing the text.
    pub sms_faults_for: Vec<(String, Fault)>,
    /// Numbers every SMS provider refuses (SMS.ru per number, SMSC error 8, the
    /// webhook 400).
    pub sms_refused_phones: HashSet<String>,
}

impl World {
    /// The fate of the next push with this key: as [`Chaos`] decides, or sent once.
    pub(super) fn fate(&mut self, key: &str) -> Fate {
        let Some(chaos) = &self.chaos else {
            return Fate::NORMAL;
        };
        let ordinal = self.chaos_counts.entry(key.to_string()).or_default();
        let fate = chaos.fate(key, *ordinal);
        *ordinal += 1;
        fate
    }

    /// YClients' clock, to the second as its timestamps are.
    pub fn yclients_now(&self) -> DateTime<Utc> {
        let now = Utc::now() + self.clock_skew;
        now - chrono::Duration::nanoseconds(now.timestamp_subsec_nanos() as i64)
    }

    pub fn record_list_requests(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.path.starts_with("/api/v1/records/"))
            .count()
    }

    pub(super) fn stamp(&self, company: i64) -> String {
        let tz = self
            .companies
            .get(&company)
            .map(|c| c.timezone)
            .unwrap_or(chrono_tz::UTC);
        // YClients writes creation and change times with a `+0300` offset.
        self.yclients_now()
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S%z")
            .to_string()
    }

    /// The change stamp for a record, in its salon's offset.
    pub(super) fn stamp_for_record(&self, record: i64) -> String {
        let company = self
            .records
            .keys()
            .find(|(_, id)| *id == record)
            .map_or(0, |(c, _)| *c);
        self.stamp(company)
    }

    /// A booking as YClients has it now.
    pub fn record(&self, id: i64) -> Option<&Value> {
        self.records
            .iter()
            .find(|((_, r), _)| *r == id)
            .map(|(_, record)| record)
    }

    pub(super) fn is_deleted(record: &Value) -> bool {
        record["deleted"] == json!(true)
    }

    /// The visit's salon-local date (`date` is the salon's wall clock).
    pub(super) fn visit_day(record: &Value) -> Option<chrono::NaiveDate> {
        record["date"]
            .as_str()
            .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok())
            .map(|d| d.date())
    }

    pub(super) fn changed_at(record: &Value) -> DateTime<Utc> {
        record["last_change_date"]
            .as_str()
            .and_then(|s| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z").ok())
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }
}
