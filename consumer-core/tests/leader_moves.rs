//! A partition's leader moves while a fetch is waiting on the old leader: the old leader
//! answers NOT_LEADER_OR_FOLLOWER, the consumer refreshes metadata and goes on fetching
//! from the new leader at the same position. Nothing is lost or repeated.

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, ErrorCode};

fn leader_moves_mid_fetch(profile: Profile) -> TestCluster {
    let mut cluster = TestCluster::builder()
        .brokers(3)
        .profile(profile)
        .topic("orders", 1)
        .build();
    let p0 = tp("orders", 0);
    cluster.fill(&p0, 4, 2);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_poll_records(3),
    );
    consumer.assign([p0.clone()]).unwrap();

    // Everything written so far is consumed; the next fetch waits on broker 1 at offset 4.
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 4 && c.in_flight() > 0,
        100,
    );
    let parked = cluster.requests_of(ApiKey::Fetch).last().unwrap().clone();
    assert_eq!(
        (parked.broker, parked.partitions.clone()),
        (1, vec![(p0.clone(), 4)])
    );
    let metadata_before = cluster.count(ApiKey::Metadata);

    // Broker 2 takes over and receives four more records.
    cluster.move_leader(&p0, 2);
    cluster.fill(&p0, 4, 2);

    cluster.drive(&mut consumer, |_, c| c.received.len() >= 8, 200);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(3));

    assert_eq!(cluster.offsets_of(&p0), (0..8).collect::<Vec<_>>());
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    assert_eq!(consumer.position(&p0).unwrap().unwrap().offset, 8);

    // A metadata refresh came between the refusal and the first fetch from broker 2,
    // which asked for offset 4: the position did not move on the error.
    let fetches = cluster.requests_of(ApiKey::Fetch);
    let first_on_new = fetches.iter().position(|r| r.broker == 2).unwrap();
    assert_eq!(fetches[first_on_new].partitions, vec![(p0.clone(), 4)]);
    let new_at = fetches[first_on_new].at;
    assert!(cluster
        .requests_of(ApiKey::Metadata)
        .iter()
        .skip(metadata_before)
        .any(|m| m.at <= new_at));
    // After the move, nothing more was asked of broker 1, which refused what it was asked.
    assert!(fetches[first_on_new..].iter().all(|r| r.broker == 2));
    assert!(!cluster.partition_errors.is_empty());
    assert!(cluster
        .partition_errors
        .iter()
        .all(|e| (e.broker, e.code) == (1, ErrorCode::NotLeaderOrFollower)));
    cluster
}

#[test]
fn modern_leader_moves_mid_fetch() {
    let cluster = leader_moves_mid_fetch(Profile::modern());
    // The new leader's batches carry its epoch, and so do the records.
    let epochs: Vec<Option<i32>> = cluster.received.iter().map(|r| r.leader_epoch).collect();
    assert_eq!(epochs[..4], [Some(0); 4]);
    assert_eq!(epochs[4..], [Some(1); 4]);
}

#[test]
fn mock_cluster_leader_moves_mid_fetch() {
    leader_moves_mid_fetch(Profile::mock_cluster());
}

#[test]
fn not_leader_from_the_leader_itself_is_retried_without_loss() {
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 1).build();
    let p = tp("t", 0);
    cluster.fill(&p, 6, 3);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p.clone()]).unwrap();
    // The first fetch is refused though broker 1 still leads (a stale follower view).
    cluster.inject_error(ApiKey::Fetch, ErrorCode::NotLeaderOrFollower);

    cluster.drive(&mut consumer, |_, c| c.received.len() >= 6, 100);
    assert_eq!(cluster.offsets_of(&p), (0..6).collect::<Vec<_>>());
    let fetches = cluster.requests_of(ApiKey::Fetch);
    assert_eq!(fetches[0].partitions, vec![(p.clone(), 0)]);
    assert_eq!(fetches[1].partitions, vec![(p.clone(), 0)]);
    assert!(
        cluster.count(ApiKey::Metadata) >= 2,
        "the error refreshed metadata"
    );
}

#[test]
fn a_new_epoch_on_the_same_leader_fences_the_old_one_until_metadata_catches_up() {
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 1).build();
    let p = tp("t", 0);
    cluster.fill(&p, 3, 3);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p.clone()]).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 3 && c.in_flight() > 0,
        100,
    );
    assert_eq!(
        consumer.metadata().leader(&p).unwrap().leader_epoch,
        Some(0)
    );

    // Broker 1 is re-elected: same leader, epoch 1. Fetches still carrying epoch 0 are
    // fenced (FENCED_LEADER_EPOCH) until the consumer's metadata has epoch 1.
    cluster.move_leader(&p, 1);
    cluster.fill(&p, 3, 3);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 100);

    assert_eq!(cluster.offsets_of(&p), (0..6).collect::<Vec<_>>());
    assert_eq!(
        consumer.metadata().leader(&p).unwrap().leader_epoch,
        Some(1)
    );
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    let codes: Vec<ErrorCode> = cluster.partition_errors.iter().map(|e| e.code).collect();
    assert!(!codes.is_empty());
    assert!(
        codes.iter().all(|c| *c == ErrorCode::FencedLeaderEpoch),
        "{codes:?}"
    );
}

/// While the metadata refresh that would name the new leader is slow, the old leader is
/// not asked again and again: each answer would be the same refusal, at once (a busy
/// loop found by the random fault schedules of `request_lifecycle.rs`).
#[test]
fn a_refused_partition_waits_for_fresh_metadata() {
    let mut cluster = TestCluster::builder().brokers(3).topic("orders", 1).build();
    let p0 = tp("orders", 0);
    cluster.fill(&p0, 4, 2);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p0.clone()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 4, 100);

    // Broker 2 takes over; the refresh that would say so is held for 2 s.
    cluster.move_leader(&p0, 2);
    cluster.fill(&p0, 4, 2);
    cluster.hold_next(ApiKey::Metadata);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(2));
    let refused = cluster
        .partition_errors
        .iter()
        .filter(|e| e.code == ErrorCode::NotLeaderOrFollower)
        .count();
    assert_eq!(refused, 1, "{:?}", cluster.partition_errors);
    assert_eq!(cluster.offsets_of(&p0), (0..4).collect::<Vec<_>>());

    // Once the answer comes, the new leader is fetched from where the consumer stopped.
    cluster.release_held();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 8, 200);
    assert_eq!(cluster.offsets_of(&p0), (0..8).collect::<Vec<_>>());
}
