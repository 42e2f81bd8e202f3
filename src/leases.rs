//! The lease loop (PostgreSQL only): every third of `cluster.lease_ttl_ms`, one
//! round renews this instance's heartbeat and leases, takes or gives back
//! companies towards its fair share, reclaims what dead instances left in
//! `sending`, and compares the instances' settings; the share it leaves in
//! `Cluster` is what the poller polls.

use std::time::Instant;

use actix::Recipient;
use chrono::{TimeDelta, Utc};

use crate::budget::plan_the_budget;
use crate::config::Agreement;
use crate::domain::CompanyId;
use crate::messages::{Refill, Schedule};
use crate::shared::Shared;
use crate::store::{self, LeaseRequest};

/// Runs lease rounds until the process stops. Rows a dead instance left in
/// `sending` go to `schedule` once reclaimed; `refill` hears when companies were
/// gained (their pending rows wait in the table).
pub async fn run(shared: Shared, schedule: Recipient<Schedule>, refill: Recipient<Refill>) {
    let Shared {
        cluster,
        live,
        db,
        metrics,
        limiter,
        logger: log,
        ..
    } = shared;
    let started_at = Utc::now();
    let ttl = TimeDelta::from_std(cluster.ttl()).unwrap_or(TimeDelta::seconds(15));
    let mut failing = false;
    let mut warned_budget = false;
    loop {
        let began = Instant::now();
        // The running config, read each round: a reload changes the companies
        // shared out and the settings the other instances compare.
        let config = live.config();
        let companies: Vec<CompanyId> = config.companies.iter().map(|c| c.company_id()).collect();
        let agreement = config.agreement();
        let (settings, fingerprint) = (agreement.to_text(), agreement.fingerprint());
        let busy = cluster.busy();
        let (me, list) = (cluster.instance_id.clone(), companies.clone());
        let round = db
            .run_once(move |conn| {
                store::lease_round(
                    conn,
                    &LeaseRequest {
                        me: &me,
                        started_at,
                        companies: &list,
                        busy: &busy,
                        ttl,
                        settings: &settings,
                        fingerprint: &fingerprint,
                    },
                )
            })
            .await;
        match round {
            Ok(round) => {
                if failing {
                    slog::info!(log, "cluster: the database answers again; leases renewed");
                    failing = false;
                }
                if !round.taken_over.is_empty() {
                    slog::warn!(log, "cluster: took over companies of an instance that stopped renewing";
                        "companies" => format!("{:?}", round.taken_over.iter().map(|c| c.0).collect::<Vec<_>>()));
                }
                metrics.takeovers(round.taken_over.len());
                // Warned once, for the share this instance settled on.
                let settled = !warned_budget && round.held.len() == round.fair_share;
                plan_the_budget(&config, round.held.len(), &limiter, &log, settled);
                warned_budget |= settled;
                for (id, due_at) in round.reclaimed.iter().copied() {
                    slog::warn!(log, "cluster: a dead instance left a send unfinished; sending it again (at least once)";
                        "notification" => id.0);
                    schedule.do_send(Schedule { id, due_at });
                }
                let others: Vec<(String, Agreement)> = round
                    .disagreeing
                    .iter()
                    .map(|peer| {
                        let theirs = Agreement::from_text(peer.settings.as_deref().unwrap_or(""));
                        (peer.instance_id.clone(), theirs)
                    })
                    .collect();
                let disagreement = agreement.disagreement(&cluster.instance_id, &others);
                let (gained, changed) = cluster.renewed(&round, disagreement, began);
                match changed {
                    Some(Some(what)) => slog::error!(log,
                        "cluster: instances on this database run with different settings; make every instance's config the same";
                        "difference" => what),
                    Some(None) => slog::info!(
                        log,
                        "cluster: every live instance runs with the same settings again"
                    ),
                    None => {}
                }
                if gained {
                    refill.do_send(Refill);
                }
            }
            Err(e) => {
                if !failing {
                    slog::error!(log, "cluster: cannot renew leases; polling stops when the share lapses";
                        "error" => %e);
                    failing = true;
                }
            }
        }
        actix_rt::time::sleep(cluster.renewal_every().saturating_sub(began.elapsed())).await;
    }
}
