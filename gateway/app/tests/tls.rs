//! HTTPS on the front (ALPN h2 and http/1.1) and the HTTP → HTTPS redirect listener.

use std::io::Write;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use switchboard::Gateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    p
}

fn config_with_tls() -> (
    switchboard_config::Config,
    rcgen::CertifiedKey<rcgen::KeyPair>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let dir = std::env::temp_dir().join(format!("switchboard-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = switchboard_config::Config::default();
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    c.http.listen = any;
    c.admin.listen = any;
    c.mqtt.listen = any;
    c.ipc.listen = any;
    c.http.redirect_listen = Some(any);
    c.http.tls_cert = Some(write(&dir, "cert.pem", &cert.cert.pem()));
    c.http.tls_key = Some(write(&dir, "key.pem", &cert.signing_key.serialize_pem()));
    c.fabric.sys_interval_ms = 0;
    (c, cert)
}

#[tokio::test]
async fn the_front_speaks_https_with_h2_and_redirects_plain_http() {
    let (config, cert) = config_with_tls();
    let gw = Gateway::bind(config).await.unwrap();
    let addrs = gw.addresses().clone();
    assert!(addrs.http_tls);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gw.serve(async move {
        let _ = stop_rx.await;
    }));

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let mut client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();

    // ALPN offers h2 first: the front accepts HTTP/2.
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client.clone()));
    let tcp = tokio::net::TcpStream::connect(addrs.http).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(tls);

    // HTTP/1.1 over TLS answers.
    client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addrs.http).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    let _ = tls.read_to_end(&mut resp).await;
    assert!(
        resp.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&resp)
    );

    // The redirect listener sends plain HTTP to the HTTPS port, keeping path and query.
    let mut plain = tokio::net::TcpStream::connect(addrs.redirect.unwrap())
        .await
        .unwrap();
    plain
        .write_all(b"GET /dash?x=1 HTTP/1.1\r\nHost: example.test:80\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    plain.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp).to_lowercase();
    assert!(text.starts_with("http/1.1 308"), "{text}");
    let expected = format!(
        "location: https://example.test:{}/dash?x=1",
        addrs.http.port()
    );
    assert!(text.contains(&expected), "{text}");

    stop_tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_missing_certificate_is_a_config_error_naming_the_key() {
    let (mut config, _) = config_with_tls();
    config.http.tls_cert = Some("/nonexistent/cert.pem".into());
    let err = Gateway::bind(config).await.unwrap_err();
    assert_eq!(err.exit_code(), 64);
    assert!(err.to_string().contains("http.tls_cert"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_pem_is_named() {
    let (config, _) = config_with_tls();
    let bogus = config
        .http
        .tls_key
        .clone()
        .unwrap()
        .with_file_name("bogus.pem");
    std::fs::write(&bogus, "not a key").unwrap();
    let mut config = config;
    config.http.tls_key = Some(bogus.clone());
    let err = Gateway::bind(config).await.unwrap_err();
    assert_eq!(err.exit_code(), 1);
    let text = err.to_string();
    assert!(
        text.contains("http.tls_cert") && text.contains("bogus.pem"),
        "{text}"
    );
}
