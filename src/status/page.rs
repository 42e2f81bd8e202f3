//! The staff's page at `GET /`: the status report in plain Russian, no script.

use std::fmt::Write;

use chrono::{DateTime, Datelike, Timelike, Utc};

use super::{DecisionReport, Report};
use crate::domain::{Delivery, Reason, Status};

/// The staff's page: plain Russian, no script, refreshing itself.
pub fn render_html(report: &Report) -> String {
    let mut out = String::from(
        "<!doctype html>\n<html lang=\"ru\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"10\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Подтверждения записей</title><style>\
         body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:60rem}\
         h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}\
         li{margin:.3rem 0}.ok{color:#1a7f37}.bad{color:#c62828}.muted{color:#777}\
         </style></head><body>\n<h1>Подтверждения записей в WhatsApp</h1>\n<h2>Салоны</h2>\n<ul>\n",
    );
    for c in &report.companies {
        let (class, text) = match c.last_poll {
            "ok" => (
                "ok",
                match c.last_webhook_at {
                    Some(at) => format!(
                        "записи читаются каждые {} с, последняя проверка {}, последнее событие от YClients {}",
                        every(c.poll_interval_ms),
                        ago(c.last_poll_at),
                        ago(Some(at))
                    ),
                    None => format!(
                        "записи читаются каждые {} с, последняя проверка {}",
                        every(c.poll_interval_ms),
                        ago(c.last_poll_at)
                    ),
                },
            ),
            "failing" => (
                "bad",
                format!(
                    "YClients не отвечает как надо: {}",
                    escape(c.last_error.as_deref().unwrap_or(""))
                ),
            ),
            _ => ("bad", "ещё ни разу не удалось прочитать записи".to_string()),
        };
        let salon = match &c.name {
            Some(name) => escape(name),
            None => format!("Салон {}", c.company_id),
        };
        let _ = writeln!(
            out,
            "<li>{salon}: <span class=\"{class}\">{text}</span></li>"
        );
    }
    out.push_str("</ul>\n");
    optouts_section(&mut out, report);
    replies_section(&mut out, report);
    super::sms::render_html(&mut out, report, escape);
    out.push_str("<h2>Уведомления</h2>\n<ul>\n");
    if report.kinds.is_empty() {
        out.push_str("<li class=\"muted\">Пока ни одного.</li>\n");
    }
    for (kind, statuses) in &report.kinds {
        let counts: Vec<String> = statuses
            .iter()
            .map(|(status, n)| format!("{} {n}", russian_status_word(*status)))
            .collect();
        let _ = writeln!(out, "<li>{}: {}</li>", kind.label(), counts.join(", "));
    }
    out.push_str("</ul>\n<h2>Последние решения</h2>\n<ul>\n");
    if report.recent.is_empty() {
        out.push_str("<li class=\"muted\">Пока ни одной новой записи.</li>\n");
    }
    for d in &report.recent {
        let who = if d.client.is_empty() {
            "Клиент без имени"
        } else {
            d.client.as_str()
        };
        let visit = d.visit.as_deref().map(russian_visit).unwrap_or_default();
        let _ = writeln!(
            out,
            "<li>{} — {}{}: <span class=\"{}\">{}</span></li>",
            d.kind.label(),
            escape(who),
            if visit.is_empty() {
                String::new()
            } else {
                format!(", {visit}")
            },
            match (d.status, d.delivery.as_deref()) {
                (Status::Failed, _) | (_, Some("failed")) => "bad",
                (Status::Sent, _) => "ok",
                _ => "muted",
            },
            escape(&russian_status(d, report.zone_of(d.company_id)))
        );
    }
    out.push_str(
        "</ul>\n<p class=\"muted\">Страница обновляется каждые 10 секунд.</p>\n</body></html>\n",
    );
    out
}

/// «Просили не писать»: per salon, the clients who asked us to stop, when and how.
fn optouts_section(out: &mut String, report: &Report) {
    if report.companies.iter().all(|c| c.optouts.is_empty()) {
        return;
    }
    out.push_str("<h2>Просили не писать</h2>\n<ul>\n");
    for c in report.companies.iter().filter(|c| !c.optouts.is_empty()) {
        let salon = match &c.name {
            Some(name) => escape(name),
            None => format!("Салон {}", c.company_id),
        };
        let tz = report.zone_of(c.company_id);
        for o in &c.optouts {
            let how = match o.source.as_str() {
                "reply" => "написал(а) «стоп»",
                _ => "попросил(а) администратора",
            };
            let _ = writeln!(
                out,
                "<li>{salon}: {} — {how}, {}</li>",
                escape(&o.phone),
                o.since.with_timezone(&tz).format("%d.%m.%Y %H:%M %Z")
            );
        }
    }
    out.push_str("</ul>\n");
}

/// «Ответы клиентов»: per salon, of the clients asked to confirm, how many did;
/// then the latest replies and how each was read.
fn replies_section(out: &mut String, report: &Report) {
    let r = &report.replies;
    if r.latest.is_empty()
        && r.number_changes.is_empty()
        && r.salons.iter().all(|s| s.reminded == 0)
    {
        return;
    }
    out.push_str("<h2>Ответы клиентов</h2>\n<ul>\n");
    for n in &r.number_changes {
        let (old, new) = &n.numbers;
        let _ = writeln!(
            out,
            "<li>{} — клиент сменил номер WhatsApp: +{} → <b>+{}</b> \
             (поправьте телефон в записях YClients)</li>",
            n.at.with_timezone(&report.zone_of(n.company_id.unwrap_or(0)))
                .format("%d.%m %H:%M"),
            escape(old),
            escape(new)
        );
    }
    for s in r.salons.iter().filter(|s| s.reminded > 0) {
        let salon = report
            .companies
            .iter()
            .find(|c| c.company_id == s.company_id)
            .and_then(|c| c.name.clone())
            .unwrap_or_else(|| format!("Салон {}", s.company_id));
        let _ = writeln!(
            out,
            "<li>{}: напомнили {}, <span class=\"ok\">подтвердили ответом {}</span>, \
             просят отменить {}, написали другое {}, без ответа {}</li>",
            escape(&salon),
            s.reminded,
            s.confirmed_by_reply,
            s.asked_to_cancel,
            s.other_reply,
            s.no_answer
        );
    }
    for reply in &r.latest {
        let what = match reply.matched_by {
            crate::domain::MatchedBy::Ambiguous => "несколько записей: решает администратор",
            crate::domain::MatchedBy::Unmatched => "не ответ на уведомление",
            _ => reply.intent.label(),
        };
        let said = match &reply.text {
            Some(text) => format!("«{}»", escape(text)),
            None => "без текста".to_string(),
        };
        let _ = writeln!(
            out,
            "<li>{} — {} ({}): {said} — <span class=\"{}\">{what}</span></li>",
            reply.at.format("%d.%m %H:%M"),
            escape(reply.client.as_deref().unwrap_or("Клиент")),
            escape(&reply.phone),
            if reply.intent == crate::domain::Intent::Confirm {
                "ok"
            } else {
                "bad"
            },
        );
    }
    out.push_str("</ul>\n");
}

/// Seconds with a decimal comma: `60`, `2,5`.
fn every(ms: u64) -> String {
    (ms as f64 / 1000.0).to_string().replace('.', ",")
}

fn ago(t: Option<DateTime<Utc>>) -> String {
    match t {
        None => "никогда".into(),
        Some(t) => {
            let seconds = (Utc::now() - t).num_seconds().max(0);
            if seconds < 60 {
                format!("{seconds} с назад")
            } else {
                format!("{} мин назад", seconds / 60)
            }
        }
    }
}

/// `2026-11-25 14:00` → `25 ноября 14:00`.
fn russian_visit(visit: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(visit, "%Y-%m-%d %H:%M")
        .map(|v| {
            format!(
                "{} {} {:02}:{:02}",
                v.day(),
                crate::text::month_genitive(v.month()),
                v.hour(),
                v.minute()
            )
        })
        .unwrap_or_else(|_| visit.to_string())
}

fn russian_status_word(status: Status) -> &'static str {
    match status {
        Status::Sent => "отправлено",
        Status::Pending => "ждут отправки",
        Status::Sending => "отправляются",
        Status::Skipped => "пропущено",
        Status::Cancelled => "отменено",
        Status::Failed => "с ошибкой",
    }
}

fn russian_status(d: &DecisionReport, tz: chrono_tz::Tz) -> String {
    // A reason code has a Russian label; anything else is the provider's own words.
    let why = d
        .reason
        .as_deref()
        .map(|r| Reason::parse(r).map_or_else(|| r.to_string(), |r| r.label().to_string()))
        .unwrap_or_default();
    match d.status {
        Status::Sent => match d.delivery.as_deref().and_then(Delivery::parse) {
            Some(Delivery::Failed) => format!(
                "не доставлено: {}",
                d.delivery_error.as_deref().unwrap_or("")
            ),
            Some(delivery) => delivery.label().to_string(),
            None => "отправлено".into(),
        },
        Status::Pending => format!(
            "ждёт отправки, {}",
            d.due_at.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z")
        ),
        Status::Sending => "отправляется".into(),
        Status::Skipped => format!("пропущено: {why}"),
        Status::Cancelled => format!("не отправлено: {why}"),
        Status::Failed => format!("ошибка отправки: {why}"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
