//! `send-test` as an operator meets it: it says when it could not read the salon
//! from YClients (the sample then stands in with what the config gives), never
//! sends an empty message, and says plainly what the provider answered.

use booking_monitor::simulator::Fault;

use crate::helpers::*;

async fn send_test(app: &TestApp, args: &[&str]) -> (Option<i32>, String, String) {
    let company = COMPANY.to_string();
    let mut all = vec!["send-test", "--company", &company, "--phone", "79165550001"];
    all.extend_from_slice(args);
    app.command(&all).await
}

#[actix_rt::test]
async fn send_test_says_when_it_could_not_read_the_salon_from_yclients() {
    let app = prepare(Options::default()).await;
    // Read: the salon's own address is in the message, nothing is said.
    let (code, stdout, stderr) = send_test(&app, &[]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(!stdout.contains("could not read"), "{stdout}");
    let sent = app.sim.world().messages.last().cloned().unwrap();
    assert!(
        sent.text.contains("Москва, ул. Пушкина, 10"),
        "{}",
        sent.text
    );

    // YClients down: said, with what the sample lacks.
    app.sim.change(|w| {
        w.yclients_faults.push_back(Fault::Status {
            status: 503,
            body: "Service Unavailable".into(),
            retry_after: None,
        })
    });
    let (code, stdout, stderr) = send_test(&app, &[]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("could not read salon {COMPANY} from YClients: ")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "the sample has no name (the sample says «Салон {COMPANY}») and no address"
        )),
        "{stdout}"
    );
    let sent = app.sim.world().messages.last().cloned().unwrap();
    assert!(!sent.text.contains("Пушкина"), "{}", sent.text);
}

#[actix_rt::test]
async fn send_test_never_sends_an_empty_message() {
    // A text of placeholders that are empty for this salon renders empty.
    let mut app = prepare(Options {
        company_extra: "address = \"\"\n[companies.messages]\nbooking_created = \"{address}\"\n\
             [companies.sms]\nbooking_created = \" {address} \""
            .into(),
        ..Options::default()
    })
    .await;
    app.options.extra = format!(
        "[fallback]\nprovider = \"webhook\"\nwebhook = {{ url = \"{}\" }}\n",
        app.sim.sms_webhook_url()
    );
    for args in [&[][..], &["--sms"][..]] {
        let (code, stdout, stderr) = send_test(&app, args).await;
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains("text of created renders empty for salon 4564")
                && stderr.contains("nothing was sent"),
            "{args:?}: {stderr}"
        );
    }
    let world = app.sim.world();
    assert!(world.messages.is_empty() && world.sms.is_empty());
}

#[actix_rt::test]
async fn send_test_says_in_words_that_the_provider_gave_no_message_id() {
    // A gateway that accepts the message and answers with no id.
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().route(
            "/send",
            actix_web::web::post().to(|| async { actix_web::HttpResponse::Ok().finish() }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let gateway = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    let mut app = prepare(Options {
        whatsapp_provider: Some("webhook"),
        ..Options::default()
    })
    .await;
    app.options.extra = format!("[whatsapp.webhook]\nurl = \"http://{gateway}/send\"\n");
    let (code, stdout, stderr) = send_test(&app, &[]).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("sent; the provider gave no message id"),
        "{stdout}"
    );
    assert!(!stdout.contains("(none given)"), "{stdout}");
    handle.stop(false).await;
}
