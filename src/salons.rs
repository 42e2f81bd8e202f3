//! The salons' names, addresses and time zones: from `GET /api/v1/company/{id}`,
//! fetched once and cached, under the config's overrides. A user that may read
//! records but not the company (403) does not stop polling: the salon is then
//! what the config knows, and the log says once what is missing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::domain::CompanyId;
use crate::text::Salon;
use crate::yclients::{YClients, YClientsError};

pub struct Salons {
    config: Arc<Config>,
    logger: slog::Logger,
    cache: Mutex<HashMap<CompanyId, Salon>>,
}

impl Salons {
    pub fn new(config: Arc<Config>, logger: slog::Logger) -> Salons {
        Salons {
            config,
            logger,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// What the config does not give of a company, in words for `check` and the
    /// log: what the messages lack when YClients will not tell.
    pub fn missing_details(config: &Config, company: CompanyId) -> Vec<String> {
        let overrides = config.company(company);
        let mut missing = Vec::new();
        if overrides.and_then(|o| o.name.as_ref()).is_none() {
            missing.push("name ({company} is empty)".to_string());
        }
        if overrides.and_then(|o| o.address.as_ref()).is_none() {
            missing.push("address ({address} is empty)".to_string());
        }
        if overrides.and_then(|o| o.timezone).is_none() {
            missing.push(format!(
                "time zone ({} from monitor.default_timezone is used)",
                config.monitor.default_timezone
            ));
        }
        missing
    }

    /// The salon's name, if it has been fetched (or overridden) already; for the
    /// status page, which must not call YClients itself.
    pub fn cached_title(&self, company: CompanyId) -> Option<String> {
        self.cache
            .lock()
            .expect("salons lock")
            .get(&company)
            .map(|s| s.title.clone())
            .filter(|t| !t.is_empty())
    }

    /// The salon as far as it is known without asking YClients: fetched before,
    /// else the config's overrides and `monitor.default_timezone`. For a webhook,
    /// which must answer fast; the poller fetched the salon at its first poll.
    pub fn known(&self, company: CompanyId) -> Salon {
        if let Some(salon) = self.cache.lock().expect("salons lock").get(&company) {
            return salon.clone();
        }
        let overrides = self.config.company(company);
        Salon {
            title: overrides.and_then(|o| o.name.clone()).unwrap_or_default(),
            address: overrides
                .and_then(|o| o.address.clone())
                .unwrap_or_default(),
            timezone: overrides
                .and_then(|o| o.timezone)
                .unwrap_or(self.config.monitor.default_timezone),
        }
    }

    pub async fn get(
        &self,
        company: CompanyId,
        yclients: &YClients,
    ) -> Result<Salon, YClientsError> {
        if let Some(salon) = self.cache.lock().expect("salons lock").get(&company) {
            return Ok(salon.clone());
        }
        let overrides = self.config.company(company);
        let complete = overrides
            .is_some_and(|o| o.name.is_some() && o.address.is_some() && o.timezone.is_some());
        let fetched = if complete {
            None
        } else {
            match yclients.company(company).await {
                Ok(info) => Some(info),
                Err(e @ YClientsError::Unauthorized { status: 403, .. }) => {
                    // Logged once: the result is cached below.
                    slog::warn!(self.logger,
                        "salons: YClients does not let this user read the company; polling with what the config gives";
                        "company_id" => company.0, "error" => %e,
                        "missing" => Salons::missing_details(&self.config, company).join(", "),
                        "what_to_do" => "set [[companies]] name, address and timezone, or give the user the right to see the company and restart");
                    None
                }
                Err(e) => return Err(e),
            }
        };
        let pick = |over: Option<&String>, fetched: Option<&String>| {
            over.or(fetched).cloned().unwrap_or_default()
        };
        let salon = Salon {
            title: pick(
                overrides.and_then(|o| o.name.as_ref()),
                fetched.as_ref().map(|f| &f.title),
            ),
            address: pick(
                overrides.and_then(|o| o.address.as_ref()),
                fetched.as_ref().map(|f| &f.address),
            ),
            timezone: overrides
                .and_then(|o| o.timezone)
                .or_else(|| {
                    fetched
                        .as_ref()
                        .and_then(|f| f.timezone.as_deref()?.parse().ok())
                })
                .unwrap_or(self.config.monitor.default_timezone),
        };
        self.cache
            .lock()
            .expect("salons lock")
            .insert(company, salon.clone());
        Ok(salon)
    }
}
