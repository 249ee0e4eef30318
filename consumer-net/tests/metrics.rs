//! `current_lag` and `metrics` through the blocking facade, over the simulated cluster of
//! `consumer_net::testing` (simulated time, public API only).

use std::time::Duration;

use consumer_net::testing::{tp, ApiKey, ErrorCode, SharedCluster, SimTransport, TestCluster};
use consumer_net::{AutoOffsetReset, ConsumerRecord, KafkaConsumer, Transport};

const POLL: Duration = Duration::from_millis(100);

fn cluster(records: usize) -> SharedCluster {
    let cluster = TestCluster::builder().topic("events", 1).build().shared();
    cluster.borrow_mut().fill(&tp("events", 0), records, 4);
    cluster
}

fn bytes_of(records: &[ConsumerRecord]) -> u64 {
    let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
    records.iter().map(|r| len(&r.key) + len(&r.value)).sum()
}

#[test]
fn lag_falls_to_zero_and_metrics_count_what_poll_returned() {
    let cluster = cluster(20);
    let config = cluster
        .borrow()
        .config()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(5)
        .build()
        .expect("config");
    let mut consumer =
        KafkaConsumer::with_transport(config, SimTransport::new(&cluster)).expect("consumer");
    let p0 = tp("events", 0);
    consumer.assign([p0.clone()]).expect("assign");
    assert_eq!(consumer.current_lag(&p0), None, "nothing fetched yet");
    assert_eq!(consumer.metrics().total_lag(), None);

    let first = consumer.poll(Duration::from_secs(10)).expect("poll");
    assert_eq!(first.len(), 5);
    assert_eq!(consumer.current_lag(&p0), Some(15));

    let mut all = first;
    while all.len() < 20 {
        all.extend(consumer.poll(POLL).expect("poll"));
    }
    assert_eq!(consumer.current_lag(&p0), Some(0));
    let m = consumer.metrics();
    assert_eq!(m.records_consumed, 20);
    assert_eq!(m.bytes_consumed, bytes_of(&all));
    assert_eq!(m.total_lag(), Some(0));
    let part = &m.partitions[0];
    assert_eq!(part.tp, p0);
    assert_eq!(
        (part.position, part.end_offset, part.lag),
        (Some(20), Some(20), Some(0))
    );
    assert_eq!(
        (part.records_consumed, part.bytes_consumed),
        (20, bytes_of(&all))
    );
    assert!(m.fetch.responses >= 1, "{:?}", m.fetch);
    assert!(m.fetch.latency_last.is_some(), "{:?}", m.fetch);

    // Caught up: a poll that finds nothing waits on a long-polling fetch, whose latency
    // is fetch.max.wait.ms on the simulated clock.
    assert!(consumer
        .poll(Duration::from_secs(2))
        .expect("poll")
        .is_empty());
    let fetch = consumer.metrics().fetch;
    assert_eq!(
        fetch.latency_max,
        Some(Duration::from_millis(500)),
        "{fetch:?}"
    );
    assert_eq!(fetch.failed, 0);

    // New records show as lag once a fetch answer has seen them.
    cluster.borrow_mut().fill(&p0, 3, 3);
    let more = consumer.poll(Duration::from_secs(2)).expect("poll");
    assert_eq!(more.len(), 3);
    assert_eq!(consumer.current_lag(&p0), Some(0));
    assert_eq!(consumer.metrics().records_consumed, 23);
    assert_eq!(consumer.current_lag(&tp("events", 1)), None, "not assigned");
}

#[test]
fn group_member_counts_its_rebalance_and_a_failed_commit() {
    let cluster = cluster(8);
    let config = cluster
        .borrow()
        .config()
        .group_id("billing")
        .enable_auto_commit(false)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .expect("config");
    let mut consumer =
        KafkaConsumer::with_transport(config, SimTransport::new(&cluster)).expect("consumer");
    consumer.subscribe(["events"]).expect("subscribe");
    let mut received = 0;
    for _ in 0..100 {
        received += consumer.poll(POLL).expect("poll").len();
        if received == 8 {
            break;
        }
    }
    assert_eq!(received, 8);
    let m = consumer.metrics();
    assert_eq!(m.rebalances.assignments, 1, "{:?}", m.rebalances);
    let at = m.rebalances.last_assignment.expect("the rebalance time");
    assert!(at <= consumer.transport().now());

    consumer.commit_sync().expect("commit");
    assert_eq!(consumer.metrics().commits.succeeded, 1);

    cluster
        .borrow_mut()
        .inject_error(ApiKey::OffsetCommit, ErrorCode::OffsetMetadataTooLarge);
    assert!(consumer.commit_sync().is_err());
    let commits = consumer.metrics().commits;
    assert_eq!((commits.succeeded, commits.failed), (1, 1), "{commits:?}");
    assert!(
        commits
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("OFFSET_METADATA_TOO_LARGE")),
        "{commits:?}"
    );

    // Closing revokes the member's partitions.
    consumer.close().expect("close");
    assert_eq!(consumer.metrics().rebalances.revocations, 1);
}
