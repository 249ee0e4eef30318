//! Joining a group alone: the consumer finds the coordinator, is told MEMBER_ID_REQUIRED
//! and joins again with the id it was given, leads, assigns every partition to itself,
//! syncs, and is stable. It then heartbeats every `heartbeat.interval.ms`, resumes each
//! partition from the group's committed offset, and falls back to `auto.offset.reset`
//! where nothing was committed.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, GroupState, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, ConsumerError, Event, MemberState};

const GROUP: &str = "billing";

fn cluster(profile: Profile) -> TestCluster {
    let mut cluster = TestCluster::builder()
        .profile(profile)
        .topic("orders", 3)
        .build();
    for p in 0..3 {
        cluster.fill(&tp("orders", p), 10, 5);
    }
    cluster
}

/// The group APIs the cluster saw, in order, with the member id they carried.
fn group_calls(cluster: &TestCluster) -> Vec<(ApiKey, String)> {
    cluster
        .requests
        .iter()
        .filter(|r| {
            matches!(
                r.api,
                ApiKey::FindCoordinator | ApiKey::JoinGroup | ApiKey::SyncGroup
            )
        })
        .map(|r| (r.api, r.member_id.clone()))
        .collect()
}

fn join_alone(profile: Profile, joins: usize) {
    let mut cluster = cluster(profile);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 30, 300);

    // The coordinator's view: one generation, led by our member, owning everything.
    let group = cluster.groups.group(GROUP).expect("group exists");
    assert_eq!(group.state, GroupState::Stable);
    assert_eq!(group.generation, 1);
    let gens = cluster.groups.generations(GROUP);
    assert_eq!(gens.len(), 1);
    let member_id = consumer.group().unwrap().generation().member_id.clone();
    assert_eq!(gens[0].leader, member_id);
    assert_eq!(gens[0].members, std::slice::from_ref(&member_id));
    assert_eq!(
        gens[0].assignment[&member_id],
        [tp("orders", 0), tp("orders", 1), tp("orders", 2)]
    );

    // The consumer's view.
    let g = consumer.group().unwrap();
    assert_eq!(g.state(), MemberState::Stable);
    assert_eq!(g.generation().generation_id, 1);
    let mut assigned = consumer.assignment();
    assigned.sort();
    assert_eq!(
        assigned,
        [tp("orders", 0), tp("orders", 1), tp("orders", 2)]
    );
    assert_eq!(cluster.events.len(), 1, "{:?}", cluster.events);
    match &cluster.events[0] {
        Event::PartitionsAssigned(p) => assert_eq!(p.len(), 3),
        other => panic!("expected the assignment, got {other:?}"),
    }

    // The conversation: lookup, join (twice with KIP-394), sync under the given id.
    let calls = group_calls(&cluster);
    let mut want = vec![(ApiKey::FindCoordinator, String::new())];
    if joins == 2 {
        want.push((ApiKey::JoinGroup, String::new()));
    }
    want.push((
        ApiKey::JoinGroup,
        if joins == 2 {
            member_id.clone()
        } else {
            String::new()
        },
    ));
    want.push((ApiKey::SyncGroup, member_id.clone()));
    assert_eq!(calls, want);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    for p in 0..3 {
        assert_eq!(
            cluster.offsets_of(&tp("orders", p)),
            (0..10).collect::<Vec<_>>()
        );
    }
}

#[test]
fn modern_broker_member_id_required_then_stable() {
    join_alone(Profile::modern(), 2);
}

#[test]
fn mock_cluster_versions_member_id_required_then_stable() {
    join_alone(Profile::mock_cluster(), 2);
}

#[test]
fn joingroup_v3_broker_gives_the_member_id_in_one_round() {
    join_alone(Profile::mock_cluster().with(ApiKey::JoinGroup, 0, 3), 1);
}

#[test]
fn heartbeats_every_heartbeat_interval_while_stable() {
    let mut cluster = cluster(Profile::modern());
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .heartbeat_interval(Duration::from_secs(2))
            .session_timeout(Duration::from_secs(10)),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive(
        &mut consumer,
        |c, _| c.group().unwrap().state() == MemberState::Stable,
        200,
    );
    let stable_at = cluster.elapsed();
    cluster.run_for(&mut consumer, Duration::from_secs(30));

    let beats: Vec<Duration> = cluster
        .requests_of(ApiKey::Heartbeat)
        .iter()
        .map(|r| r.at)
        .collect();
    assert!(
        (14..=15).contains(&beats.len()),
        "one heartbeat per 2 s over 30 s: {beats:?}"
    );
    assert!(beats[0] >= stable_at + Duration::from_secs(2), "{beats:?}");
    for pair in beats.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_secs(2) && gap < Duration::from_millis(2100),
            "heartbeat gap {gap:?} in {beats:?}"
        );
    }
    // Every heartbeat carries the generation and member id; none failed.
    let member_id = consumer.group().unwrap().generation().member_id.clone();
    assert!(cluster
        .requests_of(ApiKey::Heartbeat)
        .iter()
        .all(|r| r.generation == 1 && r.member_id == member_id));
    assert_eq!(cluster.count(ApiKey::JoinGroup), 2, "no rebalance");
    assert_eq!(consumer.group().unwrap().state(), MemberState::Stable);
}

#[test]
fn committed_offsets_are_fetched_on_assignment_and_reset_applies_elsewhere() {
    let mut cluster = cluster(Profile::modern());
    // The group committed before: partition 0 at 5, partition 1 at 2; nothing for 2.
    cluster.groups.set_committed(GROUP, &tp("orders", 0), 5);
    cluster.groups.set_committed(GROUP, &tp("orders", 1), 2);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Latest),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 5 + 8, 300);
    // Partition 2 starts at its end: only records written after the reset arrive.
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert!(cluster.offsets_of(&tp("orders", 2)).is_empty());
    cluster.fill(&tp("orders", 2), 3, 3);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 16, 100);

    assert_eq!(
        cluster.offsets_of(&tp("orders", 0)),
        (5..10).collect::<Vec<_>>()
    );
    assert_eq!(
        cluster.offsets_of(&tp("orders", 1)),
        (2..10).collect::<Vec<_>>()
    );
    assert_eq!(cluster.offsets_of(&tp("orders", 2)), [10, 11, 12]);

    // One OffsetFetch for the new assignment, before any reset; the reset only for the
    // partition without a commit.
    let fetches = cluster.requests_of(ApiKey::OffsetFetch);
    assert_eq!(fetches.len(), 1, "{fetches:?}");
    let mut asked: Vec<_> = fetches[0]
        .partitions
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    asked.sort();
    assert_eq!(asked, [tp("orders", 0), tp("orders", 1), tp("orders", 2)]);
    let resets: Vec<_> = cluster
        .requests_of(ApiKey::ListOffsets)
        .into_iter()
        .flat_map(|r| r.partitions)
        .collect();
    assert_eq!(resets, [(tp("orders", 2), -1)]);
    let first_reset = cluster.requests_of(ApiKey::ListOffsets)[0].at;
    assert!(fetches[0].at <= first_reset);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn no_commit_and_reset_none_fails_poll_until_the_application_seeks() {
    let mut cluster = cluster(Profile::modern());
    cluster.groups.set_committed(GROUP, &tp("orders", 1), 7);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::None),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.errors.len() >= 4, 300);
    // As in Java, poll fails (naming the partitions without a commit) until they are sought.
    let mut missing: Vec<_> = cluster
        .errors
        .iter()
        .map(|e| match e {
            ConsumerError::NoOffsetForPartition { tp } => tp.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    missing.sort();
    missing.dedup();
    assert_eq!(missing, [tp("orders", 0), tp("orders", 2)]);
    assert!(cluster.received.is_empty());

    consumer.seek(&tp("orders", 0), 8).unwrap();
    consumer.seek(&tp("orders", 2), 9).unwrap();
    let errors_before = cluster.errors.len();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 3 + 2 + 1, 100);
    assert_eq!(cluster.offsets_of(&tp("orders", 0)), [8, 9]);
    assert_eq!(cluster.offsets_of(&tp("orders", 1)), [7, 8, 9]);
    assert_eq!(cluster.offsets_of(&tp("orders", 2)), [9]);
    assert_eq!(cluster.errors.len(), errors_before, "no error once sought");
    assert_eq!(cluster.count(ApiKey::ListOffsets), 0);
}
