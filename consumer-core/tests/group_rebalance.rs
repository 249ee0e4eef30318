//! Rebalancing between members: a second member joins (eager: everyone gives up
//! everything first; cooperative-sticky: only the partitions that move are given up, and
//! a follow-up rebalance hands them over), a member leaves and the others take over. No
//! partition is ever assigned to two members at once, and with auto-commit no record is
//! handed out twice across a handover.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, GroupState, Member, TestCluster};
use consumer_core::{AutoOffsetReset, Event};

const GROUP: &str = "billing";
const PARTITIONS: i32 = 4;

fn cluster() -> TestCluster {
    let mut cluster = TestCluster::builder()
        .topic("orders", PARTITIONS as usize)
        .build();
    for p in 0..PARTITIONS {
        cluster.fill(&tp("orders", p), 10, 5);
    }
    cluster
}

fn member(cluster: &mut TestCluster, name: &str, assignor: &str) -> Member {
    let config = cluster
        .config()
        .group_id(GROUP)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .partition_assignment_strategy([assignor]);
    let mut m = cluster.member(name, config);
    m.subscribe(["orders".to_owned()]).unwrap();
    m
}

fn story(m: &Member) -> Vec<String> {
    consumer_core::testing::story(&m.events)
}

fn partitions(m: &Member) -> Vec<i32> {
    m.owned().iter().map(|tp| tp.partition).collect()
}

/// Every partition is owned by exactly one of `members`.
fn assert_covered_once(members: &[&Member]) {
    let mut all: Vec<i32> = members.iter().flat_map(|m| partitions(m)).collect();
    all.sort();
    assert_eq!(all, (0..PARTITIONS).collect::<Vec<_>>());
}

/// Every record of every partition was handed out exactly once, by whichever member.
fn assert_each_record_once(cluster: &TestCluster, members: &[&Member]) {
    for p in 0..PARTITIONS {
        let part = tp("orders", p);
        let mut got: Vec<i64> = members.iter().flat_map(|m| m.offsets_of(&part)).collect();
        got.sort();
        let end = cluster.partition_state(&part).log_end;
        assert_eq!(got, (0..end).collect::<Vec<_>>(), "records of {part}");
    }
}

#[test]
fn eager_second_member_everyone_revokes_then_the_range_is_split() {
    let mut cluster = cluster();
    let mut a = member(&mut cluster, "a", "range");
    cluster.settle(&mut [&mut a], GROUP, 300);
    cluster.drive_members(&mut [&mut a], |m, _| m[0].received.len() == 40, 300);
    assert_eq!(story(&a), ["assigned [0, 1, 2, 3]"]);

    let mut b = member(&mut cluster, "b", "range");
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);

    // a gave up everything before rejoining, then got the first half; b the second.
    assert_eq!(
        story(&a),
        [
            "assigned [0, 1, 2, 3]",
            "revoked [0, 1, 2, 3]",
            "assigned [0, 1]"
        ]
    );
    assert_eq!(story(&b), ["assigned [2, 3]"]);
    let gens = cluster.groups.generations(GROUP);
    assert_eq!(gens.len(), 2);
    assert_eq!(gens[1].members, [a.member_id(), b.member_id()]);
    assert_eq!(gens[1].leader, a.member_id(), "the leader keeps leading");

    // a's revocation came before anyone got partitions of generation 2.
    let revoked_at = cluster
        .timeline
        .iter()
        .position(|(_, c, e)| *c == a.client && matches!(e, Event::PartitionsRevoked(_)))
        .expect("a revoked");
    let b_assigned_at = cluster
        .timeline
        .iter()
        .position(|(_, c, _)| *c == b.client)
        .expect("b assigned");
    assert!(revoked_at < b_assigned_at, "{:?}", cluster.timeline);

    // Auto-commit before the revocation: b starts where a stopped, nothing twice.
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 3)), Some(10));
    for p in 0..PARTITIONS {
        cluster.fill(&tp("orders", p), 5, 5);
    }
    cluster.drive_members(
        &mut [&mut a, &mut b],
        |m, _| m[0].received.len() + m[1].received.len() == 60,
        300,
    );
    cluster.run_members_for(&mut [&mut a, &mut b], Duration::from_secs(5));
    assert_each_record_once(&cluster, &[&a, &b]);
    assert_eq!(a.offsets_of(&tp("orders", 3)), (0..10).collect::<Vec<_>>());
    assert_eq!(b.offsets_of(&tp("orders", 3)), (10..15).collect::<Vec<_>>());
    assert!(
        cluster.ownership_conflicts.is_empty(),
        "{:?}",
        cluster.ownership_conflicts
    );
    assert_covered_once(&[&a, &b]);
}

#[test]
fn cooperative_second_member_only_moving_partitions_are_revoked() {
    let mut cluster = cluster();
    let mut a = member(&mut cluster, "a", "cooperative-sticky");
    cluster.settle(&mut [&mut a], GROUP, 300);
    cluster.drive_members(&mut [&mut a], |m, _| m[0].received.len() == 40, 300);

    let mut b = member(&mut cluster, "b", "cooperative-sticky");
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);

    // Generation 2: a keeps two partitions and gives up the other two (only those), b gets
    // nothing yet; generation 3 (the follow-up) hands them to b.
    let gens = cluster.groups.generations(GROUP);
    assert_eq!(gens.len(), 3, "join, rebalance, follow-up: {gens:?}");
    let kept = partitions(&a);
    assert_eq!(kept.len(), 2);
    let moved: Vec<i32> = (0..PARTITIONS).filter(|p| !kept.contains(p)).collect();
    assert_eq!(
        story(&a),
        [
            "assigned [0, 1, 2, 3]".to_owned(),
            format!("revoked {moved:?}"),
            "assigned []".to_owned(),
            "assigned []".to_owned(),
        ]
    );
    assert_eq!(
        story(&b),
        ["assigned []".to_owned(), format!("assigned {moved:?}")]
    );
    assert!(gens[1].assignment[&b.member_id()].is_empty());
    assert_eq!(gens[2].assignment[&b.member_id()].len(), 2);
    assert!(
        cluster.ownership_conflicts.is_empty(),
        "{:?}",
        cluster.ownership_conflicts
    );
    assert_covered_once(&[&a, &b]);

    // a never stopped owning what it kept: its positions there carried on.
    for p in &kept {
        assert_eq!(
            a.position(&tp("orders", *p)).unwrap().map(|x| x.offset),
            Some(10)
        );
    }
    for p in 0..PARTITIONS {
        cluster.fill(&tp("orders", p), 5, 5);
    }
    cluster.drive_members(
        &mut [&mut a, &mut b],
        |m, _| m[0].received.len() + m[1].received.len() == 60,
        300,
    );
    assert_each_record_once(&cluster, &[&a, &b]);
}

#[test]
fn member_leaves_the_others_take_over_without_waiting_for_its_session() {
    for assignor in ["range", "cooperative-sticky"] {
        let mut cluster = cluster();
        let mut a = member(&mut cluster, "a", assignor);
        let mut b = member(&mut cluster, "b", assignor);
        let mut c = member(&mut cluster, "c", assignor);
        cluster.settle(&mut [&mut a, &mut b, &mut c], GROUP, 800);
        assert_covered_once(&[&a, &b, &c]);
        let c_owned = partitions(&c);
        assert!(!c_owned.is_empty(), "{assignor}");

        let left_at = cluster.elapsed();
        let now = cluster.now();
        c.unsubscribe();
        c.leave_group(now);
        cluster.run_members_for(&mut [&mut c], Duration::ZERO);
        let leaves = cluster.requests_of(ApiKey::LeaveGroup);
        assert_eq!(leaves.len(), 1, "{assignor}");
        assert_eq!(leaves[0].client, c.client);
        assert_eq!(story(&c).last().unwrap(), &format!("revoked {c_owned:?}"));

        cluster.settle(&mut [&mut a, &mut b], GROUP, 800);
        let group = cluster.groups.group(GROUP).unwrap();
        assert_eq!(group.state, GroupState::Stable);
        assert_eq!(group.members.len(), 2);
        assert_covered_once(&[&a, &b]);
        assert!(
            cluster.elapsed() - left_at < Duration::from_secs(10),
            "{assignor}: took over at {:?}, left at {left_at:?}",
            cluster.elapsed()
        );
        assert!(
            cluster.ownership_conflicts.is_empty(),
            "{assignor}: {:?}",
            cluster.ownership_conflicts
        );
        assert!(
            !a.events
                .iter()
                .chain(&b.events)
                .any(|e| matches!(e, Event::PartitionsLost(_))),
            "{assignor}"
        );
    }
}

#[test]
fn members_join_one_by_one_then_leave_each_partition_has_one_owner() {
    for assignor in ["range", "roundrobin", "cooperative-sticky"] {
        let mut cluster = cluster();
        let mut a = member(&mut cluster, "a", assignor);
        let mut b = member(&mut cluster, "b", assignor);
        let mut c = member(&mut cluster, "c", assignor);
        cluster.settle(&mut [&mut a], GROUP, 300);
        cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
        cluster.settle(&mut [&mut a, &mut b, &mut c], GROUP, 800);
        assert_covered_once(&[&a, &b, &c]);
        let now = cluster.now();
        a.leave_group(now);
        cluster.run_members_for(&mut [&mut a], Duration::ZERO);
        a.close();
        cluster.settle(&mut [&mut b, &mut c], GROUP, 800);
        assert_covered_once(&[&b, &c]);
        for p in 0..PARTITIONS {
            cluster.fill(&tp("orders", p), 5, 5);
        }
        cluster.drive_members(
            &mut [&mut b, &mut c],
            |m, _| {
                (0..PARTITIONS).all(|p| {
                    m.iter()
                        .any(|x| x.offsets_of(&tp("orders", p)).last() == Some(&14))
                })
            },
            500,
        );
        assert!(
            cluster.ownership_conflicts.is_empty(),
            "{assignor}: {:?}",
            cluster.ownership_conflicts
        );
    }
}

#[test]
fn members_with_different_subscriptions_get_only_their_topics() {
    let mut cluster = cluster();
    cluster.create_topic("payments", 2);
    let mut a = member(&mut cluster, "a", "range");
    cluster.settle(&mut [&mut a], GROUP, 300);
    // b wants another topic, which the leader (a) has no metadata for yet.
    let config = cluster
        .config()
        .group_id(GROUP)
        .partition_assignment_strategy(["range"]);
    let mut b = cluster.member("b", config);
    b.subscribe(["payments".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
    assert_eq!(partitions(&a), [0, 1, 2, 3]);
    assert_eq!(b.owned(), [tp("payments", 0), tp("payments", 1)]);
    // a still consumes only its own topic.
    assert!(a.owned().iter().all(|p| p.topic == "orders"));
}

#[test]
fn a_subscription_change_during_a_join_is_not_lost() {
    let mut cluster = cluster();
    cluster.create_topic("payments", 2);
    let mut a = member(&mut cluster, "a", "range");
    // The join (after MEMBER_ID_REQUIRED) is held at the coordinator; meanwhile the
    // application subscribes to one more topic.
    cluster.drive_members(&mut [&mut a], |m, _| !m[0].member_id().is_empty(), 100);
    assert_eq!(cluster.count(ApiKey::JoinGroup), 1);
    cluster.hold_next(ApiKey::JoinGroup);
    cluster.drive_members(&mut [&mut a], |_, c| c.held() == 1, 100);
    a.subscribe(["orders".to_owned(), "payments".to_owned()])
        .unwrap();
    cluster.release_held();
    cluster.settle(&mut [&mut a], GROUP, 500);
    let mut want: Vec<_> = (0..PARTITIONS).map(|p| tp("orders", p)).collect();
    want.extend([tp("payments", 0), tp("payments", 1)]);
    want.sort();
    assert_eq!(a.owned(), want);
}
