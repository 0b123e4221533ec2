//! Parsing and checking of both command lines.

use super::*;
use clap::Parser;
use std::time::Duration;

fn pub_args(args: &[&str]) -> Result<PubSettings, CliError> {
    let mut v = vec!["switchboard pub"];
    v.extend_from_slice(args);
    PubArgs::try_parse_from(v)
        .map_err(|e| CliError::usage(e.to_string()))?
        .resolve()
}

fn sub_args(args: &[&str]) -> Result<SubSettings, CliError> {
    let mut v = vec!["switchboard sub"];
    v.extend_from_slice(args);
    SubArgs::try_parse_from(v)
        .map_err(|e| CliError::usage(e.to_string()))?
        .resolve()
}

fn usage_error(r: Result<impl std::fmt::Debug, CliError>, needle: &str) {
    match r {
        Err(CliError::Usage(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected a usage error with `{needle}`, got {other:?}"),
    }
}

#[test]
fn mosquitto_style_options_override_the_url() {
    let s = pub_args(&[
        "-h",
        "127.0.0.1",
        "-p",
        "1999",
        "-u",
        "me",
        "-P",
        "pw",
        "-t",
        "a",
        "-m",
        "x",
    ])
    .unwrap();
    let e = &s.connect.endpoint;
    assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 1999));
    assert_eq!(e.username.as_deref(), Some("me"));
    assert_eq!(e.password.as_deref(), Some("pw"));
    assert_eq!(s.connect.mqtt_version, MqttVersion::V5);
    assert!(s.connect.client_id.starts_with("switchboard-pub-"));
    let s = pub_args(&[
        "-L",
        "ws://h:1/x",
        "-p",
        "2",
        "-t",
        "a",
        "-n",
        "-V",
        "mqttv311",
    ])
    .unwrap();
    assert_eq!(s.connect.endpoint.websocket_url(), "ws://h:2/x");
    assert_eq!(s.connect.mqtt_version, MqttVersion::V311);
    assert_eq!(s.source, Source::Null);
}

#[test]
fn one_message_source_is_required() {
    usage_error(pub_args(&["-t", "a"]), "required");
    usage_error(pub_args(&["-t", "a", "-m", "x", "-n"]), "cannot be used");
    usage_error(pub_args(&["-m", "x"]), "topic is required");
    let s = pub_args(&["--url", "mqtt://h/from/url", "-l"]).unwrap();
    assert_eq!(s.template.topic, "from/url");
    usage_error(pub_args(&["-t", "a", "-l", "--repeat", "2"]), "not with -l");
}

#[test]
fn options_a_protocol_cannot_honour_are_refused() {
    usage_error(
        pub_args(&["--url", "ipc://h", "-t", "a", "-m", "x", "-r"]),
        "no retained",
    );
    usage_error(
        pub_args(&["--url", "ipc://h", "-t", "a", "-m", "x", "-q", "1"]),
        "no QoS",
    );
    usage_error(
        pub_args(&["--url", "ipc://h", "-u", "x", "-t", "a", "-m", "x"]),
        "no credentials",
    );
    usage_error(
        pub_args(&["--url", "eio://h", "-t", "a", "-m", "x", "-q", "2"]),
        "QoS 0 or 1",
    );
    usage_error(
        pub_args(&[
            "--url",
            "eio://h",
            "-t",
            "a",
            "-m",
            "x",
            "--will-topic",
            "w",
        ]),
        "wills",
    );
    usage_error(
        pub_args(&[
            "-t",
            "a",
            "-m",
            "x",
            "--user-property",
            "k=v",
            "-V",
            "3.1.1",
        ]),
        "MQTT 5",
    );
    usage_error(
        pub_args(&[
            "--url",
            "eio://h",
            "-t",
            "a",
            "-m",
            "x",
            "--user-property",
            "k=v",
        ]),
        "no properties",
    );
    usage_error(
        pub_args(&["-t", "a", "-m", "x", "--extra-headers", "A: b"]),
        "WebSocket URL",
    );
    usage_error(pub_args(&["-t", "a", "-m", "x", "--insecure"]), "TLS URL");
    usage_error(pub_args(&["-t", "a/#", "-m", "x"]), "wildcard");
    usage_error(pub_args(&["-t", "a", "-m", "x", "-P", "pw"]), "user name");
    usage_error(
        sub_args(&["--url", "eio://h", "-t", "a", "-q", "1"]),
        "no QoS",
    );
    usage_error(sub_args(&["-t", "a/#/b"]), "#");
    usage_error(sub_args(&[]), "filter is required");
    usage_error(sub_args(&["-t", "a", "-F", "%Z"]), "%Z");
}

#[test]
fn ipc_channels_are_literal() {
    let s = sub_args(&["--url", "ipc://h", "-t", "a/#/b"]).unwrap();
    assert_eq!(s.filters, ["a/#/b"]);
    let s = pub_args(&["--url", "ipc://h", "-t", "a/+", "-m", "x"]).unwrap();
    assert_eq!(s.template.topic, "a/+");
}

#[test]
fn headers_as_json_or_lines() {
    let s = pub_args(&[
        "--url",
        "eio://h",
        "-t",
        "a",
        "-m",
        "x",
        "--extra-headers",
        r#"{"Authorization": "Bearer t", "X-N": 1}"#,
        "--extra-headers",
        "X-Other: y",
    ])
    .unwrap();
    let h: Vec<_> = s
        .connect
        .extra_headers
        .iter()
        .map(|(n, v)| format!("{n}={}", v.to_str().unwrap()))
        .collect();
    assert_eq!(h, ["authorization=Bearer t", "x-n=1", "x-other=y"]);
    usage_error(
        pub_args(&[
            "--url",
            "eio://h",
            "-t",
            "a",
            "-m",
            "x",
            "--extra-headers",
            "nope",
        ]),
        "Name: value",
    );
}

#[test]
fn json_content_type_selects_the_json_kind() {
    let s = pub_args(&[
        "--url",
        "eio://h",
        "-t",
        "a",
        "-m",
        "{}",
        "--content-type",
        "application/json; charset=utf-8",
    ])
    .unwrap();
    assert_eq!(s.kind, KindArg::Json);
    assert_eq!(s.template.content_type, None);
}

#[test]
fn sub_outputs() {
    assert_eq!(sub_args(&["-t", "a"]).unwrap().output, Output::Payload);
    assert_eq!(
        sub_args(&["-t", "a", "-v"]).unwrap().output,
        Output::Verbose
    );
    assert_eq!(
        sub_args(&["-t", "a", "--json"]).unwrap().output,
        Output::Json
    );
    usage_error(sub_args(&["-t", "a", "--json", "-v"]), "cannot be used");
    let s = sub_args(&["-t", "a", "-C", "3", "-W", "0.5"]).unwrap();
    assert_eq!(s.count, Some(3));
    assert_eq!(s.timeout, Some(Duration::from_millis(500)));
}

#[test]
fn request_options() {
    let s = pub_args(&["-t", "a", "-n", "--request", "-i", "me"]).unwrap();
    let r = s.request.unwrap();
    assert_eq!(r.response_topic, "switchboard-cli/reply/me");
    assert_eq!(r.timeout, Duration::from_secs(5));
    let s = pub_args(&["-t", "a", "-n", "--request", "--request-timeout", "0.5"]).unwrap();
    assert_eq!(s.request.unwrap().timeout, Duration::from_millis(500));
    assert!(pub_args(&["-t", "a", "-n"]).unwrap().request.is_none());
    usage_error(pub_args(&["-t", "a", "-n", "--request", "-r"]), "retained");
    usage_error(
        pub_args(&["-t", "a", "-n", "--request", "-V", "3.1.1"]),
        "MQTT 5",
    );
    usage_error(
        pub_args(&["-t", "a", "-n", "--response-topic", "x"]),
        "--request",
    );
    usage_error(
        pub_args(&["-t", "a", "-n", "--request", "--response-topic", "r/#"]),
        "wildcard",
    );
}
