//! Checks and parsers the sections share, so the same mistake reads the same
//! whichever key it is under.

use std::fmt;

use chrono_tz::Tz;
use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};

use super::ConfigError;

/// Every problem the checks found, in the order found: an operator fixes them all
/// in one pass instead of learning of one per run. Never empty when an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(Vec<ConfigError>);

impl ConfigErrors {
    /// Keeps what `result` found: one problem, or a section's several.
    pub fn check<E: Into<ConfigErrors>>(&mut self, result: Result<(), E>) {
        if let Err(e) = result {
            self.0.extend(e.into().0);
        }
    }

    pub fn push(&mut self, error: ConfigError) {
        self.0.push(error);
    }

    /// `Ok` when nothing was found.
    pub fn into_result(self) -> Result<(), ConfigErrors> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// The first problem found (what a caller that shows one wants).
    pub fn first(self) -> ConfigError {
        self.0
            .into_iter()
            .next()
            .expect("ConfigErrors is never empty as an error")
    }

    pub(super) fn map(self, f: impl Fn(ConfigError) -> ConfigError) -> ConfigErrors {
        ConfigErrors(self.0.into_iter().map(f).collect())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![error])
    }
}

/// One problem reads as before (`key: problem`); several, one per line.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} problems:", all.len())?;
                for e in all {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ConfigErrors {}

/// `key` is unset, in the file and in the environment.
pub fn missing(key: &str, env: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!("missing: set it in the config file or in the environment variable {env}"),
    )
}

pub(super) fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::new(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}

pub(super) fn require_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("expected an http(s):// URL, got {url:?}"),
        ))
    }
}

/// A zone name like `Europe/Moscow`, for `[[companies]] timezone` and
/// `monitor.default_timezone`.
pub(super) fn time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "unknown time zone {text:?} (use a name like \"Europe/Moscow\")"
        ))
    })
}

/// A whole number as a person reads it: a refusal says `what` is wanted ("a whole
/// number of milliseconds, 1 or more") where serde would say `expected u64`. The
/// smallest value is checked later, with the other checks, so that every problem
/// is still reported in one run.
struct Whole<T> {
    what: &'static str,
    into: std::marker::PhantomData<T>,
}

impl<T: TryFrom<i64> + TryFrom<u64>> Visitor<'_> for Whole<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.what)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }
}

pub(super) fn whole<'de, D: Deserializer<'de>, T: TryFrom<i64> + TryFrom<u64>>(
    d: D,
    what: &'static str,
) -> Result<T, D::Error> {
    d.deserialize_i64(Whole {
        what,
        into: std::marker::PhantomData,
    })
}

/// A duration that must not be zero.
pub(super) fn positive_millis<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole(d, "a whole number of milliseconds, 1 or more")
}

pub(super) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole(d, "a whole number of milliseconds, 0 or more")
}

/// A share from 0 to 1 (`monitor.spare_budget_share`), whole or not.
pub(super) fn share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    struct Share;
    impl Visitor<'_> for Share {
        type Value = f64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number from 0 to 1 (a share; 0 turns it off)")
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            if (0.0..=1.0).contains(&v) {
                Ok(v)
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            self.visit_f64(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            self.visit_f64(v as f64)
        }
    }
    d.deserialize_f64(Share)
}

/// A count that must not be zero (requests, attempts, parts).
pub(super) fn positive_count<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    whole(d, "a whole number, 1 or more")
}

pub(super) fn count<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64> + TryFrom<u64>,
{
    whole(d, "a whole number, 0 or more")
}

/// An id of YClients' or Telegram's (a Telegram group's is negative).
pub(super) fn id<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    whole(d, "a whole number (an id)")
}

pub(super) fn some_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    id(d).map(Some)
}

pub(super) fn some_positive_count<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<u32>, D::Error> {
    positive_count(d).map(Some)
}

/// A list of ids (`monitor.bot_user_ids`).
pub(super) fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    struct Id(i64);
    impl<'de> Deserialize<'de> for Id {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
            id(d).map(Id)
        }
    }
    Ok(Vec::<Id>::deserialize(d)?
        .into_iter()
        .map(|i| i.0)
        .collect())
}
