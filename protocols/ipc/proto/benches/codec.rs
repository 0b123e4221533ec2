//! Codec throughput: what the broker does per packet (split the stream, parse the header,
//! keep the frame for forwarding) and what the bridge does (build a message, read its args).

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard_ipc_proto::{Command, Packet, PacketCodec, Payload, Peer, Value};

/// Packets per batch in the stream benchmarks.
const BATCH: usize = 1000;

fn message(payload_len: usize) -> Packet {
    let peer = Peer::node("zP5CFA<5Nw", "peerB");
    Packet::from_message(
        Command::send("devices/42/telemetry", peer),
        &[Value::from("x".repeat(payload_len))],
    )
    .expect("small packet")
}

fn stream(packet: &Packet) -> BytesMut {
    let mut stream = BytesMut::with_capacity(packet.len() * BATCH);
    for _ in 0..BATCH {
        packet.encode(&mut stream);
    }
    stream
}

fn broker_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("broker");
    for payload_len in [100usize, 8 * 1024] {
        let packet = message(payload_len);
        let stream = stream(&packet);
        let codec = PacketCodec::default();
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(format!("decode_stream_{payload_len}B"), |b| {
            b.iter(|| {
                let mut buf = stream.clone();
                let mut forwarded = 0usize;
                while let Some(packet) = codec.decode(&mut buf).expect("valid") {
                    // Routing reads the header; forwarding clones the frame handle.
                    black_box(packet.command().channel());
                    forwarded += black_box(packet.frame().clone()).len();
                }
                forwarded
            })
        });
    }
    group.finish();
}

fn bridge_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("bridge");
    group.throughput(Throughput::Elements(1));
    let peer = Peer::node("gateway000", "switchboard");
    let payload = Payload::text("x".repeat(100));
    group.bench_function("build_mes_100B", |b| {
        b.iter(|| {
            let args = payload.to_args().expect("text");
            Packet::from_message(Command::send("devices/42/telemetry", peer.clone()), &args)
                .expect("small packet")
        })
    });
    let packet = message(100);
    group.bench_function("payload_of_mes_100B", |b| {
        b.iter(|| black_box(&packet).payload().expect("payload"))
    });
    group.finish();
}

criterion_group!(benches, broker_path, bridge_path);
criterion_main!(benches);
