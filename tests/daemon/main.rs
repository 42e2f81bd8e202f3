//! Black-box tests of the daemon: real HTTP on 127.0.0.1, a real SQLite file or
//! PostgreSQL database (see `helpers`).

mod actix_panics;
mod agreement;
mod bad_input;
mod channels;
mod cluster;
mod commands;
mod config_errors;
mod container;
mod database;
mod demo;
mod deploy;
mod fallback;
mod files;
mod helpers;
mod house;
mod kill;
mod lifecycle;
mod limits;
mod monitoring;
mod monitoring_start;
mod notifications;
mod operations;
mod polling;
mod push;
mod reach;
mod readme;
mod replan;
mod replies;
mod security;
mod shutdown;
mod soak;
mod supervision;
mod tls;
mod whatsapp_faults;
mod yclients_faults;
