//! What a large assignment costs once, sans-IO: from `assign` of N partitions (three
//! brokers, every partition reset to its earliest offset) until every broker has its
//! first fetch, on the simulated cluster of `consumer_core::testing`. The offset lookups
//! (ListOffsets for every partition, while the connections to the leaders are still being
//! set up) and the first full fetches are what it measures; the simulated brokers' own
//! work is part of the figure.
//!
//! `STARTUP_PROFILE=<N>` runs one start-up of N partitions outside criterion, for
//! `valgrind --tool=callgrind --toggle-collect='*startup::measured*'` (see
//! docs/performance.md).

use std::hint::black_box;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::{AutoOffsetReset, Consumer, TopicPartition};
use criterion::{BatchSize, BenchmarkId, Criterion};

/// A cluster with a topic of `n` partitions, a consumer, and the partitions to assign.
fn setup(n: usize) -> (TestCluster, Consumer, Vec<TopicPartition>) {
    let cluster = TestCluster::builder().brokers(3).topic("big", n).build();
    let consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    let all = (0..n as i32).map(|p| tp("big", p)).collect();
    (cluster, consumer, all)
}

/// Assigns and drives until each broker got a fetch; panics if that does not happen.
#[inline(never)]
fn measured(cluster: &mut TestCluster, consumer: &mut Consumer, all: Vec<TopicPartition>) {
    consumer.assign(all).expect("assign");
    cluster.drive(consumer, |_, c| c.count(ApiKey::Fetch) >= 3, 500);
    assert!(
        cluster.count(ApiKey::Fetch) >= 3,
        "no fetch to every broker"
    );
}

fn main() {
    if let Ok(n) = std::env::var("STARTUP_PROFILE") {
        let n = n.parse().expect("STARTUP_PROFILE=<partitions>");
        let (mut cluster, mut consumer, all) = setup(n);
        measured(&mut cluster, &mut consumer, all);
        println!("startup of {n} partitions done");
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("startup");
    group.sample_size(10);
    for n in [1_000, 10_000] {
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter_batched(
                || setup(n),
                |(mut cluster, mut consumer, all)| {
                    measured(&mut cluster, &mut consumer, all);
                    black_box((cluster, consumer))
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
    c.final_summary();
}
