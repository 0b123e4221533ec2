//! The `--url` syntax: aMQTT's `[mqtt|ws][s]://[username[:password]@]host[:port][/path]`,
//! extended with `eio[s]://host[:port][/path]` (Engine.IO control mode) and `ipc://host[:port]`
//! or `ipc+unix:///path` (IPC bus).
//!
//! | scheme | protocol | transport | default port | default path |
//! |---|---|---|---|---|
//! | `mqtt` / `mqtts` | MQTT | TCP / TLS | 1883 / 8883 | (a path is the topic, as with mosquitto's `-L`) |
//! | `ws` / `wss` | MQTT | WebSocket / over TLS | 8080 / 443 | `/mqtt` |
//! | `eio` / `eios` | Engine.IO v4 control protocol | WebSocket / over TLS | 8080 / 443 | `/engine.io/` |
//! | `ipc` | IPC bus (electron-common-ipc 16) | TCP | 7700 | — |
//! | `ipc+unix` | IPC bus | unix socket | — | the socket path |
//!
//! User names and passwords may be percent-encoded (`%40` for `@`, `%3A` for `:`).

use std::fmt;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

/// The protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// MQTT 3.1.1 or 5.0.
    Mqtt,
    /// The Engine.IO control protocol.
    EngineIo,
    /// The electron-common-ipc 16 bus.
    Ipc,
}

impl Protocol {
    /// The name used in messages and in `%o` / `"protocol"` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Mqtt => "mqtt",
            Protocol::EngineIo => "engineio",
            Protocol::Ipc => "ipc",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `mqtt://`: MQTT over TCP.
    Mqtt,
    /// `mqtts://`: MQTT over TLS.
    Mqtts,
    /// `ws://`: MQTT over WebSocket.
    Ws,
    /// `wss://`: MQTT over WebSocket over TLS.
    Wss,
    /// `eio://`: Engine.IO over WebSocket.
    Eio,
    /// `eios://`: Engine.IO over WebSocket over TLS.
    Eios,
    /// `ipc://`: the IPC bus over TCP.
    Ipc,
    /// `ipc+unix://`: the IPC bus over a unix socket.
    IpcUnix,
}

impl Scheme {
    fn parse(s: &str) -> Option<Scheme> {
        Some(match s.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => Scheme::Mqtt,
            "mqtts" | "ssl" => Scheme::Mqtts,
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "eio" => Scheme::Eio,
            "eios" => Scheme::Eios,
            "ipc" => Scheme::Ipc,
            "ipc+unix" => Scheme::IpcUnix,
            _ => return None,
        })
    }

    /// The scheme as written in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Mqtt => "mqtt",
            Scheme::Mqtts => "mqtts",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
            Scheme::Eio => "eio",
            Scheme::Eios => "eios",
            Scheme::Ipc => "ipc",
            Scheme::IpcUnix => "ipc+unix",
        }
    }

    /// The protocol spoken.
    pub fn protocol(self) -> Protocol {
        match self {
            Scheme::Mqtt | Scheme::Mqtts | Scheme::Ws | Scheme::Wss => Protocol::Mqtt,
            Scheme::Eio | Scheme::Eios => Protocol::EngineIo,
            Scheme::Ipc | Scheme::IpcUnix => Protocol::Ipc,
        }
    }

    /// Whether the transport is TLS.
    pub fn tls(self) -> bool {
        matches!(self, Scheme::Mqtts | Scheme::Wss | Scheme::Eios)
    }

    /// Whether the transport is a WebSocket.
    pub fn websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss | Scheme::Eio | Scheme::Eios)
    }

    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Mqtt => 1883,
            Scheme::Mqtts => 8883,
            Scheme::Ws | Scheme::Eio => 8080,
            Scheme::Wss | Scheme::Eios => 443,
            Scheme::Ipc | Scheme::IpcUnix => 7700,
        }
    }

    /// The path used when the URL names none (WebSocket endpoints).
    pub fn default_path(self) -> &'static str {
        match self {
            Scheme::Ws | Scheme::Wss => "/mqtt",
            Scheme::Eio | Scheme::Eios => "/engine.io/",
            _ => "",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed `--url`, completed with defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The scheme.
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets); empty for `ipc+unix`.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The path: the WebSocket path, the MQTT topic of `mqtt://host/topic`, or the unix
    /// socket path of `ipc+unix`. Empty when absent (no default applied for `mqtt`).
    pub path: String,
    /// User name, percent-decoded.
    pub username: Option<String>,
    /// Password, percent-decoded.
    pub password: Option<String>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        write!(f, "Endpoint({self})")
    }
}

/// A `--url` that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid URL `{url}`: {reason}")]
pub struct UrlError {
    url: String,
    reason: String,
}

impl UrlError {
    fn new(url: &str, reason: impl Into<String>) -> UrlError {
        UrlError {
            url: url.to_owned(),
            reason: reason.into(),
        }
    }
}

fn decode(url: &str, s: &str) -> Result<String, UrlError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| UrlError::new(url, "the user name or password is not UTF-8"))
}

impl Endpoint {
    /// The endpoint of the mosquitto-style options alone: `mqtt://host:port`.
    pub fn mqtt(host: &str, port: u16) -> Endpoint {
        Endpoint {
            scheme: Scheme::Mqtt,
            host: host.to_owned(),
            port,
            path: String::new(),
            username: None,
            password: None,
        }
    }

    /// Parses a URL (see the module documentation).
    pub fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| UrlError::new(url, "expected SCHEME://..."))?;
        let scheme = Scheme::parse(scheme).ok_or_else(|| {
            UrlError::new(
                url,
                format!(
                    "unknown scheme `{scheme}` (use mqtt, mqtts, ws, wss, eio, eios, ipc or ipc+unix)"
                ),
            )
        })?;
        if scheme == Scheme::IpcUnix {
            if !rest.starts_with('/') {
                return Err(UrlError::new(
                    url,
                    "ipc+unix needs an absolute socket path: ipc+unix:///run/bus.sock",
                ));
            }
            return Ok(Endpoint {
                scheme,
                host: String::new(),
                port: 0,
                path: percent_decode_str(rest).decode_utf8_lossy().into_owned(),
                username: None,
                password: None,
            });
        }
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if path.contains(['?', '#']) {
            return Err(UrlError::new(
                url,
                "query strings and fragments are not supported",
            ));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((name, pw)) => (Some(decode(url, name)?), Some(decode(url, pw)?)),
                None => (Some(decode(url, u)?), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| UrlError::new(url, "unclosed `[` in the host"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| UrlError::new(url, "expected `:port` after `]`"))?,
                ),
            };
            (h.to_owned(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::new(url, "no host"));
        }
        let port = match port {
            None => scheme.default_port(),
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| UrlError::new(url, format!("invalid port `{p}`")))?,
        };
        if scheme.protocol() == Protocol::Ipc && !path.is_empty() && path != "/" {
            return Err(UrlError::new(url, "ipc:// takes no path (ipc://host:port)"));
        }
        if scheme.protocol() == Protocol::Ipc && username.is_some() {
            return Err(UrlError::new(
                url,
                "the IPC bus carries no credentials: drop the user name",
            ));
        }
        let path = if path.is_empty() || (scheme.websocket() && path == "/") {
            scheme.default_path().to_owned()
        } else if scheme.websocket() {
            path.to_owned()
        } else if scheme.protocol() == Protocol::Mqtt {
            // mqtt://host/topic: the path is a topic (mosquitto's -L), kept percent-decoded.
            percent_decode_str(&path[1..])
                .decode_utf8_lossy()
                .into_owned()
        } else {
            String::new()
        };
        Ok(Endpoint {
            scheme,
            host,
            port,
            path,
            username,
            password,
        })
    }

    /// The protocol spoken.
    pub fn protocol(&self) -> Protocol {
        self.scheme.protocol()
    }

    /// `host:port` (IPv6 bracketed), as for a TCP connect.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The `ws://` / `wss://` URL of a WebSocket endpoint (no credentials, no query).
    pub fn websocket_url(&self) -> String {
        let scheme = if self.scheme.tls() { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.authority(), self.path)
    }
}

impl fmt::Display for Endpoint {
    /// The URL with the password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scheme == Scheme::IpcUnix {
            return write!(f, "ipc+unix://{}", self.path);
        }
        write!(f, "{}://", self.scheme)?;
        if let Some(u) = &self.username {
            f.write_str(u)?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.authority())?;
        if self.scheme.websocket() {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

impl FromStr for Endpoint {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Endpoint::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn amqtt_urls_with_defaults() {
        let e = ok("mqtt://broker");
        assert_eq!(
            (e.scheme, e.host.as_str(), e.port, e.path.as_str()),
            (Scheme::Mqtt, "broker", 1883, "")
        );
        assert_eq!(ok("mqtts://b").port, 8883);
        let e = ok("ws://b");
        assert_eq!((e.port, e.path.as_str()), (8080, "/mqtt"));
        assert_eq!(e.websocket_url(), "ws://b:8080/mqtt");
        let e = ok("wss://user:p%40ss@b:9443/custom/ws");
        assert_eq!(e.username.as_deref(), Some("user"));
        assert_eq!(e.password.as_deref(), Some("p@ss"));
        assert_eq!(e.websocket_url(), "wss://b:9443/custom/ws");
        assert_eq!(e.to_string(), "wss://user:***@b:9443/custom/ws");
        assert!(!format!("{e:?}").contains("p@ss"));
    }

    #[test]
    fn switchboard_schemes() {
        let e = ok("eio://127.0.0.1:8080");
        assert_eq!(e.protocol(), Protocol::EngineIo);
        assert_eq!(e.websocket_url(), "ws://127.0.0.1:8080/engine.io/");
        assert_eq!(
            ok("eios://h/engine.io/").websocket_url(),
            "wss://h:443/engine.io/"
        );
        let e = ok("ipc://localhost");
        assert_eq!((e.protocol(), e.port), (Protocol::Ipc, 7700));
        let e = ok("ipc+unix:///run/switchboard/bus.sock");
        assert_eq!(e.path, "/run/switchboard/bus.sock");
        assert_eq!(e.to_string(), "ipc+unix:///run/switchboard/bus.sock");
    }

    #[test]
    fn mqtt_path_is_a_topic_and_ipv6_hosts_work() {
        let e = ok("mqtt://u@[::1]:1884/plant/1%2Ftemp");
        assert_eq!(e.host, "::1");
        assert_eq!(e.port, 1884);
        assert_eq!(e.path, "plant/1/temp");
        assert_eq!(e.authority(), "[::1]:1884");
        assert_eq!(e.username.as_deref(), Some("u"));
        assert_eq!(e.password, None);
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, why) in [
            ("broker:1883", "SCHEME://"),
            ("http://b", "unknown scheme"),
            ("mqtt://", "no host"),
            ("mqtt://b:0", "invalid port"),
            ("mqtt://b:99999", "invalid port"),
            ("ipc://b/x", "no path"),
            ("ipc://u@b", "no credentials"),
            ("ipc+unix://relative", "absolute"),
            ("ws://b/x?y=1", "query"),
            ("mqtt://[::1", "unclosed"),
        ] {
            let e = Endpoint::parse(url).expect_err(url).to_string();
            assert!(e.contains(why), "{url}: {e}");
        }
    }
}
