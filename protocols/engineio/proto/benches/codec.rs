//! Encode/decode throughput of the hot paths: WebSocket frames (one packet
//! each) and polling payloads of both revisions.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard_engineio_proto::{
    Frame, Packet, PayloadFormat, ProtocolVersion, Str, decode_frame, decode_payload, encode_frame,
    encode_payload,
};

const TEXT: &str = r#"{"op":"pub","topic":"plant/1/temp","data":{"celsius":21.5},"id":42}"#;

fn ws(c: &mut Criterion) {
    let mut g = c.benchmark_group("ws");
    g.throughput(Throughput::Elements(1));
    let frame = Str::from(format!("4{TEXT}"));
    g.bench_function("decode_text_frame", |b| {
        b.iter(|| decode_frame(ProtocolVersion::V4, Frame::Text(black_box(frame.clone()))))
    });
    let text = Packet::text(TEXT);
    g.bench_function("encode_text_frame", |b| {
        b.iter(|| encode_frame(ProtocolVersion::V4, black_box(&text), true))
    });
    let bin = Packet::binary(vec![7u8; 64]);
    g.bench_function("encode_binary_frame_v4", |b| {
        b.iter(|| encode_frame(ProtocolVersion::V4, black_box(&bin), true))
    });
    g.finish();
}

fn payloads(c: &mut Criterion) {
    let packets: Vec<Packet> = (0..16)
        .map(|i| {
            if i % 4 == 3 {
                Packet::binary(vec![i as u8; 48])
            } else {
                Packet::text(TEXT)
            }
        })
        .collect();
    let mut g = c.benchmark_group("payload");
    g.throughput(Throughput::Elements(packets.len() as u64));
    for (name, version, binary) in [
        ("v4", ProtocolVersion::V4, true),
        ("v3_text", ProtocolVersion::V3, false),
        ("v3_binary", ProtocolVersion::V3, true),
    ] {
        let mut buf = BytesMut::new();
        let format: PayloadFormat = encode_payload(version, &packets, binary, &mut buf);
        let body: Bytes = buf.freeze();
        g.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                let mut out = BytesMut::new();
                encode_payload(version, black_box(&packets), binary, &mut out);
                out
            })
        });
        g.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                decode_payload(version, format, black_box(body.clone()), 1_000_000)
                    .map(|it| it.filter(Result::is_ok).count())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, ws, payloads);
criterion_main!(benches);
