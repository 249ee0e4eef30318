//! Log truncation detection (KIP-320) against the simulated cluster: after a leader
//! change, a fenced fetch, or a restore from a committed offset with an epoch, the
//! position is validated with OffsetForLeaderEpoch before fetching goes on. An unclean
//! leader election (the new leader's log is shorter than what was read) moves the
//! position back to the divergence point, or with `auto.offset.reset=none` makes `poll`
//! return `LogTruncation`. (A capturing logger: this file is its own test binary.)

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, LogCapture, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, ConsumerError, ErrorCode, FetchPosition, TopicPartition};

/// WARN lines containing every one of `needles`, logged since the test started.
fn warnings(needles: &[&str]) -> Vec<String> {
    LogCapture::get().warnings(needles)
}

/// The tests share the logger: one at a time, each starting with an empty log.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    LogCapture::serial()
}

/// (broker, [(partition, epoch asked)]) of each OffsetForLeaderEpoch request.
fn validations(cluster: &TestCluster) -> Vec<(i32, Vec<(i32, i64)>)> {
    cluster
        .requests_of(ApiKey::OffsetForLeaderEpoch)
        .iter()
        .map(|r| {
            let parts = r
                .partitions
                .iter()
                .map(|(t, e)| (t.partition, *e))
                .collect();
            (r.broker, parts)
        })
        .collect()
}

/// A cluster of 3 brokers with topic `t` (one partition, led by broker 1) holding
/// `records` records, and a consumer that read them all (its position carries epoch 0).
fn consumed(
    records: usize,
    reset: AutoOffsetReset,
    profile: Profile,
) -> (TestCluster, consumer_core::Consumer, TopicPartition) {
    let mut cluster = TestCluster::builder()
        .brokers(3)
        .profile(profile)
        .topic("t", 1)
        .build();
    let p = tp("t", 0);
    cluster.fill(&p, records, 2);
    let mut consumer = cluster.consumer(cluster.config().auto_offset_reset(reset));
    consumer.assign([p.clone()]).unwrap();
    consumer.seek(&p, 0).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == records && c.in_flight() > 0,
        200,
    );
    (cluster, consumer, p)
}

/// Appends `n` records whose values say they were written by the new leader.
fn append_new(cluster: &mut TestCluster, p: &TopicPartition, n: usize) {
    let kvs: Vec<(String, String)> = (0..n)
        .map(|i| (format!("n{i}"), format!("new-{i}")))
        .collect();
    let refs: Vec<(&str, &str)> = kvs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    cluster.append(p, &refs);
}

#[test]
fn a_leader_move_without_truncation_is_validated_and_loses_nothing() {
    let _serial = serial();
    let (mut cluster, mut consumer, p) = consumed(6, AutoOffsetReset::Earliest, Profile::modern());
    assert!(
        validations(&cluster).is_empty(),
        "no validation before a move"
    );

    cluster.move_leader(&p, 2);
    cluster.fill(&p, 6, 2);
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 12, 300);
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    assert_eq!(cluster.offsets_of(&p), (0..12).collect::<Vec<_>>());
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    // One validation, on the new leader, of the position's epoch 0.
    assert_eq!(validations(&cluster), vec![(2, vec![(0, 0)])]);
    // It came before the first fetch from broker 2, which started at the position.
    let at = cluster.requests_of(ApiKey::OffsetForLeaderEpoch)[0].at;
    let fetches = cluster.requests_of(ApiKey::Fetch);
    let first_new = fetches.iter().find(|f| f.broker == 2).unwrap();
    assert!(first_new.at >= at);
    assert_eq!(first_new.partitions, vec![(p.clone(), 6)]);
    assert!(warnings(&["truncation"]).is_empty());
    assert_eq!(
        consumer.position(&p).unwrap().unwrap().leader_epoch,
        Some(1)
    );
}

#[test]
fn truncation_with_a_known_divergence_point_resets_to_it() {
    let _serial = serial();
    let (mut cluster, mut consumer, p) = consumed(10, AutoOffsetReset::Earliest, Profile::modern());

    // Broker 2 becomes leader with only offsets 0..6: 6..10, already read, are lost.
    cluster.unclean_leader_election(&p, 2, 6);
    assert_eq!(cluster.epoch_history(&p), vec![(0, 0), (1, 6)]);
    append_new(&mut cluster, &p, 3);
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 13, 300);
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    let got: Vec<(i64, String)> = cluster
        .received_of(&p)
        .into_iter()
        .map(|(o, _, v)| (o, v))
        .collect();
    assert_eq!(got.len(), 13, "{got:?}");
    assert_eq!(
        got[10..],
        [
            (6, "new-0".to_owned()),
            (7, "new-1".to_owned()),
            (8, "new-2".to_owned())
        ]
    );
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    assert_eq!(validations(&cluster), vec![(2, vec![(0, 0)])]);
    let logged = warnings(&["t-0", "truncation", "offset 10", "divergence point 6"]);
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert_eq!(
        consumer.position(&p).unwrap(),
        Some(FetchPosition {
            offset: 9,
            leader_epoch: Some(1)
        })
    );
}

#[test]
fn truncation_with_reset_none_is_returned_by_poll() {
    let _serial = serial();
    let (mut cluster, mut consumer, p) = consumed(10, AutoOffsetReset::None, Profile::modern());

    cluster.unclean_leader_election(&p, 3, 4);
    append_new(&mut cluster, &p, 2);
    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 300);

    assert_eq!(
        cluster.errors[0],
        ConsumerError::LogTruncation {
            tp: p.clone(),
            offset: 10,
            divergent_offset: Some(4),
        }
    );
    assert_eq!(cluster.offsets_of(&p), (0..10).collect::<Vec<_>>());
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 10);
    // It stays so (the validation is retried and fails again) until the caller seeks.
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    assert_eq!(cluster.offsets_of(&p).len(), 10);
    assert!(cluster
        .errors
        .iter()
        .all(|e| matches!(e, ConsumerError::LogTruncation { .. })));
    assert!(!warnings(&["t-0", "truncation", "none"]).is_empty());
    // While the caller does not poll, the retries queue the error once.
    cluster.drain = false;
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    assert!(cluster.count(ApiKey::OffsetForLeaderEpoch) > 3);
    assert!(matches!(
        consumer.poll_records(100),
        Err(ConsumerError::LogTruncation { .. })
    ));
    assert_eq!(consumer.poll_records(100).map(|r| r.len()), Ok(0));
    cluster.drain = true;

    consumer.seek(&p, 4).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 12, 200);
    let tail: Vec<String> = cluster.received_of(&p)[10..]
        .iter()
        .map(|(_, _, v)| v.clone())
        .collect();
    assert_eq!(tail, vec!["new-0".to_owned(), "new-1".to_owned()]);
}

/// How partition 0's leadership moved to broker 2 before the consumer starts.
enum Election {
    /// No move: broker 1 leads at epoch 0.
    None,
    /// A clean move (epoch 1).
    Clean,
    /// An unclean one (epoch 1) whose log ends at this offset; two new records follow.
    Unclean(i64),
}

/// Assigned with a group, partition 0 (8 records written at epoch 0) starts from a
/// committed offset that carries a leader epoch.
fn restore_committed(offset: i64, epoch: i32, election: Election) -> (TestCluster, TopicPartition) {
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 1).build();
    let p = tp("t", 0);
    cluster.fill(&p, 8, 2);
    match election {
        Election::None => {}
        Election::Clean => cluster.move_leader(&p, 2),
        Election::Unclean(at) => {
            cluster.unclean_leader_election(&p, 2, at);
            append_new(&mut cluster, &p, 2);
        }
    }
    cluster
        .groups
        .set_committed_with_epoch("g", &p, offset, epoch);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id("g")
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p.clone()]).unwrap();
    let total = cluster.partition_state(&p).high_watermark;
    cluster.drive(
        &mut consumer,
        |_, c| c.offsets_of(&p).last() == Some(&(total - 1)),
        300,
    );
    if let Some(v) = cluster.requests_of(ApiKey::OffsetForLeaderEpoch).first() {
        // Validated before the first fetch.
        assert!(cluster
            .requests_of(ApiKey::Fetch)
            .iter()
            .all(|f| f.at >= v.at));
    }
    (cluster, p)
}

#[test]
fn a_committed_offset_with_an_epoch_is_validated_on_assignment() {
    let _serial = serial();
    let (cluster, p) = restore_committed(4, 0, Election::Clean);
    assert_eq!(validations(&cluster), vec![(2, vec![(0, 0)])]);
    assert_eq!(cluster.offsets_of(&p), (4..8).collect::<Vec<_>>());
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn a_committed_offset_of_the_leaders_current_epoch_needs_no_validation() {
    let _serial = serial();
    // The leader's answer would be its log end, which the offset cannot pass.
    let (cluster, p) = restore_committed(4, 0, Election::None);
    assert!(validations(&cluster).is_empty());
    assert_eq!(cluster.offsets_of(&p), (4..8).collect::<Vec<_>>());
}

#[test]
fn a_committed_offset_past_the_new_leaders_log_moves_back_to_the_divergence_point() {
    let _serial = serial();
    // Committed at 7 under epoch 0; broker 2 took over with offsets 0..5 only.
    let (cluster, p) = restore_committed(7, 0, Election::Unclean(5));
    assert_eq!(validations(&cluster), vec![(2, vec![(0, 0)])]);
    assert_eq!(cluster.offsets_of(&p), vec![5, 6]);
    let values: Vec<String> = cluster.received_of(&p).into_iter().map(|r| r.2).collect();
    assert_eq!(values, vec!["new-0".to_owned(), "new-1".to_owned()]);
    assert_eq!(warnings(&["t-0", "truncation", "offset 7"]).len(), 1);
}

#[test]
fn a_committed_epoch_the_leader_does_not_know_resets_by_policy() {
    let _serial = serial();
    // Epoch 9 is past every epoch of the log: the end offset is unknown (-1).
    let (cluster, p) = restore_committed(6, 9, Election::Clean);
    assert_eq!(validations(&cluster), vec![(2, vec![(0, 9)])]);
    assert_eq!(cluster.offsets_of(&p), (0..8).collect::<Vec<_>>());
    assert_eq!(warnings(&["t-0", "truncation", "Earliest"]).len(), 1);
}

#[test]
fn a_broker_without_offset_for_leader_epoch_is_not_asked() {
    let _serial = serial();
    let profile = Profile::modern().without(ApiKey::OffsetForLeaderEpoch);
    let (mut cluster, mut consumer, p) = consumed(6, AutoOffsetReset::Earliest, profile);
    cluster.move_leader(&p, 2);
    cluster.fill(&p, 6, 2);
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 12, 300);
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert_eq!(cluster.offsets_of(&p), (0..12).collect::<Vec<_>>());
    assert_eq!(cluster.count(ApiKey::OffsetForLeaderEpoch), 0);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn a_fenced_fetch_refreshes_metadata_then_validates() {
    let _serial = serial();
    let (mut cluster, mut consumer, p) = consumed(4, AutoOffsetReset::Earliest, Profile::modern());
    // Broker 1 is re-elected (epoch 1): the waiting fetch, with epoch 0, is fenced.
    cluster.move_leader(&p, 1);
    cluster.fill(&p, 4, 2);
    let metadata_before = cluster.count(ApiKey::Metadata);
    cluster.drive(&mut consumer, |_, c| c.received.len() >= 8, 300);

    assert_eq!(cluster.offsets_of(&p), (0..8).collect::<Vec<_>>());
    assert!(cluster
        .partition_errors
        .iter()
        .any(|e| e.api == ApiKey::Fetch && e.code == ErrorCode::FencedLeaderEpoch));
    assert_eq!(validations(&cluster), vec![(1, vec![(0, 0)])]);
    // In the order the brokers saw them: the fenced fetch, a metadata refresh, the
    // validation, then fetches again from the position.
    let order: Vec<(ApiKey, Vec<(TopicPartition, i64)>)> = cluster
        .requests
        .iter()
        .filter(|r| r.api != ApiKey::ApiVersions)
        .map(|r| (r.api, r.partitions.clone()))
        .collect();
    let validation = order
        .iter()
        .position(|(api, _)| *api == ApiKey::OffsetForLeaderEpoch)
        .unwrap();
    let fenced_fetch = order
        .iter()
        .rposition(|(api, parts)| *api == ApiKey::Fetch && parts == &vec![(p.clone(), 4)])
        .unwrap();
    let refresh = order
        .iter()
        .enumerate()
        .filter(|(_, (api, _))| *api == ApiKey::Metadata)
        .map(|(i, _)| i)
        .nth(metadata_before)
        .unwrap();
    assert!(refresh < validation, "{order:?}");
    assert!(fenced_fetch > validation, "fetched again after: {order:?}");
    assert!(order[..validation]
        .iter()
        .any(|(api, parts)| *api == ApiKey::Fetch && parts == &vec![(p.clone(), 4)]));
}

#[test]
fn validations_are_batched_per_leader() {
    let _serial = serial();
    let mut cluster = TestCluster::builder().brokers(3).topic("t", 6).build();
    let parts: Vec<TopicPartition> = (0..6).map(|i| tp("t", i)).collect();
    for p in &parts {
        cluster.fill(p, 2, 2);
    }
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign(parts.clone()).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 12 && c.in_flight() > 0,
        300,
    );
    // Partition p (led by 1 + p % 3) moves to the next broker.
    for (i, p) in parts.iter().enumerate() {
        cluster.move_leader(p, 1 + (i as i32 + 1) % 3);
        cluster.fill(p, 2, 2);
    }
    cluster.drive(&mut consumer, |_, c| c.received.len() == 24, 400);
    let mut seen = validations(&cluster);
    seen.sort();
    assert_eq!(
        seen,
        vec![
            (1, vec![(2, 0), (5, 0)]),
            (2, vec![(0, 0), (3, 0)]),
            (3, vec![(1, 0), (4, 0)])
        ]
    );
    for p in &parts {
        assert_eq!(cluster.offsets_of(p), (0..4).collect::<Vec<_>>());
    }
}

#[test]
fn a_paused_partition_is_validated_and_resumes_where_it_was() {
    let _serial = serial();
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 2).build();
    let (p0, p1) = (tp("t", 0), tp("t", 1));
    cluster.fill(&p0, 4, 2);
    cluster.fill(&p1, 4, 2);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 8 && c.in_flight() > 0,
        200,
    );
    consumer.pause(std::slice::from_ref(&p0)).unwrap();
    // p0 is truncated under a new leader while paused; p1 keeps its leader's log.
    cluster.unclean_leader_election(&p0, 2, 2);
    append_new(&mut cluster, &p0, 1);
    cluster.move_leader(&p1, 1);
    cluster.fill(&p1, 2, 2);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 10, 300);
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    // Both were validated while p0 was paused; p0 moved back to the divergence point,
    // and nothing of it was handed out.
    let mut seen = validations(&cluster);
    seen.sort();
    assert_eq!(seen, vec![(1, vec![(1, 0)]), (2, vec![(0, 0)])]);
    assert_eq!(consumer.position(&p0).unwrap().unwrap().offset, 2);
    assert_eq!(cluster.offsets_of(&p0), (0..4).collect::<Vec<_>>());

    consumer.resume(std::slice::from_ref(&p0)).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 11, 300);
    let last = cluster.received_of(&p0).last().cloned().unwrap();
    assert_eq!((last.0, last.2), (2, "new-0".to_owned()));
}

#[test]
fn in_a_large_assignment_only_the_moved_partition_is_validated() {
    let _serial = serial();
    let mut cluster = TestCluster::builder().brokers(3).topic("big", 3000).build();
    let parts: Vec<TopicPartition> = (0..3000).map(|i| tp("big", i)).collect();
    let moved = tp("big", 1234);
    cluster.fill(&moved, 2, 2);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign(parts).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 2 && c.in_flight() > 0,
        300,
    );
    // Broker 2 led it (1 + 1234 % 3); broker 3 takes over.
    cluster.move_leader(&moved, 3);
    cluster.fill(&moved, 2, 2);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 4, 300);
    assert_eq!(validations(&cluster), vec![(3, vec![(1234, 0)])]);
    assert_eq!(cluster.offsets_of(&moved), (0..4).collect::<Vec<_>>());
}
