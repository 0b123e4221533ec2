//! The bridge's view of message args: one fabric payload per IPC message.
//!
//! | IPC args | fabric payload |
//! |---|---|
//! | exactly one string | [`PayloadKind::Text`], the UTF-8 bytes |
//! | exactly one `Buffer` | [`PayloadKind::Binary`], the bytes (zero-copy from the frame) |
//! | exactly one `o` value | [`PayloadKind::Json`], its JSON text as received |
//! | exactly one other value | [`PayloadKind::Json`], [`Value::to_json`] of it |
//! | none, or several | [`PayloadKind::Json`], the array of [`Value::to_json`] of each |
//!
//! The way back ([`Payload::to_args`]) always yields one argument: text → string,
//! binary → `Buffer`, JSON → [`Value::from_json`] of the document. So a multi-argument IPC
//! send arrives at another IPC listener as one array argument, and a JSON payload that is a
//! bare string arrives as a string; both are inherent to a single-payload fabric.

use bytes::Bytes;

use crate::value::Value;

/// How a fabric payload is to be interpreted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// UTF-8 text.
    Text,
    /// Opaque bytes.
    Binary,
    /// A UTF-8 JSON document.
    Json,
}

/// A fabric payload: bytes plus how to read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// How `data` is to be read.
    pub kind: PayloadKind,
    /// The payload bytes.
    pub data: Bytes,
}

/// Errors turning a fabric payload into IPC args.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// A text payload is not valid UTF-8.
    #[error("text payload is not valid UTF-8")]
    InvalidText,
    /// A JSON payload does not parse.
    #[error("JSON payload is invalid: {0}")]
    InvalidJson(String),
}

impl Payload {
    /// A text payload.
    pub fn text(text: impl Into<String>) -> Payload {
        Payload {
            kind: PayloadKind::Text,
            data: Bytes::from(text.into()),
        }
    }

    /// A binary payload.
    pub fn binary(data: impl Into<Bytes>) -> Payload {
        Payload {
            kind: PayloadKind::Binary,
            data: data.into(),
        }
    }

    /// A JSON payload holding `json`'s compact text.
    pub fn json(json: &serde_json::Value) -> Payload {
        Payload {
            kind: PayloadKind::Json,
            data: Bytes::from(json.to_string()),
        }
    }

    /// Maps the args of an IPC message to a payload (see the module table).
    pub fn from_args(mut args: Vec<Value>) -> Payload {
        if args.len() == 1 {
            match args.pop() {
                Some(Value::String(text)) => return Payload::text(text),
                Some(Value::Buffer(bytes)) => return Payload::binary(bytes),
                Some(Value::Json(text)) => {
                    return Payload {
                        kind: PayloadKind::Json,
                        data: Bytes::from(text.into_string()),
                    };
                }
                Some(other) => return Payload::json(&other.to_json()),
                None => {}
            }
        }
        Payload::json(&serde_json::Value::Array(
            args.iter().map(Value::to_json).collect(),
        ))
    }

    /// The single IPC argument carrying this payload (see the module table).
    pub fn to_args(&self) -> Result<Vec<Value>, PayloadError> {
        let arg = match self.kind {
            PayloadKind::Text => Value::String(
                std::str::from_utf8(&self.data)
                    .map_err(|_| PayloadError::InvalidText)?
                    .to_owned(),
            ),
            PayloadKind::Binary => Value::Buffer(self.data.clone()),
            PayloadKind::Json => {
                let json: serde_json::Value = serde_json::from_slice(&self.data)
                    .map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
                Value::from_json(&json)
            }
        };
        Ok(vec![arg])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::JsonText;
    use serde_json::json;

    #[test]
    fn single_args_map_to_their_kind() {
        assert_eq!(Payload::from_args(vec!["hi".into()]), Payload::text("hi"));
        assert_eq!(
            Payload::from_args(vec![Value::buffer(&b"\x00\x01"[..])]),
            Payload::binary(&b"\x00\x01"[..])
        );
        let text = JsonText::new(r#"{"sum": 5}"#).unwrap();
        assert_eq!(
            Payload::from_args(vec![Value::Json(text)]).data,
            &br#"{"sum": 5}"#[..]
        );
        assert_eq!(
            Payload::from_args(vec![Value::PositiveInteger(5)]),
            Payload::json(&json!(5))
        );
    }

    #[test]
    fn several_or_no_args_become_an_array() {
        assert_eq!(
            Payload::from_args(vec!["hello".into(), Value::PositiveInteger(42)]),
            Payload::json(&json!(["hello", 42]))
        );
        assert_eq!(Payload::from_args(vec![]), Payload::json(&json!([])));
    }

    #[test]
    fn payloads_become_one_arg() {
        assert_eq!(Payload::text("t").to_args(), Ok(vec!["t".into()]));
        assert_eq!(
            Payload::binary(&b"b"[..]).to_args(),
            Ok(vec![Value::buffer(&b"b"[..])])
        );
        assert_eq!(
            Payload::json(&json!({"a": [1, -2, 0.5]})).to_args(),
            Ok(vec![Value::Json(
                JsonText::new(r#"{"a":[1,-2,0.5]}"#).unwrap()
            )])
        );
        assert_eq!(
            Payload {
                kind: PayloadKind::Text,
                data: Bytes::from_static(b"\xff")
            }
            .to_args(),
            Err(PayloadError::InvalidText)
        );
        assert!(matches!(
            Payload {
                kind: PayloadKind::Json,
                data: Bytes::from_static(b"{")
            }
            .to_args(),
            Err(PayloadError::InvalidJson(_))
        ));
    }

    #[test]
    fn text_binary_and_objects_survive_a_round_trip() {
        for payload in [
            Payload::text("héllo"),
            Payload::binary(vec![0u8, 255]),
            Payload::json(&json!({"k": "v", "n": [1, 2]})),
        ] {
            assert_eq!(Payload::from_args(payload.to_args().unwrap()), payload);
        }
    }
}
