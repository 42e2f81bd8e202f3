//! The demo's second chapter: a second salon with its own WhatsApp number, whose
//! confirmations (like the first salon's) ask the client to answer. One client
//! taps «Подтверждаю» (the visit turns «Подтвердил» in the simulated YClients), one
//! asks to come an hour later, one cannot come; one has no WhatsApp and gets an
//! SMS. The staff hear in Telegram.

use chrono::NaiveDateTime;

use super::{say, DemoError, WAIT};
use crate::domain::mask_phone;
use crate::simulator::{
    inbound_id, meta_message, post_to_daemon, Booking, ClientMessage, Fault, SentMessage, Simulator,
};

pub const SALON: i64 = 4565;
pub const SALON_NAME: &str = "Барбершоп на Тверской";
pub const NUMBER: &str = "200300400";

/// The second salon's tables for the demo's config: its own sender, with an
/// approved template (two quick-reply buttons) for the confirmation.
pub fn config(sim: &Simulator, app_secret: &str) -> String {
    format!(
        "[[companies]]\nid = {SALON}\nstaff_telegram_chat_id = -100{SALON}\n\
         [companies.whatsapp]\nprovider = \"cloud_api\"\n\
         [companies.whatsapp.cloud_api]\nbase_url = \"{cloud}\"\nphone_number_id = \"{NUMBER}\"\n\
         access_token = \"demo-access-token-b\"\napp_secret = \"{app_secret}\"\n\
         templates = {{ created = {{ name = \"visit_confirmation\", parameters = [\"client_name\", \"date\", \"time\"] }} }}\n",
        cloud = sim.cloud_api_url(),
    )
}

/// What the chapter made, for the summary.
pub struct Chapter {
    pub names: Vec<(i64, &'static str)>,
}

pub async fn play(
    sim: &Simulator,
    page: &str,
    app_secret: &str,
    at: impl Fn(u32, u32) -> NaiveDateTime,
) -> Result<Chapter, DemoError> {
    say(&format!(
        "{SALON_NAME} has its own WhatsApp number; its confirmations, like the first salon's, ask the client to answer (here with two buttons)."
    ));
    let clients = [
        ("Жанна", "79167770001", at(11, 0)),
        ("Зоя", "79167770002", at(12, 0)),
        ("Илья", "79167770003", at(13, 0)),
    ];
    let mut names = Vec::new();
    for (name, phone, visit) in clients {
        names.push((
            sim.create(Booking::by_admin(SALON, name, phone, visit)),
            name,
        ));
    }
    let before = sim.world().messages.len();
    let confirmations = sim.wait_for_messages(before + 3, WAIT).await?;
    let ours: Vec<&SentMessage> = confirmations
        .iter()
        .filter(|m| m.sender == NUMBER)
        .collect();
    let to = |phone: &str| {
        ours.iter()
            .rev()
            .find(|m| m.phone == phone)
            .map(|m| (*m).clone())
            .ok_or_else(|| DemoError::Failed(format!("no confirmation to {}", mask_phone(phone))))
    };
    let (zhanna, zoya, ilya) = (to(clients[0].1)?, to(clients[1].1)?, to(clients[2].1)?);
    let url = format!("{page}webhooks/whatsapp");
    let reply = |who: &SentMessage, name: &str, message: ClientMessage, quoting: bool| {
        let body = meta_message(
            NUMBER,
            &who.phone,
            name,
            &inbound_id(),
            &message,
            quoting.then_some(who.id.as_str()),
        );
        let url = url.clone();
        async move { post_to_daemon(&url, &body, Some(app_secret)).await }
    };
    say("Жанна taps «Подтверждаю»; Зоя writes «да, но можно на час позже?»; Илья writes «не смогу».");
    let payload = zhanna.button_payload(0).unwrap_or_default();
    let tap = ClientMessage::Button {
        payload,
        title: "Подтверждаю".into(),
    };
    reply(&zhanna, "Жанна", tap, true).await;
    reply(
        &zoya,
        "Зоя",
        ClientMessage::Text("да, но можно на час позже?".into()),
        false,
    )
    .await;
    reply(&ilya, "Илья", ClientMessage::Text("не смогу".into()), false).await;
    let zhanna_id = names[0].0;
    sim.wait_until(WAIT, |w| {
        let confirmed = w.record(zhanna_id).is_some_and(|r| r["attendance"] == 2);
        (confirmed && w.telegram.len() >= 2 && w.messages.len() >= before + 6).then_some(())
    })
    .await?;
    say("The simulated YClients now shows Жанна's visit «Подтвердил»; the staff's Telegram got two alerts.");

    say("Кира has no WhatsApp: Meta refuses her confirmation (131026), so it goes by SMS.");
    sim.change(|w| {
        w.whatsapp_faults.push_back(Fault::Status {
            status: 400,
            body:
                serde_json::json!({"error": {"message": "Message undeliverable", "code": 131026}})
                    .to_string(),
            retry_after: None,
        })
    });
    names.push((
        sim.create(Booking::by_admin(SALON, "Кира", "79167770004", at(15, 0))),
        "Кира",
    ));
    sim.wait_until(WAIT, |w| (!w.sms.is_empty()).then_some(()))
        .await?;
    Ok(Chapter { names })
}

/// The chapter's lines of the summary: which number sent what, what the staff
/// were told, the SMS, and the visit confirmed in YClients.
pub fn summary(sim: &Simulator) -> String {
    let world = sim.world();
    let mut out = String::from("  Messages by sender:\n");
    let mut senders: Vec<&str> = world.messages.iter().map(|m| m.sender.as_str()).collect();
    senders.sort_unstable();
    senders.dedup();
    for sender in senders {
        let whose = if sender == NUMBER {
            SALON_NAME
        } else {
            super::COMPANY_NAME
        };
        let n = world.messages.iter().filter(|m| m.sender == sender).count();
        out.push_str(&format!("    number {sender} ({whose}): {n}\n"));
    }
    out.push_str(&format!(
        "  The staff were told (Telegram, {}):\n",
        world.telegram.len()
    ));
    for alert in &world.telegram {
        // Masked here: a demo's output is no place for a client's whole number.
        let first = alert.text.lines().next().unwrap_or("");
        let client = alert
            .text
            .lines()
            .find(|l| l.starts_with("Клиент:"))
            .map(|l| l.split(", +").next().unwrap_or(l).to_string())
            .unwrap_or_default();
        let said = alert
            .text
            .lines()
            .find(|l| l.starts_with("Сообщение:") || l.starts_with("Причина:"))
            .unwrap_or("");
        out.push_str(&format!("    {first} {client}; {said}\n"));
    }
    for sms in &world.sms {
        out.push_str(&format!(
            "  SMS ({}) to {}: {}\n",
            sms.provider,
            mask_phone(&sms.phone),
            sms.text
        ));
    }
    let puts = world.requests.iter().filter(|r| r.method == "PUT").count();
    out.push_str(&format!(
        "  Visits marked «Подтвердил» in YClients by the daemon: {puts}\n"
    ));
    out
}
