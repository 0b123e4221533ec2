//! Generated-input tests: random and truncated text never panics; packets built from
//! generated parts encode then decode to the same packet; decoded packets encode back to
//! the same text.

use proptest::prelude::*;
use switchboard_socketio_proto::{
    Args, Data, EventName, Limits, Packet, PacketType, PacketWriter, decode, json,
};

fn nsp() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-z0-9_?=&-]{1,12}".prop_map(|s| s)]
}

/// Canonical JSON values (as `JSON.stringify` writes them: no whitespace).
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<String>().prop_map(|s| {
            let mut out = String::new();
            json::write_str(&mut out, &s);
            out
        }),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(","))),
            proptest::collection::vec(("[a-z]{0,5}", inner), 0..4).prop_map(|v| {
                let body: Vec<String> = v
                    .into_iter()
                    .map(|(k, v)| {
                        let mut out = String::new();
                        json::write_str(&mut out, &k);
                        format!("{out}:{v}")
                    })
                    .collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    })
}

fn object() -> impl Strategy<Value = String> {
    proptest::collection::vec(("[a-z]{1,5}", json_value()), 0..3).prop_map(|v| {
        let body: Vec<String> = v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    })
}

fn event_name() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("reserved", |s| {
        !switchboard_socketio_proto::RESERVED_EVENTS.contains(&s.as_str())
    })
}

#[derive(Debug, Clone)]
enum Shape {
    Connect(Option<String>),
    Disconnect,
    Event(String, Vec<String>),
    Ack(Vec<String>),
    ConnectError(String),
}

fn shape() -> impl Strategy<Value = Shape> {
    let args = || proptest::collection::vec(json_value(), 0..5);
    prop_oneof![
        proptest::option::of(object()).prop_map(Shape::Connect),
        Just(Shape::Disconnect),
        (event_name(), args()).prop_map(|(n, a)| Shape::Event(n, a)),
        args().prop_map(Shape::Ack),
        prop_oneof![
            object(),
            any::<String>().prop_map(|s| {
                let mut out = String::new();
                json::write_str(&mut out, &s);
                out
            })
        ]
        .prop_map(Shape::ConnectError),
    ]
}

fn build<'a>(shape: &'a Shape, nsp: &'a str, id: Option<u64>, attachments: usize) -> Packet<'a> {
    let args = |v: &'a [String]| Args::from_iter(v.iter().map(String::as_str));
    let (kind, data, id, attachments) = match shape {
        Shape::Connect(o) => (
            PacketType::Connect,
            o.as_deref().map_or(Data::None, Data::Value),
            None,
            0,
        ),
        Shape::Disconnect => (PacketType::Disconnect, Data::None, None, 0),
        Shape::Event(n, a) => (
            PacketType::Event.with_attachments(attachments),
            Data::Event {
                name: EventName::Text(n.as_str().into()),
                args: args(a),
            },
            id,
            attachments,
        ),
        Shape::Ack(a) => (
            PacketType::Ack.with_attachments(attachments),
            Data::Ack(args(a)),
            Some(id.unwrap_or(0)),
            attachments,
        ),
        Shape::ConnectError(v) => (PacketType::ConnectError, Data::Value(v), None, 0),
    };
    Packet {
        kind,
        attachments,
        nsp,
        id,
        data,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
    ))]

    #[test]
    fn random_text_never_panics(s in any::<String>()) {
        let _ = decode(&s, Limits::default());
    }

    #[test]
    fn packet_like_text_never_panics(s in "[0-6][0-9-]{0,3}(/[a-z,]{0,4})?[0-9]{0,3}[\\[\\]{}\",:0-9a-z_]{0,24}") {
        let _ = decode(&s, Limits::default());
    }

    #[test]
    fn encode_then_decode_gives_the_packet(
        shape in shape(), nsp in nsp(), id in proptest::option::of(any::<u64>()), att in 0usize..4
    ) {
        let p = build(&shape, &nsp, id, att);
        let text = p.encode();
        // (`Packet` is invariant over its lifetime: compare the debug forms)
        let back = format!("{:?}", decode(&text, Limits::default()));
        prop_assert_eq!(back, format!("{:?}", Ok::<_, switchboard_socketio_proto::Error>(&p)), "{}", text);
        // every prefix decodes or fails cleanly, never panics
        for (i, _) in text.char_indices() {
            let _ = decode(&text[..i], Limits::default());
        }
    }

    #[test]
    fn decode_then_encode_gives_the_same_text(
        shape in shape(), nsp in nsp(), id in proptest::option::of(any::<u64>()), att in 0usize..4
    ) {
        let text = build(&shape, &nsp, id, att).encode();
        let again = decode(&text, Limits::default()).map(|p| p.encode());
        prop_assert_eq!(again.as_deref(), Ok(text.as_str()));
    }

    #[test]
    fn the_writer_agrees_with_encode(
        name in event_name(), args in proptest::collection::vec(json_value(), 0..5),
        nsp in nsp(), id in proptest::option::of(any::<u64>()),
    ) {
        let mut w = PacketWriter::event(&nsp, id, 0);
        w.str(&name);
        for a in &args {
            w.raw(a);
        }
        let shape = Shape::Event(name.clone(), args.clone());
        prop_assert_eq!(w.finish(), build(&shape, &nsp, id, 0).encode());
    }
}
