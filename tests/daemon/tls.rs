//! The real APIs are HTTPS only: the client speaks TLS with rustls, trusting the
//! web's roots and the config's `tls.ca_file`.

use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use booking_monitor::config::Config;
use booking_monitor::domain::CompanyId;
use booking_monitor::http_client::TlsRoots;
use booking_monitor::yclients::{RateLimiter, YClients, YClientsError};

async fn https_server() -> (String, String, actix_web::dev::ServerHandle) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let server = HttpServer::new(|| {
        App::new().route(
            "/api/v1/company/{id}",
            web::get().to(|| async {
                HttpResponse::Ok().body(include_str!(
                    "../fixtures/yclients/docs_get_company_200.json"
                ))
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind_rustls_0_23(("127.0.0.1", 0), tls)
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (format!("https://localhost:{port}"), cert_pem, handle)
}

fn yclients_config(base_url: &str) -> Config {
    let text = format!(
        "[database]\nurl = \"sqlite://x.db\"\n[yclients]\nbase_url = \"{base_url}\"\npartner_token = \"p\"\nuser_token = \"u\"\n\
         [[companies]]\nid = 37532\n[whatsapp]\nprovider = \"log\"\n"
    );
    Config::parse(&text, &|_| None).unwrap()
}

#[actix_rt::test]
async fn speaks_https_to_a_server_whose_certificate_it_is_told_to_trust() {
    let (url, cert_pem, handle) = https_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert_pem).unwrap();
    let config = yclients_config(&url);
    let limiter = Arc::new(RateLimiter::new(5, 200));

    let trusting = YClients::new(
        &config.yclients,
        &TlsRoots::load(Some(&ca)).unwrap(),
        limiter.clone(),
    );
    let company = trusting.company(CompanyId(37532)).await.unwrap();
    assert_eq!(company.title, "Новая компания");
    assert_eq!(company.timezone.as_deref(), Some("Europe/Moscow"));

    // Without the test certificate, the web's roots alone refuse it.
    let strict = YClients::new(&config.yclients, &TlsRoots::load(None).unwrap(), limiter);
    let err = strict.company(CompanyId(37532)).await.unwrap_err();
    assert!(matches!(err, YClientsError::Transport(_)), "{err:?}");
    handle.stop(false).await;
}
