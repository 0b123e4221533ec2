//! The `/dashboard` page's admin API panels in a real browser (Debian's headless Chromium driven
//! by playwright-core, `tests/interop/browser/dashboard_api.mjs`):
//!
//! - without the API on the front, the panels say how to turn it on (`http.api`, `admin.token`);
//! - with `http.api = true` and a token, the page asks for the token once (a wrong one is
//!   refused and asked again), lists an MQTT 5 client and an engine.io-client session with their
//!   protocol, transport, user, remote address and subscriptions, and the retained topics;
//!   "Disconnect" asks to confirm, then kicks the MQTT client (DISCONNECT 0x98, its row leaves
//!   the table); after a reload the token is still in the tab's session storage;
//! - a full-page screenshot with both clients listed is saved as `target/tmp/dashboard-api.png`
//!   (the README's `docs/dashboard.png` is a copy of it).

#[path = "admin_api/support.rs"]
mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_tests::http::Method;
use switchboard_tests::interop::{self, Running};
use switchboard_tests::wait;

use support::*;

const PAGE_WAIT: Duration = Duration::from_secs(60);

fn page(gw: &switchboard_tests::TestGateway, mode: &str, opts: &Value) -> Running {
    Running::spawn(interop::node(
        "browser",
        "dashboard_api.mjs",
        &[gw.http_url(""), mode.to_owned(), opts.to_string()],
    ))
}

#[tokio::test]
async fn interop_dashboard_says_how_to_turn_the_api_on() {
    let gw = gateway().await;
    let mut p = page(&gw, "off", &json!({}));
    let off = p.expect("off", PAGE_WAIT).await;
    for panel in ["note", "retained"] {
        let text = off[panel].as_str().unwrap_or_default();
        assert!(
            text.contains("http.api = true") && text.contains("admin.token"),
            "{panel}: {off}"
        );
    }
    assert_eq!(p.wait(PAGE_WAIT).await, Some(0));
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_dashboard_lists_and_disconnects_clients_through_the_api() {
    let gw = gateway_with(|c| {
        c.http.api = true;
        c.fabric.sys_interval_ms = 500;
    })
    .await;
    let mut dev = Mqtt::connect(&gw, "boiler-7", Some("alice")).await;
    dev.subscribe("plant/#").await;
    dev.subscribe("alerts/#").await;
    dev.publish("plant/1/status", "online", true).await;
    let mut tab = browser(&gw, "tab").await;
    browser_sub(&mut tab, "plant/+/temp", 1).await;
    for (topic, body) in [
        ("plant/1/temp", json!({"json": {"c": 21.5}})),
        ("plant/2/temp", json!({"json": {"c": 19.0}})),
        ("hall/door", json!({"text": "closed"})),
    ] {
        let mut body = body;
        body["topic"] = json!(topic);
        body["retain"] = json!(true);
        let (status, v) = call(&gw, Method::POST, "/publish", Some(body)).await;
        assert_eq!(status, 200, "{v}");
    }
    wait::until_async("the retained values to be stored", || async {
        get(&gw, "/topics").await["items"]
            .as_array()
            .is_some_and(|a| a.len() == 4)
    })
    .await;
    let eio = ids(&get(&gw, "/clients?protocol=engineio").await);
    assert_eq!(eio.len(), 1, "the agent's session: {eio:?}");
    let eio = eio[0].clone();

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-api.png");
    let _ = std::fs::remove_file(&shot);
    let mut p = page(
        &gw,
        "on",
        &json!({
            "token": TOKEN,
            "expect": ["mqtt:boiler-7", eio],
            "kick": "mqtt:boiler-7",
            "retained": "plant/1/status",
            "shot": shot.display().to_string(),
        }),
    );
    let asked = p.expect("asked", PAGE_WAIT).await;
    assert!(
        asked["note"]
            .as_str()
            .is_some_and(|n| n.contains("admin.token")),
        "{asked}"
    );
    let refused = p.expect("refused", PAGE_WAIT).await;
    assert!(
        refused["note"]
            .as_str()
            .is_some_and(|n| n.contains("wrong bearer token")),
        "the API's reason is shown: {refused}"
    );

    let listed = p.expect("listed", PAGE_WAIT).await;
    let mqtt = &listed["rows"]["mqtt:boiler-7"];
    assert_eq!(
        (
            &mqtt["id"],
            &mqtt["proto"],
            &mqtt["transport"],
            &mqtt["user"],
            &mqtt["subs"]
        ),
        (
            &json!("boiler-7"),
            &json!("MQTT"),
            &json!("tcp"),
            &json!("alice"),
            &json!("2")
        ),
        "{listed}"
    );
    assert!(
        mqtt["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("127.0.0.1:")),
        "{listed}"
    );
    assert!(
        mqtt["since"].as_str().is_some_and(|s| s.ends_with("ago")),
        "{listed}"
    );
    let tab_row = &listed["rows"][eio.as_str()];
    assert_eq!(
        (
            &tab_row["proto"],
            &tab_row["transport"],
            &tab_row["user"],
            &tab_row["subs"]
        ),
        (
            &json!("Engine.IO"),
            &json!("websocket"),
            &json!("anonymous"),
            &json!("1")
        ),
        "{listed}"
    );
    let retained = p.expect("retained", PAGE_WAIT).await;
    assert_eq!(retained["row"][0], "plant/1/status", "{retained}");
    assert!(
        retained["row"][1]
            .as_str()
            .is_some_and(|v| v.contains("online")),
        "{retained}"
    );
    assert_eq!(
        retained["row"][3], "mqtt:boiler-7",
        "its origin: {retained}"
    );
    assert_eq!(p.expect("stored", PAGE_WAIT).await["token"], true);

    // The picture (before the kick: both clients in the table).
    let shot_event = p.expect("screenshot", PAGE_WAIT).await;
    let png = std::fs::read(&shot).expect("the screenshot was saved");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(shot_event["width"].as_u64(), Some(1440), "{shot_event}");
    assert!(
        shot_event["colours"].as_u64() >= Some(64),
        "the page rendered: {shot_event}"
    );

    // The first click only asks; the client is still connected.
    let armed = p.expect("armed", PAGE_WAIT).await;
    assert_eq!(armed["button"], "Confirm disconnect", "{armed}");
    // The second click kicks it: MQTT 5 DISCONNECT 0x98, and its row leaves the table.
    let kicked = p.expect("kicked", PAGE_WAIT).await;
    assert_eq!(dev.end().await, "AdministrativeAction");
    assert!(
        kicked["status"]
            .as_str()
            .is_some_and(|s| s.contains("Disconnected mqtt:boiler-7")),
        "{kicked}"
    );
    assert_eq!(
        ids(&get(&gw, "/clients?protocol=mqtt").await),
        Vec::<String>::new()
    );
    assert!(
        gw.metrics().await.contains(
            "switchboard_api_requests_total{route=\"/api/v1/clients/{*id}\",status=\"202\"} 1"
        ),
        "the page's DELETE went through the API"
    );

    // A reload lists the clients again without asking for the token.
    let again = p.expect("remembered", PAGE_WAIT).await;
    assert_eq!(again["asked"], false, "{again}");

    assert_eq!(p.wait(PAGE_WAIT).await, Some(0));
    tab.kill().await;
    gw.shutdown().await;
}
