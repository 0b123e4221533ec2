//! The admin API with a real socket.io-client 4.8 (control mode, in a mounted namespace): listed
//! with its subscriptions, reached by an HTTP publish, kicked with `io server disconnect`.

use serde_json::json;
use switchboard_tests::http::Method;
use switchboard_tests::wait;

use crate::support::*;

#[tokio::test]
async fn a_socketio_socket_is_listed_reached_and_kicked() {
    let gw = gateway_with(|c| {
        c.socketio.namespaces = vec![switchboard_socketio::config::NamespaceConfig {
            name: "/ops".to_owned(),
            mount: "ops/".to_owned(),
            ..Default::default()
        }];
    })
    .await;
    let (mut s, sid) = sio(&gw, "ops-tab", "/ops").await;
    sio_sub(&mut s, "plant/#").await;
    sio_sub(&mut s, "alerts").await;
    let id = format!("socketio:{sid}");

    // Listed under its protocol with both subscriptions (the namespace's mount included).
    let page = get(&gw, "/clients?protocol=socketio").await;
    assert_eq!(ids(&page), [id.as_str()], "{page}");
    let item = &page["items"][0];
    assert_eq!(
        (
            &item["protocol"],
            &item["client_id"],
            &item["transport"],
            &item["subscriptions"]
        ),
        (
            &json!("socketio"),
            &json!(sid),
            &json!("websocket"),
            &json!(2)
        ),
        "{item}"
    );
    assert!(
        item["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:")),
        "{item}"
    );
    assert_eq!(get(&gw, &format!("/clients/{id}")).await["id"], id.as_str());
    assert!(
        ids(&get(&gw, "/clients?protocol=mqtt").await).is_empty(),
        "the protocol filter holds"
    );

    // The queryState view has its (filter, client) pairs, with the mount.
    let subs = get(&gw, "/subscriptions?filter=ops/%23").await;
    let mut pairs: Vec<(String, String, String)> = subs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["filter"].as_str().unwrap_or_default().to_owned(),
                s["client"].as_str().unwrap_or_default().to_owned(),
                s["protocol"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("ops/alerts".to_owned(), id.clone(), "socketio".to_owned()),
            ("ops/plant/#".to_owned(), id.clone(), "socketio".to_owned()),
        ],
        "{subs}"
    );

    // An HTTP publish reaches it as a `message` event, below the namespace's mount.
    let (status, body) = call(
        &gw,
        Method::POST,
        "/publish",
        Some(json!({"topic": "ops/plant/1/temp", "json": {"c": 21.5}, "qos": 1})),
    )
    .await;
    assert_eq!((status, &body["delivered"]), (200, &json!(1)), "{body}");
    let msg = s
        .expect("the HTTP publish", |v| v["event"] == "message")
        .await;
    assert_eq!(
        (&msg["topic"], &msg["data"]),
        (&json!("plant/1/temp"), &json!({"c": 21.5})),
        "{msg}"
    );

    // The kick: socket.io-client reports a server disconnect (it does not reconnect).
    let (status, body) = call(&gw, Method::DELETE, &format!("/clients/{id}"), None).await;
    assert_eq!((status, &body["result"]), (202, &json!("kicked")), "{body}");
    let gone = s
        .expect("the disconnect", |v| v["event"] == "disconnect")
        .await;
    assert_eq!(gone["reason"], "io server disconnect", "{gone}");
    wait::until_async("the kicked socket to leave the listings", || async {
        ids(&get(&gw, "/clients?protocol=socketio").await).is_empty()
            && get(&gw, "/subscriptions?filter=ops/%23").await["items"]
                .as_array()
                .is_some_and(Vec::is_empty)
    })
    .await;
    let (status, body) = call(&gw, Method::GET, &format!("/clients/{id}"), None).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    assert!(
        gw.metrics().await.contains(
            "switchboard_disconnects_total{protocol=\"socketio\",reason=\"forced_close\"} 1"
        ),
        "the kick is counted"
    );
    s.kill().await;
    gw.shutdown().await;
}
