//! The gateway's one auth model, end to end: a gateway started with a password file and an ACL file
//! hands every protocol the same decisions, refuses a malformed file at start-up naming the line,
//! and reloads the files on SIGHUP.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard::RunError;
use switchboard_auth::passwd::{self, HashKind};
use switchboard_fabric::{Access, AuthError, Credentials, REPLY_PREFIX};
use switchboard_tests::TestGateway;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-scenario-auth-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn password(user: &str, pw: &str) -> Credentials {
    Credentials::Password {
        username: user.into(),
        password: pw.as_bytes().to_vec(),
    }
}

const ACL: &str = "\
# anonymous clients may read the public board
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/private
topic read public/#

user bob
topic read alice/status

# every client may publish its own telemetry
pattern write telemetry/%c
";

fn files(name: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(name);
    let pw = dir.join("passwd");
    passwd::create(&pw, "alice", b"alice-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    passwd::set_password(&pw, "bob", b"bob-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    let acl = dir.join("acl");
    std::fs::write(&acl, ACL).unwrap();
    (pw, acl)
}

#[tokio::test]
async fn a_gateway_with_password_and_acl_files_decides_for_every_protocol() {
    let (pw, acl) = files("decisions");
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw.clone());
            c.auth.acl_file = Some(acl.clone());
        })
        .start()
        .await;
    let auth = &gw.authorizer;

    assert_eq!(
        auth.authenticate("mqtt", "c0", &Credentials::Anonymous),
        Err(AuthError::NotAuthorized),
        "a config file turns anonymous access off"
    );
    assert_eq!(
        auth.authenticate("mqtt", "c0", &password("alice", "wrong")),
        Err(AuthError::BadCredentials)
    );
    assert_eq!(
        auth.authenticate("mqtt", "c0", &password("mallory", "alice-pw")),
        Err(AuthError::BadCredentials)
    );

    for protocol in ["mqtt", "engineio", "ipc"] {
        let client = format!("{protocol}-client");
        let alice = auth
            .authenticate(protocol, &client, &password("alice", "alice-pw"))
            .unwrap();
        let bob = auth
            .authenticate(protocol, &client, &password("bob", "bob-pw"))
            .unwrap();
        assert!(auth.authorize(&alice, Access::Write, "alice/status"));
        assert!(auth.authorize(&alice, Access::Subscribe, "alice/#"));
        assert!(!auth.authorize(&alice, Access::Write, "alice/private"));
        assert!(!auth.authorize(&alice, Access::Read, "alice/private"));
        assert!(!auth.authorize(&alice, Access::Subscribe, "alice/private"));
        assert!(auth.authorize(&alice, Access::Read, "public/news"));
        assert!(!auth.authorize(&alice, Access::Write, "public/news"));

        assert!(auth.authorize(&bob, Access::Read, "alice/status"));
        assert!(
            auth.authorize(&bob, Access::Subscribe, "alice/+"),
            "overlaps alice/status"
        );
        assert!(!auth.authorize(&bob, Access::Subscribe, "alice/private"));
        assert!(!auth.authorize(&bob, Access::Write, "alice/status"));
        assert!(!auth.authorize(&bob, Access::Read, "public/news"));

        for who in [&alice, &bob] {
            assert!(auth.authorize(who, Access::Write, &format!("telemetry/{client}")));
            assert!(!auth.authorize(who, Access::Write, "telemetry/someone-else"));
            assert!(auth.authorize(who, Access::Write, &format!("{REPLY_PREFIX}n1/x")));
            assert!(!auth.authorize(who, Access::Write, "$SYS/broker/uptime"));
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_malformed_file_stops_start_up_naming_key_and_line() {
    let (pw, acl) = files("malformed");
    std::fs::write(
        &acl,
        "user alice\ntopic readwrite alice/#\ntopic sometimes x\n",
    )
    .unwrap();
    let err = TestGateway::builder()
        .configure(|c| {
            c.auth.password_file = Some(pw.clone());
            c.auth.acl_file = Some(acl.clone());
        })
        .try_start()
        .await
        .unwrap_err();
    let RunError::Config(errors) = &err else {
        panic!("expected a configuration error, got {err}");
    };
    assert_eq!(errors[0].key.as_deref(), Some("auth.acl_file"));
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}, line 3", acl.display())) && text.contains("unknown access"),
        "{text}"
    );
    assert_eq!(err.exit_code(), 64);
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_files() {
    // Listen for SIGHUP here too, so the signal never hits a process without a handler.
    let mut _hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).unwrap();
    let (pw, acl) = files("sighup");
    let gw = TestGateway::builder()
        .configure(|c| {
            c.auth.anonymous = Some(false);
            c.auth.password_file = Some(pw.clone());
            c.auth.acl_file = Some(acl.clone());
        })
        .start()
        .await;
    let auth = gw.authorizer.clone();
    let bob = auth
        .authenticate("mqtt", "c", &password("bob", "bob-pw"))
        .unwrap();
    assert!(
        !auth.authorize(&bob, Access::Write, "bob/x"),
        "cached as denied"
    );

    std::fs::write(&acl, format!("{ACL}\nuser bob\ntopic write bob/#\n")).unwrap();
    passwd::set_password(&pw, "carol", b"carol-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last_hup = None::<Instant>;
    while !auth.authorize(&bob, Access::Write, "bob/x") {
        assert!(Instant::now() < deadline, "SIGHUP did not reload the ACL");
        // The reload task may not listen yet when the first signal arrives: send again now and then.
        if last_hup.is_none_or(|t| t.elapsed() > Duration::from_millis(250)) {
            let status = std::process::Command::new("kill")
                .args(["-HUP", &std::process::id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
            last_hup = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        auth.authenticate("mqtt", "c", &password("carol", "carol-pw"))
            .is_ok(),
        "the password file was reloaded with the ACL"
    );
    gw.shutdown().await;
}
