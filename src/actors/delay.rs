//! DelayActor: the one scheduler, for every kind of notice. One timer over a heap
//! of the pending notifications due within `HORIZON`, keyed by `due_at`, rebuilt
//! from the table whenever it (re)starts and refilled from it every half horizon,
//! so a delay survives a crash and months of reminders never sit in memory.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use actix::prelude::*;
use chrono::{DateTime, Utc};

use crate::domain::NotificationId;
use crate::messages::{ActorFailure, Due, DueOutcome, Proven, Refill, Schedule};
use crate::panic_guard::{self, Guarded};
use crate::shared::Shared;
use crate::store;

const NAME: &str = "delay";
/// How far ahead the heap holds rows; later ones wait in the table.
const HORIZON: Duration = Duration::from_secs(600);

pub struct DelayActor {
    shared: Shared,
    notifier: Recipient<Due>,
    /// The one due time per row that counts; heap entries that disagree are stale.
    due: HashMap<NotificationId, DateTime<Utc>>,
    heap: BinaryHeap<Reverse<(DateTime<Utc>, NotificationId)>>,
    timer: Option<SpawnHandle>,
    /// The rows handed to the notifier and not yet answered, each with whether a
    /// poll proved it meanwhile (`Proven`): then it comes back at once.
    fired: HashMap<NotificationId, bool>,
}

impl DelayActor {
    pub fn new(shared: Shared, notifier: Recipient<Due>) -> DelayActor {
        DelayActor {
            shared,
            notifier,
            due: HashMap::new(),
            heap: BinaryHeap::new(),
            timer: None,
            fired: HashMap::new(),
        }
    }

    fn schedule(&mut self, id: NotificationId, due_at: DateTime<Utc>, ctx: &mut Context<Self>) {
        if self.due.get(&id).is_some_and(|known| *known <= due_at) {
            return;
        }
        if due_at > Utc::now() + horizon() {
            // Beyond the horizon: a refill brings it in time.
            return;
        }
        self.due.insert(id, due_at);
        self.heap.push(Reverse((due_at, id)));
        self.arm(ctx);
    }

    /// (Re)sets the one timer for the earliest due row.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        let Some(Reverse((due_at, _))) = self.heap.peek() else {
            return;
        };
        let wait = (*due_at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        self.timer = Some(ctx.run_later(wait, |act, ctx| {
            act.timer = None;
            let logger = act.shared.logger.clone();
            let fired = panic_guard::catch(|| {
                act.fire(ctx);
                Ok::<_, String>(())
            });
            let _ = panic_guard::or_restart::<Self, _, _>(ctx, &logger, "delay: timer", fired);
        }));
    }

    fn fire(&mut self, ctx: &mut Context<Self>) {
        if self.shared.supervision.stopping() {
            return;
        }
        let now = Utc::now();
        while let Some(Reverse((due_at, id))) = self.heap.peek().copied() {
            if due_at > now {
                break;
            }
            self.heap.pop();
            if self.due.get(&id) != Some(&due_at) {
                continue;
            }
            self.due.remove(&id);
            self.fired.insert(id, false);
            // A plain task, not an actor future: actix polls every future an actor
            // holds each time the actor wakes, so one per row in flight made each new
            // row cost in proportion to the backlog.
            let (notifier, me) = (self.notifier.clone(), ctx.address());
            actix_rt::spawn(async move {
                let reply = notifier.send(Due { id }).await;
                me.do_send(Answered { id, reply });
            });
        }
        self.arm(ctx);
    }
}

/// The notifier's answer about a row, back on the delay actor.
struct Answered {
    id: NotificationId,
    reply: Result<Result<DueOutcome, ActorFailure>, MailboxError>,
}

impl Message for Answered {
    type Result = ();
}

impl Handler<Answered> for DelayActor {
    type Result = ();

    fn handle(&mut self, msg: Answered, ctx: &mut Context<Self>) {
        let id = msg.id;
        let proven = self.fired.remove(&id).unwrap_or(false);
        match msg.reply {
            Ok(Ok(DueOutcome::Done)) => {}
            // Proven while it was out: it looks again now (a row told to wait for
            // something else finds its own due time in the table).
            Ok(Ok(DueOutcome::RetryAt(_))) if proven => self.schedule(id, Utc::now(), ctx),
            Ok(Ok(DueOutcome::RetryAt(at))) => self.schedule(id, at, ctx),
            Ok(Ok(DueOutcome::Opened(rows))) => {
                for (opened, at) in rows {
                    self.schedule(opened, at, ctx);
                }
            }
            // The notifier failed or restarted mid-way; the row is still in the
            // table, so look at it again shortly.
            Ok(Err(_)) | Err(_) => {
                let pause = self.shared.live.config().monitor.retry_initial_ms as i64;
                self.schedule(id, Utc::now() + chrono::Duration::milliseconds(pause), ctx);
            }
        }
    }
}

impl Actor for DelayActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.refill(ctx);
        ctx.run_interval(HORIZON / 2, |act, ctx| act.refill(ctx));
    }
}

impl DelayActor {
    /// Loads the rows due within the horizon (all that are late, too).
    fn refill(&mut self, ctx: &mut Context<Self>) {
        let db = self.shared.db.clone();
        let until = Utc::now() + horizon();
        // The rows of the companies in the running config (a removed company's
        // wait unsent); on a shared database, of those this instance holds.
        let config = self.shared.live.config();
        let held = self
            .shared
            .cluster
            .held_companies()
            .unwrap_or_else(|| config.companies.iter().map(|c| c.company_id()).collect());
        let held = Some(held);
        let load = Guarded::new(async move {
            db.run(move |conn| store::open_due_before(conn, until, held.as_deref()))
                .await
        });
        ctx.wait(load.into_actor(self).map(|loaded, act, ctx| {
            let logger = act.shared.logger.clone();
            let what = "delay: loading pending notifications";
            if let Ok(rows) = panic_guard::or_restart::<Self, _, _>(ctx, &logger, what, loaded) {
                slog::debug!(logger, "delay: timers loaded from the outbox"; "due_soon" => rows.len());
                for (id, due_at) in rows {
                    act.schedule(id, due_at, ctx);
                }
            }
        }));
    }
}

fn horizon() -> chrono::Duration {
    chrono::Duration::from_std(HORIZON).expect("a short horizon")
}

impl Supervised for DelayActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The heap is rebuilt from the table in `started()`.
        self.due.clear();
        self.heap.clear();
        self.timer = None;
        self.fired.clear();
        self.shared.supervision.restarted(NAME);
    }
}

impl Handler<Refill> for DelayActor {
    type Result = ();

    fn handle(&mut self, _: Refill, ctx: &mut Context<Self>) {
        self.refill(ctx);
    }
}

impl Handler<Schedule> for DelayActor {
    type Result = ();

    fn handle(&mut self, msg: Schedule, ctx: &mut Context<Self>) {
        let faults = self.shared.faults.clone();
        let struck = panic_guard::catch(|| faults.strike(NAME));
        // On a failure the row is still in the table: `started()` finds it again.
        if panic_guard::or_restart::<Self, _, _>(ctx, &self.shared.logger, "delay", struck).is_ok()
        {
            self.schedule(msg.id, msg.due_at, ctx);
        }
    }
}

impl Handler<Proven> for DelayActor {
    type Result = ();

    /// Only rows already waiting here or out at the notifier: a row is never handed
    /// out twice at once, and one not timed here has nothing to wait for.
    fn handle(&mut self, msg: Proven, ctx: &mut Context<Self>) {
        let now = Utc::now();
        for id in msg.ids {
            if let Some(proven) = self.fired.get_mut(&id) {
                *proven = true;
            } else if self.due.contains_key(&id) {
                self.schedule(id, now, ctx);
            }
        }
    }
}
