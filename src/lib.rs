//! booking-monitor: WhatsApp notices of a YClients booking's life — its
//! confirmation, changes, cancellation and reminders — each once, after a grace
//! delay, never lost. ARCHITECTURE.md is the map.

pub mod actors;
pub mod api_state;
pub mod app;
pub mod budget;
pub mod check;
pub mod cluster;
pub mod command_support;
pub mod commands;
pub mod config;
pub mod consent;
pub mod daemon;
pub mod delivery;
pub mod demo;
pub mod domain;
pub mod env_file;
pub mod erasure;
pub mod faults;
pub mod hooks;
pub mod http_api;
pub mod http_client;
pub mod leases;
pub mod lifecycle;
pub mod logging;
pub mod messages;
pub mod metrics;
pub mod monitoring_start;
pub mod panic_guard;
pub mod replies;
pub mod salons;
pub mod send_test;
pub mod shared;
pub mod simulator;
pub mod sms;
pub mod status;
pub mod store;
pub mod supervision;
pub mod telegram;
pub mod template;
pub mod text;
pub mod undelivered;
pub mod verdict;
pub mod webhooks;
pub mod whatsapp;
pub mod yclients;
