//! The auth side of the command line: `switchboard passwd` behaves like mosquitto_passwd and
//! mosquitto accepts what it writes; `switchboard check-config` checks the auth files line by line.

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchboard_auth::{PasswordFile, PasswordHash, Verification};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env_remove("RUST_LOG");
    c
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-passwd-cli-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn passwd(args: &[&str]) -> Output {
    bin().arg("passwd").args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn load(path: &Path) -> PasswordFile {
    match PasswordFile::load("auth.password_file", path) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn batch_mode_creates_adds_updates_and_deletes() {
    let dir = scratch("batch");
    let file = dir.join("passwd");
    let f = file.to_str().unwrap();

    let out = passwd(&["-c", "-b", f, "alice", "a1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = passwd(&["-b", "-I", "1000", f, "bob", "b:1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Adding password for user bob\n");
    let out = passwd(&["-b", f, "alice", "a2"]);
    assert_eq!(text(&out.stdout), "Updating password for user alice\n");
    let out = passwd(&["-b", "-H", "sha512", f, "carol", "c"]);
    assert_eq!(out.status.code(), Some(0));

    let users = load(&file);
    assert_eq!(users.verify("alice", b"a2"), Verification::Valid);
    assert_eq!(users.verify("alice", b"a1"), Verification::WrongPassword);
    assert_eq!(users.verify("bob", b"b:1"), Verification::Valid);
    assert!(matches!(
        users.get("bob"),
        Some(PasswordHash::Pbkdf2Sha512 {
            iterations: 1000,
            ..
        })
    ));
    assert!(matches!(
        users.get("carol"),
        Some(PasswordHash::Sha512 { .. })
    ));

    let out = passwd(&["-D", f, "carol"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(load(&file).get("carol").is_none());
    let out = passwd(&["-D", f, "carol"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("user carol not found"),
        "{}",
        text(&out.stderr)
    );

    // -c overwrites.
    passwd(&["-c", "-b", f, "dave", "d"]);
    let users = load(&file);
    assert_eq!(users.len(), 1);
    assert_eq!(users.verify("dave", b"d"), Verification::Valid);
}

#[test]
fn mistakes_are_reported_like_mosquitto_passwd() {
    let dir = scratch("mistakes");
    let f = dir.join("passwd");
    let f = f.to_str().unwrap();
    for (args, code, needle) in [
        (vec!["-c", "-D", f, "u"], 64, "cannot be used with"),
        (vec!["-b", "-D", f, "u", "p"], 64, "cannot be used with"),
        (vec!["-I", "0", "-c", "-b", f, "u", "p"], 64, "-I"),
        (vec!["-H", "md5", "-c", "-b", f, "u", "p"], 64, "md5"),
        (
            vec!["-c", "-b", f, "a:b", "p"],
            1,
            "must not contain the ':' character",
        ),
        (vec!["-b", f, "u"], 1, "-b needs the password"),
        (vec![f, "u", "p"], 1, "needs -b"),
        (vec!["-b", f, "u", "p"], 1, "No such file"),
    ] {
        let out = passwd(&args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(needle),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let out = passwd(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("mosquitto_passwd"));
    let out = bin().arg("--help").output().unwrap();
    assert!(text(&out.stdout).contains("switchboard passwd"));
}

#[test]
fn dash_prints_the_entry() {
    let out = passwd(&["-c", "-b", "-", "eve", "pw"]);
    assert_eq!(out.status.code(), Some(0));
    let line = text(&out.stdout);
    let (user, hash) = line.trim_end().split_once(':').unwrap();
    assert_eq!(user, "eve");
    assert!(PasswordHash::parse(hash).unwrap().verify(b"pw"));
}

/// The interactive prompt reads the terminal without echo: drive it through a pseudo-terminal,
/// typing each answer once its prompt is on the screen, as a person would.
fn interactive(file: &Path, user: &str, answers: [&str; 2]) -> (Option<i32>, String) {
    use std::io::Read as _;
    let command = format!(
        "{} passwd -c {} {user}",
        env!("CARGO_BIN_EXE_switchboard"),
        file.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (util-linux) runs the prompt in a pseudo-terminal");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for (prompt, answer) in ["Password: ", "Reenter password: "]
        .into_iter()
        .zip(answers)
    {
        while !screen.contains(prompt) {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(chunk) => screen.push_str(&text(&chunk)),
                Err(_) => panic!("no `{prompt}` prompt; the screen shows {screen:?}"),
            }
        }
        // The prompt is written just before echo is switched off, and no event tells when that
        // happened; a person types far slower than this pause.
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    while let Ok(chunk) = rx.try_recv() {
        screen.push_str(&text(&chunk));
    }
    (status.code(), screen)
}

#[test]
fn the_prompt_asks_twice_without_echo() {
    let dir = scratch("prompt");
    let file = dir.join("passwd");
    let (code, screen) = interactive(&file, "alice", ["hidden-pw", "hidden-pw"]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        !screen.contains("hidden-pw"),
        "the password was echoed: {screen}"
    );
    assert!(
        screen.contains("Adding password for user alice"),
        "{screen}"
    );
    assert_eq!(
        load(&file).verify("alice", b"hidden-pw"),
        Verification::Valid
    );

    let other = dir.join("other");
    let (code, screen) = interactive(&other, "bob", ["one", "two"]);
    assert_eq!(code, Some(1), "{screen}");
    assert!(screen.contains("Passwords do not match"), "{screen}");
    assert!(!other.exists());
}

struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn program(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is missing: run `make deps`"))
}

#[test]
fn mosquitto_accepts_what_switchboard_passwd_writes() {
    let dir = scratch("mosquitto");
    let file = dir.join("passwd");
    let f = file.to_str().unwrap();
    assert!(
        passwd(&["-c", "-b", f, "alice", "alice-pw"])
            .status
            .success()
    );
    assert!(
        passwd(&["-b", "-I", "5000", f, "bob", "bob-pw"])
            .status
            .success()
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {f}\nuser root\n"),
    )
    .unwrap();
    let _broker = Broker(
        Command::new(program("mosquitto"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let connects = |user: &str, pw: &str| {
        Command::new(program("mosquitto_pub"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-u",
                user,
                "-P",
                pw,
            ])
            .args(["-t", "t", "-m", "m"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(connects("alice", "alice-pw"));
    assert!(connects("bob", "bob-pw"));
    assert!(!connects("bob", "alice-pw"));
}

#[test]
fn check_config_checks_the_auth_files() {
    let dir = scratch("check");
    let pw = dir.join("passwd");
    assert!(
        passwd(&["-c", "-b", pw.to_str().unwrap(), "alice", "a"])
            .status
            .success()
    );
    let acl = dir.join("acl");
    std::fs::write(&acl, "user alice\ntopic readwrite alice/#\n").unwrap();
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\npassword_file = {:?}\nacl_file = {:?}\n",
            pw.display().to_string(),
            acl.display().to_string()
        ),
    )
    .unwrap();
    let check = || {
        bin()
            .arg("check-config")
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = check();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    std::fs::write(
        &acl,
        "user alice\ntopic readwrite alice/#\ntopic alice/#/x\n",
    )
    .unwrap();
    let out = check();
    assert_eq!(out.status.code(), Some(64));
    let err = text(&out.stderr);
    assert!(
        err.contains("`auth.acl_file`")
            && err.contains(&format!("{}, line 3", acl.display()))
            && err.contains("invalid topic filter"),
        "{err}"
    );
}
