//! Generated input: whatever a password file, an ACL file, a token or a topic holds, parsing and
//! deciding never panic, and the filter set operations stay consistent with matching.

use std::path::Path;

use proptest::prelude::*;
use switchboard_auth::{Acl, PasswordFile, PasswordHash, filter};
use switchboard_fabric::Access;

/// Lines built from the pieces the parsers look at, so that generated files get past the first
/// check often.
fn line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("topic".to_owned()),
        Just("pattern".to_owned()),
        Just("user".to_owned()),
        Just("read".to_owned()),
        Just("deny".to_owned()),
        Just("readwrite".to_owned()),
        Just("#".to_owned()),
        Just("%u".to_owned()),
        Just("%c".to_owned()),
        Just("$7$".to_owned()),
        Just("$6$".to_owned()),
        Just("$argon2id$".to_owned()),
        Just(":".to_owned()),
        Just("$".to_owned()),
        "[a-z+#/$%: \t\r]{0,12}",
        any::<String>(),
    ];
    prop::collection::vec(word, 0..6).prop_map(|w| w.join(" "))
}

fn file() -> impl Strategy<Value = String> {
    prop::collection::vec(line(), 0..12).prop_map(|l| l.join("\n"))
}

fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("$s".to_owned()),
        Just(String::new()),
        Just("+".to_owned()),
    ]
}

fn filter_text() -> impl Strategy<Value = String> {
    (prop::collection::vec(level(), 1..5), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash {
            levels.push("#".to_owned());
        }
        levels.join("/")
    })
}

fn topic_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("$s"), Just(""), Just("c")],
        1..6,
    )
    .prop_map(|l| l.join("/"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
    ))]

    #[test]
    fn password_files_never_panic(text in file(), user in any::<String>(), pw in any::<Vec<u8>>()) {
        if let Ok(f) = PasswordFile::parse("auth.password_file", Path::new("p"), &text) {
            let _ = f.verify(&user, &pw);
        }
        let _ = PasswordHash::parse(&text);
    }

    #[test]
    fn acl_files_never_panic(
        text in file(),
        user in proptest::option::of("[a-z+#/%]{0,6}"),
        client in "[a-z+#/%]{0,6}",
        topic in "[a-z+#/$]{0,12}",
    ) {
        if let Ok(acl) = Acl::parse("auth.acl_file", Path::new("a"), &text) {
            for access in [Access::Read, Access::Write, Access::Subscribe] {
                let _ = acl.decide(user.as_deref(), &client, access, &topic);
            }
        }
    }

    #[test]
    fn filter_operations_agree(a in filter_text(), b in filter_text(), t in topic_text()) {
        let (ma, mb) = (filter::matches(&a, &t), filter::matches(&b, &t));
        if ma && mb {
            prop_assert!(filter::intersects(&a, &b), "{a} and {b} both match {t}");
        }
        if filter::covers(&a, &b) && mb {
            prop_assert!(ma, "{a} covers {b}, which matches {t}, but {a} does not");
        }
        prop_assert_eq!(filter::intersects(&a, &b), filter::intersects(&b, &a));
        prop_assert!(filter::covers(&a, &a));
    }
}
