//! `send-test`: one real message through a salon's own sender (or its SMS
//! provider), rendered from that salon's template for a sample booking, so that
//! setting a salon up can be tried on one's own phone. It writes nothing to the
//! outbox; where a running daemon takes that sender's delivery statuses (it keeps
//! them by message id, ours or not), it watches for `delivered` up to 60 s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Days, NaiveTime, TimeZone, Utc};
use serde_json::json;

use crate::command_support::{db_options, EXIT_BAD_CONFIG, EXIT_FATAL, EXIT_OK};
use crate::config::{Config, DatabaseLocation};
use crate::domain::{CompanyId, Delivery, Kind, Phone, RecordId};
use crate::salons::Salons;
use crate::sms::SmsProvider;
use crate::store::{self, Db};
use crate::text::{MessageFields, Salon};
use crate::verdict::{clients, failure};
use crate::whatsapp::{Outgoing, Senders};
use crate::yclients::{Record, YClients};

/// How long a test send waits for WhatsApp to say it was delivered.
const WATCH: Duration = Duration::from_secs(60);

/// What `send-test` was asked.
pub struct Request<'a> {
    pub company: i64,
    pub phone: &'a str,
    pub kind: &'a str,
    pub sms: bool,
}

pub fn run(config: Config, request: Request<'_>) -> i32 {
    let usage = |what: String| {
        eprintln!("booking-monitor: send-test: {what}");
        EXIT_BAD_CONFIG
    };
    let company = CompanyId(request.company);
    let Some(salon_id) = config.company(company).map(|c| c.id) else {
        let known: Vec<String> = config.companies.iter().map(|c| c.id.to_string()).collect();
        return usage(format!(
            "--company {}: not in the config's [[companies]] ({})",
            request.company,
            known.join(", ")
        ));
    };
    let Ok(phone) = Phone::parse(request.phone) else {
        return usage(format!("--phone {:?}: not a phone number", request.phone));
    };
    let Some(kind) = Kind::parse(request.kind).filter(|k| Kind::NOTICES.contains(k)) else {
        let known: Vec<&str> = Kind::NOTICES.iter().map(|k| k.as_str()).collect();
        return usage(format!(
            "--kind {}: one of {}",
            request.kind,
            known.join(", ")
        ));
    };
    let (tls, yclients) = match clients(&config) {
        Ok(clients) => clients,
        Err(verdict) => return usage(format!("{}: {}", verdict.item, verdict.detail)),
    };
    let system = actix_rt::System::new();
    let config = Arc::new(config);
    let salon = system.block_on(sample_salon(&config, company, &yclients));
    let fields = MessageFields::new(&sample_booking(company, &salon, &phone), &salon);
    let timeout = Duration::from_millis(config.whatsapp.request_timeout_ms);
    if request.sms {
        let Some(sms) = SmsProvider::new(&config.fallback, &tls, timeout) else {
            return usage("--sms: fallback.provider is off".into());
        };
        let text = match config.sms_for(company).template(kind) {
            Some(template) => template.render(&fields),
            None => return usage(format!("--kind {kind}: no SMS text")),
        };
        if let Some(why) = empty(&text, "SMS", kind, salon_id) {
            return usage(why);
        }
        println!("SMS through {} to {phone}:\n  {text}", sms.kind().as_str());
        return match system.block_on(sms.send(&phone, &text)) {
            Ok(receipt) => {
                println!(
                    "sent: id {} ({} part(s) billed); SMS providers report delivery in their own accounts",
                    receipt.provider_id.as_deref().unwrap_or("?"),
                    receipt.parts.map_or("?".into(), |p| p.to_string())
                );
                EXIT_OK
            }
            Err(e) => {
                println!("refused: {e}");
                EXIT_FATAL
            }
        };
    }
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let sender = config.whatsapp_for(company);
    let Some(template) = config.messages_for(company).template(kind) else {
        return usage(format!("--kind {kind}: no text"));
    };
    let text = template.render(&fields);
    if let Some(why) = empty(&text, "WhatsApp", kind, salon_id) {
        return usage(why);
    }
    let key = format!("send-test:{}:{}", company, Utc::now().timestamp());
    println!(
        "WhatsApp ({}) to {phone}, as a {kind} of {}:\n  {}",
        sender.provider.as_str(),
        salon.title,
        text.replace('\n', "\n  ")
    );
    let sent = system.block_on(async {
        let senders = Senders::new(&config, &tls, &logger);
        let outgoing = Outgoing {
            kind,
            idempotency_key: &key,
            phone: &phone,
            text: &text,
            fields: &fields,
            company,
            record: RecordId(0),
            buttons: None,
        };
        senders.for_company(company).1.send(&outgoing).await
    });
    let id = match sent {
        Ok(id) => {
            match &id {
                Some(id) => println!("sent: the provider's message id {id}"),
                None => println!("sent; the provider gave no message id"),
            }
            id
        }
        Err(e) => {
            println!("refused: {e}");
            return EXIT_FATAL;
        }
    };
    match (id, sender.statuses_come_in()) {
        (Some(id), true) => watch(&config, &id),
        _ => println!(
            "cannot tell whether it was delivered: this sender's statuses do not reach the daemon \
             (Cloud API needs app_secret and Meta's webhook, Green API its webhook_token)"
        ),
    }
    EXIT_OK
}

/// The salon as the daemon would show it: YClients' name, address and zone under
/// the config's overrides. When YClients cannot be read, the sample stands in with
/// what the config gives, and says so: a test message must not pass for the real
/// one with a made-up name and no address.
async fn sample_salon(config: &Arc<Config>, company: CompanyId, yclients: &YClients) -> Salon {
    let logger = slog::Logger::root(slog::Discard, slog::o!());
    let live = Arc::new(crate::live::LiveConfig::new(Config::clone(config)));
    let salons = Salons::new(live, logger);
    let mut salon = match salons.get(company, yclients).await {
        Ok(salon) => salon,
        Err(e) => {
            println!(
                "could not read salon {company} from YClients: {}",
                failure(config, &e, e.advice())
            );
            salons.known(company)
        }
    };
    let mut missing = Vec::new();
    if salon.title.is_empty() {
        salon.title = format!("Салон {company}");
        missing.push(format!("no name (the sample says «{}»)", salon.title));
    }
    if salon.address.is_empty() {
        missing.push("no address ({address} is empty)".to_string());
    }
    if !missing.is_empty() {
        println!(
            "the sample has {}: set them under [[companies]], or let the YClients user see the company",
            missing.join(" and ")
        );
    }
    salon
}

/// Why a rendered text must not be sent: it is empty (a template of placeholders
/// whose values are empty for this salon, such as `{address}` alone).
fn empty(text: &str, channel: &str, kind: Kind, salon: i64) -> Option<String> {
    text.trim().is_empty().then(|| {
        format!(
            "the {channel} text of {kind} renders empty for salon {salon}: a client would get \
             an empty message, so nothing was sent"
        )
    })
}

/// A booking tomorrow at noon in the salon's zone, for the template.
fn sample_booking(company: CompanyId, salon: &Salon, phone: &Phone) -> Record {
    let noon = (Utc::now().with_timezone(&salon.timezone).date_naive() + Days::new(1))
        .and_time(NaiveTime::from_hms_opt(12, 0, 0).expect("noon"));
    let visit = salon
        .timezone
        .from_local_datetime(&noon)
        .earliest()
        .unwrap_or_else(|| Utc::now().with_timezone(&salon.timezone));
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%S%z").to_string();
    Record::from_json(json!({
        "id": 0, "company_id": company.0, "staff_id": 1,
        "services": [{"id": 1, "title": "Стрижка", "cost": 1500, "amount": 1}],
        "staff": {"id": 1, "name": "Мастер"},
        "client": {"id": 0, "name": "Проверка", "phone": phone.digits()},
        "datetime": visit.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        "create_date": now, "last_change_date": now,
        "online": false, "attendance": 0, "deleted": false,
    }))
    .expect("the sample booking reads")
}

/// Watches the daemon's database for the message's delivery status.
fn watch(config: &Config, id: &str) {
    let opened = match config.database_location() {
        DatabaseLocation::Sqlite(path) => Db::open_read_only(path),
        DatabaseLocation::Postgres(url) => Db::connect_postgres(url.expose(), &db_options(config)),
    };
    let Ok(db) = opened else {
        println!(
            "cannot tell whether it was delivered: no database to watch (is the daemon running?)"
        );
        return;
    };
    println!(
        "waiting up to {} s for WhatsApp to report it…",
        WATCH.as_secs()
    );
    let started = Instant::now();
    let ids = [id.to_string()];
    while started.elapsed() < WATCH {
        let status = db
            .blocking(|c| store::deliveries(c, &ids))
            .ok()
            .and_then(|rows| rows.into_iter().next());
        if let Some((_, status, error)) = status {
            match Delivery::parse(&status) {
                Some(Delivery::Delivered | Delivery::Read) => {
                    println!("{status} after {:.1} s", started.elapsed().as_secs_f64());
                    return;
                }
                Some(Delivery::Failed) => {
                    println!("not delivered: {}", error.unwrap_or_default());
                    return;
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "no delivered within {} s: the phone may be off, or the daemon does not run or get Meta's callbacks",
        WATCH.as_secs()
    );
}
