//! Helpers: URLs of a test gateway, running `pub` and `sub` in process, watching the fabric,
//! auth files, a fabric responder and an HTTP header catcher.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use switchboard_auth::passwd::{self, HashKind};
use switchboard_cli::{CliError, PubSummary, SubSummary};
use switchboard_fabric::{Message, SubOptions, Subscriber, SubscriberSpec, Topic, TopicFilter};
use switchboard_tests::TestGateway;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

pub(crate) const WAIT: Duration = Duration::from_secs(15);

pub(crate) struct Urls {
    pub(crate) mqtt: String,
    pub(crate) ws: String,
    pub(crate) eio: String,
    pub(crate) ipc: String,
}

pub(crate) fn urls(gw: &TestGateway) -> Urls {
    let a = &gw.addresses;
    Urls {
        mqtt: format!("mqtt://{}", a.mqtt.expect("mqtt listener")),
        ws: format!("ws://{}/mqtt", a.http),
        eio: format!("eio://{}", a.http),
        ipc: format!("ipc://{}", a.ipc.expect("ipc listener")),
    }
}

pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-cli-clients-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub(crate) async fn publish_with(
    args: &[&str],
    stdin: &'static [u8],
) -> Result<PubSummary, CliError> {
    let s = switchboard_cli::pub_settings(std::iter::once("pub").chain(args.iter().copied()))?;
    tokio::time::timeout(
        WAIT,
        switchboard_cli::publish(&s, stdin, &mut std::io::sink()),
    )
    .await
    .expect("pub finishes")
}

pub(crate) async fn publish(args: &[&str]) -> Result<PubSummary, CliError> {
    publish_with(args, b"").await
}

pub(crate) async fn published(args: &[&str]) -> PubSummary {
    publish(args)
        .await
        .unwrap_or_else(|e| panic!("pub {args:?}: {e}"))
}

pub(crate) fn watch(gw: &TestGateway, filter: &str) -> Subscriber {
    let mut s = gw.fabric.subscriber(SubscriberSpec::new("test", "watch"));
    s.subscribe(TopicFilter::new(filter).unwrap(), SubOptions::default());
    s
}

pub(crate) async fn next(s: &mut Subscriber) -> Arc<Message> {
    tokio::time::timeout(WAIT, s.recv())
        .await
        .expect("a message in time")
        .expect("subscriber open")
        .message
}

/// A `Write` the test can read and wait on while `sub` runs.
#[derive(Clone)]
pub(crate) struct Out(pub(crate) Arc<tokio::sync::watch::Sender<Vec<u8>>>);

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
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

pub(crate) struct Sub {
    pub(crate) out: Out,
    task: JoinHandle<Result<SubSummary, CliError>>,
    subscribed: tokio::sync::watch::Receiver<u64>,
}

pub(crate) fn spawn_sub(args: &[&str]) -> Sub {
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
    pub(crate) async fn ready(&mut self, n: u64) {
        tokio::time::timeout(WAIT, self.subscribed.wait_for(|c| *c >= n))
            .await
            .expect("subscribed in time")
            .expect("sub running");
    }

    pub(crate) async fn finish(self) -> (Result<SubSummary, CliError>, String) {
        let r = tokio::time::timeout(WAIT, self.task)
            .await
            .expect("sub finishes")
            .expect("sub task");
        (r, self.out.text())
    }

    pub(crate) async fn output(self) -> String {
        let (r, out) = self.finish().await;
        r.unwrap_or_else(|e| panic!("sub failed: {e} (output {out:?})"));
        out
    }

    pub(crate) async fn wait_output(&self, what: &str) {
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
pub(crate) async fn subscriptions(gw: &TestGateway, filter: &str, n: usize) {
    let f = TopicFilter::new(filter).unwrap();
    switchboard_tests::wait::until(&format!("{n} subscriptions to {filter}"), || {
        gw.fabric.subscriptions(Some(&f)).len() >= n
    })
    .await;
}

pub(crate) fn publish_fabric(gw: &TestGateway, topic: &str, text: &str) {
    gw.fabric
        .publish(Message::text(Topic::new(topic).unwrap(), text));
}

pub(crate) fn exit_code<T: std::fmt::Debug>(r: Result<T, CliError>) -> u8 {
    match r {
        Err(e) => e.exit_code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

pub(crate) const ACL: &str = "user alice\ntopic readwrite alice/#\ntopic read public/#\n";

pub(crate) fn auth_files(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let pw = dir.join("passwd");
    passwd::create(&pw, "alice", b"alice-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, ACL).unwrap();
    (pw, acl)
}

/// Answers fabric requests on `svc/#`: `svc/echo` with `pong:<payload>`, `svc/reject` with a
/// rejection (the user property `error`), `svc/silent` never.
pub(crate) fn responder(gw: &TestGateway) -> JoinHandle<()> {
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

/// A server that records the head of the first HTTP request, then answers `403`.
pub(crate) async fn header_catcher() -> (String, tokio::sync::oneshot::Receiver<String>) {
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
