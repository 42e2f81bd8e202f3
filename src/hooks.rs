//! The salons' YClients webhook settings: `webhooks install` registers our URL
//! with each company (keeping its other URLs), and `check` says whether they
//! point at us. The URL carries `yclients.webhook_token`, so it is masked in
//! everything printed.

use serde_json::{json, Value};

use crate::domain::CompanyId;
use crate::yclients::{YClients, YClientsError};

const PATH: &str = "/webhooks/yclients/";

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
}
