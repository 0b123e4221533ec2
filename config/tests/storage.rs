//! `[storage]`: the path must be a writable directory or creatable as one.

use switchboard_config::{Config, Fsync, validate};

fn problems(config: &Config) -> Vec<String> {
    match validate(config) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_creatable_or_writable_directory_is_accepted() {
    let base = std::env::temp_dir().join(format!("sb-config-storage-{}", std::process::id()));
    let mut c = Config::default();
    c.storage.path = Some(base.join("not/yet/there"));
    assert!(problems(&c).is_empty(), "{:?}", problems(&c));
    assert!(!base.exists(), "check-config creates nothing");
    std::fs::create_dir_all(&base).unwrap();
    c.storage.path = Some(base.clone());
    assert!(problems(&c).is_empty());
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_path_through_a_file_or_an_empty_one_is_refused_naming_the_key() {
    let file = std::env::temp_dir().join(format!("sb-config-storage-file-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    let mut c = Config::default();
    c.storage.path = Some(file.join("store"));
    let p = problems(&c);
    assert!(
        p.len() == 1 && p[0].contains("storage.path") && p[0].contains("not a directory"),
        "{p:?}"
    );
    c.storage.path = Some(file.clone());
    assert_eq!(problems(&c).len(), 1);
    c.storage.path = Some("".into());
    assert!(problems(&c)[0].contains("must not be empty"));
    let _ = std::fs::remove_file(&file);
}

#[test]
fn an_interval_needs_a_positive_period() {
    let mut c = Config::default();
    c.storage.fsync = Fsync::Interval;
    c.storage.fsync_interval_ms = 0;
    let p = problems(&c);
    assert!(
        p.len() == 1 && p[0].contains("storage.fsync_interval_ms"),
        "{p:?}"
    );
}
