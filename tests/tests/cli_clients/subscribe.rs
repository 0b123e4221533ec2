//! `switchboard sub`: outputs, retained messages, filters, the IPC paths, reconnection.

use std::time::{Duration, Instant};

use switchboard_cli::SubEnd;
use switchboard_cli::error::{EXIT_TIMEOUT, EXIT_UNREACHABLE};
use switchboard_fabric::{Message, Qos, Topic};
use switchboard_tests::TestGateway;

use crate::support::*;

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
