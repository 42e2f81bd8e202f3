//! The settings every instance on one database must share: which salons, and what
//! their clients are told and when. An instance whose list differs serves its
//! salons by different rules (or leaves some unserved); each instance records
//! these in `instances`, and `status`, `/readyz` and the log name the first
//! difference.

use super::Config;

/// Each setting that must agree, as `(key, value)` text, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement(Vec<(String, String)>);

impl Config {
    pub fn agreement(&self) -> Agreement {
        let mut companies: Vec<i64> = self.companies.iter().map(|c| c.id).collect();
        companies.sort_unstable();
        let mut bots = self.monitor.bot_user_ids.clone();
        bots.sort_unstable();
        let n = &self.notifications;
        let off = || "off".to_string();
        let settings = [
            ("companies", join(&companies)),
            ("monitor.skip_online", self.monitor.skip_online.to_string()),
            ("monitor.bot_user_ids", join(&bots)),
            (
                "monitor.notification_delay_ms",
                self.monitor.notification_delay_ms.to_string(),
            ),
            ("notifications.changed", n.changed.to_string()),
            ("notifications.cancelled", n.cancelled.to_string()),
            (
                "notifications.reminder_day_before",
                n.reminder_day_before.map_or_else(off, |t| t.to_string()),
            ),
            (
                "notifications.reminder_hours_before",
                n.reminder_hours_before
                    .map_or_else(off, |h| format!("{}s", h.num_seconds())),
            ),
            (
                "notifications.reminder_min_gap_hours",
                format!("{}s", n.reminder_min_gap_hours.num_seconds()),
            ),
            (
                "notifications.quiet_hours",
                n.quiet_hours.map_or_else(off, |q| q.to_string()),
            ),
            ("notifications.baseline_days", n.baseline_days.to_string()),
        ];
        Agreement(
            settings
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }
}

fn join(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

impl Agreement {
    /// As stored in `instances.settings`: one `key = value` line each.
    pub fn to_text(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()
    }

    pub fn from_text(text: &str) -> Agreement {
        Agreement(
            text.lines()
                .filter_map(|line| line.split_once(" = "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// A short digest, equal exactly when the settings are.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.to_text().as_bytes());
        digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The first setting that differs, in words: `None` when they agree.
    /// `here` and `there` name the two sides.
    pub fn first_difference(&self, other: &Agreement, here: &str, there: &str) -> Option<String> {
        let value =
            |a: &Agreement, key: &str| a.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let mut keys: Vec<&str> = self.0.iter().map(|(k, _)| k.as_str()).collect();
        let extra: Vec<&str> = other
            .0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !keys.contains(k))
            .collect();
        keys.extend(extra);
        keys.into_iter().find_map(|key| {
            let (a, b) = (value(self, key), value(other, key));
            (a != b).then(|| describe(key, a.as_deref(), b.as_deref(), here, there))
        })
    }
}

impl Agreement {
    /// The instances among `others` whose settings differ from `me`'s, each with
    /// the first difference: `None` while all agree.
    pub fn disagreement(&self, me: &str, others: &[(String, Agreement)]) -> Option<String> {
        let each: Vec<String> = others
            .iter()
            .filter_map(|(name, theirs)| {
                let what = self.first_difference(theirs, me, name)?;
                Some(format!("{name} differs from {me}: {what}"))
            })
            .collect();
        (!each.is_empty()).then(|| each.join("; "))
    }
}

fn describe(key: &str, a: Option<&str>, b: Option<&str>, here: &str, there: &str) -> String {
    let shown =
        |v: Option<&str>| v.map_or("(not set: an older version)".to_string(), str::to_string);
    if key != "companies" {
        return format!("{key}: {here} has {}, {there} has {}", shown(a), shown(b));
    }
    let ids = |v: Option<&str>| -> Vec<String> {
        v.unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (ours, theirs) = (ids(a), ids(b));
    let only = |x: &[String], y: &[String]| -> String {
        let list: Vec<&str> = x
            .iter()
            .filter(|i| !y.contains(i))
            .map(String::as_str)
            .collect();
        match list.len() {
            0 => "none".to_string(),
            n if n > 10 => format!("{} and {} more", list[..10].join(", "), n - 10),
            _ => list.join(", "),
        }
    };
    format!(
        "companies: only on {here}: {}; only on {there}: {}",
        only(&ours, &theirs),
        only(&theirs, &ours)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(companies: &str, extra: &str) -> Config {
        let text = format!(
            "[database]\nurl = \"sqlite://x.db\"\n[yclients]\npartner_token = \"p\"\nuser_token = \"u\"\n\
             {companies}\n[whatsapp]\nprovider = \"log\"\n{extra}"
        );
        Config::parse(&text, &|_| None).unwrap()
    }

    #[test]
    fn the_same_settings_agree_whatever_the_order_of_companies() {
        let a = config("[[companies]]\nid = 1\n[[companies]]\nid = 2", "");
        let b = config("[[companies]]\nid = 2\n[[companies]]\nid = 1", "");
        assert_eq!(a.agreement().fingerprint(), b.agreement().fingerprint());
        assert_eq!(
            a.agreement().first_difference(&b.agreement(), "a", "b"),
            None
        );
        let read = Agreement::from_text(&a.agreement().to_text());
        assert_eq!(read, a.agreement());
    }

    #[test]
    fn the_first_difference_names_the_companies_on_one_side_only() {
        let a = config("[[companies]]\nid = 1\n[[companies]]\nid = 2", "");
        let b = config(
            "[[companies]]\nid = 1\n[[companies]]\nid = 3",
            "[notifications]\nreminder_day_before = \"18:00\"",
        );
        assert_ne!(a.agreement().fingerprint(), b.agreement().fingerprint());
        assert_eq!(
            a.agreement()
                .first_difference(&b.agreement(), "bm-1", "bm-2")
                .unwrap(),
            "companies: only on bm-1: 2; only on bm-2: 3"
        );
        let c = config(
            "[[companies]]\nid = 1\n[[companies]]\nid = 2",
            "[notifications]\nreminder_day_before = \"18:00\"",
        );
        assert_eq!(
            a.agreement()
                .first_difference(&c.agreement(), "bm-1", "bm-2")
                .unwrap(),
            "notifications.reminder_day_before: bm-1 has off, bm-2 has 18:00:00"
        );
    }
}
