//! One poll of one company, from the salon's details and its cursor to the
//! filter's commit: what the poller's timer sets going.

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use super::NAME;
use crate::domain::CompanyId;
use crate::messages::{FilterOutcome, RecordsSeen};
use crate::shared::Shared;
use crate::store::{self, StoreError};
use crate::yclients::{ChangedRecords, YClients, YClientsError};

/// How one poll ended.
pub(super) enum PollResult {
    Committed(Committed),
    YClients(YClientsError),
    Filter(String),
    /// The poller itself cannot go on (its database, a panic): it restarts.
    Fatal(String),
    /// Another instance polled the company within this interval (it held the
    /// lease then): the next poll is one interval after that one.
    NotYet(Duration),
}

/// A poll the filter committed.
pub(super) struct Committed {
    pub outcome: FilterOutcome,
    pub requests: u32,
    pub records: usize,
    /// It read the baseline of the salon's future bookings (not news).
    pub baselined: bool,
}

impl From<StoreError> for PollResult {
    fn from(e: StoreError) -> PollResult {
        PollResult::Fatal(e.to_string())
    }
}

/// On a shared database, a company that has just passed from another instance may
/// have been polled moments ago: it is polled `least_gap` after that poll, not
/// again at once. The gap is the interval for a scheduled poll, the least gap for
/// a proving or an active one (which this instance's cadence asked sooner on
/// purpose). A tenth of it absorbs timer and clock jitter.
fn polled_recently(
    shared: &Shared,
    last_poll_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    least_gap: Duration,
) -> Option<Duration> {
    if !shared.cluster.is_shared() {
        return None;
    }
    let next = last_poll_at? + chrono::Duration::from_std(least_gap).ok()?;
    let early = (next - now).to_std().ok()?;
    (early > least_gap / 10).then_some(early)
}

/// Polls `company` once: every page of what changed since its cursor (with the
/// baseline of its future bookings when its monitoring begins), handed to the
/// filter, which commits it with the new cursor.
pub(super) async fn poll_company(
    shared: Shared,
    yclients: Rc<YClients>,
    filter: Recipient<RecordsSeen>,
    company: CompanyId,
    poll_every: Duration,
    least_gap: Duration,
) -> PollResult {
    if let Err(e) = shared.faults.strike(NAME) {
        return e.into();
    }
    let polled_at = Utc::now();
    let salon = match shared.salons.get(company, &yclients).await {
        Ok(salon) => salon,
        Err(e) => return record_failure(&shared, company, e).await,
    };
    let (cursor, registered) = match shared
        .db
        .run(move |c| {
            Ok((
                store::cursor(c, company)?,
                store::monitored_since(c, company)?,
            ))
        })
        .await
    {
        Ok(found) => found,
        Err(e) => return e.into(),
    };
    if let Some(wait) =
        cursor.and_then(|c| polled_recently(&shared, c.last_poll_at, polled_at, least_gap))
    {
        return PollResult::NotYet(wait);
    }
    let asked_at = Utc::now();
    // When monitoring begins, and once after an upgrade from before the lifecycle.
    let baselined = cursor.is_none_or(|c| !c.baselined);
    let start = Resume {
        cursor: cursor.map(|c| c.changed_after),
        registered,
        tz: salon.timezone,
    };
    let changed = match baselined {
        false => {
            let since = start.since(&shared, asked_at);
            yclients.records_changed_after(company, since).await
        }
        true => first_poll(&shared, &yclients, company, &start).await,
    };
    let changed = match changed {
        Ok(changed) => changed,
        Err(e) => return record_failure(&shared, company, e).await,
    };
    let mut began = shared
        .start
        .on_yclients(changed.server_time, changed.answered);
    if let Err(e) = register_start(&shared, began).await {
        return e.into();
    }
    // A company a reload added is monitored from then (`Daemon::reload` registered it).
    if let Some(added) = shared.live.current().added_at.get(&company) {
        began = shared.start.at(*added);
    }
    let requests = changed.requests;
    // YClients' clock, not ours: then skew between the two cannot open a gap.
    let mut next_cursor = changed.server_time.unwrap_or(polled_at);
    if changed.records.iter().any(Result::is_err) {
        // Hold the cursor until every record can be read: none is skipped unseen.
        next_cursor = cursor.map(|c| c.changed_after).unwrap_or(next_cursor);
    }
    let seen_count = changed.records.len();
    let seen = RecordsSeen {
        company,
        records: changed.records,
        asked_at,
        polled_at: Utc::now(),
        next_cursor: Some(next_cursor),
        baselined,
        monitoring_began: began,
        yclients_ahead_by: changed.clock_offset,
        timezone: salon.timezone,
        poll_every: Some(poll_every),
    };
    match filter.send(seen).await {
        Ok(Ok(outcome)) => {
            if baselined {
                // A webhook about this company may be waiting for its start.
                shared.start.company_began();
            }
            PollResult::Committed(Committed {
                outcome,
                requests,
                records: seen_count,
                baselined,
            })
        }
        Ok(Err(failure)) => PollResult::Filter(failure.to_string()),
        Err(mailbox) => PollResult::Filter(format!("filter unreachable: {mailbox}")),
    }
}

/// Where a company's poll starts from.
struct Resume {
    /// The last committed poll's cursor.
    cursor: Option<DateTime<Utc>>,
    /// When a process registered the company's monitoring start.
    registered: Option<DateTime<Utc>>,
    tz: chrono_tz::Tz,
}

impl Resume {
    /// `changed_after` for the poll: the cursor, or before the first poll, the
    /// start of monitoring (however long ago: whatever was made since is news),
    /// less the overlap that absorbs clock skew.
    fn since(&self, shared: &Shared, began: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
        let overlap =
            chrono::Duration::milliseconds(shared.config.monitor.cursor_overlap_ms as i64);
        let start = self.registered.map_or(began, |r| r.min(began));
        let from = self.cursor.unwrap_or(start) - overlap;
        // In the salon's own zone, offset included: right whether or not YClients reads the offset.
        from.with_timezone(&self.tz).fixed_offset()
    }
}

/// The first answer of this process tells its start on YClients' clock; that
/// start is registered once for every configured company, so that one polled
/// later (many salons share the budget at start; another instance may take it)
/// still counts as monitored from then.
async fn register_start(shared: &Shared, began: DateTime<Utc>) -> Result<(), StoreError> {
    if shared.start.registered() {
        return Ok(());
    }
    let companies: Vec<CompanyId> = shared
        .config
        .companies
        .iter()
        .map(|c| c.company_id())
        .collect();
    let begun = shared
        .db
        .run(move |c| store::begin_monitoring(c, &companies, began, Utc::now()))
        .await?;
    shared.start.mark_registered();
    if begun > 0 {
        slog::info!(shared.logger, "monitoring begins: bookings made from now on are news";
            "since" => %began, "companies" => begun);
    }
    Ok(())
}

/// When monitoring of a company begins: the baseline of its future bookings (so
/// that their changes and reminders work; it sends nothing by itself), then what
/// changed since monitoring began. A record in both comes once, as the later
/// answer has it.
async fn first_poll(
    shared: &Shared,
    yclients: &YClients,
    company: CompanyId,
    start: &Resume,
) -> Result<ChangedRecords, YClientsError> {
    let today = Utc::now().with_timezone(&start.tz).date_naive();
    let last = today + chrono::Days::new(shared.config.notifications.baseline_days.into());
    let baseline = yclients.records_visiting(company, today, last).await?;
    let began = shared
        .start
        .on_yclients(baseline.server_time, baseline.answered);
    let mut changed = yclients
        .records_changed_after(company, start.since(shared, began))
        .await?;
    let fresh: std::collections::HashSet<_> = changed
        .records
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|r| r.id))
        .collect();
    let mut records: Vec<_> = baseline
        .records
        .into_iter()
        .filter(|r| !r.as_ref().is_ok_and(|r| fresh.contains(&r.id)))
        .collect();
    records.append(&mut changed.records);
    changed.records = records;
    changed.requests += baseline.requests;
    Ok(changed)
}

/// Stores a failed poll for `status`, whether YClients failed on the records or on
/// the company's details (which a first poll needs).
async fn record_failure(shared: &Shared, company: CompanyId, e: YClientsError) -> PollResult {
    let error = e.to_string();
    match shared
        .db
        .run(move |c| store::record_poll_failure(c, company, &error, Utc::now()))
        .await
    {
        Ok(()) => PollResult::YClients(e),
        Err(e) => e.into(),
    }
}
