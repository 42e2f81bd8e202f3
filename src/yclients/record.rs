//! The YClients record object, read leniently: unknown fields ignored, phones as
//! numbers or strings, both offset styles, `client: null`, services in any order.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::domain::{CompanyId, RecordId};

#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub id: i64,
    pub title: String,
    /// What the client pays for all of `amount`.
    pub cost: f64,
    pub amount: f64,
}

/// YClients' `attendance`: whether the client is expected, came, or will not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attendance {
    /// `0`: waiting.
    Waiting,
    /// `1`: the client came.
    Came,
    /// `2`: the visit is confirmed.
    Confirmed,
    /// `-1`: did not come, or cancelled.
    Cancelled,
    Other(i64),
}

impl Attendance {
    pub fn from_code(code: i64) -> Attendance {
        match code {
            0 => Attendance::Waiting,
            1 => Attendance::Came,
            2 => Attendance::Confirmed,
            -1 => Attendance::Cancelled,
            other => Attendance::Other(other),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub name: String,
    /// As YClients gave it; normalised into a `Phone` by the filter.
    pub phone: Option<String>,
}

/// When the visit is. `datetime` carries an offset; older answers only have `date`,
/// the salon's wall-clock time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum VisitTime {
    Exact(DateTime<FixedOffset>),
    SalonLocal(NaiveDateTime),
}

impl VisitTime {
    pub fn in_zone(&self, tz: Tz) -> DateTime<Tz> {
        match self {
            VisitTime::Exact(at) => at.with_timezone(&tz),
            VisitTime::SalonLocal(local) => tz
                .from_local_datetime(local)
                .earliest()
                // A wall-clock time skipped by a DST jump: read it as UTC rather than fail.
                .unwrap_or_else(|| tz.from_utc_datetime(local)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: RecordId,
    pub company_id: Option<CompanyId>,
    pub services: Vec<Service>,
    pub staff_id: Option<i64>,
    pub staff_name: Option<String>,
    pub client: Option<Client>,
    pub visit: Option<VisitTime>,
    pub created_at: DateTime<Utc>,
    pub changed_at: Option<DateTime<Utc>>,
    pub online: bool,
    pub attendance: Attendance,
    pub deleted: bool,
    pub created_user_id: i64,
    /// The record as received, kept in `notifications.record_json`.
    pub raw: Value,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("record {id}: {reason}", id = id.map(|i| i.to_string()).unwrap_or_else(|| "?".into()))]
pub struct RecordError {
    pub id: Option<RecordId>,
    pub reason: String,
}

impl Record {
    pub fn from_json(value: Value) -> Result<Record, RecordError> {
        let id = value.get("id").and_then(lenient_i64).map(RecordId);
        let fail = |reason: String| RecordError { id, reason };
        let raw: RawRecord =
            serde_json::from_value(value.clone()).map_err(|e| fail(e.to_string()))?;
        let created_at = raw
            .create_date
            .as_deref()
            .map(parse_timestamp)
            .ok_or_else(|| fail("no create_date".into()))?
            .map_err(|e| fail(format!("create_date: {e}")))?;
        let changed_at = match raw.last_change_date.as_deref() {
            Some(s) if !s.is_empty() => {
                Some(parse_timestamp(s).map_err(|e| fail(format!("last_change_date: {e}")))?)
            }
            _ => None,
        };
        let visit = match (raw.datetime.as_deref(), raw.date.as_deref()) {
            (Some(s), _) if !s.is_empty() => Some(VisitTime::Exact(
                parse_with_offset(s).map_err(|e| fail(format!("datetime: {e}")))?,
            )),
            (_, Some(s)) if !s.is_empty() => Some(VisitTime::SalonLocal(
                NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
                    .map_err(|e| fail(format!("date: {e}")))?,
            )),
            _ => None,
        };
        Ok(Record {
            id: RecordId(raw.id),
            company_id: raw.company_id.map(CompanyId),
            services: raw
                .services
                .into_iter()
                .map(|s| {
                    let amount = s.amount.unwrap_or(1.0);
                    Service {
                        id: s.id.unwrap_or(0),
                        title: s.title,
                        cost: s.cost_to_pay.or(s.cost).unwrap_or(0.0) * amount,
                        amount,
                    }
                })
                .collect(),
            staff_id: raw
                .staff_id
                .or(raw.staff.as_ref().and_then(|s| s.id))
                .filter(|id| *id != 0),
            staff_name: raw.staff.and_then(|s| s.name).filter(|n| !n.is_empty()),
            client: raw.client.map(|c| Client {
                name: c
                    .name
                    .filter(|n| !n.trim().is_empty())
                    .or(c.display_name)
                    .unwrap_or_default(),
                phone: c.phone.filter(|p| !p.is_empty()),
            }),
            visit,
            created_at: created_at.with_timezone(&Utc),
            changed_at: changed_at.map(|c| c.with_timezone(&Utc)),
            online: raw.online,
            attendance: Attendance::from_code(raw.attendance),
            deleted: raw.deleted,
            created_user_id: raw.created_user_id,
            raw: value,
        })
    }

    /// Services as a set: YClients does not keep their order stable.
    pub fn services_sorted(&self) -> Vec<&Service> {
        let mut services: Vec<&Service> = self.services.iter().collect();
        services.sort_by(|a, b| a.title.cmp(&b.title));
        services
    }

    /// Deleted, or cancelled with `attendance: -1`: either way the visit is off.
    pub fn is_gone(&self) -> bool {
        self.deleted || self.attendance == Attendance::Cancelled
    }

    pub fn total_price(&self) -> f64 {
        self.services.iter().map(|s| s.cost).sum()
    }
}

/// `2019-01-16T20:35:11+0900`, `...+09:00`, `...Z`, with or without fractions.
pub fn parse_timestamp(s: &str) -> Result<DateTime<Utc>, String> {
    parse_with_offset(s).map(|t| t.with_timezone(&Utc))
}

fn parse_with_offset(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(s))
        .map_err(|e| format!("{s:?}: {e}"))
}

#[derive(Deserialize)]
struct RawRecord {
    #[serde(deserialize_with = "de_i64")]
    id: i64,
    #[serde(default, deserialize_with = "de_opt_i64")]
    company_id: Option<i64>,
    #[serde(default, deserialize_with = "de_null_default")]
    services: Vec<RawService>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    staff_id: Option<i64>,
    #[serde(default)]
    staff: Option<RawStaff>,
    #[serde(default)]
    client: Option<RawClient>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    datetime: Option<String>,
    #[serde(default)]
    create_date: Option<String>,
    #[serde(default)]
    last_change_date: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    online: bool,
    #[serde(default, deserialize_with = "de_i64_or_zero")]
    attendance: i64,
    #[serde(default, deserialize_with = "de_bool")]
    deleted: bool,
    #[serde(default, deserialize_with = "de_i64_or_zero")]
    created_user_id: i64,
}

#[derive(Deserialize)]
struct RawService {
    #[serde(default, deserialize_with = "de_opt_i64")]
    id: Option<i64>,
    #[serde(default)]
    title: String,
    #[serde(default, deserialize_with = "de_opt_f64")]
    cost: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    cost_to_pay: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    amount: Option<f64>,
}

#[derive(Deserialize)]
struct RawStaff {
    #[serde(default, deserialize_with = "de_opt_i64")]
    id: Option<i64>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawClient {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_string")]
    phone: Option<String>,
}

pub fn lenient_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    lenient_i64(&v).ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {v}")))
}

fn de_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(lenient_i64(&Value::deserialize(d)?))
}

fn de_i64_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    Ok(de_opt_i64(d)?.unwrap_or(0))
}

fn de_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim(), "1" | "true"),
        _ => false,
    })
}

/// A phone may be a JSON number or a string.
fn de_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn de_null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/tests/fixtures/yclients/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn reads_the_documented_record() {
        let record =
            Record::from_json(fixture("docs_get_record_200.json")["data"].clone()).unwrap();
        assert_eq!(record.id, RecordId(2));
        assert_eq!(
            record.client.as_ref().unwrap().phone.as_deref(),
            Some("70001234567")
        );
        assert_eq!(record.created_at.to_rfc3339(), "2019-01-17T10:41:44+00:00");
        assert_eq!(record.services[0].title, "Наращивание волос");
        assert_eq!(record.staff_name.as_deref(), Some("Оксана"));
        assert!(!record.online);
    }

    #[test]
    fn reads_the_documented_list_with_a_null_client_and_an_online_booking() {
        let list = fixture("docs_get_records_list_200.json");
        let records: Vec<Record> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| Record::from_json(r.clone()).unwrap())
            .collect();
        assert!(records[0].client.is_none());
        assert!(records[1].online);
        assert!(records[1].services.is_empty());
        assert_eq!(records[1].client, None);
    }

    #[test]
    fn reads_a_webhook_record_with_a_masked_phone() {
        let hook = fixture("webhook_record_create_online_altegio_masked.json");
        let record = Record::from_json(hook["data"].clone()).unwrap();
        assert_eq!(record.client.unwrap().phone.as_deref(), Some("***"));
        assert_eq!(record.created_user_id, 0);
    }

    #[test]
    fn parses_both_offset_styles() {
        let a = parse_timestamp("2019-01-16T20:35:11+0900").unwrap();
        let b = parse_timestamp("2019-01-16T20:35:11+09:00").unwrap();
        let c = parse_timestamp("2019-01-16T11:35:11Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn a_record_without_an_id_is_a_typed_error() {
        let err = Record::from_json(serde_json::json!({"create_date": "x"})).unwrap_err();
        assert_eq!(err.id, None);
        let err = Record::from_json(serde_json::json!({"id": 5})).unwrap_err();
        assert_eq!(err.id, Some(RecordId(5)));
    }
}
