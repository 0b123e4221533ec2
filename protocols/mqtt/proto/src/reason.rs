//! MQTT 5 reason codes (spec §2.4), the packets each one may appear in, and the mapping to
//! and from the 3.1.1 CONNACK return codes.

use std::fmt;

use crate::types::PacketType;

/// An MQTT 5 reason code. Values below 0x80 report success, 0x80 and above report failure.
///
/// 0x00 has three names depending on the packet: "Success", "Normal disconnection"
/// (DISCONNECT) and "Granted QoS 0" (SUBACK); see [`ReasonCode::name_in`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ReasonCode {
    /// 0x00 Success / Normal disconnection / Granted QoS 0.
    #[default]
    Success = 0x00,
    /// 0x01 Granted QoS 1.
    GrantedQoS1 = 0x01,
    /// 0x02 Granted QoS 2.
    GrantedQoS2 = 0x02,
    /// 0x04 Disconnect with Will Message.
    DisconnectWithWillMessage = 0x04,
    /// 0x10 No matching subscribers.
    NoMatchingSubscribers = 0x10,
    /// 0x11 No subscription existed.
    NoSubscriptionExisted = 0x11,
    /// 0x18 Continue authentication.
    ContinueAuthentication = 0x18,
    /// 0x19 Re-authenticate.
    ReAuthenticate = 0x19,
    /// 0x80 Unspecified error.
    UnspecifiedError = 0x80,
    /// 0x81 Malformed Packet.
    MalformedPacket = 0x81,
    /// 0x82 Protocol Error.
    ProtocolError = 0x82,
    /// 0x83 Implementation specific error.
    ImplementationSpecificError = 0x83,
    /// 0x84 Unsupported Protocol Version.
    UnsupportedProtocolVersion = 0x84,
    /// 0x85 Client Identifier not valid.
    ClientIdentifierNotValid = 0x85,
    /// 0x86 Bad User Name or Password.
    BadUserNameOrPassword = 0x86,
    /// 0x87 Not authorized.
    NotAuthorized = 0x87,
    /// 0x88 Server unavailable.
    ServerUnavailable = 0x88,
    /// 0x89 Server busy.
    ServerBusy = 0x89,
    /// 0x8A Banned.
    Banned = 0x8A,
    /// 0x8B Server shutting down.
    ServerShuttingDown = 0x8B,
    /// 0x8C Bad authentication method.
    BadAuthenticationMethod = 0x8C,
    /// 0x8D Keep Alive timeout.
    KeepAliveTimeout = 0x8D,
    /// 0x8E Session taken over.
    SessionTakenOver = 0x8E,
    /// 0x8F Topic Filter invalid.
    TopicFilterInvalid = 0x8F,
    /// 0x90 Topic Name invalid.
    TopicNameInvalid = 0x90,
    /// 0x91 Packet Identifier in use.
    PacketIdentifierInUse = 0x91,
    /// 0x92 Packet Identifier not found.
    PacketIdentifierNotFound = 0x92,
    /// 0x93 Receive Maximum exceeded.
    ReceiveMaximumExceeded = 0x93,
    /// 0x94 Topic Alias invalid.
    TopicAliasInvalid = 0x94,
    /// 0x95 Packet too large.
    PacketTooLarge = 0x95,
    /// 0x96 Message rate too high.
    MessageRateTooHigh = 0x96,
    /// 0x97 Quota exceeded.
    QuotaExceeded = 0x97,
    /// 0x98 Administrative action.
    AdministrativeAction = 0x98,
    /// 0x99 Payload format invalid.
    PayloadFormatInvalid = 0x99,
    /// 0x9A Retain not supported.
    RetainNotSupported = 0x9A,
    /// 0x9B QoS not supported.
    QoSNotSupported = 0x9B,
    /// 0x9C Use another server.
    UseAnotherServer = 0x9C,
    /// 0x9D Server moved.
    ServerMoved = 0x9D,
    /// 0x9E Shared Subscriptions not supported.
    SharedSubscriptionsNotSupported = 0x9E,
    /// 0x9F Connection rate exceeded.
    ConnectionRateExceeded = 0x9F,
    /// 0xA0 Maximum connect time.
    MaximumConnectTime = 0xA0,
    /// 0xA1 Subscription Identifiers not supported.
    SubscriptionIdentifiersNotSupported = 0xA1,
    /// 0xA2 Wildcard Subscriptions not supported.
    WildcardSubscriptionsNotSupported = 0xA2,
}

/// Every reason code, in wire order (used by tests and by callers building tables).
pub const ALL_REASON_CODES: [ReasonCode; 43] = {
    use ReasonCode::*;
    [
        Success,
        GrantedQoS1,
        GrantedQoS2,
        DisconnectWithWillMessage,
        NoMatchingSubscribers,
        NoSubscriptionExisted,
        ContinueAuthentication,
        ReAuthenticate,
        UnspecifiedError,
        MalformedPacket,
        ProtocolError,
        ImplementationSpecificError,
        UnsupportedProtocolVersion,
        ClientIdentifierNotValid,
        BadUserNameOrPassword,
        NotAuthorized,
        ServerUnavailable,
        ServerBusy,
        Banned,
        ServerShuttingDown,
        BadAuthenticationMethod,
        KeepAliveTimeout,
        SessionTakenOver,
        TopicFilterInvalid,
        TopicNameInvalid,
        PacketIdentifierInUse,
        PacketIdentifierNotFound,
        ReceiveMaximumExceeded,
        TopicAliasInvalid,
        PacketTooLarge,
        MessageRateTooHigh,
        QuotaExceeded,
        AdministrativeAction,
        PayloadFormatInvalid,
        RetainNotSupported,
        QoSNotSupported,
        UseAnotherServer,
        ServerMoved,
        SharedSubscriptionsNotSupported,
        ConnectionRateExceeded,
        MaximumConnectTime,
        SubscriptionIdentifiersNotSupported,
        WildcardSubscriptionsNotSupported,
    ]
};

impl ReasonCode {
    /// "Normal disconnection": the DISCONNECT name of 0x00.
    pub const NORMAL_DISCONNECTION: Self = Self::Success;
    /// "Granted QoS 0": the SUBACK name of 0x00.
    pub const GRANTED_QOS_0: Self = Self::Success;

    /// Maps a wire byte to a reason code; `None` for values the spec does not define.
    pub const fn from_u8(value: u8) -> Option<Self> {
        use ReasonCode::*;
        Some(match value {
            0x00 => Success,
            0x01 => GrantedQoS1,
            0x02 => GrantedQoS2,
            0x04 => DisconnectWithWillMessage,
            0x10 => NoMatchingSubscribers,
            0x11 => NoSubscriptionExisted,
            0x18 => ContinueAuthentication,
            0x19 => ReAuthenticate,
            0x80 => UnspecifiedError,
            0x81 => MalformedPacket,
            0x82 => ProtocolError,
            0x83 => ImplementationSpecificError,
            0x84 => UnsupportedProtocolVersion,
            0x85 => ClientIdentifierNotValid,
            0x86 => BadUserNameOrPassword,
            0x87 => NotAuthorized,
            0x88 => ServerUnavailable,
            0x89 => ServerBusy,
            0x8A => Banned,
            0x8B => ServerShuttingDown,
            0x8C => BadAuthenticationMethod,
            0x8D => KeepAliveTimeout,
            0x8E => SessionTakenOver,
            0x8F => TopicFilterInvalid,
            0x90 => TopicNameInvalid,
            0x91 => PacketIdentifierInUse,
            0x92 => PacketIdentifierNotFound,
            0x93 => ReceiveMaximumExceeded,
            0x94 => TopicAliasInvalid,
            0x95 => PacketTooLarge,
            0x96 => MessageRateTooHigh,
            0x97 => QuotaExceeded,
            0x98 => AdministrativeAction,
            0x99 => PayloadFormatInvalid,
            0x9A => RetainNotSupported,
            0x9B => QoSNotSupported,
            0x9C => UseAnotherServer,
            0x9D => ServerMoved,
            0x9E => SharedSubscriptionsNotSupported,
            0x9F => ConnectionRateExceeded,
            0xA0 => MaximumConnectTime,
            0xA1 => SubscriptionIdentifiersNotSupported,
            0xA2 => WildcardSubscriptionsNotSupported,
            _ => return None,
        })
    }

    /// The wire byte.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// True for 0x80 and above.
    pub const fn is_error(self) -> bool {
        self.as_u8() >= 0x80
    }

    /// The spec's name of the code (for 0x00: "Success").
    pub const fn name(self) -> &'static str {
        use ReasonCode::*;
        match self {
            Success => "Success",
            GrantedQoS1 => "Granted QoS 1",
            GrantedQoS2 => "Granted QoS 2",
            DisconnectWithWillMessage => "Disconnect with Will Message",
            NoMatchingSubscribers => "No matching subscribers",
            NoSubscriptionExisted => "No subscription existed",
            ContinueAuthentication => "Continue authentication",
            ReAuthenticate => "Re-authenticate",
            UnspecifiedError => "Unspecified error",
            MalformedPacket => "Malformed Packet",
            ProtocolError => "Protocol Error",
            ImplementationSpecificError => "Implementation specific error",
            UnsupportedProtocolVersion => "Unsupported Protocol Version",
            ClientIdentifierNotValid => "Client Identifier not valid",
            BadUserNameOrPassword => "Bad User Name or Password",
            NotAuthorized => "Not authorized",
            ServerUnavailable => "Server unavailable",
            ServerBusy => "Server busy",
            Banned => "Banned",
            ServerShuttingDown => "Server shutting down",
            BadAuthenticationMethod => "Bad authentication method",
            KeepAliveTimeout => "Keep Alive timeout",
            SessionTakenOver => "Session taken over",
            TopicFilterInvalid => "Topic Filter invalid",
            TopicNameInvalid => "Topic Name invalid",
            PacketIdentifierInUse => "Packet Identifier in use",
            PacketIdentifierNotFound => "Packet Identifier not found",
            ReceiveMaximumExceeded => "Receive Maximum exceeded",
            TopicAliasInvalid => "Topic Alias invalid",
            PacketTooLarge => "Packet too large",
            MessageRateTooHigh => "Message rate too high",
            QuotaExceeded => "Quota exceeded",
            AdministrativeAction => "Administrative action",
            PayloadFormatInvalid => "Payload format invalid",
            RetainNotSupported => "Retain not supported",
            QoSNotSupported => "QoS not supported",
            UseAnotherServer => "Use another server",
            ServerMoved => "Server moved",
            SharedSubscriptionsNotSupported => "Shared Subscriptions not supported",
            ConnectionRateExceeded => "Connection rate exceeded",
            MaximumConnectTime => "Maximum connect time",
            SubscriptionIdentifiersNotSupported => "Subscription Identifiers not supported",
            WildcardSubscriptionsNotSupported => "Wildcard Subscriptions not supported",
        }
    }

    /// The name of the code as used in `packet` (0x00 is "Normal disconnection" in
    /// DISCONNECT and "Granted QoS 0" in SUBACK).
    pub const fn name_in(self, packet: PacketType) -> &'static str {
        match (self, packet) {
            (Self::Success, PacketType::Disconnect) => "Normal disconnection",
            (Self::Success, PacketType::SubAck) => "Granted QoS 0",
            _ => self.name(),
        }
    }

    /// What the code means, summarised from the spec's reason code descriptions.
    pub const fn meaning(self) -> &'static str {
        use ReasonCode::*;
        match self {
            Success => {
                "The operation completed (for DISCONNECT: close normally and do not send the Will Message; for SUBACK: the subscription is accepted with maximum QoS 0)."
            }
            GrantedQoS1 => "The subscription is accepted and the maximum QoS sent will be QoS 1.",
            GrantedQoS2 => {
                "The subscription is accepted and any received QoS will be sent to this subscription."
            }
            DisconnectWithWillMessage => {
                "The Client wishes to disconnect but requires that the Server also publishes its Will Message."
            }
            NoMatchingSubscribers => "The message is accepted but there are no subscribers.",
            NoSubscriptionExisted => "No matching Topic Filter is being used by the Client.",
            ContinueAuthentication => "Continue the authentication with another step.",
            ReAuthenticate => "Initiate a re-authentication.",
            UnspecifiedError => {
                "The sender does not wish to reveal the reason for the failure, or none of the other reason codes apply."
            }
            MalformedPacket => "Data within the packet could not be correctly parsed.",
            ProtocolError => {
                "Data in the packet does not conform to the specification, or an unexpected or out of order packet was received."
            }
            ImplementationSpecificError => {
                "The packet received is valid but cannot be processed by this implementation."
            }
            UnsupportedProtocolVersion => {
                "The Server does not support the version of the MQTT protocol requested by the Client."
            }
            ClientIdentifierNotValid => {
                "The Client Identifier is a valid string but is not allowed by the Server."
            }
            BadUserNameOrPassword => {
                "The Server does not accept the User Name or Password specified by the Client."
            }
            NotAuthorized => "The request is not authorized.",
            ServerUnavailable => "The MQTT Server is not available.",
            ServerBusy => "The Server is busy; try again later.",
            Banned => "This Client has been banned by administrative action.",
            ServerShuttingDown => "The Server is shutting down.",
            BadAuthenticationMethod => {
                "The authentication method is not supported or does not match the authentication method currently in use."
            }
            KeepAliveTimeout => {
                "The connection is closed because no packet has been received for 1.5 times the Keep Alive time."
            }
            SessionTakenOver => {
                "Another connection using the same Client Identifier has connected, causing this connection to be closed."
            }
            TopicFilterInvalid => "The Topic Filter is correctly formed but is not accepted.",
            TopicNameInvalid => "The Topic Name is correctly formed but is not accepted.",
            PacketIdentifierInUse => "The Packet Identifier is already in use.",
            PacketIdentifierNotFound => "The Packet Identifier is not known.",
            ReceiveMaximumExceeded => {
                "More QoS 1 and QoS 2 publications were received than the Receive Maximum allows."
            }
            TopicAliasInvalid => {
                "The Topic Alias is 0 or greater than the Topic Alias Maximum sent in CONNECT or CONNACK."
            }
            PacketTooLarge => {
                "The packet size is greater than the Maximum Packet Size of the receiver."
            }
            MessageRateTooHigh => "The received data rate is too high.",
            QuotaExceeded => "An implementation or administrative imposed limit has been exceeded.",
            AdministrativeAction => "The connection is closed due to an administrative action.",
            PayloadFormatInvalid => {
                "The payload format does not match the one specified by the Payload Format Indicator."
            }
            RetainNotSupported => "The Server does not support retained messages.",
            QoSNotSupported => "The QoS is greater than the Maximum QoS the Server supports.",
            UseAnotherServer => "The Client should temporarily use another server.",
            ServerMoved => "The Client should permanently use another server.",
            SharedSubscriptionsNotSupported => "The Server does not support Shared Subscriptions.",
            ConnectionRateExceeded => "The connection rate limit has been exceeded.",
            MaximumConnectTime => {
                "The maximum connection time authorized for this connection has been exceeded."
            }
            SubscriptionIdentifiersNotSupported => {
                "The Server does not support Subscription Identifiers."
            }
            WildcardSubscriptionsNotSupported => {
                "The Server does not support Wildcard Subscriptions."
            }
        }
    }

    /// Whether the spec lists this code for `packet` (MQTT 5). PUBLISH, SUBSCRIBE,
    /// UNSUBSCRIBE, CONNECT, PINGREQ and PINGRESP carry no reason code at all.
    pub const fn allowed_in(self, packet: PacketType) -> bool {
        use ReasonCode::*;
        match packet {
            PacketType::ConnAck => matches!(
                self,
                Success
                    | UnspecifiedError
                    | MalformedPacket
                    | ProtocolError
                    | ImplementationSpecificError
                    | UnsupportedProtocolVersion
                    | ClientIdentifierNotValid
                    | BadUserNameOrPassword
                    | NotAuthorized
                    | ServerUnavailable
                    | ServerBusy
                    | Banned
                    | BadAuthenticationMethod
                    | TopicNameInvalid
                    | PacketTooLarge
                    | QuotaExceeded
                    | PayloadFormatInvalid
                    | RetainNotSupported
                    | QoSNotSupported
                    | UseAnotherServer
                    | ServerMoved
                    | ConnectionRateExceeded
            ),
            PacketType::PubAck | PacketType::PubRec => matches!(
                self,
                Success
                    | NoMatchingSubscribers
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicNameInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | PayloadFormatInvalid
            ),
            PacketType::PubRel | PacketType::PubComp => {
                matches!(self, Success | PacketIdentifierNotFound)
            }
            PacketType::SubAck => matches!(
                self,
                Success
                    | GrantedQoS1
                    | GrantedQoS2
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
                    | QuotaExceeded
                    | SharedSubscriptionsNotSupported
                    | SubscriptionIdentifiersNotSupported
                    | WildcardSubscriptionsNotSupported
            ),
            PacketType::UnsubAck => matches!(
                self,
                Success
                    | NoSubscriptionExisted
                    | UnspecifiedError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | TopicFilterInvalid
                    | PacketIdentifierInUse
            ),
            PacketType::Disconnect => matches!(
                self,
                Success
                    | DisconnectWithWillMessage
                    | UnspecifiedError
                    | MalformedPacket
                    | ProtocolError
                    | ImplementationSpecificError
                    | NotAuthorized
                    | ServerBusy
                    | ServerShuttingDown
                    | KeepAliveTimeout
                    | SessionTakenOver
                    | TopicFilterInvalid
                    | TopicNameInvalid
                    | ReceiveMaximumExceeded
                    | TopicAliasInvalid
                    | PacketTooLarge
                    | MessageRateTooHigh
                    | QuotaExceeded
                    | AdministrativeAction
                    | PayloadFormatInvalid
                    | RetainNotSupported
                    | QoSNotSupported
                    | UseAnotherServer
                    | ServerMoved
                    | SharedSubscriptionsNotSupported
                    | ConnectionRateExceeded
                    | MaximumConnectTime
                    | SubscriptionIdentifiersNotSupported
                    | WildcardSubscriptionsNotSupported
            ),
            PacketType::Auth => matches!(self, Success | ContinueAuthentication | ReAuthenticate),
            PacketType::Connect
            | PacketType::Publish
            | PacketType::Subscribe
            | PacketType::Unsubscribe
            | PacketType::PingReq
            | PacketType::PingResp => false,
        }
    }

    /// The MQTT 3.1.1 CONNACK return code for this reason (3.1.1 has only six).
    ///
    /// Mapping: Success → 0; Unsupported Protocol Version → 1 (unacceptable protocol
    /// version); Client Identifier not valid → 2 (identifier rejected); Bad User Name or
    /// Password and Bad authentication method → 4; Not authorized and Banned → 5 (not
    /// authorized); every other failure → 3 (server unavailable).
    pub const fn to_v3_connack(self) -> u8 {
        use ReasonCode::*;
        match self {
            Success => 0,
            UnsupportedProtocolVersion => 1,
            ClientIdentifierNotValid => 2,
            BadUserNameOrPassword | BadAuthenticationMethod => 4,
            NotAuthorized | Banned => 5,
            _ => 3,
        }
    }

    /// The reason code for a 3.1.1 CONNACK return code (0..=5); `None` for the reserved
    /// values 6..=255.
    pub const fn from_v3_connack(code: u8) -> Option<Self> {
        use ReasonCode::*;
        Some(match code {
            0 => Success,
            1 => UnsupportedProtocolVersion,
            2 => ClientIdentifierNotValid,
            3 => ServerUnavailable,
            4 => BadUserNameOrPassword,
            5 => NotAuthorized,
            _ => return None,
        })
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:02X})", self.name(), self.as_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_byte() {
        for code in ALL_REASON_CODES {
            assert_eq!(ReasonCode::from_u8(code.as_u8()), Some(code));
        }
        let defined = (0..=255u8)
            .filter(|b| ReasonCode::from_u8(*b).is_some())
            .count();
        assert_eq!(defined, ALL_REASON_CODES.len());
    }

    #[test]
    fn context_names_of_zero() {
        assert_eq!(
            ReasonCode::Success.name_in(PacketType::Disconnect),
            "Normal disconnection"
        );
        assert_eq!(
            ReasonCode::Success.name_in(PacketType::SubAck),
            "Granted QoS 0"
        );
        assert_eq!(ReasonCode::Success.name_in(PacketType::PubAck), "Success");
        assert_eq!(
            ReasonCode::PacketTooLarge.to_string(),
            "Packet too large (0x95)"
        );
    }

    #[test]
    fn packet_tables_match_the_spec() {
        // Spot checks against the spec's reason code table (§2.4).
        assert!(ReasonCode::QuotaExceeded.allowed_in(PacketType::ConnAck));
        assert!(!ReasonCode::ServerShuttingDown.allowed_in(PacketType::ConnAck));
        assert!(ReasonCode::ServerShuttingDown.allowed_in(PacketType::Disconnect));
        assert!(ReasonCode::PacketIdentifierNotFound.allowed_in(PacketType::PubRel));
        assert!(!ReasonCode::PacketIdentifierNotFound.allowed_in(PacketType::PubAck));
        assert!(ReasonCode::GrantedQoS2.allowed_in(PacketType::SubAck));
        assert!(!ReasonCode::GrantedQoS2.allowed_in(PacketType::UnsubAck));
        assert!(ReasonCode::ReAuthenticate.allowed_in(PacketType::Auth));
        assert!(!ReasonCode::Success.allowed_in(PacketType::Publish));
        // Every code is allowed somewhere.
        for code in ALL_REASON_CODES {
            let somewhere = [
                PacketType::ConnAck,
                PacketType::PubAck,
                PacketType::PubRel,
                PacketType::SubAck,
                PacketType::UnsubAck,
                PacketType::Disconnect,
                PacketType::Auth,
            ]
            .into_iter()
            .any(|p| code.allowed_in(p));
            assert!(somewhere, "{code} is allowed nowhere");
        }
    }

    #[test]
    fn v3_connack_mapping_is_a_bijection_on_the_six_codes() {
        for code in 0..=5u8 {
            let reason = ReasonCode::from_v3_connack(code).expect("defined");
            assert_eq!(reason.to_v3_connack(), code);
        }
        assert_eq!(ReasonCode::from_v3_connack(6), None);
        assert_eq!(ReasonCode::Banned.to_v3_connack(), 5);
        assert_eq!(ReasonCode::ServerBusy.to_v3_connack(), 3);
    }
}
