//! Offsets the broker no longer has: reset by policy (earliest), reported to the caller
//! (policy none), and the caller's own seeks and lookups (beginning, end, by timestamp).

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Profile, TestCluster, BASE_TS};
use consumer_core::{AutoOffsetReset, ConsumerError, ErrorCode, Event, OffsetAndTimestamp};

/// Ten records consumed, the consumer waiting at offset 10; then ten more are written and
/// retention deletes everything below 15 before the consumer gets to them.
fn retention_overtakes_the_consumer(
    policy: AutoOffsetReset,
) -> (TestCluster, consumer_core::Consumer) {
    let mut cluster = TestCluster::builder().brokers(1).topic("logs", 1).build();
    let p = tp("logs", 0);
    cluster.fill(&p, 10, 5);
    let mut consumer = cluster.consumer(cluster.config().auto_offset_reset(policy));
    consumer.assign([p.clone()]).unwrap();
    consumer.seek(&p, 0).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 10 && c.in_flight() > 0,
        100,
    );
    assert_eq!(
        cluster
            .requests_of(ApiKey::Fetch)
            .last()
            .unwrap()
            .partitions,
        vec![(p.clone(), 10)]
    );

    cluster.fill(&p, 10, 5);
    cluster.advance_log_start(&p, 15);
    (cluster, consumer)
}

#[test]
fn out_of_range_with_policy_earliest_resets_to_the_log_start() {
    let (mut cluster, mut consumer) = retention_overtakes_the_consumer(AutoOffsetReset::Earliest);
    let p = tp("logs", 0);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 15, 100);
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    let mut want: Vec<i64> = (0..10).collect();
    want.extend(15..20);
    assert_eq!(cluster.offsets_of(&p), want);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    // The reset asked for the earliest offset, once, after the out-of-range answer.
    let lookups: Vec<_> = cluster
        .requests_of(ApiKey::ListOffsets)
        .into_iter()
        .flat_map(|r| r.partitions)
        .collect();
    assert_eq!(lookups, vec![(p.clone(), -2)]);
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 20);
}

#[test]
fn out_of_range_with_policy_none_is_reported_until_the_caller_seeks() {
    let (mut cluster, mut consumer) = retention_overtakes_the_consumer(AutoOffsetReset::None);
    let p = tp("logs", 0);
    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);
    assert_eq!(
        cluster.errors[0],
        ConsumerError::OffsetOutOfRange {
            tp: p.clone(),
            offset: 10
        }
    );
    // The position stays where it was: the caller decides.
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 10);
    assert_eq!(cluster.count(ApiKey::ListOffsets), 0);

    // Left alone, the consumer asks again once per retry.backoff.ms (100 ms), not in a
    // busy loop, and keeps telling the caller.
    let fetches = cluster.count(ApiKey::Fetch);
    let errors = cluster.errors.len();
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    let refetches = cluster.count(ApiKey::Fetch) - fetches;
    assert!((9..=11).contains(&refetches), "{refetches} fetches in 1s");
    assert_eq!(cluster.errors.len() - errors, refetches);
    assert!(cluster.errors.iter().all(|e| *e
        == ConsumerError::OffsetOutOfRange {
            tp: p.clone(),
            offset: 10
        }));
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 10);

    consumer.seek(&p, 15).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 15, 100);
    assert_eq!(cluster.offsets_of(&p)[10..], [15, 16, 17, 18, 19]);
}

#[test]
fn no_position_with_policy_none_is_no_offset_for_partition() {
    let mut cluster = TestCluster::builder().brokers(1).topic("logs", 1).build();
    let p = tp("logs", 0);
    cluster.fill(&p, 5, 5);
    let mut consumer = cluster.consumer(cluster.config().auto_offset_reset(AutoOffsetReset::None));
    consumer.assign([p.clone()]).unwrap();

    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);
    assert_eq!(
        cluster.errors,
        vec![ConsumerError::NoOffsetForPartition { tp: p.clone() }]
    );
    assert_eq!(consumer.position(&p).unwrap(), None);
    assert_eq!(
        cluster.count(ApiKey::ListOffsets),
        0,
        "no policy, no lookup"
    );
    assert_eq!(cluster.count(ApiKey::Fetch), 0);

    // The caller decides where to start.
    consumer.seek(&p, 3).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
    assert_eq!(cluster.offsets_of(&p), vec![3, 4]);
}

#[test]
fn seek_to_end_skips_what_is_there_and_reads_what_comes() {
    let mut cluster = TestCluster::builder()
        .profile(Profile::mock_cluster())
        .topic("logs", 1)
        .build();
    let p = tp("logs", 0);
    cluster.fill(&p, 5, 5);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p.clone()]).unwrap();
    consumer.seek_to_end(std::slice::from_ref(&p)).unwrap();
    assert_eq!(consumer.position(&p).unwrap(), None, "looked up lazily");

    cluster.drive(&mut consumer, |_, c| c.count(ApiKey::Fetch) >= 1, 100);
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 5);
    let lookups: Vec<_> = cluster
        .requests_of(ApiKey::ListOffsets)
        .into_iter()
        .flat_map(|r| r.partitions)
        .collect();
    assert_eq!(
        lookups,
        vec![(p.clone(), -1)],
        "latest, not the policy's earliest"
    );

    cluster.append(&p, &[("late", "x"), ("later", "y")]);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
    assert_eq!(
        cluster.received_of(&p),
        vec![
            (5, "late".into(), "x".into()),
            (6, "later".into(), "y".into())
        ]
    );
}

#[test]
fn seek_to_beginning_rereads_from_the_log_start() {
    let mut cluster = TestCluster::builder().topic("logs", 1).build();
    let p = tp("logs", 0);
    cluster.fill(&p, 6, 3);
    let mut consumer =
        cluster.consumer(cluster.config().auto_offset_reset(AutoOffsetReset::Latest));
    consumer.assign([p.clone()]).unwrap();
    consumer.seek(&p, 4).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
    assert_eq!(cluster.offsets_of(&p), vec![4, 5]);

    // Retention removed offsets 0 and 1 meanwhile: the beginning is now 2.
    cluster.advance_log_start(&p, 2);
    consumer
        .seek_to_beginning(std::slice::from_ref(&p))
        .unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 100);
    assert_eq!(cluster.offsets_of(&p), vec![4, 5, 2, 3, 4, 5]);
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 6);
}

#[test]
fn list_offsets_by_timestamp_reports_an_event() {
    let mut cluster = TestCluster::builder()
        .brokers(2)
        .topic("logs", 2)
        .topic("other", 1)
        .build();
    for p in 0..2 {
        cluster.fill(&tp("logs", p), 10, 4);
    }
    cluster.fill(&tp("other", 0), 3, 3);
    cluster.advance_log_start(&tp("other", 0), 1);
    let mut consumer = cluster.consumer(cluster.config());

    // Nothing assigned: lookups work for any topic.
    let query = consumer.list_offsets(vec![
        (tp("logs", 0), BASE_TS + 3_500), // first record at or after: offset 4
        (tp("logs", 1), BASE_TS + 60_000), // after every record: none
        (tp("other", 0), -2),             // earliest
        (tp("other", 0), -1),             // latest (asked twice: the last one wins)
    ]);
    cluster.drive(&mut consumer, |_, c| !c.events.is_empty(), 100);
    let Event::OffsetsListed { query: q, offsets } = &cluster.events[0] else {
        panic!("expected OffsetsListed, got {:?}", cluster.events[0]);
    };
    assert_eq!(*q, query);
    let found: Vec<_> = offsets
        .iter()
        .map(|(tp, r)| {
            (
                tp.clone(),
                r.clone().unwrap().map(|o| (o.offset, o.timestamp)),
            )
        })
        .collect();
    assert_eq!(found[0], (tp("logs", 0), Some((4, BASE_TS + 4_000))));
    assert_eq!(found[1], (tp("logs", 1), None));
    assert_eq!(found[2], (tp("other", 0), Some((3, -1))));
    assert_eq!(found.len(), 3, "one answer per partition");
    assert_eq!(
        offsets[0].1,
        Ok(Some(OffsetAndTimestamp {
            offset: 4,
            timestamp: BASE_TS + 4_000,
            leader_epoch: Some(0)
        }))
    );
    assert_eq!(cluster.count(ApiKey::Fetch), 0, "a lookup fetches nothing");
    assert_eq!(cluster.events.len(), 1);
}

#[test]
fn truncation_below_the_position_with_policy_latest_resumes_at_the_new_end() {
    let mut cluster = TestCluster::builder().brokers(1).topic("logs", 1).build();
    let p = tp("logs", 0);
    cluster.fill(&p, 10, 5);
    let mut consumer =
        cluster.consumer(cluster.config().auto_offset_reset(AutoOffsetReset::Latest));
    consumer.assign([p.clone()]).unwrap();
    consumer.seek(&p, 0).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 10 && c.in_flight() > 0,
        100,
    );

    // An unclean election loses offsets 8 and 9: the consumer's position 10 is now past
    // the end. It resets to the (new) latest offset and reads what is written next.
    cluster.truncate(&p, 8);
    cluster.drive(&mut consumer, |_, c| c.count(ApiKey::ListOffsets) == 1, 100);
    cluster.drive(&mut consumer, |c, _| c.position(&p).unwrap().is_some(), 100);
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 8);
    cluster.append(&p, &[("new", "8")]);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 11, 100);
    assert_eq!(cluster.received_of(&p)[10], (8, "new".into(), "8".into()));
    assert_eq!(
        cluster.requests_of(ApiKey::ListOffsets)[0].partitions,
        vec![(p.clone(), -1)]
    );
    assert_eq!(cluster.partition_errors.len(), 1);
    assert_eq!(
        cluster.partition_errors[0].code,
        ErrorCode::OffsetOutOfRange
    );
}
