//! One user and ACL model for every protocol: the same ACL file denies the same topic to the
//! same user over MQTT 3.1.1 and 5 (user name and password), Engine.IO (the `auth` op, a JWT
//! in the `token` query), Socket.IO (the connect auth payload) and the IPC bus (trusted local
//! peers, named by their `peerName`), and the refusals are counted per protocol.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_auth::passwd::{self, HashKind};
use switchboard_fabric::{SubOptions, SubscriberSpec, Topic, TopicFilter};
use switchboard_tests::TestGateway;
use switchboard_tests::interop;

use crate::support::*;

const SECRET: &str = "cross-protocol-secret-of-32-bytes!";

const ACL: &str = "\
user alice
topic readwrite plant/#
topic deny plant/secret/#
";

fn files() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("switchboard-cross-acl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("passwd");
    passwd::create(&pw, "alice", b"alice-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, ACL).unwrap();
    (pw, acl)
}

fn token(user: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() + 600)
        .unwrap_or(0);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": user, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("a signed token")
}

/// Subscribing to `plant/secret/#` and publishing on `plant/secret/x` are refused; the same on
/// `plant/public/…` is allowed.
async fn browser_is_held_to_the_acl(b: &mut Agent) {
    let e = op(b, json!({"op": "sub", "topic": "plant/secret/#"}), 11).await;
    assert_eq!(
        (e["op"].clone(), e["code"].clone()),
        (json!("err"), json!("forbidden")),
        "{e}"
    );
    let e = op(
        b,
        json!({"op": "pub", "topic": "plant/secret/x", "text": "from a browser"}),
        12,
    )
    .await;
    assert_eq!(e["code"], "forbidden", "{e}");
    assert_eq!(
        op(b, json!({"op": "sub", "topic": "plant/public/#"}), 13).await["op"],
        "ack"
    );
    let a = op(
        b,
        json!({"op": "pub", "topic": "plant/public/x", "text": "from a browser"}),
        14,
    )
    .await;
    assert_eq!(a["op"], "ack");
}

use switchboard_tests::agent::Agent;

#[tokio::test]
async fn the_same_acl_denies_the_same_topic_on_every_protocol() {
    let (pw, acl) = files();
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw);
            c.auth.acl_file = Some(acl);
            c.auth.jwt = Some(switchboard_config::JwtConfig {
                secret: Some(switchboard_config::Secret::new(SECRET)),
                ..Default::default()
            });
        })
        .start()
        .await;
    // What really gets through to the fabric.
    let mut observer = gw
        .fabric
        .subscriber(SubscriberSpec::new("test", "observer"));
    observer.subscribe(TopicFilter::new("plant/#").unwrap(), SubOptions::default());
    let secret = Topic::new("plant/secret/x").unwrap();

    // MQTT 5 and 3.1.1, user name and password.
    let mut m5 = Mqtt5::connect_with(&gw, "alice-5", |o| {
        o.set_credentials("alice", "alice-pw");
    })
    .await;
    use rumqttc::v5::mqttbytes::v5::{PubAckReason, SubscribeReasonCode};
    assert_eq!(
        m5.subscribe("plant/secret/#").await,
        [SubscribeReasonCode::NotAuthorized]
    );
    assert_eq!(
        m5.publish("plant/secret/x", "from mqtt", false, props("text"))
            .await,
        PubAckReason::NotAuthorized
    );
    assert!(matches!(
        m5.subscribe("plant/public/#").await[..],
        [SubscribeReasonCode::Success(_)]
    ));
    assert_eq!(
        m5.publish("plant/public/x", "from mqtt", false, props("text"))
            .await,
        PubAckReason::Success
    );
    let mut m3 = Mqtt4::connect_with(&gw, "alice-3", |o| {
        o.set_credentials("alice", "alice-pw");
    })
    .await;
    assert_eq!(
        m3.subscribe("plant/secret/#").await,
        [rumqttc::SubscribeReasonCode::Failure]
    );

    // Engine.IO: the `auth` op with the password, then a JWT in the `token` query.
    let mut b = browser(&gw, "alice-eio").await;
    let e = op(&mut b, json!({"op": "sub", "topic": "plant/public/#"}), 1).await;
    assert_eq!(e["code"], "unauthorized", "no identity yet: {e}");
    let a = op(
        &mut b,
        json!({"op": "auth", "username": "alice", "password": "alice-pw"}),
        2,
    )
    .await;
    assert_eq!(a["op"], "ack", "{a}");
    browser_is_held_to_the_acl(&mut b).await;
    let mut jwt = browser_with(&gw, "alice-jwt", json!({"token": token("alice")})).await;
    browser_is_held_to_the_acl(&mut jwt).await;

    // Socket.IO: the connect auth payload.
    let out = interop::run(
        interop::node(
            "browser",
            "sio_acl.mjs",
            &[gw.http_url(""), "alice".into(), "alice-pw".into()],
        ),
        WAIT,
    )
    .await;
    out.assert_success();
    let ack = |name: &str| -> Value { out.events_named(name)[0]["ack"].clone() };
    assert_eq!(ack("subscribe-denied")["code"], "forbidden");
    assert_eq!(ack("publish-denied")["code"], "forbidden");
    assert_eq!(ack("subscribe-allowed"), json!({"ok": true}));
    assert_eq!(ack("publish-allowed"), json!({"ok": true}));

    // IPC: let in without credentials (trusted local) as the user its peerName names.
    let mut app = ipc(&gw, "alice").await;
    ipc_do(
        &mut app,
        json!({"cmd": "listen", "channel": "plant/secret/x"}),
    )
    .await;
    ipc_do(
        &mut app,
        json!({"cmd": "listen", "channel": "plant/public/y"}),
    )
    .await;
    gw.subscribed("plant/public/y").await;
    assert!(
        !gw.fabric.has_subscribers_except(&secret, observer.id()),
        "the IPC listener on a denied channel was refused"
    );
    for channel in ["plant/secret/x", "plant/public/y"] {
        ipc_do(
            &mut app,
            json!({"cmd": "send", "channel": channel, "args": [{"t": "string", "v": "from ipc"}]}),
        )
        .await;
    }
    // A peer the ACL does not name may do nothing (mosquitto's rule: what is not granted is
    // denied).
    let mut stranger = ipc(&gw, "mallory").await;
    ipc_do(
        &mut stranger,
        json!({"cmd": "send", "channel": "plant/public/y", "args": [{"t": "string", "v": "from mallory"}]}),
    )
    .await;

    // The fabric saw the allowed publishes of every protocol, and none of the denied ones.
    let mut seen = Vec::new();
    while let Ok(Ok(d)) = tokio::time::timeout(Duration::from_millis(500), observer.recv()).await {
        seen.push((
            d.message.topic.as_str().to_owned(),
            d.message.payload_str().unwrap_or_default().to_owned(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("plant/public/x".to_owned(), "from a browser".to_owned()),
            ("plant/public/x".to_owned(), "from a browser".to_owned()),
            ("plant/public/x".to_owned(), "from mqtt".to_owned()),
            ("plant/public/x".to_owned(), "from socket.io".to_owned()),
            ("plant/public/y".to_owned(), "from ipc".to_owned()),
        ]
    );

    // Counted per protocol.
    let metrics = gw.metrics().await;
    for protocol in ["mqtt", "engineio", "socketio", "ipc"] {
        assert!(
            sample(
                &metrics,
                "switchboard_auth_failures_total",
                &[&format!("protocol=\"{protocol}\"")]
            ) > 0.0,
            "{protocol} refusals are counted"
        );
    }
    b.kill().await;
    jwt.kill().await;
    app.kill().await;
    stranger.kill().await;
    gw.shutdown().await;
}
