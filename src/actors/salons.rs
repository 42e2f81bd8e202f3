//! The salons' names, addresses and time zones: from `GET /api/v1/company/{id}`,
//! fetched once and cached, under the config's overrides.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono_tz::Tz;

use crate::config::Config;
use crate::domain::CompanyId;
use crate::message::Salon;
use crate::yclients::{YClients, YClientsError};

/// YClients' home zone, for a company that names none.
const FALLBACK_TZ: Tz = chrono_tz::Europe::Moscow;

pub struct Salons {
    config: Arc<Config>,
    cache: Mutex<HashMap<CompanyId, Salon>>,
}

impl Salons {
    pub fn new(config: Arc<Config>) -> Salons {
        Salons {
            config,
            cache: Mutex::new(HashMap::new()),
        }
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
            Some(yclients.company(company).await?)
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
                .and_then(|o| o.tz())
                .or_else(|| {
                    fetched
                        .as_ref()
                        .and_then(|f| f.timezone.as_deref()?.parse().ok())
                })
                .unwrap_or(FALLBACK_TZ),
        };
        self.cache
            .lock()
            .expect("salons lock")
            .insert(company, salon.clone());
        Ok(salon)
    }
}
