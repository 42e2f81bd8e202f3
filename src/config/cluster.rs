//! `[cluster]`: many instances on one PostgreSQL database (ignored on SQLite).

use serde::Deserialize;

use super::{positive, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// How this instance is named in the database; "" (the default): host name and pid.
    #[serde(default)]
    pub instance_id: String,
    /// How long a company stays with an instance that stopped renewing (died).
    #[serde(default = "lease_ttl_ms", deserialize_with = "lease_ttl")]
    pub lease_ttl_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        toml::from_str("").expect("cluster defaults")
    }
}

fn lease_ttl<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    super::checks::whole(d, "a whole number of milliseconds, 1500 or more")
}

fn lease_ttl_ms() -> u64 {
    15_000
}

/// Below this a lease would need renewing faster than a database round trip is safe.
const MIN_LEASE_TTL_MS: u64 = 1_500;

impl ClusterConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("cluster.lease_ttl_ms", self.lease_ttl_ms)?;
        if self.lease_ttl_ms < MIN_LEASE_TTL_MS {
            return Err(ConfigError::new(
                "cluster.lease_ttl_ms",
                format!(
                    "must be at least {MIN_LEASE_TTL_MS} (leases are renewed every third of it)"
                ),
            ));
        }
        if self.instance_id.len() > 200 || self.instance_id.chars().any(char::is_control) {
            return Err(ConfigError::new(
                "cluster.instance_id",
                "at most 200 printable characters",
            ));
        }
        Ok(())
    }

    /// The configured name, or `host:pid`: two processes never share a name.
    pub fn instance_id(&self) -> String {
        let id = self.instance_id.trim();
        if !id.is_empty() {
            return id.to_string();
        }
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_string());
        format!("{host}:{}", std::process::id())
    }
}
