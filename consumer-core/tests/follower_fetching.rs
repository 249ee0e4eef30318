//! Rack-aware fetching (KIP-392): a consumer with `client.rack` is told by the leader of a
//! partition to read from a follower in its rack (`preferred_read_replica`, with no
//! records), and does so at once, without asking the leader again. It goes back to the
//! leader when the follower goes down, leaves the replica set, answers an error, or after
//! `metadata.max.age.ms`. Every record is read exactly once throughout.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Action, Profile, SeenRequest, SessionMode, TestCluster};
use consumer_core::{AutoOffsetReset, Consumer, ConsumerConfigBuilder, ErrorCode, TopicPartition};

/// Three brokers in racks rack1..rack3; `t` has `partitions` partitions, all led by
/// broker 1; t-0 has a follower on broker 2 and 10 records.
fn cluster(profile: Profile, partitions: usize) -> TestCluster {
    let mut cluster = TestCluster::builder()
        .brokers(3)
        .profile(profile)
        .topic("t", partitions)
        .build();
    for b in 1..=3 {
        cluster.set_rack(b, &format!("rack{b}"));
    }
    for p in 0..partitions as i32 {
        cluster.move_leader(&tp("t", p), 1);
    }
    cluster.add_follower(&tp("t", 0), 2);
    cluster.fill(&tp("t", 0), 10, 2);
    cluster
}

fn config(cluster: &TestCluster, rack: &str) -> ConsumerConfigBuilder {
    cluster
        .config()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .client_rack(rack.to_owned())
        .max_poll_records(3)
}

fn fetches(cluster: &TestCluster) -> Vec<SeenRequest> {
    cluster.requests_of(ApiKey::Fetch)
}

fn names(r: &SeenRequest, p: &TopicPartition) -> bool {
    r.partitions.iter().any(|(t, _)| t == p)
}

/// Runs until `n` records of t-0 are in; asserts they are offsets 0..n, each once.
fn read_all(cluster: &mut TestCluster, consumer: &mut Consumer, n: i64) {
    let p0 = tp("t", 0);
    cluster.drive(consumer, |_, c| c.offsets_of(&p0).len() >= n as usize, 2000);
    cluster.run_for(consumer, Duration::from_secs(1));
    assert_eq!(cluster.offsets_of(&p0), (0..n).collect::<Vec<_>>());
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

/// A 1-partition cluster (see [`cluster`]) and a consumer with `client.rack=rack` that
/// has read t-0's first 10 records.
fn reading(profile: Profile, rack: &str) -> (TestCluster, Consumer) {
    let mut cluster = cluster(profile, 1);
    let mut consumer = cluster.consumer(config(&cluster, rack));
    consumer.assign([tp("t", 0)]).unwrap();
    read_all(&mut cluster, &mut consumer, 10);
    (cluster, consumer)
}

/// Runs until t-0 is read from broker 2; returns the index of that first fetch.
fn until_on_follower(cluster: &mut TestCluster, consumer: &mut Consumer) -> usize {
    let p0 = tp("t", 0);
    cluster.drive(
        consumer,
        |_, c| {
            c.requests_of(ApiKey::Fetch)
                .iter()
                .any(|r| r.broker == 2 && names(r, &p0))
        },
        500,
    );
    fetches(cluster)
        .iter()
        .position(|r| r.broker == 2)
        .expect("a fetch to broker 2")
}

fn moves_to_the_follower(profile: Profile) {
    let mut cluster = cluster(profile, 1);
    let p0 = tp("t", 0);
    let mut consumer = cluster.consumer(config(&cluster, "rack2"));
    consumer.assign([p0.clone()]).unwrap();
    read_all(&mut cluster, &mut consumer, 10);
    // More records come while the consumer reads from the follower.
    cluster.fill(&p0, 10, 2);
    read_all(&mut cluster, &mut consumer, 20);
    cluster.run_for(&mut consumer, Duration::from_secs(3));

    // One fetch to the leader, answered with the follower and no records; every other
    // fetch went to the follower (no loop on the leader).
    let all = fetches(&cluster);
    let to_leader: Vec<&SeenRequest> = all.iter().filter(|r| r.broker == 1).collect();
    assert_eq!(to_leader.len(), 1, "{to_leader:?}");
    assert_eq!(to_leader[0].partitions, vec![(p0.clone(), 0)]);
    assert!(all.iter().skip(1).all(|r| r.broker == 2));
    assert_eq!(
        all.get(1).map(|r| r.partitions.clone()),
        Some(vec![(p0.clone(), 0)])
    );
    assert!(all.iter().all(|r| r.version >= 11));
    assert_eq!(consumer.position(&p0).unwrap().unwrap().offset, 20);
}

#[test]
fn modern_fetches_move_to_the_follower_in_the_clients_rack() {
    moves_to_the_follower(Profile::modern());
}

#[test]
fn mock_cluster_fetches_move_to_the_follower_in_the_clients_rack() {
    moves_to_the_follower(Profile::mock_cluster());
}

#[test]
fn without_a_rack_every_fetch_goes_to_the_leader() {
    let mut cluster = cluster(Profile::modern(), 1);
    let p0 = tp("t", 0);
    let mut consumer = cluster.consumer(config(&cluster, ""));
    consumer.assign([p0.clone()]).unwrap();
    read_all(&mut cluster, &mut consumer, 10);
    let all = fetches(&cluster);
    assert!(all.len() > 1);
    assert!(all.iter().all(|r| r.broker == 1), "{all:?}");
}

#[test]
fn a_rack_without_a_follower_reads_from_the_leader() {
    let (cluster, _consumer) = reading(Profile::modern(), "rack3");
    assert!(fetches(&cluster).iter().all(|r| r.broker == 1));
}

#[test]
fn follower_down_falls_back_to_the_leader() {
    let (mut cluster, mut consumer) = reading(Profile::modern(), "rack2");
    let p0 = tp("t", 0);
    let before = fetches(&cluster).len();
    assert!(fetches(&cluster).iter().skip(1).all(|r| r.broker == 2));

    cluster.set_down(&mut consumer, 2, true);
    cluster.fill(&p0, 10, 2);
    read_all(&mut cluster, &mut consumer, 20);

    // The rest came from the leader, which no longer names the follower.
    let after: Vec<SeenRequest> = fetches(&cluster).into_iter().skip(before).collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|r| r.broker == 1), "{after:?}");
    assert_eq!(after[0].partitions, vec![(p0.clone(), 10)]);
}

#[test]
fn follower_leaving_the_replica_set_sends_fetches_back_to_the_leader() {
    // t-1, led by broker 3, moves to broker 1 later: its refusal brings fresh metadata.
    let mut cluster = cluster(Profile::modern(), 2);
    let (p0, p1) = (tp("t", 0), tp("t", 1));
    cluster.move_leader(&p1, 3);
    let mut consumer = cluster.consumer(config(&cluster, "rack2"));
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    read_all(&mut cluster, &mut consumer, 10);
    let metadata_before = cluster.count(ApiKey::Metadata);
    let before = fetches(&cluster).len();

    // Broker 2 is moved away from t-0 (it still serves what it has) and t-1's leader
    // moves: the metadata refresh this brings no longer lists broker 2 for t-0.
    cluster.unlist_follower(&p0, 2);
    cluster.move_leader(&p1, 1);
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    cluster.fill(&p0, 10, 2);
    read_all(&mut cluster, &mut consumer, 20);

    assert!(cluster.count(ApiKey::Metadata) > metadata_before);
    let after: Vec<SeenRequest> = fetches(&cluster).into_iter().skip(before).collect();
    let back = after
        .iter()
        .find(|r| r.broker == 1 && names(r, &p0))
        .expect("t-0 fetched from the leader again");
    assert_eq!(
        back.partitions.iter().find(|(t, _)| *t == p0),
        Some(&(p0.clone(), 10))
    );
    // Broker 2 never refused t-0: fresh metadata, not an error, moved it back.
    assert!(
        cluster.partition_errors.iter().all(|e| e.broker != 2),
        "{:?}",
        cluster.partition_errors
    );
}

#[test]
fn an_error_from_the_follower_sends_the_next_fetch_to_the_leader() {
    let (mut cluster, mut consumer) = reading(Profile::modern(), "rack2");
    let p0 = tp("t", 0);
    let before = fetches(&cluster).len();

    // The fetch held on broker 2 ends empty; the next one is refused.
    cluster.on_next_to(
        2,
        ApiKey::Fetch,
        Action::Error(ErrorCode::KafkaStorageError.code()),
    );
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    cluster.fill(&p0, 10, 2);
    read_all(&mut cluster, &mut consumer, 20);

    let after: Vec<SeenRequest> = fetches(&cluster).into_iter().skip(before).collect();
    let failed = after
        .iter()
        .position(|r| r.broker == 2)
        .expect("the failing fetch");
    let next = &after[failed + 1];
    assert_eq!(
        (next.broker, next.partitions.clone()),
        (1, vec![(p0.clone(), 10)])
    );
    assert!(cluster
        .partition_errors
        .iter()
        .any(|e| (e.broker, e.code) == (2, ErrorCode::KafkaStorageError)));
}

#[test]
fn out_of_range_on_the_follower_refetches_from_the_leader_without_a_reset() {
    let (mut cluster, mut consumer) = reading(Profile::modern(), "rack2");
    let p0 = tp("t", 0);
    let list_offsets = cluster.count(ApiKey::ListOffsets);
    let before = fetches(&cluster).len();

    // The follower lost its tail: it no longer has the position.
    cluster.set_follower_end(&p0, 2, Some(6));
    cluster.fill(&p0, 10, 2);
    read_all(&mut cluster, &mut consumer, 20);

    assert!(cluster
        .partition_errors
        .iter()
        .any(|e| (e.broker, e.code) == (2, ErrorCode::OffsetOutOfRange)));
    // No reset: the leader was asked for the same offset.
    assert_eq!(cluster.count(ApiKey::ListOffsets), list_offsets);
    // The fetch held on broker 2 was refused; the next went to the leader.
    let after: Vec<SeenRequest> = fetches(&cluster).into_iter().skip(before).collect();
    assert_eq!(
        after.first().map(|r| (r.broker, r.partitions.clone())),
        Some((1, vec![(p0.clone(), 10)]))
    );
}

#[test]
fn the_follower_expires_after_metadata_max_age() {
    let mut cluster = cluster(Profile::modern(), 1);
    let p0 = tp("t", 0);
    let mut consumer =
        cluster.consumer(config(&cluster, "rack2").metadata_max_age(Duration::from_secs(30)));
    consumer.assign([p0.clone()]).unwrap();
    let first = until_on_follower(&mut cluster, &mut consumer);
    let named_at = fetches(&cluster)[first - 1].at;
    read_all(&mut cluster, &mut consumer, 10);
    cluster.run_for(&mut consumer, Duration::from_secs(40));

    // Back to the leader once, 30 s after it named the follower; it names it again.
    let all = fetches(&cluster);
    let back: Vec<&SeenRequest> = all.iter().skip(first).filter(|r| r.broker == 1).collect();
    assert_eq!(back.len(), 1, "{back:?}");
    let at = back[0].at;
    assert!(
        at >= named_at + Duration::from_secs(30),
        "{at:?} vs {named_at:?}"
    );
    assert!(
        at <= named_at + Duration::from_secs(31),
        "{at:?} vs {named_at:?}"
    );
    assert_eq!(back[0].partitions, vec![(p0.clone(), 10)]);
    assert!(all.iter().any(|r| r.broker == 2 && r.at > at));
    assert_eq!(cluster.offsets_of(&p0), (0..10).collect::<Vec<_>>());
}

#[test]
fn fetch_sessions_follow_the_partition_across_nodes() {
    let mut cluster = cluster(Profile::modern(), 2);
    cluster.fetch_sessions.mode = SessionMode::Kafka;
    let (p0, p1) = (tp("t", 0), tp("t", 1));
    cluster.fill(&p1, 6, 2);
    let mut consumer =
        cluster.consumer(config(&cluster, "rack2").metadata_max_age(Duration::from_secs(30)));
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.offsets_of(&p0).len() == 10 && c.offsets_of(&p1).len() == 6,
        2000,
    );
    cluster.fill(&p0, 4, 2);
    cluster.fill(&p1, 4, 2);
    cluster.run_for(&mut consumer, Duration::from_secs(40));
    cluster.fill(&p0, 4, 2);
    cluster.fill(&p1, 4, 2);
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    assert_eq!(cluster.offsets_of(&p0), (0..18).collect::<Vec<_>>());
    assert_eq!(cluster.offsets_of(&p1), (0..14).collect::<Vec<_>>());
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    let log = &cluster.fetch_sessions.log;
    // No session error: every incremental fetch was coherent with the broker's session.
    assert!(log.iter().all(|s| s.error == 0), "{log:?}");
    // Broker 1's session dropped t-0 when it moved (forgotten), and took it back after
    // the expiry; broker 2's only ever fetched t-0.
    let on1: Vec<_> = log.iter().filter(|s| s.broker == 1).collect();
    let forgot = on1
        .iter()
        .position(|s| s.forgotten.contains(&p0))
        .expect("broker 1 forgets t-0");
    let re_added = on1
        .iter()
        .skip(forgot)
        .position(|s| s.sent.iter().any(|(t, _)| *t == p0))
        .expect("broker 1 fetches t-0 again after the expiry");
    assert!(on1[forgot..forgot + re_added]
        .iter()
        .all(|s| s.fetched.iter().all(|(t, _)| *t == p1)));
    assert!(log
        .iter()
        .filter(|s| s.broker == 2)
        .all(|s| s.fetched.iter().all(|(t, _)| *t == p0)));
}

/// Like librdkafka's mock, the leader names its follower even while it is down: the
/// consumer goes back and forth between them, paced by its backoffs, never in a loop on
/// the leader; once the leader stops naming it, the rest comes from the leader.
fn follower_down_but_still_named(unlist_down_brokers: bool) {
    let mut cluster = cluster(Profile::mock_cluster(), 1);
    cluster.replicas.name_any_follower = true;
    cluster.replicas.unlist_down_brokers = unlist_down_brokers;
    let p0 = tp("t", 0);
    let mut consumer = cluster.consumer(config(&cluster, "rack2"));
    consumer.assign([p0.clone()]).unwrap();
    read_all(&mut cluster, &mut consumer, 10);

    cluster.set_down(&mut consumer, 2, true);
    let before = fetches(&cluster).len();
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    let to_leader = fetches(&cluster)
        .iter()
        .skip(before)
        .filter(|r| r.broker == 1)
        .count();
    // Paced by the reconnect backoff (50 ms doubling) or retry.backoff.ms (100 ms).
    assert!(
        (1..=30).contains(&to_leader),
        "{to_leader} fetches to the leader in 2 s"
    );

    cluster.remove_follower(&p0, 2);
    cluster.fill(&p0, 10, 2);
    read_all(&mut cluster, &mut consumer, 20);
}

#[test]
fn follower_down_but_still_named_and_listed() {
    follower_down_but_still_named(false);
}

#[test]
fn follower_down_but_still_named_and_left_out_of_metadata() {
    follower_down_but_still_named(true);
}
