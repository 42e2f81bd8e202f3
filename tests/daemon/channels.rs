//! The other outgoing channels' clients against the simulator's Telegram and SMS
//! providers over real HTTP: what each sends, and how each answer is sorted into
//! retry, pause and permanent, with no secret and no whole phone in any error.

use std::time::Duration;

use booking_monitor::config::{
    FallbackConfig, Secret, SmsProviderKind, SmsRuConfig, SmsWebhookConfig, SmscConfig,
};
use booking_monitor::domain::Phone;
use booking_monitor::http_client::TlsRoots;
use booking_monitor::simulator::{Fault, Simulator};
use booking_monitor::sms::{SmsProvider, SmsReceipt};
use booking_monitor::telegram::Telegram;
use booking_monitor::whatsapp::SendError;
use serde_json::json;

use crate::helpers::PATIENCE;

const TOKEN: &str = "123456789:AAHsecret-bot-token-0123456789";
const API_ID: &str = "SMSRU-API-ID-5f3c9e2a-secret";
const PASSWORD: &str = "smsc-password-7d1e-secret";
const PHONE: &str = "79161234567";
const CHAT: i64 = -1_001_234_567_890;
/// Short on loopback; a stalled answer runs past it.
const TIMEOUT: Duration = Duration::from_secs(1);

fn tls() -> TlsRoots {
    TlsRoots::load(None).expect("the web's roots")
}

fn phone() -> Phone {
    Phone::parse(PHONE).unwrap()
}

fn status(status: u16, body: serde_json::Value) -> Fault {
    Fault::Status {
        status,
        body: body.to_string(),
        retry_after: None,
    }
}

fn raw(status: u16, body: &str) -> Fault {
    Fault::Status {
        status,
        body: body.into(),
        retry_after: None,
    }
}

fn stall() -> Fault {
    Fault::Stall(Duration::from_secs(30))
}

/// Neither the error's words nor its `Debug` carry a secret or the whole number.
fn assert_clean(e: &SendError, secret: &str) {
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(secret), "a secret in {shown}");
        assert!(!shown.contains(PHONE), "a whole phone in {shown}");
    }
}

/// A fault to answer with, how its error must be sorted, and words it must say.
type Case = (Fault, fn(&SendError) -> bool, &'static str);

fn is_retryable(e: &SendError) -> bool {
    matches!(e, SendError::Retryable { .. })
}
fn is_paused(e: &SendError) -> bool {
    matches!(e, SendError::Paused { .. })
}
fn is_permanent(e: &SendError) -> bool {
    matches!(e, SendError::Permanent { .. })
}

#[actix_rt::test]
async fn a_staff_alert_goes_to_the_chat_and_returns_telegrams_message_id() {
    let sim = Simulator::start().await.unwrap();
    sim.change(|w| w.telegram_token = Some(TOKEN.into()));
    let bot = Telegram::new(&sim.telegram_url(), &Secret::new(TOKEN), &tls(), TIMEOUT);
    assert_eq!(bot.send(CHAT, "Клиент просит отменить запись").await, Ok(1));
    assert_eq!(bot.send(CHAT, "второе").await, Ok(2));
    let sent = sim.wait_for_telegram(2, PATIENCE).await.unwrap();
    assert_eq!(sent[0].chat_id, CHAT);
    assert_eq!(sent[0].text, "Клиент просит отменить запись");
    assert_eq!(sent[0].body["disable_web_page_preview"], json!(true));
    let path = sim.world().requests[0].path.clone();
    assert_eq!(path, format!("/telegram/bot{TOKEN}/sendMessage"));
    assert!(!format!("{bot:?}").contains("AAHsecret"), "{bot:?}");
}

#[actix_rt::test]
async fn telegrams_answers_are_sorted_and_never_show_the_token() {
    let sim = Simulator::start().await.unwrap();
    let bot = Telegram::new(&sim.telegram_url(), &Secret::new(TOKEN), &tls(), TIMEOUT);
    let refusal = |code: u16, description: &str| {
        status(
            code,
            json!({"ok": false, "error_code": code, "description": description}),
        )
    };
    let cases: Vec<Case> = vec![
        (
            refusal(403, "Forbidden: bot was kicked from the supergroup chat"),
            is_permanent,
            "Telegram 403: Forbidden: bot was kicked",
        ),
        (
            status(
                400,
                json!({"ok": false, "error_code": 400,
                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                "parameters": {"migrate_to_chat_id": -1001999}}),
            ),
            is_permanent,
            "the supergroup -1001999",
        ),
        (refusal(401, "Unauthorized"), is_paused, "Telegram 401"),
        (
            refusal(500, "Internal Server Error"),
            is_retryable,
            "Telegram 500",
        ),
        (
            raw(502, "<html>Bad Gateway</html>"),
            is_retryable,
            "Bad Gateway",
        ),
        // A 200 without a message id may have gone out: tried again.
        (raw(200, "<html>ok</html>"), is_retryable, "no message id"),
        (stall(), is_retryable, "no answer"),
        // An answer quoting the URL, token and all.
        (
            raw(500, &format!("upstream /bot{TOKEN}/sendMessage failed")),
            is_retryable,
            "/bot[redacted]/sendMessage",
        ),
    ];
    for (fault, expected, says) in cases {
        sim.change(|w| w.telegram_faults.push_back(fault.clone()));
        let e = bot.send(CHAT, "x").await.unwrap_err();
        assert!(expected(&e), "{fault:?}: {e:?}");
        assert!(e.to_string().contains(says), "{fault:?}: {e}");
        assert_clean(&e, "AAHsecret");
    }

    // Flood control: wait as long as Telegram says.
    sim.change(|w| {
        w.telegram_faults.push_back(status(
            429,
            json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}),
        ))
    });
    match bot.send(CHAT, "x").await {
        Err(SendError::Retryable { retry_after, .. }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)))
        }
        other => panic!("{other:?}"),
    }

    // The simulator's own answers: a chat that is gone, a token it does not know
    // (401) or cannot parse (404).
    sim.change(|w| w.telegram_missing_chats.insert(CHAT));
    let e = bot.send(CHAT, "x").await.unwrap_err();
    assert!(
        is_permanent(&e) && e.to_string().contains("chat not found"),
        "{e}"
    );
    sim.change(|w| w.telegram_token = Some("1:other".into()));
    let e = bot.send(7, "x").await.unwrap_err();
    assert!(is_paused(&e), "{e:?}");
    assert_clean(&e, "AAHsecret");
    let malformed = Telegram::new(
        &sim.telegram_url(),
        &Secret::new("no-colon-token-secret"),
        &tls(),
        TIMEOUT,
    );
    let e = malformed.send(7, "x").await.unwrap_err();
    assert!(
        is_paused(&e) && e.to_string().contains("Telegram 404"),
        "{e}"
    );
    assert_clean(&e, "no-colon-token-secret");
    assert!(sim.world().telegram.is_empty());

    // Nobody listening at all.
    let port = crate::helpers::free_port();
    let gone = Telegram::new(
        &format!("http://127.0.0.1:{port}"),
        &Secret::new(TOKEN),
        &tls(),
        TIMEOUT,
    );
    let e = gone.send(CHAT, "x").await.unwrap_err();
    assert!(is_retryable(&e), "{e:?}");
    assert_clean(&e, "AAHsecret");
}

fn fallback(provider: SmsProviderKind, sim: &Simulator) -> FallbackConfig {
    FallbackConfig {
        provider,
        sms_ru: SmsRuConfig {
            base_url: sim.sms_ru_url(),
            api_id: Secret::new(API_ID),
            from: "Salon".into(),
        },
        smsc: SmscConfig {
            base_url: sim.smsc_url(),
            login: "salon".into(),
            password: Secret::new(PASSWORD),
            sender: "Salon".into(),
        },
        webhook: SmsWebhookConfig {
            url: sim.sms_webhook_url(),
            token: Secret::new("gateway-token"),
        },
        ..FallbackConfig::default()
    }
}

fn provider(config: &FallbackConfig) -> SmsProvider {
    SmsProvider::new(config, &tls(), TIMEOUT).expect("a provider")
}

/// Sends once per fault queued, checking how each answer is sorted.
async fn sort(sim: &Simulator, sms: &SmsProvider, secret: &str, cases: Vec<Case>) {
    for (fault, expected, says) in cases {
        sim.change(|w| w.sms_faults.push_back(fault.clone()));
        let e = sms.send(&phone(), "Текст").await.unwrap_err();
        assert!(expected(&e), "{fault:?}: {e:?}");
        assert!(e.to_string().contains(says), "{fault:?}: {e}");
        assert_clean(&e, secret);
    }
}

#[actix_rt::test]
async fn sms_ru_gets_the_documented_form_and_its_answers_are_sorted() {
    let sim = Simulator::start().await.unwrap();
    assert!(SmsProvider::new(&FallbackConfig::default(), &tls(), TIMEOUT).is_none());
    let sms = provider(&fallback(SmsProviderKind::SmsRu, &sim));
    assert_eq!(sms.kind(), SmsProviderKind::SmsRu);
    // Characters a form must escape arrive as they were.
    let text = "Студия: вы записаны на 1 & 2, +7 (495) 100% = ок";
    let receipt = sms.send(&phone(), text).await.unwrap();
    assert_eq!(
        receipt,
        SmsReceipt {
            provider_id: Some("000000-10000001".into()),
            parts: None
        }
    );
    let sent = sim.wait_for_sms(1, PATIENCE).await.unwrap();
    assert_eq!(
        (sent[0].provider, sent[0].phone.as_str()),
        ("sms_ru", PHONE)
    );
    assert_eq!(sent[0].text, text);
    assert_eq!(
        sent[0].body,
        json!({"api_id": API_ID, "to": PHONE, "msg": text, "json": "1", "from": "Salon"})
    );

    let top = |code: u16, text: &str| {
        status(
            200,
            json!({"status": "ERROR", "status_code": code, "status_text": text}),
        )
    };
    sort(
        &sim,
        &sms,
        API_ID,
        vec![
            (
                top(200, "Неправильный api_id"),
                is_paused,
                "Неправильный api_id (code 200)",
            ),
            (
                top(201, "Не хватает средств на лицевом счету"),
                is_paused,
                "code 201",
            ),
            (
                top(220, "Сервис временно недоступен"),
                is_retryable,
                "code 220",
            ),
            (raw(503, "Service Unavailable"), is_retryable, "SMS.ru 503"),
            (raw(200, "<html>"), is_retryable, "cannot read"),
            (stall(), is_retryable, "no answer"),
            (
                raw(500, &format!("api_id={API_ID} to={PHONE}")),
                is_retryable,
                "api_id=[redacted] to=7916***4567",
            ),
        ],
    )
    .await;

    // One number refused while the account is fine: this message's end.
    sim.change(|w| w.sms_refused_phones.insert(PHONE.into()));
    let e = sms.send(&phone(), "x").await.unwrap_err();
    assert!(is_permanent(&e), "{e:?}");
    assert!(
        e.to_string()
            .contains("нельзя отправлять сообщения (code 207)"),
        "{e}"
    );
    assert_clean(&e, API_ID);
    assert_eq!(sim.world().sms.len(), 1);
}

#[actix_rt::test]
async fn smsc_gets_the_documented_form_and_its_error_codes_are_sorted() {
    let sim = Simulator::start().await.unwrap();
    let sms = provider(&fallback(SmsProviderKind::Smsc, &sim));
    // 71 Cyrillic letters: two UCS-2 parts.
    let text = "я".repeat(71);
    let receipt = sms.send(&phone(), &text).await.unwrap();
    assert_eq!(
        receipt,
        SmsReceipt {
            provider_id: Some("1".into()),
            parts: Some(2)
        }
    );
    let sent = sim.wait_for_sms(1, PATIENCE).await.unwrap();
    assert_eq!(sent[0].provider, "smsc");
    assert_eq!(
        sent[0].body,
        json!({"login": "salon", "psw": PASSWORD, "phones": PHONE, "mes": text,
            "fmt": "3", "charset": "utf-8", "sender": "Salon"})
    );

    let error = |code: u16| status(200, json!({"error": "words", "error_code": code}));
    let mut cases: Vec<Case> = vec![
        (error(2), is_paused, "SMSC error 2"),
        (error(3), is_paused, "SMSC error 3"),
        (error(4), is_paused, "SMSC error 4"),
        (error(9), is_retryable, "SMSC error 9"),
        (raw(502, "Bad Gateway"), is_retryable, "SMSC 502"),
        (raw(200, "OK - 1 SMS"), is_retryable, "cannot read"),
        (stall(), is_retryable, "no answer"),
    ];
    for code in [1, 5, 6, 7, 8] {
        cases.push((error(code), is_permanent, "SMSC error"));
    }
    sort(&sim, &sms, PASSWORD, cases).await;

    sim.change(|w| w.sms_refused_phones.insert(PHONE.into()));
    let e = sms.send(&phone(), "x").await.unwrap_err();
    assert!(
        is_permanent(&e) && e.to_string().contains("SMSC error 8"),
        "{e:?}"
    );
    // A login the simulator refuses: the account's trouble.
    let mut config = fallback(SmsProviderKind::Smsc, &sim);
    config.smsc.password = Secret::new("");
    let e = provider(&config).send(&phone(), "x").await.unwrap_err();
    assert!(
        is_paused(&e) && e.to_string().contains("authorise error"),
        "{e:?}"
    );
    assert_eq!(sim.world().sms.len(), 1);
}

#[actix_rt::test]
async fn the_sms_webhook_gets_phone_and_text_and_its_statuses_are_sorted() {
    let sim = Simulator::start().await.unwrap();
    let sms = provider(&fallback(SmsProviderKind::Webhook, &sim));
    let receipt = sms.send(&phone(), "Текст").await.unwrap();
    assert_eq!(receipt.provider_id.as_deref(), Some("sms-1"));
    let sent = sim.wait_for_sms(1, PATIENCE).await.unwrap();
    assert_eq!(sent[0].body, json!({"phone": PHONE, "text": "Текст"}));
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some("Bearer gateway-token")
    );

    sort(
        &sim,
        &sms,
        "gateway-token",
        vec![
            (
                raw(422, "{\"error\":\"bad text\"}"),
                is_permanent,
                "SMS webhook 422",
            ),
            (raw(429, "slow down"), is_retryable, "SMS webhook 429"),
            (raw(503, "down"), is_retryable, "SMS webhook 503"),
            (stall(), is_retryable, "no answer"),
        ],
    )
    .await;
    sim.change(|w| w.sms_refused_phones.insert(PHONE.into()));
    let e = sms.send(&phone(), "x").await.unwrap_err();
    assert!(
        is_permanent(&e) && e.to_string().contains("SMS webhook 400"),
        "{e:?}"
    );
    assert_eq!(sim.world().sms.len(), 1);
}
