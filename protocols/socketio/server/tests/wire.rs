//! The Socket.IO server on a real port, driven at wire level with a WebSocket client: namespace
//! connections and refusals, both mappings, acknowledgements, binary attachments both ways,
//! requests both ways, authentication, protocol violations and the connect timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use switchboard_engineio::EngineIoConfig;
use switchboard_fabric::{
    Access, AuthError, Authorizer, Credentials, Fabric, Identity, Message, PayloadKind, SubOptions,
    SubscriberSpec, Topic, TopicFilter,
};
use switchboard_socketio::{NamespaceConfig, NamespaceMode, SocketIoConfig};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as Ws;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Token `good` is alice; other tokens are refused; anonymous clients get in. Nobody may
/// subscribe to `secret/...` or publish to `ro/...`.
#[derive(Debug)]
struct TestAuth;

impl Authorizer for TestAuth {
    fn authenticate(
        &self,
        _protocol: &str,
        client_id: &str,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError> {
        match credentials {
            Credentials::Anonymous => Ok(Identity::anonymous(client_id)),
            Credentials::Token(t) if t == "good" => Ok(Identity::user("alice", client_id)),
            _ => Err(AuthError::BadCredentials),
        }
    }

    fn authorize(&self, _identity: &Identity, access: Access, topic: &str) -> bool {
        !(access == Access::Subscribe && topic.starts_with("secret/")
            || access == Access::Write && topic.starts_with("ro/"))
    }
}

struct Server {
    addr: SocketAddr,
    fabric: Fabric,
    stop: CancellationToken,
}

async fn serve(mut config: SocketIoConfig) -> Server {
    config.namespaces.push(NamespaceConfig {
        name: "/ev".to_owned(),
        mode: NamespaceMode::Events,
        mount: "plant/".to_owned(),
        ..NamespaceConfig::default()
    });
    let registry = prometheus::Registry::new();
    let fabric = Fabric::new(Default::default(), "node-a", &registry).expect("fabric");
    let stop = CancellationToken::new();
    let mounted = switchboard_socketio::mount(
        &config,
        &EngineIoConfig::default(),
        fabric.clone(),
        Arc::new(TestAuth),
        &registry,
        None,
        stop.clone(),
        TaskTracker::new(),
    )
    .expect("mount");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, mounted.router)
            .with_graceful_shutdown(async move { s.cancelled().await })
            .await;
    });
    Server { addr, fabric, stop }
}

struct Client {
    ws: WebSocketStream<TcpStream>,
}

impl Client {
    async fn open(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .expect("WebSocket handshake");
        let mut c = Client { ws };
        let open = c.text().await;
        assert!(open.starts_with("0{\"sid\""), "{open}");
        c
    }

    async fn send(&mut self, text: &str) {
        self.ws
            .send(Ws::Text(format!("4{text}").into()))
            .await
            .expect("send");
    }

    async fn send_bin(&mut self, data: &[u8]) {
        self.ws
            .send(Ws::Binary(data.to_vec().into()))
            .await
            .expect("send");
    }

    /// The next message (text without the Engine.IO `4`, binary as `bin:`), answering pings;
    /// `None` when the connection closed.
    async fn next(&mut self) -> Option<Ws> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), self.ws.next())
                .await
                .expect("a message within 5 s");
            match m {
                Some(Ok(Ws::Text(t))) if t.as_str() == "2" => {
                    let _ = self.ws.send(Ws::Text("3".into())).await;
                }
                Some(Ok(Ws::Text(t))) => return Some(Ws::Text(t)),
                Some(Ok(Ws::Binary(b))) => return Some(Ws::Binary(b)),
                Some(Ok(Ws::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    async fn text(&mut self) -> String {
        match self.next().await {
            Some(Ws::Text(t)) => t.as_str().to_owned(),
            other => panic!("expected text, got {other:?}"),
        }
    }

    /// The next Socket.IO packet's text (the Engine.IO `4` stripped).
    async fn packet(&mut self) -> String {
        let t = self.text().await;
        t.strip_prefix('4')
            .unwrap_or_else(|| panic!("not a message: {t}"))
            .to_owned()
    }

    async fn binary(&mut self) -> Vec<u8> {
        match self.next().await {
            Some(Ws::Binary(b)) => b.to_vec(),
            other => panic!("expected binary, got {other:?}"),
        }
    }

    /// Connects to `nsp` with `auth` and returns the CONNECT answer.
    async fn join(&mut self, nsp: &str, auth: &str) -> String {
        let prefix = if nsp == "/" {
            String::new()
        } else {
            format!("{nsp},")
        };
        self.send(&format!("0{prefix}{auth}")).await;
        self.packet().await
    }

    /// Whether the server ends the connection (after at most one more message).
    async fn closed(&mut self) -> bool {
        self.next().await.is_none() || self.next().await.is_none()
    }
}

fn topic(s: &str) -> Topic {
    Topic::new(s).expect("topic")
}

#[tokio::test]
async fn namespaces_connect_or_are_refused() {
    let s = serve(SocketIoConfig::default()).await;
    let mut c = Client::open(s.addr).await;
    let ok = c.join("/", "").await;
    assert!(ok.starts_with("0{\"sid\":\""), "{ok}");
    assert_eq!(
        c.join("/random", "").await,
        r#"4/random,{"message":"Invalid namespace"}"#
    );
    assert_eq!(
        c.join("/", r#"{"token":"bad"}"#).await,
        r#"4{"message":"bad user name or password","data":{"code":"unauthorized"}}"#
    );
    let ev = c.join("/ev", r#"{"token":"good"}"#).await;
    assert!(ev.starts_with("0/ev,{\"sid\":\""), "{ev}");
    assert_eq!(
        c.join("/", r#"{"join":"secret/x"}"#).await,
        r#"4{"message":"not allowed to subscribe to `secret/x`","data":{"code":"forbidden"}}"#
    );
    let bad = c.join("/ev", r##"{"join":["a/#/b"]}"##).await;
    assert!(bad.starts_with("4/ev,{\"message\":\"`a/#/b`: "), "{bad}");
    assert!(
        bad.ends_with(r#""data":{"code":"invalid_topic"}}"#),
        "{bad}"
    );
    assert_eq!(
        c.join("/", r#"{"token":5}"#).await.split("\"data\"").nth(1),
        Some(r#":{"code":"bad_request"}}"#)
    );
    s.stop.cancel();
}

#[tokio::test]
async fn control_mode_maps_events_onto_the_fabric() {
    let s = serve(SocketIoConfig::default()).await;
    let mut c = Client::open(s.addr).await;
    c.join("/", "").await;
    // subscribe, acknowledged, then deliveries as `message` events
    c.send(r#"21["subscribe","a/+"]"#).await;
    assert_eq!(c.packet().await, r#"31[{"ok":true}]"#);
    s.fabric.publish(Message::json(topic("a/1"), r#"{"v":1}"#));
    assert_eq!(
        c.packet().await,
        r#"2["message","a/1",{"v":1},{"retain":false,"qos":0}]"#
    );
    // publish with options and an ack: text stays text
    let mut sub = s.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(
        TopicFilter::new("b/#").expect("filter"),
        SubOptions::default(),
    );
    c.send(r#"22["publish","b/1","hi",{"retain":true,"qos":1}]"#)
        .await;
    assert_eq!(c.packet().await, r#"32[{"ok":true}]"#);
    let d = sub.recv().await.expect("delivery");
    assert_eq!(
        (d.message.payload_str(), d.message.kind, d.message.retain),
        (Some("hi"), PayloadKind::Text, true)
    );
    // binary publish: the attachment becomes a binary message
    c.send(r#"51-3["publish","b/bin",{"_placeholder":true,"num":0}]"#)
        .await;
    c.send_bin(&[1, 2, 3]).await;
    assert_eq!(c.packet().await, r#"33[{"ok":true}]"#);
    let d = sub.recv().await.expect("delivery");
    assert_eq!(
        (&d.message.payload[..], d.message.kind),
        (&[1u8, 2, 3][..], PayloadKind::Binary)
    );
    // binary delivery: a placeholder, then the attachment
    s.fabric.publish(Message::new(topic("a/bin"), vec![9u8, 8]));
    assert_eq!(
        c.packet().await,
        r#"51-["message","a/bin",{"_placeholder":true,"num":0},{"retain":false,"qos":0}]"#
    );
    assert_eq!(c.binary().await, [9, 8]);
    // errors: the control protocol's codes
    c.send(r#"24["publish","ro/x",1]"#).await;
    assert_eq!(
        c.packet().await,
        r#"34[{"ok":false,"code":"forbidden","message":"not allowed to publish on this topic"}]"#
    );
    c.send(r#"25["subscribe","secret/#"]"#).await;
    assert!(
        c.packet()
            .await
            .starts_with(r#"35[{"ok":false,"code":"forbidden""#)
    );
    c.send(r#"26["publish","a/#",1]"#).await;
    assert!(
        c.packet()
            .await
            .starts_with(r#"36[{"ok":false,"code":"invalid_topic""#)
    );
    c.send(r#"2["nope"]"#).await;
    assert!(
        c.packet()
            .await
            .starts_with(r#"2["error",{"ok":false,"code":"bad_request""#)
    );
    // unsubscribe: no more deliveries
    c.send(r#"27["unsubscribe","a/+"]"#).await;
    assert_eq!(c.packet().await, r#"37[{"ok":true}]"#);
    s.fabric.publish(Message::text(topic("a/2"), "gone"));
    c.send(r#"28["publish","b/2",null]"#).await;
    assert_eq!(
        c.packet().await,
        r#"38[{"ok":true}]"#,
        "no delivery of a/2 before"
    );
    s.stop.cancel();
}

#[tokio::test]
async fn requests_go_both_ways() {
    let s = serve(SocketIoConfig::default()).await;
    let mut c = Client::open(s.addr).await;
    c.join("/", "").await;
    // client → fabric: a responder answers
    let mut responder = s.fabric.subscriber(SubscriberSpec::new("test", "svc"));
    responder.subscribe(
        TopicFilter::new("svc/time").expect("filter"),
        SubOptions::default(),
    );
    let fabric = s.fabric.clone();
    tokio::spawn(async move {
        if let Ok(d) = responder.recv().await
            && let Some(to) = d.message.reply_to.clone()
        {
            fabric.publish(Message::json(to, r#"{"now":1}"#));
        }
    });
    c.send(r#"29["request","svc/time",null,{"timeout_ms":2000}]"#)
        .await;
    assert_eq!(c.packet().await, r#"39[{"ok":true,"data":{"now":1}}]"#);
    c.send(r#"210["request","svc/none",1]"#).await;
    assert!(
        c.packet()
            .await
            .starts_with(r#"310[{"ok":false,"code":"no_responders""#)
    );
    // fabric → client: a `request` event whose ack is the reply
    c.send(r#"211["subscribe","ask/#"]"#).await;
    assert_eq!(c.packet().await, r#"311[{"ok":true}]"#);
    let fabric = s.fabric.clone();
    let asked = tokio::spawn(async move {
        fabric
            .request(Message::json(topic("ask/1"), "5"), Duration::from_secs(5))
            .await
    });
    assert_eq!(
        c.packet().await,
        r#"20["request","ask/1",5,{"retain":false,"qos":0}]"#
    );
    c.send(r#"30[{"double":10}]"#).await;
    let reply = asked.await.expect("task").expect("reply");
    assert_eq!(reply.payload_str(), Some(r#"{"double":10}"#));
    s.stop.cancel();
}

#[tokio::test]
async fn events_mode_names_topics_and_joins_on_connect() {
    let s = serve(SocketIoConfig::default()).await;
    s.fabric
        .publish(Message::json(topic("plant/1/temp"), "20").retain(true));
    let mut c = Client::open(s.addr).await;
    let ok = c.join("/ev", r#"{"join":["+/temp"]}"#).await;
    assert!(ok.starts_with("0/ev,"), "{ok}");
    // the retained value replays after the CONNECT answer
    assert_eq!(
        c.packet().await,
        r#"2/ev,["1/temp",20,{"retain":true,"qos":0}]"#
    );
    s.fabric
        .publish(Message::json(topic("plant/2/temp"), "21.5"));
    assert_eq!(
        c.packet().await,
        r#"2/ev,["2/temp",21.5,{"retain":false,"qos":0}]"#
    );
    let mut sub = s.fabric.subscriber(SubscriberSpec::new("test", "t"));
    sub.subscribe(
        TopicFilter::new("plant/+/cmd").expect("filter"),
        SubOptions::default(),
    );
    c.send(r#"2/ev,["1/cmd","on"]"#).await;
    c.send(r#"2/ev,4["2/cmd",1,2]"#).await;
    assert_eq!(c.packet().await, r#"3/ev,4[{"ok":true}]"#);
    let a = sub.recv().await.expect("delivery");
    let b = sub.recv().await.expect("delivery");
    assert_eq!(
        (
            a.message.topic.as_str(),
            a.message.payload_str(),
            a.message.kind
        ),
        ("plant/1/cmd", Some("on"), PayloadKind::Text)
    );
    assert_eq!(
        (
            b.message.topic.as_str(),
            b.message.payload_str(),
            b.message.kind
        ),
        ("plant/2/cmd", Some("[1,2]"), PayloadKind::Json)
    );
    s.stop.cancel();
}

#[tokio::test]
async fn protocol_violations_close_the_connection() {
    let s = serve(SocketIoConfig::default()).await;
    for bad in ["abc", "2[\"connect\"]", "9", "511-[\"x\"]"] {
        let mut c = Client::open(s.addr).await;
        c.join("/", "").await;
        c.send(bad).await;
        assert!(c.closed().await, "{bad} should close");
    }
    // text while attachments are expected
    let mut c = Client::open(s.addr).await;
    c.join("/", "").await;
    c.send(r#"51-["publish","x",{"_placeholder":true,"num":0}]"#)
        .await;
    c.send(r#"2["publish","x",1]"#).await;
    assert!(c.closed().await);
    // binary nobody announced
    let mut c = Client::open(s.addr).await;
    c.join("/", "").await;
    c.send_bin(&[1]).await;
    assert!(c.closed().await);
    s.stop.cancel();
}

#[tokio::test]
async fn a_client_that_never_connects_a_namespace_is_closed() {
    let s = serve(SocketIoConfig {
        connect_timeout_ms: 200,
        ..SocketIoConfig::default()
    })
    .await;
    let mut c = Client::open(s.addr).await;
    assert!(c.closed().await);
    let mut c = Client::open(s.addr).await;
    c.join("/", "").await;
    c.send(r#"21["subscribe","x"]"#).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.packet().await, r#"31[{"ok":true}]"#, "still open");
    s.stop.cancel();
}

#[tokio::test]
async fn namespace_sockets_are_listed_and_an_admin_kick_disconnects_them() {
    use switchboard_fabric::{ClientId, Kick};
    let s = serve(SocketIoConfig::default()).await;
    let mut c = Client::open(s.addr).await;
    let main = c.join("/", r#"{"token":"good"}"#).await;
    let ev = c.join("/ev", "").await;
    let sid = |answer: &str| -> String {
        let json = &answer[answer.find('{').expect("a payload")..];
        let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
        v["sid"].as_str().expect("sid").to_owned()
    };
    let (main_id, ev_id) = (
        ClientId::new("socketio", sid(&main)),
        ClientId::new("socketio", sid(&ev)),
    );
    let clients = s.fabric.clients();
    let info = clients
        .get(&main_id)
        .expect("the main namespace socket is listed");
    assert_eq!(info.user.as_deref(), Some("alice"));
    assert_eq!(info.transport, "websocket");
    assert!(clients.contains(&ev_id));
    // One namespace kicked: its DISCONNECT, the connection stays for the other.
    assert_eq!(clients.kick(&ev_id), Kick::Kicked);
    assert_eq!(c.packet().await, "1/ev,");
    assert!(!clients.contains(&ev_id));
    assert!(clients.contains(&main_id));
    // The last one: DISCONNECT, then the connection closes.
    assert_eq!(clients.kick(&main_id), Kick::Kicked);
    assert_eq!(c.packet().await, "1");
    assert!(c.closed().await);
    assert!(clients.is_empty());
    s.stop.cancel();
}
