//! Password files against the real mosquitto: files written by `mosquitto_passwd` verify here, and
//! files written here are accepted by a real mosquitto broker.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_auth::passwd::{self, HashKind};
use switchboard_auth::{PasswordFile, PasswordHash, Verification};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-auth-{}-{name}-{:08x}",
        std::process::id(),
        rand_u32()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now()) as u32
}

fn load(path: &Path) -> PasswordFile {
    match PasswordFile::load("auth.password_file", path) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

/// A program from a Debian package the suite lists in scripts/apt-packages.txt.
fn tool(name: &str) -> Command {
    let path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    match path {
        Some(p) => Command::new(p),
        None => panic!(
            "`{name}` is missing: run `make deps` (Debian packages mosquitto and mosquitto-clients)"
        ),
    }
}

#[test]
fn a_file_written_by_mosquitto_passwd_verifies() {
    let f = load(&fixture("mosquitto.passwd"));
    assert_eq!(f.len(), 5);
    for (user, password, scheme) in [
        ("alice", "secret1", "pbkdf2-sha512"),
        ("bob", "b0b:with:colons", "pbkdf2-sha512"),
        ("carol", "legacy-sha512", "sha512"),
        ("dave smith", "pässwörd ✓", "pbkdf2-sha512"),
        ("erin", "", "sha512"),
    ] {
        assert_eq!(
            f.get(user).map(PasswordHash::scheme),
            Some(scheme),
            "{user}"
        );
        assert_eq!(
            f.verify(user, password.as_bytes()),
            Verification::Valid,
            "{user}"
        );
        assert_eq!(
            f.verify(user, b"not it"),
            Verification::WrongPassword,
            "{user}"
        );
    }
    assert!(matches!(
        f.get("bob"),
        Some(PasswordHash::Pbkdf2Sha512 {
            iterations: 1000,
            ..
        })
    ));
}

#[test]
fn an_amqtt_file_verifies() {
    let f = load(&fixture("amqtt.passwd"));
    for (user, password, scheme) in [
        ("frank", "amqtt-pw", "sha512-crypt"),
        ("gina", "rounds-pw", "sha512-crypt"),
        ("hugo", "argon-pw", "argon2"),
    ] {
        assert_eq!(
            f.get(user).map(PasswordHash::scheme),
            Some(scheme),
            "{user}"
        );
        assert_eq!(
            f.verify(user, password.as_bytes()),
            Verification::Valid,
            "{user}"
        );
        assert_eq!(f.verify(user, b"x"), Verification::WrongPassword, "{user}");
    }
}

#[test]
fn files_from_the_installed_mosquitto_passwd_verify() {
    let dir = scratch_dir("live");
    let file = dir.join("passwd");
    let run = |args: &[&str]| {
        let out = tool("mosquitto_passwd").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "mosquitto_passwd {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let f = file.to_str().unwrap();
    run(&["-c", "-b", f, "u7", "seven"]);
    run(&["-b", "-I", "3", f, "u7i", "three rounds"]);
    run(&["-b", "-H", "sha512", f, "u6", "six"]);
    let parsed = load(&file);
    assert_eq!(parsed.verify("u7", b"seven"), Verification::Valid);
    assert_eq!(parsed.verify("u7i", b"three rounds"), Verification::Valid);
    assert_eq!(parsed.verify("u6", b"six"), Verification::Valid);
    assert_eq!(parsed.verify("u6", b"seven"), Verification::WrongPassword);
    assert!(matches!(
        parsed.get("u7i"),
        Some(PasswordHash::Pbkdf2Sha512 { iterations: 3, .. })
    ));
    // And mosquitto_passwd can keep editing a file we wrote.
    passwd::set_password(&file, "ours", b"pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    run(&["-D", f, "u6"]);
    let parsed = load(&file);
    assert!(parsed.get("u6").is_none());
    assert_eq!(parsed.verify("ours", b"pw"), Verification::Valid);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_mosquitto(dir: &Path, password_file: &Path) -> (Broker, u16) {
    let port = free_port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n\
             # stay root when started as root, so the 0600 password file stays readable\nuser root\n",
            password_file.display()
        ),
    )
    .unwrap();
    let child = tool("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let broker = Broker(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    (broker, port)
}

fn mosquitto_accepts(port: u16, user: &str, password: &str) -> bool {
    tool("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-u", user, "-P", password, "-t", "t", "-m", "m", "-q", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn mosquitto_accepts_the_files_we_write() {
    let dir = scratch_dir("broker");
    let file = dir.join("passwd");
    passwd::create(&file, "alice", b"alice-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
    passwd::set_password(&file, "bob", b"b:o:b", HashKind::Pbkdf2Sha512, 2000).unwrap();
    passwd::set_password(&file, "carol", b"legacy", HashKind::Sha512, 101).unwrap();
    let (_broker, port) = start_mosquitto(&dir, &file);
    assert!(mosquitto_accepts(port, "alice", "alice-pw"));
    assert!(mosquitto_accepts(port, "bob", "b:o:b"));
    assert!(mosquitto_accepts(port, "carol", "legacy"));
    assert!(
        !mosquitto_accepts(port, "alice", "wrong"),
        "the check is real"
    );
    assert!(!mosquitto_accepts(port, "nobody", "alice-pw"));
}
