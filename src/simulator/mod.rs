//! A YClients and a WhatsApp (and a Telegram and SMS providers, `channels.rs`) on
//! 127.0.0.1 that answer as `docs/yclients-api.md` and `docs/whatsapp-api.md` describe:
//! the `demo` command runs against it, and so do the black-box tests.
//!
//! Records are built from the documented record sample, unknown fields and all.
//! Everything the simulator is asked, and every message it is sent, is kept, and
//! [`Simulator::wait_until`] awaits a change rather than sleeping.

mod admin;
mod answer;
mod channels;
mod chaos;
mod clients;
mod handlers;
mod push;
mod visits;
mod world;

pub use channels::{SentSms, TelegramMessage};
pub use chaos::{Chaos, Fate};
pub use clients::{
    gateway_message, green_message, green_status, inbound_id, meta_message, post as post_to_daemon,
    ClientMessage,
};
pub use push::{Pushed, StatusCallbacks, WebhookSender};
pub use world::World;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use tokio::sync::watch;

const RECORD_SAMPLE: &str = include_str!("../../tests/fixtures/yclients/docs_get_record_200.json");

/// A salon the fake YClients knows.
#[derive(Debug, Clone)]
pub struct SimCompany {
    pub title: String,
    pub address: String,
    pub timezone: Tz,
}

/// A booking to create: what an administrator (or the widget, or the bot) enters.
#[derive(Debug, Clone)]
pub struct Booking {
    pub company: i64,
    pub client_name: String,
    /// A JSON number or string, as YClients sends either.
    pub phone: Value,
    /// The visit, in the salon's wall-clock time.
    pub visit: NaiveDateTime,
    pub services: Vec<(String, f64)>,
    pub staff: String,
    pub online: bool,
    pub created_user_id: i64,
}

impl Booking {
    /// A booking an administrator typed in.
    pub fn by_admin(company: i64, client_name: &str, phone: &str, visit: NaiveDateTime) -> Booking {
        Booking {
            company,
            client_name: client_name.into(),
            phone: Value::String(phone.into()),
            visit,
            services: vec![("Стрижка".into(), 1500.0)],
            staff: "Оксана".into(),
            online: false,
            created_user_id: 1_073_232,
        }
    }
}

/// Keys added to the tables of [`Simulator::daemon_config`], as TOML lines.
#[derive(Debug, Clone, Default)]
pub struct ConfigParts {
    pub yclients: String,
    pub monitor: String,
    pub whatsapp: String,
    /// Extra keys for `[whatsapp.cloud_api]`.
    pub cloud_api: String,
    /// Whole tables appended at the end (`[http]`, `[log]`…).
    pub tables: String,
    /// Keys added to each `[[companies]]` table; `{id}` stands for its id.
    pub company: String,
    /// `whatsapp.provider`; `None`: `cloud_api`.
    pub provider: Option<&'static str>,
}

/// An injected failure, answered instead of the next request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status and raw body (and a `Retry-After` in seconds).
    Status {
        status: u16,
        body: String,
        retry_after: Option<u64>,
    },
    /// Work out the answer, then hold it this long before sending it: what YClients
    /// knew is older than its `Date` header.
    Stall(Duration),
}

#[derive(Debug, Clone)]
pub struct Request {
    /// When it was answered.
    pub at: Instant,
    /// When it arrived (before any latency or stall).
    pub arrived: Instant,
    /// The number a WhatsApp or SMS request was to; empty for others.
    pub to: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub partner_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SentMessage {
    pub at: DateTime<Utc>,
    /// When its request arrived; `at` less this beyond the sender's timeout means
    /// the sender gave up before the answer.
    pub arrived: Instant,
    /// The request's `Authorization`: which of many instances sent it, where each
    /// has a token of its own.
    pub authorization: Option<String>,
    /// The id the provider answered with (the one a client's reply quotes).
    pub id: String,
    /// Which of the salons' numbers sent it: the Cloud API phone number id, the
    /// Green API instance; empty for a gateway.
    pub sender: String,
    pub provider: &'static str,
    pub phone: String,
    pub text: String,
    pub body: Value,
}

/// A request held by a [`Fault::Stall`] right now.
#[derive(Debug, Clone)]
pub struct Held {
    /// The request's path and query, and the number it is to (if any).
    pub target: String,
    /// Who asked: its `X-Partner-Id`, else its `Authorization`.
    pub by: Option<String>,
}

/// When a request arrived (a request extension set as it comes in).
#[derive(Debug, Clone, Copy)]
struct Arrived(Instant);

/// The number a WhatsApp or SMS request is to (a request extension its handler sets).
#[derive(Debug, Clone)]
struct To(String);

impl SentMessage {
    /// The id the simulated provider gives its `n`th message.
    pub fn id_for(provider: &str, n: usize) -> String {
        match provider {
            "cloud_api" => format!("wamid.SIM{n}"),
            "green_api" => format!("SIM{n:016X}"),
            _ => format!("gw-{n}"),
        }
    }

    /// The payload of a template's quick-reply button (`index` 0 confirms, 1 cancels).
    pub fn button_payload(&self, index: usize) -> Option<String> {
        self.body
            .pointer("/template/components")?
            .as_array()?
            .iter()
            .find(|c| c["type"] == "button" && c["index"].as_str() == Some(&index.to_string()))?
            .pointer("/parameters/0/payload")?
            .as_str()
            .map(str::to_string)
    }
}

struct State {
    world: Mutex<World>,
    version: watch::Sender<u64>,
}

impl State {
    fn change<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        let out = f(&mut self.world.lock().expect("simulator lock"));
        self.version.send_modify(|v| *v += 1);
        out
    }
}

pub struct Simulator {
    state: Arc<State>,
    addr: SocketAddr,
    server: actix_web::dev::ServerHandle,
}

impl Simulator {
    /// Starts on a free port of 127.0.0.1; call it inside an actix system.
    pub async fn start() -> std::io::Result<Simulator> {
        let state = Arc::new(State {
            world: Mutex::new(World {
                next_record_id: 1000,
                page_cap: 300,
                ..World::default()
            }),
            version: watch::channel(0).0,
        });
        let data = actix_web::web::Data::from(state.clone());
        let server = actix_web::HttpServer::new(move || {
            actix_web::App::new()
                .app_data(data.clone())
                .wrap_fn(|req, service| {
                    use actix_web::dev::Service;
                    use actix_web::HttpMessage;
                    req.extensions_mut().insert(Arrived(Instant::now()));
                    service.call(req)
                })
                .configure(handlers::routes)
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);
        Ok(Simulator {
            state,
            addr,
            server: handle,
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn cloud_api_url(&self) -> String {
        format!("{}/whatsapp", self.base_url())
    }
    pub fn green_api_url(&self) -> String {
        format!("{}/green", self.base_url())
    }
    pub fn webhook_url(&self) -> String {
        format!("{}/webhook/send", self.base_url())
    }

    /// A daemon config that points at this simulator (Cloud API as the provider):
    /// the demo's, the tests' and the benchmarks'. `parts` adds keys to its tables.
    /// `database.url` for a SQLite file.
    pub fn sqlite_url(path: &std::path::Path) -> String {
        format!("sqlite://{}", path.display())
    }

    pub fn daemon_config(
        &self,
        database_url: &str,
        companies: &[i64],
        parts: &ConfigParts,
    ) -> String {
        let companies: String = companies
            .iter()
            .map(|id| {
                let extra = parts.company.replace("{id}", &id.to_string());
                format!("[[companies]]\nid = {id}\n{extra}\n")
            })
            .collect();
        format!(
            "[database]\nurl = \"{database_url}\"\n\n\
             [yclients]\nbase_url = \"{yclients}\"\npartner_token = \"test-partner-token\"\n\
             user_token = \"test-user-token\"\n{yclients_extra}\n\n{companies}\n\
             [monitor]\n{monitor}\n\n\
             [whatsapp]\nprovider = \"{provider}\"\n{whatsapp}\n\n\
             [whatsapp.cloud_api]\nbase_url = \"{cloud}\"\nphone_number_id = \"100200300\"\n\
             access_token = \"test-access-token\"\n{cloud_api}\n\n{tables}\n",
            yclients = self.base_url(),
            yclients_extra = parts.yclients,
            monitor = parts.monitor,
            whatsapp = parts.whatsapp,
            provider = parts.provider.unwrap_or("cloud_api"),
            cloud = self.cloud_api_url(),
            cloud_api = parts.cloud_api,
            tables = parts.tables,
        )
    }

    pub async fn stop(&self) {
        self.server.stop(false).await;
    }

    /// Reads the world.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.state.world.lock().expect("simulator lock")
    }

    /// Changes the world (faults, skew, limits), waking whoever waits on it.
    pub fn change<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        self.state.change(f)
    }

    pub fn add_company(&self, id: i64, title: &str, address: &str, timezone: &str) {
        let company = SimCompany {
            title: title.into(),
            address: address.into(),
            timezone: timezone.parse().expect("a known time zone"),
        };
        self.change(|w| w.companies.insert(id, company));
    }

    /// Awaits a state of the world, at most `timeout`; returns what `check` found.
    pub async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&World) -> Option<T>,
    ) -> Result<T, String> {
        let mut rx = self.state.version.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if let Some(found) = check(&self.world()) {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    return Err(format!(
                        "the simulator did not reach the awaited state within {timeout:?}"
                    ))
                }
            }
        }
    }

    /// Awaits `n` record-list requests in all (each one after the first means the
    /// poll before it was committed: polls of a company never overlap).
    pub async fn wait_for_polls(&self, n: usize, timeout: Duration) -> Result<(), String> {
        self.wait_until(timeout, |w| (w.record_list_requests() >= n).then_some(()))
            .await
    }

    pub async fn wait_for_messages(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<SentMessage>, String> {
        self.wait_until(timeout, |w| {
            (w.messages.len() >= n).then(|| w.messages.clone())
        })
        .await
    }
}
