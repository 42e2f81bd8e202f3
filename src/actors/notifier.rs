//! NotifierActor: carries out due outbox rows (`delivery::deliver`: a notice, an
//! answer to a client, a write to YClients, a staff alert) through the outbox's
//! states `pending → sending → sent | failed`; up to
//! `whatsapp.max_concurrent_sends` at once, each a different row.

use std::collections::HashMap;
use std::rc::Rc;

use actix::prelude::*;
use chrono::Utc;
use tokio::sync::{oneshot, Semaphore};

use crate::delivery::{self, Clients, Delivery, Pauses};
use crate::domain::NotificationId;
use crate::messages::{ActorFailure, Drain, Due, DueOutcome};
use crate::panic_guard::{self, Guarded};
use crate::shared::Shared;
use crate::store;

const NAME: &str = "notifier";

pub struct NotifierActor {
    shared: Shared,
    /// The clients of the running config, and its generation: built again after a
    /// reload, while the rows in flight keep the ones they began with.
    clients: Option<(u64, Rc<Clients>)>,
    /// Set when the provider refused the account (expired token…): every send waits.
    paused: Pauses,
    /// One permit per send in flight.
    slots: Rc<Semaphore>,
    /// The rows being carried out now, with how many times (a row can be due twice
    /// at once: the claim lets one through); their sends are not reset on a restart.
    in_flight: HashMap<NotificationId, usize>,
    /// `Drain`s waiting for the sends in flight to finish.
    drained: Vec<oneshot::Sender<()>>,
}

impl NotifierActor {
    pub fn new(shared: Shared) -> NotifierActor {
        let slots = Rc::new(Semaphore::new(shared.config.whatsapp.concurrent_sends()));
        NotifierActor {
            shared,
            clients: None,
            paused: Pauses::new(),
            slots,
            in_flight: HashMap::new(),
            drained: Vec::new(),
        }
    }

    fn finished(&mut self, id: NotificationId) {
        if let Some(n) = self.in_flight.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                self.in_flight.remove(&id);
            }
        }
        if self.in_flight.is_empty() {
            for waiter in self.drained.drain(..) {
                let _ = waiter.send(());
            }
        }
    }
}

impl Actor for NotifierActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // Before any `Due`: rows left in `sending` were interrupted mid-send (by a
        // crash, or by the panic that restarted this actor); those still in flight
        // after a restart are not.
        let db = self.shared.db.clone();
        let me = self.shared.cluster.instance_id.clone();
        let in_flight: Vec<NotificationId> = self.in_flight.keys().copied().collect();
        let reset = Guarded::new(async move {
            db.run(move |conn| store::reset_interrupted_sends(conn, &me, &in_flight, Utc::now()))
                .await
        });
        ctx.wait(reset.into_actor(self).map(|result, act, ctx| {
            let logger = act.shared.logger.clone();
            let what = "notifier: recovering interrupted sends";
            for row in panic_guard::or_restart::<Self, _, _>(ctx, &logger, what, result)
                .unwrap_or_default()
            {
                slog::warn!(logger,
                    "notifier: a send was interrupted; sending again (the client may get this message twice)";
                    "company_id" => row.company_id, "record_id" => row.record_id, "notification_id" => row.id);
            }
        }));
    }
}

impl Supervised for NotifierActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.clients = None;
        self.paused.clear();
        // The sends in flight are not the context's futures: they go on, and each
        // still reports `Finished`, so `in_flight` and the `Drain`s stay right.
        self.shared.supervision.restarted(NAME);
    }
}

impl Handler<Due> for NotifierActor {
    type Result = ResponseFuture<Result<DueOutcome, ActorFailure>>;

    /// The row is carried out by a plain future that comes back to the actor only
    /// to settle (`Finished`): a row waiting for a send slot is not an actor future,
    /// which actix would poll each time the actor wakes, so a backlog of thousands
    /// costs nothing per new row.
    fn handle(&mut self, msg: Due, ctx: &mut Context<Self>) -> Self::Result {
        // The config as it stands now: the row is carried out under it to its end.
        let shared = self.shared.current();
        let generation = shared.live.current().generation;
        let clients = match &self.clients {
            Some((built, clients)) if *built == generation => clients.clone(),
            _ => {
                let clients = Rc::new(Clients::new(&shared));
                self.clients = Some((generation, clients.clone()));
                clients
            }
        };
        // Pauses that ended are forgotten; the rest go with the row.
        let now = Utc::now();
        self.paused.retain(|_, until| *until > now);
        let paused = self.paused.clone();
        let slots = self.slots.clone();
        *self.in_flight.entry(msg.id).or_default() += 1;
        let me = ctx.address();
        let id = msg.id;
        Box::pin(async move {
            let result = Guarded::new(async move {
                let _slot = slots
                    .acquire()
                    .await
                    .expect("the semaphore is never closed");
                delivery::deliver(shared, &clients, id, &paused).await
            })
            .await;
            me.send(Finished { id, result }).await.unwrap_or_else(|e| {
                Err(ActorFailure {
                    actor: NAME,
                    reason: e.to_string(),
                })
            })
        })
    }
}

/// A row's delivery ended (or panicked): settled on the actor.
struct Finished {
    id: NotificationId,
    result: Result<Result<Delivery, store::StoreError>, String>,
}

impl Message for Finished {
    type Result = Result<DueOutcome, ActorFailure>;
}

impl Handler<Finished> for NotifierActor {
    type Result = Result<DueOutcome, ActorFailure>;

    fn handle(&mut self, msg: Finished, ctx: &mut Context<Self>) -> Self::Result {
        self.finished(msg.id);
        let logger = self
            .shared
            .logger
            .new(slog::o!("notification_id" => msg.id.0));
        let Delivery { outcome, pause } = panic_guard::or_restart::<Self, _, _>(
            ctx, &logger, "notifier", msg.result,
        )
        .map_err(|reason| ActorFailure {
            actor: NAME,
            reason,
        })?;
        if let Some((sender, until)) = pause {
            self.paused.insert(sender, until);
        }
        Ok(outcome)
    }
}

impl Handler<Drain> for NotifierActor {
    type Result = ResponseFuture<()>;

    /// Answers once no send is in flight.
    fn handle(&mut self, _msg: Drain, _ctx: &mut Context<Self>) -> Self::Result {
        if self.in_flight.is_empty() {
            return Box::pin(async {});
        }
        let (done, wait) = oneshot::channel();
        self.drained.push(done);
        Box::pin(async move {
            let _ = wait.await;
        })
    }
}
