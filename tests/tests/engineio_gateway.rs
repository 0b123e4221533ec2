//! Engine.IO on a whole gateway: mounted on the front with the JavaScript client, its metrics
//! on the admin port, its sessions said goodbye to on shutdown.

use bytes::Bytes;
use switchboard_tests::TestGateway;
use switchboard_tests::http::{self, Method};

#[tokio::test]
async fn engineio_is_mounted_with_its_client_and_metrics() {
    let gw = TestGateway::builder().start().await;
    let (status, body) = http::get(&gw.http_url("/engine.io/?EIO=4&transport=polling")).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("0{\"sid\":"), "{body}");
    let json: serde_json::Value = serde_json::from_str(&body[1..]).expect("handshake JSON");
    let sid = json["sid"].as_str().expect("sid").to_owned();

    let js = http::send(
        Method::GET,
        &gw.http_url("/switchboard.js"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(js.status, 200);
    assert!(js.text().contains("export function connect"));

    // the session closes with a `close` packet from the client, counted by reason
    let poll = gw.http_url(&format!("/engine.io/?EIO=4&transport=polling&sid={sid}"));
    let r = http::send(Method::POST, &poll, &[], Bytes::from_static(b"1")).await;
    assert_eq!(r.status, 200);
    let (status, body) = http::get(&poll).await;
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"code":1,"message":"Session ID unknown"}"#)
    );
    switchboard_tests::wait::until_async("the disconnect to be counted", || async {
        let (_, metrics) = http::get(&gw.admin_url("/metrics")).await;
        metrics.contains(
            r#"switchboard_disconnects_total{protocol="engineio",reason="transport_close"} 1"#,
        ) && metrics.contains(
            r#"switchboard_engineio_handshakes_total{protocol="4",transport="polling"} 1"#,
        )
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn engineio_can_be_disabled() {
    let gw = TestGateway::builder()
        .configure(|c| c.engineio.enabled = false)
        .start()
        .await;
    let (status, _) = http::get(&gw.http_url("/engine.io/?EIO=4&transport=polling")).await;
    assert_eq!(status, 404);
    gw.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_pending_polls_with_a_close_packet() {
    let mut gw = TestGateway::builder().start().await;
    let (_, body) = http::get(&gw.http_url("/engine.io/?EIO=4&transport=polling")).await;
    let json: serde_json::Value = serde_json::from_str(&body[1..]).expect("handshake JSON");
    let sid = json["sid"].as_str().expect("sid").to_owned();
    let poll = gw.http_url(&format!("/engine.io/?EIO=4&transport=polling&sid={sid}"));
    let pending = tokio::spawn(async move { http::get(&poll).await });
    let metrics = gw.admin_url("/metrics");
    switchboard_tests::wait::until_async("the poll to be pending", || async {
        http::get(&metrics)
            .await
            .1
            .contains("switchboard_engineio_pending_polls 1")
    })
    .await;
    gw.begin_shutdown();
    let (status, body) = pending.await.expect("the poll task");
    assert_eq!((status, body.as_str()), (200, "1"));
    gw.join().await.expect("a clean shutdown");
}
