//! [`Auth`] as the protocols see it: authentication, authorisation, reserved topics, token topics,
//! reload and the decision cache.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::Registry;
use serde_json::json;
use switchboard_auth::passwd::{self, HashKind};
use switchboard_auth::{Auth, LoadError};
use switchboard_config::{AuthConfig, JwtConfig, Secret};
use switchboard_fabric::{Access, AuthError, Authorizer, Credentials, Identity, TopicFilter};

struct Files {
    dir: PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "switchboard-authz-{}-{name}-{nanos:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Files { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn users(&self, users: &[(&str, &str)]) -> PathBuf {
        let p = self.path("passwd");
        let _ = std::fs::remove_file(&p);
        for (i, (u, pw)) in users.iter().enumerate() {
            if i == 0 {
                passwd::create(&p, u, pw.as_bytes(), HashKind::Pbkdf2Sha512, 101).unwrap();
            } else {
                passwd::set_password(&p, u, pw.as_bytes(), HashKind::Pbkdf2Sha512, 101).unwrap();
            }
        }
        p
    }
}

fn auth(config: &AuthConfig) -> (Auth, Registry) {
    let registry = Registry::new();
    match Auth::new(config, &registry) {
        Ok(a) => (a, registry),
        Err(e) => panic!("{e}"),
    }
}

fn password(user: &str, pw: &str) -> Credentials {
    Credentials::Password {
        username: user.into(),
        password: pw.as_bytes().to_vec(),
    }
}

fn metric(registry: &Registry, name: &str, label: Option<(&str, &str)>) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().to_vec())
        .filter(|m| {
            label.is_none_or(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == k && l.value() == v)
            })
        })
        .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
        .sum()
}

#[test]
fn authentication_follows_mosquitto() {
    let f = Files::new("authn");
    let with_file = |anonymous| AuthConfig {
        anonymous: Some(anonymous),
        password_file: Some(f.users(&[("alice", "pw-a"), ("bob", "pw-b")])),
        ..AuthConfig::default()
    };
    for anonymous in [false, true] {
        let (a, _) = auth(&with_file(anonymous));
        let id = a
            .authenticate("mqtt", "c1", &password("alice", "pw-a"))
            .unwrap();
        assert_eq!(id.user.as_deref(), Some("alice"));
        assert_eq!(&*id.client_id, "c1");
        assert_eq!(
            a.authenticate("mqtt", "c1", &password("alice", "pw-b")),
            Err(AuthError::BadCredentials)
        );
        assert_eq!(
            a.authenticate("mqtt", "c1", &password("mallory", "pw-a")),
            Err(AuthError::BadCredentials),
            "unknown users are refused even when anonymous access is on"
        );
        assert_eq!(
            a.authenticate("mqtt", "c1", &Credentials::Username("alice".into())),
            Err(AuthError::BadCredentials),
            "a user with a password must give it"
        );
        let anon = a.authenticate("mqtt", "c1", &Credentials::Anonymous);
        if anonymous {
            assert_eq!(anon, Ok(Identity::anonymous("c1")));
        } else {
            assert_eq!(anon, Err(AuthError::NotAuthorized));
        }
        let cert = a.authenticate("mqtt", "c1", &Credentials::Certificate("device-9".into()));
        assert_eq!(cert.unwrap().user.as_deref(), Some("device-9"));
    }
}

#[test]
fn without_a_password_file_names_are_trusted_only_when_anonymous_is_on() {
    let (open, _) = auth(&AuthConfig {
        anonymous: Some(true),
        ..AuthConfig::default()
    });
    assert_eq!(
        open.authenticate("mqtt", "c", &password("anyone", "x"))
            .unwrap()
            .user
            .as_deref(),
        Some("anyone")
    );
    assert_eq!(
        open.authenticate("ipc", "c", &Credentials::Token("t".into())),
        Ok(Identity::anonymous("c")),
        "a token nobody can check counts as no credentials"
    );
    let (closed, _) = auth(&AuthConfig {
        anonymous: Some(false),
        ..AuthConfig::default()
    });
    for creds in [
        Credentials::Anonymous,
        password("anyone", "x"),
        Credentials::Username("anyone".into()),
    ] {
        assert_eq!(
            closed.authenticate("mqtt", "c", &creds),
            Err(AuthError::NotAuthorized)
        );
    }
    assert!(matches!(
        closed.authenticate("engineio", "c", &Credentials::Token("t".into())),
        Err(AuthError::InvalidToken(_))
    ));
}

#[test]
fn without_an_acl_everything_but_the_reserved_rules_is_allowed() {
    let (a, _) = auth(&AuthConfig::default());
    let id = Identity::anonymous("c");
    for (access, topic) in [
        (Access::Write, "a/b"),
        (Access::Read, "a/b"),
        (Access::Subscribe, "#"),
        (Access::Subscribe, "$SYS/#"),
        (Access::Read, "$SYS/broker/uptime"),
    ] {
        assert!(a.authorize(&id, access, topic), "{access:?} {topic}");
    }
    assert!(!a.authorize(&id, Access::Write, "$SYS/broker/uptime"));
    assert!(!a.authorize(&id, Access::Subscribe, "$reply/#"));
    assert!(a.authorize(&id, Access::Write, "$reply/n1/abc"));
}

fn acl_setup(f: &Files, acl: &str) -> AuthConfig {
    AuthConfig {
        anonymous: Some(true),
        password_file: Some(f.users(&[("alice", "a"), ("bob", "b")])),
        acl_file: Some(f.write("acl", acl)),
        ..AuthConfig::default()
    }
}

#[test]
fn the_acl_decides_for_every_protocol_alike() {
    let f = Files::new("acl");
    let (a, _) = auth(&acl_setup(
        &f,
        "topic read public/#\nuser alice\ntopic readwrite alice/#\ntopic deny alice/secret\n\
         pattern write devices/%c/out\n",
    ));
    let alice = a
        .authenticate("mqtt", "dev1", &password("alice", "a"))
        .unwrap();
    let anon = a
        .authenticate("engineio", "sid9", &Credentials::Anonymous)
        .unwrap();
    for protocol in ["mqtt", "engineio", "ipc"] {
        let alice = Identity {
            client_id: format!("{protocol}-dev1").into(),
            ..alice.clone()
        };
        assert!(a.authorize(&alice, Access::Write, "alice/x"));
        assert!(!a.authorize(&alice, Access::Write, "alice/secret"));
        assert!(!a.authorize(&alice, Access::Read, "public/news"));
        assert!(a.authorize(
            &alice,
            Access::Write,
            &format!("devices/{protocol}-dev1/out")
        ));
        assert!(!a.authorize(&alice, Access::Write, "devices/other/out"));
    }
    assert!(a.authorize(&anon, Access::Read, "public/news"));
    assert!(a.authorize(&anon, Access::Subscribe, "public/+"));
    assert!(a.authorize(&anon, Access::Subscribe, "$share/g/public/#"));
    assert!(!a.authorize(&anon, Access::Subscribe, "$share/g/alice/#"));
    assert!(!a.authorize(&anon, Access::Subscribe, "$share/g"));
    assert!(!a.authorize(&anon, Access::Write, "public/news"));
    assert!(!a.authorize(&alice, Access::Subscribe, "alice/secret"));
    assert!(a.authorize(&alice, Access::Subscribe, "alice/#"));
}

#[test]
fn replies_are_a_capability_the_acl_need_not_mention() {
    let f = Files::new("reply");
    let (a, _) = auth(&acl_setup(&f, "user alice\ntopic read alice/#\n"));
    let alice = Identity::user("alice", "c");
    let reply = switchboard_fabric::Fabric::standalone().new_reply_topic();
    assert!(reply.as_str().starts_with(switchboard_fabric::REPLY_PREFIX));
    assert!(a.authorize(&alice, Access::Write, reply.as_str()));
    assert!(a.authorize(&alice, Access::Read, reply.as_str()));
    assert!(!a.authorize(&alice, Access::Subscribe, "$reply/#"));
    assert!(!a.authorize(&alice, Access::Subscribe, "$share/g/$reply/#"));
    assert!(
        !a.authorize(&alice, Access::Write, "alice/x"),
        "the ACL still rules the rest"
    );
    // Even an ACL granting everything cannot open $SYS to publishers.
    let (open, _) = auth(&acl_setup(
        &f,
        "topic readwrite #\ntopic readwrite $SYS/#\n",
    ));
    let anon = Identity::anonymous("c");
    assert!(open.authorize(&anon, Access::Read, "$SYS/broker/uptime"));
    assert!(!open.authorize(&anon, Access::Write, "$SYS/broker/uptime"));
}

#[test]
fn token_topics_narrow_the_acl() {
    let f = Files::new("token");
    let config = AuthConfig {
        jwt: Some(JwtConfig {
            secret: Some(Secret::new("k")),
            topics_claim: Some("topics".into()),
            ..JwtConfig::default()
        }),
        ..acl_setup(&f, "user ann\ntopic readwrite ann/#\ntopic read shared/#\n")
    };
    let (a, _) = auth(&config);
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "ann", "exp": exp, "topics": ["ann/inbox/#", "shared/#"]}),
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    let ann = a
        .authenticate("engineio", "sid1", &Credentials::Token(token))
        .unwrap();
    assert_eq!(ann.user.as_deref(), Some("ann"));
    let topics: Vec<&str> = ann
        .token_topics
        .as_deref()
        .unwrap()
        .iter()
        .map(TopicFilter::as_str)
        .collect();
    assert_eq!(topics, ["ann/inbox/#", "shared/#"]);
    assert!(a.authorize(&ann, Access::Write, "ann/inbox/1"));
    assert!(
        !a.authorize(&ann, Access::Write, "ann/outbox/1"),
        "ACL allows, token does not"
    );
    assert!(
        !a.authorize(&ann, Access::Write, "shared/x"),
        "token allows, ACL does not"
    );
    assert!(a.authorize(&ann, Access::Read, "shared/x"));
    assert!(
        a.authorize(&ann, Access::Subscribe, "ann/#"),
        "overlaps the token's topics"
    );
    assert!(!a.authorize(&ann, Access::Subscribe, "ann/outbox/#"));
    assert!(
        a.authorize(&ann, Access::Write, "$reply/n/1"),
        "replies stay a capability"
    );
    let bad = a.authenticate("engineio", "sid1", &Credentials::Token("x.y.z".into()));
    assert!(matches!(bad, Err(AuthError::InvalidToken(_))));
}

#[test]
fn reload_swaps_everything_or_nothing() {
    let f = Files::new("reload");
    let config = acl_setup(&f, "user alice\ntopic read a/#\n");
    let (a, registry) = auth(&config);
    let alice = Identity::user("alice", "c");
    assert!(a.authorize(&alice, Access::Read, "a/1"));
    assert!(!a.authorize(&alice, Access::Read, "b/1"));
    assert_eq!(a.summary().generation, 1);
    assert_eq!(metric(&registry, "switchboard_auth_users", None), 2.0);

    // New rules and a new user take effect together.
    f.write("acl", "user alice\ntopic read b/#\n");
    f.users(&[("alice", "a2"), ("bob", "b"), ("carol", "c")]);
    let summary = a.reload().unwrap();
    assert_eq!(summary.generation, 2);
    assert_eq!(summary.users, Some(3));
    assert!(
        !a.authorize(&alice, Access::Read, "a/1"),
        "the cached allow is gone"
    );
    assert!(a.authorize(&alice, Access::Read, "b/1"));
    assert!(
        a.authenticate("mqtt", "c", &password("alice", "a2"))
            .is_ok()
    );
    assert!(
        a.authenticate("mqtt", "c", &password("alice", "a"))
            .is_err()
    );
    assert_eq!(metric(&registry, "switchboard_auth_users", None), 3.0);

    // A broken ACL keeps the previous state, password file included.
    f.users(&[("alice", "a3")]);
    f.write("acl", "user alice\ntopic read c/#\nbogus line\n");
    let err: LoadError = a.reload().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("acl, line 3") && text.contains("unknown keyword"),
        "{text}"
    );
    assert_eq!(err.key(), "auth.acl_file");
    assert_eq!(a.summary().generation, 2);
    assert!(a.authorize(&alice, Access::Read, "b/1"));
    assert!(!a.authorize(&alice, Access::Read, "c/1"));
    assert!(
        a.authenticate("mqtt", "c", &password("alice", "a2"))
            .is_ok()
    );
    assert_eq!(
        metric(
            &registry,
            "switchboard_auth_reloads_total",
            Some(("outcome", "error"))
        ),
        1.0
    );
    assert_eq!(
        metric(
            &registry,
            "switchboard_auth_reloads_total",
            Some(("outcome", "ok"))
        ),
        1.0
    );

    // A missing file too.
    std::fs::remove_file(f.path("passwd")).unwrap();
    f.write("acl", "user alice\ntopic read c/#\n");
    assert!(matches!(a.reload(), Err(LoadError::Io { .. })));
    assert!(a.authorize(&alice, Access::Read, "b/1"));
}

#[test]
fn decisions_are_cached_until_reload() {
    let f = Files::new("cache");
    let (a, registry) = auth(&acl_setup(&f, "user alice\ntopic read a/#\n"));
    let alice = Identity::user("alice", "c");
    let hits = || metric(&registry, "switchboard_auth_cache_hits_total", None);
    let misses = || metric(&registry, "switchboard_auth_cache_misses_total", None);
    assert!(a.authorize(&alice, Access::Read, "a/1"));
    assert_eq!((hits(), misses()), (0.0, 1.0));
    assert!(a.authorize(&alice, Access::Read, "a/1"));
    assert!(a.authorize(
        &Identity::user("alice", "other-client"),
        Access::Read,
        "a/1"
    ));
    assert_eq!(
        (hits(), misses()),
        (2.0, 1.0),
        "without patterns, clients of one user share entries"
    );
    // The file changing on disk does not matter until a reload...
    f.write("acl", "user alice\ntopic deny a/#\n");
    assert!(a.authorize(&alice, Access::Read, "a/1"));
    // ...which empties the cache.
    a.reload().unwrap();
    assert!(!a.authorize(&alice, Access::Read, "a/1"));
    assert_eq!(misses(), 2.0);

    // With patterns the client id is part of the key.
    f.write("acl", "pattern read c/%c\n");
    a.reload().unwrap();
    assert!(a.authorize(&Identity::user("alice", "x"), Access::Read, "c/x"));
    assert!(!a.authorize(&Identity::user("alice", "y"), Access::Read, "c/x"));

    // cache_ttl_ms = 0 turns the cache off.
    let (uncached, registry) = auth(&AuthConfig {
        cache_ttl_ms: 0,
        ..acl_setup(&f, "user alice\ntopic read a/#\n")
    });
    assert!(uncached.authorize(&alice, Access::Read, "a/1"));
    assert!(uncached.authorize(&alice, Access::Read, "a/1"));
    assert_eq!(
        metric(&registry, "switchboard_auth_cache_hits_total", None),
        0.0
    );
    assert_eq!(
        metric(&registry, "switchboard_auth_cache_misses_total", None),
        0.0
    );
}

#[test]
fn startup_errors_name_the_file_and_line() {
    let f = Files::new("startup");
    let bad_pw = f.write("bad-passwd", "alice:$7$101$AAAA$AAAA\n");
    let e = Auth::new(
        &AuthConfig {
            password_file: Some(bad_pw.clone()),
            ..AuthConfig::default()
        },
        &Registry::new(),
    )
    .unwrap_err();
    assert_eq!(e.key(), "auth.password_file");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("{}, line 1: user `alice`", bad_pw.display())),
        "{text}"
    );
    let e = switchboard_auth::AuthFiles::load(&AuthConfig {
        acl_file: Some(Path::new("/nonexistent/acl").to_owned()),
        ..AuthConfig::default()
    })
    .unwrap_err();
    assert_eq!(e.key(), "auth.acl_file");
    assert!(
        e.to_string().contains("cannot read /nonexistent/acl"),
        "{e}"
    );
}
