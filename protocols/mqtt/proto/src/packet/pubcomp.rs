//! PUBCOMP: the response to PUBREL, last step of the QoS 2 exchange (§3.7).
//!
//! Layout: fixed header `0x70`, remaining length, packet identifier (2 bytes); MQTT 5
//! adds an optional reason code and an optional block of [`crate::AckProperties`].

crate::packet::ack::ack_packet!(
    /// PUBCOMP: the response to PUBREL, last step of the QoS 2 exchange (§3.7).
    PubComp,
    PubComp,
    0x70
);
