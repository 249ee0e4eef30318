//! Committing offsets in a group.
//!
//! * Auto-commit commits positions, and positions only move past what `poll_records`
//!   returned: records fetched and buffered but not handed out are never committed.
//! * Auto-commit runs before a revocation, so the next owner starts where this one stopped.
//! * A caller's commit completes with `CommitCompleted`; after the group rebalanced
//!   without this member it fails with `CommitFailed`; retriable errors are retried.
//! * `committed()` answers with `CommittedFetched`.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::{
    AutoOffsetReset, Consumer, ConsumerError, ErrorCode, Event, MemberState, OffsetAndMetadata,
    RequestId, TopicPartition,
};

const GROUP: &str = "billing";

fn cluster() -> TestCluster {
    let mut cluster = TestCluster::builder().topic("orders", 2).build();
    cluster.fill(&tp("orders", 0), 10, 5);
    cluster.fill(&tp("orders", 1), 10, 5);
    cluster
}

fn stable(c: &Consumer) -> bool {
    c.group()
        .is_some_and(|g| g.state() == MemberState::Stable && !g.needs_rejoin())
}

fn offset(o: i64) -> OffsetAndMetadata {
    OffsetAndMetadata {
        offset: o,
        leader_epoch: None,
        metadata: String::new(),
    }
}

/// A group member without auto-commit that has joined and received all 20 records.
fn member_with_all_records(cluster: &mut TestCluster) -> Consumer {
    let mut consumer = cluster.manual_commit_member(GROUP, "orders");
    cluster.drive(&mut consumer, |_, c| c.received.len() == 20, 300);
    consumer
}

/// The result of the caller's commit `id`, once completed.
fn commit_result(cluster: &TestCluster, id: RequestId) -> Option<Result<(), ConsumerError>> {
    cluster.events.iter().find_map(|e| match e {
        Event::CommitCompleted { id: i, result, .. } if *i == id => Some(result.clone()),
        _ => None,
    })
}

#[test]
fn auto_commit_commits_only_what_poll_returned() {
    let mut cluster = cluster();
    cluster.drain = false;
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .auto_commit_interval(Duration::from_secs(1)),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    // Everything gets fetched and buffered; nothing is handed out.
    cluster.drive(
        &mut consumer,
        |c, _| {
            stable(c)
                && c.position(&tp("orders", 0)).ok().flatten().is_some()
                && c.position(&tp("orders", 1)).ok().flatten().is_some()
                && c.has_buffered_records()
        },
        300,
    );
    cluster.run_for(&mut consumer, Duration::from_secs(3));
    let committed = |c: &TestCluster, p| c.groups.committed(GROUP, &tp("orders", p));
    assert_eq!(
        committed(&cluster, 0),
        Some(0),
        "buffered records are not committed"
    );
    assert_eq!(committed(&cluster, 1), Some(0));

    // The application takes 4 records (all of one partition's first batch, then some).
    let mut taken: Vec<(i32, i64)> = Vec::new();
    let mut records = consumer.poll_records(4).unwrap();
    records.extend(consumer.poll_records(3).unwrap());
    taken.extend(records.iter().map(|r| (r.partition, r.offset)));
    assert_eq!(taken.len(), 7);
    cluster.run_for(&mut consumer, Duration::from_secs(3));
    for p in 0..2 {
        let next = taken
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| o + 1)
            .max()
            .unwrap_or(0);
        assert_eq!(
            committed(&cluster, p),
            Some(next),
            "partition {p}: {taken:?}"
        );
    }
    // No commit ever went past what had been handed out.
    let handed_out_max = |p: i32| taken.iter().filter(|(q, _)| *q == p).count() as i64;
    for c in cluster.requests_of(ApiKey::OffsetCommit) {
        for (part, o) in &c.partitions {
            assert!(*o <= handed_out_max(part.partition), "{c:?}");
        }
    }
    // Nothing new consumed: no new commit either.
    let commits = cluster.count(ApiKey::OffsetCommit);
    cluster.run_for(&mut consumer, Duration::from_secs(5));
    assert_eq!(cluster.count(ApiKey::OffsetCommit), commits);
}

#[test]
fn auto_commit_runs_before_the_eager_revocation() {
    let mut cluster = cluster();
    let config = cluster
        .config()
        .group_id(GROUP)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .partition_assignment_strategy(["range"])
        // Only the commit before the revocation can commit anything here.
        .auto_commit_interval(Duration::from_secs(3600));
    let mut a = cluster.member("a", config.clone());
    a.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive_members(&mut [&mut a], |m, _| m[0].received.len() == 20, 300);
    assert_eq!(cluster.count(ApiKey::OffsetCommit), 0);

    let mut b = cluster.member("b", config);
    b.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);

    let commits = cluster.requests_of(ApiKey::OffsetCommit);
    assert_eq!(commits.len(), 1, "{commits:?}");
    let commit = &commits[0];
    assert_eq!(commit.client, a.client);
    assert_eq!(commit.generation, 1);
    let mut parts = commit.partitions.clone();
    parts.sort();
    assert_eq!(parts, [(tp("orders", 0), 10), (tp("orders", 1), 10)]);
    // Committed before a rejoined (and so before anyone got the partitions again).
    let rejoin = cluster
        .requests_of(ApiKey::JoinGroup)
        .into_iter()
        .find(|j| j.client == a.client && j.member_id == a.member_id() && j.at >= commit.at)
        .unwrap();
    assert!(rejoin.correlation_id > commit.correlation_id);
    // b got a partition and had nothing left to read in it.
    cluster.run_members_for(&mut [&mut a, &mut b], Duration::from_secs(2));
    assert!(b.received.is_empty(), "{:?}", b.received);
    assert_eq!(b.owned().len(), 1);
}

#[test]
fn commit_completes_and_is_stored() {
    let mut cluster = cluster();
    let mut consumer = member_with_all_records(&mut cluster);
    assert_eq!(cluster.count(ApiKey::OffsetCommit), 0, "no auto-commit");

    let offsets = consumer.consumed_offsets();
    assert_eq!(offsets.len(), 2);
    let id = consumer.commit(offsets).unwrap();
    cluster.drive(&mut consumer, |_, c| commit_result(c, id).is_some(), 100);
    assert_eq!(commit_result(&cluster, id), Some(Ok(())));
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 0)), Some(10));
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 1)), Some(10));
    let c = &cluster.requests_of(ApiKey::OffsetCommit)[0];
    assert_eq!(c.generation, 1);
    assert_eq!(
        c.member_id,
        consumer.group().unwrap().generation().member_id
    );
}

#[test]
fn commit_fails_after_the_group_rebalanced_without_the_member() {
    let mut cluster = cluster();
    let config = cluster
        .config()
        .group_id(GROUP)
        .enable_auto_commit(false)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .session_timeout(Duration::from_secs(10))
        .heartbeat_interval(Duration::from_secs(1));
    let mut a = cluster.member("a", config.clone());
    let mut b = cluster.member("b", config);
    a.subscribe(["orders".to_owned()]).unwrap();
    b.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
    cluster.drive_members(
        &mut [&mut a, &mut b],
        |m, _| m[0].received.len() + m[1].received.len() == 20,
        300,
    );
    let a_id = a.member_id();

    // a stops polling (a long processing pause); its session ends and b takes over.
    cluster.settle(&mut [&mut b], GROUP, 1000);
    assert_eq!(b.owned().len(), 2);
    assert!(cluster.groups.group(GROUP).unwrap().member(&a_id).is_none());

    // a comes back and commits what it processed: refused, the group has moved on.
    let offsets = a.consumed_offsets();
    let id = a.commit(offsets).unwrap();
    cluster.drive_members(
        &mut [&mut a],
        |m, _| {
            m[0].events
                .iter()
                .any(|e| matches!(e, Event::CommitCompleted { id: i, .. } if *i == id))
        },
        100,
    );
    let result = a
        .events
        .iter()
        .find_map(|e| match e {
            Event::CommitCompleted { id: i, result, .. } if *i == id => Some(result.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        matches!(result, Err(ConsumerError::CommitFailed { .. })),
        "{result:?}"
    );
    // Then it finds out it lost its partitions and joins again.
    cluster.settle(&mut [&mut a, &mut b], GROUP, 1000);
    assert!(a
        .events
        .iter()
        .any(|e| matches!(e, Event::PartitionsLost(p) if p.len() == 1)));
    assert_ne!(a.member_id(), a_id);
}

#[test]
fn commit_queued_during_a_rebalance_fails_instead_of_going_out_in_the_next_generation() {
    let mut cluster = cluster();
    let mut consumer = member_with_all_records(&mut cluster);
    cluster.inject_error(ApiKey::Heartbeat, ErrorCode::RebalanceInProgress);
    cluster.hold_next(ApiKey::JoinGroup);
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 100);
    assert_eq!(consumer.group().unwrap().state(), MemberState::Joining);

    // Offsets of generation 1 (eager: already revoked) committed mid-rebalance.
    let id = consumer.commit(vec![(tp("orders", 0), offset(4))]).unwrap();
    cluster.release_held();
    cluster.drive(
        &mut consumer,
        |c, cl| stable(c) && commit_result(cl, id).is_some(),
        100,
    );
    assert!(
        matches!(
            commit_result(&cluster, id),
            Some(Err(ConsumerError::CommitFailed { .. }))
        ),
        "{:?}",
        cluster.events
    );
    assert_eq!(cluster.count(ApiKey::OffsetCommit), 0, "never sent");
    assert_eq!(consumer.group().unwrap().generation().generation_id, 2);
}

#[test]
fn retriable_commit_errors_are_retried_until_the_commit_lands() {
    for code in [
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::NotCoordinator,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::RequestTimedOut,
    ] {
        let mut cluster = cluster();
        let mut consumer = member_with_all_records(&mut cluster);
        cluster.inject_error(ApiKey::OffsetCommit, code);
        let id = consumer.commit(consumer.consumed_offsets()).unwrap();
        cluster.drive(&mut consumer, |_, c| commit_result(c, id).is_some(), 200);
        assert_eq!(commit_result(&cluster, id), Some(Ok(())), "{code}");
        assert_eq!(cluster.count(ApiKey::OffsetCommit), 2, "{code}");
        assert_eq!(
            cluster.groups.committed(GROUP, &tp("orders", 1)),
            Some(10),
            "{code}"
        );
        let lookups = cluster.count(ApiKey::FindCoordinator);
        let rediscover = code.needs_coordinator_lookup();
        assert_eq!(lookups, if rediscover { 2 } else { 1 }, "{code}");
    }
}

#[test]
fn non_retriable_commit_error_is_reported() {
    // A refused leader epoch (librdkafka 2.16's mock checks it after a leader move) is
    // refused again on every retry of the same offsets: reported at once, as in Java.
    for code in [
        ErrorCode::OffsetMetadataTooLarge,
        ErrorCode::FencedLeaderEpoch,
        ErrorCode::UnknownLeaderEpoch,
    ] {
        let mut cluster = cluster();
        let mut consumer = member_with_all_records(&mut cluster);
        cluster.inject_error(ApiKey::OffsetCommit, code);
        let id = consumer.commit(consumer.consumed_offsets()).unwrap();
        cluster.drive(&mut consumer, |_, c| commit_result(c, id).is_some(), 100);
        assert_eq!(
            commit_result(&cluster, id),
            Some(Err(ConsumerError::Group {
                api: "OffsetCommit",
                group: GROUP.to_owned(),
                code,
            })),
            "{code}"
        );
        assert_eq!(
            cluster.count(ApiKey::OffsetCommit),
            1,
            "{code}: not retried"
        );
    }
}

#[test]
fn committed_returns_offsets_and_metadata() {
    let mut cluster = cluster();
    let mut consumer = member_with_all_records(&mut cluster);
    let with_meta = OffsetAndMetadata {
        offset: 7,
        leader_epoch: Some(0),
        metadata: "checkpoint-7".to_owned(),
    };
    let id = consumer
        .commit(vec![(tp("orders", 0), with_meta.clone())])
        .unwrap();
    cluster.drive(&mut consumer, |_, c| commit_result(c, id).is_some(), 100);

    let asked: Vec<TopicPartition> = vec![tp("orders", 0), tp("orders", 1), tp("other", 0)];
    let q = consumer.committed(asked.clone()).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| {
            c.events
                .iter()
                .any(|e| matches!(e, Event::CommittedFetched { id, .. } if *id == q))
        },
        100,
    );
    let answer = cluster
        .events
        .iter()
        .find_map(|e| match e {
            Event::CommittedFetched { id, offsets } if *id == q => Some(offsets.clone()),
            _ => None,
        })
        .unwrap()
        .unwrap();
    assert_eq!(
        answer,
        vec![
            (tp("orders", 0), Some(with_meta)),
            (tp("orders", 1), None),
            (tp("other", 0), None),
        ]
    );
}
