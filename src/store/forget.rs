//! A client's erasure (`booking-monitor forget`, Russia's 152-FZ): every stored
//! trace of a phone goes, in every salon, while the daemon runs; the phone is then
//! remembered only as a keyed hash (HMAC-SHA256 under a key made at migrate and
//! kept in the database), so that its later bookings and messages are recognised
//! and never stored.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::schema::{
    bookings, deliveries, forgotten_phones, notifications, number_changes, optouts, replies,
    secrets,
};
use super::{db_time, each_backend, write_transaction_in, Conn, Serialize, StoreError};
use crate::domain::{CompanyId, Phone, RecordId};

const PHONE_KEY: &str = "phone_hash_key";

/// Makes the key of the forgotten phones' hashes, once (at migrate).
pub(super) fn ensure_phone_key(conn: &mut Conn) -> Result<(), StoreError> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| StoreError::Migration("no randomness for the phone hash key".into()))?;
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let insert = diesel::insert_into(secrets::table)
        .values((secrets::name.eq(PHONE_KEY), secrets::value.eq(hex)))
        .on_conflict_do_nothing();
    each_backend!(conn, |c| insert.execute(c))?;
    Ok(())
}

fn phone_key(conn: &mut Conn) -> Result<hmac::Key, StoreError> {
    let hex: String = secrets::table
        .find(PHONE_KEY)
        .select(secrets::value)
        .first(conn)?;
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

fn hash(key: &hmac::Key, digits: &str) -> String {
    hmac::sign(key, digits.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The forgotten phones, for recognising them within one transaction.
pub struct Forgotten {
    key: hmac::Key,
    hashes: HashSet<String>,
}

impl Forgotten {
    /// Reads them; `None` while no phone was ever forgotten (nothing to hash).
    pub fn read(conn: &mut Conn) -> Result<Option<Forgotten>, StoreError> {
        let hashes: HashSet<String> = forgotten_phones::table
            .select(forgotten_phones::hash)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        if hashes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Forgotten {
            key: phone_key(conn)?,
            hashes,
        }))
    }

    /// Whether `digits` is a forgotten phone.
    pub fn covers(&self, digits: &str) -> bool {
        self.hashes.contains(&hash(&self.key, digits))
    }
}

/// Whether `digits` is a forgotten phone (one lookup).
pub fn is_forgotten(conn: &mut Conn, digits: &str) -> Result<bool, StoreError> {
    Ok(Forgotten::read(conn)?.is_some_and(|f| f.covers(digits)))
}

/// What `forget` erased, table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    pub bookings: usize,
    pub notifications: usize,
    pub deliveries: usize,
    pub replies: usize,
    pub optouts: usize,
    /// Notes that the client's WhatsApp number changed, from or to it.
    pub number_changes: usize,
    /// The phone was forgotten before.
    pub already: bool,
}

/// The phone in a stored booking (as the booking is now, or as its client was
/// told it), in any format YClients gives it.
fn phone_in(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let raw = match value.pointer("/client/phone")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Phone::parse(&raw).ok().map(|p| p.digits().to_string())
}

/// Erases every stored trace of `phone` (digits) and remembers it as a hash, in
/// one transaction that no poll, webhook or reply can interleave with: whatever
/// arrives after it is recognised and not stored.
pub fn forget(conn: &mut Conn, phone: &str, now: DateTime<Utc>) -> Result<Erased, StoreError> {
    // Every company with stored rows, then the replies: one lock each, in order.
    let mut companies: BTreeSet<i64> = bookings::table
        .select(bookings::company_id)
        .distinct()
        .load::<i64>(conn)?
        .into_iter()
        .collect();
    companies.extend(
        notifications::table
            .select(notifications::company_id)
            .distinct()
            .load::<i64>(conn)?,
    );
    let mut scopes: Vec<Serialize> = vec![Serialize::Replies];
    scopes.extend(companies.into_iter().map(Serialize::Company));
    write_transaction_in(conn, &scopes, |conn| erase(conn, phone, now))
}

fn erase(conn: &mut Conn, phone: &str, now: DateTime<Utc>) -> Result<Erased, StoreError> {
    let mut erased = Erased::default();
    // The bookings of that phone: by the notices sent to it, and by the bookings'
    // own copies (a booking whose notice was skipped keeps its phone there only).
    let mut records: BTreeSet<(i64, i64)> = notifications::table
        .filter(notifications::phone.eq(phone))
        .filter(notifications::record_id.ne(0))
        .select((notifications::company_id, notifications::record_id))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let stored: Vec<(i64, i64, String, Option<String>)> = bookings::table
        .select((
            bookings::company_id,
            bookings::record_id,
            bookings::record_json,
            bookings::told_json,
        ))
        .load(conn)?;
    for (company, record, json, told) in stored {
        let theirs = |j: &str| phone_in(j).as_deref() == Some(phone);
        if theirs(&json) || told.as_deref().is_some_and(theirs) {
            records.insert((company, record));
        }
    }
    let unphoned: Vec<(i64, i64, String)> = notifications::table
        .filter(notifications::phone.is_null())
        .select((
            notifications::company_id,
            notifications::record_id,
            notifications::record_json,
        ))
        .load(conn)?;
    for (company, record, json) in unphoned {
        if phone_in(&json).as_deref() == Some(phone) {
            records.insert((company, record));
        }
    }
    let mut doomed: Vec<(i64, Option<String>)> = notifications::table
        .filter(notifications::phone.eq(phone))
        .select((notifications::id, notifications::provider_message_id))
        .load(conn)?;
    for (company, record) in &records {
        let of_record = notifications::table
            .filter(notifications::company_id.eq(company))
            .filter(notifications::record_id.eq(record));
        doomed.extend(
            of_record
                .select((notifications::id, notifications::provider_message_id))
                .load::<(i64, Option<String>)>(conn)?,
        );
        erased.bookings += diesel::delete(bookings::table.find((company, record))).execute(conn)?;
        erased.replies += diesel::delete(
            replies::table
                .filter(replies::company_id.eq(company))
                .filter(replies::record_id.eq(record)),
        )
        .execute(conn)?;
    }
    doomed.sort();
    doomed.dedup();
    for chunk in doomed.chunks(500) {
        let ids: Vec<i64> = chunk.iter().map(|(id, _)| *id).collect();
        let sent: Vec<&String> = chunk.iter().filter_map(|(_, p)| p.as_ref()).collect();
        erased.deliveries +=
            diesel::delete(deliveries::table.filter(deliveries::provider_message_id.eq_any(sent)))
                .execute(conn)?;
        erased.notifications +=
            diesel::delete(notifications::table.filter(notifications::id.eq_any(ids)))
                .execute(conn)?;
    }
    erased.replies +=
        diesel::delete(replies::table.filter(replies::phone.eq(phone))).execute(conn)?;
    erased.optouts +=
        diesel::delete(optouts::table.filter(optouts::phone.eq(phone))).execute(conn)?;
    erased.number_changes += diesel::delete(
        number_changes::table.filter(
            number_changes::old_phone
                .eq(phone)
                .or(number_changes::new_phone.eq(phone)),
        ),
    )
    .execute(conn)?;
    let key = phone_key(conn)?;
    let insert = diesel::insert_into(forgotten_phones::table)
        .values((
            forgotten_phones::hash.eq(hash(&key, phone)),
            forgotten_phones::created_at.eq(db_time(now)),
        ))
        .on_conflict_do_nothing();
    erased.already = each_backend!(conn, |c| insert.execute(c))? == 0;
    if !erased.already {
        super::add_to_counter(conn, super::FORGOTTEN, "", 1)?;
    }
    Ok(erased)
}

/// Lifts a `forget`: the phone's later bookings are stored and notified again.
/// Returns whether it was forgotten.
pub fn unforget(conn: &mut Conn, phone: &str) -> Result<bool, StoreError> {
    let key = phone_key(conn)?;
    let n = diesel::delete(forgotten_phones::table.find(hash(&key, phone))).execute(conn)?;
    Ok(n > 0)
}

/// Of `phones` (a record and its client's phone, digits), the records whose phone
/// was forgotten.
pub(super) fn forgotten_among(
    conn: &mut Conn,
    phones: &[(RecordId, String)],
) -> Result<HashSet<RecordId>, StoreError> {
    let Some(forgotten) = Forgotten::read(conn)? else {
        return Ok(HashSet::new());
    };
    Ok(phones
        .iter()
        .filter(|(_, digits)| forgotten.covers(digits))
        .map(|(record, _)| *record)
        .collect())
}

/// A forgotten phone's booking, as the outbox keeps it: skipped, with nothing of
/// the client (no phone, no copy of the record).
pub(super) fn skip_forgotten(
    conn: &mut Conn,
    company: CompanyId,
    record: RecordId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = super::NewNotification {
        kind: crate::domain::Kind::Created,
        key: String::new(),
        status: crate::domain::Status::Skipped,
        phone: None,
        due_at: now,
        reason: Some(crate::domain::Reason::Forgotten),
        record_json: "{}".into(),
        message: None,
    };
    super::plans::open_notice(conn, company, record, &row, now)?;
    Ok(())
}
