//! Helpers shared by the integration tests.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use bytes::{Bytes, BytesMut};
use switchboard_mqtt_proto::{
    DecodeError, Decoder, MAX_PACKET_SIZE, MqttString, Packet, PacketId, ProtocolVersion,
    TopicFilter, TopicName,
};

pub const V31: ProtocolVersion = ProtocolVersion::V3_1;
pub const V311: ProtocolVersion = ProtocolVersion::V3_1_1;
pub const V5: ProtocolVersion = ProtocolVersion::V5;

/// A decoder: `None` = first packet of a connection (CONNECT expected).
pub fn decoder(version: Option<ProtocolVersion>) -> Decoder {
    match version {
        Some(v) => Decoder::with_version(v, MAX_PACKET_SIZE),
        None => Decoder::new(MAX_PACKET_SIZE),
    }
}

/// Decodes exactly one packet that fills `bytes`.
pub fn decode_one(version: Option<ProtocolVersion>, bytes: &[u8]) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decoder(version).decode(&mut buf)?;
    let packet = packet.unwrap_or_else(|| panic!("incomplete: {bytes:02X?}"));
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(packet)
}

/// Encodes `packet` for `version`, checking `encoded_len` agrees with what is written.
pub fn encode(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    packet.encode(version, &mut buf).expect("encodes");
    assert_eq!(
        packet.encoded_len(version),
        Ok(buf.len()),
        "encoded_len disagrees"
    );
    buf.to_vec()
}

/// The fixture contract: `bytes` decodes to `expected` (every strict prefix is
/// "incomplete"), and `expected` encodes back to exactly `bytes`.
pub fn assert_fixture(version: ProtocolVersion, bytes: &[u8], expected: &Packet) {
    let as_first = matches!(expected, Packet::Connect(_)).then_some(None);
    for v in as_first.into_iter().chain([Some(version)]) {
        assert_eq!(
            decode_one(v, bytes).as_ref(),
            Ok(expected),
            "decoding {bytes:02X?}"
        );
        for cut in 0..bytes.len() {
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(
                decoder(v).decode(&mut buf),
                Ok(None),
                "prefix of {cut} bytes"
            );
            assert_eq!(buf.len(), cut, "an incomplete packet must not be consumed");
        }
    }
    assert_eq!(encode(expected, version), bytes, "encoding {expected:?}");
}

/// Expects decoding `bytes` with `version` to fail with `error`.
pub fn assert_error(version: Option<ProtocolVersion>, bytes: &[u8], error: DecodeError) {
    let mut buf = BytesMut::from(bytes);
    assert_eq!(
        decoder(version).decode(&mut buf),
        Err(error),
        "decoding {bytes:02X?}"
    );
}

pub fn s(text: &str) -> MqttString {
    MqttString::try_from(text).expect("valid string")
}

pub fn topic(text: &str) -> TopicName {
    TopicName::try_from(text).expect("valid topic")
}

pub fn filter(text: &str) -> TopicFilter {
    TopicFilter::try_from(text).expect("valid filter")
}

pub fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero")
}

pub fn b(bytes: &'static [u8]) -> Bytes {
    Bytes::from_static(bytes)
}

/// Expects decoding `bytes` with `version` to fail with `error`, a failure reason code.
pub fn rejects(version: Option<ProtocolVersion>, bytes: &[u8], error: DecodeError) {
    let code = error.reason_code();
    assert_error(version, bytes, error);
    assert!(code.is_error());
}
