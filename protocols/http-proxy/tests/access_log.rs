//! One access-log line per request (route, upstream, method, path, status, latency) and the
//! log level of failures: `warn` when the upstream is to blame, `debug` for client faults.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::*;
use http::Request;
use parking_lot::Mutex;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test]
async fn access_log_and_error_levels() {
    let capture = Capture::default();
    // The only test in this binary, so it may own the global subscriber.
    tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .init();
    let up = start_axum("a").await;
    let dead = dead_addr().await;
    let mut limited = route(&[&up.url()]);
    limited.path_prefix = "/small".to_owned();
    limited.max_body_bytes = 1;
    let p = start_proxy(config(vec![
        switchboard_proxy::RouteConfig {
            name: Some("down".to_owned()),
            path_prefix: "/down".to_owned(),
            ..route(&[&format!("http://{dead}")])
        },
        limited,
        switchboard_proxy::RouteConfig {
            name: Some("main".to_owned()),
            ..route(&[&up.url()])
        },
    ]))
    .await;
    get_with(&p.url("/hello"), &[]).await;
    get_with(&p.url("/down/x"), &[]).await;
    send(
        Request::post(p.url("/small"))
            .body(full("too big"))
            .unwrap(),
    )
    .await;
    let text = String::from_utf8(capture.0.lock().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("switchboard_proxy::access"))
        .collect();
    assert_eq!(lines.len(), 3, "one access line per request:\n{text}");
    let ok = lines[0];
    for want in [
        "INFO",
        "route=main",
        &format!("upstream={}", up.url()),
        "method=GET",
        "path=/hello",
        "status=200",
        "latency_ms=",
    ] {
        assert!(ok.contains(want), "{want} missing in {ok}");
    }
    assert!(
        lines[1].contains("status=502") && lines[1].contains("route=down"),
        "{}",
        lines[1]
    );
    assert!(lines[2].contains("status=413"), "{}", lines[2]);
    let warn = text
        .lines()
        .find(|l| l.contains("proxy error"))
        .expect("an upstream failure is logged");
    assert!(
        warn.contains("WARN") && warn.contains("route=down"),
        "{warn}"
    );
    let debug = text
        .lines()
        .find(|l| l.contains("request rejected"))
        .expect("a client fault is logged");
    assert!(debug.contains("DEBUG"), "{debug}");
}
