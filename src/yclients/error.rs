//! What can go wrong with a YClients request, and what the person running the
//! daemon can do about it.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum YClientsError {
    #[error("YClients refused the credentials ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    #[error("YClients answered 404 (not found)")]
    NotFound,
    #[error("YClients rate limit hit (429){}", retry_after.map(|d| format!(", retry after {}s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("YClients server error {status}: {message}")]
    Server { status: u16, message: String },
    #[error("YClients did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach YClients: {0}")]
    Transport(String),
    #[error("YClients sent an unreadable answer: {0}")]
    Malformed(String),
}

impl YClientsError {
    /// What the person running the daemon can do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            YClientsError::Unauthorized { status: 401, .. } => {
                "check yclients.partner_token and yclients.user_token (get a new user token with POST /api/v1/auth)"
            }
            YClientsError::Unauthorized { .. } => {
                "give the YClients user the right to read records (and the company) in the salon's settings"
            }
            YClientsError::NotFound => "check the company id in [[companies]]",
            YClientsError::RateLimited { .. } => {
                "fewer companies per IP, or a longer monitor.poll_interval_ms"
            }
            YClientsError::Transport(_) | YClientsError::Timeout(_) => {
                "check the network and yclients.base_url; the daemon retries by itself"
            }
            _ => "nothing: the daemon retries by itself",
        }
    }

    /// A short, stable name for the kind of failure (state changes, metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            YClientsError::Unauthorized { .. } => "unauthorized",
            YClientsError::NotFound => "not_found",
            YClientsError::RateLimited { .. } => "rate_limited",
            YClientsError::Server { .. } => "server_error",
            YClientsError::Timeout(_) => "timeout",
            YClientsError::Transport(_) => "transport",
            YClientsError::Malformed(_) => "malformed",
        }
    }
}
