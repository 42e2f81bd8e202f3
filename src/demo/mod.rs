//! `booking-monitor demo`: the whole pipeline against the built-in simulator, with
//! a temporary SQLite file and short timings. Needs no account; exits by itself.
//!
//! Whatever ends it (the summary, Ctrl-C, SIGTERM, a closed stdout) the temporary
//! directory is removed; `--keep DIR` keeps the database instead.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::daemon::Daemon;
use crate::logging;
use crate::simulator::Simulator;

mod salon_two;
mod story;

pub use story::config;
use story::demo;

const COMPANY: i64 = 4564;
const COMPANY_NAME: &str = "Барбершоп «Борода»";
const BOT_USER: i64 = 777;
const WAIT: Duration = Duration::from_secs(20);
/// The database's name inside the demo's directory.
const DB_FILE: &str = "demo.db";

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("{0}")]
    Failed(String),
    #[error("interrupted by {0} before the demo ended")]
    Interrupted(&'static str),
    #[error("{} already holds a demo database: pick an empty directory for --keep", .0.display())]
    KeepOccupied(PathBuf),
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<String> for DemoError {
    fn from(e: String) -> DemoError {
        DemoError::Failed(e)
    }
}

/// Removes the demo's temporary directory however `run` returns.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the demo; `serve_for` keeps its status page up that long after the
/// summary (Ctrl-C or SIGTERM ends that early, with exit 0); `keep` is a directory
/// to keep the database and a config for `status` in.
pub fn run(serve_for: Duration, keep: Option<PathBuf>) -> i32 {
    let logger = logging::terminal(slog::Level::Info);
    crate::panic_guard::install_hook(logger.clone());
    let (dir, cleanup) = match keep {
        Some(dir) => (dir, None),
        None => {
            let dir =
                std::env::temp_dir().join(format!("booking-monitor-demo-{}", std::process::id()));
            (dir.clone(), Some(RemoveOnDrop(dir)))
        }
    };
    let kept = cleanup.is_none();
    let result = actix_rt::System::new().block_on(async move {
        // One listener for the whole run: the default action of SIGTERM would skip
        // the cleanup above.
        let signals = listen_for_signals().map_err(|source| DemoError::Io {
            path: "signal handlers".into(),
            source,
        })?;
        let shown = tokio::select! {
            shown = demo(logger, &dir, kept) => shown?,
            signal = interrupted(signals.clone()) => return Err(DemoError::Interrupted(signal)),
        };
        if !serve_for.is_zero() {
            say(&format!(
                "Keeping the status page at {} up for {} s (Ctrl-C ends it).",
                shown.page,
                serve_for.as_secs()
            ));
            tokio::select! {
                _ = tokio::time::sleep(serve_for) => {}
                _ = interrupted(signals) => {}
            }
        }
        shown.daemon.shutdown().await;
        shown.sim.stop().await;
        if shown.as_expected {
            Ok(())
        } else {
            Err(DemoError::Failed("the demo did not end as expected".into()))
        }
    });
    drop(cleanup);
    match result {
        Ok(()) => 0,
        Err(DemoError::Interrupted(signal)) => {
            eprintln!("demo {}", DemoError::Interrupted(signal));
            // The shell's convention: 128 + the signal's number.
            if signal == "SIGINT" {
                130
            } else {
                143
            }
        }
        Err(e) => {
            eprintln!("demo failed: {e}");
            1
        }
    }
}

/// SIGINT and SIGTERM, registered before this returns (a signal that came before
/// an asynchronous registration would kill the demo uncleaned); the receiver
/// turns `Some(name)` at the first.
#[cfg(unix)]
fn listen_for_signals() -> std::io::Result<watch::Receiver<Option<&'static str>>> {
    use actix_rt::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(None);
    actix_rt::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let _ = tx.send(Some(name));
    });
    Ok(rx)
}

#[cfg(not(unix))]
fn listen_for_signals() -> std::io::Result<watch::Receiver<Option<&'static str>>> {
    let (tx, rx) = watch::channel(None);
    actix_rt::spawn(async move {
        let _ = actix_rt::signal::ctrl_c().await;
        let _ = tx.send(Some("SIGINT"));
    });
    Ok(rx)
}

/// Resolves with the signal's name once one has arrived.
async fn interrupted(mut signals: watch::Receiver<Option<&'static str>>) -> &'static str {
    match signals.wait_for(Option::is_some).await {
        Ok(signal) => signal.unwrap_or("a signal"),
        // The listener is gone without a signal: never resolve.
        Err(_) => std::future::pending().await,
    }
}

/// What is left running after the summary.
struct Shown {
    daemon: Daemon,
    sim: Simulator,
    page: String,
    as_expected: bool,
}

/// Prints to stdout; a closed stdout (`demo | head`) is not an error worth a
/// panic: the demo goes on and cleans up.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn say(text: &str) {
    out(&format!("\n>>> {text}\n"));
}
