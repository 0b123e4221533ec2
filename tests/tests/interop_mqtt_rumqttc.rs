//! rumqttc 0.25 (the Rust ecosystem's MQTT client, v4 = 3.1.1 and v5) against switchboard.

// Named `interop::...` so that nextest runs these at most two at a time.
mod interop {
    use std::time::Duration;

    use bytes::Bytes;
    use switchboard_fabric::{
        Message, PayloadKind, Qos, SubOptions, SubscriberSpec, Topic, TopicFilter,
    };
    use switchboard_tests::TestGateway;
    use tokio::sync::mpsc;

    const WAIT: Duration = Duration::from_secs(10);

    /// A v4 (3.1.1) client whose incoming publishes and CONNACKs arrive on channels.
    struct V4 {
        client: rumqttc::AsyncClient,
        publishes: mpsc::UnboundedReceiver<rumqttc::Publish>,
        connacks: mpsc::UnboundedReceiver<rumqttc::ConnAck>,
        task: tokio::task::JoinHandle<()>,
    }

    impl V4 {
        fn start(options: rumqttc::MqttOptions) -> V4 {
            let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 64);
            let (ptx, publishes) = mpsc::unbounded_channel();
            let (ctx, connacks) = mpsc::unbounded_channel();
            let task = tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                            let _ = ptx.send(p);
                        }
                        Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => {
                            let _ = ctx.send(a);
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            });
            V4 {
                client,
                publishes,
                connacks,
                task,
            }
        }

        async fn connected(&mut self) -> rumqttc::ConnAck {
            tokio::time::timeout(WAIT, self.connacks.recv())
                .await
                .expect("CONNACK in time")
                .expect("connected")
        }

        async fn next(&mut self) -> rumqttc::Publish {
            tokio::time::timeout(WAIT, self.publishes.recv())
                .await
                .expect("a PUBLISH in time")
                .expect("the event loop runs")
        }
    }

    fn options(gw: &TestGateway, id: &str) -> rumqttc::MqttOptions {
        let a = gw.addresses.mqtt.expect("mqtt listener");
        let mut o = rumqttc::MqttOptions::new(id, a.ip().to_string(), a.port());
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    #[tokio::test]
    async fn rumqttc_v4_publish_subscribe_at_every_qos() {
        let gw = TestGateway::builder().start().await;
        let mut sub = V4::start(options(&gw, "rq-sub"));
        sub.connected().await;
        sub.client
            .subscribe("rq/#", rumqttc::QoS::ExactlyOnce)
            .await
            .unwrap();
        let mut publ = V4::start(options(&gw, "rq-pub"));
        publ.connected().await;
        // Wait for the subscription to be in place: a retained probe comes back.
        tokio::time::timeout(WAIT, async {
            while !gw.fabric.has_subscribers(&Topic::new("rq/x").unwrap()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        for (i, qos) in [
            rumqttc::QoS::AtMostOnce,
            rumqttc::QoS::AtLeastOnce,
            rumqttc::QoS::ExactlyOnce,
        ]
        .into_iter()
        .enumerate()
        {
            publ.client
                .publish(format!("rq/{i}"), qos, false, format!("m{i}"))
                .await
                .unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..3 {
            let p = sub.next().await;
            got.push((p.topic.clone(), p.qos as u8));
        }
        got.sort();
        assert_eq!(
            got,
            [("rq/0".into(), 0), ("rq/1".into(), 1), ("rq/2".into(), 2)]
        );
        sub.task.abort();
        publ.task.abort();
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn rumqttc_v4_persistent_session_gets_queued_messages_and_the_will_fires_on_a_drop() {
        let gw = TestGateway::builder().start().await;
        let mut o = options(&gw, "rq-persist");
        o.set_clean_session(false);
        let mut c = V4::start(o.clone());
        assert!(!c.connected().await.session_present);
        c.client
            .subscribe("rqs/#", rumqttc::QoS::AtLeastOnce)
            .await
            .unwrap();
        tokio::time::timeout(WAIT, async {
            while !gw.fabric.has_subscribers(&Topic::new("rqs/x").unwrap()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        c.client.disconnect().await.unwrap();
        let _ = tokio::time::timeout(WAIT, c.task).await;
        for i in 0..3 {
            gw.fabric.publish(
                Message::text(Topic::new(format!("rqs/{i}")).unwrap(), format!("q{i}"))
                    .qos(Qos::AtLeastOnce),
            );
        }
        let mut c = V4::start(o);
        assert!(c.connected().await.session_present);
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(String::from_utf8(c.next().await.payload.to_vec()).unwrap());
        }
        assert_eq!(got, ["q0", "q1", "q2"]);
        c.task.abort();

        // A client dropped without DISCONNECT: its will is published.
        let mut watch = gw.fabric.subscriber(SubscriberSpec::new("test", "w"));
        watch.subscribe(TopicFilter::new("rqw/#").unwrap(), SubOptions::default());
        let mut o = options(&gw, "rq-will");
        o.set_last_will(rumqttc::LastWill::new(
            "rqw/gone",
            "offline",
            rumqttc::QoS::AtLeastOnce,
            false,
        ));
        let mut w = V4::start(o);
        w.connected().await;
        w.task.abort();
        drop(w);
        let d = tokio::time::timeout(WAIT, watch.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&d.message.payload[..], b"offline");
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn rumqttc_v5_properties_round_trip() {
        use rumqttc::v5::mqttbytes::QoS;
        use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties, SubscribeProperties};
        use rumqttc::v5::{AsyncClient, Event, MqttOptions};

        let gw = TestGateway::builder().start().await;
        let a = gw.addresses.mqtt.unwrap();
        let mut fabric_side = gw.fabric.subscriber(SubscriberSpec::new("test", "ipc"));
        fabric_side.subscribe(TopicFilter::new("rq5/#").unwrap(), SubOptions::default());

        let (client, mut eventloop) =
            AsyncClient::new(MqttOptions::new("rq5", a.ip().to_string(), a.port()), 64);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(ev) = eventloop.poll().await {
                if let Event::Incoming(Packet::Publish(p)) = ev {
                    let _ = tx.send(p);
                }
            }
        });
        client
            .subscribe_with_properties(
                "rq5/#",
                QoS::AtLeastOnce,
                SubscribeProperties {
                    id: Some(7),
                    user_properties: vec![],
                },
            )
            .await
            .unwrap();
        tokio::time::timeout(WAIT, async {
            while !gw.fabric.has_subscribers(&Topic::new("rq5/x").unwrap()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        let props = PublishProperties {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(600),
            topic_alias: None,
            response_topic: Some("rq5/reply".into()),
            correlation_data: Some(Bytes::from_static(b"id-1")),
            user_properties: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
            subscription_identifiers: vec![],
            content_type: Some("application/json".into()),
        };
        client
            .publish_with_properties("rq5/x", QoS::AtLeastOnce, false, "{\"v\":1}", props)
            .await
            .unwrap();
        let p = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        let got = p.properties.expect("properties");
        assert_eq!(got.payload_format_indicator, Some(1));
        assert!(got.message_expiry_interval.unwrap() <= 600);
        assert_eq!(got.response_topic.as_deref(), Some("rq5/reply"));
        assert_eq!(got.correlation_data.as_deref(), Some(&b"id-1"[..]));
        assert_eq!(
            got.user_properties,
            [
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(got.content_type.as_deref(), Some("application/json"));
        assert_eq!(got.subscription_identifiers, [7]);
        let d = fabric_side.recv().await.unwrap();
        assert_eq!(d.message.kind, PayloadKind::Json);
        assert_eq!(d.message.properties.len(), 2);
        task.abort();
        gw.shutdown().await;
    }
}
