//! Every error transition of a group member, and that each one recovers: the member ends
//! stable again, owning every partition, and keeps consuming.
//!
//! * REBALANCE_IN_PROGRESS on a heartbeat: rejoin under the same member id.
//! * UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION: the partitions are lost (not revoked: another
//!   member may own them already), then a fresh join.
//! * NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE / a lost coordinator connection: look the
//!   coordinator up again; the membership survives.
//! * Errors on FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch
//!   and LeaveGroup.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{story, tp, Action, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, Consumer, ErrorCode, MemberState};

const GROUP: &str = "billing";

/// A consumer of "orders" (3 partitions, 5 records each) that has joined `GROUP` alone
/// with `assignor` and consumed everything.
fn stable_member(assignor: &str) -> (TestCluster, Consumer) {
    let mut cluster = TestCluster::builder().topic("orders", 3).build();
    for p in 0..3 {
        cluster.fill(&tp("orders", p), 5, 5);
    }
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id(GROUP)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .partition_assignment_strategy([assignor])
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_secs(1))
            .max_poll_interval(Duration::from_secs(20)),
    );
    consumer.subscribe(["orders".to_owned()]).unwrap();
    cluster.drive(
        &mut consumer,
        |c, cl| is_stable(c) && cl.received.len() == 15,
        300,
    );
    (cluster, consumer)
}

fn is_stable(c: &Consumer) -> bool {
    let g = c.group().unwrap();
    g.state() == MemberState::Stable
        && !g.needs_rejoin()
        && g.coordinator().is_some()
        && c.assignment().len() == 3
}

fn member_id(c: &Consumer) -> String {
    c.group().unwrap().generation().member_id.clone()
}

fn generation(c: &Consumer) -> i32 {
    c.group().unwrap().generation().generation_id
}

/// Back to stable, and new records of every partition arrive, each once.
fn recovers(cluster: &mut TestCluster, consumer: &mut Consumer) {
    cluster.drive(consumer, |c, _| is_stable(c), 2000);
    let before = cluster.received.len();
    for p in 0..3 {
        cluster.fill(&tp("orders", p), 2, 2);
    }
    cluster.drive(consumer, |_, c| c.received.len() >= before + 6, 500);
    cluster.run_for(consumer, Duration::from_secs(2));
    for p in 0..3 {
        let mut got = cluster.offsets_of(&tp("orders", p));
        let n = got.len();
        got.dedup();
        assert_eq!(got.len(), n, "partition {p}: a record came twice: {got:?}");
        assert_eq!(got.last(), Some(&6), "partition {p}: {got:?}");
    }
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn rebalance_in_progress_on_heartbeat_rejoins_under_the_same_member_id() {
    for assignor in ["range", "cooperative-sticky"] {
        let (mut cluster, mut consumer) = stable_member(assignor);
        let id = member_id(&consumer);
        cluster.inject_error(ApiKey::Heartbeat, ErrorCode::RebalanceInProgress);
        cluster.drive(&mut consumer, |c, _| generation(c) == 2, 300);
        recovers(&mut cluster, &mut consumer);

        assert_eq!(member_id(&consumer), id, "{assignor}");
        let joins = cluster.requests_of(ApiKey::JoinGroup);
        assert_eq!(joins.last().unwrap().member_id, id, "{assignor}");
        let want: Vec<&str> = if assignor == "range" {
            // Eager: everything is given up before rejoining, then given back.
            vec![
                "assigned [0, 1, 2]",
                "revoked [0, 1, 2]",
                "assigned [0, 1, 2]",
            ]
        } else {
            // Cooperative: nothing moves, nothing is revoked.
            vec!["assigned [0, 1, 2]", "assigned []"]
        };
        assert_eq!(story(&cluster.events), want, "{assignor}");
        assert_eq!(cluster.count(ApiKey::FindCoordinator), 1, "{assignor}");
    }
}

#[test]
fn unknown_member_id_on_heartbeat_loses_the_partitions_and_joins_afresh() {
    for assignor in ["range", "cooperative-sticky"] {
        let (mut cluster, mut consumer) = stable_member(assignor);
        let old = member_id(&consumer);
        // The coordinator forgets the member (as an administrator's removal would).
        let now = cluster.now();
        cluster.groups.kick(GROUP, &old, now);
        cluster.drive(
            &mut consumer,
            |c, _| member_id(c) != old && is_stable(c),
            500,
        );
        recovers(&mut cluster, &mut consumer);

        assert_eq!(
            story(&cluster.events),
            ["assigned [0, 1, 2]", "lost [0, 1, 2]", "assigned [0, 1, 2]"],
            "{assignor}"
        );
        let beats = cluster.requests_of(ApiKey::Heartbeat);
        assert!(beats.iter().any(|b| b.member_id == old), "{assignor}");
        // The fresh join carries no member id.
        let rejoin = cluster
            .requests_of(ApiKey::JoinGroup)
            .into_iter()
            .rfind(|j| j.member_id.is_empty())
            .unwrap();
        assert!(rejoin.at >= beats.iter().rfind(|b| b.member_id == old).unwrap().at);
        // Lost partitions are not committed on the way out.
        assert!(cluster
            .requests_of(ApiKey::OffsetCommit)
            .iter()
            .all(|c| c.member_id != old || c.at < rejoin.at));
    }
}

#[test]
fn illegal_generation_on_heartbeat_loses_the_partitions_and_joins_afresh() {
    for assignor in ["range", "cooperative-sticky"] {
        let (mut cluster, mut consumer) = stable_member(assignor);
        let old = member_id(&consumer);
        cluster.inject_error(ApiKey::Heartbeat, ErrorCode::IllegalGeneration);
        cluster.drive(
            &mut consumer,
            |c, _| member_id(c) != old && is_stable(c),
            1000,
        );
        recovers(&mut cluster, &mut consumer);
        assert_eq!(
            story(&cluster.events),
            ["assigned [0, 1, 2]", "lost [0, 1, 2]", "assigned [0, 1, 2]"],
            "{assignor}"
        );
        // The coordinator still had the old member: it is dropped (its session ends, as
        // it neither heartbeats nor rejoins).
        assert!(
            cluster
                .groups
                .log
                .iter()
                .any(|l| l.contains(&format!("session of {old} expired"))),
            "{:?}",
            cluster.groups.log
        );
        assert!(cluster.groups.group(GROUP).unwrap().member(&old).is_none());
    }
}

#[test]
fn coordinator_moves_not_coordinator_then_rediscovered_without_rebalance() {
    let (mut cluster, mut consumer) = stable_member("range");
    let id = member_id(&consumer);
    cluster.groups.move_coordinator(GROUP, 2);
    cluster.drive(
        &mut consumer,
        |c, _| c.group().unwrap().coordinator().map(|n| n.id) == Some(i32::MAX - 2),
        300,
    );
    recovers(&mut cluster, &mut consumer);

    let beats = cluster.requests_of(ApiKey::Heartbeat);
    let refused = beats.iter().find(|b| b.broker == 1).unwrap();
    assert!(beats.iter().any(|b| b.broker == 2 && b.at > refused.at));
    assert_eq!(cluster.count(ApiKey::FindCoordinator), 2);
    assert_eq!(member_id(&consumer), id);
    assert_eq!(generation(&consumer), 1, "no rebalance");
    assert_eq!(story(&cluster.events), ["assigned [0, 1, 2]"]);
    // Later group requests all go to the new coordinator.
    let moved_at = beats.iter().find(|b| b.broker == 2).unwrap().at;
    assert!(cluster
        .requests
        .iter()
        .filter(|r| r.at > moved_at && !r.group.is_empty() && r.api != ApiKey::FindCoordinator)
        .all(|r| r.broker == 2));
}

#[test]
fn coordinator_not_available_or_disconnected_rediscovers_and_keeps_the_membership() {
    for how in ["heartbeat error", "disconnect"] {
        let (mut cluster, mut consumer) = stable_member("range");
        let id = member_id(&consumer);
        if how == "disconnect" {
            assert!(cluster.cut_coordinator(&mut consumer), "{how}");
        } else {
            cluster.inject_error(ApiKey::Heartbeat, ErrorCode::CoordinatorNotAvailable);
        }
        cluster.drive(
            &mut consumer,
            |_, c| c.count(ApiKey::FindCoordinator) == 2,
            300,
        );
        recovers(&mut cluster, &mut consumer);
        assert_eq!(member_id(&consumer), id, "{how}");
        assert_eq!(generation(&consumer), 1, "{how}: no rebalance");
        assert_eq!(story(&cluster.events), ["assigned [0, 1, 2]"], "{how}");
        let lookup = cluster.requests_of(ApiKey::FindCoordinator)[1].at;
        assert!(
            cluster
                .requests_of(ApiKey::Heartbeat)
                .iter()
                .any(|b| b.at > lookup),
            "{how}: heartbeats resume"
        );
    }
}

#[test]
fn find_coordinator_errors_are_retried() {
    for code in [
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::NotCoordinator,
    ] {
        let mut cluster = TestCluster::builder().topic("orders", 3).build();
        cluster.inject_error(ApiKey::FindCoordinator, code);
        let mut consumer = cluster.consumer(
            cluster
                .config()
                .group_id(GROUP)
                .auto_offset_reset(AutoOffsetReset::Earliest),
        );
        consumer.subscribe(["orders".to_owned()]).unwrap();
        cluster.drive(&mut consumer, |c, _| is_stable(c), 300);
        let lookups = cluster.requests_of(ApiKey::FindCoordinator);
        assert_eq!(lookups.len(), 2, "{code}");
        assert!(
            lookups[1].at - lookups[0].at >= Duration::from_millis(100),
            "{code}: retried after retry.backoff.ms"
        );
    }
}

/// For each assignor and each case (error, whether the coordinator is looked up again,
/// whether the member id is reset): a stable member whose rebalance (REBALANCE_IN_PROGRESS
/// on a heartbeat) has `api` refused once with that error. It recovers in a later
/// generation, looking the coordinator up and resetting its id as the case says; on a reset,
/// whatever it still owned is lost, not revoked (eager range has given up everything by
/// then). `check(cluster, what, the member id from before)` adds the API's own checks.
fn rebalance_refused_once(
    api: ApiKey,
    cases: &[(ErrorCode, bool, bool)],
    check: impl Fn(&TestCluster, &str, &str),
) {
    for assignor in ["range", "cooperative-sticky"] {
        for &(code, lookup, reset) in cases {
            let what = format!("{assignor} {code}");
            let (mut cluster, mut consumer) = stable_member(assignor);
            let id = member_id(&consumer);
            cluster.inject_error(ApiKey::Heartbeat, ErrorCode::RebalanceInProgress);
            cluster.inject_error(api, code);
            cluster.drive(
                &mut consumer,
                |c, _| generation(c) >= 2 && is_stable(c),
                1000,
            );
            recovers(&mut cluster, &mut consumer);

            check(&cluster, &what, &id);
            assert_eq!(
                cluster.count(ApiKey::FindCoordinator),
                if lookup { 2 } else { 1 },
                "{what}"
            );
            assert_eq!(member_id(&consumer) != id, reset, "{what}");
            let events = story(&cluster.events);
            let lost = events.iter().filter(|e| e.starts_with("lost")).count();
            let want_lost = usize::from(reset && assignor != "range");
            assert_eq!(lost, want_lost, "{what}: {events:?}");
        }
    }
}

#[test]
fn join_group_errors_recover() {
    let cases = [
        (ErrorCode::CoordinatorLoadInProgress, false, false),
        (ErrorCode::RebalanceInProgress, false, false),
        (ErrorCode::NotCoordinator, true, false),
        (ErrorCode::CoordinatorNotAvailable, true, false),
        (ErrorCode::UnknownMemberId, false, true),
    ];
    rebalance_refused_once(ApiKey::JoinGroup, &cases, |cluster, what, id| {
        let joins = cluster.requests_of(ApiKey::JoinGroup);
        assert!(joins.len() >= 4, "{what}: {joins:?}");
        assert_eq!(joins[2].member_id, id, "{what}: the refused rejoin");
    });
}

#[test]
fn sync_group_errors_recover() {
    let cases = [
        (ErrorCode::RebalanceInProgress, false, false),
        (ErrorCode::NotCoordinator, true, false),
        (ErrorCode::CoordinatorNotAvailable, true, false),
        (ErrorCode::UnknownMemberId, false, true),
        (ErrorCode::IllegalGeneration, false, true),
    ];
    rebalance_refused_once(ApiKey::SyncGroup, &cases, |cluster, what, _| {
        assert!(cluster.count(ApiKey::SyncGroup) >= 3, "{what}");
    });
}

#[test]
fn heartbeat_retriable_error_is_retried_without_rebalance() {
    let (mut cluster, mut consumer) = stable_member("range");
    cluster.inject_error(ApiKey::Heartbeat, ErrorCode::CoordinatorLoadInProgress);
    let start = cluster.elapsed();
    cluster.run_for(&mut consumer, Duration::from_secs(5));
    recovers(&mut cluster, &mut consumer);
    let beats: Vec<Duration> = cluster
        .requests_of(ApiKey::Heartbeat)
        .iter()
        .map(|b| b.at)
        .filter(|t| *t >= start)
        .collect();
    // The refused heartbeat is retried after retry.backoff.ms, not a whole interval.
    assert!(beats[1] - beats[0] < Duration::from_secs(1), "{beats:?}");
    assert_eq!(generation(&consumer), 1);
    assert_eq!(story(&cluster.events), ["assigned [0, 1, 2]"]);
}

#[test]
fn offset_commit_coordinator_error_rediscovers_and_the_next_auto_commit_lands() {
    let (mut cluster, mut consumer) = stable_member("range");
    cluster.inject_error(ApiKey::OffsetCommit, ErrorCode::NotCoordinator);
    cluster.drive(
        &mut consumer,
        |_, c| c.groups.committed(GROUP, &tp("orders", 0)) == Some(5),
        500,
    );
    assert_eq!(cluster.count(ApiKey::FindCoordinator), 2);
    assert!(cluster.count(ApiKey::OffsetCommit) >= 2);
    recovers(&mut cluster, &mut consumer);
    assert_eq!(generation(&consumer), 1);
}

#[test]
fn offset_fetch_errors_are_retried_before_any_reset() {
    let cases = [
        (ErrorCode::CoordinatorLoadInProgress, 9),
        (ErrorCode::NotCoordinator, 9),
        (ErrorCode::CoordinatorNotAvailable, 9),
        (ErrorCode::UnstableOffsetCommit, 9),
        // v0–1 carry the error in every partition.
        (ErrorCode::CoordinatorLoadInProgress, 1),
        (ErrorCode::NotCoordinator, 1),
    ];
    for (code, max_version) in cases {
        let profile = Profile::modern().with(ApiKey::OffsetFetch, 0, max_version);
        let mut cluster = TestCluster::builder()
            .profile(profile)
            .topic("orders", 3)
            .build();
        for p in 0..3 {
            cluster.fill(&tp("orders", p), 5, 5);
            cluster.groups.set_committed(GROUP, &tp("orders", p), 3);
        }
        cluster.inject_error(ApiKey::OffsetFetch, code);
        let mut consumer = cluster.consumer(
            cluster
                .config()
                .group_id(GROUP)
                .auto_offset_reset(AutoOffsetReset::Earliest),
        );
        consumer.subscribe(["orders".to_owned()]).unwrap();
        cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 300);
        let what = format!("{code} v{max_version}");
        assert_eq!(cluster.count(ApiKey::OffsetFetch), 2, "{what}");
        assert_eq!(cluster.count(ApiKey::ListOffsets), 0, "{what}: no reset");
        for p in 0..3 {
            assert_eq!(cluster.offsets_of(&tp("orders", p)), [3, 4], "{what}");
        }
        let lookups = cluster.count(ApiKey::FindCoordinator);
        assert_eq!(
            lookups,
            if code.needs_coordinator_lookup() {
                2
            } else {
                1
            },
            "{what}"
        );
    }
}

#[test]
fn leave_group_error_does_not_stop_a_later_subscription() {
    let (mut cluster, mut consumer) = stable_member("range");
    cluster.inject_error(ApiKey::LeaveGroup, ErrorCode::CoordinatorNotAvailable);
    consumer.unsubscribe();
    cluster.drive(
        &mut consumer,
        |c, cl| cl.count(ApiKey::LeaveGroup) == 1 && !c.has_pending_group_requests(),
        100,
    );
    assert!(consumer.assignment().is_empty());
    assert_eq!(
        story(&cluster.events),
        ["assigned [0, 1, 2]", "revoked [0, 1, 2]"]
    );

    consumer.subscribe(["orders".to_owned()]).unwrap();
    recovers(&mut cluster, &mut consumer);
    // A fresh member: the old id left (the coordinator did not hear it, so it expires).
    let joins = cluster.requests_of(ApiKey::JoinGroup);
    assert!(joins.len() >= 4);
    assert_eq!(joins[2].member_id, "");
}

#[test]
fn a_dropped_request_to_the_coordinator_times_out_and_is_recovered() {
    let (mut cluster, mut consumer) = stable_member("range");
    cluster.on_next(ApiKey::Heartbeat, Action::Drop);
    cluster.request_timeout = Duration::from_secs(5);
    cluster.run_for(&mut consumer, Duration::from_secs(8));
    assert!(!cluster.disconnects.is_empty());
    recovers(&mut cluster, &mut consumer);
    assert_eq!(generation(&consumer), 1);
}
