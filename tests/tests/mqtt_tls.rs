//! MQTT over TLS: the broker's certificate, client certificates signed by `mqtt.client_ca`, and
//! `use_identity_as_username` feeding the certificate's common name to the ACL.

// Named `interop::...` so that nextest runs these at most two at a time.
mod interop {
    use std::path::PathBuf;
    use std::time::Duration;

    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use serde_json::json;
    use switchboard_tests::TestGateway;
    use switchboard_tests::interop;

    fn write(dir: &std::path::Path, name: &str, text: String) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[tokio::test]
    async fn tls_with_client_certificates_and_identity_as_username() {
        let dir = std::env::temp_dir().join(format!("switchboard-mqtt-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();

        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "switchboard test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);

        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "device-42");
        let client = client_params.signed_by(&client_key, &issuer).unwrap();

        let ca_pem = write(&dir, "ca.pem", ca_cert.pem());
        let cert_pem = write(&dir, "server.pem", server.pem());
        let key_pem = write(&dir, "server.key", server_key.serialize_pem());
        let client_pem = write(&dir, "client.pem", client.pem());
        let client_key_pem = write(&dir, "client.key", client_key.serialize_pem());
        let acl = write(
            &dir,
            "acl",
            "user device-42\ntopic readwrite dev/#\n".to_owned(),
        );

        let gw = TestGateway::builder()
            .configure(|c| {
                c.mqtt.tls_listen = Some(switchboard_tests::ephemeral());
                c.mqtt.cert = Some(cert_pem.clone());
                c.mqtt.key = Some(key_pem.clone());
                c.mqtt.client_ca = Some(ca_pem.clone());
                c.mqtt.use_identity_as_username = true;
                c.auth.anonymous = Some(false);
                c.auth.acl_file = Some(acl.clone());
            })
            .start()
            .await;
        let port = gw.addresses.mqtt_tls.expect("the TLS listener").port();
        let extra = format!(
            "{}|{}|{}",
            ca_pem.display(),
            client_pem.display(),
            client_key_pem.display()
        );
        let args = vec![
            "127.0.0.1".into(),
            port.to_string(),
            "tls".into(),
            "5".into(),
            extra,
        ];
        let out = interop::run(
            interop::python("mqtt", "paho_scenarios.py", &args),
            Duration::from_secs(60),
        )
        .await;
        out.assert_success();
        let ev = |n: &str| (*out.events_named(n).first().expect(n)).clone();
        assert_eq!(ev("connack")["rc"], json!(0), "{}", out.stderr);
        assert_eq!(ev("received")["payload"], json!("over tls"));
        assert_eq!(ev("no_certificate")["refused"], json!(true));
        gw.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
