//! `GET /api/v1/stream`: live messages as Server-Sent Events, resumed after a reconnect with
//! `Last-Event-ID`, a `gap` event when what was missed is no longer kept.

use serde_json::json;
use switchboard_tests::http::Method;
use switchboard_tests::{TestGateway, wait};

use crate::support::*;

async fn publish(gw: &TestGateway, topic: &str, text: &str) {
    let (status, body) = call(
        gw,
        Method::POST,
        "/publish",
        Some(json!({"topic": topic, "text": text})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// Waits until no stream is open (the previous consumer's connection was noticed closed).
async fn streams_closed(gw: &TestGateway) {
    wait::until_async("the stream to be closed", || async {
        gw.metrics()
            .await
            .contains("switchboard_api_streams_open 0")
    })
    .await;
}

#[tokio::test]
async fn a_stream_carries_live_messages_and_resumes_after_a_reconnect() {
    let gw = gateway().await;
    let mut sse = Sse::open(&gw, "/stream?filter=live/%23", &[]).await;
    gw.subscribed("live/a").await;
    let dev = Mqtt::connect(&gw, "dev", None).await;
    dev.publish("live/a", "one", false).await;
    publish(&gw, "other/x", "not this filter").await;
    publish(&gw, "live/b", "two").await;
    let first = sse.next().await;
    assert_eq!(first.event, "message");
    let data = first.json();
    // MQTT 5 without a payload format indicator is binary: base64 of "one".
    assert_eq!(
        (&data["topic"], &data["base64"]),
        (&json!("live/a"), &json!("b25l")),
        "{data}"
    );
    assert_eq!(data["origin"]["protocol"], "mqtt");
    let second = sse.next().await;
    assert_eq!(second.json()["text"], "two");
    let (a, b) = (id(&first), id(&second));
    assert!(b > a, "ids grow: {a} then {b}");

    // The consumer goes away; what is published meanwhile is kept for it.
    drop(sse);
    streams_closed(&gw).await;
    publish(&gw, "live/c", "three").await;
    publish(&gw, "live/d", "four").await;
    let mut again = Sse::open(
        &gw,
        "/stream?filter=live/%23",
        &[("last-event-id", &b.to_string())],
    )
    .await;
    let texts = [again.next().await, again.next().await];
    assert_eq!(
        texts
            .iter()
            .map(|e| e.json()["text"].clone())
            .collect::<Vec<_>>(),
        [json!("three"), json!("four")]
    );
    assert!(texts.iter().all(|e| e.event == "message"));
    publish(&gw, "live/e", "five").await;
    let live = again.next().await;
    assert_eq!(live.json()["text"], "five");
    assert_eq!(id(&live), id(&texts[1]) + 1);
    // The query parameter does the same as the header.
    let mut by_query = Sse::open(
        &gw,
        &format!("/stream?filter=live/%23&last_event_id={b}"),
        &[],
    )
    .await;
    assert_eq!(by_query.next().await.json()["text"], "three");
    assert!(
        gw.metrics()
            .await
            .contains("switchboard_api_streams_open 2")
    );
    gw.shutdown().await;
}

fn id(e: &SseEvent) -> u64 {
    e.id.as_deref()
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("no id: {e:?}"))
}

#[tokio::test]
async fn a_resume_beyond_the_ring_starts_with_a_gap() {
    let gw = gateway_with(|c| c.admin.stream_ring = 2).await;
    let mut sse = Sse::open(&gw, "/stream?filter=g/%23", &[]).await;
    gw.subscribed("g/x").await;
    publish(&gw, "g/x", "seen").await;
    let seen = id(&sse.next().await);
    drop(sse);
    streams_closed(&gw).await;
    for i in 0..5 {
        publish(&gw, "g/x", &format!("missed {i}")).await;
    }
    let mut again = Sse::open(
        &gw,
        "/stream?filter=g/%23",
        &[("last-event-id", &seen.to_string())],
    )
    .await;
    let gap = again.next().await;
    assert_eq!(gap.event, "gap", "{gap:?}");
    assert_eq!(
        (gap.json()["after"].clone(), gap.json()["reason"].clone()),
        (json!(seen), json!("out_of_ring"))
    );
    // Then what the ring still has (the last two), then live ones.
    assert_eq!(again.next().await.json()["text"], "missed 3");
    assert_eq!(again.next().await.json()["text"], "missed 4");
    // An id this gateway never gave (it restarted, say) is a gap too.
    let mut unknown = Sse::open(&gw, "/stream?filter=g/%23", &[("last-event-id", "999999")]).await;
    let gap = unknown.next().await;
    assert_eq!(
        (gap.event.as_str(), gap.json()["reason"].clone()),
        ("gap", json!("unknown_id"))
    );
    let (status, body) = call(&gw, Method::GET, "/stream?last_event_id=abc", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_request"))
    );
    gw.shutdown().await;
}
