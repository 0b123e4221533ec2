//! Byte-exact fixtures: every encoded example of the Socket.IO protocol v5 specification
//! ("Packet encoding" and "Sample session"), decoded and encoded back, plus the refusals of
//! its test suite.

use switchboard_socketio_proto::encode::{connect, connect_error, disconnect};
use switchboard_socketio_proto::{
    Args, Data, Error, EventName, Limits, PacketType, PacketWriter, ProtocolVersion, Reassembler,
    decode, placeholder_index,
};

fn ok(s: &str) -> switchboard_socketio_proto::Packet<'_> {
    decode(s, Limits::default()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn name(s: &str) -> EventName<'_> {
    EventName::Text(s.into())
}

#[test]
fn spec_examples_decode_and_encode_back() {
    // (text, type, nsp, id, attachments)
    let cases: &[(&str, PacketType, &str, Option<u64>, usize)] = &[
        ("0", PacketType::Connect, "/", None, 0),
        (
            r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
            PacketType::Connect,
            "/admin",
            None,
            0,
        ),
        (
            r#"4{"message":"Not authorized"}"#,
            PacketType::ConnectError,
            "/",
            None,
            0,
        ),
        (r#"2["foo"]"#, PacketType::Event, "/", None, 0),
        (r#"2/admin,["bar"]"#, PacketType::Event, "/admin", None, 0),
        (
            r#"51-["baz",{"_placeholder":true,"num":0}]"#,
            PacketType::BinaryEvent,
            "/",
            None,
            1,
        ),
        (
            r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
            PacketType::BinaryEvent,
            "/admin",
            None,
            2,
        ),
        (r#"212["foo"]"#, PacketType::Event, "/", Some(12), 0),
        (
            r#"3/admin,13["bar"]"#,
            PacketType::Ack,
            "/admin",
            Some(13),
            0,
        ),
        (
            r#"61-15["bar",{"_placeholder":true,"num":0}]"#,
            PacketType::BinaryAck,
            "/",
            Some(15),
            1,
        ),
        ("1", PacketType::Disconnect, "/", None, 0),
        ("1/admin,", PacketType::Disconnect, "/admin", None, 0),
        (
            r#"0{"sid":"wZX3oN0bSVIhsaknAAAI"}"#,
            PacketType::Connect,
            "/",
            None,
            0,
        ),
        (r#"2["hey","Jude"]"#, PacketType::Event, "/", None, 0),
        ("0/admin,", PacketType::Connect, "/admin", None, 0),
        (
            r#"2/admin,1["tellme"]"#,
            PacketType::Event,
            "/admin",
            Some(1),
            0,
        ),
        (
            r#"61-/admin,1[{"_placeholder":true,"num":0}]"#,
            PacketType::BinaryAck,
            "/admin",
            Some(1),
            1,
        ),
    ];
    for &(text, kind, nsp, id, attachments) in cases {
        let p = ok(text);
        assert_eq!(
            (p.kind, p.nsp, p.id, p.attachments),
            (kind, nsp, id, attachments),
            "{text}"
        );
        if text != "0/admin," {
            assert_eq!(p.encode(), text);
        } else {
            // a trailing comma after the namespace is optional on the way in
            assert_eq!(p.encode(), "0/admin,");
        }
    }
}

#[test]
fn spec_examples_written_by_the_writers() {
    use ProtocolVersion::V5;
    assert_eq!(
        connect(V5, "/admin", "oSO0OpakMV_3jnilAAAA"),
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#
    );
    assert_eq!(
        connect_error(V5, "/", "Not authorized", None),
        r#"4{"message":"Not authorized"}"#
    );
    assert_eq!(disconnect("/admin"), "1/admin,");
    let mut w = PacketWriter::event("/", None, 0);
    w.str("hey").str("Jude");
    assert_eq!(w.finish(), r#"2["hey","Jude"]"#);
    let mut w = PacketWriter::event("/admin", None, 2);
    w.str("baz").placeholder().placeholder();
    assert_eq!(
        w.finish(),
        r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
    );
    let mut w = PacketWriter::ack("/admin", 1, 1);
    w.placeholder();
    assert_eq!(w.finish(), r#"61-/admin,1[{"_placeholder":true,"num":0}]"#);
    assert_eq!(PacketWriter::ack("/", 12, 0).finish(), "312[]");
}

#[test]
fn test_suite_packets() {
    // "should allow connection to the main namespace with a payload"
    assert_eq!(
        ok(r#"0{"token":"123"}"#).data,
        Data::Value(r#"{"token":"123"}"#)
    );
    // "should disallow connection to an unknown namespace": the namespace runs to the end
    assert_eq!(ok("0/random").nsp, "/random");
    // "should disallow connection with an invalid handshake": `4abc` is message "abc"
    assert!(decode("abc", Limits::default()).is_err());
    // plain-text event and ack
    let p = ok(r#"2["message",1,"2",{"3":[true]}]"#);
    assert_eq!(
        p.data,
        Data::Event {
            name: name("message"),
            args: Args::from_iter(["1", "\"2\"", r#"{"3":[true]}"#])
        }
    );
    let p = ok(r#"2456["message-with-ack",1,"2",{"3":[true]}]"#);
    assert_eq!(p.id, Some(456));
    // binary attachments
    let head = r#"52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
    let p = ok(head);
    let Data::Event { args, .. } = &p.data else {
        panic!("not an event")
    };
    let idx: Vec<_> = args.iter().map(|a| placeholder_index(a)).collect();
    assert_eq!(idx, [Some(0), Some(1)]);
    let mut r = Reassembler::new();
    r.start(head, p.attachments)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.push(bytes::Bytes::from_static(&[1, 2, 3])), Ok(None));
    let done = r
        .push(bytes::Bytes::from_static(&[4, 5, 6]))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(done.map(|c| c.attachments.len()), Some(2));
}

#[test]
fn violations() {
    let bad = |s: &str| decode(s, Limits::default()).err();
    assert_eq!(bad("9"), Some(Error::UnknownType(b'9')));
    assert_eq!(
        bad(r#"2["disconnect"]"#),
        Some(Error::InvalidPayload(PacketType::Event))
    );
    assert_eq!(
        bad(r#"2[]"#),
        Some(Error::InvalidPayload(PacketType::Event))
    );
    assert_eq!(
        bad(r#"1{"x":1}"#),
        Some(Error::InvalidPayload(PacketType::Disconnect))
    );
    assert_eq!(
        decode(r#"52-["a"]"#, Limits { max_attachments: 1 }).err(),
        Some(Error::TooManyAttachments { count: 2, max: 1 })
    );
}
