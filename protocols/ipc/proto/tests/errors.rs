//! Bad input: garbage, unknown types and commands, oversized declarations, truncation and
//! inconsistent structure. Each case must give the documented outcome, never a panic.

mod support;

use bytes::{Bytes, BytesMut};
use support::*;
use switchboard_ipc_proto::{
    CommandError, CommandKind, FrameError, FrameStatus, Packet, PacketCodec, PacketError, TypeTag,
    Value, ValueError, check_frame, decode_frame,
};

/// A command packet around arbitrary JSON header text.
fn command_packet(json: &str) -> Vec<u8> {
    let mut bytes = b"[A".to_vec();
    bytes.extend_from_slice(&((4 + 6 + json.len() + 1) as u32).to_le_bytes());
    bytes.extend_from_slice(&1u32.to_le_bytes());
    bytes.extend_from_slice(b"[o");
    bytes.extend_from_slice(&(json.len() as u32).to_le_bytes());
    bytes.extend_from_slice(json.as_bytes());
    bytes.extend_from_slice(b"]]");
    bytes
}

#[test]
fn garbage_is_a_fatal_frame_error() {
    let codec = PacketCodec::default();
    for garbage in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &b"\x16\x03\x01\x02\x00"[..],
        &b"{\"kind\":\"HAN\"}"[..],
        &b"\x00"[..],
    ] {
        let mut buf = BytesMut::from(garbage);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(err, PacketError::Frame(FrameError::BadSeparator(_))),
            "{err:?}"
        );
        assert!(err.is_stream_fatal());
    }
}

#[test]
fn unknown_type_bytes_are_rejected() {
    for byte in (0u8..=255).filter(|b| TypeTag::from_byte(*b).is_none()) {
        let buf = [b'[', byte, 0, 0, 0, 0, b']'];
        assert_eq!(check_frame(&buf, 1024), Err(FrameError::UnknownType(byte)));
    }
    // `O` exists in the JS enum but its reader rejects it too.
    let mut buf = BytesMut::from(&b"[O\x00\x00\x00\x00]"[..]);
    assert_eq!(
        decode_frame(&mut buf, 1024),
        Err(FrameError::UnknownType(b'O'))
    );
    // Inside a value, an unknown nested type is a value error.
    let nested = Bytes::from_static(b"[A\x07\x00\x00\x00\x01\x00\x00\x00[x]]");
    assert_eq!(
        Value::decode(&nested),
        Err(ValueError::Header(FrameError::UnknownType(b'x')))
    );
}

#[test]
fn declared_four_gigabytes_is_rejected_from_the_six_byte_header() {
    let codec = PacketCodec::new(16 * 1024 * 1024);
    let mut buf = BytesMut::from(&b"[A\xff\xff\xff\xff"[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        PacketError::Frame(FrameError::TooLarge {
            declared: 4_294_967_295 + 7,
            max: 16 * 1024 * 1024
        })
    );
    assert!(err.is_stream_fatal());
    // Nothing was reserved for the announced body.
    assert!(buf.capacity() < 1024);
    // Same for a 4 GiB string, before a single content byte arrives.
    assert!(matches!(
        check_frame(b"[s\x00\x00\x00\xff", usize::MAX >> 1),
        Ok(FrameStatus::Incomplete { .. })
    ));
    assert!(matches!(
        check_frame(b"[s\x00\x00\x00\xff", 1 << 20),
        Err(FrameError::TooLarge { .. })
    ));
}

#[test]
fn an_announced_frame_reserves_nothing() {
    // 10 MiB announced, within the limit: incomplete, and the buffer does not grow.
    let mut buf = BytesMut::with_capacity(16);
    buf.extend_from_slice(b"[B\x00\x00\xa0\x00");
    assert!(matches!(PacketCodec::default().decode(&mut buf), Ok(None)));
    assert!(buf.capacity() < 1024);
    assert_eq!(
        check_frame(&buf, 16 << 20),
        Ok(FrameStatus::Incomplete {
            needed: (10 << 20) + 7
        })
    );
}

#[test]
fn the_limit_is_inclusive() {
    let han = hex(HAN);
    assert_eq!(
        check_frame(&han, han.len()),
        Ok(FrameStatus::Complete { len: han.len() })
    );
    assert!(matches!(
        check_frame(&han, han.len() - 1),
        Err(FrameError::TooLarge { declared: 83, .. })
    ));
    // Incomplete frames never ask for more than the limit allows.
    match check_frame(&han[..10], han.len()) {
        Ok(FrameStatus::Incomplete { needed }) => assert_eq!(needed, han.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_truncation_of_every_capture_is_incomplete() {
    let codec = PacketCodec::default();
    for (name, hex_text) in PACKETS {
        let bytes = hex(hex_text);
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert!(
                matches!(codec.decode(&mut buf), Ok(None)),
                "{name} cut at {cut}"
            );
            assert_eq!(buf.len(), cut, "nothing consumed");
            // A truncated value, given as if it were whole, is an error, not a panic.
            assert!(Value::decode(&Bytes::copy_from_slice(&bytes[..cut])).is_err());
        }
    }
}

#[test]
fn unknown_command_keeps_the_stream_in_sync() {
    let mut stream = command_packet(r#"{"kind":"FOO","peers":[]}"#);
    stream.extend(hex(HAN));
    let codec = PacketCodec::default();
    let mut buf = BytesMut::from(&stream[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        PacketError::Command(CommandError::UnknownKind("FOO".into()))
    );
    assert!(!err.is_stream_fatal());
    let next = codec.decode(&mut buf).unwrap().unwrap();
    assert_eq!(next.kind(), CommandKind::Handshake);
}

#[test]
fn hostile_kind_strings_are_bounded_in_errors() {
    let long = "K".repeat(10_000);
    let packet = command_packet(&format!(r#"{{"kind":"{long}"}}"#));
    match Packet::parse(Bytes::from(packet)) {
        Err(PacketError::Command(CommandError::UnknownKind(kind))) => assert_eq!(kind.len(), 32),
        other => panic!("{other:?}"),
    }
}

#[test]
fn malformed_headers() {
    let parse = |json: &str| Packet::parse(Bytes::from(command_packet(json))).unwrap_err();
    assert!(matches!(
        parse("not json"),
        PacketError::Command(CommandError::InvalidJson(_))
    ));
    assert!(matches!(
        parse(r#"{"kind":1}"#),
        PacketError::Command(CommandError::InvalidJson(_))
    ));
    assert!(matches!(
        parse(r#"{"kind":"HAN","peer":{"id":7,"type":1}}"#),
        PacketError::Command(CommandError::InvalidJson(_))
    ));
    assert_eq!(
        parse(r#"{"kind":"HAN"}"#),
        PacketError::Command(CommandError::MissingField {
            kind: CommandKind::Handshake,
            field: "peer"
        })
    );
    assert_eq!(
        parse(r#"{"kind":"LICA","peers":[]}"#),
        PacketError::Command(CommandError::MissingField {
            kind: CommandKind::AddChannelListener,
            field: "channel"
        })
    );
}

#[test]
fn pre_16_clients_are_identified() {
    // The 15.1.0 handshake from the reference's cross-version test.
    let err = Packet::parse(Bytes::from(command_packet(
        r#"{"kind":"HAN","channel":"","peer":{"process":{"type":"node","pid":5421}}}"#,
    )))
    .unwrap_err();
    assert_eq!(err, PacketError::Command(CommandError::PreV16Peer));
    assert!(!err.is_stream_fatal());
}

#[test]
fn inconsistent_structure_inside_a_frame() {
    // Element 0 claims more bytes than the frame holds: the frame is whole (its own header
    // and footer agree), the packet is not.
    let mut bytes = hex(HAN);
    bytes[12] = 0x50; // `o` length 65 -> 80
    let err = Packet::parse(Bytes::from(bytes)).unwrap_err();
    assert!(
        matches!(err, PacketError::Value(ValueError::Truncated { .. })),
        "{err:?}"
    );
    assert!(!err.is_stream_fatal());

    // A wrong footer inside.
    let mut bytes = hex(MES);
    let at = bytes.len() - 2; // footer of the args array
    bytes[at] = b'x';
    assert!(matches!(
        Packet::parse(Bytes::from(bytes)),
        Err(PacketError::Value(ValueError::BadFooter(b'x')))
    ));

    // A wrong outer footer is caught by the framing layer.
    let mut bytes = hex(MES);
    let last = bytes.len() - 1;
    bytes[last] = b'}';
    assert_eq!(check_frame(&bytes, 1024), Err(FrameError::BadFooter(b'}')));

    // Three elements.
    let mut bytes = hex(MES);
    bytes[6] = 3;
    assert_eq!(
        Packet::parse(Bytes::from(bytes)).unwrap_err(),
        PacketError::ElementCount(3)
    );

    // A top-level value that is not an array.
    assert_eq!(
        Packet::parse(Bytes::from_static(b"[s\x01\x00\x00\x00x]")).unwrap_err(),
        PacketError::NotAnArray(TypeTag::String)
    );
}

#[test]
fn bad_arg_contents_fail_only_when_args_are_read() {
    // A string arg that is not UTF-8: routing still works, decoding the args reports it.
    let mut bytes = hex(MES);
    let at = bytes.windows(5).position(|w| w == b"hello").unwrap();
    bytes[at] = 0xff;
    let packet = Packet::parse(Bytes::from(bytes)).unwrap();
    assert_eq!(packet.command().channel(), "news");
    assert_eq!(
        packet.args().unwrap_err(),
        PacketError::Value(ValueError::InvalidUtf8)
    );
}

#[test]
fn float32_bug_is_strict_error_and_lenient_padding() {
    // `send('x', 'a', new Float32Array(1), 'b')`: counted, never written.
    let header = r#"{"kind":"MES","channel":"x","peer":{"id":"p","type":1},"isRawData":true}"#;
    let args = b"[A\x14\x00\x00\x00\x03\x00\x00\x00[s\x01\x00\x00\x00a][s\x01\x00\x00\x00b]]";
    let mut bytes = b"[A".to_vec();
    bytes.extend_from_slice(&((4 + 6 + header.len() + 1 + args.len()) as u32).to_le_bytes());
    bytes.extend_from_slice(&2u32.to_le_bytes());
    bytes.extend_from_slice(b"[o");
    bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.push(b']');
    bytes.extend_from_slice(args);
    bytes.push(b']');
    let packet = Packet::parse(Bytes::from(bytes)).unwrap();
    assert!(matches!(
        packet.args(),
        Err(PacketError::Value(ValueError::MissingElements {
            declared: 3,
            found: 2
        }))
    ));
    assert_eq!(
        packet.args_lenient().unwrap(),
        vec![Value::from("a"), Value::from("b"), Value::Undefined]
    );
    assert!(packet.payload().is_ok());
}
