//! Turning panics into errors where the code can go on, and into exit code 70
//! where it cannot.
//!
//! actix kills an actor for good, silently, when a handler panics; tokio's blocking
//! pool swallows a panic into a `JoinError`. So the work of every handler and every
//! database call runs under [`catch`] or [`Guarded`], which mark the thread as
//! guarded while they run. The process-wide hook ([`install_hook`]) logs every
//! panic, and exits with 70 when the panic struck outside a guard: nothing would
//! catch it, and the supervisor of the whole process (systemd) should restart us.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use slog::Logger;

/// The exit code when the process gives up (BSD's EX_SOFTWARE).
pub const EXIT_GAVE_UP: i32 = 70;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

struct DepthGuard;

impl DepthGuard {
    fn enter() -> DepthGuard {
        DEPTH.with(|d| d.set(d.get() + 1));
        DepthGuard
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

fn guarded() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// The panic's message.
pub fn describe(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// Runs `f`, turning a panic into `Err(message)`.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let _depth = DepthGuard::enter();
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| describe(p.as_ref()))
}

/// A future whose every poll runs under [`catch`]: it yields `Err(message)`
/// instead of unwinding into the actor's event loop.
pub struct Guarded<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Guarded<F> {
    pub fn new(inner: F) -> Guarded<F> {
        Guarded {
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.inner.as_mut();
        match catch(move || inner.poll(cx)) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(message) => Poll::Ready(Err(message)),
        }
    }
}

/// How guarded actor work ended: its value, or — after an error or a caught panic —
/// a logged line and `ctx.stop()`, so that the supervisor restarts the actor with
/// its state from the database. The one place that turns failures into restarts.
pub fn or_restart<A, T, E>(
    ctx: &mut A::Context,
    logger: &Logger,
    what: &str,
    outcome: Result<Result<T, E>, String>,
) -> Result<T, String>
where
    A: actix::Actor,
    A::Context: actix::ActorContext,
    E: std::fmt::Display,
{
    let reason = match outcome {
        Ok(Ok(value)) => return Ok(value),
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!("panicked: {panic}"),
    };
    slog::error!(logger, "{what} failed; restarting"; "error" => &reason);
    actix::ActorContext::stop(ctx);
    Err(reason)
}

/// Logs every panic; exits with 70 on one that no guard will catch.
pub fn install_hook(logger: Logger) {
    std::panic::set_hook(Box::new(move |info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = describe(info.payload());
        if guarded() {
            slog::error!(logger, "caught a panic; the actor will restart"; "panic" => message, "at" => location);
        } else {
            slog::crit!(logger, "unguarded panic: exiting so that the process is restarted";
                "panic" => message, "at" => location, "exit_code" => EXIT_GAVE_UP);
            std::process::exit(EXIT_GAVE_UP);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_turns_a_panic_into_an_error() {
        let r: Result<(), String> = catch(|| panic!("boom"));
        assert_eq!(r, Err("boom".to_string()));
        assert!(!guarded());
    }

    #[tokio::test]
    async fn a_guarded_future_yields_the_panic() {
        let r = Guarded::new(async {
            tokio::task::yield_now().await;
            panic!("late boom");
        })
        .await;
        assert_eq!(r, Err("late boom".to_string()));
    }
}
