//! The instances' care between the schedule's steps: kills that wait for a held
//! request, instances that stopped or died, instances due back, where clients'
//! replies and the providers' pushes go; and at the end, the drain and the stop.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use booking_monitor::simulator::{StatusCallbacks, WebhookSender};

use super::instances::{self, APP_SECRET, WEBHOOK_TOKEN};
use super::ledger::{How, Signal};
use super::Soak;

const SIGTERM: i32 = 15;

impl Soak {
    /// Between steps: kills that wait for a held request, instances that stopped
    /// or died, instances due back, and the running checks every ten seconds.
    pub(super) fn housekeeping(&mut self) {
        self.strike_held();
        let now = Instant::now();
        for (slot, status, took) in self.instances.stopped() {
            let t = self.ledger.borrow().t(now);
            match status {
                Some(s) if s.success() => {}
                // Before it has started, the daemon has no handler yet: the signal's
                // default action ends it, as a kill -9 would, with nothing under way.
                Some(s) if s.signal() == Some(SIGTERM) && !self.instances.started(slot) => {
                    self.ledger.borrow_mut().skip(
                        "SIGTERM before the instance had started: it died of the signal, as of a kill -9",
                    );
                    self.ledger.borrow_mut().signals.push(Signal {
                        slot,
                        process: self.instances.slots[slot].process,
                        at: now,
                        how: How::Kill,
                        why: "SIGTERM before it had started".into(),
                    });
                }
                Some(s) => self.findings.violation(
                    format!("term {slot} {t}"),
                    format!(
                        "instance {slot} exited {s} on SIGTERM ({t}, after {took:?}); log:\n{}",
                        self.instances.log_tail(slot, 10)
                    ),
                ),
                None => {
                    self.findings.violation(
                        format!("term {slot} {t}"),
                        format!(
                            "instance {slot} had not exited {took:?} after SIGTERM ({t}): killed"
                        ),
                    );
                    self.ledger.borrow_mut().signals.push(Signal {
                        slot,
                        process: self.instances.slots[slot].process,
                        at: now,
                        how: How::Kill,
                        why: "SIGTERM not obeyed".into(),
                    });
                }
            }
            let i = self.back_after_stop.iter().position(|(s, _)| *s == slot);
            let down = i.map_or(Duration::ZERO, |i| self.back_after_stop.remove(i).1);
            self.returns.push((now + down, slot, false));
        }
        for (slot, status) in self.instances.exited() {
            let t = self.ledger.borrow().t(now);
            self.findings.violation(
                format!("exit {slot} {t}"),
                format!(
                    "instance {slot} exited by itself ({status}) at {t}; log:\n{}",
                    self.instances.log_tail(slot, 15)
                ),
            );
            self.ledger.borrow_mut().signals.push(Signal {
                slot,
                process: self.instances.slots[slot].process,
                at: now,
                how: How::Kill,
                why: "it exited by itself".into(),
            });
            self.returns
                .push((now + Duration::from_secs(1), slot, false));
            self.doors_changed();
        }
        if !self.pg_busy.get() {
            let due: Vec<(Instant, usize, bool)> = self
                .returns
                .iter()
                .copied()
                .filter(|r| r.0 <= now)
                .collect();
            self.returns.retain(|r| r.0 > now);
            for (_, slot, fresh) in due {
                match self.instances.spawn(&self.sim, slot, fresh) {
                    Ok(()) => self.ledger.borrow_mut().restarts += 1,
                    Err(e) => self.findings.violation(
                        format!("spawn {slot}"),
                        format!("instance {slot} could not start: {e}"),
                    ),
                }
                self.doors_changed();
            }
        }
        if now.duration_since(self.last_check) >= Duration::from_secs(10) {
            self.last_check = now;
            self.check_running();
        }
        if now.duration_since(self.last_progress) >= Duration::from_secs(60) {
            self.last_progress = now;
            self.progress();
        }
    }

    fn strike_held(&mut self) {
        if self.watches.is_empty() {
            return;
        }
        let held = self.sim.world().held.clone();
        let now = Instant::now();
        let mut strike = Vec::new();
        let mut missed = 0;
        self.watches.retain(|w| {
            if let Some(h) = held.iter().find(|h| h.target.contains(&w.target)) {
                strike.push((instances::process_of(h.by.as_deref()), w.why.clone()));
                false
            } else if now > w.until {
                missed += 1;
                false
            } else {
                true
            }
        });
        for _ in 0..missed {
            self.ledger
                .borrow_mut()
                .skip("aimed kill: nothing held in time (booking gone, or answered before)");
        }
        for (process, why) in strike {
            match process.and_then(|p| self.instances.slot_of(p)) {
                Some(slot) => self.kill(slot, why, Duration::from_secs(1), false),
                None => self
                    .ledger
                    .borrow_mut()
                    .skip("aimed kill: its sender no longer runs"),
            }
        }
    }

    /// Clients' replies go to the instances that run; YClients' events and Meta's
    /// statuses to the first of them.
    pub(super) fn doors_changed(&mut self) {
        let urls: Vec<Option<String>> = (0..self.instances.slots.len())
            .map(|s| self.instances.url(s))
            .collect();
        let first = urls.iter().flatten().next().cloned();
        *self.doors.borrow_mut() = urls;
        if let Some(url) = first {
            self.sim.change(|w| {
                w.webhooks = Some(WebhookSender {
                    url: format!("{url}/webhooks/yclients/{WEBHOOK_TOKEN}"),
                    update_repeats: 2,
                });
                w.status_callbacks = Some(StatusCallbacks {
                    url: format!("{url}/webhooks/whatsapp"),
                    app_secret: APP_SECRET.into(),
                    statuses: vec!["sent", "delivered", "read"],
                });
            });
        }
    }

    /// The schedule is over: the faults end, every instance comes back, and the
    /// soak waits until nothing more is sent for a while.
    pub(super) async fn drain(&mut self) {
        self.sim.change(|w| {
            w.yclients_faults.clear();
            w.yclients_faults_for.clear();
            w.whatsapp_faults.clear();
            w.whatsapp_faults_for.clear();
            w.sms_faults.clear();
            w.sms_faults_for.clear();
        });
        self.watches.clear();
        let quiet_for = Duration::from_millis(
            self.settings.timing.sms_after_ms + self.settings.timing.grace_ms,
        ) * 3;
        let deadline = Instant::now() + Duration::from_secs(240);
        let mut last = (0, Instant::now());
        while Instant::now() < deadline {
            for slot in 0..self.instances.slots.len() {
                let away = !self.instances.running(slot) && !self.instances.stopping(slot);
                if away && !self.returns.iter().any(|r| r.1 == slot) {
                    self.returns.push((Instant::now(), slot, false));
                }
            }
            self.housekeeping();
            let activity = {
                let w = self.sim.world();
                w.messages.len()
                    + w.sms.len()
                    + w.requests.iter().filter(|r| r.method == "PUT").count()
                    + w.telegram.len()
            };
            if activity != last.0 {
                last = (activity, Instant::now());
            }
            let replies_done = self
                .ledger
                .borrow()
                .replies
                .iter()
                .all(|r| r.gave_up || r.deliveries > 0);
            let all_up = (0..self.instances.slots.len()).all(|s| self.instances.running(s));
            if all_up && replies_done && last.1.elapsed() >= quiet_for {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) async fn stop_all(&mut self) {
        for slot in 0..self.instances.slots.len() {
            if self.instances.term(slot) {
                self.back_after_stop.push((slot, Duration::from_secs(3600)));
            }
        }
        while (0..self.instances.slots.len()).any(|s| self.instances.stopping(s)) {
            self.housekeeping();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.returns.clear();
        self.doors_changed();
    }
}
