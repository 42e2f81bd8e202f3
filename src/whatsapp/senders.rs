//! Every salon's WhatsApp sender, built once on the notifier's thread: a salon's
//! own where `[[companies]] whatsapp` gives one, else the global `[whatsapp]`.

use std::collections::HashMap;
use std::time::Duration;

use slog::Logger;

use super::Provider;
use crate::config::{Config, WhatsAppConfig};
use crate::domain::CompanyId;
use crate::http_client::TlsRoots;

/// Which sender: a salon's own, or `None` for the global one. A refused account
/// pauses only the sends of its own sender.
pub type SenderKey = Option<CompanyId>;

pub struct Senders {
    global: Provider,
    own: HashMap<CompanyId, Provider>,
}

impl Senders {
    /// One HTTP client per request timeout, shared by the senders that have it: an
    /// idle connection is closed only when its pool is next used, so a client per
    /// salon kept one open socket (and its TLS buffers) per salon for good: 1,000
    /// salons that had each sent held 1,010 sockets and 92 MiB.
    pub fn new(config: &Config, tls: &TlsRoots, logger: &Logger) -> Senders {
        let mut clients: HashMap<u64, awc::Client> = HashMap::new();
        let mut build = |whatsapp: &WhatsAppConfig| {
            let timeout = whatsapp.request_timeout_ms;
            let client = clients
                .entry(timeout)
                .or_insert_with(|| tls.client(Duration::from_millis(timeout)))
                .clone();
            Provider::with_client(whatsapp, client, logger)
        };
        Senders {
            global: build(&config.whatsapp),
            own: config
                .companies
                .iter()
                .filter_map(|c| Some((c.company_id(), build(c.whatsapp.as_ref()?))))
                .collect(),
        }
    }

    /// The sender of `company`'s messages.
    pub fn for_company(&self, company: CompanyId) -> (SenderKey, &Provider) {
        match self.own.get(&company) {
            Some(own) => (Some(company), own),
            None => (None, &self.global),
        }
    }
}
