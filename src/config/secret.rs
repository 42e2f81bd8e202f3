//! A secret of the config (a token, a password): never printed, compared in
//! constant time, and never one of the shipped examples' placeholders, which
//! would otherwise pass as a token until the first request failed.

use std::fmt;

use serde::{Deserialize, Deserializer};

use super::ConfigError;

/// A token: never printed, not even by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Whether `given` is this secret: never for an empty one, and compared in
    /// constant time, so that an answer's timing tells nothing of it.
    pub fn matches(&self, given: &str) -> bool {
        !self.is_empty() && constant_time_eq(given.as_bytes(), self.0.as_bytes())
    }
}

/// Equal bytes, compared in time that depends only on the length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        let value = String::deserialize(d)?;
        match placeholder(&value) {
            Some(why) => Err(serde::de::Error::custom(format!(
                "{why}; leave it empty (\"\") and set it in the environment, or write the real one here"
            ))),
            None => Ok(Secret(value)),
        }
    }
}

/// Why `value` is not a secret but an example's placeholder: the shipped files'
/// (`your-partner-token`, `change-me`, the `...` of a comment's `NAME=...`), or
/// one written like them (`<token>`).
fn placeholder(value: &str) -> Option<String> {
    let v = value.trim().to_ascii_lowercase();
    let shaped = v.starts_with("your-")
        || v.starts_with("your_")
        || v.starts_with("change-me")
        || v.starts_with("changeme")
        || (v.starts_with('<') && v.ends_with('>'))
        || (!v.is_empty() && v.chars().all(|c| c == '.' || c == '…'));
    shaped.then(|| {
        format!(
            "{:?} is an example's placeholder, not a secret",
            value.trim()
        )
    })
}

/// The secret in the environment variable `name`, if set and not empty; a
/// placeholder there is refused by the variable's name.
pub(super) fn secret_from_env(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<Secret>, ConfigError> {
    let Some(value) = env(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match placeholder(&value) {
        Some(why) => Err(ConfigError::new(name, format!("{why}; set the real one"))),
        None => Ok(Some(Secret(value))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_placeholders_are_no_secrets_and_real_tokens_are() {
        for p in [
            "your-partner-token",
            "change-me-too",
            "...",
            "<token>",
            " Your_Token ",
        ] {
            assert!(placeholder(p).is_some(), "{p}");
        }
        for s in ["3f9a0c1e5b7d", "123456:AAE-bot-token", "changes", "y"] {
            assert!(placeholder(s).is_none(), "{s}");
        }
    }
}
