//! Topics whose rules no ACL changes, decided here and nowhere else.
//!
//! - **Replies** (`$reply/...`, [`REPLY_PREFIX`]): the fabric gives each request a fresh,
//!   unguessable reply topic and hands it to the responder (an IPC `request`, an Engine.IO `req`, an
//!   MQTT 5 response topic). Knowing the topic is the permission, so any authenticated client may
//!   publish there and receive what arrives there, even when the ACL does not mention it. Nobody may
//!   *subscribe* to reply topics: a reply goes straight to its requester, and a subscription could
//!   only catch other clients' replies.
//! - **`$SYS`**: clients never publish to a topic starting with `$SYS`, whatever the ACL says;
//!   mosquitto 2.0 drops such publishes the same way. Reading and subscribing follow the ACL.
//!
//! Shared subscriptions (`$share/<group>/<filter>`) are judged by their `<filter>`.

use switchboard_fabric::{Access, REPLY_PREFIX};

/// The prefix of topics only the gateway publishes to.
pub const SYS_PREFIX: &str = "$SYS";

/// The decision for `access` on `topic` when a reserved rule applies, `None` when the ACL decides.
pub fn decide(access: Access, topic: &str) -> Option<bool> {
    if topic.starts_with(REPLY_PREFIX) {
        return Some(access != Access::Subscribe);
    }
    if access == Access::Write && topic.starts_with(SYS_PREFIX) {
        return Some(false);
    }
    None
}

/// The filter a subscription is judged by: `$share/<group>/<filter>` → `<filter>`; `None` when a
/// `$share` filter has no group or no filter.
pub fn subscription_filter(filter: &str) -> Option<&str> {
    match filter.strip_prefix("$share/") {
        Some(rest) => match rest.split_once('/') {
            Some((group, f)) if !group.is_empty() && !f.is_empty() => Some(f),
            _ => None,
        },
        None => Some(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_may_be_published_and_read_but_not_subscribed() {
        let t = "$reply/node1/abc123";
        assert_eq!(decide(Access::Write, t), Some(true));
        assert_eq!(decide(Access::Read, t), Some(true));
        assert_eq!(decide(Access::Subscribe, t), Some(false));
        assert_eq!(decide(Access::Subscribe, "$reply/#"), Some(false));
        assert_eq!(decide(Access::Write, "$replyx/a"), None);
    }

    #[test]
    fn sys_is_never_published_by_clients() {
        for t in ["$SYS", "$SYS/broker/uptime", "$SYSX/a"] {
            assert_eq!(decide(Access::Write, t), Some(false), "{t}");
            assert_eq!(decide(Access::Read, t), None);
            assert_eq!(decide(Access::Subscribe, t), None);
        }
        assert_eq!(
            decide(Access::Write, "$sys/a"),
            None,
            "case-sensitive, as mosquitto"
        );
        assert_eq!(decide(Access::Write, "a/$SYS"), None);
    }

    #[test]
    fn shared_subscriptions_are_judged_by_their_filter() {
        assert_eq!(subscription_filter("$share/g/a/#"), Some("a/#"));
        assert_eq!(subscription_filter("$share/g/$reply/#"), Some("$reply/#"));
        assert_eq!(subscription_filter("$share/g"), None);
        assert_eq!(subscription_filter("$share//a"), None);
        assert_eq!(subscription_filter("$share/g/"), None);
        assert_eq!(subscription_filter("a/b"), Some("a/b"));
    }
}
