//! `booking-monitor check`: the config, then each company and the WhatsApp
//! provider probed with the real credentials, a verdict per item.

use slog::Logger;

use crate::config::{Config, ProviderKind};
use crate::domain::{CompanyId, Kind};
use crate::hooks::refuse_token;
use crate::salons::Salons;
pub use crate::verdict::{clients, failure, lines, plural, Level, Verdict};
use crate::whatsapp::Provider;
use crate::yclients::{YClients, YClientsError};

pub async fn run(config: &Config, logger: &Logger) -> Vec<Verdict> {
    let mut verdicts = vec![Verdict::ok(
        "config",
        format!(
            "{}, provider {}",
            plural(config.companies.len(), "company", "companies"),
            config.whatsapp.provider.as_str()
        ),
    )];
    verdicts.extend(config_warnings(config));
    let (tls, yclients) = match clients(config) {
        Ok(clients) => clients,
        Err(verdict) => {
            verdicts.push(verdict);
            return verdicts;
        }
    };
    for company in &config.companies {
        let id = company.company_id();
        verdicts.push(match yclients.company(id).await {
            Ok(info) => Verdict::ok(
                format!("YClients company {id}"),
                format!(
                    "«{}», {}, time zone {}",
                    info.title,
                    info.address,
                    info.timezone.as_deref().unwrap_or("not given")
                ),
            ),
            // The daemon polls such a company with what the config gives.
            Err(e @ YClientsError::Unauthorized { status: 403, .. }) => Verdict::ok(
                format!("YClients company {id}"),
                format!(
                    "not readable ({e}); polled anyway, missing: {}",
                    or_nothing(&Salons::missing_details(config, id))
                ),
            ),
            Err(e) => Verdict::fail(
                format!("YClients company {id}"),
                failure(config, &e, e.advice()),
            ),
        });
        let token = config.yclients.webhook_token.expose();
        if !token.is_empty() {
            verdicts.push(webhooks_verdict(config, &yclients, id, token).await);
        }
        verdicts.push(match yclients.probe_records(id).await {
            Ok(()) => Verdict::ok(format!("YClients records of {id}"), "readable"),
            Err(e) => Verdict::fail(
                format!("YClients records of {id}"),
                failure(config, &e, e.advice()),
            ),
        });
    }
    // Each sender, and which salons it serves.
    for sender in config.senders() {
        let provider = Provider::new(sender.config, &tls, logger);
        let salons: Vec<String> = sender.companies.iter().map(|c| c.0.to_string()).collect();
        let item = format!(
            "WhatsApp, {} ({}), for {} {}",
            sender.name(),
            sender.config.provider.as_str(),
            if salons.len() == 1 { "salon" } else { "salons" },
            salons.join(", ")
        );
        verdicts.push(match provider.probe().await {
            Ok(detail) => Verdict::ok(item, detail),
            Err(detail) => Verdict::fail(item, detail),
        });
    }
    verdicts
}

/// What a valid config still gets wrong in production.
fn config_warnings(config: &Config) -> Vec<Verdict> {
    let mut warnings = Vec::new();
    if config.whatsapp.provider == ProviderKind::CloudApi {
        // Meta delivers free text only within 24 h of the client's last message:
        // a notice we start needs an approved template.
        let untemplated: Vec<&str> = Kind::NOTICES
            .iter()
            .filter(|&&kind| config.notifications.announces(kind))
            .filter(|&&kind| config.whatsapp.cloud_api.template_for(kind).is_none())
            .map(|kind| kind.as_str())
            .collect();
        if !untemplated.is_empty() {
            warnings.push(Verdict::warn(
                "whatsapp.cloud_api.templates",
                format!(
                    "no approved template for {}: these notices go as free text, which Meta \
                     refuses outside 24 h of the client's last message, so they will fail; \
                     name a template for each (or turn the kind off under [notifications])",
                    untemplated.join(", ")
                ),
            ));
        }
    }
    let token = config.yclients.webhook_token.expose();
    if let Some(why) = Some(token)
        .filter(|t| !t.trim().is_empty())
        .and_then(refuse_token)
    {
        warnings.push(Verdict::warn(
            "yclients.webhook_token",
            format!("{why}: whoever guesses it can post booking events to us"),
        ));
    }
    warnings
}

async fn webhooks_verdict(
    config: &Config,
    yclients: &YClients,
    id: CompanyId,
    token: &str,
) -> Verdict {
    let item = format!("YClients webhooks of {id}");
    match crate::hooks::points_at_us(yclients, id, token).await {
        Ok(Ok(())) => Verdict::ok(item, "booking events come to us"),
        Ok(Err(detail)) => Verdict::fail(item, detail),
        Err(e) => Verdict::fail(item, failure(config, &e, crate::hooks::advice(&e, false))),
    }
}

/// `check`'s output: the verdicts, then how many failed and warned.
pub fn render(verdicts: &[Verdict]) -> String {
    let mut out = lines(verdicts);
    let failed = verdicts.iter().filter(|v| v.failed()).count();
    if failed == 0 {
        out.push_str("All checks passed.\n");
    } else {
        out.push_str(&format!(
            "{failed} of {} failed.\n",
            plural(verdicts.len(), "check", "checks")
        ));
    }
    let warned = verdicts.iter().filter(|v| v.level == Level::Warn).count();
    if warned > 0 {
        out.push_str(&format!(
            "{}: see WARN above.\n",
            plural(warned, "warning", "warnings")
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
