//! JSON inside the wire: `o` values and the json-helpers (`JSONParserV1`) conventions.
//!
//! A JS object that is not an array, `Buffer`, `Date`, `ArrayBuffer` or typed array is
//! written as `o` + `JSON.stringify` text, with json-helpers `toJSON` hooks installed on a
//! few classes for the duration of the call:
//!
//! | JS value inside the object | JSON written | revived by the JS reader as |
//! |---|---|---|
//! | `Date` | `{"type":"Date","data":<ms>}` | `Date` |
//! | `Error` / `TypeError` | `{"type":"Error","data":"<message>"}` / `"TypeError"` | `Error` / `TypeError` (message only) |
//! | `Uint8Array` | `{"type":"Uint8Array","data":"<latin1 string>"}` | `Uint8Array` |
//! | `Buffer` | Node's own `{"type":"Buffer","data":[<bytes>]}` | `Buffer` |
//! | the string [`UNDEFINED_TOKEN`] | itself | `undefined` |
//!
//! The reader revives any object with a string `type` naming one of these classes and a
//! `data` key. [`Tagged`] recognises and builds these objects. [`Value::to_json`] and
//! [`Value::from_json`] map whole values to and from `serde_json::Value` with the same
//! conventions, which is how the bridge turns IPC arguments into fabric JSON payloads.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::{Map, Number, Value as Json};

use crate::value::{TypedArray, TypedArrayKind, Value};

/// The string json-helpers' reviver turns into `undefined` (`ToJSONConstants`).
pub const UNDEFINED_TOKEN: &str = "_/undefined/_";

/// The text of an `o` value: valid JSON, kept exactly as written so that forwarding or
/// re-encoding it reproduces the original bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JsonText(String);

impl JsonText {
    /// Wraps `text` after checking that it is one valid JSON value.
    pub fn new(text: impl Into<String>) -> Result<JsonText, serde_json::Error> {
        let text = text.into();
        serde_json::from_str::<IgnoredAny>(&text)?;
        Ok(JsonText(text))
    }

    /// Compact JSON text for `value`, as `JSON.stringify` would write it (object keys come
    /// out in `serde_json`'s map order).
    pub fn from_json(value: &Json) -> JsonText {
        JsonText(value.to_string())
    }

    /// JSON text for any serializable Rust value.
    pub fn from_serialize<T: serde::Serialize + ?Sized>(
        value: &T,
    ) -> Result<JsonText, serde_json::Error> {
        serde_json::to_string(value).map(JsonText)
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The JSON text, by value.
    pub fn into_string(self) -> String {
        self.0
    }

    /// Parses the text into a `serde_json::Value` (json-helpers tags are left as objects).
    pub fn to_json(&self) -> Result<Json, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// Deserializes the text into any Rust type.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }
}

impl std::fmt::Display for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A json-helpers tagged object `{"type": ..., "data": ...}` that the JS reader revives into
/// a class instance.
#[derive(Clone, Debug, PartialEq)]
pub enum Tagged {
    /// `{"type":"Date","data":<ms since epoch>}`.
    Date(f64),
    /// `{"type":"Error","data":"<message>"}`.
    Error(String),
    /// `{"type":"TypeError","data":"<message>"}`.
    TypeError(String),
    /// `{"type":"Buffer","data":[<bytes>]}`.
    Buffer(Vec<u8>),
    /// `{"type":"Uint8Array","data":"<one char per byte, U+0000..U+00FF>"}`.
    Uint8Array(Vec<u8>),
}

impl Tagged {
    /// Recognises a tagged object. Objects whose `data` does not have the shape this codec
    /// can represent exactly (e.g. a Buffer whose data is not a byte array) are `None`.
    pub fn from_json(value: &Json) -> Option<Tagged> {
        let object = value.as_object()?;
        let data = object.get("data")?;
        match object.get("type")?.as_str()? {
            "Date" => data.as_f64().map(Tagged::Date),
            "Error" => data.as_str().map(|s| Tagged::Error(s.to_owned())),
            "TypeError" => data.as_str().map(|s| Tagged::TypeError(s.to_owned())),
            "Buffer" => data
                .as_array()?
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect::<Option<Vec<u8>>>()
                .map(Tagged::Buffer),
            "Uint8Array" => data
                .as_str()?
                .chars()
                .map(|c| u8::try_from(u32::from(c)).ok())
                .collect::<Option<Vec<u8>>>()
                .map(Tagged::Uint8Array),
            _ => None,
        }
    }

    /// The tagged object as json-helpers writes it.
    pub fn to_json(&self) -> Json {
        let (kind, data) = match self {
            Tagged::Date(ms) => ("Date", number_or_null(*ms)),
            Tagged::Error(message) => ("Error", Json::String(message.clone())),
            Tagged::TypeError(message) => ("TypeError", Json::String(message.clone())),
            Tagged::Buffer(bytes) => ("Buffer", byte_array(bytes)),
            Tagged::Uint8Array(bytes) => (
                "Uint8Array",
                Json::String(bytes.iter().map(|&b| char::from(b)).collect()),
            ),
        };
        let mut object = Map::new();
        object.insert("type".to_owned(), Json::String(kind.to_owned()));
        object.insert("data".to_owned(), data);
        Json::Object(object)
    }
}

fn byte_array(bytes: &[u8]) -> Json {
    Json::Array(bytes.iter().map(|&b| Json::from(b)).collect())
}

/// A number as `JSON.stringify` writes it: integral values without a fraction, NaN and
/// infinities as `null`.
fn number_or_null(n: f64) -> Json {
    /// 2^53: below it every integral f64 converts to i64 exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() < EXACT {
        // Integral and in range, so the cast is exact (-0 becomes 0, as in JS).
        return Json::from(n as i64);
    }
    Number::from_f64(n).map_or(Json::Null, Json::Number)
}

impl Value {
    /// The JSON a JS receiver's value would stringify to, with the json-helpers
    /// conventions for binary values and dates:
    ///
    /// - strings, booleans and `null` map directly; `undefined` becomes `null` (as
    ///   `JSON.stringify` writes it inside arrays);
    /// - numbers map to JSON numbers; NaN and infinities become `null`;
    /// - `Date` becomes `{"type":"Date","data":ms}`;
    /// - `Buffer`, `ArrayBuffer` and typed arrays other than `Uint8Array` become
    ///   `{"type":"Buffer","data":[bytes]}` (the raw bytes; this is the gateway's choice, a
    ///   JS `JSON.stringify` would lose them), a `Uint8Array` becomes the json-helpers
    ///   `{"type":"Uint8Array",...}` object;
    /// - `o` text is parsed as is (tags inside it stay tags);
    /// - arrays map element by element.
    pub fn to_json(&self) -> Json {
        match self {
            Value::String(s) => Json::String(s.clone()),
            Value::Json(text) => text.to_json().unwrap_or(Json::Null),
            Value::Array(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Buffer(bytes) => Tagged::Buffer(bytes.to_vec()).to_json(),
            Value::TypedArray(TypedArray {
                kind: TypedArrayKind::Uint8,
                bytes,
            }) => Tagged::Uint8Array(bytes.to_vec()).to_json(),
            Value::TypedArray(t) => Tagged::Buffer(t.bytes.to_vec()).to_json(),
            Value::PositiveInteger(n) => Json::from(*n),
            Value::NegativeInteger(n) => Json::from(-i64::from(*n)),
            Value::Double(n) => number_or_null(*n),
            Value::Date(ms) => Tagged::Date(*ms).to_json(),
            Value::Bool(b) => Json::Bool(*b),
            Value::Null | Value::Undefined => Json::Null,
        }
    }

    /// The value a JS sender would write for what `JSON.parse` plus the json-helpers reviver
    /// produces from `json`:
    ///
    /// - numbers follow [`Value::number`];
    /// - arrays become `A` values element by element;
    /// - a tagged `Buffer`, `Date` or `Uint8Array` object becomes the native `B`, `D` or
    ///   `C` value;
    /// - any other object (tagged `Error`s included) becomes `o` text.
    pub fn from_json(json: &Json) -> Value {
        match json {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => json_number(n),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Value::from_json).collect()),
            Json::Object(_) => match Tagged::from_json(json) {
                Some(Tagged::Buffer(bytes)) => Value::Buffer(bytes.into()),
                Some(Tagged::Date(ms)) => Value::Date(ms),
                Some(Tagged::Uint8Array(bytes)) => Value::TypedArray(TypedArray {
                    kind: TypedArrayKind::Uint8,
                    bytes: bytes.into(),
                }),
                Some(Tagged::Error(_) | Tagged::TypeError(_)) | None => {
                    Value::Json(JsonText::from_json(json))
                }
            },
        }
    }
}

fn json_number(n: &Number) -> Value {
    if let Some(u) = n.as_u64() {
        match u32::try_from(u) {
            Ok(small) => Value::PositiveInteger(small),
            Err(_) => Value::Double(u as f64),
        }
    } else if let Some(i) = n.as_i64() {
        Value::from(i)
    } else {
        Value::number(n.as_f64().unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_text_is_validated_and_kept_verbatim() {
        let text = JsonText::new(r#"{"b": 1.50, "a":"\u00e9"}"#).unwrap();
        assert_eq!(text.as_str(), r#"{"b": 1.50, "a":"\u00e9"}"#);
        assert!(JsonText::new("{").is_err());
        assert!(JsonText::new("{} {}").is_err());
        assert!(JsonText::new("").is_err());
    }

    #[test]
    fn captured_object_keeps_its_tags() {
        let text = JsonText::new(
            r#"{"k":"v","n":1,"d":{"type":"Date","data":0},"b":{"type":"Buffer","data":[9]}}"#,
        )
        .unwrap();
        let json = Value::Json(text).to_json();
        assert_eq!(Tagged::from_json(&json["d"]), Some(Tagged::Date(0.0)));
        assert_eq!(Tagged::from_json(&json["b"]), Some(Tagged::Buffer(vec![9])));
        assert_eq!(Tagged::from_json(&json["k"]), None);
    }

    #[test]
    fn tagged_objects_round_trip() {
        for tagged in [
            Tagged::Date(1.5e12),
            Tagged::Error("boom".into()),
            Tagged::TypeError("bad".into()),
            Tagged::Buffer(vec![0, 1, 255]),
            Tagged::Uint8Array(vec![0, 0x7f, 0x80, 0xff]),
        ] {
            assert_eq!(Tagged::from_json(&tagged.to_json()), Some(tagged));
        }
        assert_eq!(
            Tagged::from_json(&json!({"type":"Buffer","data":[256]})),
            None
        );
        assert_eq!(Tagged::from_json(&json!({"type":"Date"})), None);
    }

    #[test]
    fn from_json_picks_the_js_writer_types() {
        assert_eq!(Value::from_json(&json!(5)), Value::PositiveInteger(5));
        assert_eq!(Value::from_json(&json!(-5)), Value::NegativeInteger(5));
        assert_eq!(Value::from_json(&json!(3.0)), Value::PositiveInteger(3));
        assert_eq!(Value::from_json(&json!(0.5)), Value::Double(0.5));
        assert_eq!(
            Value::from_json(&json!(4_294_967_296u64)),
            Value::Double(4_294_967_296.0)
        );
        assert_eq!(
            Value::from_json(&json!({"type":"Buffer","data":[1,2]})),
            Value::Buffer(vec![1, 2].into())
        );
        assert_eq!(
            Value::from_json(&json!({"sum": 5})),
            Value::Json(JsonText::new(r#"{"sum":5}"#).unwrap())
        );
        assert_eq!(
            Value::from_json(&json!([null, true, "x"])),
            Value::Array(vec![Value::Null, Value::Bool(true), "x".into()])
        );
    }

    #[test]
    fn to_json_follows_stringify() {
        let value = Value::Array(vec![
            Value::Undefined,
            Value::Double(f64::NAN),
            Value::NegativeInteger(7),
            Value::Date(0.0),
            Value::Buffer(vec![1].into()),
        ]);
        assert_eq!(
            value.to_json(),
            json!([null, null, -7, {"type":"Date","data":0}, {"type":"Buffer","data":[1]}])
        );
    }
}
