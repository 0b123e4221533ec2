//! Socket.IO on a whole gateway: mounted on the front next to Engine.IO (sharing its metrics),
//! over polling, with its own metrics on the admin port; served alone when Engine.IO is off.

use bytes::Bytes;
use switchboard_tests::TestGateway;
use switchboard_tests::http::{self, Method};

/// Opens a polling session on `/socket.io/`, joins the main namespace, returns the poll URL.
async fn join(gw: &TestGateway) -> String {
    let (status, body) = http::get(&gw.http_url("/socket.io/?EIO=4&transport=polling")).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body[1..]).expect("handshake JSON");
    let sid = json["sid"].as_str().expect("sid").to_owned();
    let poll = gw.http_url(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
    let r = http::send(Method::POST, &poll, &[], Bytes::from_static(b"40")).await;
    assert_eq!(r.status, 200);
    let (status, body) = http::get(&poll).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("40{\"sid\":\""), "{body}");
    poll
}

#[tokio::test]
async fn socketio_is_mounted_next_to_engineio() {
    let gw = TestGateway::builder().start().await;
    let (status, _) = http::get(&gw.http_url("/engine.io/?EIO=4&transport=polling")).await;
    assert_eq!(status, 200);
    let poll = join(&gw).await;
    // an event with an acknowledgement, over polling
    let r = http::send(
        Method::POST,
        &poll,
        &[],
        Bytes::from_static(br#"421["publish","a/b",{"v":1}]"#),
    )
    .await;
    assert_eq!(r.status, 200);
    let (_, body) = http::get(&poll).await;
    assert_eq!(body, r#"431[{"ok":true}]"#);
    switchboard_tests::wait::until_async("the socket.io metrics", || async {
        let (_, m) = http::get(&gw.admin_url("/metrics")).await;
        m.contains(r#"switchboard_socketio_sockets{namespace="/"} 1"#)
            && m.contains(r#"switchboard_connections{protocol="socketio"} 1"#)
            && m.contains(r#"switchboard_socketio_connects_total{namespace="/",outcome="ok"} 1"#)
            && m.contains(
                r#"switchboard_engineio_handshakes_total{protocol="4",transport="polling"} 2"#,
            )
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn socketio_runs_without_engineio_and_can_be_disabled() {
    let gw = TestGateway::builder()
        .configure(|c| c.engineio.enabled = false)
        .start()
        .await;
    let (status, _) = http::get(&gw.http_url("/engine.io/?EIO=4&transport=polling")).await;
    assert_eq!(status, 404);
    join(&gw).await;
    gw.shutdown().await;
    let gw = TestGateway::builder()
        .configure(|c| c.socketio.enabled = false)
        .start()
        .await;
    let (status, _) = http::get(&gw.http_url("/socket.io/?EIO=4&transport=polling")).await;
    assert_eq!(status, 404);
    gw.shutdown().await;
}
