//! The salons' YClients webhook settings: `webhooks install` registers our URL
//! with each company (keeping its other URLs), and `check` says whether they
//! point at us. The URL carries `yclients.webhook_token`, so it is masked in
//! everything printed.

use std::net::IpAddr;

use serde_json::{json, Value};

use crate::config::Config;
use crate::domain::CompanyId;
use crate::verdict::{self as check, plural, Verdict};
use crate::yclients::{YClients, YClientsError};

const PATH: &str = "/webhooks/yclients/";

/// The shortest `yclients.webhook_token` `webhooks install` registers: the token
/// is all that keeps strangers from feeding us booking events.
pub const MIN_TOKEN_CHARS: usize = 24;

/// Why `base` cannot be where YClients reaches us: YClients posts client names and
/// phones there, so only `https://` will do, or `http://` to this machine itself
/// (a test, or a proxy on the same host).
pub fn refuse_base(base: &str) -> Option<String> {
    let (secure, rest) = match base.split_once("://") {
        Some(("https", rest)) => (true, rest),
        Some(("http", rest)) => (false, rest),
        _ => {
            return Some(format!(
                "{base:?} is not an https:// URL (e.g. https://bm.example.com)"
            ))
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() || base.chars().any(char::is_whitespace) {
        return Some(format!("{base:?} names no host"));
    }
    let loopback = host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    (!secure && !loopback).then(|| {
        format!("{base:?}: YClients must reach us over https:// (http:// only for this machine)")
    })
}

/// Why `token` is too weak to register, if it is.
pub fn refuse_token(token: &str) -> Option<String> {
    let chars = token.trim().chars().count();
    (chars < MIN_TOKEN_CHARS).then(|| {
        format!(
            "too short ({chars} characters): use a random string of at least \
             {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 16`)"
        )
    })
}

/// What to do about a failed request to the webhook settings; `installing`: for
/// `webhooks install`, which does not retry by itself.
pub fn advice(e: &YClientsError, installing: bool) -> &'static str {
    match (e, installing) {
        (YClientsError::Unauthorized { status: 403, .. }, _) => {
            "give the YClients user the right to change the salon's settings (webhooks), or register the URL in YClients by hand"
        }
        (YClientsError::Unauthorized { .. } | YClientsError::NotFound, _) | (_, false) => e.advice(),
        (YClientsError::Transport(_) | YClientsError::Timeout(_), true) => {
            "check the network and yclients.base_url, then run `webhooks install` again"
        }
        (YClientsError::RateLimited { .. }, true) => {
            "YClients' rate limit: run `webhooks install` again in a minute"
        }
        (_, true) => "YClients failed: run `webhooks install` again later",
    }
}

/// `webhooks install`: registers `url` with every configured company, a verdict each.
pub async fn install_all(config: &Config, url: &str) -> Vec<Verdict> {
    let yclients = match check::clients(config) {
        Ok((_, yclients)) => yclients,
        Err(verdict) => return vec![verdict],
    };
    let shown = masked(url);
    let mut verdicts = Vec::new();
    for company in &config.companies {
        let id = company.company_id();
        let item = format!("YClients webhooks of {id}");
        verdicts.push(match install(&yclients, id, url).await {
            Ok(Installed::Added { kept }) => Verdict::ok(
                item,
                format!(
                    "{shown} registered ({} kept)",
                    plural(kept, "other URL", "other URLs")
                ),
            ),
            Ok(Installed::AlreadyThere) => {
                Verdict::ok(item, format!("{shown} was registered already"))
            }
            Err(e) => Verdict::fail(item, check::failure(config, &e, advice(&e, true))),
        });
    }
    verdicts
}

/// `webhooks install`'s output: the verdicts, then with how many companies the
/// URL is registered.
pub fn render_install(verdicts: &[Verdict], companies: usize) -> String {
    let mut out = check::lines(verdicts);
    let registered = verdicts
        .iter()
        .filter(|v| !v.failed() && v.item.starts_with("YClients webhooks of"))
        .count();
    if registered == companies {
        out.push_str(&format!("Registered with every company ({companies}).\n"));
    } else {
        out.push_str(&format!(
            "Registered with {registered} of {}: see FAIL above.\n",
            plural(companies, "company", "companies")
        ));
    }
    out
}

/// Our webhook URL: `base` (the daemon as YClients reaches it), then the path and
/// the token; a `base` that already ends with them is taken as it is.
pub fn our_url(base: &str, token: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with(&format!("{PATH}{token}")) {
        base.to_string()
    } else {
        format!("{base}{PATH}{token}")
    }
}

/// The URL with its token hidden, for output.
pub fn masked(url: &str) -> String {
    match url.find(PATH) {
        Some(at) => format!("{}{PATH}***", &url[..at]),
        None => url.to_string(),
    }
}

fn urls(settings: &Value) -> Vec<String> {
    settings
        .get("urls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn on(settings: &Value, key: &str) -> bool {
    match settings.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => s == "1" || s == "true",
        _ => false,
    }
}

/// What `install` did for a company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Installed {
    Added { kept: usize },
    AlreadyThere,
}

/// Registers `url` for the company's booking events, keeping its other URLs and
/// settings; an older URL of ours (another token) is replaced.
pub async fn install(
    yclients: &YClients,
    company: CompanyId,
    url: &str,
) -> Result<Installed, YClientsError> {
    let mut settings = yclients.hooks_settings(company).await?;
    if !settings.is_object() {
        settings = json!({});
    }
    let current = urls(&settings);
    if current.iter().any(|u| u == url) && on(&settings, "active") && on(&settings, "record") {
        return Ok(Installed::AlreadyThere);
    }
    let mut kept: Vec<String> = current
        .into_iter()
        .filter(|u| u != url && !u.contains(PATH))
        .collect();
    let others = kept.len();
    kept.push(url.to_string());
    settings["urls"] = json!(kept);
    settings["active"] = json!(1);
    settings["record"] = json!(1);
    yclients.set_hooks_settings(company, &settings).await?;
    Ok(Installed::Added { kept: others })
}

/// Whether the company's webhooks are on for bookings and reach us.
pub async fn points_at_us(
    yclients: &YClients,
    company: CompanyId,
    token: &str,
) -> Result<Result<(), String>, YClientsError> {
    let settings = yclients.hooks_settings(company).await?;
    let ours = urls(&settings)
        .iter()
        .any(|u| u.ends_with(&format!("{PATH}{token}")));
    Ok(
        match (ours, on(&settings, "active"), on(&settings, "record")) {
            (false, _, _) => {
                Err("no URL of ours: run `booking-monitor webhooks install --url URL`".into())
            }
            (true, false, _) => Err("our URL is there but webhooks are off (active = 0)".into()),
            (true, true, false) => {
                Err("our URL is there but booking events are off (record = 0)".into())
            }
            (true, true, true) => Ok(()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_the_token_and_prints_without_it() {
        let url = our_url("https://bm.example.com/", "s3cret");
        assert_eq!(url, "https://bm.example.com/webhooks/yclients/s3cret");
        assert_eq!(our_url(&url, "s3cret"), url);
        assert_eq!(masked(&url), "https://bm.example.com/webhooks/yclients/***");
    }

    #[test]
    fn only_https_or_this_machine_is_a_place_to_register() {
        for good in [
            "https://bm.example.com",
            "https://bm.example.com:8443/prefix",
            "http://127.0.0.1:9187",
            "http://localhost:9187/",
            "http://[::1]:9187",
        ] {
            assert_eq!(refuse_base(good), None, "{good}");
        }
        for (bad, says) in [
            ("example.test", "not an https:// URL"),
            ("ftp://example.test", "not an https:// URL"),
            ("http://bm.example.com", "over https://"),
            ("http://10.0.0.5:9187", "over https://"),
            ("https://", "names no host"),
            ("https://bm example.com", "names no host"),
        ] {
            let why = refuse_base(bad).unwrap_or_else(|| panic!("{bad} was accepted"));
            assert!(why.contains(says), "{bad}: {why}");
        }
    }

    #[test]
    fn a_short_token_is_refused() {
        assert!(refuse_token("s3cr3")
            .unwrap()
            .starts_with("too short (5 characters)"));
        assert_eq!(refuse_token(&"x".repeat(MIN_TOKEN_CHARS)), None);
    }
}
