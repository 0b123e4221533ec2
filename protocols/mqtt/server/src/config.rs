//! The `[mqtt]` configuration section.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Settings of the MQTT broker (`[mqtt]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Whether the broker runs at all. Default true.
    pub enabled: bool,
    /// Plain TCP listener. Default `127.0.0.1:1883`.
    pub listen: SocketAddr,
    /// TLS listener (needs `cert` and `key`), e.g. `0.0.0.0:8883`.
    pub tls_listen: Option<SocketAddr>,
    /// PEM certificate chain for `tls_listen`.
    pub cert: Option<PathBuf>,
    /// PEM private key for `tls_listen`.
    pub key: Option<PathBuf>,
    /// PEM CA bundle; when set, TLS clients must present a certificate signed by it.
    pub client_ca: Option<PathBuf>,
    /// Use the client certificate's common name as the user name.
    pub use_identity_as_username: bool,
    /// Path of MQTT over WebSocket on the HTTP front; empty turns it off. Default `/mqtt`.
    pub ws_path: String,
    /// Most simultaneous connections per listener. Default 100 000.
    pub max_connections: usize,
    /// Largest packet accepted, in bytes (told to MQTT 5 clients as Maximum Packet Size).
    /// Default 1 MiB.
    pub max_packet_size: u32,
    /// QoS 1/2 messages in flight to one client at once; also the Receive Maximum told to MQTT 5
    /// clients (QoS 2 messages from one client awaiting PUBREL), as mosquitto does. Default 20.
    pub max_inflight: u16,
    /// Messages queued per slow or offline session beyond those in flight; further messages are
    /// dropped and counted (`switchboard_dropped_total{protocol="mqtt"}`,
    /// `$SYS/broker/publish/messages/dropped`). Default 1 000.
    pub max_queued_messages: usize,
    /// Also keep QoS 0 messages queued while a persistent session is offline (mosquitto's
    /// `queue_qos0_messages`). Default false: they are dropped on reconnect and counted.
    pub queue_qos0_messages: bool,
    /// Largest keep-alive a client may ask for, in seconds (v5 clients are told the lower value
    /// as Server Keep Alive; v3 clients asking more are refused). Default 65 535.
    pub max_keepalive: u16,
    /// Most topic aliases a client may use (Topic Alias Maximum told to MQTT 5 clients); 0 turns
    /// client aliases off. Default 10, as mosquitto.
    pub max_topic_alias: u16,
    /// Use topic aliases on messages sent to MQTT 5 clients that accept them. Default true.
    pub outbound_topic_aliases: bool,
    /// How long a new connection may take to send CONNECT (and finish TLS or WebSocket
    /// handshakes), in milliseconds. Default 10 000.
    pub connect_timeout_ms: u64,
    /// How long writing to a client may make no progress before the client is disconnected as a
    /// slow consumer, in milliseconds. Default 30 000.
    pub write_timeout_ms: u64,
    /// Longest a session may stay after its client disconnected, in seconds: caps the MQTT 5
    /// Session Expiry Interval and applies to MQTT 3.1.1 persistent sessions
    /// (clean session 0), like mosquitto's `persistent_client_expiration`. 0 = no cap (never
    /// expire). Default 0.
    pub max_session_expiry: u32,
    /// Accept a zero-length client id and assign one (always refused for a 3.1.1 client asking
    /// for a persistent session). Default true.
    pub allow_zero_length_clientid: bool,
    /// Prefix of assigned client ids. Default `auto-`.
    pub auto_id_prefix: String,
    /// Topic prefix added to everything this broker publishes into the fabric and removed on the
    /// way out (`$` topics are never prefixed). Default empty.
    pub mount: String,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 1883)),
            tls_listen: None,
            cert: None,
            key: None,
            client_ca: None,
            use_identity_as_username: false,
            ws_path: "/mqtt".to_owned(),
            max_connections: 100_000,
            max_packet_size: 1024 * 1024,
            max_inflight: 20,
            max_queued_messages: 1000,
            queue_qos0_messages: false,
            max_keepalive: 65_535,
            max_topic_alias: 10,
            outbound_topic_aliases: true,
            connect_timeout_ms: 10_000,
            write_timeout_ms: 30_000,
            max_session_expiry: 0,
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".to_owned(),
            mount: String::new(),
        }
    }
}

impl MqttConfig {
    /// Problems with these settings, as `(key, what to change)` pairs.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut need = |ok: bool, key: &str, what: &str| {
            if !ok {
                out.push((format!("mqtt.{key}"), what.to_owned()));
            }
        };
        need(
            self.max_connections > 0,
            "max_connections",
            "must be at least 1",
        );
        need(
            self.max_packet_size >= 16,
            "max_packet_size",
            "must be at least 16 bytes",
        );
        need(
            self.max_packet_size <= switchboard_mqtt_proto::MAX_PACKET_SIZE,
            "max_packet_size",
            "must be at most 268435460 bytes (the protocol's limit)",
        );
        need(self.max_inflight > 0, "max_inflight", "must be at least 1");
        need(
            self.max_queued_messages > 0,
            "max_queued_messages",
            "must be at least 1",
        );
        need(
            self.connect_timeout_ms > 0,
            "connect_timeout_ms",
            "must be at least 1",
        );
        need(
            self.write_timeout_ms > 0,
            "write_timeout_ms",
            "must be at least 1",
        );
        need(
            self.auto_id_prefix.len() <= 64 && !self.auto_id_prefix.contains(['+', '#', '/']),
            "auto_id_prefix",
            "must be at most 64 bytes without '+', '#' or '/'",
        );
        need(
            self.mount.is_empty()
                || (!self.mount.starts_with('$') && !self.mount.contains(['+', '#'])),
            "mount",
            "must not start with '$' nor contain '+' or '#'",
        );
        need(
            self.tls_listen.is_none() || (self.cert.is_some() && self.key.is_some()),
            "tls_listen",
            "needs mqtt.cert and mqtt.key",
        );
        need(
            !self.use_identity_as_username || self.client_ca.is_some(),
            "use_identity_as_username",
            "needs mqtt.client_ca (client certificates are only asked for with a CA)",
        );
        need(
            self.ws_path.is_empty() || self.ws_path.starts_with('/'),
            "ws_path",
            "must start with '/' (or be empty to turn MQTT over WebSocket off)",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_have_no_problems() {
        assert!(MqttConfig::default().problems().is_empty());
    }

    #[test]
    fn each_problem_names_its_key() {
        let c = MqttConfig {
            max_inflight: 0,
            mount: "$x/".into(),
            use_identity_as_username: true,
            max_packet_size: u32::MAX,
            ..MqttConfig::default()
        };
        let keys: Vec<_> = c.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "mqtt.max_packet_size",
                "mqtt.max_inflight",
                "mqtt.mount",
                "mqtt.use_identity_as_username"
            ]
        );
    }
}
