//! The protocol-neutral messages the commands send ([`Outgoing`]) and print ([`Received`]).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::url::Protocol;

/// How a payload is to be read; the fabric's three kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// UTF-8 text.
    Text,
    /// A JSON document.
    Json,
    /// Opaque bytes.
    Binary,
}

impl Kind {
    /// `text`, `json` or `binary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Json => "json",
            Kind::Binary => "binary",
        }
    }
}

/// The content type that makes a payload JSON, on MQTT 5 and in the gateway's bridge.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The topic (an IPC channel over `ipc://`).
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// How the payload is sent: a JSON `data`, a `text` or bytes over Engine.IO; a string, a
    /// value or a `Buffer` over IPC; Payload Format Indicator / Content Type over MQTT 5.
    pub kind: Kind,
    /// QoS (0 over IPC; at most 1 over Engine.IO).
    pub qos: u8,
    /// Retain flag (MQTT and Engine.IO).
    pub retain: bool,
    /// MQTT 5 Content Type.
    pub content_type: Option<String>,
    /// MQTT 5 User Properties, in order.
    pub user_properties: Vec<(String, String)>,
}

/// A message received on a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The protocol it arrived over.
    pub protocol: Protocol,
    /// The topic (the IPC channel).
    pub topic: String,
    /// The payload bytes (JSON payloads as JSON text).
    pub payload: Bytes,
    /// The payload's kind when the protocol says it (MQTT 3.1.1 does not).
    pub kind: Option<Kind>,
    /// The delivery QoS when the protocol has one (MQTT only).
    pub qos: Option<u8>,
    /// Whether it is a retained message replayed on subscription.
    pub retain: bool,
    /// The protocol it was published with, when the protocol carries it (see
    /// [`Received::origin`] for which do).
    pub origin: Option<String>,
    /// MQTT 5 Content Type.
    pub content_type: Option<String>,
    /// MQTT 5 User Properties.
    pub properties: Vec<(String, String)>,
    /// When it arrived.
    pub time: SystemTime,
}

impl Received {
    /// A message with no optional metadata, received now.
    pub fn new(protocol: Protocol, topic: impl Into<String>, payload: Bytes) -> Received {
        Received {
            protocol,
            topic: topic.into(),
            payload,
            kind: None,
            qos: None,
            retain: false,
            origin: None,
            content_type: None,
            properties: Vec::new(),
            time: SystemTime::now(),
        }
    }

    /// The payload as text when it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds).
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// `seconds.nanoseconds` since the Unix epoch.
pub fn unix_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + Duration::new(1_470_818_943, 786_368_637);
        assert_eq!(iso8601(t), "2016-08-10T08:49:03.786368Z");
        assert_eq!(unix_time(t), "1470818943.786368637");
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        // a leap day
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.000000Z");
    }
}
