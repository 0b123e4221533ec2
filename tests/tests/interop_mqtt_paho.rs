//! Eclipse Paho Python (paho-mqtt 2.1, MQTT 3.1.1 and 5.0) against switchboard's broker.
//!
//! The script is `tests/interop/mqtt/paho_scenarios.py` (paho-mqtt from
//! `tests/interop/requirements.txt`, installed by `make deps`).

// Named `interop::...` so that nextest runs these at most two at a time.
mod interop {
    use std::time::Duration;

    use serde_json::{Value as Json, json};
    use switchboard_fabric::{
        Message, PayloadKind, SubOptions, SubscriberSpec, Topic, TopicFilter,
    };
    use switchboard_tests::TestGateway;
    use switchboard_tests::interop::{self, Running};

    const TIMEOUT: Duration = Duration::from_secs(60);

    fn args(gw: &TestGateway, scenario: &str, version: u8, extra: &str) -> Vec<String> {
        let port = gw.addresses.mqtt.expect("mqtt listener").port();
        vec![
            "127.0.0.1".into(),
            port.to_string(),
            scenario.into(),
            version.to_string(),
            extra.into(),
        ]
    }

    async fn run(
        gw: &TestGateway,
        scenario: &str,
        version: u8,
        extra: &str,
    ) -> interop::ScriptOutput {
        let out = interop::run(
            interop::python(
                "mqtt",
                "paho_scenarios.py",
                &args(gw, scenario, version, extra),
            ),
            TIMEOUT,
        )
        .await;
        out.assert_success();
        assert!(
            out.events_named("thread_error").is_empty() && !out.events_named("done").is_empty(),
            "{}\n{}",
            out.stdout,
            out.stderr
        );
        out
    }

    fn event<'a>(out: &'a interop::ScriptOutput, name: &str) -> &'a Json {
        out.events_named(name)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("no `{name}` event\n{}\n{}", out.stdout, out.stderr))
    }

    #[tokio::test]
    async fn paho_publish_subscribe_at_every_qos_in_both_versions() {
        let gw = TestGateway::builder().start().await;
        for version in [3, 5] {
            let out = run(&gw, "pubsub", version, "").await;
            let granted = &event(&out, "suback")["codes"];
            assert_eq!(granted, &json!([2]));
            let got = &event(&out, "received")["messages"];
            let summary: Vec<(String, u64)> = got
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    (
                        m["payload"].as_str().unwrap().to_owned(),
                        m["qos"].as_u64().unwrap(),
                    )
                })
                .collect();
            assert_eq!(
                summary,
                [("m0".into(), 0), ("m1".into(), 1), ("m2".into(), 2)],
                "version {version}"
            );
        }
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_retained_messages_are_shared_with_the_fabric() {
        let gw = TestGateway::builder().start().await;
        for version in [3, 5] {
            let out = run(&gw, "retained", version, "").await;
            let m = &event(&out, "received")["messages"][0];
            assert_eq!(
                (m["payload"].as_str(), m["retain"].as_bool()),
                (Some("kept"), Some(true))
            );
            assert_eq!(event(&out, "after_delete")["messages"], json!([]));
        }
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_will_on_abrupt_close_and_on_keepalive_timeout_but_not_after_disconnect() {
        let gw = TestGateway::builder().start().await;
        for version in [3, 5] {
            let out = run(&gw, "will", version, "").await;
            let w = event(&out, "will");
            assert_eq!(
                (w["topic"].as_str(), w["payload"].as_str()),
                (Some("paho/will/dying"), Some("bye"))
            );
            assert_eq!(event(&out, "after_disconnect")["messages"], json!([]));
        }
        // Keep-alive 2 s: the broker gives up after 3 s of silence and publishes the will.
        let out = run(&gw, "will", 5, "2").await;
        let after = event(&out, "will")["after"].as_f64().unwrap();
        assert!((2.0..6.0).contains(&after), "will after {after} s");
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_persistent_session_resumes_with_the_messages_queued_while_away() {
        let gw = TestGateway::builder().start().await;
        for version in [3, 5] {
            let out = run(&gw, "session", version, "").await;
            let r = event(&out, "resumed");
            assert_eq!(r["session_present"], json!(true), "version {version}");
            assert_eq!(r["payloads"], json!(["queued 0", "queued 1", "queued 2"]));
        }
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_v5_properties_round_trip() {
        let gw = TestGateway::builder().start().await;
        let mut fabric_side = gw.fabric.subscriber(SubscriberSpec::new("test", "ipc"));
        fabric_side.subscribe(
            TopicFilter::new("paho/props/#").unwrap(),
            SubOptions::default(),
        );
        let out = run(&gw, "v5props", 5, "").await;
        let m = event(&out, "received");
        assert_eq!(m["payload"], json!("{\"temp\": 21.5}"));
        assert_eq!(m["PayloadFormatIndicator"], json!(1));
        let expiry = m["MessageExpiryInterval"].as_u64().unwrap();
        assert!((3590..=3600).contains(&expiry));
        assert_eq!(m["ContentType"], json!("application/json"));
        assert_eq!(m["ResponseTopic"], json!("paho/props/reply"));
        assert_eq!(m["CorrelationData"], json!("corr-7"));
        assert_eq!(m["SubscriptionIdentifier"], json!([42]));
        assert_eq!(
            m["UserProperty"],
            json!([["k1", "v1"], ["k2", "v2"], ["k1", "v3"]])
        );
        // What the other protocols see in the fabric.
        let d = fabric_side.recv().await.unwrap();
        assert_eq!(d.message.kind, PayloadKind::Json);
        assert_eq!(
            d.message.reply_to.as_ref().unwrap().as_str(),
            "paho/props/reply"
        );
        assert_eq!(d.message.correlation.as_deref(), Some(&b"corr-7"[..]));
        assert_eq!(d.message.properties.len(), 3);
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_v5_request_reply_interoperates_through_the_fabric() {
        let gw = TestGateway::builder().start().await;
        // A fabric request (what IPC `request` and Engine.IO `req` do) answered by a Paho responder.
        let mut responder = Running::spawn(interop::python(
            "mqtt",
            "paho_scenarios.py",
            &args(&gw, "responder", 5, ""),
        ));
        responder.expect("ready", TIMEOUT).await;
        let reply = gw
            .fabric
            .request(
                Message::text(Topic::new("paho/svc").unwrap(), "what time").correlation("c-9"),
                Duration::from_secs(10),
            )
            .await
            .expect("a reply");
        assert_eq!(&reply.payload[..], b"answer:what time");
        assert_eq!(reply.correlation.as_deref(), Some(&b"c-9"[..]));
        assert_eq!(responder.wait(TIMEOUT).await, Some(0));

        // A Paho request answered from the fabric.
        let mut service = gw.fabric.subscriber(SubscriberSpec::new("test", "svc"));
        service.subscribe(TopicFilter::new("paho/ask").unwrap(), SubOptions::default());
        let fabric = gw.fabric.clone();
        let answer = tokio::spawn(async move {
            let q = service.recv().await.unwrap().message;
            let mut r = Message::text(q.reply_to.clone().unwrap(), "42");
            r.correlation = q.correlation.clone();
            fabric.publish(r);
        });
        let out = run(&gw, "requester", 5, "").await;
        answer.await.unwrap();
        let r = event(&out, "reply");
        assert_eq!(
            (r["payload"].as_str(), r["CorrelationData"].as_str()),
            (Some("42"), Some("q-1"))
        );
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_shared_subscription_and_subscription_options() {
        let gw = TestGateway::builder().start().await;
        let out = run(&gw, "shared", 5, "").await;
        let counts: Vec<u64> = event(&out, "shared")["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect();
        assert_eq!(counts.iter().sum::<u64>(), 10);
        assert!(counts.iter().all(|c| *c > 0), "{counts:?}");
        let out = run(&gw, "options", 5, "").await;
        let msgs = event(&out, "options")["messages"]
            .as_array()
            .unwrap()
            .clone();
        // Retain handling 2: no replay of paho/opt/r; no local: not our own; retain as published: set.
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert_eq!(msgs[0]["topic"], json!("paho/opt/live"));
        assert_eq!(msgs[0]["retain"], json!(true));
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_over_websocket_on_the_front() {
        let gw = TestGateway::builder().start().await;
        let mut fabric_side = gw.fabric.subscriber(SubscriberSpec::new("test", "t"));
        fabric_side.subscribe(
            TopicFilter::new("paho/ws/#").unwrap(),
            SubOptions::default(),
        );
        for version in [3, 5] {
            let script_args = vec![
                "127.0.0.1".into(),
                gw.addresses.http.port().to_string(),
                "websocket".into(),
                version.to_string(),
                "/mqtt".into(),
            ];
            let out = interop::run(
                interop::python("mqtt", "paho_scenarios.py", &script_args),
                TIMEOUT,
            )
            .await;
            out.assert_success();
            assert_eq!(event(&out, "received")["payload"], json!("over websocket"));
            let d = fabric_side.recv().await.unwrap();
            assert_eq!(d.message.origin.protocol.as_ref(), "mqtt");
        }
        gw.shutdown().await;
    }

    const ACL: &str = "\
user alice
topic readwrite mine/#
topic read readonly/#
";

    #[tokio::test]
    async fn paho_acl_denial_with_password_and_acl_files() {
        use switchboard_auth::passwd::{self, HashKind};
        let dir = std::env::temp_dir().join(format!("switchboard-mqtt-acl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("passwd");
        let _ = std::fs::remove_file(&pw);
        passwd::create(&pw, "alice", b"alice-pw", HashKind::Pbkdf2Sha512, 101).unwrap();
        let acl = dir.join("acl");
        std::fs::write(&acl, ACL).unwrap();
        let gw = TestGateway::builder()
            .configure(|c| {
                c.auth.anonymous = Some(false);
                c.auth.password_file = Some(pw.clone());
                c.auth.acl_file = Some(acl.clone());
            })
            .start()
            .await;
        let mut watch = gw.fabric.subscriber(SubscriberSpec::new("test", "w"));
        watch.subscribe(
            TopicFilter::new("readonly/#").unwrap(),
            SubOptions::default(),
        );
        for version in [3u8, 5] {
            let out = run(&gw, "denied", version, "alice:alice-pw").await;
            assert_eq!(event(&out, "connack")["rc"], json!(0));
            let denied = if version == 5 { 0x87 } else { 0x80 };
            assert_eq!(
                event(&out, "suback_secret")["codes"],
                json!([denied]),
                "v{version}"
            );
            assert_eq!(event(&out, "suback_readonly")["codes"], json!([1]));
            // 3.1.1 cannot say no to a PUBLISH: acknowledged and dropped, as mosquitto does.
            let puback = if version == 5 { 0x87 } else { 0 };
            assert_eq!(event(&out, "puback")["rc"], json!(puback), "v{version}");
            assert_eq!(event(&out, "received")["messages"], json!([]));
            let bad = event(&out, "bad_connack")["rc"].as_u64().unwrap();
            assert!(bad == 4 || bad == 0x86, "bad password answered {bad}");
            let anon = event(&out, "anonymous_connack")["rc"].as_u64().unwrap();
            assert!(anon == 5 || anon == 0x87, "anonymous answered {anon}");
        }
        assert!(
            watch.try_recv().unwrap().is_none(),
            "a denied publish reached the fabric"
        );
        gw.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn paho_qos2_is_exactly_once_across_a_reconnect() {
        let gw = TestGateway::builder().start().await;
        let mut watch = gw.fabric.subscriber(SubscriberSpec::new("test", "w"));
        watch.subscribe(
            TopicFilter::new("paho/eo/#").unwrap(),
            SubOptions::default(),
        );
        for version in [3u8, 5] {
            let out = run(&gw, "qos2_reconnect", version, "").await;
            let done = event(&out, "completed");
            assert_eq!(done["published"], json!(true), "v{version}");
            assert_eq!(done["session_present"], json!(true), "v{version}");
            let first = tokio::time::timeout(Duration::from_secs(5), watch.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&first.message.payload[..], b"exactly once");
            assert!(
                watch.try_recv().unwrap().is_none(),
                "v{version}: the re-sent PUBLISH was published again"
            );
        }
        assert!(
            gw.fabric.metrics().protocol("mqtt").messages_in.get() >= 4,
            "both PUBLISH copies arrived"
        );
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn paho_v5_assigned_id_limits_takeover_and_unsubscribe() {
        let gw = TestGateway::builder().start().await;
        let out = run(&gw, "v5misc", 5, "").await;
        let ack = event(&out, "connack");
        assert_eq!(ack["rc"], json!(0));
        assert!(
            ack["assigned"].as_str().unwrap().starts_with("auto-"),
            "{ack}"
        );
        assert_eq!(ack["receive_maximum"], json!(20));
        assert_eq!(ack["topic_alias_maximum"], json!(10));
        assert_eq!(ack["maximum_packet_size"], json!(1_048_576));
        assert_eq!(event(&out, "after_unsubscribe")["messages"], json!([]));
        assert_eq!(event(&out, "taken_over")["reason"], json!(0x8E));
        gw.shutdown().await;
    }
}
