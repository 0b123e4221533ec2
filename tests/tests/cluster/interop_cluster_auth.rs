//! NATS with credentials and TLS, as production runs it: nats-server started with `--user/--pass`,
//! `--auth <token>`, `--tls` and `--tlsverify` (certificates made here with rcgen). The right
//! `[cluster]` settings link two nodes; wrong ones leave the third node's link down, say which key
//! to fix in `/readyz` and in the log, and its local traffic still flows.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use switchboard_config::{Config, Secret};
use switchboard_fabric::{Message, SubOptions, SubscriberSpec, Topic, TopicFilter};
use switchboard_tests::{TestGateway, http};

use crate::support::{Nats, nats_subscriptions, node_with};

/// A message published on `from` reaches a subscriber on `to`.
async fn crosses(from: &TestGateway, to: &TestGateway, topic: &str) {
    let mut sub = to.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(TopicFilter::new(topic).unwrap(), SubOptions::default());
    nats_subscriptions(to, 1).await;
    from.fabric
        .publish(Message::text(Topic::new(topic).unwrap(), "over"));
    let d = tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("the message crossed")
        .unwrap();
    assert_eq!(d.message.payload_str(), Some("over"));
    assert_eq!(
        d.message.origin.node.as_deref(),
        Some(&**from.fabric.node_id())
    );
}

/// A node whose settings NATS refuses: `/readyz` is degraded and names `key`, the log says it
/// too, local traffic flows, and nothing reaches it from `other`.
async fn refused(bad: &TestGateway, other: &TestGateway, key: &str, log: &Log) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http::get(&bad.admin_url("/readyz")).await;
        if status == 200 && body.contains("degraded") && body.contains(key) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz names {key}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let errors: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("ERROR"))
        .collect();
    assert!(
        errors.iter().any(|l| l.contains(key)),
        "an error in the log names {key}: {errors:?}"
    );
    let m = bad.metrics().await;
    assert!(m.contains("switchboard_cluster_up 0"), "{m}");

    // Local traffic on the refused node is untouched.
    let mut local = bad.fabric.subscriber(SubscriberSpec::new("test", "local"));
    local.subscribe(TopicFilter::new("here/#").unwrap(), SubOptions::default());
    bad.fabric
        .publish(Message::text(Topic::new("here/1").unwrap(), "local"));
    let d = tokio::time::timeout(Duration::from_secs(5), local.recv())
        .await
        .expect("local delivery")
        .unwrap();
    assert_eq!(d.message.payload_str(), Some("local"));

    // Nothing crosses to it.
    let mut remote = bad.fabric.subscriber(SubscriberSpec::new("test", "remote"));
    remote.subscribe(TopicFilter::new("far/#").unwrap(), SubOptions::default());
    other
        .fabric
        .publish(Message::text(Topic::new("far/1").unwrap(), "x"));
    assert!(
        tokio::time::timeout(Duration::from_millis(500), remote.recv())
            .await
            .is_err(),
        "no message through a refused link"
    );
}

#[tokio::test]
async fn interop_cluster_user_and_password() {
    let log = Log::capture();
    let nats = Nats::start_with(|_| args(&["--user", "gw", "--pass", "s3cret-pw"])).await;
    let creds = |password: &'static str| {
        move |c: &mut Config| {
            c.cluster.user = Some("gw".into());
            c.cluster.password = Some(Secret::new(password));
            c.cluster.connect_timeout_ms = 1_000;
        }
    };
    let g1 = node_with(&nats, "n1", creds("s3cret-pw")).await;
    let g2 = node_with(&nats, "n2", creds("s3cret-pw")).await;
    crosses(&g1, &g2, "auth/user").await;
    let (status, body) = http::get(&g1.admin_url("/readyz")).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));

    let g3 = node_with(&nats, "n3", creds("wrong")).await;
    refused(&g3, &g1, "cluster.user and cluster.password", &log).await;
    // No credentials at all: the message says the server needs some.
    let g4 = node_with(&nats, "n4", |c| c.cluster.connect_timeout_ms = 1_000).await;
    refused(&g4, &g1, "set cluster.user and cluster.password", &log).await;
    for g in [g1, g2, g3, g4] {
        g.shutdown().await;
    }
}

#[tokio::test]
async fn interop_cluster_token() {
    let log = Log::capture();
    let nats = Nats::start_with(|_| args(&["--auth", "t0ken-for-gw"])).await;
    let token = |t: &'static str| {
        move |c: &mut Config| {
            c.cluster.token = Some(Secret::new(t));
            c.cluster.connect_timeout_ms = 1_000;
        }
    };
    let g1 = node_with(&nats, "n1", token("t0ken-for-gw")).await;
    let g2 = node_with(&nats, "n2", token("t0ken-for-gw")).await;
    crosses(&g2, &g1, "auth/token").await;
    let g3 = node_with(&nats, "n3", token("not-the-token")).await;
    refused(&g3, &g2, "check cluster.token", &log).await;
    for g in [g1, g2, g3] {
        g.shutdown().await;
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, written into `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A client certificate from another CA.
    stranger_cert: PathBuf,
    stranger_key: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let write = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.self_signed(&key).unwrap();
            (cert, Issuer::new(params, key))
        };
        let leaf = |names: Vec<String>, issuer: &Issuer<'_, KeyPair>| {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, issuer)
                .unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (ca_cert, issuer) = ca("switchboard NATS test CA");
        let (_, other) = ca("some other CA");
        let (sc, sk) = leaf(vec!["localhost".into(), "127.0.0.1".into()], &issuer);
        let (cc, ck) = leaf(vec!["gateway".into()], &issuer);
        let (xc, xk) = leaf(vec!["gateway".into()], &other);
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            server_cert: write("server.pem", sc),
            server_key: write("server-key.pem", sk),
            client_cert: write("client.pem", cc),
            client_key: write("client-key.pem", ck),
            stranger_cert: write("stranger.pem", xc),
            stranger_key: write("stranger-key.pem", xk),
        }
    }
}

#[tokio::test]
async fn interop_cluster_tls_with_server_and_client_certificates() {
    let log = Log::capture();
    // The server proves itself with a certificate from our CA.
    let mut pki = None;
    let nats = Nats::start_with(|dir| {
        let p = Pki::new(dir);
        let a = tls_args(&p, false);
        pki = Some(p);
        a
    })
    .await;
    let pki = Arc::new(pki.unwrap());
    let trusting = |p: &Arc<Pki>| {
        let ca = p.ca.clone();
        move |c: &mut Config| {
            c.cluster.tls_ca = Some(ca);
            c.cluster.connect_timeout_ms = 2_000;
        }
    };
    let g1 = node_with(&nats, "n1", trusting(&pki)).await;
    let g2 = node_with(&nats, "n2", trusting(&pki)).await;
    crosses(&g1, &g2, "tls/server").await;
    // Without our CA the server's certificate is not trusted (system roots only).
    let g3 = node_with(&nats, "n3", |c| {
        c.cluster.tls_required = true;
        c.cluster.connect_timeout_ms = 1_000;
    })
    .await;
    refused(&g3, &g1, "check cluster.tls_ca", &log).await;
    for g in [g1, g2, g3] {
        g.shutdown().await;
    }
    drop(nats);

    // The server also verifies clients (--tlsverify): the nodes present certificates.
    let log = Log::capture();
    let mut pki = None;
    let nats = Nats::start_with(|dir| {
        let p = Pki::new(dir);
        let a = tls_args(&p, true);
        pki = Some(p);
        a
    })
    .await;
    let pki = Arc::new(pki.unwrap());
    let with_cert = |p: &Arc<Pki>, stranger: bool| {
        let ca = p.ca.clone();
        let (cert, key) = if stranger {
            (p.stranger_cert.clone(), p.stranger_key.clone())
        } else {
            (p.client_cert.clone(), p.client_key.clone())
        };
        move |c: &mut Config| {
            c.cluster.tls_ca = Some(ca);
            c.cluster.tls_cert = Some(cert);
            c.cluster.tls_key = Some(key);
            c.cluster.connect_timeout_ms = 2_000;
        }
    };
    let g1 = node_with(&nats, "n1", with_cert(&pki, false)).await;
    let g2 = node_with(&nats, "n2", with_cert(&pki, false)).await;
    crosses(&g2, &g1, "tls/client").await;
    // A certificate from another CA, and none at all: refused.
    let g3 = node_with(&nats, "n3", with_cert(&pki, true)).await;
    refused(&g3, &g1, "cluster.tls_cert/cluster.tls_key", &log).await;
    let ca = pki.ca.clone();
    let g4 = node_with(&nats, "n4", move |c| {
        c.cluster.tls_ca = Some(ca);
        c.cluster.connect_timeout_ms = 1_000;
    })
    .await;
    refused(&g4, &g1, "cluster.tls_cert/cluster.tls_key", &log).await;
    for g in [g1, g2, g3, g4] {
        g.shutdown().await;
    }
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

fn tls_args(p: &Pki, verify: bool) -> Vec<String> {
    let path = |p: &PathBuf| p.display().to_string();
    let mut a = vec![
        "--tls".to_owned(),
        "--tlscert".to_owned(),
        path(&p.server_cert),
        "--tlskey".to_owned(),
        path(&p.server_key),
    ];
    if verify {
        a.extend([
            "--tlsverify".to_owned(),
            "--tlscacert".to_owned(),
            path(&p.ca),
        ]);
    }
    a
}

/// The log lines (level, message and fields) of this test's thread, captured while it lives:
/// `#[tokio::test]` runs the gateways' tasks on that thread.
struct Log {
    rx: std::sync::mpsc::Receiver<String>,
    seen: std::cell::RefCell<Vec<String>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Log {
    fn capture() -> Log {
        let (tx, rx) = std::sync::mpsc::channel();
        Log {
            rx,
            seen: Default::default(),
            _guard: tracing::subscriber::set_default(Sink(tx)),
        }
    }

    fn lines(&self) -> Vec<String> {
        let mut seen = self.seen.borrow_mut();
        seen.extend(self.rx.try_iter());
        seen.clone()
    }
}

/// The subscriber behind [`Log`].
struct Sink(std::sync::mpsc::Sender<String>);

struct Line<'a>(&'a mut String);

impl tracing::field::Visit for Line<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Sink {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Line(&mut line));
        let _ = self.0.send(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
