//! Pausing a partition stops both its fetching and the hand-out of what is already
//! buffered for it; resuming hands out the buffered records first, in order, then fetches on.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::AutoOffsetReset;

fn two_partitions_on_one_broker() -> TestCluster {
    let mut cluster = TestCluster::builder().brokers(1).topic("orders", 2).build();
    cluster.fill(&tp("orders", 0), 6, 3);
    cluster.fill(&tp("orders", 1), 6, 3);
    cluster
}

#[test]
fn a_paused_partition_is_not_fetched_until_resumed() {
    let mut cluster = two_partitions_on_one_broker();
    let (p0, p1) = (tp("orders", 0), tp("orders", 1));
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    assert_eq!(consumer.paused(), vec![p1.clone()]);

    cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 100);
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert_eq!(cluster.offsets_of(&p0), (0..6).collect::<Vec<_>>());
    assert!(cluster.offsets_of(&p1).is_empty());
    let fetches = cluster.requests_of(ApiKey::Fetch);
    assert!(fetches.len() > 2, "the consumer kept fetching p0");
    assert!(
        fetches
            .iter()
            .all(|f| f.partitions.iter().all(|(tp, _)| *tp != p1)),
        "p1 was fetched while paused"
    );

    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    assert!(consumer.paused().is_empty());
    // p0's long poll is in flight; p1 goes into the next fetch to that broker (one fetch
    // per broker at a time), at the latest when the long poll ends (fetch.max.wait.ms).
    let resumed_at = cluster.elapsed();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 12, 100);
    assert!(cluster.elapsed() - resumed_at <= Duration::from_millis(500));
    assert_eq!(cluster.offsets_of(&p1), (0..6).collect::<Vec<_>>());
    let first_p1 = cluster
        .requests_of(ApiKey::Fetch)
        .into_iter()
        .find(|f| f.partitions.iter().any(|(tp, _)| *tp == p1))
        .unwrap();
    assert!(first_p1.partitions.contains(&(p1.clone(), 0)));
}

#[test]
fn buffered_records_of_a_paused_partition_wait_for_resume() {
    let mut cluster = two_partitions_on_one_broker();
    cluster.drain = false;
    let (p0, p1) = (tp("orders", 0), tp("orders", 1));
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p0.clone(), p1.clone()]).unwrap();

    // One fetch brings both partitions' records into the buffer.
    cluster.drive(&mut consumer, |c, _| c.has_buffered_records(), 100);
    assert_eq!(
        cluster.requests_of(ApiKey::Fetch)[0].partitions,
        vec![(p0.clone(), 0), (p1.clone(), 0)]
    );

    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    let got = consumer.poll_records(100).unwrap();
    assert_eq!(
        got.iter()
            .map(|r| (r.partition, r.offset))
            .collect::<Vec<_>>(),
        (0..6).map(|o| (0, o)).collect::<Vec<_>>(),
        "only p0's records"
    );
    assert!(consumer.poll_records(100).unwrap().is_empty());
    assert!(
        !consumer.has_buffered_records(),
        "p1's data is parked, not ready"
    );
    assert_eq!(consumer.position(&p1).unwrap().unwrap().offset, 0);

    // While paused, p1 is neither handed out nor fetched again.
    let fetches_before = cluster.count(ApiKey::Fetch);
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert!(consumer.poll_records(100).unwrap().is_empty());
    let later = &cluster.requests_of(ApiKey::Fetch)[fetches_before..];
    assert!(!later.is_empty());
    assert!(later.iter().all(|f| f.partitions == vec![(p0.clone(), 6)]));

    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    assert!(consumer.has_buffered_records());
    let got = consumer.poll_records(4).unwrap();
    assert_eq!(
        got.iter()
            .map(|r| (r.partition, r.offset))
            .collect::<Vec<_>>(),
        vec![(1, 0), (1, 1), (1, 2), (1, 3)]
    );
    let got = consumer.poll_records(4).unwrap();
    assert_eq!(
        got.iter()
            .map(|r| (r.partition, r.offset))
            .collect::<Vec<_>>(),
        vec![(1, 4), (1, 5)]
    );
    assert_eq!(consumer.position(&p1).unwrap().unwrap().offset, 6);
    // The parked data was used: p1 was fetched from 0 only once.
    let from_zero = cluster
        .requests
        .iter()
        .filter(|r| r.partitions.contains(&(p1.clone(), 0)))
        .count();
    assert_eq!(from_zero, 1);
}
