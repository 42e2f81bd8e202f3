//! The config contract (README's "Configuration"): parsed, overridden from the environment,
//! validated at start. Every error names the key it is about. Each section lives in
//! its own file, parses its values into types and checks itself; what spans sections
//! (loading, the environment, the list of companies) is here.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::domain::CompanyId;

mod agreement;
mod checks;
mod cluster;
mod company;
mod database;
mod fallback;
mod http;
mod log;
mod messages;
mod monitor;
mod notifications;
mod replies;
mod retention;
mod secret;
mod senders;
mod sms;
mod staff;
mod supervisor;
mod tls;
mod whatsapp;
mod yclients;

pub use agreement::Agreement;
pub use checks::{missing, ConfigErrors};
use checks::{positive, require_url, time_zone};
pub use cluster::ClusterConfig;
pub use company::CompanyConfig;
pub use database::{redact_password, DatabaseConfig};
pub use fallback::{FallbackConfig, SmsProviderKind, SmsRuConfig, SmsWebhookConfig, SmscConfig};
pub use http::HttpConfig;
pub use log::{LogConfig, LogFormat};
pub use messages::{CloudTemplate, CloudTemplates, MessagesConfig};
pub use monitor::MonitorConfig;
pub use notifications::NotificationsConfig;
pub use replies::RepliesConfig;
pub use retention::RetentionConfig;
use secret::secret_from_env;
pub use secret::{constant_time_eq, Secret};
pub use senders::{Sender, SenderScope};
pub use sms::SmsConfig;
pub use staff::StaffConfig;
pub use supervisor::SupervisorConfig;
pub use tls::TlsConfig;
pub use whatsapp::{
    CloudApiConfig, GreenApiConfig, ProviderKind, ResolvedTemplate, WebhookConfig, WhatsAppConfig,
    Where,
};
pub use yclients::{YClientsConfig, YCLIENTS_ACCEPT};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Why the config file could not be used: the message the binary prints.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no config file at {}: copy config.toml from the repository or pass --config PATH", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read the config file {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad config {}: {errors}", path.display())]
    Invalid { path: PathBuf, errors: ConfigErrors },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub database: DatabaseConfig,
    pub yclients: YClientsConfig,
    #[serde(default)]
    pub companies: Vec<CompanyConfig>,
    #[serde(default)]
    pub monitor: MonitorConfig,
    pub whatsapp: WhatsAppConfig,
    #[serde(default)]
    pub notifications: NotificationsConfig,
    #[serde(default)]
    pub messages: MessagesConfig,
    #[serde(default)]
    pub replies: RepliesConfig,
    #[serde(default)]
    pub supervisor: SupervisorConfig,
    #[serde(default)]
    pub cluster: ClusterConfig,
    #[serde(default)]
    pub http: Option<HttpConfig>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub staff: StaffConfig,
    #[serde(default)]
    pub fallback: FallbackConfig,
    #[serde(default)]
    pub sms: SmsConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// SHA-256 of the config file's text (hex): `sha256sum config.toml` shows
    /// the same, so an operator can tell which file a daemon runs.
    #[serde(skip)]
    pub fingerprint: String,
}

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
    /// The whole URL, password included: never printed.
    Postgres(Secret),
}

impl Config {
    /// Reads, overrides from `env`, validates.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                LoadError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                LoadError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let mut config = Config::parse_all(&text, env).map_err(|errors| LoadError::Invalid {
            path: path.to_path_buf(),
            errors,
        })?;
        config.resolve_paths(path.parent().unwrap_or(Path::new("")));
        Ok(config)
    }

    /// Relative paths are relative to the config file's folder, as Prometheus reads
    /// its config: the same file means the same database from any working
    /// directory. Made absolute, so that every message names the one place.
    fn resolve_paths(&mut self, folder: &Path) {
        let resolve = |path: &mut PathBuf| {
            let joined = folder.join(&*path);
            *path = std::path::absolute(&joined).unwrap_or(joined);
        };
        if let DatabaseLocation::Sqlite(path) = &mut self.database.location {
            resolve(path);
        }
        if let Some(ca_file) = &mut self.tls.ca_file {
            resolve(ca_file);
        }
    }

    /// As [`Config::parse_all`], with only the first problem.
    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::parse_all(text, env).map_err(ConfigErrors::first)
    }

    /// Parses, overrides from `env`, validates. A file that does not parse stops at
    /// its first error; every value that parses is then checked, and every problem
    /// found is returned.
    pub fn parse_all(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let de = toml::Deserializer::parse(text).map_err(|e| {
            ConfigError::new(
                "config file",
                format!("not valid TOML: {}", toml_error(text, &e)),
            )
        })?;
        let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." {
                "config file".to_string()
            } else {
                key
            };
            // The key already says where; toml's own text would add a snippet.
            ConfigError::new(key, in_words(&one_line(&e.inner().message())))
        })?;
        config.fingerprint = ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let from_env = config.apply_env(env)?;
        config.resolve_company_texts(text)?;
        // A value the environment set is blamed on the variable, not on the file's key.
        config.validate().map_err(|errors| {
            errors.map(|e| match from_env.iter().find(|(key, _)| *key == e.key) {
                Some((key, var)) => ConfigError::new(
                    *var,
                    format!("{} (the environment variable sets {key})", e.problem),
                ),
                None => e,
            })
        })?;
        Ok(config)
    }

    /// Applies the environment's overrides; returns (config key, variable) of each
    /// value the environment set.
    fn apply_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<(&'static str, &'static str)>, ConfigError> {
        let mut from_env = Vec::new();
        let set = |name: &str, target: &mut Secret| -> Result<(), ConfigError> {
            if let Some(secret) = secret_from_env(env, name)? {
                *target = secret;
            }
            Ok(())
        };
        set("YCLIENTS_PARTNER_TOKEN", &mut self.yclients.partner_token)?;
        set("YCLIENTS_USER_TOKEN", &mut self.yclients.user_token)?;
        self.whatsapp.secrets_from_env(env, &Where::global())?;
        set("YCLIENTS_WEBHOOK_TOKEN", &mut self.yclients.webhook_token)?;
        for company in &mut self.companies {
            company.secrets_from_env(env)?;
        }
        if let Some(http) = self.http.as_mut() {
            set("BOOKING_MONITOR_HTTP_TOKEN", &mut http.token)?;
        }
        set("TELEGRAM_BOT_TOKEN", &mut self.staff.telegram_bot_token)?;
        set("SMS_RU_API_ID", &mut self.fallback.sms_ru.api_id)?;
        set("SMSC_PASSWORD", &mut self.fallback.smsc.password)?;
        // The Node.js predecessor's variables, kept so its deployments move over unchanged.
        if let Some(v) = env("BOOKING_MONITOR_ENABLED") {
            self.monitor.enabled = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(ConfigError::new(
                        "BOOKING_MONITOR_ENABLED",
                        format!("expected true or false, got {v:?}"),
                    ))
                }
            };
        }
        let millis = |name: &str| -> Result<Option<u64>, ConfigError> {
            env(name)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        ConfigError::new(name, format!("expected milliseconds, got {v:?}"))
                    })
                })
                .transpose()
        };
        if let Some(ms) = millis("BOOKING_MONITOR_INTERVAL")? {
            self.monitor.poll_interval_ms = ms;
            from_env.push(("monitor.poll_interval_ms", "BOOKING_MONITOR_INTERVAL"));
        }
        if let Some(ms) = millis("BOOKING_NOTIFICATION_DELAY")? {
            self.monitor.notification_delay_ms = ms;
            from_env.push((
                "monitor.notification_delay_ms",
                "BOOKING_NOTIFICATION_DELAY",
            ));
        }
        Ok(from_env)
    }

    /// Every section checks itself; every problem found is reported.
    fn validate(&self) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        problems.check(self.database.validate());
        problems.check(self.yclients.validate());
        problems.check(self.cluster.validate());
        problems.check(self.validate_companies());
        problems.check(self.monitor.validate());
        problems.check(self.whatsapp.validate());
        problems.check(self.replies.validate());
        problems.check(self.retention.validate());
        problems.check(self.supervisor.validate());
        if let Some(http) = &self.http {
            problems.check(http.validate());
        }
        problems.check(self.staff.validate());
        problems.check(self.fallback.validate());
        problems.check(
            self.sms
                .check_length("sms", &self.fallback, &self.companies),
        );
        problems.into_result()
    }

    /// At least one, each once.
    fn validate_companies(&self) -> Result<(), ConfigErrors> {
        if self.companies.is_empty() {
            return Err(ConfigError::new(
                "companies",
                "add at least one [[companies]] with its id",
            )
            .into());
        }
        let mut problems = ConfigErrors::default();
        let mut seen = HashSet::new();
        for (i, company) in self.companies.iter().enumerate() {
            problems.check(company.validate(i));
            if !seen.insert(company.id) {
                problems.push(ConfigError::new(
                    format!("companies[{i}].id"),
                    format!("company {} is listed twice", company.id),
                ));
            }
        }
        problems.into_result()
    }

    /// Each salon's own texts, key by key over the global `[messages]` and `[sms]`
    /// as written.
    fn resolve_company_texts(&mut self, text: &str) -> Result<(), ConfigErrors> {
        let raw: toml::Table = toml::from_str(text).unwrap_or_default();
        let table = |name: &str| raw.get(name).and_then(toml::Value::as_table);
        let mut problems = ConfigErrors::default();
        for (i, company) in self.companies.iter_mut().enumerate() {
            problems.check(company.resolve_texts(i, table("messages"), table("sms")));
        }
        problems.into_result()
    }

    /// The WhatsApp sender a salon's messages go out through: its own, or the global.
    pub fn whatsapp_for(&self, company: CompanyId) -> &WhatsAppConfig {
        self.company(company)
            .and_then(|c| c.whatsapp.as_ref())
            .unwrap_or(&self.whatsapp)
    }

    /// A salon's texts: its own, or the global `[messages]`.
    pub fn messages_for(&self, company: CompanyId) -> &MessagesConfig {
        self.company(company)
            .and_then(|c| c.messages.as_ref())
            .unwrap_or(&self.messages)
    }

    /// A salon's SMS texts: its own, or the global `[sms]`.
    pub fn sms_for(&self, company: CompanyId) -> &SmsConfig {
        self.company(company)
            .and_then(|c| c.sms.as_ref())
            .unwrap_or(&self.sms)
    }

    /// `database.url`, parsed at load.
    pub fn database_location(&self) -> &DatabaseLocation {
        &self.database.location
    }

    pub fn company(&self, id: CompanyId) -> Option<&CompanyConfig> {
        self.companies.iter().find(|c| c.company_id() == id)
    }
}

/// toml's own text is several lines (a snippet with a `^` marker); this keeps the
/// facts (line, column, the line itself, the marker under it) in a shape that
/// survives being printed after a prefix.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = one_line(&e.message());
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let line_no = text[..start].matches('\n').count() + 1;
    let column = text[line_start..start].chars().count() + 1;
    let line = text[line_start..line_end].trim_end_matches('\r');
    let gutter = line_no.to_string().len();
    format!(
        "{message}, at line {line_no}, column {column}:\n  {line_no} | {line}\n  {:gutter$} | {:>column$}",
        "", "^"
    )
}

/// serde's refusal of a value's type in a person's words: `invalid value: integer
/// `-1000`, expected a whole number …` → `expected a whole number …, got -1000`;
/// a table and a list are called so (serde says map and sequence).
pub(crate) fn in_words(message: &str) -> String {
    let Some((got, expected)) = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split_once(", expected "))
    else {
        return message.to_string();
    };
    let got = match got {
        "map" => "a table".to_string(),
        "sequence" => "a list".to_string(),
        other => {
            // `integer `-1000``, `string "abc"`, `boolean `true``: the value alone.
            let value = [
                "integer ",
                "floating point ",
                "string ",
                "boolean ",
                "character ",
            ]
            .iter()
            .find_map(|p| other.strip_prefix(p))
            .unwrap_or(other);
            value.trim_matches('`').to_string()
        }
    };
    let expected = match expected {
        "a sequence" => "a list",
        "a boolean" => "true or false",
        "a map" => "a table",
        other => other,
    };
    format!("expected {expected}, got {got}")
}

fn one_line(e: &impl fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests;
