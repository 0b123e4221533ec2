//! How the API renders a fabric message and a point in time as JSON, for the topic listing and
//! the stream alike.
//!
//! A payload is shown according to its kind: `text` as a string, `json` as the JSON value itself,
//! anything else (or text that is not UTF-8, JSON that does not parse) as `base64`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value, json};
use switchboard_fabric::{Message, PayloadKind};

/// The JSON view of `message`: topic, payload (`text`, `json` or `base64`), `payload_kind`, qos,
/// retain, content type, properties (`[[key, value], ...]`), origin, when it entered this
/// gateway (`received_at`, RFC 3339) and, when it expires, `expires_in_ms`.
pub fn message_json(message: &Message) -> Value {
    let mut out = Map::new();
    out.insert("topic".into(), json!(message.topic.as_str()));
    let (key, payload) = payload_json(message);
    out.insert(key.into(), payload);
    out.insert("payload_kind".into(), json!(message.kind.as_str()));
    out.insert("qos".into(), json!(message.qos.as_u8()));
    out.insert("retain".into(), json!(message.retain));
    if let Some(ct) = &message.content_type {
        out.insert("content_type".into(), json!(&**ct));
    }
    out.insert(
        "properties".into(),
        Value::Array(
            message
                .properties
                .iter()
                .map(|(k, v)| json!([k, v]))
                .collect(),
        ),
    );
    let mut origin = Map::new();
    origin.insert("protocol".into(), json!(&*message.origin.protocol));
    origin.insert("client".into(), json!(&*message.origin.client));
    if let Some(node) = &message.origin.node {
        origin.insert("node".into(), json!(&**node));
    }
    out.insert("origin".into(), Value::Object(origin));
    let now = Instant::now();
    let received = SystemTime::now()
        .checked_sub(now.saturating_duration_since(message.created))
        .unwrap_or(UNIX_EPOCH);
    out.insert("received_at".into(), json!(rfc3339(received)));
    if let Some(ttl) = message.remaining_ttl(now) {
        out.insert(
            "expires_in_ms".into(),
            json!(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
        );
    }
    Value::Object(out)
}

fn payload_json(message: &Message) -> (&'static str, Value) {
    let base64 = || {
        (
            "base64",
            json!(base64::engine::general_purpose::STANDARD.encode(&message.payload)),
        )
    };
    match (message.kind, message.payload_str()) {
        (PayloadKind::Json, Some(text)) => match serde_json::from_str::<Value>(text) {
            Ok(v) => ("json", v),
            Err(_) => ("text", json!(text)),
        },
        (PayloadKind::Text, Some(text)) => ("text", json!(text)),
        _ => base64(),
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `t` as an RFC 3339 UTC timestamp with milliseconds (`2025-01-31T12:00:00.123Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_fabric::{Origin, Qos, Topic};

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_599); // last second of 2025
        assert_eq!(rfc3339(t), "2025-12-31T23:59:59.000Z");
        assert_eq!(unix_ms(t), 1_767_225_599_000);
    }

    fn topic() -> Topic {
        Topic::new("a/b").unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn payloads_render_by_kind() {
        let m = Message::json(topic(), r#"{"x":1}"#)
            .qos(Qos::AtLeastOnce)
            .retain(true)
            .property("k", "v")
            .origin(Origin::new("mqtt", "dev"));
        let v = message_json(&m);
        assert_eq!(v["json"], json!({"x": 1}));
        assert_eq!(v["payload_kind"], "json");
        assert_eq!(
            (v["qos"].clone(), v["retain"].clone()),
            (json!(1), json!(true))
        );
        assert_eq!(v["properties"], json!([["k", "v"]]));
        assert_eq!(v["origin"], json!({"protocol": "mqtt", "client": "dev"}));
        assert_eq!(message_json(&Message::text(topic(), "hi"))["text"], "hi");
        let bin = message_json(&Message::new(topic(), vec![0u8, 255]));
        assert_eq!(bin["base64"], "AP8=");
        assert_eq!(bin["payload_kind"], "binary");
        // JSON that does not parse is shown as text, text that is not UTF-8 as base64.
        assert_eq!(message_json(&Message::json(topic(), "{"))["text"], "{");
        let odd = Message::new(topic(), vec![0xffu8]).kind(PayloadKind::Text);
        assert_eq!(message_json(&odd)["base64"], "/w==");
    }
}
