//! Decode and encode of a 64-byte-payload PUBLISH, the broker's hot path, plus the
//! allocation-free acknowledgement path.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use switchboard_mqtt_proto::{
    MAX_PACKET_SIZE, PacketId, ProtocolVersion, PubAck, Publish, QosPid, TopicName, decode_packet,
};

fn publish() -> Publish {
    let topic = TopicName::from_static("sensors/building-1/floor-2/temperature").expect("valid");
    Publish {
        qos_pid: QosPid::AtLeastOnce(PacketId::new(42).expect("non-zero")),
        ..Publish::new(topic, Bytes::from(vec![0x5A; 64]))
    }
}

fn bench(c: &mut Criterion) {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        let packet = publish();
        let mut wire = BytesMut::new();
        packet.encode(version, &mut wire).expect("encodes");
        let wire = wire.freeze();

        let mut group = c.benchmark_group(format!("publish_64b_{version}"));
        group.throughput(Throughput::Elements(1));
        // A connection's read buffer: refilled with the same bytes, decoded in place.
        let mut read_buf = BytesMut::with_capacity(64 * 1024);
        group.bench_function("decode", |b| {
            b.iter(|| {
                read_buf.extend_from_slice(&wire);
                let p = decode_packet(&mut read_buf, version, MAX_PACKET_SIZE);
                black_box(p.expect("valid").expect("complete"))
            });
        });
        let mut write_buf = BytesMut::with_capacity(64 * 1024);
        group.bench_function("encode", |b| {
            b.iter(|| {
                write_buf.clear();
                black_box(&packet)
                    .encode(version, &mut write_buf)
                    .expect("encodes");
                black_box(write_buf.len())
            });
        });
        group.bench_function("decode_encode", |b| {
            b.iter(|| {
                read_buf.extend_from_slice(&wire);
                let p = decode_packet(&mut read_buf, version, MAX_PACKET_SIZE);
                let p = p.expect("valid").expect("complete");
                write_buf.clear();
                p.encode(version, &mut write_buf).expect("encodes");
                black_box(write_buf.len())
            });
        });
        group.finish();
    }

    let ack = PubAck::new(PacketId::new(42).expect("non-zero"));
    let mut wire = BytesMut::new();
    ack.encode(ProtocolVersion::V5, &mut wire).expect("encodes");
    let mut read_buf = BytesMut::with_capacity(64 * 1024);
    c.bench_function("puback_decode_v5", |b| {
        b.iter(|| {
            read_buf.extend_from_slice(&wire);
            let p = decode_packet(&mut read_buf, ProtocolVersion::V5, MAX_PACKET_SIZE);
            black_box(p.expect("valid").expect("complete"))
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
