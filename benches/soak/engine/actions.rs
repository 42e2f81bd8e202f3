//! Carrying out one step of the schedule: a booking made, moved or deleted (with
//! the faults its client's messages will meet), a client's reply delivered as
//! Meta delivers it (retried until an instance answers 200, sometimes twice), a
//! kill, a stop, a database restart, a provider's passing trouble.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{self, meta_message, post_to_daemon, ClientMessage, Fault};
use serde_json::json;

use super::instances::{APP_SECRET, NUMBER_ID};
use super::ledger::{self, How, Ledger, Signal};
use super::schedule::{Action, Delivery, Plan, Reply, SendFault, SmsFault, Step, Trouble};
use super::{Soak, Timing, Watch};

/// How long a fault holds a request that a kill is to strike: under the timeout,
/// so the instance is still waiting for it.
const HOLD_FOR_KILL: Duration = Duration::from_millis(1_500);
/// How long Meta keeps trying to deliver a client's message.
const META_PATIENCE: Duration = Duration::from_secs(180);

/// The fault target of requests to this number.
fn to(phone: &str) -> String {
    format!("to={phone}")
}

fn cloud_error(status: u16, code: i64, message: &str) -> Fault {
    Fault::Status {
        status,
        body: json!({"error": {"message": message, "type": "OAuthException", "code": code,
            "fbtrace_id": "soak"}})
        .to_string(),
        retry_after: None,
    }
}

fn late(timing: &Timing) -> Fault {
    Fault::Stall(timing.request_timeout() + Duration::from_secs(1))
}

fn yclients_trouble(trouble: Trouble, timing: &Timing) -> Fault {
    let refusal = |status: u16, message: &str, retry_after| Fault::Status {
        status,
        body: json!({"success": false, "data": null, "meta": {"message": message}}).to_string(),
        retry_after,
    };
    match trouble {
        Trouble::ServerError => refusal(503, "Service Unavailable", None),
        Trouble::RateLimited => refusal(429, "Too Many Requests", Some(1)),
        Trouble::Timeout => late(timing),
    }
}

fn whatsapp_trouble(trouble: Trouble, timing: &Timing) -> Fault {
    match trouble {
        Trouble::ServerError => cloud_error(500, 131000, "Something went wrong"),
        Trouble::RateLimited => cloud_error(429, 130429, "Rate limit hit"),
        Trouble::Timeout => late(timing),
    }
}

fn sms_trouble(trouble: Trouble, timing: &Timing) -> Fault {
    match trouble {
        Trouble::ServerError => Fault::Status {
            status: 502,
            body: "Bad Gateway".into(),
            retry_after: None,
        },
        // SMS.ru's own outage: 200 with an error the sender may retry.
        Trouble::RateLimited => Fault::Status {
            status: 200,
            body: json!({"status": "ERROR", "status_code": 220,
                "status_text": "Сервис временно недоступен, попробуйте чуть позже"})
            .to_string(),
            retry_after: None,
        },
        Trouble::Timeout => late(timing),
    }
}

impl Soak {
    pub(super) fn act(&mut self, step: &Step) {
        let timing = self.settings.timing;
        match &step.action {
            Action::Create(plan) => self.create(plan),
            Action::Move { n, visit } => {
                let b = self.ledger.borrow().bookings[*n].clone();
                self.sim.move_to(b.plan.company, b.record, *visit);
                let mut l = self.ledger.borrow_mut();
                l.bookings[*n].moves.push((Instant::now(), *visit));
                l.bookings[*n].visit = *visit;
            }
            Action::Delete { n } => {
                let b = self.ledger.borrow().bookings[*n].clone();
                self.sim.delete(b.plan.company, b.record);
                self.ledger.borrow_mut().bookings[*n].deleted = Some(Instant::now());
            }
            Action::Reply(reply) => self.reply(reply),
            Action::Kill {
                slot,
                down,
                fresh_identity,
            } => {
                let slot = slot % self.instances.slots.len();
                let fresh = *fresh_identity && self.instances.setup.postgres;
                self.kill(slot, "at random".into(), *down, fresh);
            }
            Action::Term { slot, down } => {
                let slot = slot % self.instances.slots.len();
                if self.instances.term(slot) {
                    self.ledger.borrow_mut().signals.push(Signal {
                        slot,
                        process: self.instances.slots[slot].process,
                        at: Instant::now(),
                        how: How::Term,
                        why: "SIGTERM".into(),
                    });
                    self.back_after_stop.push((slot, *down));
                    self.doors_changed();
                } else {
                    self.ledger
                        .borrow_mut()
                        .skip("SIGTERM: instance not running");
                }
            }
            Action::PgRestart => self.restart_postgres(),
            Action::YClients { trouble, times } => {
                self.sim.change(|w| {
                    for _ in 0..*times {
                        w.yclients_faults
                            .push_back(yclients_trouble(*trouble, &timing));
                    }
                });
                for _ in 0..*times {
                    self.ledger
                        .borrow_mut()
                        .fault(format!("YClients {trouble:?}"));
                }
            }
            Action::WhatsApp(trouble) => {
                self.sim.change(|w| {
                    w.whatsapp_faults
                        .push_back(whatsapp_trouble(*trouble, &timing))
                });
                self.ledger
                    .borrow_mut()
                    .fault(format!("WhatsApp {trouble:?}"));
            }
            Action::Sms(trouble) => {
                self.sim
                    .change(|w| w.sms_faults.push_back(sms_trouble(*trouble, &timing)));
                self.ledger.borrow_mut().fault(format!("SMS {trouble:?}"));
            }
        }
    }

    /// kill -9 of `slot`, back after `down`.
    pub(super) fn kill(&mut self, slot: usize, why: String, down: Duration, fresh: bool) {
        if self.instances.kill(slot) {
            self.ledger.borrow_mut().signals.push(Signal {
                slot,
                process: self.instances.slots[slot].process,
                at: Instant::now(),
                how: How::Kill,
                why,
            });
            self.returns.push((Instant::now() + down, slot, fresh));
            self.doors_changed();
        } else {
            self.ledger
                .borrow_mut()
                .skip("kill -9: instance not running");
        }
    }

    fn create(&mut self, plan: &Plan) {
        let phone = ledger::phone(plan.n);
        let timing = self.settings.timing;
        let mut faults = Vec::new();
        self.sim.change(|w| {
            let aimed = match plan.first_send {
                Some(SendFault::Undeliverable) => {
                    faults.push("WhatsApp 131026 (a client's first send)".to_string());
                    Some(cloud_error(400, 131026, "Message undeliverable"))
                }
                Some(SendFault::Trouble(t)) => {
                    faults.push(format!("WhatsApp {t:?} (a client's first send)"));
                    Some(whatsapp_trouble(t, &timing))
                }
                Some(SendFault::KillMidSend) => Some(Fault::Stall(HOLD_FOR_KILL)),
                None => None,
            };
            w.whatsapp_faults_for.extend(aimed.map(|f| (to(&phone), f)));
            match plan.delivery {
                Delivery::Failed => {
                    faults.push("WhatsApp status `failed` (a client's number)".into());
                    w.failed_phones.insert(phone.clone());
                }
                Delivery::Silent => {
                    faults.push("WhatsApp never delivers (a client's number)".into());
                    w.undelivered_phones.insert(phone.clone());
                }
                Delivery::Delivered => {}
            }
            match plan.sms {
                Some(SmsFault::Refused) => {
                    faults.push("SMS refused (a client's number)".into());
                    w.sms_refused_phones.insert(phone.clone());
                }
                Some(SmsFault::Trouble(t)) => {
                    faults.push(format!("SMS {t:?} (a client's first SMS)"));
                    w.sms_faults_for.push((to(&phone), sms_trouble(t, &timing)));
                }
                None => {}
            }
        });
        if plan.first_send == Some(SendFault::KillMidSend) {
            faults.push("kill -9 mid-send (planned: strikes once the send is held)".into());
            self.watches.push(Watch {
                target: to(&phone),
                why: format!("mid-send to booking {}", plan.n),
                until: Instant::now() + Duration::from_secs(90),
            });
        }
        let booking = simulator::Booking::by_admin(
            plan.company,
            &format!("Клиент {}", plan.n),
            &phone,
            plan.visit,
        );
        let record = self.sim.create(booking);
        let visit_id = self
            .sim
            .world()
            .record(record)
            .and_then(|r| r["visit_id"].as_str().map(str::to_string))
            .unwrap_or_default();
        let mut l = self.ledger.borrow_mut();
        for fault in faults {
            l.fault(fault);
        }
        l.bookings.push(ledger::Booking {
            plan: plan.clone(),
            record,
            visit_id,
            phone,
            made: Instant::now(),
            deleted: None,
            moves: Vec::new(),
            visit: plan.visit,
        });
    }

    fn reply(&mut self, reply: &Reply) {
        let b = self.ledger.borrow().bookings[reply.n].clone();
        let id = format!("wamid.SOAK{}x{}", self.settings.seed, reply.id);
        let quoting = reply
            .quoting
            .then(|| {
                let world = self.sim.world();
                let last = world.messages.iter().rev().find(|m| m.phone == b.phone);
                last.map(|m| m.id.clone())
            })
            .flatten();
        let text = ClientMessage::Text(reply.said.text().to_string());
        let name = format!("Клиент {}", reply.n);
        let body = meta_message(NUMBER_ID, &b.phone, &name, &id, &text, quoting.as_deref());
        if reply.kill_mid_write_back {
            self.ledger
                .borrow_mut()
                .fault("kill -9 mid-write-back (planned: strikes once the write is held)");
            let target = format!("/api/v1/visits/{}/{}", b.visit_id, b.record);
            self.sim.change(|w| {
                w.yclients_faults_for
                    .push((target.clone(), Fault::Stall(HOLD_FOR_KILL)))
            });
            self.watches.push(Watch {
                target,
                why: format!("mid-write-back of booking {}", reply.n),
                until: Instant::now() + Duration::from_secs(90),
            });
        }
        let index = {
            let mut l = self.ledger.borrow_mut();
            l.replies.push(ledger::Reply {
                n: reply.n,
                said: reply.said,
                message_id: id,
                posted: Instant::now(),
                landed: None,
                deliveries: 0,
                gave_up: false,
            });
            l.replies.len() - 1
        };
        let (doors, ledger) = (self.doors.clone(), self.ledger.clone());
        let times = if reply.repeated { 2 } else { 1 };
        actix_rt::spawn(deliver(doors, ledger, index, body, reply.slot, times));
    }

    fn restart_postgres(&mut self) {
        let restarter = self
            .settings
            .pg_restarts
            .then(|| self.database.server().and_then(|s| s.restarter()))
            .flatten();
        let Some(restarter) = restarter else {
            self.ledger
                .borrow_mut()
                .skip("PostgreSQL restart: not on this backend or not allowed");
            return;
        };
        if self.pg_busy.get() {
            self.ledger
                .borrow_mut()
                .skip("PostgreSQL restart: one already under way");
            return;
        }
        self.pg_busy.set(true);
        let (busy, ledger) = (self.pg_busy.clone(), self.ledger.clone());
        actix_rt::spawn(async move {
            let began = Instant::now();
            let done = actix_rt::task::spawn_blocking(move || restarter.restart()).await;
            let mut l = ledger.borrow_mut();
            match done {
                Ok(Ok(())) => l.pg_restarts.push((began, Instant::now())),
                Ok(Err(e)) => l.skip(format!("PostgreSQL restart failed: {e}")),
                Err(e) => l.skip(format!("PostgreSQL restart failed: {e}")),
            }
            busy.set(false);
        });
    }
}

/// Delivers a client's message as Meta does: to an instance that is up (the
/// preferred one first), again after a failure or no answer, until one answers 200;
/// `times` 2: delivered once more after that (Meta repeats itself).
async fn deliver(
    doors: Rc<RefCell<Vec<Option<String>>>>,
    ledger: Rc<RefCell<Ledger>>,
    index: usize,
    body: serde_json::Value,
    preferred: usize,
    times: u32,
) {
    let deadline = Instant::now() + META_PATIENCE;
    let (mut left, mut turn) = (times, preferred);
    while left > 0 {
        if Instant::now() >= deadline {
            ledger.borrow_mut().replies[index].gave_up = true;
            return;
        }
        let url = {
            let doors = doors.borrow();
            let n = doors.len();
            (0..n).find_map(|i| doors[(turn + i) % n].clone())
        };
        let status = match url {
            Some(url) => {
                post_to_daemon(&format!("{url}/webhooks/whatsapp"), &body, Some(APP_SECRET))
                    .await
                    .0
            }
            None => 0,
        };
        if status == 200 {
            let mut l = ledger.borrow_mut();
            let reply = &mut l.replies[index];
            reply.landed.get_or_insert_with(Instant::now);
            reply.deliveries += 1;
            left -= 1;
            turn += 1;
        }
        // Meta waits before it tries again, and before it repeats itself.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}
