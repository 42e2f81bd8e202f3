//! What actix 0.13 itself does with a panic inside a handler, on this setup (an
//! actor under `actix::Supervisor` on its own `Arbiter`, tokio underneath). The
//! daemon's design depends on the answer, so it is pinned down here: the panic
//! unwinds out of the actor's task, tokio drops the task, the actor is gone for
//! good without `restarting()` being called, and every later message fails with a
//! closed mailbox. Hence `panic_guard`: handler work runs under `catch_unwind` and
//! a caught panic becomes `ctx.stop()`, which the supervisor does restart.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use actix::prelude::*;

struct Fragile {
    restarts: Arc<AtomicU32>,
}

impl Actor for Fragile {
    type Context = Context<Self>;
}

impl Supervised for Fragile {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Message)]
#[rtype(result = "String")]
enum Poke {
    Answer,
    Panic,
    Stop,
}

impl Handler<Poke> for Fragile {
    type Result = String;

    fn handle(&mut self, msg: Poke, ctx: &mut Context<Self>) -> String {
        match msg {
            Poke::Answer => "alive".into(),
            Poke::Panic => panic!("a handler panics"),
            Poke::Stop => {
                ctx.stop();
                "stopping".into()
            }
        }
    }
}

#[actix_rt::test]
async fn a_stopped_actor_is_restarted_but_a_panicking_one_dies_for_good() {
    let arbiter = Arbiter::new();
    let restarts = Arc::new(AtomicU32::new(0));
    let counter = restarts.clone();
    let addr =
        Supervisor::start_in_arbiter(&arbiter.handle(), move |_| Fragile { restarts: counter });
    assert_eq!(addr.send(Poke::Answer).await, Ok("alive".to_string()));

    // ctx.stop(): restarting() runs, the same address answers again.
    assert_eq!(addr.send(Poke::Stop).await, Ok("stopping".to_string()));
    assert_eq!(addr.send(Poke::Answer).await, Ok("alive".to_string()));
    assert_eq!(restarts.load(Ordering::SeqCst), 1);

    // A panic: no restart, and the mailbox is closed for every later message.
    assert_eq!(addr.send(Poke::Panic).await, Err(MailboxError::Closed));
    assert_eq!(addr.send(Poke::Answer).await, Err(MailboxError::Closed));
    assert_eq!(restarts.load(Ordering::SeqCst), 1);
    assert!(!addr.connected());

    // The arbiter's thread itself survives: other actors on it go on.
    let other = Supervisor::start_in_arbiter(&arbiter.handle(), |_| Fragile {
        restarts: Arc::new(AtomicU32::new(0)),
    });
    assert_eq!(other.send(Poke::Answer).await, Ok("alive".to_string()));
    arbiter.stop();
}
