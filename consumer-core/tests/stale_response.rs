//! A fetch answer that was on its way when the caller sought elsewhere is dropped: no
//! record from before the seek is handed out, and the position is the seek target.

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::AutoOffsetReset;

fn ten_records() -> (TestCluster, consumer_core::Consumer) {
    let mut cluster = TestCluster::builder().brokers(1).topic("t", 1).build();
    let p = tp("t", 0);
    cluster.fill(&p, 10, 5);
    let mut consumer = cluster.consumer(cluster.config().auto_offset_reset(AutoOffsetReset::None));
    consumer.assign([p.clone()]).unwrap();
    consumer.seek(&p, 0).unwrap();
    (cluster, consumer)
}

#[test]
fn an_answer_overtaken_by_a_seek_is_dropped() {
    let (mut cluster, mut consumer) = ten_records();
    let p = tp("t", 0);
    cluster.hold_next(ApiKey::Fetch);
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 100);

    // The answer (offsets 0-9) is on the wire when the caller moves to 7.
    consumer.seek(&p, 7).unwrap();
    cluster.release_held();
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 3, 100);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(1));

    assert_eq!(cluster.offsets_of(&p), vec![7, 8, 9]);
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 10);
    let asked: Vec<i64> = cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .map(|f| f.partitions[0].1)
        .collect();
    assert_eq!(asked[..2], [0, 7]);
}

#[test]
fn a_stale_answer_covering_the_seek_target_is_not_used_either() {
    let (mut cluster, mut consumer) = ten_records();
    let p = tp("t", 0);
    cluster.hold_next(ApiKey::Fetch);
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 100);

    // Offset 2 is in the held answer, but that answer was for position 0.
    consumer.seek(&p, 2).unwrap();
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 2);
    cluster.release_held();
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 8, 100);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(1));

    assert_eq!(cluster.offsets_of(&p), (2..10).collect::<Vec<_>>());
    let asked: Vec<i64> = cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .map(|f| f.partitions[0].1)
        .collect();
    assert_eq!(asked[..2], [0, 2], "refetched from the seek target");
}

#[test]
fn buffered_records_from_before_a_seek_are_discarded() {
    let (mut cluster, mut consumer) = ten_records();
    let p = tp("t", 0);
    cluster.drain = false;
    cluster.drive(&mut consumer, |c, _| c.has_buffered_records(), 100);
    let first = consumer.poll_records(3).unwrap();
    assert_eq!(
        first.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );

    consumer.seek(&p, 8).unwrap();
    assert!(!consumer.has_buffered_records());
    cluster.drain = true;
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 2, 100);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(1));
    assert_eq!(cluster.offsets_of(&p), vec![8, 9]);
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 10);
}

#[test]
fn an_answer_for_a_partition_no_longer_assigned_is_dropped() {
    let mut cluster = TestCluster::builder().brokers(1).topic("t", 2).build();
    let (p0, p1) = (tp("t", 0), tp("t", 1));
    cluster.fill(&p0, 4, 4);
    cluster.fill(&p1, 4, 4);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    cluster.hold_next(ApiKey::Fetch);
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 100);

    consumer.assign([p1.clone()]).unwrap();
    cluster.release_held();
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 4, 100);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(1));
    assert!(cluster.offsets_of(&p0).is_empty());
    assert_eq!(cluster.offsets_of(&p1), vec![0, 1, 2, 3]);
}

#[test]
fn a_slow_answer_arriving_after_a_seek_is_dropped() {
    let (mut cluster, mut consumer) = ten_records();
    let p = tp("t", 0);
    cluster.delay_next(ApiKey::Fetch, std::time::Duration::from_millis(200));
    cluster.drive(&mut consumer, |_, c| c.count(ApiKey::Fetch) == 1, 100);
    consumer.seek(&p, 9).unwrap();

    cluster.drive(&mut consumer, |_, c| !c.received.is_empty(), 100);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(1));
    assert_eq!(cluster.offsets_of(&p), vec![9]);
    let second = &cluster.requests_of(ApiKey::Fetch)[1];
    assert_eq!(second.partitions, vec![(p.clone(), 9)]);
    // It was sent only once the slow answer was in: one fetch per broker at a time.
    assert_eq!(second.at, std::time::Duration::from_millis(200));
}
