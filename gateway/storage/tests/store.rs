//! The store keeps what was written across a close and reopen, in every fsync mode, and tells when
//! writes are durable.

use std::sync::Arc;
use std::time::Duration;

use switchboard_fabric::{Durable, Fabric, Message, Qos, Topic, TopicFilter};
use switchboard_storage::{
    Fsync, RetainedPersister, Store, StoreError, StoreOptions, load_retained, node_id,
};

fn open(dir: &std::path::Path, fsync: Fsync) -> Store {
    Store::open(
        &StoreOptions {
            dir: dir.to_owned(),
            fsync,
        },
        &prometheus::Registry::new(),
    )
    .expect("store opens")
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-store-{name}-{}-{:x}",
        std::process::id(),
        rand_u64()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

fn sorted(mut v: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    v.sort();
    v
}

#[test]
fn writes_survive_a_reopen_in_every_mode() {
    for fsync in [
        Fsync::Always,
        Fsync::Interval(Duration::from_millis(20)),
        Fsync::Never,
    ] {
        let dir = tempdir("modes");
        let s = open(&dir, fsync);
        s.put("t", b"a".to_vec(), Some(b"1".to_vec()));
        s.put("t", b"b".to_vec(), Some(b"2".to_vec()));
        s.put("t", b"a".to_vec(), Some(b"3".to_vec()));
        s.put("t", b"b".to_vec(), None);
        s.put("u", b"x".to_vec(), Some(b"y".to_vec()));
        assert_eq!(
            s.load("t"),
            vec![(b"a".to_vec(), b"3".to_vec())],
            "{fsync:?}"
        );
        s.close();
        drop(s);
        let s = open(&dir, fsync);
        assert_eq!(
            s.load("t"),
            vec![(b"a".to_vec(), b"3".to_vec())],
            "{fsync:?}"
        );
        assert_eq!(s.load("u").len(), 1);
        assert!(s.load("never-written").is_empty());
        s.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_prefix_delete_removes_older_writes_only() {
    let dir = tempdir("prefix");
    let s = open(&dir, Fsync::Always);
    s.put("t", b"c1/1".to_vec(), Some(b"old".to_vec()));
    s.put("t", b"c2/1".to_vec(), Some(b"other".to_vec()));
    s.flush();
    s.put("t", b"c1/2".to_vec(), Some(b"pending".to_vec()));
    s.delete_prefix("t", b"c1/".to_vec());
    s.put("t", b"c1/3".to_vec(), Some(b"new".to_vec()));
    assert_eq!(
        sorted(s.load("t")),
        vec![
            (b"c1/3".to_vec(), b"new".to_vec()),
            (b"c2/1".to_vec(), b"other".to_vec())
        ]
    );
    s.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn tickets_become_durable_in_order() {
    let dir = tempdir("tickets");
    let s = open(&dir, Fsync::Always);
    assert!(s.acks_wait());
    let mut rx = s.watch();
    let t1 = s.put("t", b"k".to_vec(), Some(b"v".to_vec()));
    let t2 = s.put("t", b"k2".to_vec(), Some(b"v".to_vec()));
    assert!(t2 > t1);
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|d| *d >= t2.0))
        .await
        .expect("durable in time")
        .expect("store alive");
    s.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn with_interval_tickets_are_durable_at_the_next_sync() {
    let dir = tempdir("interval");
    let s = open(&dir, Fsync::Interval(Duration::from_millis(300)));
    assert!(!s.acks_wait());
    let mut rx = s.watch();
    let t = s.put("t", b"k".to_vec(), Some(b"v".to_vec()));
    // Committed (readable) at once, durable only at the next sync.
    assert_eq!(s.load("t").len(), 1);
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|d| *d >= t.0))
        .await
        .expect("synced in time")
        .expect("store alive");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "not before the interval"
    );
    s.close();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn one_store_per_directory_and_a_clear_error_for_a_bad_one() {
    let dir = tempdir("lock");
    let s = open(&dir, Fsync::Always);
    let again = Store::open(
        &StoreOptions {
            dir: dir.clone(),
            fsync: Fsync::Always,
        },
        &prometheus::Registry::new(),
    );
    assert!(
        matches!(again, Err(StoreError::AlreadyOpen { .. })),
        "{again:?}"
    );
    s.close();
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let bad = Store::open(
        &StoreOptions {
            dir: file.join("sub"),
            fsync: Fsync::Always,
        },
        &prometheus::Registry::new(),
    );
    assert!(matches!(bad, Err(StoreError::Directory { .. })), "{bad:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retained_messages_and_the_node_id_come_back() {
    let dir = tempdir("retained");
    let s = Arc::new(open(&dir, Fsync::Always));
    let fabric = Fabric::standalone();
    fabric.set_retained_observer(Arc::new(RetainedPersister::new(s.clone())));
    let t = |n: &str| Topic::new(n).unwrap();
    fabric.publish(
        Message::text(t("a/1"), "one")
            .retain(true)
            .qos(Qos::AtLeastOnce),
    );
    fabric.publish(Message::text(t("a/2"), "two").retain(true));
    fabric.publish(Message::text(t("a/2"), "").retain(true)); // deletes
    fabric.publish(
        Message::text(t("a/3"), "short-lived")
            .retain(true)
            .expires_in(Duration::from_millis(1)),
    );
    fabric.publish(Message::text(t("a/4"), "not retained"));
    fabric.publish(Message::text(t("$SYS/x"), "statistics are not kept").retain(true));
    assert_eq!(node_id(&*s, || "n1".into()), "n1");
    s.close();
    drop(s);

    std::thread::sleep(Duration::from_millis(5));
    let s = open(&dir, Fsync::Always);
    let fabric = Fabric::standalone();
    let kept = fabric.load_retained(load_retained(&s));
    assert_eq!(kept, 1);
    let all = fabric.retained(&TopicFilter::new("#").unwrap());
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].payload_str(), Some("one"));
    assert_eq!(all[0].qos, Qos::AtLeastOnce);
    assert_eq!(node_id(&s, || "n2".into()), "n1", "the node id is kept");
    s.flush();
    assert_eq!(
        s.load("retained").len(),
        1,
        "the expired record was deleted"
    );
    s.close();
    let _ = std::fs::remove_dir_all(&dir);
}
