//! Logs go to stderr through slog-term; a command's own output goes to stdout.

use slog::{Drain, Level, Logger};

use crate::config::{LogConfig, LogFormat};

pub fn logger(config: &LogConfig) -> Logger {
    match config.format {
        LogFormat::Json => json(config.level),
        LogFormat::Term => terminal(config.level),
    }
}

/// One JSON object per line, with the same fields as the terminal format, for log shippers.
pub fn json(level: Level) -> Logger {
    let drain = slog_json::Json::new(std::io::stderr())
        .add_default_keys()
        .build()
        .filter_level(level)
        .fuse();
    Logger::root(std::sync::Mutex::new(drain).fuse(), slog::o!())
}

/// A plain, synchronous terminal logger: nothing buffered is lost on a crash.
pub fn terminal(level: Level) -> Logger {
    let decorator = slog_term::PlainSyncDecorator::new(std::io::stderr());
    let drain = slog_term::FullFormat::new(decorator)
        .use_original_order()
        .build()
        .filter_level(level)
        .fuse();
    Logger::root(drain, slog::o!())
}

/// For tests and tools that want silence.
pub fn discard() -> Logger {
    Logger::root(slog::Discard, slog::o!())
}
