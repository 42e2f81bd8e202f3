//! The salons' names, addresses and time zones: from `GET /api/v1/company/{id}`,
//! fetched once and cached, under the running config's overrides (read each time,
//! so a reload that changes them needs no new request). A user that may read
//! records but not the company (403) does not stop polling: the salon is then
//! what the config knows, and the log says once what is missing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::Config;
use crate::domain::CompanyId;
use crate::live::LiveConfig;
use crate::text::Salon;
use crate::yclients::{CompanyInfo, YClients, YClientsError};

pub struct Salons {
    live: Arc<LiveConfig>,
    logger: slog::Logger,
    /// What YClients said of each salon it was asked about.
    asked: Mutex<HashMap<CompanyId, Answer>>,
}

/// What YClients said of a salon.
#[derive(Clone)]
enum Answer {
    Told(CompanyInfo),
    /// It would not say (403): logged once, not asked again.
    Refused,
}

impl Salons {
    pub fn new(live: Arc<LiveConfig>, logger: slog::Logger) -> Salons {
        Salons {
            live,
            logger,
            asked: Mutex::new(HashMap::new()),
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

    /// What YClients told of the salon, if it was asked and told.
    fn told(&self, company: CompanyId) -> Option<Option<CompanyInfo>> {
        let asked = self.asked.lock().expect("salons lock");
        asked.get(&company).map(|answer| match answer {
            Answer::Told(info) => Some(info.clone()),
            Answer::Refused => None,
        })
    }

    /// The salon's name, if it has been fetched (or overridden) already; for the
    /// status page, which must not call YClients itself.
    pub fn cached_title(&self, company: CompanyId) -> Option<String> {
        let told = self.told(company).flatten();
        Some(self.salon(company, told.as_ref()).title).filter(|t| !t.is_empty())
    }

    /// The salon as far as it is known without asking YClients: fetched before,
    /// else the config's overrides and `monitor.default_timezone`. For a webhook,
    /// which must answer fast; the poller fetched the salon at its first poll.
    pub fn known(&self, company: CompanyId) -> Salon {
        let told = self.told(company).flatten();
        self.salon(company, told.as_ref())
    }

    /// The running config's overrides over what YClients said.
    fn salon(&self, company: CompanyId, fetched: Option<&CompanyInfo>) -> Salon {
        let config = self.live.config();
        let overrides = config.company(company);
        let pick = |over: Option<&String>, fetched: Option<&String>| {
            over.or(fetched).cloned().unwrap_or_default()
        };
        Salon {
            title: pick(
                overrides.and_then(|o| o.name.as_ref()),
                fetched.map(|f| &f.title),
            ),
            address: pick(
                overrides.and_then(|o| o.address.as_ref()),
                fetched.map(|f| &f.address),
            ),
            timezone: overrides
                .and_then(|o| o.timezone)
                .or_else(|| fetched.and_then(|f| f.timezone.as_deref()?.parse().ok()))
                .unwrap_or(config.monitor.default_timezone),
        }
    }

    /// The salon, asking YClients once where the config does not say it all.
    pub async fn get(
        &self,
        company: CompanyId,
        yclients: &YClients,
    ) -> Result<Salon, YClientsError> {
        let config = self.live.config();
        let overrides = config.company(company);
        let complete = overrides
            .is_some_and(|o| o.name.is_some() && o.address.is_some() && o.timezone.is_some());
        if let Some(told) = self.told(company) {
            return Ok(self.salon(company, told.as_ref()));
        }
        if complete {
            return Ok(self.salon(company, None));
        }
        let answer = match yclients.company(company).await {
            Ok(info) => Answer::Told(info),
            Err(e @ YClientsError::Unauthorized { status: 403, .. }) => {
                // Logged once: the refusal is kept below.
                slog::warn!(self.logger,
                    "salons: YClients does not let this user read the company; polling with what the config gives";
                    "company_id" => company.0, "error" => %e,
                    "missing" => Salons::missing_details(&config, company).join(", "),
                    "what_to_do" => "set [[companies]] name, address and timezone, or give the user the right to see the company and restart");
                Answer::Refused
            }
            Err(e) => return Err(e),
        };
        self.asked
            .lock()
            .expect("salons lock")
            .insert(company, answer);
        Ok(self.known(company))
    }
}
