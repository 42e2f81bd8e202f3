//! One way to build an outgoing HTTP client: awc over rustls with the standard web
//! roots, plus any extra root certificates the config names (a corporate proxy's,
//! or a test server's).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use awc::error::{ConnectError, SendRequestError};
use rustls::pki_types::CertificateDer;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// Trusted roots: the web's, and those of `extra_ca_file` if set.
#[derive(Clone)]
pub struct TlsRoots(Arc<rustls::ClientConfig>);

impl TlsRoots {
    pub fn load(extra_ca_file: Option<&Path>) -> Result<TlsRoots, TlsSetupError> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = extra_ca_file {
            let shown = path.display().to_string();
            for cert in read_pem_certificates(path)? {
                roots.add(cert).map_err(|e| TlsSetupError::Invalid {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsRoots(Arc::new(config)))
    }

    /// A client for one actor (awc clients are not `Send`).
    pub fn client(&self, timeout: Duration) -> awc::Client {
        let connector = awc::Connector::new()
            .rustls_0_23(self.0.clone())
            .timeout(timeout);
        awc::Client::builder()
            .connector(connector)
            .timeout(timeout)
            .disable_redirects()
            .finish()
    }
}

fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsSetupError::Read {
        path: shown.clone(),
        source,
    })?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsSetupError::Invalid {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsSetupError::NoCertificate { path: shown });
    }
    Ok(certs)
}

/// Sends a GET; when the connection it went out on turns out closed by the server
/// before any answer came back (a pooled keep-alive connection whose close we had
/// not seen yet: an HTTP/1.0 server, or a proxy dropping idle connections), sends
/// it once more on a new connection from `fresh`. Only for GETs: the server did
/// not answer, and a GET changes nothing if it did act on it.
///
/// The retry does not take another rate-limiter slot: the first attempt was never
/// answered, so it cost the server nothing it counts.
pub async fn send_get(
    request: awc::ClientRequest,
    fresh: impl FnOnce() -> awc::Client,
) -> Result<awc::ClientResponse, SendRequestError> {
    let method = request.get_method().clone();
    let uri = request.get_uri().clone();
    let headers = request.headers().clone();
    match request.send().await {
        Err(e) if closed_before_answer(&e) => {
            let mut again = fresh().request(method, uri);
            for (name, value) in headers.iter() {
                again = again.append_header((name.clone(), value.clone()));
            }
            again.send().await
        }
        other => other,
    }
}

/// The connection ended before a byte of the answer: awc calls an end of stream
/// there "connector has been disconnected"; a reset shows as an I/O error.
fn closed_before_answer(e: &SendRequestError) -> bool {
    use std::io::ErrorKind;
    let reset = |kind: ErrorKind| {
        matches!(
            kind,
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
        )
    };
    match e {
        SendRequestError::Connect(ConnectError::Disconnected) => true,
        SendRequestError::Connect(ConnectError::Io(io)) | SendRequestError::Send(io) => {
            reset(io.kind())
        }
        SendRequestError::Response(actix_web::error::ParseError::Io(io)) => reset(io.kind()),
        _ => false,
    }
}

/// What a failed send was, in words: awc's own text for a connection closed
/// before the answer ("Failed to connect to host: Internal error: connector has
/// been disconnected") blames the connector for what the server did.
pub fn describe(e: &SendRequestError) -> String {
    if closed_before_answer(e) {
        "the server closed the connection before answering, also when asked again on a new connection"
            .into()
    } else {
        e.to_string()
    }
}
