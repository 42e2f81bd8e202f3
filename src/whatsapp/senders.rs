//! Every salon's WhatsApp sender, built once on the notifier's thread: a salon's
//! own where `[[companies]] whatsapp` gives one, else the global `[whatsapp]`.

use std::collections::HashMap;

use slog::Logger;

use super::Provider;
use crate::config::Config;
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
    pub fn new(config: &Config, tls: &TlsRoots, logger: &Logger) -> Senders {
        Senders {
            global: Provider::new(&config.whatsapp, tls, logger),
            own: config
                .companies
                .iter()
                .filter_map(|c| {
                    let own = c.whatsapp.as_ref()?;
                    Some((c.company_id(), Provider::new(own, tls, logger)))
                })
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
