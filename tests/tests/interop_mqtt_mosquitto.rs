//! mosquitto's own command line clients (`mosquitto_pub`, `mosquitto_sub` 2.0 from Debian's
//! `mosquitto-clients`, see scripts/apt-packages.txt) against switchboard's broker.

// Named `interop::...` so that nextest runs these at most two at a time.
mod interop {
    use std::process::Stdio;
    use std::time::Duration;

    use switchboard_fabric::{Message, SubOptions, SubscriberSpec, Topic, TopicFilter};
    use switchboard_tests::TestGateway;
    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::process::{Child, Command};

    const WAIT: Duration = Duration::from_secs(20);

    fn tool(name: &str, gw: &TestGateway, args: &[&str]) -> Command {
        let port = gw.addresses.mqtt.expect("mqtt listener").port().to_string();
        let mut c = Command::new(name);
        c.args(["-h", "127.0.0.1", "-p", &port])
            .args(args)
            .kill_on_drop(true);
        c
    }

    /// Runs `mosquitto_pub` to completion and asserts it succeeded.
    async fn publish(gw: &TestGateway, args: &[&str]) {
        let out = tokio::time::timeout(WAIT, tool("mosquitto_pub", gw, args).output())
            .await
            .expect("mosquitto_pub finishes")
            .unwrap_or_else(|e| panic!("mosquitto_pub: {e} (apt-get install mosquitto-clients)"));
        assert!(
            out.status.success(),
            "mosquitto_pub {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts `mosquitto_sub` and waits until its subscription is in place (seen in the fabric).
    async fn subscriber(gw: &TestGateway, probe: &str, args: &[&str]) -> Child {
        let child = tool("mosquitto_sub", gw, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("mosquitto_sub: {e} (apt-get install mosquitto-clients)"));
        let topic = Topic::new(probe).unwrap();
        tokio::time::timeout(WAIT, async {
            while !gw.fabric.has_subscribers(&topic) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("mosquitto_sub subscribed");
        child
    }

    /// Waits until no subscriber of `probe` is left (an exited `mosquitto_sub`'s session is
    /// cleaned up after its process ends), so the next probe sees only the next subscriber.
    async fn gone(gw: &TestGateway, probe: &str) {
        let topic = Topic::new(probe).unwrap();
        tokio::time::timeout(WAIT, async {
            while gw.fabric.has_subscribers(&topic) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the exited mosquitto_sub's subscription is removed");
    }

    async fn lines(child: Child) -> Vec<String> {
        let out = tokio::time::timeout(WAIT, child.wait_with_output())
            .await
            .expect("mosquitto_sub exits after -C messages")
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[tokio::test]
    async fn mosquitto_pub_and_sub_in_both_versions_with_retained_messages() {
        let gw = TestGateway::builder().start().await;
        publish(&gw, &["-t", "mosq/retained", "-m", "kept", "-r", "-q", "1"]).await;
        for version in ["mqttv311", "5"] {
            let sub = subscriber(
                &gw,
                "mosq/live",
                &[
                    "-V",
                    version,
                    "-t",
                    "mosq/#",
                    "-q",
                    "2",
                    "-C",
                    "3",
                    "-F",
                    "%t %q %r %p",
                ],
            )
            .await;
            publish(
                &gw,
                &["-V", version, "-t", "mosq/live", "-m", "one", "-q", "1"],
            )
            .await;
            publish(
                &gw,
                &["-V", version, "-t", "mosq/live", "-m", "two", "-q", "2"],
            )
            .await;
            let got = lines(sub).await;
            assert_eq!(
                got,
                [
                    "mosq/retained 1 1 kept",
                    "mosq/live 1 0 one",
                    "mosq/live 2 0 two"
                ],
                "version {version}"
            );
            gone(&gw, "mosq/live").await;
        }
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn mosquitto_v5_user_properties_and_content_type_reach_the_fabric_and_come_back() {
        let gw = TestGateway::builder().start().await;
        let sub = subscriber(
            &gw,
            "mosq5/x",
            &["-V", "5", "-t", "mosq5/#", "-C", "1", "-F", "%j"],
        )
        .await;
        // Only once mosquitto_sub is in: before, this subscriber would satisfy the probe.
        let mut fabric_side = gw.fabric.subscriber(SubscriberSpec::new("test", "ipc"));
        fabric_side.subscribe(TopicFilter::new("mosq5/#").unwrap(), SubOptions::default());
        publish(
            &gw,
            &[
                "-V",
                "5",
                "-t",
                "mosq5/x",
                "-m",
                "{\"a\":1}",
                "-D",
                "publish",
                "user-property",
                "site",
                "lab",
                "-D",
                "publish",
                "content-type",
                "application/json",
                "-D",
                "publish",
                "response-topic",
                "mosq5/reply",
            ],
        )
        .await;
        let got = lines(sub).await;
        let j: serde_json::Value = serde_json::from_str(&got[0]).expect("mosquitto_sub %j output");
        assert_eq!(j["topic"], "mosq5/x");
        let d = fabric_side.recv().await.unwrap();
        assert_eq!(
            d.message.properties,
            [("site".to_owned(), "lab".to_owned())]
        );
        assert_eq!(d.message.content_type.as_deref(), Some("application/json"));
        assert_eq!(d.message.reply_to.as_ref().unwrap().as_str(), "mosq5/reply");
        gw.shutdown().await;
    }

    #[tokio::test]
    async fn mosquitto_sub_sees_sys_broker_topics_and_its_will_fires_when_killed() {
        let gw = TestGateway::builder()
            .configure(|c| c.fabric.sys_interval_ms = 100)
            .start()
            .await;
        let out = tokio::time::timeout(
            WAIT,
            tool(
                "mosquitto_sub",
                &gw,
                &[
                    "-t",
                    "$SYS/broker/clients/connected",
                    "-t",
                    "$SYS/broker/version",
                    "-t",
                    "$SYS/broker/retained messages/count",
                    "-C",
                    "3",
                    "-v",
                    "-W",
                    "10",
                ],
            )
            .output(),
        )
        .await
        .unwrap()
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            text.contains("$SYS/broker/version switchboard version"),
            "{text}"
        );
        assert!(
            text.contains("$SYS/broker/retained messages/count "),
            "{text}"
        );
        assert!(text.contains("$SYS/broker/clients/connected "), "{text}");

        let mut watch = gw.fabric.subscriber(SubscriberSpec::new("test", "w"));
        watch.subscribe(
            TopicFilter::new("mosqgone/#").unwrap(),
            SubOptions::default(),
        );
        let mut sub = subscriber(
            &gw,
            "mosqwill/probe",
            &[
                "-t",
                "mosqwill/probe",
                "--will-topic",
                "mosqgone/will",
                "--will-payload",
                "bye",
            ],
        )
        .await;
        sub.kill().await.unwrap();
        let d = tokio::time::timeout(WAIT, watch.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.message.topic.as_str(), "mosqgone/will");
        // And a message published from elsewhere reaches a mosquitto_sub line by line.
        let child = tool("mosquitto_sub", &gw, &["-t", "mosqlines/#", "-C", "1"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::timeout(WAIT, async {
            while !gw
                .fabric
                .has_subscribers(&Topic::new("mosqlines/a").unwrap())
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        gw.fabric.publish(Message::text(
            Topic::new("mosqlines/a").unwrap(),
            "from the fabric",
        ));
        let mut reader = BufReader::new(child.stdout.unwrap()).lines();
        let line = tokio::time::timeout(WAIT, reader.next_line())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(line.as_deref(), Some("from the fabric"));
        gw.shutdown().await;
    }
}
