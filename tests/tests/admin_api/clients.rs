//! `GET/DELETE /api/v1/clients`, `GET /api/v1/subscriptions`: listings match the clients
//! connected over MQTT, Engine.IO and IPC; pages follow the cursor; a kick says each protocol's
//! goodbye.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use switchboard_tests::http::Method;
use switchboard_tests::wait;
use tokio::io::AsyncReadExt;

use crate::support::*;

fn item<'a>(page: &'a Value, id: &str) -> &'a Value {
    page["items"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("{id} is not listed: {page}"))
}

#[tokio::test]
async fn listings_match_the_clients_of_every_protocol() {
    let gw = gateway().await;
    let mut dev = Mqtt::connect(&gw, "dev-1", Some("alice")).await;
    dev.subscribe("plant/#").await;
    dev.subscribe("alerts").await;
    let _other = Mqtt::connect(&gw, "dev-2", None).await;
    let mut tab = browser(&gw, "tab").await;
    browser_sub(&mut tab, "plant/+/temp", 1).await;
    let _desk = ipc_raw(&gw, "desk", &["ipc/a", "ipc/b"]).await;
    gw.subscribed("ipc/b").await;

    let all = get(&gw, "/clients").await;
    assert!(all["next"].is_null(), "{all}");
    let ids = ids(&all);
    assert_eq!(ids.len(), 4, "{all}");
    let mqtt = item(&all, "mqtt:dev-1");
    assert_eq!(
        (
            &mqtt["protocol"],
            &mqtt["client_id"],
            &mqtt["transport"],
            &mqtt["user"]
        ),
        (
            &json!("mqtt"),
            &json!("dev-1"),
            &json!("tcp"),
            &json!("alice")
        )
    );
    assert_eq!(mqtt["subscriptions"], 2);
    assert!(
        mqtt["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:"))
    );
    assert!(
        mqtt["connected_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(
        mqtt["connected_at_ms"]
            .as_u64()
            .is_some_and(|ms| ms > 1_600_000_000_000)
    );
    assert_eq!(
        (mqtt["queue_depth"].clone(), mqtt["drops"].clone()),
        (json!(0), json!(0))
    );
    let eio = ids
        .iter()
        .find(|i| i.starts_with("engineio:"))
        .expect("the browser is listed");
    let eio = item(&all, eio);
    assert_eq!(
        (&eio["transport"], &eio["subscriptions"]),
        (&json!("websocket"), &json!(1))
    );
    let ipc = ids
        .iter()
        .find(|i| i.starts_with("ipc:"))
        .expect("the IPC peer is listed");
    let ipc = item(&all, ipc);
    assert_eq!(
        (&ipc["transport"], &ipc["user"]),
        (&json!("tcp"), &json!("desk"))
    );
    assert_eq!(ipc["subscriptions"], 2, "{ipc}");

    // Filters: protocol, user, id prefix.
    assert_eq!(
        ids_of(&get(&gw, "/clients?protocol=mqtt").await),
        ["mqtt:dev-1", "mqtt:dev-2"]
    );
    assert_eq!(
        ids_of(&get(&gw, "/clients?user=alice").await),
        ["mqtt:dev-1"]
    );
    assert_eq!(
        ids_of(&get(&gw, "/clients?prefix=mqtt:dev-2").await),
        ["mqtt:dev-2"]
    );
    // Pages of one, following the cursor, give the same clients in the same order.
    let mut walked = Vec::new();
    let mut path = "/clients?limit=1".to_owned();
    loop {
        let page = get(&gw, &path).await;
        assert!(page["items"].as_array().is_some_and(|a| a.len() <= 1));
        walked.extend(ids_of(&page));
        match page["next"].as_str() {
            Some(next) => path = format!("/clients?limit=1&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(walked, ids);
    // One client; unknown ids; malformed ids.
    assert_eq!(get(&gw, "/clients/mqtt:dev-1").await["user"], "alice");
    let (status, body) = call(&gw, Method::GET, "/clients/mqtt:nobody", None).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    let (status, body) = call(&gw, Method::GET, "/clients/nocolon", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("bad_request"))
    );

    // The queryState view: (filter, client) pairs of every protocol.
    let subs = get(&gw, "/subscriptions").await;
    let pairs: BTreeSet<(String, String)> = subs["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["filter"].as_str().unwrap_or_default().to_owned(),
                s["client"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (f, c) in [
        ("plant/#", "mqtt:dev-1"),
        ("alerts", "mqtt:dev-1"),
        ("plant/+/temp", eio["id"].as_str().unwrap_or_default()),
        ("ipc/a", ipc["id"].as_str().unwrap_or_default()),
        ("ipc/b", ipc["id"].as_str().unwrap_or_default()),
    ] {
        assert!(
            pairs.contains(&(f.to_owned(), c.to_owned())),
            "({f}, {c}) in {subs}"
        );
    }
    assert_eq!(
        pairs.len(),
        5,
        "internal subscriptions are left out: {subs}"
    );
    // `filter` with wildcards lists the subscriptions whose filter it matches.
    let plant = get(&gw, "/subscriptions?filter=plant/%23").await;
    let filters: BTreeSet<&str> = plant["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["filter"].as_str())
        .collect();
    assert_eq!(filters, BTreeSet::from(["plant/#", "plant/+/temp"]));
    let ipc_only = get(&gw, "/subscriptions?filter=ipc/a").await;
    assert_eq!(ipc_only["items"][0]["count"], 1, "{ipc_only}");
    assert_eq!(ipc_only["items"].as_array().map(Vec::len), Some(1));
    tab.kill().await;
    gw.shutdown().await;
}

fn ids_of(page: &Value) -> Vec<String> {
    ids(page)
}

#[tokio::test]
async fn a_kick_disconnects_the_right_client_with_its_protocols_goodbye() {
    let gw = gateway().await;
    let mut dev = Mqtt::connect(&gw, "kick-me", None).await;
    let mut stays = Mqtt::connect(&gw, "stays", None).await;
    let mut tab = browser(&gw, "tab").await;
    let mut desk = ipc_raw(&gw, "desk", &["d"]).await;
    gw.subscribed("d").await;
    let all = get(&gw, "/clients").await;
    let eio = ids(&all)
        .into_iter()
        .find(|i| i.starts_with("engineio:"))
        .expect("browser");
    let ipc = ids(&all)
        .into_iter()
        .find(|i| i.starts_with("ipc:"))
        .expect("IPC peer");

    // MQTT 5: DISCONNECT with 0x98 Administrative action.
    let (status, body) = call(&gw, Method::DELETE, "/clients/mqtt:kick-me", None).await;
    assert_eq!((status, &body["result"]), (202, &json!("kicked")), "{body}");
    assert_eq!(dev.end().await, "AdministrativeAction");
    // Engine.IO: the session is closed by the server.
    let (status, _) = call(&gw, Method::DELETE, &format!("/clients/{eio}"), None).await;
    assert_eq!(status, 202);
    let closed = tab.expect_event("close").await;
    eprintln!("engine.io close: {closed}");
    // IPC: the socket ends.
    let (status, _) = call(&gw, Method::DELETE, &format!("/clients/{ipc}"), None).await;
    assert_eq!(status, 202);
    let mut rest = Vec::new();
    let n = tokio::time::timeout(WAIT, desk.read_to_end(&mut rest))
        .await
        .expect("the IPC socket ends");
    assert!(n.is_ok(), "{n:?}");

    // Only the kicked ones are gone; each kick is counted by its protocol.
    wait::until_async("the kicked clients to leave the listing", || async {
        ids(&get(&gw, "/clients").await) == ["mqtt:stays"]
    })
    .await;
    let metrics = gw.metrics().await;
    for (p, reason) in [
        ("mqtt", "admin_kick"),
        ("engineio", "forced_close"),
        ("ipc", "admin_kick"),
    ] {
        assert!(
            metrics.contains(&format!(
                "switchboard_disconnects_total{{protocol=\"{p}\",reason=\"{reason}\"}} 1"
            )),
            "{p} {reason} in /metrics"
        );
    }
    stays.publish("still/here", "1", false).await;
    let (status, body) = call(&gw, Method::DELETE, "/clients/mqtt:kick-me", None).await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    assert!(
        stays.ended.as_mut().is_some_and(|e| e.try_recv().is_err()),
        "stays connected"
    );
    tab.kill().await;
    gw.shutdown().await;
}
