//! `GET /api/v1/services[/{name}]`: IPC service availability as electron-common-ipc's
//! `isServiceAvailable(name)` answers it, for a service hosted by an unmodified
//! electron-common-ipc 16 client (`CreateIpcBusService`).

use serde_json::json;
use switchboard_tests::TestGateway;
use switchboard_tests::agent::Agent;
use switchboard_tests::http::Method;
use switchboard_tests::{interop, wait};
use tokio::process::Command;

use crate::support::*;

/// A Node process hosting the service `calc` (`add`), started; `{"cmd":"stop"}` stops it.
const HOST: &str = r#"
const { CreateIpcBusClient, CreateIpcBusService } = require('electron-common-ipc');
const readline = require('readline');
const out = (o) => console.log(JSON.stringify(o));
(async () => {
  setInterval(() => {}, 1000);
  const client = CreateIpcBusClient();
  await client.connect(Number(process.argv[1]), '127.0.0.1', { peerName: 'host', timeoutDelay: 5000 });
  const service = CreateIpcBusService(client, 'calc', { add: (a, b) => a + b });
  service.start();
  out({ event: 'started' });
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const c = JSON.parse(line);
    if (c.cmd === 'stop') { service.stop(); out({ event: 'stopped' }); }
  }
})().catch((e) => { out({ event: 'error', message: String(e) }); process.exit(1); });
"#;

async fn host(gw: &TestGateway) -> Agent {
    let port = gw.addresses.ipc.expect("the IPC bus is on").port();
    let mut cmd = Command::new("node");
    cmd.current_dir(interop::interop_dir().join("ipc"))
        .arg("-e")
        .arg(HOST)
        .arg(port.to_string());
    let mut a = Agent::spawn("host", cmd);
    a.expect_event("started").await;
    a
}

async fn available(gw: &TestGateway, name: &str) -> bool {
    get(gw, &format!("/services/{name}")).await["available"] == true
}

#[tokio::test]
async fn service_availability_follows_an_electron_common_ipc_service() {
    let gw = gateway().await;
    let unknown = get(&gw, "/services/calc").await;
    assert_eq!(
        unknown,
        json!({"name": "calc", "available": false, "provider": null})
    );

    let mut h = host(&gw).await;
    wait::until_async("calc to be available", || available(&gw, "calc")).await;
    let calc = get(&gw, "/services/calc").await;
    let provider = &calc["provider"];
    assert_eq!(
        (&provider["name"], &provider["peer_name"]),
        (&json!("calc"), &json!("host")),
        "{calc}"
    );
    let client = provider["client"].as_str().unwrap_or_default().to_owned();
    assert!(client.starts_with("ipc:"), "{calc}");
    assert!(
        provider["call_handlers"]
            .as_array()
            .is_some_and(|h| h.contains(&json!("add"))),
        "{calc}"
    );
    // The providing connection is a listed client.
    assert_eq!(
        get(&gw, &format!("/clients/{client}")).await["user"],
        "host"
    );
    let all = get(&gw, "/services").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1), "{all}");

    h.send(json!({"cmd": "stop"})).await;
    h.expect_event("stopped").await;
    wait::until_async("calc to be unavailable", || async {
        !available(&gw, "calc").await
    })
    .await;
    let stopped = get(&gw, "/services/calc").await;
    // A stopped service is not started; the stock service also drops its call listener.
    assert!(
        stopped["provider"].is_null() || stopped["provider"]["started"] == false,
        "{stopped}"
    );
    h.kill().await;
    wait::until_async("calc to be gone with its host", || async {
        get(&gw, "/services/calc").await["provider"].is_null()
    })
    .await;
    gw.shutdown().await;
}

#[tokio::test]
async fn without_the_ipc_bus_there_are_no_services() {
    let gw = gateway_with(|c| c.ipc.enabled = false).await;
    let (status, body) = call(&gw, Method::GET, "/services/calc", None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("ipc.enabled"))
    );
    gw.shutdown().await;
}
