//! PUBREC: the response to a QoS 2 PUBLISH, first step of the QoS 2 exchange (§3.5).
//!
//! Layout: fixed header `0x50`, remaining length, packet identifier (2 bytes); MQTT 5
//! adds an optional reason code and an optional block of [`crate::AckProperties`].

crate::packet::ack::ack_packet!(
    /// PUBREC: the response to a QoS 2 PUBLISH, first step of the QoS 2 exchange (§3.5).
    PubRec,
    PubRec,
    0x50
);
