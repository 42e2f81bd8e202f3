//! The client's say on the command line: `optout add|remove|list` for a client
//! who asked at the desk, and `forget` for one who asked to be erased (DESIGN:
//! "The client's say").

use chrono::Utc;
use clap::Subcommand;

use crate::command_support::{open_existing, EXIT_BAD_CONFIG, EXIT_FATAL, EXIT_OK};
use crate::config::{Config, DatabaseLocation, SenderScope};
use crate::domain::{mask_phone, CompanyId, Phone};
use crate::store::{self, Db, OptSource, Serialize, StoreError};

#[derive(Debug, Subcommand)]
pub enum OptoutAction {
    /// The client asked us to stop: no notice, answer or SMS to that phone from
    /// this salon, nor from the salons that share its WhatsApp sender.
    Add {
        /// The salon (one of the config's [[companies]]).
        #[arg(long, value_name = "ID")]
        company: i64,
        /// The client's phone, in any format (+7 916 123-45-67, 89161234567…).
        #[arg(long, value_name = "PHONE")]
        phone: String,
    },
    /// The client wants our messages again: what is still to come goes out.
    Remove {
        #[arg(long, value_name = "ID")]
        company: i64,
        #[arg(long, value_name = "PHONE")]
        phone: String,
    },
    /// The salon's clients who asked us to stop, newest first (phones masked).
    List {
        #[arg(long, value_name = "ID")]
        company: i64,
        /// Only this phone: whether it asked.
        #[arg(long, value_name = "PHONE")]
        phone: Option<String>,
    },
}

/// `booking-monitor optout …`.
pub fn optout(config: Config, action: OptoutAction) -> i32 {
    let (company, phone) = match &action {
        OptoutAction::Add { company, phone } | OptoutAction::Remove { company, phone } => {
            (*company, Some(phone.as_str()))
        }
        OptoutAction::List { company, phone } => (*company, phone.as_deref()),
    };
    let Some(scope) = config.scope_of_company(CompanyId(company)) else {
        eprintln!("booking-monitor: company {company} is not in the config's [[companies]]");
        return EXIT_BAD_CONFIG;
    };
    let phone = match phone.map(parse_phone).transpose() {
        Ok(phone) => phone,
        Err(code) => return code,
    };
    let db = match open_existing(&config) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let done = match (action, phone) {
        (OptoutAction::Add { .. }, Some(phone)) => add(&db, &scope, &phone),
        (OptoutAction::Remove { .. }, Some(phone)) => remove(&db, &scope, &phone),
        (_, phone) => list(&db, CompanyId(company), phone.as_ref(), &config),
    };
    match done {
        Ok(said) => {
            print!("{said}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            EXIT_FATAL
        }
    }
}

fn salons(scope: &SenderScope) -> String {
    let ids: Vec<String> = scope.salons.iter().map(|c| c.0.to_string()).collect();
    format!("{} (sender {})", ids.join(", "), scope.name)
}

fn add(db: &Db, scope: &SenderScope, phone: &Phone) -> Result<String, StoreError> {
    let added = db.blocking(|c| {
        store::write_transaction(c, Serialize::Replies, |c| {
            let how = (OptSource::Command, "optout add");
            store::opt_out(c, &scope.salons, phone.digits(), how, Utc::now())
        })
    })?;
    let who = mask_phone(phone.digits());
    Ok(match added {
        0 => format!("{who} had already asked {} to stop\n", salons(scope)),
        _ => format!("{who} will get nothing more from {}\n", salons(scope)),
    })
}

fn remove(db: &Db, scope: &SenderScope, phone: &Phone) -> Result<String, StoreError> {
    let (removed, reopened) = db.blocking(|c| {
        store::write_transaction(c, Serialize::Replies, |c| {
            let source = OptSource::Command;
            store::opt_in(c, &scope.salons, phone.digits(), source, Utc::now())
        })
    })?;
    let who = mask_phone(phone.digits());
    Ok(match removed {
        0 => format!("{who} had not asked {} to stop\n", salons(scope)),
        _ => format!(
            "{who} hears from {} again ({} notice(s) still to come will go out)\n",
            salons(scope),
            reopened.len()
        ),
    })
}

fn list(
    db: &Db,
    company: CompanyId,
    phone: Option<&Phone>,
    config: &Config,
) -> Result<String, StoreError> {
    let stops = db.blocking(|c| store::optouts(c, Some(company)))?;
    let tz = config
        .companies
        .iter()
        .find(|c| c.id == company.0)
        .and_then(|c| c.timezone)
        .unwrap_or(config.monitor.default_timezone);
    let mut out = String::new();
    let shown = stops
        .iter()
        .filter(|s| phone.is_none_or(|p| p.digits() == s.phone));
    for s in shown {
        out.push_str(&format!(
            "{}  since {}  by {} ({})\n",
            mask_phone(&s.phone),
            s.since
                .and_utc()
                .with_timezone(&tz)
                .format("%Y-%m-%d %H:%M %Z"),
            s.source,
            s.via
        ));
    }
    if out.is_empty() {
        out = match phone {
            Some(p) => format!(
                "{} has not asked company {company} to stop\n",
                mask_phone(p.digits())
            ),
            None => format!("no client has asked company {company} to stop\n"),
        };
    }
    Ok(out)
}

/// `booking-monitor forget --phone PHONE [--undo]`.
pub fn forget(config: Config, phone: &str, undo: bool) -> i32 {
    let phone = match parse_phone(phone) {
        Ok(phone) => phone,
        Err(code) => return code,
    };
    let db = match open_existing(&config) {
        Ok(db) => db,
        Err(code) => return code,
    };
    let who = mask_phone(phone.digits());
    if undo {
        return match db.blocking(|c| store::unforget(c, phone.digits())) {
            Ok(true) => {
                println!("{who}: later bookings are stored and notified again");
                EXIT_OK
            }
            Ok(false) => {
                println!("{who} was not forgotten");
                EXIT_OK
            }
            Err(e) => {
                eprintln!("booking-monitor: {e}");
                EXIT_FATAL
            }
        };
    }
    let erased = match db.blocking(|c| store::forget(c, phone.digits(), Utc::now())) {
        Ok(erased) => erased,
        Err(e) => {
            eprintln!("booking-monitor: {e}");
            return EXIT_FATAL;
        }
    };
    println!(
        "{who}: erased {} booking(s), {} notification(s), {} delivery status(es), {} repl(ies), {} stop(s), {} changed number(s){}",
        erased.bookings,
        erased.notifications,
        erased.deliveries,
        erased.replies,
        erased.optouts,
        erased.number_changes,
        if erased.already { " (it was forgotten before)" } else { "" }
    );
    if let DatabaseLocation::Sqlite(path) = config.database_location() {
        match crate::erasure::scrub_sqlite(&db, path, phone.digits()) {
            Ok(note) => println!("{note}"),
            Err(e) => {
                eprintln!("booking-monitor: {e}");
                return EXIT_FATAL;
            }
        }
    }
    println!("its later bookings are skipped and never stored; `forget --undo` lifts that");
    EXIT_OK
}

/// `--phone` in any format; a value that is not a phone is bad usage (exit 2).
fn parse_phone(raw: &str) -> Result<Phone, i32> {
    Phone::parse(raw).map_err(|e| {
        eprintln!("booking-monitor: --phone: {e}");
        EXIT_BAD_CONFIG
    })
}
