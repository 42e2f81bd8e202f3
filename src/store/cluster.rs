//! Many instances on one database: the live instances, the companies' leases, and
//! the sends that a dead instance left half done. Every lease decision is taken in
//! one transaction serialized among instances, on the database's clock (hosts'
//! clocks may disagree; the database's is one).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use diesel::prelude::*;

use super::schema::{company_leases, instances, notifications};
use super::{each_backend, write_transaction, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, NotificationId, Status};

/// An instance row is forgotten this long after it stopped renewing.
const FORGET_AFTER: TimeDelta = TimeDelta::hours(24);

/// What one instance asks of a lease round.
#[derive(Debug, Clone)]
pub struct LeaseRequest<'a> {
    pub me: &'a str,
    pub started_at: DateTime<Utc>,
    /// Every configured company (every instance has the same list).
    pub companies: &'a [CompanyId],
    /// Companies being polled right now: kept until their poll ends.
    pub busy: &'a HashSet<CompanyId>,
    pub ttl: TimeDelta,
    /// The settings every instance must share (`Agreement::to_text`) and their digest.
    pub settings: &'a str,
    pub fingerprint: &'a str,
}

/// Another live instance and the settings it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub instance_id: String,
    /// `None`: a version from before instances reported them.
    pub fingerprint: Option<String>,
    pub settings: Option<String>,
}

/// What the round decided for this instance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeaseRound {
    /// The companies this instance holds now, until the round's time plus the ttl.
    pub held: HashSet<CompanyId>,
    /// Of those, the ones taken over from an instance that stopped renewing.
    pub taken_over: Vec<CompanyId>,
    /// Its fair share: the companies divided among the live instances (see `fair_share`).
    pub fair_share: usize,
    pub live_instances: usize,
    /// Rows a dead instance left in `sending`, now `pending` again.
    pub reclaimed: Vec<(NotificationId, DateTime<Utc>)>,
    /// The other live instances whose settings differ from this one's.
    pub disagreeing: Vec<Peer>,
}

/// The database's clock.
pub fn db_now(conn: &mut Conn) -> Result<NaiveDateTime, StoreError> {
    Ok(diesel::select(diesel::dsl::now).get_result::<NaiveDateTime>(conn)?)
}

/// Renews this instance and its leases, takes or gives back companies towards its
/// fair share, and returns to `pending` what dead instances left in `sending`.
pub fn lease_round(conn: &mut Conn, request: &LeaseRequest) -> Result<LeaseRound, StoreError> {
    write_transaction(conn, Serialize::Leases, |conn| {
        let now = db_now(conn)?;
        let expires = now + request.ttl;
        heartbeat(conn, request, now, expires)?;
        let peers: Vec<Peer> = instances::table
            .filter(instances::expires_at.gt(now))
            .select((
                instances::instance_id,
                instances::settings_fingerprint,
                instances::settings,
            ))
            .load::<(String, Option<String>, Option<String>)>(conn)?
            .into_iter()
            .map(|(instance_id, fingerprint, settings)| Peer {
                instance_id,
                fingerprint,
                settings,
            })
            .collect();
        let live: HashSet<String> = peers.iter().map(|p| p.instance_id.clone()).collect();
        let disagreeing: Vec<Peer> = peers
            .into_iter()
            .filter(|p| {
                p.instance_id != request.me && p.fingerprint.as_deref() != Some(request.fingerprint)
            })
            .collect();
        diesel::update(company_leases::table.filter(company_leases::holder.eq(request.me)))
            .set(company_leases::expires_at.eq(expires))
            .execute(conn)?;
        let leases: HashMap<i64, (String, NaiveDateTime)> = company_leases::table
            .select((
                company_leases::company_id,
                company_leases::holder,
                company_leases::expires_at,
            ))
            .load::<(i64, String, NaiveDateTime)>(conn)?
            .into_iter()
            .map(|(company, holder, until)| (company, (holder, until)))
            .collect();
        let fair_share = fair_share(request.companies.len(), &live, request.me);
        let mut held: Vec<CompanyId> = Vec::new();
        let mut free: Vec<(CompanyId, bool)> = Vec::new();
        for &company in request.companies {
            match leases.get(&company.0) {
                Some((holder, _)) if holder == request.me => held.push(company),
                Some((holder, until)) if *until > now && live.contains(holder) => {}
                // Lapsed, or held by an instance that no longer renews.
                Some(_) => free.push((company, true)),
                None => free.push((company, false)),
            }
        }
        let mut taken_over = Vec::new();
        if held.len() > fair_share {
            // The highest ids go first; one being polled stays until its poll ends.
            held.sort_by_key(|c| c.0);
            let surplus = held.len() - fair_share;
            let given: Vec<CompanyId> = held
                .iter()
                .rev()
                .filter(|c| !request.busy.contains(c))
                .take(surplus)
                .copied()
                .collect();
            for company in &given {
                diesel::delete(
                    company_leases::table
                        .find(company.0)
                        .filter(company_leases::holder.eq(request.me)),
                )
                .execute(conn)?;
            }
            held.retain(|c| !given.contains(c));
        } else {
            for (company, lapsed) in free.into_iter().take(fair_share - held.len()) {
                take(conn, company, request.me, expires)?;
                held.push(company);
                if lapsed {
                    taken_over.push(company);
                }
            }
        }
        let reclaimed = reclaim_sends(conn, &live, now)?;
        Ok(LeaseRound {
            held: held.into_iter().collect(),
            taken_over,
            fair_share,
            live_instances: live.len(),
            reclaimed,
            disagreeing,
        })
    })
}

/// This instance's share: the companies divided among the live instances, the
/// remainder going one each to the first instances by name, so that the shares
/// add up to every company (30 over 4: 8, 8, 7, 7).
fn fair_share(companies: usize, live: &HashSet<String>, me: &str) -> usize {
    let instances = live.len().max(1);
    let rank = live.iter().filter(|id| id.as_str() < me).count();
    companies / instances + usize::from(rank < companies % instances)
}

fn heartbeat(
    conn: &mut Conn,
    request: &LeaseRequest,
    now: NaiveDateTime,
    expires: NaiveDateTime,
) -> Result<(), StoreError> {
    let upsert = diesel::insert_into(instances::table)
        .values((
            instances::instance_id.eq(request.me),
            instances::started_at.eq(request.started_at.naive_utc()),
            instances::heartbeat_at.eq(now),
            instances::expires_at.eq(expires),
            instances::settings.eq(request.settings),
            instances::settings_fingerprint.eq(request.fingerprint),
        ))
        .on_conflict(instances::instance_id)
        .do_update()
        .set((
            instances::heartbeat_at.eq(now),
            instances::expires_at.eq(expires),
            instances::settings.eq(request.settings),
            instances::settings_fingerprint.eq(request.fingerprint),
        ));
    each_backend!(conn, |c| upsert.execute(c))?;
    diesel::delete(instances::table.filter(instances::expires_at.lt(now - FORGET_AFTER)))
        .execute(conn)?;
    Ok(())
}

fn take(
    conn: &mut Conn,
    company: CompanyId,
    me: &str,
    expires: NaiveDateTime,
) -> Result<(), StoreError> {
    let upsert = diesel::insert_into(company_leases::table)
        .values((
            company_leases::company_id.eq(company.0),
            company_leases::holder.eq(me),
            company_leases::expires_at.eq(expires),
        ))
        .on_conflict(company_leases::company_id)
        .do_update()
        .set((
            company_leases::holder.eq(me),
            company_leases::expires_at.eq(expires),
        ));
    each_backend!(conn, |c| upsert.execute(c))?;
    Ok(())
}

/// Rows in `sending` whose instance no longer renews go back to `pending`: their
/// send may or may not have left (at-least-once), and no one else will finish it.
fn reclaim_sends(
    conn: &mut Conn,
    live: &HashSet<String>,
    now: NaiveDateTime,
) -> Result<Vec<(NotificationId, DateTime<Utc>)>, StoreError> {
    let sending: Vec<(i64, Option<String>, NaiveDateTime)> = notifications::table
        .filter(notifications::status.eq(Status::Sending))
        .select((
            notifications::id,
            notifications::claimed_by,
            notifications::due_at,
        ))
        .load(conn)?;
    let orphaned: Vec<(i64, NaiveDateTime)> = sending
        .into_iter()
        .filter(|(_, holder, _)| holder.as_ref().is_some_and(|h| !live.contains(h)))
        .map(|(id, _, due)| (id, due))
        .collect();
    for (id, _) in &orphaned {
        diesel::update(
            notifications::table
                .find(id)
                .filter(notifications::status.eq(Status::Sending)),
        )
        .set((
            notifications::status.eq(Status::Pending),
            notifications::claimed_by.eq(None::<String>),
            notifications::updated_at.eq(now),
        ))
        .execute(conn)?;
    }
    Ok(orphaned
        .into_iter()
        .map(|(id, due)| (NotificationId(id), due.and_utc()))
        .collect())
}

/// Whether `me` holds the company's lease now (the database's clock): a poll's
/// commit is kept only then, so that a poll outlived by its lease changes nothing.
pub fn holds_lease(conn: &mut Conn, company: CompanyId, me: &str) -> Result<bool, StoreError> {
    let now = db_now(conn)?;
    let held = company_leases::table
        .find(company.0)
        .filter(company_leases::holder.eq(me))
        .filter(company_leases::expires_at.gt(now))
        .count()
        .get_result::<i64>(conn)?;
    Ok(held > 0)
}

/// Gives back every lease of `me` (a clean stop): the others take them at once.
pub fn release_all(conn: &mut Conn, me: &str) -> Result<(), StoreError> {
    diesel::delete(company_leases::table.filter(company_leases::holder.eq(me))).execute(conn)?;
    diesel::delete(instances::table.find(me)).execute(conn)?;
    Ok(())
}

/// An instance as `status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstanceState {
    pub instance_id: String,
    pub started_at: NaiveDateTime,
    pub heartbeat_at: NaiveDateTime,
    pub live: bool,
    pub companies: Vec<i64>,
    /// The settings it runs with (`Agreement::to_text`), and their digest.
    #[serde(skip)]
    pub settings: Option<String>,
    pub settings_fingerprint: Option<String>,
}

pub fn instance_states(conn: &mut Conn) -> Result<Vec<InstanceState>, StoreError> {
    let now = db_now(conn)?;
    let mut held: HashMap<String, Vec<i64>> = HashMap::new();
    for (company, holder) in company_leases::table
        .filter(company_leases::expires_at.gt(now))
        .select((company_leases::company_id, company_leases::holder))
        .order(company_leases::company_id.asc())
        .load::<(i64, String)>(conn)?
    {
        held.entry(holder).or_default().push(company);
    }
    Ok(instances::table
        .order(instances::instance_id.asc())
        .select((
            instances::instance_id,
            instances::started_at,
            instances::heartbeat_at,
            instances::expires_at,
            instances::settings,
            instances::settings_fingerprint,
        ))
        .load::<(
            String,
            NaiveDateTime,
            NaiveDateTime,
            NaiveDateTime,
            Option<String>,
            Option<String>,
        )>(conn)?
        .into_iter()
        .map(
            |(
                instance_id,
                started_at,
                heartbeat_at,
                expires_at,
                settings,
                settings_fingerprint,
            )| {
                InstanceState {
                    companies: held.remove(&instance_id).unwrap_or_default(),
                    live: expires_at > now,
                    instance_id,
                    started_at,
                    heartbeat_at,
                    settings,
                    settings_fingerprint,
                }
            },
        )
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fair_shares_add_up_to_every_company() {
        let live: HashSet<String> = ["a", "b", "c", "d"].map(String::from).into();
        let shares: Vec<usize> = ["a", "b", "c", "d"]
            .iter()
            .map(|me| fair_share(30, &live, me))
            .collect();
        assert_eq!(shares, vec![8, 8, 7, 7]);
        assert_eq!(fair_share(5, &HashSet::from(["x".to_string()]), "x"), 5);
    }
}
