//! `switchboard pub`: every option, over the protocols that take it.

use std::time::{Duration, Instant};

use switchboard_cli::Link;
use switchboard_cli::error::{EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE};
use switchboard_fabric::{PayloadKind, Qos, TopicFilter};
use switchboard_tests::TestGateway;
use tokio::io::AsyncWriteExt;

use crate::support::*;

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
