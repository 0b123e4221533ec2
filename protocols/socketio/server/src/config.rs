//! The `[socketio]` configuration section: where Socket.IO is served, its limits, and how each
//! namespace maps onto the fabric. The Engine.IO options of `[engineio]` (heartbeat, buffer
//! sizes, transports, CORS, cookie, `allow_eio3`...) apply underneath.
//!
//! ```
//! use switchboard_socketio::SocketIoConfig;
//! let config: SocketIoConfig = toml::from_str(r#"
//!     [[namespaces]]
//!     name = "/"
//!     [[namespaces]]
//!     name = "/plant"
//!     mode = "events"
//!     mount = "plant/"
//!     join = ["+/temp"]
//! "#).unwrap();
//! assert!(config.problems().is_empty());
//! assert_eq!(config.path, "/socket.io/");
//! ```

use serde::{Deserialize, Serialize};

/// Settings of the Socket.IO server (`[socketio]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SocketIoConfig {
    /// Whether Socket.IO is served at all. Default true.
    pub enabled: bool,
    /// Path on the HTTP front (socket.io `path`). Default `/socket.io/`.
    pub path: String,
    /// How long a client may take to connect to its first namespace after the Engine.IO
    /// handshake, in milliseconds (`connectTimeout`). Default 45 000.
    pub connect_timeout_ms: u64,
    /// Most binary attachments one packet may carry (`maxAttachments` of the parser).
    /// Default 10.
    pub max_attachments: usize,
    /// Most namespaces one connection may join at once. Default 16.
    pub max_namespaces: usize,
    /// Most topic filters one namespace socket may subscribe to (or join). Default 1000.
    pub max_subscriptions: usize,
    /// Most `request` events a socket may have waiting for replies. Default 64.
    pub max_pending_requests: usize,
    /// Timeout of a `request` event without `timeout_ms`, in milliseconds. Default 5000.
    pub request_timeout_ms: u64,
    /// Largest `timeout_ms` a `request` may ask for, in milliseconds. Default 60 000.
    pub max_request_timeout_ms: u64,
    /// Refuse namespace connections without credentials (in the connect `auth` payload, an
    /// `Authorization` header or a `token` query parameter) even when anonymous access is
    /// on. Default false.
    pub require_credentials: bool,
    /// The namespaces clients may connect to, and how each maps onto the fabric. Default: the
    /// main namespace `/` in `control` mode.
    pub namespaces: Vec<NamespaceConfig>,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            enabled: true,
            path: "/socket.io/".to_owned(),
            connect_timeout_ms: 45_000,
            max_attachments: 10,
            max_namespaces: 16,
            max_subscriptions: 1000,
            max_pending_requests: 64,
            request_timeout_ms: 5000,
            max_request_timeout_ms: 60_000,
            require_credentials: false,
            namespaces: vec![NamespaceConfig::default()],
        }
    }
}

/// How a namespace maps onto the fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NamespaceMode {
    /// The events `subscribe`, `unsubscribe`, `publish` and `request` (with
    /// acknowledgements); messages arrive as `message` events `(topic, data, meta)`.
    #[default]
    Control,
    /// Zero code: every event name is a topic (`emit("plant/1/temp", data)` publishes), and
    /// the messages of the joined filters arrive as events named by their topic
    /// (`on("plant/1/temp", (data, meta) => ...)`).
    Events,
}

/// `[[socketio.namespaces]]`: one namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NamespaceConfig {
    /// The namespace name, starting with `/`. Default `/`.
    pub name: String,
    /// The mapping. Default `control`.
    pub mode: NamespaceMode,
    /// Topic prefix added to every topic and filter on the way in and removed on the way
    /// out. Default empty.
    pub mount: String,
    /// Filters every socket of the namespace is subscribed to on connect (below `mount`).
    /// Default none.
    pub join: Vec<String>,
    /// Whether clients may join more filters on connect, through `join` in the connect
    /// `auth` payload or the `join` query parameter. Default true.
    pub client_join: bool,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        NamespaceConfig {
            name: "/".to_owned(),
            mode: NamespaceMode::Control,
            mount: String::new(),
            join: Vec::new(),
            client_join: true,
        }
    }
}

impl SocketIoConfig {
    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut push = |key: &str, what: String| out.push((format!("socketio.{key}"), what));
        if !self.path.starts_with('/') {
            push("path", "must start with '/'".to_owned());
        }
        for (key, v) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("max_attachments", self.max_attachments as u64),
            ("max_namespaces", self.max_namespaces as u64),
            ("max_subscriptions", self.max_subscriptions as u64),
            ("max_pending_requests", self.max_pending_requests as u64),
            ("request_timeout_ms", self.request_timeout_ms),
            ("max_request_timeout_ms", self.max_request_timeout_ms),
        ] {
            if v == 0 {
                push(key, "must be at least 1".to_owned());
            }
        }
        if self.request_timeout_ms > self.max_request_timeout_ms {
            push(
                "request_timeout_ms",
                "must not exceed max_request_timeout_ms".to_owned(),
            );
        }
        if self.enabled && self.namespaces.is_empty() {
            push(
                "namespaces",
                "must declare at least one namespace (e.g. name = \"/\")".to_owned(),
            );
        }
        for (i, ns) in self.namespaces.iter().enumerate() {
            let key = |k: &str| format!("namespaces[{i}].{k}");
            if !ns.name.starts_with('/') || ns.name.contains([',', '?']) {
                push(
                    &key("name"),
                    format!("`{}` must start with '/' and hold no ',' or '?'", ns.name),
                );
            }
            if self.namespaces[..i].iter().any(|o| o.name == ns.name) {
                push(&key("name"), format!("`{}` is declared twice", ns.name));
            }
            if ns.join.len() > self.max_subscriptions {
                push(
                    &key("join"),
                    "holds more filters than max_subscriptions".to_owned(),
                );
            }
            for f in &ns.join {
                let full = format!("{}{f}", ns.mount);
                if let Err(e) = switchboard_fabric::TopicFilter::new(&full) {
                    push(&key("join"), format!("`{full}` is not a valid filter: {e}"));
                }
            }
            if !ns.mount.is_empty()
                && let Err(e) = switchboard_fabric::Topic::new(format!("{}x", ns.mount))
            {
                push(
                    &key("mount"),
                    format!("`{}` is not a valid topic prefix: {e}", ns.mount),
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = SocketIoConfig::default();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        assert_eq!(c.namespaces[0].name, "/");
        assert_eq!(c.connect_timeout_ms, 45_000);
        assert_eq!(c.max_attachments, 10);
    }

    #[test]
    fn problems_name_their_keys() {
        let c = SocketIoConfig {
            path: "socket.io".to_owned(),
            max_attachments: 0,
            request_timeout_ms: 70_000,
            namespaces: vec![
                NamespaceConfig::default(),
                NamespaceConfig::default(),
                NamespaceConfig {
                    name: "admin".to_owned(),
                    join: vec!["a/#/b".to_owned()],
                    ..NamespaceConfig::default()
                },
            ],
            ..SocketIoConfig::default()
        };
        let keys: Vec<String> = c.problems().into_iter().map(|(k, _)| k).collect();
        for k in [
            "socketio.path",
            "socketio.max_attachments",
            "socketio.request_timeout_ms",
            "socketio.namespaces[1].name",
            "socketio.namespaces[2].name",
            "socketio.namespaces[2].join",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
        assert!(toml::from_str::<SocketIoConfig>("nope = 1").is_err());
        assert!(toml::from_str::<SocketIoConfig>("[[namespaces]]\nmode = \"rooms\"").is_err());
    }
}
