//! `booking-monitor check`: the config, then each company and the WhatsApp
//! provider probed with the real credentials, a verdict per item.

use std::sync::Arc;

use slog::Logger;

use crate::actors::Salons;
use crate::config::Config;
use crate::domain::CompanyId;
use crate::http_client::TlsRoots;
use crate::whatsapp::Provider;
use crate::yclients::{RateLimiter, YClients, YClientsError};

pub struct Verdict {
    pub item: String,
    pub ok: bool,
    pub detail: String,
}

pub async fn run(config: &Config, logger: &Logger) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict {
        item: "config".into(),
        ok: true,
        detail: format!(
            "{}, provider {}",
            plural(config.companies.len(), "company", "companies"),
            config.whatsapp.provider.as_str()
        ),
    }];
    let tls = match TlsRoots::load(config.tls.ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(e) => {
            verdicts.push(Verdict {
                item: "tls.ca_file".into(),
                ok: false,
                detail: e.to_string(),
            });
            return verdicts;
        }
    };
    let limiter = Arc::new(RateLimiter::new(
        config.yclients.max_requests_per_second,
        config.yclients.max_requests_per_minute,
    ));
    let yclients = YClients::new(&config.yclients, &tls, limiter);
    for company in &config.companies {
        let id = company.company_id();
        verdicts.push(match yclients.company(id).await {
            Ok(info) => Verdict {
                item: format!("YClients company {id}"),
                ok: true,
                detail: format!(
                    "«{}», {}, time zone {}",
                    info.title,
                    info.address,
                    info.timezone.as_deref().unwrap_or("not given")
                ),
            },
            // The daemon polls such a company with what the config gives.
            Err(e @ YClientsError::Unauthorized { status: 403, .. }) => Verdict {
                item: format!("YClients company {id}"),
                ok: true,
                detail: format!(
                    "not readable ({e}); polled anyway, missing: {}",
                    or_nothing(&Salons::missing_details(config, id))
                ),
            },
            Err(e) => Verdict {
                item: format!("YClients company {id}"),
                ok: false,
                detail: format!("{e}: {}", e.advice()),
            },
        });
        let token = config.yclients.webhook_token.expose();
        if !token.is_empty() {
            verdicts.push(webhooks_verdict(&yclients, id, token).await);
        }
        verdicts.push(match yclients.probe_records(id).await {
            Ok(()) => Verdict {
                item: format!("YClients records of {id}"),
                ok: true,
                detail: "readable".into(),
            },
            Err(e) => Verdict {
                item: format!("YClients records of {id}"),
                ok: false,
                detail: format!("{e}: {}", e.advice()),
            },
        });
    }
    let provider = Provider::new(&config.whatsapp, &tls, logger);
    let item = format!("WhatsApp ({})", config.whatsapp.provider.as_str());
    verdicts.push(match provider.probe().await {
        Ok(detail) => Verdict {
            item,
            ok: true,
            detail,
        },
        Err(detail) => Verdict {
            item,
            ok: false,
            detail,
        },
    });
    verdicts
}

async fn webhooks_verdict(yclients: &YClients, id: CompanyId, token: &str) -> Verdict {
    let item = format!("YClients webhooks of {id}");
    match crate::hooks::points_at_us(yclients, id, token).await {
        Ok(Ok(())) => Verdict {
            item,
            ok: true,
            detail: "booking events come to us".into(),
        },
        Ok(Err(detail)) => Verdict {
            item,
            ok: false,
            detail,
        },
        Err(e) => Verdict {
            item,
            ok: false,
            detail: format!("{e}: {}", webhook_advice(&e)),
        },
    }
}

fn webhook_advice(e: &YClientsError) -> &'static str {
    match e {
        YClientsError::Unauthorized { status: 403, .. } => {
            "give the YClients user the right to change the salon's settings (webhooks), or register the URL in YClients by hand"
        }
        other => other.advice(),
    }
}

/// `webhooks install`: registers `url` with every configured company.
pub async fn install_webhooks(config: &Config, url: &str) -> Vec<Verdict> {
    let tls = match TlsRoots::load(config.tls.ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(e) => {
            return vec![Verdict {
                item: "tls.ca_file".into(),
                ok: false,
                detail: e.to_string(),
            }]
        }
    };
    let limiter = Arc::new(RateLimiter::new(
        config.yclients.max_requests_per_second,
        config.yclients.max_requests_per_minute,
    ));
    let yclients = YClients::new(&config.yclients, &tls, limiter);
    let shown = crate::hooks::masked(url);
    let mut verdicts = Vec::new();
    for company in &config.companies {
        let id = company.company_id();
        let item = format!("YClients webhooks of {id}");
        verdicts.push(match crate::hooks::install(&yclients, id, url).await {
            Ok(crate::hooks::Installed::Added { kept }) => Verdict {
                item,
                ok: true,
                detail: format!(
                    "{shown} registered ({} kept)",
                    plural(kept, "other URL", "other URLs")
                ),
            },
            Ok(crate::hooks::Installed::AlreadyThere) => Verdict {
                item,
                ok: true,
                detail: format!("{shown} was registered already"),
            },
            Err(e) => Verdict {
                item,
                ok: false,
                detail: format!("{e}: {}", webhook_advice(&e)),
            },
        });
    }
    verdicts
}

pub fn render(verdicts: &[Verdict]) -> String {
    let mut out = String::new();
    for v in verdicts {
        out.push_str(&format!(
            "{:<5} {}: {}\n",
            if v.ok { "ok" } else { "FAIL" },
            v.item,
            v.detail
        ));
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    if failed == 0 {
        out.push_str("All checks passed.\n");
    } else {
        out.push_str(&format!(
            "{failed} of {} failed.\n",
            plural(verdicts.len(), "check", "checks")
        ));
    }
    out
}

/// The list, or "nothing (the config sets name, address and timezone)".
fn or_nothing(missing: &[String]) -> String {
    if missing.is_empty() {
        "nothing (the config sets name, address and timezone)".into()
    } else {
        missing.join(", ")
    }
}

/// `1 company`, `2 companies`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
