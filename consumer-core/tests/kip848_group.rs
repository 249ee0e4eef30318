//! KIP-848 consumer groups (`group.protocol=consumer`) on the simulated cluster, whose
//! coordinator assigns partitions itself: members join and leave one at a time and only
//! the partitions that move change hands, each only after its owner gave it up; the
//! others keep consuming throughout. Fencing, a coordinator move, static membership and
//! a broker without the protocol.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Member, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, ConsumerError, ErrorCode, Event, GroupProtocol};

const GROUP: &str = "billing";
const PARTITIONS: i32 = 6;

fn cluster_with(profile: Profile) -> TestCluster {
    let mut cluster = TestCluster::builder()
        .profile(profile)
        .brokers(3)
        .topic("orders", PARTITIONS as usize)
        .build();
    for p in 0..PARTITIONS {
        cluster.fill(&tp("orders", p), 10, 5);
    }
    cluster
}

fn cluster() -> TestCluster {
    cluster_with(Profile::modern())
}

fn member_with(cluster: &mut TestCluster, name: &str, instance: Option<&str>) -> Member {
    let mut config = cluster
        .config()
        .group_id(GROUP)
        .group_protocol(GroupProtocol::Consumer)
        .auto_offset_reset(AutoOffsetReset::Earliest);
    if let Some(id) = instance {
        config = config.group_instance_id(id);
    }
    let mut m = cluster.member(name, config);
    m.subscribe(["orders".to_owned()]).unwrap();
    m
}

fn member(cluster: &mut TestCluster, name: &str) -> Member {
    member_with(cluster, name, None)
}

/// Drives `members` until the coordinator's group has them all, reconciled.
fn settle(cluster: &mut TestCluster, members: &mut [&mut Member]) {
    let n = members.len();
    cluster.drive_members(
        members,
        |ms, c| {
            c.groups
                .consumer_group(GROUP)
                .is_some_and(|g| g.is_stable() && g.members.len() == n)
                && ms.iter().all(|m| m.is_stable())
                && owned_count(ms) == PARTITIONS as usize
        },
        3000,
    );
    let mut all: Vec<i32> = members.iter().flat_map(|m| partitions(m)).collect();
    all.sort();
    assert_eq!(
        all,
        (0..PARTITIONS).collect::<Vec<_>>(),
        "every partition owned once: {}",
        cluster.members_summary(members)
    );
}

fn owned_count(ms: &[&mut Member]) -> usize {
    ms.iter().map(|m| m.owned().len()).sum()
}

fn partitions(m: &Member) -> Vec<i32> {
    m.owned().iter().map(|tp| tp.partition).collect()
}

fn total(ms: &[&mut Member]) -> usize {
    ms.iter().map(|m| m.received.len()).sum()
}

/// Every record of every partition was handed out at least once, in order within each
/// member, and (when `exactly`) exactly once overall.
fn assert_records(cluster: &TestCluster, members: &[&Member], exactly: bool) {
    for p in 0..PARTITIONS {
        let part = tp("orders", p);
        let mut got: Vec<i64> = members.iter().flat_map(|m| m.offsets_of(&part)).collect();
        got.sort();
        if !exactly {
            got.dedup();
        }
        let end = cluster.partition_state(&part).log_end;
        assert_eq!(got, (0..end).collect::<Vec<_>>(), "records of {part}");
    }
}

fn assert_no_conflicts(cluster: &TestCluster) {
    assert!(
        cluster.ownership_conflicts.is_empty(),
        "a partition held by two members at once: {:?}",
        cluster.ownership_conflicts
    );
    let violations = cluster.groups.ownership_violations(GROUP);
    assert!(violations.is_empty(), "{violations:?}");
}

fn fill_all(cluster: &mut TestCluster, n: usize) {
    for p in 0..PARTITIONS {
        cluster.fill(&tp("orders", p), n, 5);
    }
}

#[test]
fn members_join_one_at_a_time_and_only_moved_partitions_change_hands() {
    let mut cluster = cluster();
    let mut a = member(&mut cluster, "a");
    settle(&mut cluster, &mut [&mut a]);
    cluster.drive_members(&mut [&mut a], |m, _| total(m) == 60, 500);
    assert_eq!(partitions(&a), (0..PARTITIONS).collect::<Vec<_>>());
    let joined = cluster.count(ApiKey::ConsumerGroupHeartbeat);
    assert!(joined >= 1);
    assert_eq!(cluster.count(ApiKey::JoinGroup), 0, "no classic rebalance");

    // b joins: a gives up half, keeps the rest, never stops owning those.
    let mut b = member(&mut cluster, "b");
    settle(&mut cluster, &mut [&mut a, &mut b]);
    assert_eq!(a.owned().len(), 3);
    assert_eq!(b.owned().len(), 3);
    let a_story = consumer_core::testing::story(&a.events);
    assert_eq!(
        a_story.len(),
        2,
        "assigned all, then revoked only what moved: {a_story:?}"
    );
    assert!(a_story[1].starts_with("revoked"), "{a_story:?}");
    assert!(
        !a.events
            .iter()
            .any(|e| matches!(e, Event::PartitionsLost(_))),
        "nothing lost"
    );

    // c joins while records keep coming: a and b keep consuming what they keep.
    let a_kept = a.owned();
    let mut c = member(&mut cluster, "c");
    fill_all(&mut cluster, 5);
    settle(&mut cluster, &mut [&mut a, &mut b, &mut c]);
    for m in [&a, &b, &c] {
        assert_eq!(m.owned().len(), 2, "{}: {:?}", m.name, m.owned());
    }
    fill_all(&mut cluster, 5);
    cluster.drive_members(&mut [&mut a, &mut b, &mut c], |m, _| total(m) == 120, 2000);
    cluster.run_members_for(&mut [&mut a, &mut b, &mut c], Duration::from_secs(6));
    // Partitions a kept through both joins were read by a alone, with no gap.
    for part in a_kept.iter().filter(|tp| a.owned().contains(tp)) {
        let end = cluster.partition_state(part).log_end;
        assert_eq!(a.offsets_of(part), (0..end).collect::<Vec<_>>(), "{part}");
    }
    assert_records(&cluster, &[&a, &b, &c], true);
    assert_no_conflicts(&cluster);
}

#[test]
fn a_member_leaving_hands_its_partitions_to_the_others() {
    let mut cluster = cluster();
    let mut a = member(&mut cluster, "a");
    let mut b = member(&mut cluster, "b");
    settle(&mut cluster, &mut [&mut a, &mut b]);
    cluster.drive_members(&mut [&mut a, &mut b], |m, _| total(m) == 60, 1000);
    // b commits what it read and leaves (epoch -1).
    cluster.commit_consumed(&mut [&mut a, &mut b], 1, 200);
    cluster.leave_and_close(&mut b);
    assert!(cluster
        .groups
        .consumer_group(GROUP)
        .unwrap()
        .member(&b.member_id())
        .is_none());

    settle(&mut cluster, &mut [&mut a]);
    fill_all(&mut cluster, 3);
    // a had read its half (30); now b's half from b's commit, plus the new 18.
    cluster.drive_members(&mut [&mut a], |m, _| total(m) == 30 + 18, 1000);
    cluster.run_members_for(&mut [&mut a], Duration::from_secs(6));
    assert_records(&cluster, &[&a, &b], true);
    assert_no_conflicts(&cluster);
}

#[test]
fn a_fenced_member_loses_its_partitions_rejoins_and_nothing_is_lost() {
    let mut cluster = cluster();
    let mut a = member(&mut cluster, "a");
    let mut b = member(&mut cluster, "b");
    settle(&mut cluster, &mut [&mut a, &mut b]);
    cluster.drive_members(&mut [&mut a, &mut b], |m, _| total(m) == 60, 1000);

    cluster.on_next_from(
        a.client,
        ApiKey::ConsumerGroupHeartbeat,
        consumer_core::testing::Action::Error(ErrorCode::FencedMemberEpoch.code()),
    );
    fill_all(&mut cluster, 4);
    cluster.drive_members(
        &mut [&mut a, &mut b],
        |m, _| {
            m[0].events
                .iter()
                .any(|e| matches!(e, Event::PartitionsLost(_)))
        },
        1000,
    );
    settle(&mut cluster, &mut [&mut a, &mut b]);
    fill_all(&mut cluster, 2);
    cluster.drive_members(&mut [&mut a, &mut b], |m, _| total(m) >= 96, 2000);
    cluster.run_members_for(&mut [&mut a, &mut b], Duration::from_secs(6));
    // At least once: what a read after its last auto-commit may be read again.
    assert_records(&cluster, &[&a, &b], false);
    assert_no_conflicts(&cluster);
}

#[test]
fn a_coordinator_move_is_survived_without_a_rebalance() {
    let mut cluster = cluster();
    let mut a = member(&mut cluster, "a");
    let mut b = member(&mut cluster, "b");
    settle(&mut cluster, &mut [&mut a, &mut b]);
    cluster.drive_members(&mut [&mut a, &mut b], |m, _| total(m) == 60, 1000);
    let before = (a.owned(), b.owned());
    let old = cluster.groups.coordinator_of(GROUP);
    let new = old % 3 + 1;
    cluster.groups.move_coordinator(GROUP, new);
    fill_all(&mut cluster, 3);
    cluster.drive_members(&mut [&mut a, &mut b], |m, _| total(m) == 78, 2000);
    cluster.run_members_for(&mut [&mut a, &mut b], Duration::from_secs(12));
    assert_eq!((a.owned(), b.owned()), before, "the same partitions");
    for m in [&a, &b] {
        assert_eq!(
            m.group()
                .and_then(|g| g.coordinator())
                .map(|n| i32::MAX - n.id),
            Some(new)
        );
        assert!(!m
            .events
            .iter()
            .any(|e| matches!(e, Event::PartitionsLost(_))));
    }
    assert_records(&cluster, &[&a, &b], true);
    assert_no_conflicts(&cluster);
}

#[test]
fn a_static_member_restarted_keeps_its_partitions() {
    let mut cluster = cluster();
    let mut a = member_with(&mut cluster, "a", Some("host-a"));
    let mut b = member_with(&mut cluster, "b", Some("host-b"));
    settle(&mut cluster, &mut [&mut a, &mut b]);
    cluster.drive_members(&mut [&mut a, &mut b], |m, _| total(m) == 60, 1000);
    let a_parts = a.owned();
    cluster.commit_consumed(&mut [&mut a, &mut b], 0, 200);
    cluster.leave_and_close(&mut a);

    // Back five seconds later as a new process with the same instance id.
    cluster.run_members_for(&mut [&mut b], Duration::from_secs(5));
    let b_events = b.events.len();
    let mut a2 = member_with(&mut cluster, "a2", Some("host-a"));
    settle(&mut cluster, &mut [&mut a2, &mut b]);
    assert_eq!(a2.owned(), a_parts, "the same partitions");
    assert_eq!(
        b.events.len(),
        b_events,
        "b noticed nothing: {:?}",
        b.events
    );

    for p in &a_parts {
        cluster.fill(p, 2, 2);
    }
    cluster.drive_members(
        &mut [&mut a2, &mut b],
        |m, _| m[0].received.len() == 2 * a_parts.len(),
        500,
    );
    for p in &a_parts {
        assert_eq!(a2.offsets_of(p), [10, 11], "{p} resumes at the commit");
    }
    assert_no_conflicts(&cluster);
}

#[test]
fn a_pattern_subscription_is_matched_by_the_coordinator() {
    let mut cluster = TestCluster::builder()
        .topic("orders-eu", 2)
        .topic("orders-us", 2)
        .topic("refunds", 2)
        .build();
    let config = cluster
        .config()
        .group_id(GROUP)
        .group_protocol(GroupProtocol::Consumer)
        .auto_offset_reset(AutoOffsetReset::Earliest);
    let mut a = cluster.member("a", config);
    a.subscribe_pattern("orders-.*").unwrap();
    cluster.drive_members(&mut [&mut a], |m, _| m[0].owned().len() == 4, 2000);
    let topics: Vec<String> = a.owned().iter().map(|tp| tp.topic.clone()).collect();
    assert_eq!(topics, ["orders-eu", "orders-eu", "orders-us", "orders-us"]);
    let g = cluster.groups.consumer_group(GROUP).unwrap();
    let m = g.member(&a.member_id()).unwrap();
    assert_eq!(m.subscribed_regex.as_deref(), Some("orders-.*"));
}

#[test]
fn a_broker_without_the_protocol_is_a_clear_error() {
    let mut cluster = cluster_with(Profile::mock_cluster());
    let mut a = member(&mut cluster, "a");
    cluster.drive_members(&mut [&mut a], |m, _| !m[0].errors.is_empty(), 500);
    let first = a.errors.first().expect("an error").to_string();
    assert!(first.contains("ConsumerGroupHeartbeat"), "{first}");
    // The member gives up for good: it says why at every poll, and sends nothing.
    match a.group().and_then(|g| g.fatal_error()) {
        Some(ConsumerError::Group { api, code, .. }) => {
            assert_eq!(*api, "ConsumerGroupHeartbeat");
            assert_eq!(*code, ErrorCode::UnsupportedVersion);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cluster.count(ApiKey::ConsumerGroupHeartbeat), 0);
}

#[test]
fn a_poll_interval_overrun_leaves_loses_and_rejoins() {
    let mut cluster = cluster();
    let config = cluster
        .config()
        .group_id(GROUP)
        .group_protocol(GroupProtocol::Consumer)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_interval(Duration::from_secs(5));
    let mut a = cluster.member("a", config);
    a.subscribe(["orders".to_owned()]).unwrap();
    let mut b = member(&mut cluster, "b");
    settle(&mut cluster, &mut [&mut a, &mut b]);
    let a_id = a.member_id();
    let a_had = a.owned();

    // a's application is busy for 6 s: no poll at all.
    cluster.advance(Duration::from_secs(6));
    cluster.step_member(&mut a);
    let leaves: Vec<_> = cluster
        .requests_of(ApiKey::ConsumerGroupHeartbeat)
        .into_iter()
        .filter(|r| r.client == a.client && r.generation == -1)
        .collect();
    assert_eq!(leaves.len(), 1, "left with epoch -1");
    assert!(
        matches!(
            a.errors.as_slice(),
            [ConsumerError::MaxPollIntervalExceeded { .. }]
        ),
        "{:?}",
        a.errors
    );
    assert!(a
        .events
        .iter()
        .any(|e| matches!(e, Event::PartitionsLost(l) if *l == a_had)));

    // It joins again (same member id) and the two share the work again.
    settle(&mut cluster, &mut [&mut a, &mut b]);
    assert_eq!(a.member_id(), a_id);
    assert_no_conflicts(&cluster);
}

#[test]
fn commits_and_offset_lookups_name_the_member_and_its_epoch() {
    let mut cluster = cluster();
    let mut a = member(&mut cluster, "a");
    settle(&mut cluster, &mut [&mut a]);
    cluster.drive_members(&mut [&mut a], |m, _| total(m) == 60, 500);
    let id = a.member_id();
    let epoch = a.group().unwrap().generation().generation_id;
    assert!(epoch > 0);
    let fetches = cluster.requests_of(ApiKey::OffsetFetch);
    assert!(!fetches.is_empty());
    for f in &fetches {
        assert!(f.version >= 9, "OffsetFetch v{}", f.version);
        assert_eq!((f.member_id.as_str(), f.generation), (id.as_str(), epoch));
    }
    cluster.commit_consumed(&mut [&mut a], 0, 200);
    let commit = cluster.requests_of(ApiKey::OffsetCommit);
    let last = commit.last().expect("a commit");
    assert_eq!(last.version, 9);
    assert_eq!(
        (last.member_id.as_str(), last.generation),
        (id.as_str(), epoch)
    );
}
