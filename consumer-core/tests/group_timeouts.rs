//! Group timeouts.
//!
//! * Session timeout: a member whose heartbeats stop reaching the coordinator is removed
//!   after `session.timeout.ms`; the others take its partitions. The member itself looks
//!   for the coordinator again after a session without answers, learns it was removed
//!   (UNKNOWN_MEMBER_ID), reports its partitions lost and joins again.
//! * `max.poll.interval.ms`: an application that does not poll for longer leaves the group
//!   (LeaveGroup), loses its partitions, gets `MaxPollIntervalExceeded` from
//!   `poll_records`, and joins again on its next poll.
//! * A JoinGroup waits for the whole rebalance (up to the rebalance timeout), longer than
//!   `request.timeout.ms`, and a member that does not rejoin in time is dropped.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{story, tp, Action, TestCluster};
use consumer_core::{AutoOffsetReset, ConsumerError, Event, MemberState};

const GROUP: &str = "billing";

fn cluster() -> TestCluster {
    let mut cluster = TestCluster::builder().topic("orders", 4).build();
    for p in 0..4 {
        cluster.fill(&tp("orders", p), 5, 5);
    }
    cluster
}

fn config(cluster: &TestCluster) -> consumer_core::ConsumerConfigBuilder {
    cluster
        .config()
        .group_id(GROUP)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .partition_assignment_strategy(["range"])
        .session_timeout(Duration::from_secs(10))
        .heartbeat_interval(Duration::from_secs(1))
}

#[test]
fn session_timeout_when_heartbeats_stop_reaching_the_coordinator() {
    let mut cluster = cluster();
    // No auto-commit: commits would keep the session alive as heartbeats do.
    let mut a = cluster.member("a", config(&cluster).enable_auto_commit(false));
    let mut b = cluster.member("b", config(&cluster).enable_auto_commit(false));
    a.subscribe(["orders".to_owned()]).unwrap();
    b.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
    let a_id = a.member_id();
    let a_had = a.owned();
    assert_eq!(a_had.len(), 2);

    // From now on a's heartbeats are lost on the way.
    cluster.always(Some(a.client), ApiKey::Heartbeat, Action::Drop);
    let cut_at = cluster.elapsed();
    cluster.drive_members(
        &mut [&mut a, &mut b],
        |m, c| m[1].owned().len() == 4 && m[1].is_stable() && c.elapsed() > cut_at,
        2000,
    );
    let expired = cluster
        .groups
        .log
        .iter()
        .any(|l| l.contains(&format!("session of {a_id} expired")));
    assert!(expired, "{:?}", cluster.groups.log);
    let took_over = cluster.elapsed() - cut_at;
    assert!(
        took_over >= Duration::from_secs(9) && took_over < Duration::from_secs(15),
        "b took over after {took_over:?}"
    );

    // The network heals: a learns it was removed, loses its partitions, joins again.
    cluster.clear_rules();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 3000);
    // a had noticed the silent coordinator after a session without answers and looked it
    // up again.
    let lookup = cluster
        .requests_of(ApiKey::FindCoordinator)
        .into_iter()
        .find(|r| r.client == a.client && r.at > cut_at)
        .expect("a looked the coordinator up again");
    let silent = lookup.at - cut_at;
    assert!(
        silent >= Duration::from_secs(9) && silent <= Duration::from_secs(11),
        "{silent:?}"
    );
    let a_story = story(&a.events);
    let mut want_lost: Vec<i32> = a_had.iter().map(|p| p.partition).collect();
    want_lost.sort();
    assert_eq!(
        a_story[..2],
        [
            format!("assigned {want_lost:?}"),
            format!("lost {want_lost:?}")
        ]
    );
    assert_ne!(a.member_id(), a_id);
    assert_eq!(a.owned().len() + b.owned().len(), 4);
    assert!(a
        .errors
        .iter()
        .all(|e| !matches!(e, ConsumerError::MaxPollIntervalExceeded { .. })));
}

#[test]
fn max_poll_interval_exceeded_leaves_the_group_and_rejoins_on_the_next_poll() {
    let mut cluster = cluster();
    let mut a = cluster.member(
        "a",
        config(&cluster).max_poll_interval(Duration::from_secs(5)),
    );
    let mut b = cluster.member(
        "b",
        config(&cluster).max_poll_interval(Duration::from_secs(5)),
    );
    a.subscribe(["orders".to_owned()]).unwrap();
    b.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], GROUP, 500);
    let a_id = a.member_id();
    let a_had: Vec<i32> = a.owned().iter().map(|p| p.partition).collect();

    // a's application is busy for 6 s: no poll, no network at all. Its session (10 s)
    // has not ended, so the coordinator still counts it.
    cluster.advance(Duration::from_secs(6));
    assert!(cluster.groups.group(GROUP).unwrap().member(&a_id).is_some());
    let back_at = cluster.elapsed();
    cluster.step_member(&mut a);

    // It left at once, with a LeaveGroup, lost its partitions and was told.
    let leave = cluster.requests_of(ApiKey::LeaveGroup);
    assert_eq!(leave.len(), 1);
    assert_eq!(
        (leave[0].client, leave[0].member_id.as_str()),
        (a.client, a_id.as_str())
    );
    assert_eq!(leave[0].at, back_at);
    assert!(
        matches!(a.errors.as_slice(), [ConsumerError::MaxPollIntervalExceeded { elapsed_ms }] if *elapsed_ms >= 6000),
        "{:?}",
        a.errors
    );
    assert_eq!(story(&a.events).last().unwrap(), &format!("lost {a_had:?}"));
    assert!(a.assignment().is_empty());
    assert!(cluster.groups.group(GROUP).unwrap().member(&a_id).is_none());

    // On its next polls it joins again, as a new member, and the two share the work.
    cluster.settle(&mut [&mut a, &mut b], GROUP, 1000);
    assert_ne!(a.member_id(), a_id);
    let rejoin = cluster
        .requests_of(ApiKey::JoinGroup)
        .into_iter()
        .find(|j| j.client == a.client && j.at >= back_at)
        .unwrap();
    assert_eq!(rejoin.member_id, "");
    assert_eq!(a.owned().len(), 2);
    assert_eq!(b.owned().len(), 2);
    assert_eq!(a.errors.len(), 1, "reported once: {:?}", a.errors);
    assert!(
        cluster.ownership_conflicts.is_empty(),
        "{:?}",
        cluster.ownership_conflicts
    );
}

#[test]
fn join_waits_for_the_whole_rebalance_and_a_silent_member_is_dropped() {
    let mut cluster = cluster();
    // The network client gives ordinary requests 10 s.
    cluster.request_timeout = Duration::from_secs(10);
    let slow = config(&cluster)
        .session_timeout(Duration::from_secs(60))
        .heartbeat_interval(Duration::from_secs(3))
        .max_poll_interval(Duration::from_secs(25))
        .request_timeout(Duration::from_secs(10));
    let mut a = cluster.member("a", slow.clone());
    let mut b = cluster.member("b", slow);
    a.subscribe(["orders".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a], GROUP, 300);
    let a_id = a.member_id();

    // a goes silent (its session is long); b joins and waits for a's rejoin, which never
    // comes: after the rebalance timeout (a's max.poll.interval) a is dropped.
    b.subscribe(["orders".to_owned()]).unwrap();
    let start = cluster.elapsed();
    cluster.settle(&mut [&mut b], GROUP, 1000);
    let waited = cluster.elapsed() - start;
    assert!(
        waited >= Duration::from_secs(25) && waited < Duration::from_secs(30),
        "{waited:?}"
    );
    assert!(cluster
        .groups
        .log
        .iter()
        .any(|l| l.contains(&format!("{a_id} did not rejoin in time"))));
    assert_eq!(b.owned().len(), 4);
    // b's JoinGroup was answered, not timed out by request.timeout.ms.
    assert!(
        cluster.lost_connections.iter().all(|(c, _)| *c != b.client),
        "{:?}",
        cluster.lost_connections
    );
    let b_joins = cluster
        .requests_of(ApiKey::JoinGroup)
        .into_iter()
        .filter(|j| j.client == b.client)
        .count();
    assert_eq!(b_joins, 2, "MEMBER_ID_REQUIRED, then one long join");
    assert_eq!(b.group().unwrap().state(), MemberState::Stable);
    assert!(b
        .events
        .iter()
        .all(|e| !matches!(e, Event::PartitionsLost(_))));
}
