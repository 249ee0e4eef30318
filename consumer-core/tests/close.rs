//! Closing runs in the core as one sequence with a deadline.
//!
//! * A group member with auto-commit commits what it handed out, reports the revocation
//!   of its partitions while they are still assigned, leaves the group, then closes its
//!   fetch sessions, in that order, and is closed once the answers are in.
//! * With every broker down, closing ends at its deadline, not later, and every request
//!   still pending ends (cancelled) with the close.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, SessionMode, TestCluster};
use consumer_core::{AutoOffsetReset, Event};

const GROUP: &str = "closers";

#[test]
fn a_member_commits_revokes_leaves_and_closes_sessions_in_order() {
    let mut cluster = TestCluster::builder().topic("orders", 2).build();
    cluster.fetch_sessions.mode = SessionMode::Kafka;
    cluster.fill(&tp("orders", 0), 10, 5);
    cluster.fill(&tp("orders", 1), 10, 5);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .auto_commit_interval(Duration::from_secs(3600)),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 20, 300);
    assert!(cluster.groups.committed(GROUP, &tp("orders", 0)).is_none());

    let start = cluster.requests.len();
    let now = cluster.now();
    consumer.begin_close(now, Duration::from_secs(30));
    assert!(!consumer.is_closed());
    cluster.drive(&mut consumer, |c, _| c.is_closed(), 200);

    // The positions of everything handed out were committed before leaving.
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 0)), Some(10));
    assert_eq!(cluster.groups.committed(GROUP, &tp("orders", 1)), Some(10));
    let apis: Vec<ApiKey> = cluster.requests[start..]
        .iter()
        .map(|r| r.api)
        .filter(|a| matches!(a, ApiKey::OffsetCommit | ApiKey::LeaveGroup | ApiKey::Fetch))
        .collect();
    let commit = apis.iter().position(|a| *a == ApiKey::OffsetCommit);
    let leave = apis.iter().position(|a| *a == ApiKey::LeaveGroup);
    let last_fetch = apis.iter().rposition(|a| *a == ApiKey::Fetch);
    assert!(commit.is_some() && commit < leave, "{apis:?}");
    assert!(
        leave < last_fetch,
        "the sessions close after leaving: {apis:?}"
    );
    // The session close is a Fetch with epoch -1 to each broker holding a session.
    assert!(cluster.fetch_sessions.log.iter().any(|s| s.epoch == -1));
    // The revocation was reported (and drained) before the LeaveGroup went out.
    let revoked = cluster
        .events
        .iter()
        .rposition(|e| matches!(e, Event::PartitionsRevoked(p) if p.len() == 2));
    assert!(revoked.is_some(), "{:?}", cluster.events);
    let counts = consumer.request_counts();
    assert_eq!(counts.pending, 0, "{counts:?}");
    assert_eq!(counts.recorded, counts.ended);
    // Nothing is sent after closing.
    let after = cluster.requests.len();
    cluster.run_for(&mut consumer, Duration::from_secs(10));
    assert_eq!(cluster.requests.len(), after);
}

#[test]
fn with_every_broker_down_closing_ends_at_its_deadline() {
    let mut cluster = TestCluster::builder().topic("orders", 1).build();
    cluster.fill(&tp("orders", 0), 10, 5);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 10, 300);
    for b in 1..=3 {
        cluster.set_down(&mut consumer, b, true);
    }
    let started = cluster.elapsed();
    let now = cluster.now();
    consumer.begin_close(now, Duration::from_secs(2));
    cluster.drive(&mut consumer, |c, _| c.is_closed(), 10_000);
    let took = cluster.elapsed() - started;
    assert!(took <= Duration::from_secs(2), "closing took {took:?}");
    assert!(
        took >= Duration::from_secs(2),
        "ended before its deadline: {took:?}"
    );
    let counts = consumer.request_counts();
    assert_eq!(counts.pending, 0, "{counts:?}");
    assert_eq!(counts.recorded, counts.ended);
}
