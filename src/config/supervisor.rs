//! `[supervisor]`: how many actor restarts are tolerated before the process exits.

use serde::Deserialize;

use super::checks::{count, positive_millis};
use super::{positive, ConfigError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    #[serde(default = "max_restarts", deserialize_with = "count")]
    pub max_restarts: u32,
    #[serde(default = "restart_window_ms", deserialize_with = "positive_millis")]
    pub restart_window_ms: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        toml::from_str("").expect("supervisor defaults")
    }
}

fn max_restarts() -> u32 {
    5
}
fn restart_window_ms() -> u64 {
    60_000
}

impl SupervisorConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        positive("supervisor.restart_window_ms", self.restart_window_ms)
    }
}
