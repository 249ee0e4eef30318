//! Static membership (`group.instance.id`, KIP-345).
//!
//! * A static member that closes does not send LeaveGroup; restarted within its session
//!   under the same instance id, it gets its old assignment back without a rebalance
//!   (the other members notice nothing).
//! * A second consumer with the same instance id takes the place; the first one is then
//!   fenced (FENCED_INSTANCE_ID), which is fatal: `poll_records` fails with
//!   `ConsumerError::Group` and the member stops talking to the group.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{story, tp, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, ConsumerConfigBuilder, ConsumerError, ErrorCode};

const GROUP: &str = "billing";

fn cluster(profile: Profile) -> TestCluster {
    let mut cluster = TestCluster::builder()
        .profile(profile)
        .topic("orders", 4)
        .build();
    for p in 0..4 {
        cluster.fill(&tp("orders", p), 5, 5);
    }
    cluster
}

fn config(cluster: &TestCluster, instance: &str) -> ConsumerConfigBuilder {
    cluster
        .config()
        .group_id(GROUP)
        .group_instance_id(instance)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .partition_assignment_strategy(["range"])
        .enable_auto_commit(false)
        .session_timeout(Duration::from_secs(30))
        .heartbeat_interval(Duration::from_secs(1))
}

fn static_restart_keeps_the_assignment(profile: Profile) {
    let mut cluster = cluster(profile);
    let mut a = cluster.member("a", config(&cluster, "host-a"));
    let mut b = cluster.member("b", config(&cluster, "host-b"));
    a.subscribe(["orders".to_owned()]).unwrap();
    b.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
    cluster.drive_members(
        &mut [&mut a, &mut b],
        |m, _| m[0].received.len() + m[1].received.len() == 20,
        300,
    );
    let a_parts = a.owned();
    let generation = cluster.groups.group(GROUP).unwrap().generation;

    // a commits what it consumed and shuts down: no LeaveGroup for a static member.
    cluster.commit_consumed(&mut [&mut a, &mut b], 0, 100);
    cluster.leave_and_close(&mut a);
    assert_eq!(cluster.count(ApiKey::LeaveGroup), 0);

    // Five seconds later it is back (a new process, same instance id).
    cluster.run_members_for(&mut [&mut b], Duration::from_secs(5));
    let mut a2 = cluster.member("a2", config(&cluster, "host-a"));
    a2.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a2, &mut b], GROUP, 500);

    assert_eq!(a2.owned(), a_parts, "the same partitions");
    let group = cluster.groups.group(GROUP).unwrap();
    assert_eq!(group.generation, generation, "no rebalance");
    assert_eq!(group.members.len(), 2);
    assert_eq!(a2.group().unwrap().generation().generation_id, generation);
    assert_eq!(
        story(&b.events).len(),
        1,
        "b noticed nothing: {:?}",
        b.events
    );

    // a2 resumes where a committed.
    for p in &a_parts {
        cluster.fill(p, 2, 2);
    }
    cluster.drive_members(&mut [&mut a2, &mut b], |m, _| m[0].received.len() == 4, 300);
    for p in &a_parts {
        assert_eq!(a2.offsets_of(p), [5, 6], "{p}");
    }
}

#[test]
fn static_member_restarted_keeps_its_assignment_modern_broker() {
    // JoinGroup v9: the returning leader is told to skip the assignment.
    static_restart_keeps_the_assignment(Profile::modern());
}

#[test]
fn static_member_restarted_keeps_its_assignment_classic_broker() {
    // JoinGroup v5: the returning leader assigns again; the stable group keeps its own.
    static_restart_keeps_the_assignment(Profile::mock_cluster());
}

#[test]
fn second_consumer_with_the_same_instance_id_fences_the_first() {
    let mut cluster = cluster(Profile::modern());
    let mut a = cluster.member("a", config(&cluster, "host-a"));
    a.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a], GROUP, 300);
    let a_id = a.member_id();

    // A misconfigured second process claims the same instance id.
    let mut twin = cluster.member("twin", config(&cluster, "host-a"));
    twin.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive_members(
        &mut [&mut a, &mut twin],
        |m, _| !m[0].errors.is_empty() && m[1].is_stable(),
        500,
    );
    let fenced = ConsumerError::Group {
        api: "Heartbeat",
        group: GROUP.to_owned(),
        code: ErrorCode::FencedInstanceId,
    };
    assert_eq!(a.errors[0], fenced);
    assert_eq!(twin.owned().len(), 4);
    assert_eq!(
        cluster.groups.group(GROUP).unwrap().statics["host-a"],
        twin.member_id()
    );

    // Fatal: every later poll fails the same way and a stops talking to the group.
    let requests_before = cluster
        .requests
        .iter()
        .filter(|r| r.client == a.client && !r.group.is_empty())
        .count();
    cluster.run_members_for(&mut [&mut a, &mut twin], Duration::from_secs(10));
    assert!(a.errors.len() > 1);
    assert!(a.errors.iter().all(|e| *e == fenced), "{:?}", a.errors);
    let requests_after = cluster
        .requests
        .iter()
        .filter(|r| r.client == a.client && !r.group.is_empty())
        .count();
    assert_eq!(requests_after, requests_before);
    assert_eq!(a.member_id(), a_id, "no attempt to join again");
    assert!(twin.is_stable());
}
