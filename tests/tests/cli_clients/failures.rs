//! Exit codes: unreachable (2), refused credentials (3), denied topics (4), timeouts (5).

use switchboard_cli::error::{EXIT_DENIED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNREACHABLE};
use switchboard_tests::TestGateway;

use crate::support::*;

#[tokio::test]
async fn exit_codes_for_unreachable_refused_denied_and_timeout() {
    // Unreachable: nothing listens on the port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for url in [
        format!("mqtt://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}/mqtt"),
        format!("eio://127.0.0.1:{port}"),
        format!("ipc://127.0.0.1:{port}"),
    ] {
        let e = publish(&["--url", &url, "-t", "a", "-m", "x"])
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), EXIT_UNREACHABLE, "{url}: {e}");
        assert!(e.to_string().contains("cannot reach"), "{e}");
        let (r, _) = spawn_sub(&["--url", &url, "-t", "a"]).finish().await;
        assert_eq!(exit_code(r), EXIT_UNREACHABLE, "{url}");
    }

    let (pw, acl) = auth_files("codes");
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw.clone());
            c.auth.acl_file = Some(acl.clone());
            // IPC peers are anonymous clients here, not trusted local users.
            c.ipc.trust = serde_json::from_value(serde_json::json!("none")).unwrap();
        })
        .start()
        .await;
    let u = urls(&gw);
    // Refused credentials.
    for (url, v) in [(&u.mqtt, "5"), (&u.mqtt, "3.1.1"), (&u.ws, "5")] {
        for creds in [&["-u", "alice", "-P", "wrong"][..], &[][..]] {
            let mut args = vec!["--url", url.as_str(), "-V", v, "-t", "alice/a", "-m", "x"];
            args.extend_from_slice(creds);
            let e = publish(&args).await.unwrap_err();
            assert_eq!(e.exit_code(), EXIT_REFUSED, "{args:?}: {e}");
            assert!(e.to_string().contains("refused"), "{e}");
        }
    }
    let e = publish(&[
        "--url", &u.eio, "-u", "alice", "-P", "wrong", "-t", "alice/a", "-m", "x",
    ])
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_REFUSED, "{e}");
    // Engine.IO without credentials: the session opens, but may only `auth`.
    let e = publish(&["--url", &u.eio, "-t", "alice/a", "-m", "x"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_REFUSED, "{e}");
    // The IPC bus carries no credentials: with `trust = "none"` and anonymous access off the
    // gateway hangs up.
    let e = publish(&["--url", &u.ipc, "-t", "alice/a", "-m", "x"])
        .await
        .unwrap_err();
    assert_eq!(e.exit_code(), EXIT_REFUSED, "{e}");
    assert!(e.to_string().contains("anonymous"), "{e}");

    // Denied topics (alice may not touch secret/...).
    let alice = ["-u", "alice", "-P", "alice-pw"];
    for (url, v) in [(&u.mqtt, "5"), (&u.mqtt, "3.1.1"), (&u.eio, "")] {
        let mut args = vec!["--url", url.as_str(), "-t", "secret/x", "-E"];
        if !v.is_empty() {
            args.extend(["-V", v]);
        }
        args.extend(alice);
        let (r, _) = spawn_sub(&args).finish().await;
        let e = r.unwrap_err();
        assert_eq!(e.exit_code(), EXIT_DENIED, "{args:?}: {e}");
        assert!(e.to_string().contains("secret/x"), "{e}");
    }
    for qos in ["1", "2"] {
        let mut args = vec![
            "--url",
            u.mqtt.as_str(),
            "-t",
            "secret/x",
            "-m",
            "x",
            "-q",
            qos,
        ];
        args.extend(alice);
        assert_eq!(exit_code(publish(&args).await), EXIT_DENIED, "{args:?}");
    }
    let mut args = vec!["--url", u.eio.as_str(), "-t", "secret/x", "-m", "x"];
    args.extend(alice);
    assert_eq!(exit_code(publish(&args).await), EXIT_DENIED);
    // Allowed, for contrast.
    let mut args = vec![
        "--url",
        u.mqtt.as_str(),
        "-t",
        "alice/x",
        "-m",
        "x",
        "-q",
        "1",
    ];
    args.extend(alice);
    published(&args).await;

    // Timeout.
    let mut args = vec!["--url", u.mqtt.as_str(), "-t", "alice/#", "-W", "0.2"];
    args.extend(alice);
    let (r, _) = spawn_sub(&args).finish().await;
    assert_eq!(exit_code(r), EXIT_TIMEOUT);
    gw.shutdown().await;
}
