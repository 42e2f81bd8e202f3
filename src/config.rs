//! The config contract (README's "Configuration"): parsed, overridden from the environment,
//! validated at start. Every error names the key it is about.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::CompanyId;

mod messages;
mod notifications;

pub use messages::{CloudTemplates, MessagesConfig};
pub use notifications::NotificationsConfig;

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
    #[error("bad config {}: {error}", path.display())]
    Invalid { path: PathBuf, error: ConfigError },
}

/// A token: never printed, not even by `Debug`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"[redacted]\""
        })
    }
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
    pub supervisor: SupervisorConfig,
    #[serde(default)]
    pub http: Option<HttpConfig>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub tls: TlsConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YClientsConfig {
    #[serde(default = "defaults::yclients_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub partner_token: Secret,
    #[serde(default)]
    pub user_token: Secret,
    #[serde(default = "defaults::request_timeout_ms")]
    pub request_timeout_ms: u64,
    #[serde(default)]
    pub partner_id: Option<i64>,
    /// Records asked for per page.
    #[serde(default = "defaults::page_size")]
    pub page_size: u32,
    /// YClients' documented limits; raise them only with YClients' consent.
    #[serde(default = "defaults::per_second")]
    pub max_requests_per_second: u32,
    #[serde(default = "defaults::per_minute")]
    pub max_requests_per_minute: u32,
    /// The secret part of our webhook URL (`/webhooks/yclients/{token}`); empty: the
    /// YClients webhook endpoint is off.
    #[serde(default)]
    pub webhook_token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyConfig {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
}

impl CompanyConfig {
    pub fn company_id(&self) -> CompanyId {
        CompanyId(self.id)
    }
    pub fn tz(&self) -> Option<Tz> {
        self.timezone.as_deref().and_then(|t| t.parse().ok())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorConfig {
    #[serde(default = "defaults::yes")]
    pub enabled: bool,
    #[serde(default = "defaults::poll_interval_ms")]
    pub poll_interval_ms: u64,
    #[serde(default = "defaults::notification_delay_ms")]
    pub notification_delay_ms: u64,
    #[serde(default = "defaults::yes")]
    pub skip_online: bool,
    #[serde(default)]
    pub bot_user_ids: Vec<i64>,
    /// How far each poll reaches back before the cursor, against clock skew and
    /// records YClients indexes late; the outbox's unique key makes it harmless.
    #[serde(default = "defaults::cursor_overlap_ms")]
    pub cursor_overlap_ms: u64,
    /// First wait after a failed send or poll; it doubles, with jitter, up to `retry_max_ms`.
    #[serde(default = "defaults::retry_initial_ms")]
    pub retry_initial_ms: u64,
    #[serde(default = "defaults::retry_max_ms")]
    pub retry_max_ms: u64,
    /// Sends tried before a notification is marked `failed`.
    #[serde(default = "defaults::max_attempts")]
    pub max_attempts: u32,
    /// The salons' zone where neither `[[companies]] timezone` nor YClients (when
    /// the user may not read the company) gives one.
    #[serde(default = "defaults::default_timezone")]
    pub default_timezone: String,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        toml::from_str("").expect("monitor defaults")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    CloudApi,
    GreenApi,
    Webhook,
    Log,
}

impl ProviderKind {
    /// As the config spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::CloudApi => "cloud_api",
            ProviderKind::GreenApi => "green_api",
            ProviderKind::Webhook => "webhook",
            ProviderKind::Log => "log",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    pub provider: ProviderKind,
    #[serde(default)]
    pub cloud_api: CloudApiConfig,
    #[serde(default)]
    pub green_api: GreenApiConfig,
    #[serde(default)]
    pub webhook: WebhookConfig,
    #[serde(default = "defaults::request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Sends in flight at once (each a different notification); unset: 4, or 1 for
    /// Green API, whose gateway paces a normal WhatsApp account itself.
    #[serde(default)]
    pub max_concurrent_sends: Option<u32>,
}

impl WhatsAppConfig {
    pub fn concurrent_sends(&self) -> usize {
        let default = match self.provider {
            ProviderKind::GreenApi => 1,
            _ => 4,
        };
        self.max_concurrent_sends.unwrap_or(default).max(1) as usize
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudApiConfig {
    #[serde(default = "defaults::cloud_api_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub phone_number_id: String,
    #[serde(default)]
    pub access_token: Secret,
    #[serde(default)]
    pub template: String,
    #[serde(default = "defaults::language")]
    pub language: String,
    /// The template's body parameters, in order, as placeholder names.
    #[serde(default = "defaults::template_parameters")]
    pub template_parameters: Vec<String>,
    /// An approved template per kind (`template` still serves `created`).
    #[serde(default)]
    pub templates: CloudTemplates,
    /// Checks the delivery-status webhook's `X-Hub-Signature-256`; empty: that
    /// endpoint is off.
    #[serde(default)]
    pub app_secret: Secret,
    /// Answers Meta's verification handshake of that webhook.
    #[serde(default)]
    pub verify_token: Secret,
}

impl Default for CloudApiConfig {
    fn default() -> Self {
        toml::from_str("").expect("cloud_api defaults")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreenApiConfig {
    #[serde(default = "defaults::green_api_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub id_instance: String,
    #[serde(default)]
    pub api_token: Secret,
}

impl Default for GreenApiConfig {
    fn default() -> Self {
        toml::from_str("").expect("green_api defaults")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorConfig {
    #[serde(default = "defaults::max_restarts")]
    pub max_restarts: u32,
    #[serde(default = "defaults::restart_window_ms")]
    pub restart_window_ms: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        toml::from_str("").expect("supervisor defaults")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub token: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "defaults::log_level")]
    pub level: String,
    #[serde(default = "defaults::log_format")]
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        toml::from_str("").expect("log defaults")
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of extra root certificates to trust besides the web's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Sqlite(PathBuf),
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
        Config::parse(&text, env).map_err(|error| LoadError::Invalid {
            path: path.to_path_buf(),
            error,
        })
    }

    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
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
            ConfigError::new(key, one_line(&e.inner().message()))
        })?;
        let from_env = config.apply_env(env)?;
        // A value the environment set is blamed on the variable, not on the file's key.
        config
            .validate()
            .map_err(|e| match from_env.iter().find(|(key, _)| *key == e.key) {
                Some((key, var)) => ConfigError::new(
                    *var,
                    format!("{} (the environment variable sets {key})", e.problem),
                ),
                None => e,
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
        let set = |name: &str, target: &mut Secret| {
            if let Some(v) = env(name).filter(|v| !v.is_empty()) {
                *target = Secret::new(v);
            }
        };
        set("YCLIENTS_PARTNER_TOKEN", &mut self.yclients.partner_token);
        set("YCLIENTS_USER_TOKEN", &mut self.yclients.user_token);
        set(
            "WHATSAPP_ACCESS_TOKEN",
            &mut self.whatsapp.cloud_api.access_token,
        );
        set("GREEN_API_TOKEN", &mut self.whatsapp.green_api.api_token);
        set("YCLIENTS_WEBHOOK_TOKEN", &mut self.yclients.webhook_token);
        set(
            "WHATSAPP_APP_SECRET",
            &mut self.whatsapp.cloud_api.app_secret,
        );
        set(
            "WHATSAPP_VERIFY_TOKEN",
            &mut self.whatsapp.cloud_api.verify_token,
        );
        if let Some(http) = self.http.as_mut() {
            set("BOOKING_MONITOR_HTTP_TOKEN", &mut http.token);
        }
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

    fn validate(&self) -> Result<(), ConfigError> {
        self.database_location()?;
        let y = &self.yclients;
        require_url("yclients.base_url", &y.base_url)?;
        if y.partner_token.is_empty() {
            return Err(missing("yclients.partner_token", "YCLIENTS_PARTNER_TOKEN"));
        }
        if y.user_token.is_empty() {
            return Err(missing("yclients.user_token", "YCLIENTS_USER_TOKEN"));
        }
        positive("yclients.request_timeout_ms", y.request_timeout_ms)?;
        positive("yclients.page_size", y.page_size.into())?;
        positive(
            "yclients.max_requests_per_second",
            y.max_requests_per_second.into(),
        )?;
        positive(
            "yclients.max_requests_per_minute",
            y.max_requests_per_minute.into(),
        )?;

        if self.companies.is_empty() {
            return Err(ConfigError::new(
                "companies",
                "add at least one [[companies]] with its id",
            ));
        }
        let mut seen = HashSet::new();
        for (i, company) in self.companies.iter().enumerate() {
            if company.id <= 0 {
                return Err(ConfigError::new(
                    format!("companies[{i}].id"),
                    "must be a positive YClients company id",
                ));
            }
            if !seen.insert(company.id) {
                return Err(ConfigError::new(
                    format!("companies[{i}].id"),
                    format!("company {} is listed twice", company.id),
                ));
            }
            if let Some(tz) = &company.timezone {
                tz.parse::<Tz>().map_err(|_| {
                    ConfigError::new(
                        format!("companies[{i}].timezone"),
                        format!("unknown time zone {tz:?} (use a name like \"Europe/Moscow\")"),
                    )
                })?;
            }
        }

        let m = &self.monitor;
        positive("monitor.poll_interval_ms", m.poll_interval_ms)?;
        positive("monitor.retry_initial_ms", m.retry_initial_ms)?;
        if m.retry_max_ms < m.retry_initial_ms {
            return Err(ConfigError::new(
                "monitor.retry_max_ms",
                "must not be less than monitor.retry_initial_ms",
            ));
        }
        positive("monitor.max_attempts", m.max_attempts.into())?;
        m.default_timezone.parse::<Tz>().map_err(|_| {
            ConfigError::new(
                "monitor.default_timezone",
                format!(
                    "unknown time zone {:?} (use a name like \"Europe/Moscow\")",
                    m.default_timezone
                ),
            )
        })?;

        let w = &self.whatsapp;
        positive("whatsapp.request_timeout_ms", w.request_timeout_ms)?;
        match w.provider {
            ProviderKind::CloudApi => {
                require_url("whatsapp.cloud_api.base_url", &w.cloud_api.base_url)?;
                if w.cloud_api.phone_number_id.trim().is_empty() {
                    return Err(ConfigError::new(
                        "whatsapp.cloud_api.phone_number_id",
                        "missing: the sender's phone number id from Meta's WhatsApp manager",
                    ));
                }
                if w.cloud_api.access_token.is_empty() {
                    return Err(missing(
                        "whatsapp.cloud_api.access_token",
                        "WHATSAPP_ACCESS_TOKEN",
                    ));
                }
                for (i, name) in w.cloud_api.template_parameters.iter().enumerate() {
                    if !crate::template::PLACEHOLDERS.contains(&name.as_str()) {
                        return Err(ConfigError::new(
                            format!("whatsapp.cloud_api.template_parameters[{i}]"),
                            format!(
                                "unknown placeholder {name:?}; known: {}",
                                crate::template::PLACEHOLDERS.join(", ")
                            ),
                        ));
                    }
                }
            }
            ProviderKind::GreenApi => {
                require_url("whatsapp.green_api.base_url", &w.green_api.base_url)?;
                if w.green_api.id_instance.trim().is_empty() {
                    return Err(ConfigError::new(
                        "whatsapp.green_api.id_instance",
                        "missing: the instance id from Green API's console",
                    ));
                }
                if w.green_api.api_token.is_empty() {
                    return Err(missing("whatsapp.green_api.api_token", "GREEN_API_TOKEN"));
                }
            }
            ProviderKind::Webhook => require_url("whatsapp.webhook.url", &w.webhook.url)?,
            ProviderKind::Log => {}
        }

        positive(
            "supervisor.restart_window_ms",
            self.supervisor.restart_window_ms,
        )?;

        if let Some(http) = &self.http {
            if http.listen.is_some() && http.token.is_empty() {
                return Err(missing("http.token", "BOOKING_MONITOR_HTTP_TOKEN"));
            }
            if let Some(listen) = &http.listen {
                listen.parse::<std::net::SocketAddr>().map_err(|_| {
                    ConfigError::new(
                        "http.listen",
                        format!("expected host:port like \"127.0.0.1:9187\", got {listen:?}"),
                    )
                })?;
            }
        }
        if !["trace", "debug", "info", "warn", "error"].contains(&self.log.level.as_str()) {
            return Err(ConfigError::new(
                "log.level",
                format!(
                    "expected trace, debug, info, warn or error, got {:?}",
                    self.log.level
                ),
            ));
        }
        if !["term", "json"].contains(&self.log.format.as_str()) {
            return Err(ConfigError::new(
                "log.format",
                format!("expected term or json, got {:?}", self.log.format),
            ));
        }
        Ok(())
    }

    /// `sqlite://relative/path.db` (from the working directory) or `sqlite:///absolute/path.db`.
    pub fn database_location(&self) -> Result<DatabaseLocation, ConfigError> {
        let url = self.database.url.trim();
        match url.split_once("://") {
            Some(("sqlite", path)) if !path.is_empty() => {
                Ok(DatabaseLocation::Sqlite(PathBuf::from(path)))
            }
            Some(("postgres" | "postgresql", _)) => Err(ConfigError::new(
                "database.url",
                "PostgreSQL is not supported by this build yet; use sqlite://path.db",
            )),
            _ => Err(ConfigError::new(
                "database.url",
                format!(
                    "expected sqlite://relative/path.db or sqlite:///absolute/path.db, got {url:?}"
                ),
            )),
        }
    }

    /// `monitor.default_timezone`, validated at load.
    pub fn default_tz(&self) -> Tz {
        self.monitor
            .default_timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::Moscow)
    }

    pub fn company(&self, id: CompanyId) -> Option<&CompanyConfig> {
        self.companies.iter().find(|c| c.company_id() == id)
    }
}

fn missing(key: &str, env: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!("missing: set it in the config file or in the environment variable {env}"),
    )
}

fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::new(key, "must be greater than 0"))
    } else {
        Ok(())
    }
}

fn require_url(key: &str, url: &str) -> Result<(), ConfigError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(ConfigError::new(
            key,
            format!("expected an http(s):// URL, got {url:?}"),
        ))
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

fn one_line(e: &impl fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

mod defaults {
    pub fn yes() -> bool {
        true
    }
    pub fn yclients_base_url() -> String {
        "https://api.yclients.com".into()
    }
    pub fn request_timeout_ms() -> u64 {
        10_000
    }
    pub fn page_size() -> u32 {
        200
    }
    pub fn per_second() -> u32 {
        5
    }
    pub fn per_minute() -> u32 {
        200
    }
    pub fn poll_interval_ms() -> u64 {
        60_000
    }
    pub fn notification_delay_ms() -> u64 {
        30_000
    }
    pub fn cursor_overlap_ms() -> u64 {
        300_000
    }
    pub fn retry_initial_ms() -> u64 {
        5_000
    }
    pub fn retry_max_ms() -> u64 {
        600_000
    }
    pub fn max_attempts() -> u32 {
        20
    }
    pub fn default_timezone() -> String {
        "Europe/Moscow".into()
    }
    pub fn cloud_api_base_url() -> String {
        "https://graph.facebook.com/v21.0".into()
    }
    pub fn green_api_base_url() -> String {
        "https://api.green-api.com".into()
    }
    pub fn language() -> String {
        "ru".into()
    }
    pub fn template_parameters() -> Vec<String> {
        [
            "client_name",
            "company",
            "date",
            "time",
            "services",
            "address",
        ]
        .map(String::from)
        .to_vec()
    }
    pub fn max_restarts() -> u32 {
        5
    }
    pub fn restart_window_ms() -> u64 {
        60_000
    }
    pub fn log_level() -> String {
        "info".into()
    }
    pub fn log_format() -> String {
        "term".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const MINIMAL: &str = r#"
[database]
url = "sqlite://test.db"
[yclients]
partner_token = "p"
user_token = "u"
[[companies]]
id = 1
[whatsapp]
provider = "log"
"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_minimal_config_takes_the_defaults() {
        let c = Config::parse(MINIMAL, &no_env).unwrap();
        assert_eq!(c.monitor.poll_interval_ms, 60_000);
        assert_eq!(c.monitor.notification_delay_ms, 30_000);
        assert!(c.monitor.skip_online);
        assert_eq!(c.supervisor.max_restarts, 5);
        assert_eq!(
            c.database_location().unwrap(),
            DatabaseLocation::Sqlite("test.db".into())
        );
    }

    #[test]
    fn absolute_sqlite_paths_keep_their_slash() {
        let text = MINIMAL.replace("sqlite://test.db", "sqlite:///var/lib/bm/db.sqlite");
        let c = Config::parse(&text, &no_env).unwrap();
        assert_eq!(
            c.database_location().unwrap(),
            DatabaseLocation::Sqlite("/var/lib/bm/db.sqlite".into())
        );
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let env = |k: &str| match k {
            "YCLIENTS_USER_TOKEN" => Some("from-env".to_string()),
            "BOOKING_MONITOR_ENABLED" => Some("false".to_string()),
            "BOOKING_MONITOR_INTERVAL" => Some("1500".to_string()),
            "BOOKING_NOTIFICATION_DELAY" => Some("10".to_string()),
            _ => None,
        };
        let c = Config::parse(MINIMAL, &env).unwrap();
        assert_eq!(c.yclients.user_token.expose(), "from-env");
        assert!(!c.monitor.enabled);
        assert_eq!(c.monitor.poll_interval_ms, 1500);
        assert_eq!(c.monitor.notification_delay_ms, 10);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (
                MINIMAL.replace("user_token = \"u\"", ""),
                "yclients.user_token",
            ),
            (
                MINIMAL.replace("[whatsapp]", "[monitor]\npoll_interval_ms = 0\n[whatsapp]"),
                "monitor.poll_interval_ms",
            ),
            (
                MINIMAL.replace(
                    "[whatsapp]",
                    "[monitor]\npoll_interval_ms = \"soon\"\n[whatsapp]",
                ),
                "monitor.poll_interval_ms",
            ),
            (
                MINIMAL.replace("[whatsapp]", "[monitor]\npoll_intervall_ms = 5\n[whatsapp]"),
                "monitor",
            ),
            (
                MINIMAL.replace("provider = \"log\"", "provider = \"telegram\""),
                "whatsapp.provider",
            ),
            (
                MINIMAL.replace("sqlite://test.db", "mysql://x"),
                "database.url",
            ),
            (
                MINIMAL.replace("id = 1", "id = 1\ntimezone = \"Mars/Olympus\""),
                "companies[0].timezone",
            ),
            (
                format!("{MINIMAL}\n[messages]\nbooking_created = \"{{nope}}\""),
                "messages.booking_created",
            ),
            ("[database".to_string(), "config file"),
            (
                format!("{MINIMAL}\n[http]\nlisten = \"127.0.0.1:9187\""),
                "http.token",
            ),
        ];
        for (text, key) in cases {
            let err = Config::parse(&text, &no_env).unwrap_err();
            assert!(err.key.starts_with(key), "expected {key}, got {err}");
        }
    }

    /// Every key of the contract, set.
    const FULL: &str = r#"
[database]
url = "sqlite://test.db"
[yclients]
base_url = "https://api.yclients.com"
partner_token = "p"
user_token = "u"
request_timeout_ms = 10000
partner_id = 7
page_size = 200
max_requests_per_second = 5
max_requests_per_minute = 200
[[companies]]
id = 1
name = "Салон"
address = "Москва"
timezone = "Europe/Moscow"
[monitor]
enabled = true
poll_interval_ms = 60000
notification_delay_ms = 30000
skip_online = true
bot_user_ids = [1]
cursor_overlap_ms = 300000
retry_initial_ms = 5000
retry_max_ms = 600000
max_attempts = 20
default_timezone = "Europe/Moscow"
[whatsapp]
provider = "log"
request_timeout_ms = 10000
[whatsapp.cloud_api]
base_url = "https://graph.facebook.com/v21.0"
phone_number_id = "1"
access_token = "a"
template = ""
language = "ru"
template_parameters = ["client_name"]
[whatsapp.green_api]
base_url = "https://api.green-api.com"
id_instance = "1"
api_token = "g"
[whatsapp.webhook]
url = "http://127.0.0.1:3000/send"
token = "w"
[messages]
booking_created = "{client_name}"
[supervisor]
max_restarts = 5
restart_window_ms = 60000
[http]
listen = "127.0.0.1:9187"
token = "h"
[log]
level = "info"
format = "term"
[tls]
ca_file = "/etc/ssl/extra.pem"
"#;

    #[test]
    fn each_key_wrong_in_turn_is_named() {
        Config::parse(FULL, &no_env).expect("the full config is valid");
        let mut table = String::new();
        let mut checked = 0;
        for (i, line) in FULL.lines().enumerate() {
            if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
                table = format!("{name}[0]");
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                table = name.to_string();
                continue;
            }
            let Some((key, _)) = line.split_once(" = ") else {
                continue;
            };
            // An inline table is the wrong type for every key of the contract.
            let mut lines: Vec<&str> = FULL.lines().collect();
            let wrong = format!("{key} = {{ wrong = 1 }}");
            lines[i] = &wrong;
            let err = Config::parse(&lines.join("\n"), &no_env).unwrap_err();
            assert_eq!(err.key, format!("{table}.{key}"), "{err}");
            checked += 1;
        }
        assert_eq!(checked, 44, "every key of the contract");
    }

    #[test]
    fn a_value_from_the_environment_is_blamed_on_the_variable() {
        let env = |k: &str| (k == "BOOKING_MONITOR_INTERVAL").then(|| "0".to_string());
        let err = Config::parse(MINIMAL, &env).unwrap_err();
        assert_eq!(err.key, "BOOKING_MONITOR_INTERVAL", "{err}");
        assert!(err.problem.contains("monitor.poll_interval_ms"), "{err}");
    }

    #[test]
    fn a_toml_error_keeps_its_line_and_marker() {
        let err =
            Config::parse("[database]\nurl = \"x\"\nthis is = not [toml\n", &no_env).unwrap_err();
        let lines: Vec<&str> = err.problem.lines().collect();
        assert!(lines[0].contains("at line 3, column 6"), "{err}");
        assert_eq!(lines[1], "  3 | this is = not [toml", "{err}");
        assert_eq!(lines[2], "    |      ^", "{err}");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = Config::parse(&MINIMAL.replace("\"u\"", "\"very-secret-token\""), &no_env).unwrap();
        assert!(!format!("{c:?}").contains("very-secret-token"));
    }
}
