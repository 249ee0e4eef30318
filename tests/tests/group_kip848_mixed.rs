//! A KIP-848 group (`group.protocol=consumer`) shared by the library and
//! librdkafka 2.16 (confluent-kafka) on librdkafka 2.16's mock cluster: the
//! coordinator splits a 6-partition topic between them with no partition
//! owned twice; members joining and leaving one at a time move only the
//! partitions that change owner while the others keep reading theirs without
//! a gap; a static member restarted gets its partitions back; an injected
//! FENCED_MEMBER_EPOCH and a coordinator move lose nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::api_key::CONSUMER_GROUP_HEARTBEAT;
use integration_tests::{
    assert_no_member_errors, check_group, init_logging, kip848_cluster, kip848_props, produce_wave,
    rdkafka_kip848_member, wait_for_history, CommitPolicy, CoordinatorType, Expected, GroupHistory,
    LibraryMember, MemberLog, MemberSpec, MockCluster, ProcessMember,
};

const PARTITIONS: i32 = 6;
/// Bound for one assignment change: a few heartbeats (500 ms) apart.
const REBALANCE: Duration = Duration::from_secs(40);
/// FENCED_MEMBER_EPOCH.
const FENCED_MEMBER_EPOCH: i32 = 110;

fn start(topic: &str) -> (MockCluster, Expected) {
    kip848_cluster(topic, PARTITIONS, 600)
}

fn produce(cluster: &MockCluster, topic: &str, expected: &mut Expected, n: usize, tag: &str) {
    produce_wave(cluster, topic, PARTITIONS, expected, n, tag);
}

fn ours(
    name: &str,
    cluster: &MockCluster,
    topic: &str,
    group: &str,
    instance: Option<&str>,
) -> LibraryMember {
    let commits = CommitPolicy::Manual { every: 25 };
    LibraryMember::start(MemberSpec {
        name: name.to_owned(),
        bootstrap: cluster.bootstrap(),
        topics: vec![topic.to_owned()],
        props: kip848_props(group, commits, instance),
        commits,
        poll_delay: Duration::from_millis(5),
    })
}

fn rdkafka(name: &str, cluster: &MockCluster, topic: &str, group: &str) -> ProcessMember {
    rdkafka_kip848_member(name, cluster, topic, group)
}

fn check(what: &str, h: &GroupHistory, expected: &Expected, logs: &[&MemberLog], allow_lost: bool) {
    check_group(what, h, expected, PARTITIONS, logs, allow_lost);
}

/// Partitions `member` owned in one unbroken interval from `before` (an
/// earlier history) to now: kept through whatever happened in between.
fn kept(before: &GroupHistory, now: &GroupHistory, member: &str) -> Vec<i32> {
    let then: BTreeSet<i32> = before.owned_by(member).into_iter().collect();
    now.owned_by(member)
        .into_iter()
        .filter(|p| then.contains(p))
        .filter(|p| {
            now.intervals
                .iter()
                .filter(|i| i.member == member && i.partition == *p)
                .count()
                == before
                    .intervals
                    .iter()
                    .filter(|i| i.member == member && i.partition == *p)
                    .count()
        })
        .collect()
}

/// `member` read every record of partition `p` in one interval, from its
/// first offset to `end`, without a gap.
fn assert_read_through(h: &GroupHistory, member: &str, p: i32, end: i64) {
    let i = h
        .intervals
        .iter()
        .rev()
        .find(|i| i.member == member && i.partition == p)
        .unwrap_or_else(|| panic!("{member} never owned {p}\n{}", h.describe()));
    let first = i.offsets.first().copied().unwrap_or(end);
    assert_eq!(
        i.offsets,
        (first..end).collect::<Vec<_>>(),
        "{member} on partition {p}\n{}",
        h.describe()
    );
}

#[test]
fn ours_and_librdkafka_share_a_group_and_move_only_what_moves() {
    init_logging();
    let topic = "mixed848";
    let group = "mixed848-group";
    let (cluster, mut expected) = start(topic);

    let mut a = ours("lib-a", &cluster, topic, group, None);
    let la = a.log().clone();
    wait_for_history(
        &[&la],
        REBALANCE,
        "lib-a owning all 6, first wave read",
        |h| h.settled(PARTITIONS, &["lib-a"]) && h.covers(&expected, PARTITIONS),
    );

    // librdkafka joins while records keep coming.
    let mut b = rdkafka("rdkafka-b", &cluster, topic, group);
    let lb = b.log().clone();
    produce(&cluster, topic, &mut expected, 300, "w2");
    let logs2 = [la.clone(), lb.clone()];
    let l2: Vec<&MemberLog> = logs2.iter().collect();
    wait_for_history(
        &l2,
        REBALANCE,
        "lib-a and rdkafka-b sharing, w2 read",
        |h| h.settled(PARTITIONS, &["lib-a", "rdkafka-b"]) && h.covers(&expected, PARTITIONS),
    );
    let after_b = GroupHistory::of(&l2);
    assert_eq!(after_b.owned_by("lib-a").len(), 3, "{}", after_b.describe());
    assert_eq!(
        after_b.owned_by("rdkafka-b").len(),
        3,
        "{}",
        after_b.describe()
    );

    // A second member of ours joins.
    let mut c = ours("lib-c", &cluster, topic, group, None);
    let lc = c.log().clone();
    produce(&cluster, topic, &mut expected, 300, "w3");
    let logs3 = [la.clone(), lb.clone(), lc.clone()];
    let l3: Vec<&MemberLog> = logs3.iter().collect();
    wait_for_history(
        &l3,
        REBALANCE,
        "three members, 2 partitions each, w3 read",
        |h| {
            h.settled(PARTITIONS, &["lib-a", "rdkafka-b", "lib-c"])
                && h.covers(&expected, PARTITIONS)
        },
    );
    let after_c = GroupHistory::of(&l3);
    for m in ["lib-a", "rdkafka-b", "lib-c"] {
        assert_eq!(after_c.owned_by(m).len(), 2, "{m}\n{}", after_c.describe());
    }
    // Each earlier member kept some partitions through c's join, without a
    // revocation, and read them through with no gap.
    for m in ["lib-a", "rdkafka-b"] {
        let kept = kept(&after_b, &after_c, m);
        assert!(!kept.is_empty(), "{m} kept nothing\n{}", after_c.describe());
        for p in kept {
            assert_read_through(&after_c, m, p, expected.end_offset(p));
        }
    }
    check("three members", &after_c, &expected, &l3, false);

    // librdkafka leaves: its partitions go to ours, the rest stay put.
    b.stop(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("closing rdkafka-b: {e}"));
    produce(&cluster, topic, &mut expected, 300, "w4");
    wait_for_history(
        &l3,
        REBALANCE,
        "lib-a and lib-c sharing again, w4 read",
        |h| h.settled(PARTITIONS, &["lib-a", "lib-c"]) && h.covers(&expected, PARTITIONS),
    );
    let after_leave = GroupHistory::of(&l3);
    for m in ["lib-a", "lib-c"] {
        let kept = kept(&after_c, &after_leave, m);
        assert_eq!(kept.len(), 2, "{m} kept its 2\n{}", after_leave.describe());
        for p in kept {
            assert_read_through(&after_leave, m, p, expected.end_offset(p));
        }
    }
    a.stop(Duration::from_secs(30));
    c.stop(Duration::from_secs(30));
    let h = GroupHistory::of(&l3);
    check("whole run", &h, &expected, &l3, false);
    assert_no_member_errors(&l3);
    eprintln!(
        "{} records, {} deliveries ({} again after a move), {} ownership intervals",
        expected.len(),
        h.deliveries.values().map(Vec::len).sum::<usize>(),
        h.duplicates(),
        h.intervals.len()
    );
}

#[test]
fn a_static_member_restarted_gets_its_partitions_back() {
    init_logging();
    let topic = "static848";
    let group = "static848-group";
    let (cluster, mut expected) = start(topic);
    let mut a = ours("lib-a", &cluster, topic, group, Some("host-a"));
    let mut b = rdkafka("rdkafka-b", &cluster, topic, group);
    let (la, lb) = (a.log().clone(), b.log().clone());
    let logs = [la.clone(), lb.clone()];
    let l: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(&l, REBALANCE, "lib-a and rdkafka-b sharing, w1 read", |h| {
        h.settled(PARTITIONS, &["lib-a", "rdkafka-b"]) && h.covers(&expected, PARTITIONS)
    });
    let before = GroupHistory::of(&l);
    let a_parts = before.owned_by("lib-a");

    // lib-a closes (a static member leaves with epoch -2) and a new process
    // with the same instance id comes back within the session timeout.
    a.stop(Duration::from_secs(30));
    let mut a2 = ours("lib-a2", &cluster, topic, group, Some("host-a"));
    let la2 = a2.log().clone();
    produce(&cluster, topic, &mut expected, 300, "w2");
    let logs2 = [la.clone(), lb.clone(), la2.clone()];
    let l2: Vec<&MemberLog> = logs2.iter().collect();
    wait_for_history(
        &l2,
        REBALANCE,
        "lib-a2 back with lib-a's partitions, w2 read",
        |h| h.settled(PARTITIONS, &["lib-a2", "rdkafka-b"]) && h.covers(&expected, PARTITIONS),
    );
    let after = GroupHistory::of(&l2);
    assert_eq!(after.owned_by("lib-a2"), a_parts, "{}", after.describe());
    let b_kept = kept(&before, &after, "rdkafka-b");
    assert_eq!(
        b_kept,
        before.owned_by("rdkafka-b"),
        "rdkafka-b noticed nothing\n{}",
        after.describe()
    );
    a2.stop(Duration::from_secs(30));
    b.stop(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("closing rdkafka-b: {e}"));
    let h = GroupHistory::of(&l2);
    check("static restart", &h, &expected, &l2, false);
    assert_no_member_errors(&l2);
}

#[test]
fn fencing_and_a_coordinator_move_lose_nothing() {
    init_logging();
    let topic = "faults848";
    let group = "faults848-group";
    let (cluster, mut expected) = start(topic);
    cluster
        .set_coordinator(CoordinatorType::Group, group, 1)
        .expect("place the coordinator");
    let mut a = ours("lib-a", &cluster, topic, group, None);
    let mut c = ours("lib-c", &cluster, topic, group, None);
    let mut b = rdkafka("rdkafka-b", &cluster, topic, group);
    let logs = [a.log().clone(), b.log().clone(), c.log().clone()];
    let l: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(&l, REBALANCE, "three members sharing, w1 read", |h| {
        h.settled(PARTITIONS, &["lib-a", "rdkafka-b", "lib-c"]) && h.covers(&expected, PARTITIONS)
    });

    // The next heartbeat (whoever sends it) is answered FENCED_MEMBER_EPOCH:
    // that member loses its partitions and joins again.
    cluster
        .push_errors(CONSUMER_GROUP_HEARTBEAT, &[FENCED_MEMBER_EPOCH])
        .expect("inject FENCED_MEMBER_EPOCH");
    produce(&cluster, topic, &mut expected, 300, "w2");
    wait_for_history(
        &l,
        REBALANCE,
        "settled again after the fencing, w2 read",
        |h| {
            h.intervals
                .iter()
                .any(|i| i.end == integration_tests::End::Lost)
                && h.settled(PARTITIONS, &["lib-a", "rdkafka-b", "lib-c"])
                && h.covers(&expected, PARTITIONS)
        },
    );

    // The coordinator moves to another broker.
    cluster
        .set_coordinator(CoordinatorType::Group, group, 2)
        .expect("move the coordinator");
    produce(&cluster, topic, &mut expected, 300, "w3");
    wait_for_history(&l, REBALANCE, "w3 read after the coordinator move", |h| {
        h.settled(PARTITIONS, &["lib-a", "rdkafka-b", "lib-c"]) && h.covers(&expected, PARTITIONS)
    });

    a.stop(Duration::from_secs(30));
    c.stop(Duration::from_secs(30));
    b.stop(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("closing rdkafka-b: {e}"));
    let h = GroupHistory::of(&l);
    // A fenced member's partitions are lost (allowed); every record was read.
    check("fencing and coordinator move", &h, &expected, &l, true);
    assert!(
        h.intervals
            .iter()
            .any(|i| i.end == integration_tests::End::Lost),
        "the fencing took partitions away\n{}",
        h.describe()
    );
    assert_no_member_errors(&l);
}
