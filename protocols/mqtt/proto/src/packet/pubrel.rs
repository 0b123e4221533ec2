//! PUBREL: the response to PUBREC, second step of the QoS 2 exchange (§3.6); its fixed-header
//! flags are 0b0010.
//!
//! Layout: fixed header `0x62`, remaining length, packet identifier (2 bytes); MQTT 5
//! adds an optional reason code and an optional block of [`crate::AckProperties`].

crate::packet::ack::ack_packet!(
    /// PUBREL: the response to PUBREC, second step of the QoS 2 exchange (§3.6); its
    /// fixed-header flags are 0b0010.
    PubRel,
    PubRel,
    0x62
);
