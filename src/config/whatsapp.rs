//! `[whatsapp]`: which provider sends, and each provider's own table.

use serde::Deserialize;

use crate::domain::Kind;

use super::checks::{positive_millis, some_positive_count};
use super::{missing, positive, require_url, CloudTemplates, ConfigError, ConfigErrors, Secret};

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
    #[serde(default = "request_timeout_ms", deserialize_with = "positive_millis")]
    pub request_timeout_ms: u64,
    /// Sends in flight at once (each a different notification); unset: 4, or 1 for
    /// Green API, whose gateway paces a normal WhatsApp account itself.
    #[serde(default, deserialize_with = "some_positive_count")]
    pub max_concurrent_sends: Option<u32>,
}

fn request_timeout_ms() -> u64 {
    10_000
}

impl WhatsAppConfig {
    pub fn concurrent_sends(&self) -> usize {
        let default = match self.provider {
            ProviderKind::GreenApi => 1,
            _ => 4,
        };
        self.max_concurrent_sends.unwrap_or(default).max(1) as usize
    }

    /// Only the chosen provider's table must be complete.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        self.validate_as(&Where::global())
    }

    /// As `validate`, for the table at `at` (`whatsapp`, or a salon's own).
    pub fn validate_as(&self, at: &Where) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        problems.check(positive(
            &at.key("request_timeout_ms"),
            self.request_timeout_ms,
        ));
        match self.provider {
            ProviderKind::CloudApi => problems.check(self.cloud_api.validate(at)),
            ProviderKind::GreenApi => problems.check(self.green_api.validate(at)),
            ProviderKind::Webhook => {
                problems.check(require_url(&at.key("webhook.url"), &self.webhook.url))
            }
            ProviderKind::Log => {}
        }
        problems.into_result()
    }

    /// The secrets from the environment: `NAME` for the global sender, `NAME_<id>`
    /// for a salon's own (see `Where::env`).
    pub fn secrets_from_env(
        &mut self,
        env: &dyn Fn(&str) -> Option<String>,
        at: &Where,
    ) -> Result<(), ConfigError> {
        let set = |name: &str, target: &mut Secret| -> Result<(), ConfigError> {
            if let Some(secret) = super::secret_from_env(env, &at.env(name))? {
                *target = secret;
            }
            Ok(())
        };
        set("WHATSAPP_ACCESS_TOKEN", &mut self.cloud_api.access_token)?;
        set("WHATSAPP_APP_SECRET", &mut self.cloud_api.app_secret)?;
        set("WHATSAPP_VERIFY_TOKEN", &mut self.cloud_api.verify_token)?;
        set("GREEN_API_TOKEN", &mut self.green_api.api_token)?;
        set("GREEN_API_WEBHOOK_TOKEN", &mut self.green_api.webhook_token)?;
        set("WHATSAPP_GATEWAY_TOKEN", &mut self.webhook.inbound_token)
    }

    /// Whether this sender's delivery statuses reach us (Cloud API with its app
    /// secret, Green API with its webhook token): only then can "not delivered in
    /// time" be told from "no news".
    pub fn statuses_come_in(&self) -> bool {
        match self.provider {
            ProviderKind::CloudApi => !self.cloud_api.app_secret.is_empty(),
            ProviderKind::GreenApi => !self.green_api.webhook_token.is_empty(),
            ProviderKind::Webhook | ProviderKind::Log => false,
        }
    }

    /// The sender this table names: what statuses and replies carry to say which
    /// of our numbers they concern (Cloud API's phone number id, Green API's
    /// instance); `None` for a gateway or the log.
    pub fn sender_id(&self) -> Option<&str> {
        match self.provider {
            ProviderKind::CloudApi => Some(self.cloud_api.phone_number_id.trim()),
            ProviderKind::GreenApi => Some(self.green_api.id_instance.trim()),
            ProviderKind::Webhook | ProviderKind::Log => None,
        }
    }
}

/// Where a `[whatsapp]` table sits: the global one, or a salon's own, for the keys
/// in errors and the environment variables of its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Where {
    prefix: String,
    env_suffix: String,
}

impl Where {
    pub fn global() -> Where {
        Where {
            prefix: "whatsapp".into(),
            env_suffix: String::new(),
        }
    }

    /// `[[companies]]` number `index` (id `id`): `companies[index].whatsapp`, and
    /// its secrets in `NAME_<id>`.
    pub fn company(index: usize, id: i64) -> Where {
        Where {
            prefix: format!("companies[{index}].whatsapp"),
            env_suffix: format!("_{id}"),
        }
    }

    pub fn key(&self, rest: &str) -> String {
        format!("{}.{rest}", self.prefix)
    }

    pub fn env(&self, name: &str) -> String {
        format!("{name}{}", self.env_suffix)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudApiConfig {
    #[serde(default = "cloud_api_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub phone_number_id: String,
    #[serde(default)]
    pub access_token: Secret,
    #[serde(default)]
    pub template: String,
    #[serde(default = "language")]
    pub language: String,
    /// The template's body parameters, in order, as placeholder names.
    #[serde(default = "template_parameters")]
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

fn cloud_api_base_url() -> String {
    "https://graph.facebook.com/v21.0".into()
}
fn language() -> String {
    "ru".into()
}
fn template_parameters() -> Vec<String> {
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

impl CloudApiConfig {
    /// The approved template a notice of `kind` is sent with; `None`: free text,
    /// which Meta delivers only within 24 h of the client's last message.
    /// `template`, the older key, still names the confirmation's.
    pub fn template_for(&self, kind: Kind) -> Option<ResolvedTemplate<'_>> {
        if let Some(t) = self.templates.for_kind(kind) {
            return Some(ResolvedTemplate {
                name: t.name.trim(),
                language: t.language.as_deref().unwrap_or(&self.language),
                parameters: t.parameters.as_deref().unwrap_or(&self.template_parameters),
            });
        }
        match kind {
            Kind::Created if !self.template.trim().is_empty() => Some(ResolvedTemplate {
                name: self.template.trim(),
                language: &self.language,
                parameters: &self.template_parameters,
            }),
            _ => None,
        }
    }

    pub fn validate(&self, at: &Where) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        problems.check(require_url(&at.key("cloud_api.base_url"), &self.base_url));
        if self.phone_number_id.trim().is_empty() {
            problems.push(ConfigError::new(
                at.key("cloud_api.phone_number_id"),
                "missing: the sender's phone number id from Meta's WhatsApp manager",
            ));
        }
        if self.access_token.is_empty() {
            problems.push(missing(
                &at.key("cloud_api.access_token"),
                &at.env("WHATSAPP_ACCESS_TOKEN"),
            ));
        }
        problems.check(known_placeholders(
            &at.key("cloud_api.template_parameters"),
            &self.template_parameters,
        ));
        for (kind, template) in self.templates.each() {
            if let Some(parameters) = &template.parameters {
                let key = at.key(&format!("cloud_api.templates.{kind}.parameters"));
                problems.check(known_placeholders(&key, parameters));
            }
        }
        problems.into_result()
    }
}

fn known_placeholders(key: &str, names: &[String]) -> Result<(), ConfigError> {
    for (i, name) in names.iter().enumerate() {
        if !crate::template::PLACEHOLDERS.contains(&name.as_str()) {
            return Err(ConfigError::new(
                format!("{key}[{i}]"),
                format!(
                    "unknown placeholder {name:?}; known: {}",
                    crate::template::PLACEHOLDERS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A template with what it takes, the config's defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedTemplate<'a> {
    pub name: &'a str,
    pub language: &'a str,
    /// Placeholder names of its body parameters, in order.
    pub parameters: &'a [String],
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GreenApiConfig {
    #[serde(default = "green_api_base_url")]
    pub base_url: String,
    #[serde(default)]
    pub id_instance: String,
    #[serde(default)]
    pub api_token: Secret,
    /// The path token of `POST /webhooks/green-api/{token}` (incoming messages and
    /// delivery statuses); empty: that endpoint is off.
    #[serde(default)]
    pub webhook_token: Secret,
}

impl Default for GreenApiConfig {
    fn default() -> Self {
        toml::from_str("").expect("green_api defaults")
    }
}

fn green_api_base_url() -> String {
    "https://api.green-api.com".into()
}

impl GreenApiConfig {
    pub fn validate(&self, at: &Where) -> Result<(), ConfigErrors> {
        let mut problems = ConfigErrors::default();
        problems.check(require_url(&at.key("green_api.base_url"), &self.base_url));
        if self.id_instance.trim().is_empty() {
            problems.push(ConfigError::new(
                at.key("green_api.id_instance"),
                "missing: the instance id from Green API's console",
            ));
        }
        if self.api_token.is_empty() {
            problems.push(missing(
                &at.key("green_api.api_token"),
                &at.env("GREEN_API_TOKEN"),
            ));
        }
        problems.into_result()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub token: Secret,
    /// The path token of `POST /webhooks/gateway/{token}` (the gateway's incoming
    /// messages); empty: that endpoint is off.
    #[serde(default)]
    pub inbound_token: Secret,
}
