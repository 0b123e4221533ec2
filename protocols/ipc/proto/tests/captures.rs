//! Byte-exact fixtures: the captured 16.0.4 packets decode to the expected commands and
//! args, and the typed encoder rebuilds every one of them byte for byte.

mod support;

use bytes::{Bytes, BytesMut};
use serde_json::json;
use support::*;
use switchboard_ipc_proto::{
    Command, CommandKind, JsonText, Packet, PacketCodec, Payload, PayloadKind, Peer, PeerId,
    ProcessType, Request, RequestId, TypedArray, TypedArrayKind, Value,
};

fn peer_a() -> Peer {
    Peer::node(PEER_A, "peerA")
}

fn peer_b() -> Peer {
    Peer::node(PEER_B, "peerB")
}

fn packet(hex_text: &str) -> Packet {
    let bytes = hex(hex_text);
    let mut buf = BytesMut::from(&bytes[..]);
    let packet = PacketCodec::default()
        .decode(&mut buf)
        .expect("valid packet")
        .expect("complete packet");
    assert!(buf.is_empty(), "one capture is exactly one frame");
    assert_eq!(
        &packet.frame()[..],
        &bytes[..],
        "the frame is kept byte for byte"
    );
    packet
}

/// Rebuilds a packet from its typed parts with the crate's encoder.
fn rebuild(packet: &Packet) -> Bytes {
    let rebuilt = if packet.raw_args().is_some() {
        Packet::from_message(packet.command().clone(), &packet.args().expect("args"))
    } else {
        Packet::from_command(packet.command().clone())
    };
    rebuilt.expect("encodable").into_frame()
}

#[test]
fn every_capture_re_encodes_byte_for_byte() {
    for (name, hex_text) in PACKETS {
        let packet = packet(hex_text);
        assert_eq!(rebuild(&packet), packet.frame(), "{name}");
    }
}

#[test]
fn handshake() {
    let packet = packet(HAN);
    assert_eq!(packet.len(), 83);
    assert_eq!(packet.command(), &Command::handshake(peer_a()));
    assert_eq!(packet.command().peers(), &[peer_a()]);
    assert_eq!(packet.raw_args(), None);
    assert_eq!(
        packet.header_json(),
        br#"{"peer":{"id":"Xkyh#)qsci","type":1,"name":"peerA"},"kind":"HAN"}"#
    );
    assert_eq!(
        Packet::from_command(Command::handshake(peer_a()))
            .unwrap()
            .frame(),
        &hex(HAN)[..]
    );
}

#[test]
fn listener_commands() {
    let lica = packet(LICA);
    assert_eq!(lica.len(), 104);
    assert_eq!(
        lica.command(),
        &Command::add_listener(vec![peer_a()], "news")
    );
    assert_eq!(lica.command().peers(), &[peer_a()]);

    let licr = packet(LICR);
    assert_eq!(
        licr.command(),
        &Command::remove_listener(vec![peer_a()], "news")
    );

    let lir = packet(LIR);
    assert_eq!(lir.len(), 56);
    assert_eq!(lir.command(), &Command::remove_listeners());
    assert_eq!(lir.command().peers(), &[] as &[Peer]);

    let sht = packet(SHT);
    assert_eq!(sht.len(), 43);
    assert_eq!(sht.command(), &Command::shutdown());
    assert_eq!(sht.kind(), CommandKind::Shutdown);
}

#[test]
fn broadcast_message() {
    let packet = packet(MES);
    assert_eq!(packet.len(), 147);
    let command = packet.command();
    assert_eq!(command.kind, CommandKind::SendMessage);
    assert_eq!(command.channel(), "news");
    assert_eq!(
        command.peer.as_ref().map(|p| &p.id),
        Some(&PeerId::new(PEER_B))
    );
    assert_eq!(command.target, None);
    assert!(!command.is_request());
    assert_eq!(command.is_raw_data, Some(true));
    assert_eq!(
        packet.args().unwrap(),
        vec![Value::from("hello"), Value::PositiveInteger(42)]
    );
    assert_eq!(
        packet.payload().unwrap(),
        Payload::json(&json!(["hello", 42]))
    );
    // The bridge builds the very same bytes for the same send.
    let built = Packet::from_message(
        Command::send("news", peer_b()),
        &["hello".into(), Value::number(42.0)],
    )
    .unwrap();
    assert_eq!(built.frame(), packet.frame());
}

#[test]
fn message_without_args() {
    let packet = packet(BYE);
    assert_eq!(packet.len(), 127);
    assert_eq!(packet.command().channel(), "bye");
    assert_eq!(packet.args().unwrap(), Vec::<Value>::new());
    assert_eq!(packet.payload().unwrap(), Payload::json(&json!([])));
}

#[test]
fn request_and_resolve() {
    let request = packet(REQUEST);
    assert_eq!(request.len(), 195);
    let command = request.command();
    assert!(command.is_request());
    assert_eq!(
        command.request,
        Some(Request {
            channel: "compute".into(),
            id: RequestId::new("6Aw65N3hPa"),
            resolve: None
        })
    );
    assert_eq!(
        command,
        &Command::send("compute", peer_b()).with_request("6Aw65N3hPa")
    );
    assert_eq!(
        request.args().unwrap(),
        vec![Value::PositiveInteger(2), Value::PositiveInteger(3)]
    );

    let response = packet(RESPONSE);
    assert_eq!(response.len(), 268);
    let rqr = response.command();
    assert_eq!(rqr.kind, CommandKind::RequestResponse);
    assert_eq!(rqr.channel(), "6Aw65N3hPa");
    assert_eq!(rqr.request_id(), Some(&RequestId::new("6Aw65N3hPa")));
    assert_eq!(rqr.target.as_ref().map(|t| t.id.as_str()), Some(PEER_B));
    assert_eq!(rqr.request.as_ref().and_then(|r| r.resolve), Some(true));
    let sum = Value::Json(JsonText::new(r#"{"sum":5}"#).unwrap());
    assert_eq!(response.args().unwrap(), vec![sum.clone()]);
    assert_eq!(response.payload().unwrap().kind, PayloadKind::Json);
    assert_eq!(response.payload().unwrap().data, &br#"{"sum":5}"#[..]);

    // Answering the captured request with the typed API reproduces the captured response.
    let answer = Command::response_to(command, peer_a(), true).unwrap();
    assert_eq!(
        Packet::from_message(answer, &[sum]).unwrap().frame(),
        response.frame()
    );
}

#[test]
fn request_and_reject() {
    let request = packet(REQUEST_2);
    assert_eq!(
        request.args().unwrap(),
        vec![Value::NegativeInteger(1), Value::PositiveInteger(3)]
    );
    let reject = packet(REJECT);
    assert_eq!(reject.len(), 269);
    assert_eq!(
        reject.command().request.as_ref().and_then(|r| r.resolve),
        Some(false)
    );
    assert_eq!(reject.payload().unwrap(), Payload::text("negative!"));

    let answer = Command::response_to(request.command(), peer_a(), false).unwrap();
    let built = Packet::from_message(answer, &Payload::text("negative!").to_args().unwrap());
    assert_eq!(built.unwrap().frame(), reject.frame());
}

fn every_type() -> Vec<Value> {
    vec![
        Value::from("héllo"),
        Value::PositiveInteger(0),
        Value::PositiveInteger(7),
        Value::NegativeInteger(7),
        Value::PositiveInteger(4_294_967_295),
        Value::Double(4_294_967_296.0),
        Value::Double(1.5),
        Value::Double(-0.25),
        Value::Double(f64::NAN),
        Value::Bool(true),
        Value::Bool(false),
        Value::Null,
        Value::Undefined,
        Value::Date(0.0),
        Value::buffer(vec![1u8, 2, 3]),
        Value::Array(vec![Value::PositiveInteger(1), "a".into()]),
        Value::Json(
            JsonText::new(
                r#"{"k":"v","n":1,"d":{"type":"Date","data":0},"b":{"type":"Buffer","data":[9]}}"#,
            )
            .unwrap(),
        ),
        Value::TypedArray(TypedArray {
            kind: TypedArrayKind::Uint8,
            bytes: Bytes::from_static(&[4, 5]),
        }),
        Value::TypedArray(TypedArray {
            kind: TypedArrayKind::ArrayBuffer,
            bytes: Bytes::from_static(&[0, 0]),
        }),
        Value::TypedArray(TypedArray {
            kind: TypedArrayKind::Float64,
            bytes: Bytes::copy_from_slice(&1.5f64.to_le_bytes()),
        }),
    ]
}

#[test]
fn every_value_type() {
    let args = Bytes::from(hex(TYPES_ARGS));
    assert_eq!(args.len(), 275);
    let decoded = Value::decode(&args).unwrap();
    assert_eq!(decoded, Value::Array(every_type()));
    assert_eq!(decoded.to_bytes().unwrap(), args);
    assert_eq!(decoded.encoded_len(), args.len());

    // The JS values rebuilt from their JS-side description encode to the captured bytes.
    let from_js_numbers = [
        Value::number(0.0),
        Value::number(7.0),
        Value::number(-7.0),
        Value::number(4_294_967_295.0),
        Value::number(4_294_967_296.0),
        Value::number(1.5),
        Value::number(-0.25),
        Value::number(f64::NAN),
    ];
    assert_eq!(&every_type()[1..9], &from_js_numbers[..]);

    let packet = packet(TYPES);
    assert_eq!(packet.len(), 389);
    assert_eq!(packet.raw_args(), Some(args));
    assert_eq!(packet.args().unwrap(), every_type());
    assert_eq!(packet.command().channel(), "types");
    assert_eq!(
        packet.command().peer.as_ref().map(|p| p.process_type),
        Some(ProcessType::Node)
    );
}

#[test]
fn every_value_type_as_json() {
    let json = Value::Array(every_type()).to_json();
    assert_eq!(
        json,
        json!([
            "héllo", 0, 7, -7, 4_294_967_295u32, 4_294_967_296u64, 1.5, -0.25, null,
            true, false, null, null,
            {"type": "Date", "data": 0},
            {"type": "Buffer", "data": [1, 2, 3]},
            [1, "a"],
            {"k": "v", "n": 1, "d": {"type": "Date", "data": 0}, "b": {"type": "Buffer", "data": [9]}},
            {"type": "Uint8Array", "data": "\u{4}\u{5}"},
            {"type": "Buffer", "data": [0, 0]},
            {"type": "Buffer", "data": [0, 0, 0, 0, 0, 0, 248, 63]}
        ])
    );
}

#[test]
fn a_stream_split_anywhere_yields_the_same_packets() {
    let stream: Vec<u8> = PACKETS.iter().flat_map(|(_, h)| hex(h)).collect();
    let expected: Vec<Vec<u8>> = PACKETS.iter().map(|(_, h)| hex(h)).collect();
    let codec = PacketCodec::default();
    for chunk in [1, 2, 5, 6, 7, 64, 1000, stream.len()] {
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(packet) = codec.decode(&mut buf).unwrap() {
                got.push(packet.frame().to_vec());
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got, expected, "chunk size {chunk}");
    }
}

#[test]
fn captured_split_header_then_body() {
    // The capture shows the client writing `5b41` and then the rest in another chunk.
    let han = hex(HAN);
    let codec = PacketCodec::default();
    let mut buf = BytesMut::from(&han[..2]);
    assert!(codec.decode(&mut buf).unwrap().is_none());
    assert_eq!(buf.len(), 2);
    buf.extend_from_slice(&han[2..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap().frame(), &han[..]);
}
