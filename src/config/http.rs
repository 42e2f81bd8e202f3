//! `[http]`: the health, metrics, status and bot endpoints.

use std::net::SocketAddr;

use serde::{Deserialize, Deserializer};

use super::{missing, ConfigError, Secret};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// An IP address and port (`127.0.0.1:9187`, `[::1]:9187`): what was accepted
    /// before it had a type; a host name never was.
    #[serde(default, deserialize_with = "socket_addr")]
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub token: Secret,
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "expected an IP address and port like \"127.0.0.1:9187\" (not a host name), got {text:?}"
        ))
    })
}

impl HttpConfig {
    /// The endpoints that change state need the token, so listening needs it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.is_some() && self.token.is_empty() {
            return Err(missing("http.token", "BOOKING_MONITOR_HTTP_TOKEN"));
        }
        Ok(())
    }
}
