//! Packets written by the upstream JS writer decode to the expected values and re-encode
//! byte for byte (see `support/js_writer.rs` for the JS that produced them).

mod support;

use bytes::Bytes;
use serde_json::json;
use support::hex;
use support::js_writer::*;
use switchboard_ipc_proto::{
    JsonText, Packet, PacketError, Tagged, TypedArray, TypedArrayKind, Value, ValueError,
};

fn packet(hex_text: &str) -> Packet {
    Packet::parse(Bytes::from(hex(hex_text))).expect("valid packet")
}

/// Decodes the args and checks that the encoder rebuilds the exact frame.
fn args(hex_text: &str) -> Vec<Value> {
    let packet = packet(hex_text);
    let args = packet.args().expect("strict args");
    let rebuilt = Packet::from_message(packet.command().clone(), &args).expect("encodable");
    assert_eq!(rebuilt.frame(), packet.frame());
    args
}

#[test]
fn strings() {
    let args = args(STRINGS);
    let expected: Vec<Value> = ["", "a", "héllo", "\u{0}\u{1f}\"\\", "😀"]
        .into_iter()
        .map(Value::from)
        .chain([Value::from("x".repeat(1000))])
        .collect();
    assert_eq!(args, expected);
}

#[test]
fn numbers_follow_the_js_writer() {
    let js = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        4_294_967_295.0,
        -4_294_967_295.0,
        4_294_967_296.0,
        -4_294_967_296.0,
        0.1,
        -1e-300,
        1e21,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        9_007_199_254_740_991.0,
    ];
    let args = args(NUMBERS);
    assert_eq!(args, js.map(Value::number).to_vec());
    assert_eq!(args[1], Value::PositiveInteger(0), "-0 is written as +0");
    assert_eq!(args[5], Value::NegativeInteger(4_294_967_295));
    assert_eq!(args[6], Value::Double(4_294_967_296.0));
}

#[test]
fn scalars_dates_and_buffers() {
    assert_eq!(
        args(MISC),
        vec![
            Value::Bool(true),
            Value::Bool(false),
            Value::Null,
            Value::Undefined,
            Value::Date(1_700_000_000_123.0),
            Value::Date(f64::NAN),
            Value::buffer(vec![0u8, 255]),
            Value::buffer(Vec::<u8>::new()),
        ]
    );
}

#[test]
fn typed_arrays_carry_their_whole_buffer() {
    let typed = |kind, bytes: &[u8]| {
        Value::TypedArray(TypedArray {
            kind,
            bytes: Bytes::copy_from_slice(bytes),
        })
    };
    assert_eq!(
        args(TYPED),
        vec![
            typed(TypedArrayKind::Uint8, &[1, 2]),
            // A 2-byte view at offset 2 of an 8-byte ArrayBuffer sends all 8 bytes.
            typed(TypedArrayKind::Uint8, &[0, 0, 7, 8, 0, 0, 0, 0]),
            typed(TypedArrayKind::Int16, &(-2i16).to_le_bytes()),
            typed(TypedArrayKind::Float64, &2.5f64.to_le_bytes()),
            typed(TypedArrayKind::BigInt64, &5i64.to_le_bytes()),
            typed(TypedArrayKind::ArrayBuffer, &[0, 0, 0]),
            typed(TypedArrayKind::Uint8Clamped, &[255]),
        ]
    );
}

#[test]
fn objects_use_the_json_helpers_conventions() {
    let args = args(OBJECTS);
    let json = |text: &str| Value::Json(JsonText::new(text).unwrap());
    assert_eq!(
        args,
        vec![
            json(
                r#"{"a":1,"nested":{"d":{"type":"Date","data":5},"b":{"type":"Buffer","data":[1]},"u":{"type":"Uint8Array","data":"È"},"e":{"type":"Error","data":"boom"},"t":{"type":"TypeError","data":"bad"}}}"#
            ),
            json(r#"{"type":"Error","data":"boom"}"#),
            json(r#"{"type":"TypeError","data":"bad"}"#),
            json("{}"),
            json(r#""x""#),
        ]
    );
    let nested = &args[0].to_json()["nested"];
    assert_eq!(Tagged::from_json(&nested["d"]), Some(Tagged::Date(5.0)));
    assert_eq!(
        Tagged::from_json(&nested["b"]),
        Some(Tagged::Buffer(vec![1]))
    );
    assert_eq!(
        Tagged::from_json(&nested["u"]),
        Some(Tagged::Uint8Array(vec![200]))
    );
    assert_eq!(
        Tagged::from_json(&nested["e"]),
        Some(Tagged::Error("boom".into()))
    );
    assert_eq!(
        Tagged::from_json(&nested["t"]),
        Some(Tagged::TypeError("bad".into()))
    );
}

#[test]
fn nested_arrays() {
    let args = args(ARRAYS);
    assert_eq!(
        Value::Array(args).to_json(),
        json!([[], [[]], [1, [2, [3, ["deep"]]]], [null, null]])
    );
}

#[test]
fn float32_array_is_counted_but_not_written() {
    let packet = packet(FLOAT32);
    assert_eq!(
        packet.args(),
        Err(PacketError::Value(ValueError::MissingElements {
            declared: 3,
            found: 2
        }))
    );
    assert_eq!(
        packet.args_lenient().unwrap(),
        vec![Value::from("a"), Value::from("b"), Value::Undefined]
    );
}
