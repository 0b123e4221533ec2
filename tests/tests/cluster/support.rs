//! What the cluster scenarios share: a nats-server per test, gateways joined to it, and the
//! clients (an Engine.IO polling session driven with plain HTTP, rumqttc).
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use switchboard_config::Config;
use switchboard_tests::http::{self, Method};
use switchboard_tests::{TestGateway, wait};
use tokio::process::{Child, Command};

/// A nats-server with JetStream on a free loopback port, killed on drop.
pub struct Nats {
    port: u16,
    /// Its JetStream store (and the place for test files such as certificates), removed on drop.
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Nats {
    /// A nats-server with default options.
    pub async fn start() -> Nats {
        Nats::start_with(|_| Vec::new()).await
    }

    /// A nats-server with extra command-line options (`args` is given its directory, to write
    /// files such as certificates there first).
    pub async fn start_with(args: impl FnOnce(&std::path::Path) -> Vec<String>) -> Nats {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("switchboard-nats-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the NATS directory");
        let args = args(&dir);
        let mut n = Nats {
            port,
            dir,
            args,
            child: None,
        };
        n.spawn().await;
        n
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts (again) the server process and waits until it listens.
    pub async fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server (Debian package nats-server, see scripts/apt-packages.txt)");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        wait::until_async("nats-server to listen", || async {
            tokio::net::TcpStream::connect(&addr).await.is_ok()
        })
        .await;
    }

    /// Stops nats-server as an orchestrator does (SIGTERM) and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            if tokio::time::timeout(Duration::from_secs(10), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A gateway joined to `nats` as node `id`.
pub async fn node(nats: &Nats, id: &str) -> TestGateway {
    node_with(nats, id, |_| {}).await
}

/// A gateway joined to `nats` as node `id`, with more settings (credentials, TLS, ...).
pub async fn node_with(nats: &Nats, id: &str, more: impl FnOnce(&mut Config)) -> TestGateway {
    let url = nats.url();
    let id = id.to_owned();
    TestGateway::builder()
        .configure(move |c| {
            c.cluster.nats_url = Some(url);
            c.cluster.node_id = Some(id);
            c.cluster.resume_wait_ms = 3_000;
            more(c);
        })
        .start()
        .await
}

/// Nodes n1, n2 and n3, once each has heard the two others.
pub async fn three(nats: &Nats) -> (TestGateway, TestGateway, TestGateway) {
    let g1 = node(nats, "n1").await;
    let g2 = node(nats, "n2").await;
    let g3 = node(nats, "n3").await;
    for g in [&g1, &g2, &g3] {
        wait::until_async("every node to hear the two others", || async {
            g.metrics().await.contains("switchboard_cluster_peers 2")
        })
        .await;
    }
    (g1, g2, g3)
}

/// Waits until `gw` holds at least `n` NATS subscriptions (registered on the server).
pub async fn nats_subscriptions(gw: &TestGateway, n: usize) {
    wait::until_async(&format!("{n} NATS subscriptions"), || async {
        let m = gw.metrics().await;
        m.lines()
            .find_map(|l| l.strip_prefix("switchboard_cluster_subscriptions "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .is_some_and(|v| v >= n)
    })
    .await;
}

/// An Engine.IO polling session (control protocol) driven with plain HTTP, through any node.
pub struct Polling {
    /// The session id.
    pub sid: String,
}

impl Polling {
    /// Opens a session on `gw`.
    pub async fn open(gw: &TestGateway) -> Polling {
        let (status, body) = http::get(&gw.http_url("/engine.io/?EIO=4&transport=polling")).await;
        assert_eq!(status, 200, "{body}");
        let open: Value = serde_json::from_str(&body[1..]).expect("open packet");
        Polling {
            sid: open["sid"].as_str().expect("sid").to_owned(),
        }
    }

    /// The session's polling URL on `gw`.
    pub fn url(&self, gw: &TestGateway) -> String {
        gw.http_url(&format!(
            "/engine.io/?EIO=4&transport=polling&sid={}",
            self.sid
        ))
    }

    /// Sends one control frame through `gw`.
    pub async fn send(&self, gw: &TestGateway, frame: Value) {
        let r = http::send(
            Method::POST,
            &self.url(gw),
            &[("content-type", "text/plain;charset=UTF-8")],
            Bytes::from(format!("4{frame}")),
        )
        .await;
        assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "ok"));
    }

    /// Polls through `gw` until a control frame matching `pred` arrives.
    pub async fn expect(
        &self,
        gw: &TestGateway,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let (status, body) = http::get(&self.url(gw)).await;
            assert_eq!(status, 200, "poll: {body}");
            for packet in body.split('\u{1e}') {
                if let Some(json) = packet.strip_prefix('4')
                    && let Ok(v) = serde_json::from_str::<Value>(json)
                    && pred(&v)
                {
                    return v;
                }
                if let Some(b64) = packet.strip_prefix('b')
                    && let Some(v) = binary_frame(b64)
                    && pred(&v)
                {
                    return v;
                }
                if packet == "2" {
                    // answer the heartbeat so the session lives on
                    let _ = http::send(Method::POST, &self.url(gw), &[], Bytes::from("3")).await;
                }
            }
        }
        panic!("timed out polling for {what}");
    }
}

/// A binary control frame (`[u16 topic length][topic][payload]`, base64 in a polling payload)
/// as `{"op":"binary","topic":T,"payload":S}`.
fn binary_frame(b64: &str) -> Option<Value> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let len = usize::from(u16::from_be_bytes([*raw.first()?, *raw.get(1)?]));
    let topic = std::str::from_utf8(raw.get(2..2 + len)?).ok()?;
    let payload = String::from_utf8_lossy(raw.get(2 + len..)?);
    Some(json!({"op": "binary", "topic": topic, "payload": payload}))
}

/// An MQTT 3.1.1 client of `gw` (clean session); poll its event loop.
pub async fn mqtt(gw: &TestGateway, id: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let addr = gw.addresses.mqtt.expect("MQTT on");
    let mut o = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o.set_clean_session(true);
    rumqttc::AsyncClient::new(o, 1000)
}
