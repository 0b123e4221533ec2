//! TLS termination with rustls: certificates loaded from PEM files and reloaded on SIGHUP.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::error::RunError;

/// A certificate and key that can be swapped while the server runs.
pub struct ReloadableCert {
    key: &'static str,
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish()
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

impl ReloadableCert {
    /// Loads `cert_path` and `key_path`; `key` is the config key reported in errors.
    pub fn load(key: &'static str, cert_path: &Path, key_path: &Path) -> Result<Self, RunError> {
        let ck = load_certified_key(key, cert_path, key_path)?;
        Ok(ReloadableCert {
            key,
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(Arc::new(ck)),
        })
    }

    /// Loads the files again; on failure the previous certificate stays in use.
    pub fn reload(&self) -> Result<(), RunError> {
        let ck = load_certified_key(self.key, &self.cert_path, &self.key_path)?;
        *self.current.write() = Arc::new(ck);
        Ok(())
    }
}

fn tls_err(key: &'static str, message: String) -> RunError {
    RunError::Tls { key, message }
}

fn load_certified_key(
    key: &'static str,
    cert_path: &Path,
    key_path: &Path,
) -> Result<CertifiedKey, RunError> {
    let certs = load_certs(key, cert_path)?;
    let pem = std::fs::read(key_path)
        .map_err(|e| tls_err(key, format!("cannot read {}: {e}", key_path.display())))?;
    let private = rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| tls_err(key, format!("{} is not PEM: {e}", key_path.display())))?
        .ok_or_else(|| tls_err(key, format!("{} holds no private key", key_path.display())))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| tls_err(key, format!("{}: {e}", key_path.display())))?;
    Ok(CertifiedKey::new(certs, signing))
}

/// Reads every certificate of a PEM file.
pub fn load_certs(
    key: &'static str,
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, RunError> {
    let pem = std::fs::read(path)
        .map_err(|e| tls_err(key, format!("cannot read {}: {e}", path.display())))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err(key, format!("{} is not PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_err(
            key,
            format!("{} holds no certificate", path.display()),
        ));
    }
    Ok(certs)
}

/// A TLS acceptor for the HTTP front (ALPN `h2` and `http/1.1`) and its reloadable certificate.
pub fn http_acceptor(cert: Arc<ReloadableCert>) -> Result<TlsAcceptor, RunError> {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("http.tls_cert", e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A TLS acceptor for the MQTT TLS listener. With `client_ca`, clients must present a certificate
/// signed by one of its CAs (mosquitto's `require_certificate` with `cafile`).
pub fn mqtt_acceptor(
    cert: Arc<ReloadableCert>,
    client_ca: Option<&Path>,
) -> Result<TlsAcceptor, RunError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("mqtt.cert", e.to_string()))?;
    let config = match client_ca {
        None => builder.with_no_client_auth().with_cert_resolver(cert),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in load_certs("mqtt.client_ca", path)? {
                roots
                    .add(c)
                    .map_err(|e| tls_err("mqtt.client_ca", format!("{}: {e}", path.display())))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| tls_err("mqtt.client_ca", e.to_string()))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_cert_resolver(cert)
        }
    };
    Ok(TlsAcceptor::from(Arc::new(config)))
}
