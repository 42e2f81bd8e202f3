//! `[tls]`: extra roots to trust, for a TLS-inspecting proxy.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of extra root certificates to trust besides the web's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}
