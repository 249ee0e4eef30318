//! Group behaviours that follow the Java consumer:
//!
//! * `commit_async` is never retried (an older retried commit must not overwrite a newer
//!   one): a retriable error completes it with that error; `commit` retries it.
//! * A commit refused because the group moved on (REBALANCE_IN_PROGRESS,
//!   ILLEGAL_GENERATION) makes the member rejoin.
//! * `assign` with a `group.id` starts each partition at its committed offset; partitions
//!   without one follow `auto.offset.reset`.
//! * The leader rejoins when a subscribed topic gains partitions, so they get an owner.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Member, TestCluster};
use consumer_core::{
    AutoOffsetReset, Consumer, ConsumerError, ErrorCode, Event, MemberState, RequestId,
};

const GROUP: &str = "billing";

fn cluster(partitions: usize) -> TestCluster {
    let mut cluster = TestCluster::builder().topic("orders", partitions).build();
    for p in 0..partitions as i32 {
        cluster.fill(&tp("orders", p), 10, 5);
    }
    cluster
}

fn stable(c: &Consumer) -> bool {
    c.group()
        .is_some_and(|g| g.state() == MemberState::Stable && !g.needs_rejoin())
}

/// A single member that has read both partitions and commits only when asked.
fn reader_of_everything() -> (TestCluster, Consumer) {
    let mut cluster = cluster(2);
    let mut consumer = cluster.manual_commit_member(GROUP, "orders");
    cluster.drive(
        &mut consumer,
        |c, cl| stable(c) && cl.received.len() == 20,
        300,
    );
    assert_eq!(cluster.count(ApiKey::OffsetCommit), 0, "no auto-commit");
    (cluster, consumer)
}

/// The result of the caller's commit `id`, once completed.
fn commit_result(cluster: &TestCluster, id: RequestId) -> Option<Result<(), ConsumerError>> {
    cluster.events.iter().find_map(|e| match e {
        Event::CommitCompleted { id: i, result, .. } if *i == id => Some(result.clone()),
        _ => None,
    })
}

#[test]
fn commit_async_is_not_retried_but_commit_is() {
    let (mut cluster, mut consumer) = reader_of_everything();

    // The coordinator is still loading the group's offsets when the async commit arrives.
    cluster.inject_error(ApiKey::OffsetCommit, ErrorCode::CoordinatorLoadInProgress);
    let id = consumer.commit_async(consumer.consumed_offsets()).unwrap();
    cluster.drive(&mut consumer, |_, c| commit_result(c, id).is_some(), 100);
    assert_eq!(
        commit_result(&cluster, id),
        Some(Err(ConsumerError::Group {
            api: "OffsetCommit",
            group: GROUP.to_owned(),
            code: ErrorCode::CoordinatorLoadInProgress,
        }))
    );
    // Well past any retry backoff: the broker saw it once, and nothing was stored.
    cluster.run_for(&mut consumer, Duration::from_secs(5));
    assert_eq!(cluster.count(ApiKey::OffsetCommit), 1, "not retried");
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 0)), None);

    // The same error on a synchronous commit: retried until it lands.
    cluster.inject_error(ApiKey::OffsetCommit, ErrorCode::CoordinatorLoadInProgress);
    let id = consumer.commit(consumer.consumed_offsets()).unwrap();
    cluster.drive(&mut consumer, |_, c| commit_result(c, id).is_some(), 100);
    assert_eq!(commit_result(&cluster, id), Some(Ok(())));
    assert_eq!(cluster.count(ApiKey::OffsetCommit), 3, "one retry");
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 0)), Some(10));
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 1)), Some(10));
}

#[test]
fn a_commit_refused_because_the_group_moved_on_makes_the_member_rejoin() {
    for code in [ErrorCode::RebalanceInProgress, ErrorCode::IllegalGeneration] {
        let (mut cluster, mut consumer) = reader_of_everything();
        let joins = cluster.count(ApiKey::JoinGroup);
        let member_id = consumer.group().unwrap().generation().member_id.clone();
        assert_eq!(consumer.group().unwrap().generation().generation_id, 1);

        // The coordinator refuses the commit: as far as it knows, the group moved on.
        cluster.inject_error(ApiKey::OffsetCommit, code);
        let id = consumer.commit(consumer.consumed_offsets()).unwrap();
        cluster.drive(&mut consumer, |_, c| commit_result(c, id).is_some(), 100);
        assert!(
            matches!(
                commit_result(&cluster, id),
                Some(Err(ConsumerError::CommitFailed { .. }))
            ),
            "{code}: {:?}",
            cluster.events
        );
        assert!(consumer.group().unwrap().needs_rejoin(), "{code}");

        // Heartbeats alone would never say so (the group is stable): the refusal is what
        // sends the member back to JoinGroup, and it ends up in a new generation.
        cluster.drive(
            &mut consumer,
            |c, cl| stable(c) && cl.count(ApiKey::JoinGroup) > joins,
            300,
        );
        let commit_at = cluster.requests_of(ApiKey::OffsetCommit)[0].at;
        let rejoin = &cluster.requests_of(ApiKey::JoinGroup)[joins];
        assert!(rejoin.at >= commit_at, "{code}");
        assert!(
            consumer.group().unwrap().generation().generation_id > 1,
            "{code}"
        );
        assert_eq!(consumer.assignment().len(), 2, "{code}");
        let story = consumer_core::testing::story(&cluster.events);
        if code == ErrorCode::RebalanceInProgress {
            // Still a member: it gives its partitions up and rejoins under its id.
            assert_eq!(rejoin.member_id, member_id, "{code}");
            assert_eq!(
                story,
                ["assigned [0, 1]", "revoked [0, 1]", "assigned [0, 1]"],
                "{code}"
            );
        } else {
            // Its generation is gone: the partitions are lost (not revoked, no commit
            // could land any more) and it joins afresh, as after such a heartbeat answer.
            assert_eq!(rejoin.member_id, "", "{code}");
            assert_eq!(
                story,
                ["assigned [0, 1]", "lost [0, 1]", "assigned [0, 1]"],
                "{code}"
            );
        }
    }
}

#[test]
fn assign_with_a_group_id_starts_at_the_committed_offsets() {
    let mut cluster = cluster(2);
    // Partition 0 was read up to 4 by an earlier run; partition 1 never committed.
    cluster.groups.set_committed(GROUP, &tp("orders", 0), 4);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .enable_auto_commit(false)
            .auto_offset_reset(AutoOffsetReset::Latest),
    );
    consumer.assign([tp("orders", 0), tp("orders", 1)]).unwrap();
    let at = |c: &Consumer, p| c.position(&tp("orders", p)).unwrap().map(|f| f.offset);
    cluster.drive(
        &mut consumer,
        |c, _| at(c, 0).is_some() && at(c, 1).is_some(),
        300,
    );
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    // Partition 0 resumed at its commit; partition 1 followed auto.offset.reset (latest).
    assert_eq!(
        cluster.offsets_of(&tp("orders", 0)),
        (4..10).collect::<Vec<_>>()
    );
    assert_eq!(cluster.offsets_of(&tp("orders", 1)), Vec::<i64>::new());
    assert_eq!(at(&consumer, 0), Some(10));
    assert_eq!(at(&consumer, 1), Some(10));
    let fetched = cluster.requests_of(ApiKey::OffsetFetch);
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    // Only the partition without a commit was reset through ListOffsets.
    let listed: Vec<_> = cluster
        .requests_of(ApiKey::ListOffsets)
        .into_iter()
        .flat_map(|r| r.partitions)
        .map(|(tp, _)| tp)
        .collect();
    assert_eq!(listed, [tp("orders", 1)]);
    // A manual assignment never joins the group.
    assert_eq!(cluster.count(ApiKey::JoinGroup), 0);
}

#[test]
fn the_leader_rejoins_when_a_subscribed_topic_gains_partitions() {
    let mut cluster = cluster(2);
    let config = cluster
        .config()
        .group_id(GROUP)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .partition_assignment_strategy(["range"])
        .metadata_max_age(Duration::from_secs(5));
    let mut a = cluster.member("a", config.clone());
    a.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a], GROUP, 300);
    let mut b = cluster.member("b", config);
    b.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
    let leader = cluster.groups.group(GROUP).unwrap().leader.clone().unwrap();
    assert_eq!(leader, a.member_id());
    let generation = cluster.groups.group(GROUP).unwrap().generation;
    let owned = |m: &Member| m.owned().iter().map(|t| t.partition).collect::<Vec<_>>();
    assert_eq!((owned(&a), owned(&b)), (vec![0], vec![1]));
    let joins = cluster.count(ApiKey::JoinGroup);

    // An administrator adds a partition, with records in it.
    cluster.add_partitions("orders", 3);
    cluster.fill(&tp("orders", 2), 10, 5);
    let grown_at = cluster.elapsed();

    // After the next metadata refresh the leader sees 3 partitions where it assigned 2,
    // and rejoins; the new generation covers the new partition.
    cluster.run_members_for(&mut [&mut a, &mut b], Duration::from_secs(15));
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
    assert_eq!(
        cluster.groups.group(GROUP).unwrap().generation,
        generation + 1,
        "one rebalance\n{}",
        cluster.groups.log.join("\n")
    );
    let first_rejoin = &cluster.requests_of(ApiKey::JoinGroup)[joins];
    assert!(first_rejoin.at >= grown_at);
    assert_eq!(first_rejoin.client, a.client, "the leader asks first");
    assert_eq!(first_rejoin.member_id, leader);
    assert_eq!((owned(&a), owned(&b)), (vec![0, 1], vec![2]));

    // The new partition's records reach its new owner.
    cluster.run_members_for(&mut [&mut a, &mut b], Duration::from_secs(2));
    assert_eq!(b.offsets_of(&tp("orders", 2)), (0..10).collect::<Vec<_>>());
}
