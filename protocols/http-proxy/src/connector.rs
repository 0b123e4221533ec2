//! The upstream connector: TCP (optionally bound to `local_address`, resolved and dialled by
//! hyper-util's `HttpConnector`) plus rustls for `https://` targets; [`crate::pool`] calls it
//! for each new connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tower::Service as _;

use crate::config::{ProxyConfig, RouteConfig};
use crate::error::BuildError;

/// Boxed error type of the connector.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Connects to upstreams; one per route, cloned into each of its pools.
#[derive(Clone)]
pub(crate) struct Connector {
    http: HttpConnector,
    tls: Option<TlsConnector>,
    handshake_timeout: Option<Duration>,
}

impl Connector {
    /// Builds the connector for one route. TLS is configured only when the route has an
    /// `https://` upstream.
    pub fn new(
        proxy: &ProxyConfig,
        route: &RouteConfig,
        needs_tls: bool,
    ) -> Result<Self, BuildError> {
        let connect_timeout =
            (proxy.connect_timeout_ms > 0).then(|| Duration::from_millis(proxy.connect_timeout_ms));
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.set_connect_timeout(connect_timeout);
        http.set_local_address(route.local_address);
        let tls = if needs_tls {
            Some(TlsConnector::from(Arc::new(client_tls(route)?)))
        } else {
            None
        };
        Ok(Self {
            http,
            tls,
            handshake_timeout: connect_timeout,
        })
    }
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("http", &self.http)
            .field("tls", &self.tls.is_some())
            .field("handshake_timeout", &self.handshake_timeout)
            .finish()
    }
}

/// The rustls client configuration of a route: `ca` or the web PKI roots, or no verification
/// when `secure = false`. Only HTTP/1.1 is offered through ALPN.
fn client_tls(route: &RouteConfig) -> Result<ClientConfig, BuildError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if !route.secure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match &route.ca {
            Some(path) => {
                let ca_err = |source| BuildError::Ca {
                    path: path.clone(),
                    source,
                };
                let pem = std::fs::read(path).map_err(ca_err)?;
                for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                    roots
                        .add(cert.map_err(ca_err)?)
                        .map_err(|e| ca_err(io::Error::new(io::ErrorKind::InvalidData, e)))?;
                }
                if roots.is_empty() {
                    return Err(ca_err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "no PEM certificate found",
                    )));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `secure = false`: accept any certificate, but still check handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

impl Connector {
    /// Opens a connection to `uri`'s authority: TCP (bound to `local_address` when set,
    /// within `connect_timeout_ms`), then the TLS handshake for `https://` (same limit).
    pub async fn connect(&self, uri: Uri) -> Result<UpstreamStream, BoxError> {
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tcp = self.http.clone().call(uri).await?.into_inner();
        if !https {
            return Ok(UpstreamStream::Plain(tcp));
        }
        let tls = self
            .tls
            .as_ref()
            .ok_or("https upstream without TLS configuration")?;
        let name = ServerName::try_from(host)?;
        let handshake = tls.connect(name, tcp);
        let stream = match self.handshake_timeout {
            Some(limit) => tokio::time::timeout(limit, handshake).await.map_err(|_| {
                io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")
            })??,
            None => handshake.await?,
        };
        Ok(UpstreamStream::Tls(Box::new(stream)))
    }
}

/// A connection to an upstream, plain or TLS.
#[derive(Debug)]
pub(crate) enum UpstreamStream {
    /// `http://`
    Plain(TcpStream),
    /// `https://`
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
