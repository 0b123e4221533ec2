//! MQTT 5 features: properties round trip and their fabric mapping, request/reply across the
//! fabric, topic aliases, flow control, packet size limits, subscription options and identifiers,
//! shared subscriptions, `$` topics, AUTH, message expiry, and what MQTT cannot carry.

mod common;

use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use switchboard_fabric::{
    Access, AuthError, Authorizer, Credentials, Identity, Message, PayloadKind, Qos, SubOptions,
    SubscriberSpec, Topic, TopicFilter as FFilter,
};
use switchboard_mqtt::MqttConfig;
use switchboard_mqtt_proto::{
    Auth, MqttString, Packet, PayloadFormat, ProtocolVersion, PubAck, QoS, ReasonCode,
    RetainHandling, Subscribe, Subscription, SubscriptionId, SubscriptionOptions, UserProperty,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V3: ProtocolVersion = ProtocolVersion::V3_1_1;

fn sub_with(id: u16, f: &str, options: SubscriptionOptions) -> Subscribe {
    Subscribe::new(
        pid(id),
        vec![Subscription {
            filter: filter(f),
            options,
        }],
    )
}

#[tokio::test]
async fn properties_round_trip_and_map_onto_fabric_messages() {
    let b = start(MqttConfig::default()).await;
    let mut fab = b.fabric.subscriber(SubscriberSpec::new("test", "ipc"));
    fab.subscribe(FFilter::new("props/#").unwrap(), SubOptions::default());
    let mut s = Client::v(b.addr, V5, "s").await;
    s.sub("props/#", QoS::AtMostOnce).await;
    let mut p = Client::v(b.addr, V5, "p").await;
    let mut m = publish("props/a", b"{\"t\":21}", QoS::AtMostOnce, 0);
    m.properties.payload_format_indicator = Some(PayloadFormat::Utf8);
    m.properties.message_expiry_interval = Some(100);
    {
        let md = m.properties.metadata_mut();
        md.content_type = Some(s_("application/json"));
        md.response_topic = Some(topic("props/reply"));
        md.correlation_data = Some(Bytes::from_static(b"corr-1"));
        md.user_properties = vec![
            UserProperty::new(s_("a"), s_("1")),
            UserProperty::new(s_("a"), s_("2")),
        ];
    }
    p.send(m).await;
    let got = s.recv_publish().await;
    let pr = &got.properties;
    assert_eq!(pr.payload_format_indicator, Some(PayloadFormat::Utf8));
    assert!(matches!(pr.message_expiry_interval, Some(99 | 100)));
    assert_eq!(pr.content_type().unwrap().as_str(), "application/json");
    assert_eq!(pr.response_topic().unwrap().as_str(), "props/reply");
    assert_eq!(
        pr.correlation_data().unwrap(),
        &Bytes::from_static(b"corr-1")
    );
    let ups: Vec<_> = pr
        .user_properties()
        .iter()
        .map(|u| (u.key.as_str(), u.value.as_str()))
        .collect();
    assert_eq!(ups, [("a", "1"), ("a", "2")], "order and duplicates kept");

    let d = fab.recv().await.unwrap();
    let msg = &d.message;
    assert_eq!(msg.kind, PayloadKind::Json);
    assert_eq!(msg.reply_to.as_ref().unwrap().as_str(), "props/reply");
    assert_eq!(msg.correlation.as_deref(), Some(&b"corr-1"[..]));
    assert_eq!(msg.origin.protocol.as_ref(), "mqtt");
    assert_eq!(msg.origin.client.as_ref(), "p");
    // Payload format 1 alone gives Text; a text message from elsewhere reaches MQTT 5 with format 1.
    let mut t = publish("props/t", b"hello", QoS::AtMostOnce, 0);
    t.properties.payload_format_indicator = Some(PayloadFormat::Utf8);
    p.send(t).await;
    s.recv_publish().await;
    assert_eq!(fab.recv().await.unwrap().message.kind, PayloadKind::Text);
    b.fabric
        .publish(Message::json(Topic::new("props/j").unwrap(), "{}"));
    let j = s.recv_publish().await;
    assert_eq!(
        j.properties.payload_format_indicator,
        Some(PayloadFormat::Utf8)
    );
    assert_eq!(
        j.properties.content_type().unwrap().as_str(),
        "application/json"
    );
    b.shutdown().await;
}

fn s_(t: &str) -> MqttString {
    MqttString::try_from(t).unwrap()
}

#[tokio::test]
async fn an_mqtt5_responder_answers_a_fabric_request_and_an_mqtt5_request_is_answered_from_the_fabric()
 {
    let b = start(MqttConfig::default()).await;
    // MQTT responder: echoes to the response topic with the correlation data.
    let mut responder = Client::v(b.addr, V5, "responder").await;
    responder.sub("svc/echo", QoS::AtMostOnce).await;
    let fabric = b.fabric.clone();
    let req = tokio::spawn(async move {
        fabric
            .request(
                Message::text(Topic::new("svc/echo").unwrap(), "ping").correlation("c42"),
                Duration::from_secs(5),
            )
            .await
    });
    let q = responder.recv_publish().await;
    let rt = q.properties.response_topic().unwrap().clone();
    assert!(rt.as_str().starts_with("$reply/"));
    let mut answer = publish("x", b"pong", QoS::AtMostOnce, 0);
    answer.topic = rt;
    answer.properties.metadata_mut().correlation_data = q.properties.correlation_data().cloned();
    responder.send(answer).await;
    let reply = req.await.unwrap().unwrap();
    assert_eq!(&reply.payload[..], b"pong");
    assert_eq!(reply.correlation.as_deref(), Some(&b"c42"[..]));

    // MQTT requester, fabric responder.
    let mut service = b.fabric.subscriber(SubscriberSpec::new("test", "svc"));
    service.subscribe(FFilter::new("svc/time").unwrap(), SubOptions::default());
    let mut requester = Client::v(b.addr, V5, "requester").await;
    requester.sub("me/replies", QoS::AtMostOnce).await;
    let mut q = publish("svc/time", b"now?", QoS::AtMostOnce, 0);
    {
        let md = q.properties.metadata_mut();
        md.response_topic = Some(topic("me/replies"));
        md.correlation_data = Some(Bytes::from_static(b"r1"));
    }
    requester.send(q).await;
    let incoming = service.recv().await.unwrap().message;
    let mut reply = Message::text(incoming.reply_to.clone().unwrap(), "noon");
    reply.correlation = incoming.correlation.clone();
    b.fabric.publish(reply);
    let r = requester.recv_publish().await;
    assert_eq!(&r.payload[..], b"noon");
    assert_eq!(
        r.properties.correlation_data().unwrap(),
        &Bytes::from_static(b"r1")
    );
    b.shutdown().await;
}

#[tokio::test]
async fn topic_aliases_both_ways() {
    let b = start(MqttConfig::default()).await;
    let mut c = connect_packet(V5, "aliased");
    c.properties.topic_alias_maximum = Some(2);
    let (mut s, _) = Client::connect(b.addr, c).await;
    s.sub("al/#", QoS::AtMostOnce).await;
    let mut p = Client::v(b.addr, V5, "p").await;
    // Client → server: set alias 1, then use it with an empty topic.
    let mut m = publish("al/one", b"1", QoS::AtMostOnce, 0);
    m.properties.topic_alias = NonZeroU16::new(1);
    p.send(m).await;
    let mut m = publish("al/one", b"2", QoS::AtMostOnce, 0);
    m.topic = switchboard_mqtt_proto::TopicName::empty();
    m.properties.topic_alias = NonZeroU16::new(1);
    p.send(m).await;
    // Server → client: the first carries topic and alias, the second only the alias.
    let a = s.recv_publish().await;
    assert_eq!(a.topic.as_str(), "al/one");
    let alias = a.properties.topic_alias.unwrap();
    let b2 = s.recv_publish().await;
    assert!(b2.topic.is_empty());
    assert_eq!(b2.properties.topic_alias, Some(alias));
    assert_eq!(&b2.payload[..], b"2");
    // An alias above the maximum is a protocol violation (0x94).
    let mut m = publish("al/x", b"", QoS::AtMostOnce, 0);
    m.properties.topic_alias = NonZeroU16::new(11);
    p.send(m).await;
    assert_eq!(
        p.closed().await.unwrap().reason_code,
        ReasonCode::TopicAliasInvalid
    );
    // An unknown alias with an empty topic: 0x82.
    let mut q = Client::v(b.addr, V5, "q").await;
    let mut m = publish("al/x", b"", QoS::AtMostOnce, 0);
    m.topic = switchboard_mqtt_proto::TopicName::empty();
    m.properties.topic_alias = NonZeroU16::new(2);
    q.send(m).await;
    assert_eq!(
        q.closed().await.unwrap().reason_code,
        ReasonCode::ProtocolError
    );
    b.shutdown().await;
}

#[tokio::test]
async fn receive_maximum_is_respected_and_enforced() {
    let cfg = MqttConfig {
        max_inflight: 2,
        ..MqttConfig::default()
    };
    let b = start(cfg).await;
    // Outbound: the client's Receive Maximum of 1 holds the second message until the PUBACK.
    let mut c = connect_packet(V5, "slow");
    c.properties.receive_maximum = NonZeroU16::new(1);
    let (mut s, _) = Client::connect(b.addr, c).await;
    s.sub("rm/#", QoS::AtLeastOnce).await;
    for i in 0..3 {
        b.fabric.publish(
            Message::text(Topic::new(format!("rm/{i}")).unwrap(), "x").qos(Qos::AtLeastOnce),
        );
    }
    let first = s.recv_publish().await;
    s.nothing(Duration::from_millis(150)).await;
    s.send(PubAck::new(first.packet_id().unwrap())).await;
    let second = s.recv_publish().await;
    assert_eq!(second.topic.as_str(), "rm/1");
    // Inbound: a third unreleased QoS 2 message exceeds our Receive Maximum of 2.
    let mut p = Client::v(b.addr, V5, "flood").await;
    for i in 1..=3 {
        p.send(publish("rm/in", b"x", QoS::ExactlyOnce, i)).await;
    }
    let d = p.closed().await.unwrap();
    assert_eq!(d.reason_code, ReasonCode::ReceiveMaximumExceeded);
    b.shutdown().await;
}

#[tokio::test]
async fn maximum_packet_size_both_ways() {
    let cfg = MqttConfig {
        max_packet_size: 1024,
        ..MqttConfig::default()
    };
    let b = start(cfg).await;
    let mut c = connect_packet(V5, "small");
    c.properties.maximum_packet_size = NonZeroU32::new(64);
    let (mut s, _) = Client::connect(b.addr, c).await;
    s.sub("big/#", QoS::AtMostOnce).await;
    b.fabric
        .publish(Message::new(Topic::new("big/1").unwrap(), vec![b'x'; 100]));
    b.fabric
        .publish(Message::new(Topic::new("big/2").unwrap(), vec![b'x'; 10]));
    let got = s.recv_publish().await;
    assert_eq!(
        got.topic.as_str(),
        "big/2",
        "the oversized message was skipped"
    );
    assert_eq!(
        b.metric(
            "switchboard_mqtt_skipped_total",
            &[("reason", "packet_too_large")]
        ),
        1.0
    );
    let mut p = Client::v(b.addr, V5, "p").await;
    p.send(publish("big/in", &[b'y'; 2000], QoS::AtMostOnce, 0))
        .await;
    assert_eq!(
        p.closed().await.unwrap().reason_code,
        ReasonCode::PacketTooLarge
    );
    b.shutdown().await;
}

#[tokio::test]
async fn subscription_options_and_identifiers() {
    let b = start(MqttConfig::default()).await;
    b.fabric
        .publish(Message::text(Topic::new("o/r").unwrap(), "old").retain(true));
    let mut c = Client::v(b.addr, V5, "opts").await;
    // Overlapping subscriptions with identifiers: one delivery carrying both ids, at the best QoS.
    let mut s1 = sub_with(1, "o/#", SubscriptionOptions::new(QoS::AtMostOnce));
    s1.properties.subscription_identifier = SubscriptionId::new(11);
    c.send(s1).await;
    c.recv().await; // SUBACK
    let retained = c.recv_publish().await;
    assert!(retained.retain);
    let mut s2 = sub_with(
        2,
        "o/+",
        SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        },
    );
    s2.properties.subscription_identifier = SubscriptionId::new(22);
    c.send(s2).await;
    c.recv().await; // SUBACK, and no retained replay (retain handling 2)
    c.nothing(Duration::from_millis(100)).await;
    b.fabric.publish(
        Message::text(Topic::new("o/x").unwrap(), "live")
            .qos(Qos::AtLeastOnce)
            .retain(true),
    );
    let p = c.recv_publish().await;
    assert_eq!(p.qos(), QoS::AtLeastOnce);
    assert!(p.retain, "retain as published");
    let mut ids: Vec<u32> = p
        .properties
        .subscription_identifiers
        .iter()
        .map(|s| s.get())
        .collect();
    ids.sort();
    assert_eq!(ids, [11, 22]);
    c.send(PubAck::new(p.packet_id().unwrap())).await;
    c.nothing(Duration::from_millis(100)).await;
    // No local: our own publish on o/+ is not echoed by that subscription, but o/# still gets it.
    c.send(publish("o/mine", b"m", QoS::AtMostOnce, 0)).await;
    let own = c.recv_publish().await;
    let ids: Vec<u32> = own
        .properties
        .subscription_identifiers
        .iter()
        .map(|s| s.get())
        .collect();
    assert_eq!(ids, [11]);
    // Retain handling 1: replay only for a new subscription.
    let opt1 = SubscriptionOptions {
        qos: QoS::AtMostOnce,
        retain_handling: RetainHandling::SendAtSubscribeIfNew,
        ..SubscriptionOptions::default()
    };
    c.send(sub_with(3, "o/r", opt1)).await;
    c.recv().await;
    assert_eq!(c.recv_publish().await.topic.as_str(), "o/r");
    c.send(sub_with(4, "o/r", opt1)).await;
    c.recv().await;
    c.nothing(Duration::from_millis(100)).await;
    b.shutdown().await;
}

#[tokio::test]
async fn shared_subscriptions_deliver_each_message_to_one_member() {
    let b = start(MqttConfig::default()).await;
    b.fabric
        .publish(Message::text(Topic::new("work/r").unwrap(), "retained").retain(true));
    let mut w1 = Client::v(b.addr, V5, "w1").await;
    let mut w2 = Client::v(b.addr, V3, "w2").await;
    w1.sub("$share/g/work/#", QoS::AtMostOnce).await;
    w2.sub("$share/g/work/#", QoS::AtMostOnce).await;
    let mut p = Client::v(b.addr, V5, "p").await;
    for i in 0..10u8 {
        let mut m = publish("work/job", b"", QoS::AtMostOnce, 0);
        m.payload = Bytes::from(vec![i]);
        p.send(m).await;
    }
    let mut total = 0;
    for c in [&mut w1, &mut w2] {
        while let Ok(Some(Packet::Publish(m))) = c.try_recv(Duration::from_millis(200)).await {
            assert_ne!(
                &m.payload[..],
                b"retained",
                "no retained replay for shared subs"
            );
            total += 1;
        }
    }
    assert_eq!(total, 10);
    b.shutdown().await;
}

#[tokio::test]
async fn dollar_topics_are_not_matched_by_leading_wildcards_and_sys_is_read_only() {
    let b = start(MqttConfig::default()).await;
    let mut c = Client::v(b.addr, V3, "d").await;
    c.sub("#", QoS::AtMostOnce).await;
    c.sub("+/x", QoS::AtMostOnce).await;
    b.fabric
        .publish(Message::text(Topic::new("$SYS/x").unwrap(), "sys"));
    b.fabric
        .publish(Message::text(Topic::new("$foo/x").unwrap(), "foo"));
    c.nothing(Duration::from_millis(100)).await;
    c.sub("$SYS/#", QoS::AtMostOnce).await;
    b.fabric
        .publish(Message::text(Topic::new("$SYS/y").unwrap(), "sys"));
    assert_eq!(c.recv_publish().await.topic.as_str(), "$SYS/y");
    // Clients cannot publish into $SYS.
    let mut p = Client::v(b.addr, V5, "p").await;
    p.send(publish("$SYS/fake", b"x", QoS::AtLeastOnce, 1))
        .await;
    match p.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason_code, ReasonCode::NotAuthorized),
        other => panic!("{other:?}"),
    }
    c.nothing(Duration::from_millis(100)).await;
    b.shutdown().await;
}

#[tokio::test]
async fn literal_ipc_topics_with_wildcard_characters_are_skipped_and_counted() {
    let b = start(MqttConfig::default()).await;
    let mut c = Client::v(b.addr, V3, "l").await;
    c.sub("ipc/#", QoS::AtMostOnce).await;
    b.fabric
        .publish(Message::text(Topic::literal("ipc/a+b").unwrap(), "no"));
    b.fabric
        .publish(Message::text(Topic::new("ipc/ok").unwrap(), "yes"));
    assert_eq!(c.recv_publish().await.topic.as_str(), "ipc/ok");
    assert_eq!(
        b.metric(
            "switchboard_mqtt_skipped_total",
            &[("reason", "wildcard_in_topic")]
        ),
        1.0
    );
    assert_eq!(
        b.metric(
            "switchboard_dropped_total",
            &[("protocol", "mqtt"), ("reason", "wildcard_in_topic")]
        ),
        1.0
    );
    b.shutdown().await;
}

#[tokio::test]
async fn auth_is_rejected_cleanly_without_a_method() {
    let b = start(MqttConfig::default()).await;
    let mut c = connect_packet(V5, "a");
    c.properties.authentication_method = Some(s_("SCRAM-SHA-1"));
    let (_c, ack) = Client::connect(b.addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::BadAuthenticationMethod);
    assert_eq!(
        ack.properties.reason_string.as_ref().map(|r| r.as_str()),
        Some("no authentication method is configured")
    );
    let mut c = Client::v(b.addr, V5, "b").await;
    c.send(Auth::new(ReasonCode::ReAuthenticate)).await;
    let d = c.closed().await.unwrap();
    assert_eq!(d.reason_code, ReasonCode::ProtocolError);
    assert!(
        d.properties.reason_string.is_some(),
        "reason strings are sent by default"
    );
    // A client that asks for no problem information gets no reason string.
    let mut quiet = connect_packet(V5, "quiet");
    quiet.properties.request_problem_information = Some(false);
    let (mut c, _) = Client::connect(b.addr, quiet).await;
    c.send(Auth::new(ReasonCode::ReAuthenticate)).await;
    assert!(c.closed().await.unwrap().properties.reason_string.is_none());
    b.shutdown().await;
}

#[tokio::test]
async fn expired_messages_are_not_delivered_from_an_offline_queue() {
    let b = start(MqttConfig::default()).await;
    let mut c = connect_packet(V5, "exp");
    c.clean_start = false;
    c.properties.session_expiry_interval = Some(600);
    let (mut s, _) = Client::connect(b.addr, c.clone()).await;
    s.sub("m/#", QoS::AtLeastOnce).await;
    drop(s);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut p = Client::v(b.addr, V5, "p").await;
    let mut short = publish("m/short", b"s", QoS::AtLeastOnce, 1);
    short.properties.message_expiry_interval = Some(1);
    p.send(short).await;
    p.recv().await;
    let mut long = publish("m/long", b"l", QoS::AtLeastOnce, 2);
    long.properties.message_expiry_interval = Some(100);
    p.send(long).await;
    p.recv().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (mut s, ack) = Client::connect(b.addr, c).await;
    assert!(ack.session_present);
    let m = s.recv_publish().await;
    assert_eq!(m.topic.as_str(), "m/long");
    assert!(m.properties.message_expiry_interval.unwrap() < 100);
    b.shutdown().await;
}

/// Denies: subscribing to `secret/#`, publishing to `ro/#`, reading `hidden/#`, and user `bad`.
#[derive(Debug)]
struct TestAcl;

impl Authorizer for TestAcl {
    fn authenticate(
        &self,
        _protocol: &str,
        client_id: &str,
        credentials: &Credentials,
    ) -> Result<Identity, AuthError> {
        match credentials {
            Credentials::Password { username, password }
                if username == "bad" || password == b"wrong" =>
            {
                Err(AuthError::BadCredentials)
            }
            Credentials::Password { username, .. } => {
                Ok(Identity::user(username.as_str(), client_id))
            }
            _ => Ok(Identity::anonymous(client_id)),
        }
    }

    fn authorize(&self, _identity: &Identity, access: Access, topic: &str) -> bool {
        !matches!(
            (access, topic.split('/').next()),
            (Access::Subscribe, Some("secret"))
                | (Access::Write, Some("ro"))
                | (Access::Read, Some("hidden"))
        )
    }
}

#[tokio::test]
async fn authorizer_decisions_are_enforced_with_the_right_codes() {
    let b = start_with(MqttConfig::default(), Arc::new(TestAcl)).await;
    for (version, code) in [
        (V5, ReasonCode::BadUserNameOrPassword),
        (V3, ReasonCode::BadUserNameOrPassword),
    ] {
        let mut c = connect_packet(version, "x");
        c.username = Some(s_("bad"));
        c.password = Some(Bytes::from_static(b"pw"));
        let (_c, ack) = Client::connect(b.addr, c).await;
        assert_eq!(ack.reason_code, code);
    }
    let mut c5 = Client::v(b.addr, V5, "c5").await;
    assert_eq!(
        c5.sub("secret/#", QoS::AtMostOnce).await,
        [ReasonCode::NotAuthorized]
    );
    let mut c3 = Client::v(b.addr, V3, "c3").await;
    c3.send(subscribe(1, "secret/x", QoS::AtMostOnce)).await;
    match c3.recv().await {
        Some(Packet::SubAck(a)) => assert!(a.reason_codes[0].is_error()),
        other => panic!("{other:?}"),
    }
    c5.send(publish("ro/x", b"x", QoS::AtLeastOnce, 5)).await;
    match c5.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason_code, ReasonCode::NotAuthorized),
        other => panic!("{other:?}"),
    }
    c3.sub("#", QoS::AtMostOnce).await;
    b.fabric
        .publish(Message::text(Topic::new("hidden/x").unwrap(), "h"));
    b.fabric
        .publish(Message::text(Topic::new("open/x").unwrap(), "o"));
    assert_eq!(c3.recv_publish().await.topic.as_str(), "open/x");
    let failures = |kind: &str| {
        b.metric(
            "switchboard_auth_failures_total",
            &[("protocol", "mqtt"), ("kind", kind)],
        )
    };
    assert_eq!(failures("credentials"), 2.0);
    assert_eq!(failures("subscribe"), 2.0);
    assert_eq!(failures("publish"), 1.0);
    assert_eq!(failures("read"), 1.0);
    b.shutdown().await;
}
