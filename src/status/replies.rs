//! Clients' replies as `status`, `/status` and the staff's page show them: the
//! latest, how each was read, and per salon how many clients asked to confirm did.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::domain::{mask_phone, CompanyId, Intent, MatchedBy};
use crate::store::{self, Conn, StoreError};

/// How far back the per-salon counts look.
const COUNTED_DAYS: i64 = 30;
const LATEST: i64 = 20;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RepliesReport {
    /// Replies by what they were read as: `confirm`, `cancel`, `other`,
    /// `ambiguous`, `unmatched`.
    pub counts: BTreeMap<String, i64>,
    /// The latest, newest first.
    pub latest: Vec<ReplyReport>,
    /// Per salon, over the last 30 days.
    pub salons: Vec<SalonReplies>,
    /// Clients whose WhatsApp number changed (not replies), newest first.
    pub number_changes: Vec<NumberChangeReport>,
}

/// A client now writes from another number: the booking's phone may need
/// correcting in YClients.
#[derive(Debug, Clone, Serialize)]
pub struct NumberChangeReport {
    pub at: DateTime<Utc>,
    pub company_id: Option<i64>,
    /// Masked (`7916***4567`).
    pub old_phone: String,
    pub new_phone: String,
    /// The whole numbers, for the staff's page only.
    #[serde(skip)]
    pub numbers: (String, String),
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplyReport {
    pub at: DateTime<Utc>,
    pub company_id: Option<i64>,
    pub record_id: Option<i64>,
    pub client: Option<String>,
    /// Masked (`7916***4567`).
    pub phone: String,
    pub intent: Intent,
    pub matched_by: MatchedBy,
    /// What the client wrote (none for a voice message or a picture).
    pub text: Option<String>,
    pub message_type: String,
}

/// Of the bookings whose clients were asked to confirm (`replies.ask_in`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SalonReplies {
    pub company_id: i64,
    pub reminded: usize,
    pub confirmed_by_reply: usize,
    pub asked_to_cancel: usize,
    /// Answered with something a person had to read.
    pub other_reply: usize,
    pub no_answer: usize,
}

/// `status`'s lines: counts, per salon, the latest (masked phones, no texts), each
/// at its time in its salon's zone, named as every time of `status` is.
pub fn render_text(
    out: &mut String,
    report: &RepliesReport,
    when: impl Fn(DateTime<Utc>, Option<i64>) -> String,
) {
    use std::fmt::Write;
    for n in &report.number_changes {
        let _ = writeln!(
            out,
            "Number changed: {} → {} ({})",
            n.old_phone,
            n.new_phone,
            n.at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    if report.counts.is_empty() && report.salons.iter().all(|s| s.reminded == 0) {
        return;
    }
    let counts: Vec<String> = report
        .counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(out, "Replies: {}", counts.join(" "));
    for s in &report.salons {
        let _ = writeln!(
            out,
            "  {:<10} asked {} confirmed {} cancel {} other {} no answer {}",
            s.company_id,
            s.reminded,
            s.confirmed_by_reply,
            s.asked_to_cancel,
            s.other_reply,
            s.no_answer
        );
    }
    for r in report.latest.iter().take(5) {
        let _ = writeln!(
            out,
            "  {}  {:<12} {:<9} {:<10} {}",
            when(r.at, r.company_id),
            r.phone,
            crate::domain::reading(r.intent, r.matched_by),
            r.matched_by,
            r.company_id
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
}

/// `purged`: what retention purged, as `store::purged_counts` gives it (the
/// replies' readings under `reply`).
pub fn read(
    conn: &mut Conn,
    config: &Config,
    company: Option<CompanyId>,
    purged: &[(String, String, i64)],
) -> Result<RepliesReport, StoreError> {
    let mut counts = BTreeMap::new();
    for (_, reading, n) in purged.iter().filter(|(what, _, _)| what == "reply") {
        *counts.entry(reading.clone()).or_default() += n;
    }
    for (intent, matched_by, n) in store::count_replies(conn)? {
        *counts
            .entry(crate::domain::reading(intent, matched_by).to_string())
            .or_default() += n;
    }
    let latest = store::recent_replies(conn, company, LATEST)?
        .into_iter()
        .map(|r| ReplyReport {
            at: r.created_at.and_utc(),
            company_id: r.company_id,
            record_id: r.record_id,
            client: r.client_name,
            phone: mask_phone(&r.phone),
            intent: r.intent,
            matched_by: r.matched_by,
            text: r.body,
            message_type: r.message_type,
        })
        .collect();
    let since = Utc::now() - chrono::Duration::days(COUNTED_DAYS);
    let seen = store::asked_and_answered(conn, &config.replies.ask_in, since)?;
    let number_changes = store::number_changes(conn, company, LATEST)?
        .into_iter()
        .map(|n| NumberChangeReport {
            at: n.changed_at.and_utc(),
            company_id: n.company_id,
            old_phone: mask_phone(&n.old_phone),
            new_phone: mask_phone(&n.new_phone),
            numbers: (n.old_phone, n.new_phone),
        })
        .collect();
    Ok(RepliesReport {
        counts,
        latest,
        salons: per_salon(config, company, &seen.asked, &seen.answered),
        number_changes,
    })
}

/// Each booking counts once, by the most telling of its replies: a confirmation,
/// else a cancel request, else anything else.
fn per_salon(
    config: &Config,
    only: Option<CompanyId>,
    asked: &[(i64, i64)],
    answered: &[(i64, i64, Intent)],
) -> Vec<SalonReplies> {
    let mut best: HashMap<(i64, i64), Intent> = HashMap::new();
    let rank = |i: Intent| match i {
        Intent::Confirm => 3,
        Intent::Cancel => 2,
        Intent::Other => 1,
        // Tied to no booking: a stop or a resume concerns the phone.
        Intent::Stop | Intent::Resume => 0,
    };
    for (company, record, intent) in answered {
        let entry = best.entry((*company, *record)).or_insert(*intent);
        if rank(*intent) > rank(*entry) {
            *entry = *intent;
        }
    }
    config
        .companies
        .iter()
        .filter(|c| only.is_none_or(|o| o.0 == c.id))
        .map(|c| {
            let mut salon = SalonReplies {
                company_id: c.id,
                ..SalonReplies::default()
            };
            for booking in asked.iter().filter(|(company, _)| *company == c.id) {
                salon.reminded += 1;
                match best.get(booking) {
                    Some(Intent::Confirm) => salon.confirmed_by_reply += 1,
                    Some(Intent::Cancel) => salon.asked_to_cancel += 1,
                    Some(Intent::Other | Intent::Stop | Intent::Resume) => salon.other_reply += 1,
                    None => salon.no_answer += 1,
                }
            }
            salon
        })
        .collect()
}
