//! PUBACK: the response to a QoS 1 PUBLISH (§3.4).
//!
//! Layout: fixed header `0x40`, remaining length, packet identifier (2 bytes); MQTT 5
//! adds an optional reason code and an optional block of [`crate::AckProperties`].

crate::packet::ack::ack_packet!(
    /// PUBACK: the response to a QoS 1 PUBLISH (§3.4).
    PubAck,
    PubAck,
    0x40
);
