//! Publish → deliver fan-out through the fabric to 1, 100 and 10 000 subscribers.
//!
//! Each iteration publishes one 64-byte message and drains every subscriber queue, so the figure is
//! the full cost of a delivery (routing, queueing, dequeueing). Throughput is reported in deliveries.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard_fabric::{Fabric, Message, SubOptions, SubscriberSpec, Topic, TopicFilter};

fn fanout(c: &mut Criterion) {
    let mut group = c.benchmark_group("fanout");
    for &n in &[1usize, 100, 10_000] {
        let fabric = Fabric::standalone();
        let mut subs: Vec<_> = (0..n)
            .map(|i| {
                let mut s = fabric.subscriber(SubscriberSpec::new("bench", i.to_string()));
                // Half exact filters, half wildcard ones, so both index paths are exercised.
                let filter = if i % 2 == 0 {
                    "plant/7/temp"
                } else {
                    "plant/+/temp"
                };
                s.subscribe(TopicFilter::new(filter).unwrap(), SubOptions::default());
                s
            })
            .collect();
        let topic = Topic::new("plant/7/temp").unwrap();
        let payload = bytes::Bytes::from(vec![b'x'; 64]);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let delivered = fabric.publish(Message::new(topic.clone(), payload.clone()));
                debug_assert_eq!(delivered, n);
                for s in subs.iter_mut() {
                    black_box(s.try_recv().unwrap());
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, fanout);
criterion_main!(benches);
