//! Which WhatsApp sender carries which salon's messages: the global `[whatsapp]`
//! serves every salon without its own. Statuses and replies say which of our
//! senders they concern (Cloud API's `phone_number_id`, Green API's instance, or
//! the token in the URL they came to), and so which salon.

use super::{Config, ProviderKind, Secret, WhatsAppConfig};
use crate::domain::CompanyId;

/// A sender and the salons whose messages it carries.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    /// The salon whose own sender it is; `None`: the global one.
    pub owner: Option<CompanyId>,
    pub config: &'a WhatsAppConfig,
    pub companies: Vec<CompanyId>,
}

impl Sender<'_> {
    /// The one salon it serves, if only one: a message that answers no notice
    /// goes to that salon's staff.
    pub fn only_salon(&self) -> Option<CompanyId> {
        match self.companies.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// How `check` names it: `the global sender` or `salon 4565's own sender`.
    pub fn name(&self) -> String {
        match self.owner {
            None => "the global sender".into(),
            Some(c) => format!("salon {c}'s own sender"),
        }
    }
}

impl Config {
    /// Every sender: the global one first (when some salon uses it), then each
    /// salon's own.
    pub fn senders(&self) -> Vec<Sender<'_>> {
        let global: Vec<CompanyId> = self
            .companies
            .iter()
            .filter(|c| c.whatsapp.is_none())
            .map(|c| c.company_id())
            .collect();
        let mut senders = Vec::new();
        if !global.is_empty() {
            senders.push(Sender {
                owner: None,
                config: &self.whatsapp,
                companies: global,
            });
        }
        senders.extend(self.companies.iter().filter_map(|c| {
            c.whatsapp.as_ref().map(|w| Sender {
                owner: Some(c.company_id()),
                config: w,
                companies: vec![c.company_id()],
            })
        }));
        senders
    }

    /// The sender whose number or instance is `id` (of `provider`).
    pub fn sender_by_id(&self, provider: ProviderKind, id: &str) -> Option<Sender<'_>> {
        self.senders()
            .into_iter()
            .find(|s| s.config.provider == provider && s.config.sender_id() == Some(id.trim()))
    }

    /// The sender whose secret `of` is `token` (compared in constant time).
    pub fn sender_by_secret(
        &self,
        of: impl Fn(&WhatsAppConfig) -> &Secret,
        token: &str,
    ) -> Option<Sender<'_>> {
        self.senders()
            .into_iter()
            .find(|s| of(s.config).matches(token))
    }
}

/// The salons a client hears from through one sender (the same Cloud API number,
/// Green API instance, or the global sender), and how that sender is named: a
/// client's stop covers them all, since the client sees one sender.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderScope {
    pub salons: Vec<CompanyId>,
    pub name: String,
}

impl Config {
    /// Every salon whose messages come from the same number or instance as
    /// `sender`'s (salons with their own tables may share one).
    pub fn scope_of(&self, sender: &Sender) -> SenderScope {
        let number = |s: &Sender| {
            s.config
                .sender_id()
                .map(|id| (s.config.provider, id.to_string()))
        };
        let mut salons = match number(sender) {
            None => sender.companies.clone(),
            Some(key) => self
                .senders()
                .iter()
                .filter(|s| number(s).as_ref() == Some(&key))
                .flat_map(|s| s.companies.clone())
                .collect(),
        };
        salons.sort_unstable_by_key(|c| c.0);
        salons.dedup();
        SenderScope {
            salons,
            name: sender.name(),
        }
    }

    /// The scope of the sender that writes for `company`; `None` for a salon not
    /// in the config.
    pub fn scope_of_company(&self, company: CompanyId) -> Option<SenderScope> {
        let senders = self.senders();
        let sender = senders.iter().find(|s| s.companies.contains(&company))?;
        Some(self.scope_of(sender))
    }
}
