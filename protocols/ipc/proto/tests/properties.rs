//! Generated-input tests: arbitrary and damaged bytes never panic; encode then decode gives
//! the same value; decode then encode gives the same bytes; streams split anywhere decode
//! the same.

mod support;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value as Json;
use support::{PACKETS, hex, js_writer};
use switchboard_ipc_proto::{
    Command, CommandKind, FrameStatus, JsonText, Packet, PacketCodec, Payload, Peer, ProcessType,
    Request, RequestId, TypedArray, TypedArrayKind, Value, check_frame, decode_frame,
};

/// JSON documents without floats (integers stay within ±2^53 so they map exactly).
fn arb_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Json::from),
        any::<String>().prop_map(Json::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Json::Array),
            vec(("[a-z]{1,6}", inner), 0..4).prop_map(|entries| {
                Json::Object(entries.into_iter().filter(|(k, _)| k != "type").collect())
            }),
        ]
    })
}

/// Valid JSON text, compact or pretty, as a JS writer or a hand-written client might send.
fn arb_json_text() -> impl Strategy<Value = JsonText> {
    (arb_json(), any::<bool>()).prop_map(|(json, pretty)| {
        let text = if pretty {
            serde_json::to_string_pretty(&json).unwrap_or_default()
        } else {
            json.to_string()
        };
        JsonText::new(text).expect("serde_json writes valid JSON")
    })
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(Value::String),
        arb_json_text().prop_map(Value::Json),
        vec(any::<u8>(), 0..64).prop_map(|b| Value::Buffer(b.into())),
        (any::<u8>(), vec(any::<u8>(), 0..32)).prop_map(|(code, bytes)| {
            Value::TypedArray(TypedArray {
                kind: TypedArrayKind::from_code(code),
                bytes: bytes.into(),
            })
        }),
        any::<u32>().prop_map(Value::PositiveInteger),
        any::<u32>().prop_map(Value::NegativeInteger),
        any::<u64>().prop_map(|bits| Value::Double(f64::from_bits(bits))),
        any::<u64>().prop_map(|bits| Value::Date(f64::from_bits(bits))),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(Value::Undefined),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| vec(inner, 0..8).prop_map(Value::Array))
}

fn arb_peer() -> impl Strategy<Value = Peer> {
    (
        any::<String>(),
        prop_oneof![0i64..8, any::<i64>()],
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(id, code, name)| Peer::new(id, ProcessType::from_code(code), name))
}

fn arb_command() -> impl Strategy<Value = Command> {
    (
        proptest::sample::select(CommandKind::ALL.to_vec()),
        proptest::option::of(any::<String>()),
        proptest::option::of(arb_peer()),
        proptest::option::of(vec(arb_peer(), 0..3)),
        proptest::option::of(arb_peer()),
        proptest::option::of((
            any::<String>(),
            any::<String>(),
            proptest::option::of(any::<bool>()),
        )),
        proptest::option::of(vec(any::<String>(), 0..3)),
        proptest::option::of(arb_json()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(kind, channel, peer, peers, target, request, channels, data, is_raw_data)| {
                let mut command = Command {
                    kind,
                    channel,
                    peer,
                    peers,
                    target,
                    request: request.map(|(channel, id, resolve)| Request {
                        channel,
                        id: RequestId::new(id),
                        resolve,
                    }),
                    channels,
                    data,
                    is_raw_data,
                };
                // Fill in what the decoder requires to route each kind.
                match kind {
                    CommandKind::Handshake => {
                        command.peer.get_or_insert_with(|| Peer::node("p", "n"));
                    }
                    CommandKind::AddChannelListener
                    | CommandKind::RemoveChannelListener
                    | CommandKind::RemoveChannelAllListeners
                    | CommandKind::SendMessage
                    | CommandKind::RequestResponse => {
                        command.channel.get_or_insert_with(String::new);
                    }
                    _ => {}
                }
                command
            },
        )
}

/// Frames built by the crate's encoder: commands and messages.
fn arb_packet() -> impl Strategy<Value = Packet> {
    (arb_command(), proptest::option::of(vec(arb_value(), 0..4))).prop_map(|(command, args)| {
        match args {
            Some(args) => Packet::from_message(command, &args),
            None => Packet::from_command(command),
        }
        .expect("small packets encode")
    })
}

/// The captured packets, packets of the JS writer, and generated ones.
fn arb_frame_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::sample::select(PACKETS.to_vec()).prop_map(|(_, h)| hex(h)),
        proptest::sample::select(js_writer::STRICT.to_vec()).prop_map(hex),
        arb_packet().prop_map(|p| p.frame().to_vec()),
    ]
}

/// Feeds `bytes` to every decoder; only the absence of panics is checked.
fn decode_everything(bytes: &[u8]) {
    let frozen = Bytes::copy_from_slice(bytes);
    let _ = Value::decode(&frozen);
    let _ = Value::decode_lenient(&frozen);
    if let Ok(packet) = Packet::parse(frozen) {
        let _ = packet.args();
        let _ = packet.args_lenient();
        let _ = packet.payload();
    }
    let _ = check_frame(bytes, 1 << 20);
    let codec = PacketCodec::new(1 << 20);
    let mut buf = BytesMut::from(bytes);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(packet)) => {
                let _ = packet.args_lenient();
            }
            Ok(None) => break,
            Err(e) if e.is_stream_fatal() => break,
            Err(_) => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn bracketed_random_bytes_never_panic(
        tag in proptest::sample::select(b"soABC+-dDTFNU".to_vec()),
        body in vec(any::<u8>(), 0..256),
    ) {
        // Start like a real value so the decoders get past the first header.
        let mut bytes = vec![b'[', tag];
        bytes.extend(body);
        decode_everything(&bytes);
    }

    #[test]
    fn damaged_frames_never_panic(
        frame in arb_frame_bytes(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = frame;
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        decode_everything(&bytes);
    }

    #[test]
    fn truncated_frames_are_incomplete(frame in arb_frame_bytes(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(frame.len());
        let mut buf = BytesMut::from(&frame[..cut]);
        prop_assert_eq!(decode_frame(&mut buf, 1 << 20), Ok(None));
        prop_assert_eq!(buf.len(), cut);
        match check_frame(&frame[..cut], 1 << 20) {
            Ok(FrameStatus::Incomplete { needed }) => prop_assert!(needed > cut && needed <= frame.len()),
            other => prop_assert!(false, "unexpected {:?}", other),
        }
        decode_everything(&frame[..cut]);
    }

    #[test]
    fn value_encode_then_decode_is_identity(value in arb_value()) {
        let bytes = value.to_bytes().expect("encodable");
        prop_assert_eq!(bytes.len(), value.encoded_len());
        prop_assert_eq!(&Value::decode(&bytes).expect("decodable"), &value);
        prop_assert_eq!(&Value::decode_lenient(&bytes).expect("decodable"), &value);
    }

    #[test]
    fn value_decode_then_encode_is_identity(value in arb_value()) {
        let bytes = value.to_bytes().expect("encodable");
        let decoded = Value::decode(&bytes).expect("decodable");
        prop_assert_eq!(decoded.to_bytes().expect("encodable"), bytes);
    }

    #[test]
    fn command_encode_then_decode_is_identity(command in arb_command(), args in vec(arb_value(), 0..4)) {
        let packet = Packet::from_message(command.clone(), &args).expect("encodable");
        let parsed = Packet::parse(packet.frame().clone()).expect("parsable");
        prop_assert_eq!(parsed.command(), &command);
        prop_assert_eq!(parsed.args().expect("args"), args);

        let packet = Packet::from_command(command.clone()).expect("encodable");
        let parsed = Packet::parse(packet.frame().clone()).expect("parsable");
        prop_assert_eq!(parsed.command(), &command);
        prop_assert_eq!(parsed.raw_args(), None);
    }

    #[test]
    fn the_route_view_agrees_with_the_full_header(command in arb_command(), args in vec(arb_value(), 0..3)) {
        let packet = Packet::from_message(command.clone(), &args).expect("encodable");
        let raw = switchboard_ipc_proto::RawPacket::new(packet.frame().clone()).expect("structure");
        let route = raw.route().expect("route");
        prop_assert_eq!(route.kind, command.kind);
        prop_assert_eq!(route.channel.as_deref(), command.channel.as_deref());
        prop_assert_eq!(route.peer.as_deref(), command.peer.as_ref().map(|p| p.id.as_str()));
        prop_assert_eq!(route.target.as_deref(), command.target.as_ref().map(|p| p.id.as_str()));
        prop_assert_eq!(route.has_request, command.request.is_some());
        let full = raw.clone().into_packet().expect("parsable");
        prop_assert_eq!(full.command(), &command);
    }

    #[test]
    fn packet_decode_then_encode_is_identity(frame in arb_frame_bytes()) {
        let packet = Packet::parse(Bytes::from(frame.clone())).expect("parsable");
        prop_assert_eq!(&packet.frame()[..], &frame[..]);
        let rebuilt = match packet.raw_args() {
            Some(_) => Packet::from_message(packet.command().clone(), &packet.args().expect("args")),
            None => Packet::from_command(packet.command().clone()),
        }
        .expect("encodable");
        prop_assert_eq!(&rebuilt.frame()[..], &frame[..]);
    }

    #[test]
    fn streams_split_anywhere_decode_the_same(
        frames in vec(arb_frame_bytes(), 1..6),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let stream: Vec<u8> = frames.concat();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let codec = PacketCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut from = 0;
        for cut in cuts {
            buf.extend_from_slice(&stream[from..cut]);
            from = cut;
            while let Some(packet) = codec.decode(&mut buf).expect("valid stream") {
                got.push(packet.frame().to_vec());
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, frames);
    }

    #[test]
    fn json_maps_to_values_and_back(json in arb_json()) {
        prop_assert_eq!(Value::from_json(&json).to_json(), json);
    }

    #[test]
    fn text_and_binary_payloads_round_trip(text in any::<String>(), bytes in vec(any::<u8>(), 0..64)) {
        for payload in [Payload::text(text.clone()), Payload::binary(bytes.clone())] {
            let args = payload.to_args().expect("valid payload");
            let packet = Packet::from_message(Command::send("c", Peer::node("p", "n")), &args)
                .expect("encodable");
            let parsed = Packet::parse(packet.frame().clone()).expect("parsable");
            prop_assert_eq!(parsed.payload().expect("payload"), payload);
        }
    }

    #[test]
    fn json_payloads_round_trip_through_the_wire(json in arb_json()) {
        let payload = Payload::json(&json);
        let args = payload.to_args().expect("valid payload");
        let packet = Packet::from_message(Command::send("c", Peer::node("p", "n")), &args)
            .expect("encodable");
        let back = Packet::parse(packet.frame().clone()).expect("parsable").payload().expect("payload");
        // A bare JSON string comes back as text; everything else as the same JSON.
        match &json {
            Json::String(s) => prop_assert_eq!(back, Payload::text(s.clone())),
            _ => {
                let parsed: Json = serde_json::from_slice(&back.data).expect("JSON");
                prop_assert_eq!(parsed, json);
            }
        }
    }
}
