//! `switchboard pub` / `switchboard sub` as a library (crate `switchboard-cli`) against an
//! in-process gateway: every option over the protocols that take it, the exit codes, the
//! cross-protocol path (IPC → Engine.IO and MQTT), and reconnection across a gateway restart.
//! The binary itself (`CARGO_BIN_EXE_switchboard`) and the mosquitto interop are tested in
//! gateway/app/tests/cli_clients.rs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_auth::passwd::{self, HashKind};
use switchboard_cli::error::{
    EXIT_DENIED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE,
};
use switchboard_cli::{CliError, Link, PubSummary, SubEnd, SubSummary};
use switchboard_fabric::{
    Message, PayloadKind, Qos, SubOptions, Subscriber, SubscriberSpec, Topic, TopicFilter,
};
use switchboard_tests::TestGateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(15);

struct Urls {
    mqtt: String,
    ws: String,
    eio: String,
    ipc: String,
}

fn urls(gw: &TestGateway) -> Urls {
    let a = &gw.addresses;
    Urls {
        mqtt: format!("mqtt://{}", a.mqtt.expect("mqtt listener")),
        ws: format!("ws://{}/mqtt", a.http),
        eio: format!("eio://{}", a.http),
        ipc: format!("ipc://{}", a.ipc.expect("ipc listener")),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-cli-clients-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn publish_with(args: &[&str], stdin: &'static [u8]) -> Result<PubSummary, CliError> {
    let s = switchboard_cli::pub_settings(std::iter::once("pub").chain(args.iter().copied()))?;
    tokio::time::timeout(
        WAIT,
        switchboard_cli::publish(&s, stdin, &mut std::io::sink()),
    )
    .await
    .expect("pub finishes")
}

async fn publish(args: &[&str]) -> Result<PubSummary, CliError> {
    publish_with(args, b"").await
}

async fn published(args: &[&str]) -> PubSummary {
    publish(args)
        .await
        .unwrap_or_else(|e| panic!("pub {args:?}: {e}"))
}

fn watch(gw: &TestGateway, filter: &str) -> Subscriber {
    let mut s = gw.fabric.subscriber(SubscriberSpec::new("test", "watch"));
    s.subscribe(TopicFilter::new(filter).unwrap(), SubOptions::default());
    s
}

async fn next(s: &mut Subscriber) -> Arc<Message> {
    tokio::time::timeout(WAIT, s.recv())
        .await
        .expect("a message in time")
        .expect("subscriber open")
        .message
}

/// A `Write` the test can read and wait on while `sub` runs.
#[derive(Clone)]
struct Out(Arc<tokio::sync::watch::Sender<Vec<u8>>>);

impl Default for Out {
    fn default() -> Out {
        Out(Arc::new(tokio::sync::watch::Sender::new(Vec::new())))
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send_modify(|v| v.extend_from_slice(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

struct Sub {
    out: Out,
    task: JoinHandle<Result<SubSummary, CliError>>,
    subscribed: tokio::sync::watch::Receiver<u64>,
}

fn spawn_sub(args: &[&str]) -> Sub {
    let s = switchboard_cli::sub_settings(std::iter::once("sub").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("sub {args:?}: {e}"));
    let out = Out::default();
    let mut w = out.clone();
    let (tx, subscribed) = tokio::sync::watch::channel(0);
    let task = tokio::spawn(async move {
        Box::pin(switchboard_cli::subscribe_with(
            &s,
            &mut w,
            std::future::pending(),
            Some(&tx),
        ))
        .await
    });
    Sub {
        out,
        task,
        subscribed,
    }
}

impl Sub {
    /// Waits until the subscriptions were made `n` times (1: connected; 2: after one
    /// reconnection).
    async fn ready(&mut self, n: u64) {
        tokio::time::timeout(WAIT, self.subscribed.wait_for(|c| *c >= n))
            .await
            .expect("subscribed in time")
            .expect("sub running");
    }

    async fn finish(self) -> (Result<SubSummary, CliError>, String) {
        let r = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("sub finishes")
            .expect("sub task");
        (r, self.out.text())
    }

    async fn output(self) -> String {
        let (r, out) = self.finish().await;
        r.unwrap_or_else(|e| panic!("sub failed: {e} (output {out:?})"));
        out
    }

    async fn wait_output(&self, what: &str) {
        let mut rx = self.out.0.subscribe();
        let seen = tokio::time::timeout(
            WAIT,
            rx.wait_for(|v| String::from_utf8_lossy(v).contains(what)),
        )
        .await;
        assert!(
            matches!(seen, Ok(Ok(_))),
            "sub printed {:?}, not {what:?}",
            self.out.text()
        );
    }
}

/// Waits until `n` subscriptions with exactly the filter `filter` exist.
async fn subscriptions(gw: &TestGateway, filter: &str, n: usize) {
    let f = TopicFilter::new(filter).unwrap();
    switchboard_tests::wait::until(&format!("{n} subscriptions to {filter}"), || {
        gw.fabric.subscriptions(Some(&f)).len() >= n
    })
    .await;
}

fn publish_fabric(gw: &TestGateway, topic: &str, text: &str) {
    gw.fabric
        .publish(Message::text(Topic::new(topic).unwrap(), text));
}

fn exit_code<T: std::fmt::Debug>(r: Result<T, CliError>) -> u8 {
    match r {
        Err(e) => e.exit_code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test]
async fn pub_sends_every_payload_source_with_qos_retain_and_client_id_over_mqtt() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let dir = scratch("sources");
    let file = dir.join("payload.bin");
    std::fs::write(&file, [0u8, 1, 2, 255]).unwrap();
    let file = file.to_str().unwrap().to_owned();
    for version in ["5", "3.1.1"] {
        let mut w = watch(&gw, "src/#");
        let text_kind = if version == "5" {
            PayloadKind::Text
        } else {
            PayloadKind::Binary
        };
        let base = ["--url", u.mqtt.as_str(), "-V", version, "-t", "src/a"];
        let with = |extra: &[&'static str]| {
            let mut v: Vec<&str> = base.to_vec();
            v.extend_from_slice(extra);
            v
        };

        let args = with(&[
            "-m",
            "hello",
            "-q",
            "1",
            "-r",
            "-i",
            "cli-test-id",
            "-k",
            "30",
        ]);
        assert_eq!(published(&args).await.published, 1);
        let m = next(&mut w).await;
        assert_eq!(&m.payload[..], b"hello");
        assert_eq!(
            (m.qos, m.retain, m.kind),
            (Qos::AtLeastOnce, true, text_kind)
        );
        assert_eq!(
            (&*m.origin.protocol, &*m.origin.client),
            ("mqtt", "cli-test-id")
        );

        let mut args = base.to_vec();
        args.extend(["-f", file.as_str(), "-q", "2"]);
        published(&args).await;
        let m = next(&mut w).await;
        assert_eq!(&m.payload[..], &[0, 1, 2, 255]);
        assert_eq!((m.qos, m.kind), (Qos::ExactlyOnce, PayloadKind::Binary));

        publish_with(&with(&["-s"]), b"whole\nstdin\n")
            .await
            .unwrap();
        assert_eq!(&next(&mut w).await.payload[..], b"whole\nstdin\n");

        let s = publish_with(&with(&["-l", "-q", "1"]), b"l1\nl2\r\n\nl4")
            .await
            .unwrap();
        assert_eq!(s.published, 4);
        for line in ["l1", "l2", "", "l4"] {
            assert_eq!(next(&mut w).await.payload, line.as_bytes());
        }

        // -n with -r: an empty retained payload clears the retained value.
        published(&with(&["-n", "-r"])).await;
        let m = next(&mut w).await;
        assert!(m.payload.is_empty() && m.retain);
        assert!(
            gw.fabric
                .retained(&TopicFilter::new("src/#").unwrap())
                .is_empty()
        );
    }
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn pub_sends_mqtt5_user_properties_content_type_and_payload_kinds() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut w = watch(&gw, "props/#");
    published(&[
        "--url",
        &u.ws,
        "-t",
        "props/a",
        "-m",
        r#"{"v":1}"#,
        "--user-property",
        "a=1",
        "--user-property",
        "b=x=y",
        "--content-type",
        "application/json",
    ])
    .await;
    let m = next(&mut w).await;
    assert_eq!(m.kind, PayloadKind::Json);
    assert_eq!(m.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        m.properties,
        [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "x=y".to_owned())
        ]
    );

    published(&[
        "--url", &u.mqtt, "-t", "props/b", "-m", "raw", "--kind", "binary",
    ])
    .await;
    assert_eq!(next(&mut w).await.kind, PayloadKind::Binary);
    published(&[
        "--url", &u.mqtt, "-t", "props/c", "-m", "[1]", "--kind", "json",
    ])
    .await;
    let m = next(&mut w).await;
    assert_eq!(
        (m.kind, m.content_type.as_deref()),
        (PayloadKind::Json, Some("application/json"))
    );

    // Bad input is a usage error before anything is sent.
    let dir = scratch("kinds");
    let bin = dir.join("bin");
    std::fs::write(&bin, [0xffu8, 0xfe]).unwrap();
    let bin = bin.to_str().unwrap();
    for args in [
        vec![
            "--url", &u.mqtt, "-t", "props/x", "-f", bin, "--kind", "text",
        ],
        vec![
            "--url", &u.eio, "-t", "props/x", "-m", "{nope", "--kind", "json",
        ],
        vec![
            "--url",
            &u.ipc,
            "-t",
            "props/x",
            "-m",
            "nope",
            "--content-type",
            "application/json",
        ],
        vec!["--url", &u.mqtt, "-t", "props/x", "-f", "/nonexistent/file"],
    ] {
        let code = exit_code(publish(&args).await);
        assert!(code == EXIT_USAGE || code == 1, "{args:?}: {code}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), w.recv())
            .await
            .is_err()
    );
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn pub_repeats_with_a_delay_over_every_protocol() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut w = watch(&gw, "rep/#");
    for url in [&u.mqtt, &u.ws, &u.eio, &u.ipc] {
        let start = Instant::now();
        let s = published(&[
            "--url",
            url,
            "-t",
            "rep/a",
            "-m",
            "again",
            "--repeat",
            "3",
            "--repeat-delay",
            "100",
        ])
        .await;
        assert_eq!(s.published, 3);
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "{url}: {:?}",
            start.elapsed()
        );
        for _ in 0..3 {
            assert_eq!(&next(&mut w).await.payload[..], b"again", "{url}");
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn pub_over_engineio_and_ipc_keeps_kinds_qos_and_retain() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut w = watch(&gw, "k/#");
    published(&[
        "--url",
        &u.eio,
        "-t",
        "k/a",
        "-m",
        r#"{"n":2}"#,
        "--kind",
        "json",
        "-q",
        "1",
        "-r",
    ])
    .await;
    let m = next(&mut w).await;
    assert_eq!(
        (m.kind, m.qos, m.retain),
        (PayloadKind::Json, Qos::AtLeastOnce, true)
    );
    assert_eq!(&*m.origin.protocol, "engineio");
    published(&["--url", &u.eio, "-t", "k/b", "-m", "plain"]).await;
    assert_eq!(next(&mut w).await.kind, PayloadKind::Text);
    published(&[
        "--url", &u.eio, "-t", "k/c", "-m", "bytes", "--kind", "binary",
    ])
    .await;
    assert_eq!(next(&mut w).await.kind, PayloadKind::Binary);

    published(&[
        "--url", &u.ipc, "-t", "k/d", "-m", "from ipc", "-i", "my-peer",
    ])
    .await;
    let m = next(&mut w).await;
    assert_eq!(
        (&m.payload[..], m.kind),
        (&b"from ipc"[..], PayloadKind::Text)
    );
    assert_eq!(&*m.origin.protocol, "ipc");
    published(&[
        "--url",
        &u.ipc,
        "-t",
        "k/e",
        "-m",
        r#"{"n":3}"#,
        "--content-type",
        "application/json",
    ])
    .await;
    assert_eq!(next(&mut w).await.kind, PayloadKind::Json);
    publish_with(&["--url", &u.ipc, "-t", "k/f", "-s"], b"\xff\x00")
        .await
        .unwrap();
    let m = next(&mut w).await;
    assert_eq!(
        (&m.payload[..], m.kind),
        (&b"\xff\x00"[..], PayloadKind::Binary)
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_will_is_published_when_the_client_vanishes() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut w = watch(&gw, "will/#");
    for version in ["5", "3.1.1"] {
        let s = switchboard_cli::pub_settings([
            "pub",
            "--url",
            &u.mqtt,
            "-V",
            version,
            "-t",
            "will/x",
            "-n",
            "--will-topic",
            "will/gone",
            "--will-message",
            "bye",
            "--will-qos",
            "1",
            "--will-retain",
        ])
        .unwrap();
        let link = Link::connect(&s.connect).await.unwrap();
        // Dropped without DISCONNECT: the broker publishes the will.
        drop(link);
        let m = next(&mut w).await;
        assert_eq!(
            (m.topic.as_str(), &m.payload[..]),
            ("will/gone", &b"bye"[..])
        );
        assert_eq!((m.qos, m.retain), (Qos::AtLeastOnce, true), "{version}");
    }
    // A clean close sends no will.
    published(&[
        "--url",
        &u.mqtt,
        "-t",
        "will/x",
        "-m",
        "x",
        "--will-topic",
        "will/gone",
    ])
    .await;
    assert_eq!(next(&mut w).await.topic.as_str(), "will/x");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), w.recv())
            .await
            .is_err()
    );
    gw.shutdown().await;
}

mod tls {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    #[tokio::test]
    async fn tls_ca_file_client_certificate_and_insecure() {
        let dir = scratch("tls");
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "switchboard cli test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);
        let server_key = KeyPair::generate().unwrap();
        // Only "localhost": connecting to 127.0.0.1 is a name mismatch.
        let server = CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "cli");
        let client = client_params.signed_by(&client_key, &issuer).unwrap();
        let w = |name: &str, text: String| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ca = w("ca.pem", ca_cert.pem());
        let cert = w("server.pem", server.pem());
        let key = w("server.key", server_key.serialize_pem());
        let ccert = w("client.pem", client.pem());
        let ckey = w("client.key", client_key.serialize_pem());
        let gw = TestGateway::builder()
            .configure(|c| {
                c.mqtt.tls_listen = Some(switchboard_tests::ephemeral());
                c.mqtt.cert = Some(cert.clone());
                c.mqtt.key = Some(key.clone());
                c.mqtt.client_ca = Some(ca.clone());
                c.http.tls_cert = Some(cert.clone());
                c.http.tls_key = Some(key.clone());
            })
            .start()
            .await;
        let tls_port = gw.addresses.mqtt_tls.expect("TLS listener").port();
        let http_port = gw.addresses.http.port();
        let (ca, ccert, ckey) = (
            ca.to_str().unwrap(),
            ccert.to_str().unwrap(),
            ckey.to_str().unwrap(),
        );
        let mut watcher = watch(&gw, "tls/#");
        let good = format!("mqtts://localhost:{tls_port}");
        let by_ip = format!("mqtts://127.0.0.1:{tls_port}");
        let client = ["--cert", ccert, "--key", ckey];

        let mut args = vec![
            "--url",
            good.as_str(),
            "--ca-file",
            ca,
            "-t",
            "tls/a",
            "-m",
            "1",
        ];
        args.extend(client);
        published(&args).await;
        assert_eq!(&next(&mut watcher).await.payload[..], b"1");

        let mut args = vec![
            "--url",
            by_ip.as_str(),
            "--ca-file",
            ca,
            "-t",
            "tls/a",
            "-m",
            "2",
        ];
        args.extend(client);
        let e = publish(&args).await.expect_err("name mismatch");
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE, "{e}");
        args.push("--insecure");
        published(&args).await;
        assert_eq!(&next(&mut watcher).await.payload[..], b"2");

        // Unknown issuer without --ca-file; no client certificate for a broker that needs one.
        let mut args = vec!["--url", good.as_str(), "-t", "tls/a", "-m", "3"];
        args.extend(client);
        assert_eq!(exit_code(publish(&args).await), EXIT_UNREACHABLE);
        let e = publish(&["--url", &good, "--ca-file", ca, "-t", "tls/a", "-m", "4"])
            .await
            .expect_err("a client certificate is required");
        assert!(
            e.exit_code() == EXIT_UNREACHABLE || e.exit_code() == 1,
            "{e}"
        );

        // The HTTPS front: MQTT over wss:// and Engine.IO over eios://.
        let wss = format!("wss://localhost:{http_port}/mqtt");
        let eios = format!("eios://localhost:{http_port}");
        published(&["--url", &wss, "--ca-file", ca, "-t", "tls/b", "-m", "5"]).await;
        assert_eq!(&next(&mut watcher).await.payload[..], b"5");
        published(&["--url", &eios, "--ca-file", ca, "-t", "tls/c", "-m", "6"]).await;
        assert_eq!(&next(&mut watcher).await.payload[..], b"6");
        gw.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A server that records the head of the first HTTP request, then answers `403`.
async fn header_catcher() -> (String, tokio::sync::oneshot::Receiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s
            .write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope",
            )
            .await;
        let _ = tx.send(String::from_utf8_lossy(&head).to_lowercase());
    });
    (addr, rx)
}

#[tokio::test]
async fn extra_headers_go_into_the_websocket_request() {
    for scheme in ["ws", "eio"] {
        let (addr, head) = header_catcher().await;
        let url = format!("{scheme}://{addr}");
        let e = publish(&[
            "--url",
            &url,
            "-t",
            "h/a",
            "-m",
            "x",
            "--extra-headers",
            r#"{"X-Trace": "t1"}"#,
            "--extra-headers",
            "X-Other: o",
        ])
        .await
        .expect_err("the catcher refuses");
        let head = tokio::time::timeout(WAIT, head).await.unwrap().unwrap();
        assert!(head.contains("x-trace: t1"), "{head}");
        assert!(head.contains("x-other: o"), "{head}");
        if scheme == "eio" {
            assert!(
                head.starts_with("get /engine.io/?eio=4&transport=websocket"),
                "{head}"
            );
            // A 403 to the upgrade is a refusal.
            assert_eq!(e.exit_code(), EXIT_REFUSED, "{e}");
        } else {
            assert!(head.contains("sec-websocket-protocol: mqtt"), "{head}");
            assert_eq!(e.exit_code(), EXIT_UNREACHABLE, "{e}");
        }
    }

    // Against the gateway: credentials in an extra Authorization header open the session.
    let (pw, acl) = auth_files("headers");
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw.clone());
            c.auth.acl_file = Some(acl.clone());
        })
        .start()
        .await;
    let u = urls(&gw);
    let mut w = watch(&gw, "alice/#");
    let basic = "Authorization: Basic YWxpY2U6YWxpY2UtcHc="; // alice:alice-pw
    published(&[
        "--url",
        &u.eio,
        "--extra-headers",
        basic,
        "-t",
        "alice/h",
        "-m",
        "in",
    ])
    .await;
    assert_eq!(&next(&mut w).await.payload[..], b"in");
    gw.shutdown().await;
}

#[tokio::test]
async fn sub_prints_payloads_verbose_formats_and_json_over_every_protocol() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut runs = Vec::new();
    for (name, url) in [
        ("mqtt", &u.mqtt),
        ("ws", &u.ws),
        ("eio", &u.eio),
        ("ipc", &u.ipc),
    ] {
        let t = format!("out/{name}");
        let mut plain = spawn_sub(&["--url", url, "-t", &t, "-n", "1"]);
        let mut verbose = spawn_sub(&["--url", url, "-t", &t, "-n", "1", "-v"]);
        let mut format = spawn_sub(&[
            "--url",
            url,
            "-t",
            &t,
            "-n",
            "1",
            "-F",
            "%t|%p|%k|%r|%l|%x|%-6.3p|",
            "-N",
        ]);
        let mut json = spawn_sub(&["--url", url, "-t", &t, "-n", "1", "--json"]);
        for s in [&mut plain, &mut verbose, &mut format, &mut json] {
            s.ready(1).await;
        }
        // The IPC bridge's fabric subscription follows the listeners.
        subscriptions(&gw, &t, 1).await;
        runs.push((name, t, plain, verbose, format, json));
    }
    for (_, t, ..) in &runs {
        publish_fabric(&gw, t, "hi there");
    }
    for (name, t, plain, verbose, format, json) in runs {
        assert_eq!(plain.output().await, "hi there\n", "{name}");
        assert_eq!(verbose.output().await, format!("{t} hi there\n"), "{name}");
        // MQTT 5 and the others know the kind; all four see text.
        assert_eq!(
            format.output().await,
            format!("{t}|hi there|text|0|8|6869207468657265|hi    |"),
            "{name}"
        );
        let line = json.output().await;
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["topic"], t.as_str());
        assert_eq!(v["payload"], "hi there");
        assert_eq!(v["retain"], false);
        let protocol = match name {
            "eio" => "engineio",
            "ipc" => "ipc",
            _ => "mqtt",
        };
        assert_eq!(v["protocol"], protocol);
        let origin = if name == "ipc" {
            serde_json::json!("gateway")
        } else {
            serde_json::Value::Null
        };
        assert_eq!(v["origin"], origin, "{name}");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn sub_flags_retained_skips_them_with_r_and_counts_with_n() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    gw.fabric
        .publish(Message::text(Topic::new("ret/x").unwrap(), "old").retain(true));
    for url in [&u.mqtt, &u.ws, &u.eio, &u.ipc] {
        let first = spawn_sub(&["--url", url, "-t", "ret/x", "-n", "1", "-F", "%p %r"]);
        assert_eq!(first.output().await, "old 1\n", "{url}");
        let mut fresh = spawn_sub(&["--url", url, "-t", "ret/x", "-n", "2", "-R", "-F", "%p %r"]);
        // The retained replay arrives while subscribing (and is skipped).
        fresh.ready(1).await;
        subscriptions(&gw, "ret/x", 1).await;
        publish_fabric(&gw, "ret/x", "new1");
        fresh.wait_output("new1").await;
        publish_fabric(&gw, "ret/x", "new2");
        let (r, out) = fresh.finish().await;
        assert_eq!(out, "new1 0\nnew2 0\n", "{url}");
        let s = r.unwrap();
        assert_eq!((s.end, s.printed), (SubEnd::Count, 2));
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn sub_with_several_filters_and_qos() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut mqtt1 = spawn_sub(&[
        "--url", &u.mqtt, "-t", "q/a", "-t", "q/b/+", "-q", "1", "-n", "2", "-F", "%t %q",
    ]);
    let mut mqtt0 = spawn_sub(&[
        "--url", &u.ws, "-t", "q/a", "-t", "q/b/+", "-n", "2", "-F", "%t %q", "-V", "3.1.1",
    ]);
    let mut eio = spawn_sub(&[
        "--url", &u.eio, "-t", "q/a", "-t", "q/b/+", "-n", "2", "-F", "%t %q",
    ]);
    let mut ipc = spawn_sub(&[
        "--url", &u.ipc, "-t", "q/a", "-t", "q/b/c", "-n", "2", "-F", "%t %o",
    ]);
    for s in [&mut mqtt1, &mut mqtt0, &mut eio, &mut ipc] {
        s.ready(1).await;
    }
    // Three clients and the IPC bridge.
    subscriptions(&gw, "q/a", 4).await;
    subscriptions(&gw, "q/b/c", 1).await;
    for t in ["q/a", "q/b/c"] {
        gw.fabric
            .publish(Message::text(Topic::new(t).unwrap(), "x").qos(Qos::AtLeastOnce));
    }
    assert_eq!(mqtt1.output().await, "q/a 1\nq/b/c 1\n");
    assert_eq!(mqtt0.output().await, "q/a 0\nq/b/c 0\n");
    assert_eq!(eio.output().await, "q/a 0\nq/b/c 0\n");
    assert_eq!(ipc.output().await, "q/a gateway\nq/b/c gateway\n");
    gw.shutdown().await;
}

#[tokio::test]
async fn sub_exits_after_the_subscription_with_e_and_times_out_with_w() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    for url in [&u.mqtt, &u.ws, &u.eio, &u.ipc] {
        let s = spawn_sub(&["--url", url, "-t", "e/x", "-E"])
            .finish()
            .await
            .0
            .unwrap();
        assert_eq!(s.end, SubEnd::Subscribed, "{url}");
        let start = Instant::now();
        let (r, _) = spawn_sub(&["--url", url, "-t", "e/x", "-W", "0.3"])
            .finish()
            .await;
        assert_eq!(exit_code(r), EXIT_TIMEOUT, "{url}");
        assert!(start.elapsed() >= Duration::from_millis(300));
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_pub_over_ipc_reaches_subs_over_engineio_and_mqtt() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut eio = spawn_sub(&["--url", &u.eio, "-t", "x/news", "-n", "2", "-F", "%p %k %o"]);
    let mut mqtt = spawn_sub(&[
        "--url", &u.mqtt, "-t", "x/news", "-n", "2", "-F", "%p %k %o",
    ]);
    let mut ipc = spawn_sub(&["--url", &u.ipc, "-t", "x/news", "-n", "3", "-F", "%p %k %o"]);
    for s in [&mut eio, &mut mqtt, &mut ipc] {
        s.ready(1).await;
    }
    // Engine.IO, MQTT and the IPC bridge.
    subscriptions(&gw, "x/news", 3).await;
    published(&["--url", &u.ipc, "-t", "x/news", "-m", "hello from ipc"]).await;
    published(&[
        "--url",
        &u.ipc,
        "-t",
        "x/news",
        "-m",
        r#"{"n":1}"#,
        "--kind",
        "json",
    ])
    .await;
    published(&["--url", &u.mqtt, "-t", "x/news", "-m", "from mqtt"]).await;
    let expect = "hello from ipc text -\n{\"n\":1} json -\n";
    assert_eq!(eio.output().await, expect);
    assert_eq!(mqtt.output().await, expect);
    assert_eq!(
        ipc.output().await,
        "hello from ipc text ipc\n{\"n\":1} json ipc\nfrom mqtt text gateway\n"
    );
    gw.shutdown().await;
}

const ACL: &str = "user alice\ntopic readwrite alice/#\ntopic read public/#\n";

fn auth_files(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let pw = dir.join("passwd");
    passwd::create(&pw, "alice", b"alice-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, ACL).unwrap();
    (pw, acl)
}

#[tokio::test]
async fn exit_codes_for_unreachable_refused_denied_and_timeout() {
    // Unreachable: nothing listens on the port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for url in [
        format!("mqtt://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}/mqtt"),
        format!("eio://127.0.0.1:{port}"),
        format!("ipc://127.0.0.1:{port}"),
    ] {
        let e = publish(&["--url", &url, "-t", "a", "-m", "x"])
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE, "{url}: {e}");
        assert!(e.to_string().contains("cannot reach"), "{e}");
        let (r, _) = spawn_sub(&["--url", &url, "-t", "a"]).finish().await;
        assert_eq!(exit_code(r), EXIT_UNREACHABLE, "{url}");
    }

    let (pw, acl) = auth_files("codes");
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw.clone());
            c.auth.acl_file = Some(acl.clone());
            // IPC peers are anonymous clients here, not trusted local users.
            c.ipc.trust = serde_json::from_value(serde_json::json!("none")).unwrap();
        })
        .start()
        .await;
    let u = urls(&gw);
    // Refused credentials.
    for (url, v) in [(&u.mqtt, "5"), (&u.mqtt, "3.1.1"), (&u.ws, "5")] {
        for creds in [&["-u", "alice", "-P", "wrong"][..], &[][..]] {
            let mut args = vec!["--url", url.as_str(), "-V", v, "-t", "alice/a", "-m", "x"];
            args.extend_from_slice(creds);
            let e = publish(&args).await.unwrap_err();
            assert_eq!(e.exit_code(), EXIT_REFUSED, "{args:?}: {e}");
            assert!(e.to_string().contains("refused"), "{e}");
        }
    }
    let e = publish(&[
        "--url", &u.eio, "-u", "alice", "-P", "wrong", "-t", "alice/a", "-m", "x",
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_REFUSED, "{e}");
    // Engine.IO without credentials: the session opens, but may only `auth`.
    let e = publish(&["--url", &u.eio, "-t", "alice/a", "-m", "x"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_REFUSED, "{e}");
    // The IPC bus carries no credentials: with `trust = "none"` and anonymous access off the
    // gateway hangs up.
    let e = publish(&["--url", &u.ipc, "-t", "alice/a", "-m", "x"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_REFUSED, "{e}");
    assert!(e.to_string().contains("anonymous"), "{e}");

    // Denied topics (alice may not touch secret/...).
    let alice = ["-u", "alice", "-P", "alice-pw"];
    for (url, v) in [(&u.mqtt, "5"), (&u.mqtt, "3.1.1"), (&u.eio, "")] {
        let mut args = vec!["--url", url.as_str(), "-t", "secret/x", "-E"];
        if !v.is_empty() {
            args.extend(["-V", v]);
        }
        args.extend(alice);
        let (r, _) = spawn_sub(&args).finish().await;
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), EXIT_DENIED, "{args:?}: {e}");
        assert!(e.to_string().contains("secret/x"), "{e}");
    }
    for qos in ["1", "2"] {
        let mut args = vec![
            "--url",
            u.mqtt.as_str(),
            "-t",
            "secret/x",
            "-m",
            "x",
            "-q",
            qos,
        ];
        args.extend(alice);
        assert_eq!(exit_code(publish(&args).await), EXIT_DENIED, "{args:?}");
    }
    let mut args = vec!["--url", u.eio.as_str(), "-t", "secret/x", "-m", "x"];
    args.extend(alice);
    assert_eq!(exit_code(publish(&args).await), EXIT_DENIED);
    // Allowed, for contrast.
    let mut args = vec![
        "--url",
        u.mqtt.as_str(),
        "-t",
        "alice/x",
        "-m",
        "x",
        "-q",
        "1",
    ];
    args.extend(alice);
    published(&args).await;

    // Timeout.
    let mut args = vec!["--url", u.mqtt.as_str(), "-t", "alice/#", "-W", "0.2"];
    args.extend(alice);
    let (r, _) = spawn_sub(&args).finish().await;
    assert_eq!(exit_code(r), EXIT_TIMEOUT);
    gw.shutdown().await;
}

#[tokio::test]
async fn over_ipc_the_peer_name_is_the_identity_of_a_trusted_local_client() {
    let (pw, acl) = auth_files("ipc-trust");
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw.clone());
            c.auth.acl_file = Some(acl.clone());
        })
        .start()
        .await;
    let u = urls(&gw);
    let mut w = watch(&gw, "#");
    let mut sub = spawn_sub(&["--url", &u.ipc, "-i", "alice", "-t", "alice/in", "-n", "1"]);
    sub.ready(1).await;
    subscriptions(&gw, "alice/in", 1).await;
    // `-i alice` is the peer name, which the gateway takes as the ACL user.
    published(&[
        "--url", &u.ipc, "-i", "alice", "-t", "secret/x", "-m", "dropped",
    ])
    .await;
    published(&[
        "--url", &u.ipc, "-i", "alice", "-t", "alice/in", "-m", "kept",
    ])
    .await;
    let m = next(&mut w).await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("alice/in", &b"kept"[..])
    );
    assert_eq!(sub.output().await, "kept\n");
    gw.shutdown().await;
}

#[tokio::test]
async fn sub_reconnects_and_subscribes_again_when_the_gateway_restarts() {
    let first = TestGateway::builder().start().await;
    let a = first.addresses.clone();
    let u = urls(&first);
    let delay = ["--reconnect-max-delay", "0.2", "-n", "2"];
    let mut subs = Vec::new();
    for url in [&u.mqtt, &u.ws, &u.eio, &u.ipc] {
        let mut args = vec!["--url", url.as_str(), "-t", "rs/x"];
        args.extend(delay);
        subs.push((url.clone(), spawn_sub(&args)));
    }
    for (_, s) in &mut subs {
        s.ready(1).await;
    }
    subscriptions(&first, "rs/x", 4).await;
    publish_fabric(&first, "rs/x", "before");
    for (_, s) in &subs {
        s.wait_output("before\n").await;
    }
    first.shutdown().await;

    // A second gateway on the same ports.
    let second = TestGateway::builder()
        .configure(|c| {
            c.http.listen = a.http;
            c.mqtt.listen = a.mqtt.unwrap();
            c.ipc.listen = a.ipc.unwrap();
        })
        .start()
        .await;
    // Every client subscribes again: wait for the four of them.
    for (_, s) in &mut subs {
        s.ready(2).await;
    }
    subscriptions(&second, "rs/x", 4).await;
    publish_fabric(&second, "rs/x", "after");
    for (url, s) in subs {
        let (r, out) = s.finish().await;
        let summary = r.unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(out, "before\nafter\n", "{url}");
        assert_eq!(summary.reconnections, 1, "{url}");
    }
    second.shutdown().await;
}

#[tokio::test]
async fn ipc_over_a_unix_socket() {
    let dir = scratch("unix");
    let path = dir.join("bus.sock");
    let gw = TestGateway::builder()
        .configure(|c| c.ipc.unix_socket = Some(path.clone()))
        .start()
        .await;
    let url = format!("ipc+unix://{}", path.display());
    let mut sub = spawn_sub(&["--url", &url, "-t", "unix/a", "-n", "1", "-F", "%t %p %o"]);
    sub.ready(1).await;
    subscriptions(&gw, "unix/a", 1).await;
    published(&["--url", &url, "-t", "unix/a", "-m", "over the socket"]).await;
    assert_eq!(sub.output().await, "unix/a over the socket ipc\n");
    gw.shutdown().await;
    let e = publish(&["--url", &url, "-t", "unix/a", "-m", "x"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_UNREACHABLE, "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sub_gives_up_after_its_reconnection_retries() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let mut none = spawn_sub(&["--url", &u.mqtt, "-t", "gone/x", "--reconnect-retries", "0"]);
    let mut two = spawn_sub(&[
        "--url",
        &u.eio,
        "-t",
        "gone/x",
        "--reconnect-retries",
        "2",
        "--reconnect-max-delay",
        "0.1",
    ]);
    none.ready(1).await;
    two.ready(1).await;
    gw.shutdown().await;
    // No reconnection: the loss itself ends it (exit 1).
    let e = none.finish().await.0.unwrap_err();
    assert_eq!(e.exit_code(), 1, "{e}");
    assert!(e.to_string().contains("connection lost"), "{e}");
    // Two failed attempts, then the last error (the gateway is unreachable: exit 2).
    let e = two.finish().await.0.unwrap_err();
    assert_eq!(e.exit_code(), EXIT_UNREACHABLE, "{e}");
}

/// `pub -l` keeps the connection alive (MQTT keep-alive, Engine.IO pongs) while stdin is quiet.
#[tokio::test]
async fn pub_lines_keep_the_connection_alive_while_stdin_is_quiet() {
    let gw = TestGateway::builder()
        .configure(|c| {
            c.engineio.ping_interval_ms = 200;
            c.engineio.ping_timeout_ms = 200;
        })
        .start()
        .await;
    let u = urls(&gw);
    let mut w = watch(&gw, "idle/#");
    for (url, extra) in [
        (&u.mqtt, ["-V", "3.1.1", "-k", "1"]),
        (&u.eio, ["--kind", "text", "-q", "0"]),
    ] {
        let mut args = vec!["pub", "--url", url.as_str(), "-t", "idle/a", "-l"];
        args.extend(extra);
        let s = switchboard_cli::pub_settings(args).unwrap();
        let (mut input, stdin) = tokio::io::duplex(64);
        let task =
            tokio::spawn(
                async move { switchboard_cli::publish(&s, stdin, &mut std::io::sink()).await },
            );
        input.write_all(b"first\n").await.unwrap();
        assert_eq!(&next(&mut w).await.payload[..], b"first");
        // Longer than 1.5 × the keep-alive and than ping interval + timeout: real time, as the
        // gateway measures it.
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        input.write_all(b"second\n").await.unwrap();
        drop(input);
        assert_eq!(&next(&mut w).await.payload[..], b"second", "{url}");
        let s = tokio::time::timeout(WAIT, task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(s.published, 2);
    }
    gw.shutdown().await;
}

/// Answers fabric requests on `svc/#`: `svc/echo` with `pong:<payload>`, `svc/reject` with a
/// rejection (the user property `error`), `svc/silent` never.
fn responder(gw: &TestGateway) -> JoinHandle<()> {
    let mut sub = gw
        .fabric
        .subscriber(SubscriberSpec::new("test", "responder"));
    sub.subscribe(TopicFilter::new("svc/#").unwrap(), SubOptions::default());
    let fabric = gw.fabric.clone();
    tokio::spawn(async move {
        while let Ok(d) = sub.recv().await {
            let m = &d.message;
            let Some(reply_to) = m.reply_to.clone() else {
                continue;
            };
            let text = format!("pong:{}", String::from_utf8_lossy(&m.payload));
            let mut reply = match m.topic.as_str() {
                "svc/echo" => Message::text(reply_to, text),
                "svc/reject" => Message::text(reply_to, "").property("error", "not today"),
                _ => continue,
            };
            if let Some(c) = &m.correlation {
                reply = reply.correlation(c.clone());
            }
            fabric.publish(reply);
        }
    })
}

#[tokio::test]
async fn pub_request_prints_the_reply_over_every_protocol() {
    let gw = TestGateway::builder().start().await;
    let u = urls(&gw);
    let answering = responder(&gw);
    subscriptions(&gw, "svc/#", 1).await;
    for url in [&u.mqtt, &u.ws, &u.eio, &u.ipc] {
        let s = switchboard_cli::pub_settings([
            "pub",
            "--url",
            url,
            "-t",
            "svc/echo",
            "-m",
            "ping",
            "--request",
            "--repeat",
            "2",
        ])
        .unwrap();
        let mut out = Vec::new();
        let r = tokio::time::timeout(WAIT, switchboard_cli::publish(&s, &b""[..], &mut out))
            .await
            .unwrap();
        assert_eq!(r.unwrap_or_else(|e| panic!("{url}: {e}")).published, 2);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "pong:ping\npong:ping\n",
            "{url}"
        );

        let e = publish(&["--url", url, "-t", "svc/reject", "-m", "x", "--request"])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("rejected"), "{url}: {e}");
        assert_eq!(e.exit_code(), 1, "{url}: {e}");

        let e = publish(&[
            "--url",
            url,
            "-t",
            "svc/silent",
            "-m",
            "x",
            "--request",
            "--request-timeout",
            "0.3",
        ])
        .await
        .unwrap_err();
        assert_eq!(e.exit_code(), EXIT_TIMEOUT, "{url}: {e}");
    }
    let e = publish(&[
        "--url",
        &u.mqtt,
        "-V",
        "3.1.1",
        "-t",
        "svc/echo",
        "-m",
        "x",
        "--request",
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_USAGE, "{e}");
    answering.abort();
    gw.shutdown().await;
}
