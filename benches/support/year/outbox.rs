//! What the daemon's notifier and webhook do with the simulated salon's rows: each
//! due row rechecked, rendered, claimed and settled as its kind is; the delivery
//! statuses of each message; the clients' answers decided as the webhook decides
//! them.

use booking_monitor::config::SenderScope;
use booking_monitor::domain::{CompanyId, Delivery, Kind, NotificationId, Phone};
use booking_monitor::lifecycle::{self, DueNotice, Recheck};
use booking_monitor::replies::decide::{decide, Answer, Facts};
use booking_monitor::replies::inbound::{Content, Inbound};
use booking_monitor::store::{self, Claim, Conn, Outbound, Settled};
use booking_monitor::text::MessageFields;
use booking_monitor::yclients::Record;
use chrono::{DateTime, Utc};

use super::{Edit, Result, YearSim, COMPANY, SENDER};

impl YearSim {
    /// Carries out every row due by `now`, as the notifier would.
    pub(super) fn send_due(&mut self, now: DateTime<Utc>) -> Result<()> {
        let due = self
            .store
            .run("the due rows", |c| store::open_due_before(c, now, None))?;
        for (id, _) in due {
            self.carry_out(id, now)?;
        }
        Ok(())
    }

    fn carry_out(&mut self, id: NotificationId, now: DateTime<Utc>) -> Result<()> {
        let company = CompanyId(COMPANY);
        let row = self.store.run("a row", |c| store::notification(c, id))?;
        let Some(row) = row else { return Ok(()) };
        let messages = self.config.messages_for(company);
        let (text, record_json, fresh) = match row.kind {
            Kind::ReplyAnswer => {
                let answer = row.notice_key.rsplit(':').next().and_then(Answer::parse);
                let template = match answer {
                    Some(Answer::Confirmed) => &messages.reply_confirmed,
                    Some(Answer::CancelRequest) => &messages.reply_cancel_request,
                    Some(Answer::OptedOut) => &messages.opted_out,
                    Some(Answer::OptedIn) => &messages.opted_in,
                    _ => &messages.reply_forwarded,
                };
                let fields = lifecycle::parse_record(&row.record_json)
                    .map(|r| MessageFields::new(&r, &self.salon))
                    .unwrap_or_else(MessageFields::empty);
                (template.render(&fields), row.record_json.clone(), None)
            }
            Kind::VisitConfirmation => (
                "attendance 2 (Подтвердил)".into(),
                row.record_json.clone(),
                None,
            ),
            Kind::StaffAlert | Kind::Sms => (
                row.message.clone().unwrap_or_default(),
                row.record_json.clone(),
                None,
            ),
            kind => {
                let fresh = self
                    .records
                    .get(&row.record_id)
                    .and_then(|(j, _)| Record::from_json(j.clone()).ok());
                let stored = self
                    .store
                    .run("a booking", |c| store::booking(c, company, row.record()))?;
                let due = DueNotice {
                    kind,
                    key: &row.notice_key,
                    fresh: fresh.as_ref(),
                    booking: stored.as_ref(),
                    registered_by_bot: false,
                    now,
                    tz: self.salon.timezone,
                };
                let out = match self.policy.recheck(&due) {
                    Recheck::Send(out) => out,
                    Recheck::Close(status, reason) => {
                        let final_ =
                            |c: &mut Conn| store::mark_final(c, id, status, reason.as_str(), now);
                        return self.store.run("a close", final_).map(drop);
                    }
                    Recheck::WaitUntil(at) => {
                        return self
                            .store
                            .run("a wait", |c| store::postpone(c, id, at, now));
                    }
                };
                let template = messages.template(kind).ok_or("a notice without a text")?;
                let fields = MessageFields::new(&out.record, &self.salon);
                let mut text = template.render(&fields);
                if self.config.replies.asks(kind) {
                    text = format!("{text}\n\n{}", messages.ask_to_confirm.render(&fields));
                }
                (
                    text,
                    out.record.raw.to_string(),
                    Some(out.phone.digits().to_string()),
                )
            }
        };
        let phone = fresh.or(row.phone.clone()).unwrap_or_default();
        let outbound = Outbound {
            phone: phone.clone(),
            message: text,
            record_json,
        };
        let heeds = row.kind.heeds_opt_out(&row.notice_key);
        let claim = self.store.run("a claim", |c| {
            store::claim_for_send(c, id, &outbound, ("bench", heeds), now)
        })?;
        if claim != Claim::Claimed {
            return Ok(());
        }
        self.next_message += 1;
        let message_id = format!(
            "wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI{:016X}",
            self.next_message
        );
        match row.kind {
            Kind::VisitConfirmation => {
                let answer = Answer::Confirmed.key(row.notice_key.parse().unwrap_or(0));
                let follow = store::NewNotification {
                    kind: Kind::ReplyAnswer,
                    key: answer,
                    status: store::Status::Pending,
                    phone: row.phone.clone(),
                    due_at: now,
                    reason: None,
                    record_json: row.record_json.clone(),
                    message: None,
                };
                let how = Settled::Sent {
                    provider_message_id: None,
                };
                let follow_ups = [(company, row.record(), follow)];
                self.store.run("a write-back", |c| {
                    store::settle_effect(c, id, &how, &follow_ups, now)
                })?;
                self.edits.push((now, row.record_id, Edit::Confirmed));
                return Ok(());
            }
            Kind::StaffAlert => {
                let how = Settled::Sent {
                    provider_message_id: Some(format!("tg:{}", self.next_message)),
                };
                return self
                    .store
                    .run("an alert", |c| store::settle_effect(c, id, &how, &[], now))
                    .map(drop);
            }
            _ => {}
        }
        let tells_state = Kind::NOTICES.contains(&row.kind) && !row.kind.is_reminder();
        self.store.run("a send", |c| {
            store::mark_sent(
                c,
                id,
                Some(&message_id),
                tells_state,
                now,
                &Vec::new(),
                &|_, _| Vec::new(),
            )
        })?;
        let read = self.rng.u32(0..100) < 80;
        let statuses = [(Delivery::Sent, 1), (Delivery::Delivered, 3)]
            .into_iter()
            .chain(read.then_some((Delivery::Read, 600)));
        for (status, after) in statuses {
            let at = now + chrono::Duration::seconds(after);
            self.store.run("a delivery status", |c| {
                store::record_delivery(c, &message_id, status, None, at, &|_, _| Vec::new())
            })?;
        }
        if self.config.replies.asks(row.kind) {
            let text = match self.rng.u32(0..100) {
                0..60 => Some("да"),
                60..65 => Some("не смогу"),
                65..70 => Some("А можно на час позже?"),
                _ => None,
            };
            if let Some(text) = text {
                let at = now + chrono::Duration::minutes(self.rng.i64(1..120));
                self.replies.push((at, phone, text));
            }
        }
        Ok(())
    }

    /// A client's message, taken as the webhook takes it.
    pub(super) fn reply(
        &mut self,
        phone: &str,
        text: &'static str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.next_message += 1;
        let inbound = Inbound {
            provider: "cloud_api",
            id: format!("wamid.IN{:020}", self.next_message),
            from: Phone::parse(phone).map_err(|e| e.to_string())?,
            name: Some("Анна".into()),
            sender: Some(SENDER.into()),
            content: Content::Text(text.into()),
            quoted: None,
            at,
        };
        let mut lookup = inbound.lookup(at, self.config.replies.window_hours);
        lookup.scope = vec![CompanyId(COMPANY)];
        let scope = SenderScope {
            salons: vec![CompanyId(COMPANY)],
            name: SENDER.into(),
        };
        let salon = |_| self.salon.clone();
        let facts = Facts {
            inbound: &inbound,
            now: at,
            acknowledge: true,
            sender_salon: Some(CompanyId(COMPANY)),
            salon: &salon,
            sender: &scope,
        };
        let replies = [(inbound.to_reply(), lookup)];
        self.store
            .run("a reply", |c| {
                store::take_replies(c, &replies, at, |_, ctx, id| decide(&facts, ctx, id))
            })
            .map(drop)
    }
}
