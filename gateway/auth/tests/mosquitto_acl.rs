//! The ACL semantics checked against the real mosquitto: the same ACL file is given to a mosquitto
//! broker and to [`Acl`], and every publish (write) and delivery (read) decision must agree.
//!
//! Writes are observed through retained messages: each client publishes a retained message, then a
//! client allowed to read everything collects what was stored. Reads likewise: an all-powerful client
//! stores retained messages, then each client subscribes to everything and reports what it received
//! (mosquitto checks retained deliveries against the read ACL). mosquitto 2.0 does not check
//! SUBSCRIBE itself, so subscriptions are compared through deliveries only.

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_auth::Acl;
use switchboard_auth::passwd::{self, HashKind};
use switchboard_fabric::Access;

const ACL: &str = "\
topic read public/#
topic write anon/in

user root
topic readwrite #
topic readwrite $x/#

user alice
topic readwrite alice/#
topic deny alice/secret
topic read public/#
topic write shared/+/in

user bob
topic read alice/status
topic bob/#

pattern readwrite clients/%c/#
pattern write users/%u/out
pattern read inbox/%u
pattern deny clients/%c/locked
";

fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is missing: run `make deps` (mosquitto, mosquitto-clients)")
        })
}

struct Broker {
    child: Child,
    port: u16,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, name: &str) -> Broker {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join(format!("{name}.conf"));
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npassword_file {}\nacl_file {}\n\
             user root\n",
            dir.join("passwd").display(),
            dir.join("acl").display()
        ),
    )
    .unwrap();
    let child = Command::new(program("mosquitto"))
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let broker = Broker { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    broker
}

/// `(user, client id)`; `None` is an anonymous client.
type Who = (Option<&'static str>, &'static str);

fn client(program_name: &str, broker: &Broker, who: Who) -> Command {
    let mut c = Command::new(program(program_name));
    c.args([
        "-h",
        "127.0.0.1",
        "-p",
        &broker.port.to_string(),
        "-i",
        who.1,
    ]);
    if let Some(user) = who.0 {
        // Each user's password is its name.
        c.args(["-u", user, "-P", user]);
    }
    c.stderr(Stdio::null());
    c
}

fn publish_retained(broker: &Broker, who: Who, topic: &str) {
    let status = client("mosquitto_pub", broker, who)
        .args(["-t", topic, "-m", "x", "-r", "-q", "1"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    // A denied publish is dropped silently; the connection itself must succeed.
    assert!(
        status.success(),
        "{who:?} could not connect to publish {topic}"
    );
}

/// Everything `who` receives within a second of subscribing to every topic.
fn received(broker: &Broker, who: Who) -> std::process::Child {
    client("mosquitto_sub", broker, who)
        .args(["-t", "#", "-t", "$x/#", "-v", "-W", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn topics_of(child: Child) -> BTreeSet<String> {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once(' ').map(|(t, _)| t.to_owned()))
        .collect()
}

fn setup(name: &str) -> (PathBuf, Acl) {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-mosquitto-acl-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let pw = dir.join("passwd");
    passwd::create(&pw, "root", b"root", HashKind::Pbkdf2Sha512, 101).unwrap();
    for user in ["alice", "bob"] {
        passwd::set_password(&pw, user, user.as_bytes(), HashKind::Pbkdf2Sha512, 101).unwrap();
    }
    let acl_path = dir.join("acl");
    std::fs::write(&acl_path, ACL).unwrap();
    let acl = Acl::load("auth.acl_file", &acl_path).unwrap();
    (dir, acl)
}

const ROOT: Who = (Some("root"), "r1");

#[test]
fn publishes_are_allowed_exactly_as_mosquitto_allows_them() {
    let (dir, acl) = setup("write");
    let broker = start(&dir, "write");
    let cases: &[(Who, &str)] = &[
        ((Some("alice"), "a1"), "alice/x"),
        ((Some("alice"), "a1"), "alice/secret"),
        ((Some("alice"), "a1"), "public/news"),
        ((Some("alice"), "a1"), "shared/k/in"),
        ((Some("alice"), "a1"), "users/carol/out"),
        ((Some("alice"), "a1"), "clients/a1/data"),
        ((Some("alice"), "a1"), "clients/a1/locked"),
        ((Some("alice"), "a1"), "$x/alice"),
        ((Some("alice"), "a+1"), "alice/z"),
        // A client id with a wildcard character loses every pattern, even one not using %c.
        ((Some("alice"), "a+1"), "users/alice/out"),
        ((Some("bob"), "b1"), "users/bob/out"),
        ((Some("bob"), "b1"), "bob/y"),
        ((Some("bob"), "b1"), "alice/status"),
        ((None, "n1"), "anon/in"),
        ((None, "n1"), "public/x"),
        ((None, "n1"), "clients/n1/data"),
        ((None, "n1"), "users/n1/out"),
        (ROOT, "$x/root"),
    ];
    let distinct: BTreeSet<&str> = cases.iter().map(|(_, t)| *t).collect();
    assert_eq!(distinct.len(), cases.len(), "one topic per case");
    for (who, topic) in cases {
        publish_retained(&broker, *who, topic);
    }
    let stored = topics_of(received(&broker, ROOT));
    let mut expected_any = false;
    for (who, topic) in cases {
        let ours = acl.decide(who.0, who.1, Access::Write, topic).allowed;
        expected_any |= ours;
        assert_eq!(
            stored.contains(*topic),
            ours,
            "write {topic} by {who:?}: mosquitto {} it, switchboard {}",
            if stored.contains(*topic) {
                "allowed"
            } else {
                "denied"
            },
            if ours { "allows" } else { "denies" }
        );
    }
    assert!(
        expected_any && stored.len() < cases.len(),
        "both outcomes occur"
    );
}

#[test]
fn deliveries_are_allowed_exactly_as_mosquitto_allows_them() {
    let (dir, acl) = setup("read");
    let broker = start(&dir, "read");
    let topics = [
        "public/news",
        "alice/status",
        "alice/secret",
        "alice/q",
        "bob/q",
        "clients/a1/data",
        "clients/b1/data",
        "clients/a1/locked",
        "users/alice/out",
        "inbox/alice",
        "anon/in",
        "$x/r",
        "other/t",
    ];
    for topic in topics {
        publish_retained(&broker, ROOT, topic);
    }
    let readers: [Who; 5] = [
        (Some("alice"), "a1"),
        (Some("bob"), "b1"),
        (None, "n1"),
        (None, "clients"),
        (Some("alice"), "a+1"),
    ];
    let subs: Vec<Child> = readers.iter().map(|w| received(&broker, *w)).collect();
    let (mut delivered, mut withheld) = (0, 0);
    for (who, sub) in readers.iter().zip(subs) {
        let got = topics_of(sub);
        delivered += got.len();
        withheld += topics.len() - got.len();
        for topic in topics {
            let ours = acl.decide(who.0, who.1, Access::Read, topic).allowed;
            assert_eq!(
                got.contains(topic),
                ours,
                "read {topic} by {who:?}: mosquitto {}, switchboard {}",
                if got.contains(topic) {
                    "delivered"
                } else {
                    "withheld"
                },
                if ours { "allows" } else { "denies" }
            );
        }
    }
    assert!(delivered > 0 && withheld > 0, "both outcomes occur");
}
