//! The `/dashboard` page in a real browser: Debian's headless Chromium (`/usr/bin/chromium`,
//! package `chromium`) driven by playwright-core (`tests/interop/browser/dashboard.mjs`).
//!
//! - a value retained before the page opened is listed; an MQTT publish appears on the page;
//! - the page's publish form reaches an MQTT subscriber (mosquitto_sub);
//! - connection counts come from `$SYS`;
//! - a screenshot is taken, checked not to be blank (distinct colours), and saved as
//!   `target/tmp/dashboard.png` (and `dashboard-signed-in.png`);
//! - with anonymous access off, the page asks for a user and password and then works.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use switchboard_auth::passwd::{self, HashKind};
use switchboard_tests::TestGateway;
use switchboard_tests::interop::{self, Running};
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(60);

fn mosquitto(tool: &str, gw: &TestGateway, args: &[&str]) -> Command {
    let port = gw.addresses.mqtt.expect("MQTT is on").port().to_string();
    let mut c = Command::new(tool);
    c.args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .kill_on_drop(true);
    c
}

async fn mosquitto_pub(gw: &TestGateway, args: &[&str]) {
    let out = tokio::time::timeout(WAIT, mosquitto("mosquitto_pub", gw, args).output())
        .await
        .expect("mosquitto_pub finishes")
        .unwrap_or_else(|e| panic!("mosquitto_pub: {e} (apt-get install mosquitto-clients)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn screenshot(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_file(&p);
    p
}

fn check_screenshot(shot: &Value, path: &PathBuf) {
    let png = std::fs::read(path).expect("the screenshot was saved");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(
        (shot["width"].as_u64(), shot["height"].as_u64()),
        (Some(1440), Some(900))
    );
    let colours = shot["colours"].as_u64().unwrap_or(0);
    assert!(
        colours >= 64,
        "the page rendered (text, cards, tags): {colours} distinct colours"
    );
}

/// Runs the page scenario against `gw`; `creds` signs in first. Returns the stats event.
async fn scenario(gw: &TestGateway, shot: &PathBuf, creds: &[&str], mqtt_auth: &[&str]) -> Value {
    // Retained before the page opens; the page's publish awaited by an MQTT subscriber.
    let mut pub_args = mqtt_auth.to_vec();
    pub_args.extend(["-t", "plant/1/status", "-m", "online", "-r"]);
    mosquitto_pub(gw, &pub_args).await;
    let mut sub_args = mqtt_auth.to_vec();
    sub_args.extend(["-t", "from/browser/#", "-C", "1", "-v"]);
    let sub = mosquitto("mosquitto_sub", gw, &sub_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("mosquitto_sub");
    gw.subscribed("from/browser/cmd").await;

    let mut args = vec![gw.http_url(""), shot.display().to_string()];
    args.extend(creds.iter().map(|s| (*s).to_owned()));
    let mut page = Running::spawn(interop::node("browser", "dashboard.mjs", &args));
    page.expect("ready", WAIT).await;
    let retained = page.expect("retained", WAIT).await;
    assert!(
        retained["value"]
            .as_str()
            .is_some_and(|v| v.contains("online")),
        "{retained}"
    );

    // An MQTT publish appears on the page.
    let mut temp_args = mqtt_auth.to_vec();
    temp_args.extend([
        "-V",
        "5",
        "-t",
        "plant/1/temp",
        "-m",
        r#"{"c":21.5}"#,
        "-D",
        "publish",
        "content-type",
        "application/json",
    ]);
    mosquitto_pub(gw, &temp_args).await;
    let seen = page.expect("seen", WAIT).await;
    assert!(
        seen["value"]
            .as_str()
            .is_some_and(|v| v.contains(r#"{"c":21.5}"#)),
        "{seen}"
    );
    assert_eq!(seen["tags"][0], "json", "{seen}");
    assert_eq!(page.expect("logged", WAIT).await["temp"], true);

    // The page's publish form reaches MQTT.
    page.expect("published", WAIT).await;
    let out = tokio::time::timeout(WAIT, sub.wait_with_output())
        .await
        .expect("mosquitto_sub gets the page's message")
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"from/browser/cmd {"fan":"on","speed":3}"#
    );

    let stats = page.expect("stats", WAIT).await;
    let shot_event = page.expect("screenshot", WAIT).await;
    check_screenshot(&shot_event, shot);
    assert_eq!(page.wait(WAIT).await, Some(0));
    stats
}

#[tokio::test]
async fn interop_dashboard_in_headless_chromium() {
    let gw = TestGateway::builder()
        .configure(|c| c.fabric.sys_interval_ms = 200)
        .start()
        .await;
    let shot = screenshot("dashboard.png");
    let stats = scenario(&gw, &shot, &[], &[]).await;
    assert!(
        stats["connections"]["engineio"].as_u64() >= Some(1),
        "the page counts its own session: {stats}"
    );
    assert!(stats["sys_broker_keys"].as_u64() > Some(10), "{stats}");
    gw.shutdown().await;
}

#[tokio::test]
async fn interop_dashboard_asks_for_credentials_when_auth_is_on() {
    let dir = std::env::temp_dir().join(format!("switchboard-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("passwd");
    passwd::create(&pw, "operator", b"op-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    let acl = dir.join("acl");
    std::fs::write(
        &acl,
        "user operator\ntopic readwrite #\ntopic read $SYS/#\n",
    )
    .unwrap();
    let gw = TestGateway::builder()
        .configure(|c| {
            c.fabric.sys_interval_ms = 200;
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw);
            c.auth.acl_file = Some(acl);
        })
        .start()
        .await;
    // The page itself is served to anyone; it holds no data and asks for credentials first.
    let (status, body) = switchboard_tests::http::get(&gw.http_url("/dashboard")).await;
    assert_eq!(status, 200);
    assert!(body.contains(r#""auth_required":true"#), "{body}");
    let shot = screenshot("dashboard-signed-in.png");
    let stats = scenario(
        &gw,
        &shot,
        &["operator", "op-pw"],
        &["-u", "operator", "-P", "op-pw"],
    )
    .await;
    assert!(
        stats["connections"]["engineio"].as_u64() >= Some(1),
        "{stats}"
    );
    gw.shutdown().await;
}
