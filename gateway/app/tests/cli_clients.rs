//! The `switchboard pub` / `switchboard sub` subcommands of the real binary against a gateway in
//! this process: interop with mosquitto_pub / mosquitto_sub (Debian's mosquitto-clients, see
//! scripts/apt-packages.txt), reconnection across a gateway restart on the same ports, the
//! IPC → Engine.IO / MQTT path with stdin input, and the exit codes with their messages. Every
//! option is exercised at library level in tests/tests/cli_clients/.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use switchboard::Addresses;
use switchboard_config::Config;
use switchboard_fabric::{Fabric, Message, Topic, TopicFilter};
use switchboard_ipc::IpcTrust;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

const WAIT: Duration = Duration::from_secs(20);

fn ephemeral() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A gateway served by this process.
struct Gw {
    addresses: Addresses,
    fabric: Fabric,
    stop: Option<oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<Result<(), switchboard::RunError>>,
}

impl Gw {
    async fn start(configure: impl FnOnce(&mut Config)) -> Gw {
        let mut c = Config::default();
        c.http.listen = ephemeral();
        c.admin.listen = ephemeral();
        c.mqtt.listen = ephemeral();
        c.ipc.listen = ephemeral();
        c.fabric.sys_interval_ms = 0;
        c.shutdown.grace_ms = 2_000;
        c.auth.anonymous = Some(true);
        configure(&mut c);
        let g = switchboard::Gateway::bind(c)
            .await
            .expect("the gateway binds");
        let addresses = g.addresses().clone();
        let fabric = g.fabric().clone();
        let readiness = g.readiness().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(g.serve(async move {
            let _ = rx.await;
        }));
        tokio::time::timeout(WAIT, async {
            while !readiness.is_ready() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the gateway gets ready");
        Gw {
            addresses,
            fabric,
            stop: Some(tx),
            handle,
        }
    }

    fn mqtt_port(&self) -> String {
        self.addresses.mqtt.expect("mqtt").port().to_string()
    }

    fn eio(&self) -> String {
        format!("eio://{}", self.addresses.http)
    }

    fn ipc(&self) -> String {
        format!("ipc://{}", self.addresses.ipc.expect("ipc"))
    }

    fn mqtt(&self) -> String {
        format!("mqtt://{}", self.addresses.mqtt.expect("mqtt"))
    }

    /// Waits until `n` subscriptions with exactly the filter `filter` exist.
    async fn subscriptions(&self, filter: &str, n: usize) {
        let f = TopicFilter::new(filter).unwrap();
        tokio::time::timeout(WAIT, async {
            while self.fabric.subscriptions(Some(&f)).len() < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{n} subscriptions to {filter}"));
    }

    fn publish(&self, topic: &str, text: &str) {
        self.fabric
            .publish(Message::text(Topic::new(topic).unwrap(), text));
    }

    async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.handle
            .await
            .expect("gateway task")
            .expect("clean stop");
    }
}

fn switchboard(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.args(args).kill_on_drop(true).env_remove("RUST_LOG");
    c
}

/// A running client whose output lines can be waited for.
struct Running {
    child: Child,
    lines: mpsc::Receiver<(bool, String)>,
    stdout: String,
    stderr: Vec<String>,
}

fn forward(
    r: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    is_stdout: bool,
    tx: mpsc::Sender<(bool, String)>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(l)) = lines.next_line().await {
            if tx.send((is_stdout, l)).await.is_err() {
                break;
            }
        }
    });
}

impl Running {
    fn spawn(mut c: Command) -> Running {
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the client");
        let (tx, lines) = mpsc::channel(256);
        forward(child.stdout.take().expect("stdout"), true, tx.clone());
        forward(child.stderr.take().expect("stderr"), false, tx);
        Running {
            child,
            lines,
            stdout: String::new(),
            stderr: Vec::new(),
        }
    }

    fn take(&mut self, (is_stdout, line): (bool, String)) -> bool {
        if is_stdout {
            self.stdout.push_str(&line);
            self.stdout.push('\n');
        } else {
            self.stderr.push(line);
        }
        is_stdout
    }

    /// Waits for a line containing `needle` on stdout (`stdout`) or stderr.
    async fn line(&mut self, stdout: bool, needle: &str) {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(item) = self.lines.recv().await {
                let hit = item.1.contains(needle) && item.0 == stdout;
                self.take(item);
                if hit {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(
            matches!(found, Ok(true)),
            "no line with {needle:?}; stdout {:?}, stderr {:?}",
            self.stdout,
            self.stderr
        );
    }

    /// Waits for a stderr line containing `needle`.
    async fn stderr_line(&mut self, needle: &str) {
        self.line(false, needle).await;
    }

    /// Waits for the exit; (code, stdout, stderr).
    async fn finish(mut self) -> (i32, String, String) {
        let status = tokio::time::timeout(WAIT, self.child.wait()).await;
        // The forwarders end with the pipes.
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(item) = self.lines.recv().await {
                self.take(item);
            }
        })
        .await;
        let code = match status {
            Ok(s) => s.expect("wait").code().unwrap_or(-1),
            Err(_) => -2, // did not exit in time (killed on drop)
        };
        (code, self.stdout, self.stderr.join("\n"))
    }
}

/// Runs a client to completion with `stdin`; (code, stdout, stderr).
async fn run(mut c: Command, stdin: &[u8]) -> (i32, String, String) {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).await.expect("write stdin");
    drop(input);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the client exits")
        .expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn ok(c: Command) -> String {
    let (code, out, err) = run(c, b"").await;
    assert_eq!(code, 0, "stderr: {err}");
    out
}

// Named `interop::...` so that nextest runs these at most two at a time.
mod interop {
    use super::*;

    fn mosquitto(tool: &str, gw: &Gw, args: &[&str]) -> Command {
        let mut c = Command::new(tool);
        c.args(["-h", "127.0.0.1", "-p", &gw.mqtt_port()])
            .args(args)
            .kill_on_drop(true);
        c
    }

    #[tokio::test]
    async fn switchboard_pub_feeds_mosquitto_sub_and_mosquitto_pub_feeds_switchboard_sub() {
        let gw = Gw::start(|_| {}).await;
        let port = gw.mqtt_port();

        // switchboard pub (MQTT 5, Engine.IO, IPC) → mosquitto_sub.
        let sub = Running::spawn(mosquitto(
            "mosquitto_sub",
            &gw,
            &["-V", "mqttv5", "-t", "mq/a", "-C", "4", "-F", "%t %p %q %P"],
        ));
        gw.subscriptions("mq/a", 1).await;
        ok(switchboard(&[
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "mq/a",
            "-m",
            "one",
            "-q",
            "1",
        ]))
        .await;
        ok(switchboard(&[
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "mq/a",
            "-m",
            "two",
            "-V",
            "3.1.1",
        ]))
        .await;
        ok(switchboard(&[
            "pub",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "mq/a",
            "-m",
            "three",
            "--user-property",
            "k=v",
            "-q",
            "2",
        ]))
        .await;
        ok(switchboard(&[
            "pub",
            "--url",
            &gw.eio(),
            "-t",
            "mq/a",
            "-m",
            "four",
        ]))
        .await;
        let (code, out, err) = sub.finish().await;
        assert_eq!(code, 0, "{err}");
        // mosquitto_sub prints each message's QoS (min of publish and subscription QoS 0)
        // and user properties; 3.1.1 publishes carry none.
        assert_eq!(
            out,
            "mq/a one 0 \nmq/a two 0 \nmq/a three 0 k:v\nmq/a four 0 \n"
        );

        // mosquitto_pub → switchboard sub (MQTT 5 by default, 3.1.1, and over Engine.IO/IPC).
        let mut mine = Vec::new();
        for url in [gw.mqtt(), gw.eio(), gw.ipc()] {
            let mut r = Running::spawn(switchboard(&[
                "sub", "--url", &url, "-t", "mq/b", "-n", "3", "-F", "%t %p %r", "-d",
            ]));
            r.stderr_line("subscribed").await;
            mine.push(r);
        }
        let mut v311 = Running::spawn(switchboard(&[
            "sub",
            "-p",
            &port,
            "-h",
            "127.0.0.1",
            "-V",
            "mqttv311",
            "-t",
            "mq/b",
            "-n",
            "3",
            "-v",
            "-d",
        ]));
        v311.stderr_line("subscribed").await;
        mine.push(v311);
        gw.subscriptions("mq/b", 4).await; // three clients and the IPC bridge
        for (args, what) in [
            (&["-t", "mq/b", "-m", "hello", "-q", "1"][..], "hello"),
            (
                &["-t", "mq/b", "-m", "again", "-V", "mqttv311"][..],
                "again",
            ),
            (
                &["-t", "mq/b", "-m", "kept", "-r", "-V", "mqttv5"][..],
                "kept",
            ),
        ] {
            let o = mosquitto("mosquitto_pub", &gw, args)
                .output()
                .await
                .unwrap_or_else(|e| {
                    panic!("mosquitto_pub: {e} (apt-get install mosquitto-clients)")
                });
            assert!(
                o.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        let outs = [
            "mq/b hello 0\nmq/b again 0\nmq/b kept 0\n",
            "mq/b hello 0\nmq/b again 0\nmq/b kept 0\n",
            "mq/b hello 0\nmq/b again 0\nmq/b kept 0\n",
            "mq/b hello\nmq/b again\nmq/b kept\n",
        ];
        for (r, expect) in mine.into_iter().zip(outs) {
            let (code, out, err) = r.finish().await;
            assert_eq!((code, out.as_str()), (0, expect), "{err}");
        }
        // A retained message reached by mosquitto_sub, published by switchboard pub -r.
        let o = mosquitto(
            "mosquitto_sub",
            &gw,
            &["-t", "mq/b", "-C", "1", "-F", "%p %r"],
        )
        .output()
        .await
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&o.stdout), "kept 1\n");
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn the_sub_binary_reconnects_when_the_gateway_restarts_on_the_same_ports() {
    let first = Gw::start(|_| {}).await;
    let a = first.addresses.clone();
    let mut subs = Vec::new();
    for url in [first.mqtt(), first.eio(), first.ipc()] {
        let mut r = Running::spawn(switchboard(&[
            "sub",
            "--url",
            &url,
            "-t",
            "rs/a",
            "-n",
            "2",
            "--reconnect-max-delay",
            "0.2",
            "-d",
        ]));
        r.stderr_line("subscribed").await;
        subs.push(r);
    }
    first.subscriptions("rs/a", 3).await;
    first.publish("rs/a", "before");
    for r in &mut subs {
        r.line(true, "before").await;
    }
    first.shutdown().await;
    let second = Gw::start(|c| {
        c.http.listen = a.http;
        c.mqtt.listen = a.mqtt.unwrap();
        c.ipc.listen = a.ipc.unwrap();
    })
    .await;
    for r in &mut subs {
        r.stderr_line("reconnected and subscribed again").await;
    }
    second.subscriptions("rs/a", 3).await;
    second.publish("rs/a", "after");
    let mut results = Vec::new();
    for r in subs {
        results.push(r.finish().await);
    }
    for (code, out, err) in results {
        assert_eq!((code, out.as_str()), (0, "before\nafter\n"), "{err}");
        assert!(err.contains("reconnecting in"), "{err}");
    }
    second.shutdown().await;
}

#[tokio::test]
async fn a_pub_over_ipc_with_stdin_lines_reaches_subs_over_engineio_and_mqtt() {
    let gw = Gw::start(|_| {}).await;
    let mut subs = Vec::new();
    for url in [
        gw.eio(),
        gw.mqtt(),
        format!("ws://{}/mqtt", gw.addresses.http),
    ] {
        let mut r = Running::spawn(switchboard(&[
            "sub", "--url", &url, "-t", "x/a", "-n", "4", "-d", "--json",
        ]));
        r.stderr_line("subscribed").await;
        subs.push(r);
    }
    gw.subscriptions("x/a", 3).await;
    ok(switchboard(&[
        "pub",
        "--url",
        &gw.ipc(),
        "-t",
        "x/a",
        "-m",
        "one",
    ]))
    .await;
    let (code, _, err) = run(
        switchboard(&["pub", "--url", &gw.ipc(), "-t", "x/a", "-l"]),
        b"two\nthree\n",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        switchboard(&[
            "pub",
            "--url",
            &gw.ipc(),
            "-t",
            "x/a",
            "-s",
            "--kind",
            "json",
        ]),
        b"{\"four\": 4}",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    for r in subs {
        let (code, out, err) = r.finish().await;
        assert_eq!(code, 0, "{err}");
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let payloads: Vec<&str> = lines
            .iter()
            .map(|v| v["payload"].as_str().unwrap())
            .collect();
        assert_eq!(payloads, ["one", "two", "three", "{\"four\":4}"], "{out}");
        assert_eq!(lines[0]["kind"], "text");
        assert_eq!(lines[3]["kind"], "json");
        assert_eq!(lines[3]["data"]["four"], 4);
    }
    gw.shutdown().await;
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-app-cli-clients-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn exit_codes_and_messages() {
    // Help and usage.
    let (code, out, _) = run(switchboard(&["pub", "--help"]), b"").await;
    assert_eq!(code, 0);
    assert!(
        out.contains("Exit codes:") && out.contains("ipc+unix"),
        "{out}"
    );
    let (code, out, _) = run(switchboard(&["sub", "--help"]), b"").await;
    assert_eq!(code, 0);
    assert!(out.contains("%o") && out.contains("Reconnection"), "{out}");
    let (code, _, err) = run(switchboard(&["pub", "-t", "a"]), b"").await;
    assert_eq!(code, 64, "{err}");
    let (code, _, err) = run(
        switchboard(&["sub", "--url", "ipc://h", "-t", "a", "-q", "1"]),
        b"",
    )
    .await;
    assert_eq!(code, 64);
    assert!(err.contains("no QoS"), "{err}");
    let (code, _, err) = run(
        switchboard(&["-c", "/nonexistent.toml", "pub", "-t", "a", "-m", "b"]),
        b"",
    )
    .await;
    assert_eq!(code, 64);
    assert!(err.contains("no gateway configuration"), "{err}");

    // Unreachable.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port().to_string()
    };
    let (code, _, err) = run(
        switchboard(&["sub", "-h", "127.0.0.1", "-p", &port, "-t", "a"]),
        b"",
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot reach mqtt://127.0.0.1:"), "{err}");

    // Refused credentials, denied topic, timeout.
    let dir = scratch("codes");
    let pw = dir.join("passwd");
    switchboard_auth::passwd::create(
        &pw,
        "alice",
        b"alice-pw",
        switchboard_auth::passwd::HashKind::Pbkdf2Sha512,
        101,
    )
    .unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, "user alice\ntopic readwrite alice/#\n").unwrap();
    let gw = Gw::start(|c| {
        c.auth.anonymous = Some(false);
        c.auth.password_file = Some(pw.clone());
        c.auth.acl_file = Some(acl.clone());
        // IPC peers are anonymous clients here, not trusted local users.
        c.ipc.trust = IpcTrust::None;
    })
    .await;
    let url = format!("mqtt://alice:wrong@{}", gw.addresses.mqtt.unwrap());
    let (code, _, err) = run(
        switchboard(&["pub", "--url", &url, "-t", "alice/a", "-m", "x"]),
        b"",
    )
    .await;
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("refused") && err.contains("0x86") && !err.contains("wrong"),
        "{err}"
    );
    let (code, _, err) = run(
        switchboard(&["sub", "--url", &gw.ipc(), "-t", "alice/a"]),
        b"",
    )
    .await;
    assert_eq!(code, 3, "{err}");
    let alice = ["-u", "alice", "-P", "alice-pw"];
    let mut args = vec!["sub", "--url", &url, "-t", "secret/#"];
    args.extend(alice);
    let (code, _, err) = run(switchboard(&args), b"").await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("subscribe on `secret/#` denied"), "{err}");
    let eio = gw.eio();
    let mut args = vec!["pub", "--url", &eio, "-t", "secret/a", "-m", "x"];
    args.extend(alice);
    let (code, _, err) = run(switchboard(&args), b"").await;
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("forbidden"), "{err}");
    let mut args = vec!["sub", "--url", &url, "-t", "alice/#", "-W", "0.3"];
    args.extend(alice);
    let (code, _, err) = run(switchboard(&args), b"").await;
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("timed out"), "{err}");
    // Global options before the subcommand go through the main parser and still work.
    let mut args = vec![
        "--log-level",
        "warn",
        "pub",
        "--url",
        &url,
        "-t",
        "alice/ok",
        "-m",
        "x",
    ];
    args.extend(alice);
    let (code, _, err) = run(switchboard(&args), b"").await;
    assert_eq!(code, 0, "{err}");
    gw.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_pub_binary_prints_the_reply_to_a_request() {
    let gw = Gw::start(|_| {}).await;
    let mut sub = gw
        .fabric
        .subscriber(switchboard_fabric::SubscriberSpec::new("test", "responder"));
    sub.subscribe(
        TopicFilter::new("svc/time").unwrap(),
        switchboard_fabric::SubOptions::default(),
    );
    let fabric = gw.fabric.clone();
    let responder = tokio::spawn(async move {
        while let Ok(d) = sub.recv().await {
            if let Some(to) = d.message.reply_to.clone() {
                let mut reply = Message::json(to, r#"{"now":1764000000}"#);
                if let Some(c) = &d.message.correlation {
                    reply = reply.correlation(c.clone());
                }
                fabric.publish(reply);
            }
        }
    });
    for url in [gw.mqtt(), gw.eio(), gw.ipc()] {
        let out = ok(switchboard(&[
            "pub",
            "--url",
            &url,
            "-t",
            "svc/time",
            "-n",
            "--request",
        ]))
        .await;
        assert_eq!(out, "{\"now\":1764000000}\n", "{url}");
    }
    responder.abort();
    gw.shutdown().await;
}
