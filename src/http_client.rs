//! One way to build an outgoing HTTP client: awc over rustls with the standard web
//! roots, plus any extra root certificates the config names (a corporate proxy's,
//! or a test server's).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

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
