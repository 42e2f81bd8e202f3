//! What a reloaded config changes (DESIGN: "Live configuration"): the settings
//! that only take effect at a start keep their running values (and the log says
//! each needs a restart); everything else applies whole. Pure: `Daemon::reload`
//! carries it out.

use crate::config::Config;
use crate::domain::CompanyId;

/// A new config, made ready to run beside what already runs.
pub struct Prepared {
    /// The new config, with the start-only settings kept as they run.
    pub config: Config,
    /// Start-only settings the new file changes: `(key, what to do)`.
    pub needs_restart: Vec<&'static str>,
    pub added: Vec<CompanyId>,
    pub removed: Vec<CompanyId>,
    /// Sections whose settings differ (as far as they can be told apart without
    /// showing a secret), for the log.
    pub changed: Vec<&'static str>,
}

/// Keeps in `new` what only a start can change, and says what differs.
pub fn prepare(running: &Config, mut new: Config) -> Prepared {
    let mut needs_restart = Vec::new();
    let mut keep = |key: &'static str, differs: bool| {
        if differs {
            needs_restart.push(key);
        }
        differs
    };
    if keep(
        "database",
        running.database.location != new.database.location
            || running.database.pool_size != new.database.pool_size
            || running.database.connect_timeout_ms != new.database.connect_timeout_ms,
    ) {
        new.database = running.database.clone();
    }
    let listen = |c: &Config| c.http.as_ref().and_then(|h| h.listen);
    if keep("http.listen", listen(running) != listen(&new)) {
        match (&mut new.http, &running.http) {
            (Some(http), _) => http.listen = listen(running),
            (None, Some(http)) => new.http = Some(http.clone()),
            (None, None) => {}
        }
    }
    if keep(
        "cluster",
        running.cluster.instance_id != new.cluster.instance_id
            || running.cluster.lease_ttl_ms != new.cluster.lease_ttl_ms,
    ) {
        new.cluster = running.cluster.clone();
    }
    if keep(
        "supervisor",
        running.supervisor.max_restarts != new.supervisor.max_restarts
            || running.supervisor.restart_window_ms != new.supervisor.restart_window_ms,
    ) {
        new.supervisor = running.supervisor.clone();
    }
    if keep(
        "log",
        format!("{:?}", running.log) != format!("{:?}", new.log),
    ) {
        new.log = running.log.clone();
    }
    if keep("tls.ca_file", running.tls.ca_file != new.tls.ca_file) {
        new.tls = running.tls.clone();
    }
    let limits = |c: &Config| {
        (
            c.yclients.max_requests_per_second,
            c.yclients.max_requests_per_minute,
        )
    };
    if keep(
        "yclients.max_requests_per_second, yclients.max_requests_per_minute",
        limits(running) != limits(&new),
    ) {
        new.yclients.max_requests_per_second = running.yclients.max_requests_per_second;
        new.yclients.max_requests_per_minute = running.yclients.max_requests_per_minute;
    }
    if keep(
        "whatsapp.max_concurrent_sends",
        running.whatsapp.max_concurrent_sends != new.whatsapp.max_concurrent_sends,
    ) {
        new.whatsapp.max_concurrent_sends = running.whatsapp.max_concurrent_sends;
    }
    if keep(
        "monitor.enabled",
        running.monitor.enabled != new.monitor.enabled,
    ) {
        new.monitor.enabled = running.monitor.enabled;
    }
    let ids =
        |c: &Config| -> Vec<CompanyId> { c.companies.iter().map(|c| c.company_id()).collect() };
    let added = ids(&new)
        .into_iter()
        .filter(|id| running.company(*id).is_none())
        .collect();
    let removed = ids(running)
        .into_iter()
        .filter(|id| new.company(*id).is_none())
        .collect();
    let changed = changed_sections(running, &new);
    Prepared {
        config: new,
        needs_restart,
        added,
        removed,
        changed,
    }
}

/// The sections that differ, by what `Debug` shows of them (secrets show as
/// redacted, so a changed token alone is applied but not named here).
fn changed_sections(a: &Config, b: &Config) -> Vec<&'static str> {
    let differs =
        |x: &dyn std::fmt::Debug, y: &dyn std::fmt::Debug| format!("{x:?}") != format!("{y:?}");
    let sections: [(&'static str, bool); 12] = [
        ("companies", differs(&a.companies, &b.companies)),
        ("yclients", differs(&a.yclients, &b.yclients)),
        ("monitor", differs(&a.monitor, &b.monitor)),
        ("notifications", differs(&a.notifications, &b.notifications)),
        ("whatsapp", differs(&a.whatsapp, &b.whatsapp)),
        ("messages", differs(&a.messages, &b.messages)),
        ("replies", differs(&a.replies, &b.replies)),
        ("staff", differs(&a.staff, &b.staff)),
        ("fallback", differs(&a.fallback, &b.fallback)),
        ("sms", differs(&a.sms, &b.sms)),
        ("retention", differs(&a.retention, &b.retention)),
        ("http", differs(&a.http, &b.http)),
    ];
    sections
        .into_iter()
        .filter_map(|(name, differs)| differs.then_some(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[database]\nurl = \"sqlite://a.db\"\n[yclients]\npartner_token = \"p\"\nuser_token = \"u\"\n\
             [whatsapp]\nprovider = \"log\"\n{extra}"
        );
        Config::parse(&text, &|_| None).unwrap()
    }

    #[test]
    fn start_only_settings_keep_their_running_values_and_the_rest_applies() {
        let running = config(
            "[[companies]]\nid = 1\n[[companies]]\nid = 2\n[http]\nlisten = \"127.0.0.1:9187\"\ntoken = \"t\"\n\
             [cluster]\ninstance_id = \"a\"\n",
        );
        let new = config(
            "[[companies]]\nid = 2\n[[companies]]\nid = 3\n[http]\nlisten = \"127.0.0.1:9999\"\ntoken = \"t\"\n\
             [cluster]\ninstance_id = \"b\"\n[monitor]\npoll_interval_ms = 5000\n\
             [messages]\nbooking_created = \"Новый текст\"\n",
        )
        .clone();
        let p = prepare(&running, new);
        assert_eq!(p.needs_restart, vec!["http.listen", "cluster"]);
        assert_eq!(
            p.config.http.as_ref().unwrap().listen,
            running.http.as_ref().unwrap().listen
        );
        assert_eq!(p.config.cluster.instance_id, "a");
        assert_eq!(p.config.monitor.poll_interval_ms, 5000, "the rest applies");
        assert_eq!(p.added, vec![CompanyId(3)]);
        assert_eq!(p.removed, vec![CompanyId(1)]);
        assert_eq!(p.changed, vec!["companies", "monitor", "messages"]);
    }
}
