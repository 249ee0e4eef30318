//! The member state machine on its own: its stages, and answers that come late.

use std::time::{Duration, Instant};

use super::test_harness::Harness;
use super::{ConsumerCoordinator, GroupRequest, GroupRequestKind, MemberState};
use crate::assignor::group_by_topic;
use crate::codec::consumer_protocol::{ConsumerProtocolAssignment, LATEST_VERSION};
use crate::codec::messages::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupResponse, SyncGroupResponse,
};
use crate::config::ConsumerConfig;
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, Event};
use crate::topic_partition::TopicPartition;

const HEARTBEAT: Duration = Duration::from_secs(3);

impl Harness {
    /// A member of group "g" subscribed to "orders" (default config: range first, so
    /// eager).
    fn classic() -> Self {
        let config = ConsumerConfig::builder()
            .bootstrap_servers(["b1:9092"])
            .group_id("g")
            .build()
            .expect("valid config");
        assert_eq!(config.heartbeat_interval, HEARTBEAT);
        Self::with_config(&config)
    }

    /// Sends the JoinGroup.
    fn join(&mut self, now: Instant) {
        let out = self.prepare(now);
        assert!(joins(&out), "{out:?}");
        assert_eq!(self.group.state(), MemberState::Joining);
    }

    /// A follower's successful JoinGroup answer.
    fn join_answer(&mut self, now: Instant) -> Option<GroupRequest> {
        let resp = JoinGroupResponse {
            generation_id: 1,
            member_id: "m1".to_owned(),
            leader: "m0".to_owned(),
            protocol_name: Some("range".to_owned()),
            ..Default::default()
        };
        self.with_ctx(|g, ctx| g.handle_join(resp, now, ctx))
    }

    /// A SyncGroup answer assigning `partitions`.
    fn sync_answer(&mut self, now: Instant, partitions: &[TopicPartition]) {
        let assignment = ConsumerProtocolAssignment {
            assigned_partitions: group_by_topic(partitions),
            user_data: None,
        }
        .encode(LATEST_VERSION)
        .expect("encodable");
        let resp = SyncGroupResponse {
            assignment,
            ..Default::default()
        };
        self.with_ctx(|g, ctx| g.handle_sync(resp, now, ctx));
    }

    /// From a fresh member to a stable one owning orders-0, at `now`.
    fn stable(now: Instant) -> Self {
        let mut h = Self::classic();
        h.find_coordinator(now);
        h.join(now);
        assert!(matches!(h.join_answer(now), Some(GroupRequest::Sync(_))));
        assert_eq!(h.group.state(), MemberState::Syncing);
        h.sync_answer(now, &[tp(0)]);
        assert_eq!(h.group.state(), MemberState::Stable);
        assert!(!h.group.needs_rejoin());
        h.events.clear();
        h
    }

    fn heartbeat_answer(&mut self, now: Instant, code: ErrorCode) {
        let resp = HeartbeatResponse {
            error_code: code.code(),
            ..Default::default()
        };
        self.with_ctx(|g, ctx| g.handle_heartbeat(resp, now, ctx));
    }
}

fn tp(partition: i32) -> TopicPartition {
    TopicPartition::new("orders", partition)
}

fn joins(out: &[GroupRequest]) -> bool {
    out.iter().any(|r| matches!(r, GroupRequest::Join(..)))
}

fn heartbeats(out: &[GroupRequest]) -> bool {
    out.iter().any(|r| matches!(r, GroupRequest::Heartbeat(_)))
}

#[test]
fn a_stable_member_heartbeats_on_schedule_one_at_a_time() {
    let t0 = Instant::now();
    let mut h = Harness::stable(t0);
    assert_eq!(h.group.owned(), [tp(0)]);
    assert_eq!(h.group.generation().generation_id, 1);
    let deadlines = h.group.deadlines();
    assert!(deadlines.contains(&(t0 + HEARTBEAT)), "{deadlines:?}");
    assert!(
        deadlines.contains(&(t0 + Duration::from_secs(45))),
        "the session"
    );

    assert!(!heartbeats(&h.prepare(t0 + Duration::from_secs(1))));
    assert!(heartbeats(&h.prepare(t0 + HEARTBEAT)));
    assert!(!heartbeats(&h.prepare(t0 + HEARTBEAT)), "one in flight");
    assert!(!h.group.deadlines().contains(&(t0 + HEARTBEAT)));

    let t1 = t0 + HEARTBEAT + Duration::from_millis(5);
    h.heartbeat_answer(t1, ErrorCode::None);
    assert!(h.group.deadlines().contains(&(t1 + HEARTBEAT)));
    assert!(h
        .group
        .deadlines()
        .contains(&(t1 + Duration::from_secs(45))));
}

#[test]
fn a_rejoin_asked_during_the_sync_is_done_once_stable() {
    let t0 = Instant::now();
    let mut h = Harness::classic();
    h.find_coordinator(t0);
    h.join(t0);
    h.group.request_rejoin("asked while joining");
    assert!(h.join_answer(t0).is_some());
    assert!(!h.group.needs_rejoin(), "the join answered that request");
    h.group.request_rejoin("asked while syncing");
    assert!(h.group.needs_rejoin());
    h.sync_answer(t0, &[tp(0)]);
    assert_eq!(h.group.state(), MemberState::Stable);
    assert!(h.group.needs_rejoin());

    // Eager: the partitions are revoked first, and the JoinGroup waits for the caller
    // to see that; the member heartbeats meanwhile.
    assert!(!joins(&h.prepare(t0)));
    assert!(h.group.owned().is_empty());
    let out = h.prepare(t0 + HEARTBEAT);
    assert!(heartbeats(&out) && !joins(&out), "{out:?}");
    assert_eq!(h.group.state(), MemberState::Stable);
    assert!(matches!(
        h.events.pop_front(),
        Some(Event::PartitionsAssigned(_))
    ));
    assert!(matches!(h.events.pop_front(), Some(Event::PartitionsRevoked(p)) if p == [tp(0)]));
    h.join(t0 + HEARTBEAT);
}

#[test]
fn a_join_answer_after_leaving_is_ignored() {
    let t0 = Instant::now();
    let mut h = Harness::classic();
    h.find_coordinator(t0);
    h.join(t0);
    assert!(h.group.leave("closing").is_none(), "no member id yet");
    assert!(h.join_answer(t0).is_none(), "no SyncGroup");
    assert_eq!(h.group.state(), MemberState::Unjoined);
    assert_eq!(h.group.generation().generation_id, -1);
    assert!(h.prepare(t0).is_empty());
    h.group.coordinator_dead(t0);
    assert!(!h.group.wants_lookup(t0 + Duration::from_secs(1)));

    // Subscribed again, it joins afresh.
    h.group.rejoin_after_leave();
    h.find_coordinator(t0 + Duration::from_secs(1));
    h.join(t0 + Duration::from_secs(1));
}

#[test]
fn losing_the_coordinator_mid_join_ends_the_rebalance_and_its_late_answer_is_ignored() {
    let t0 = Instant::now();
    let mut h = Harness::classic();
    h.find_coordinator(t0);
    h.join(t0);
    h.group.coordinator_dead(t0);
    assert_eq!(h.group.state(), MemberState::Unjoined);
    assert!(h.group.coordinator().is_none());
    assert!(h.join_answer(t0).is_none());
    assert_eq!(h.group.generation().generation_id, -1);

    let backoff = t0 + Duration::from_millis(100);
    assert!(h.group.deadlines().contains(&backoff));
    h.find_coordinator(backoff);
    h.join(backoff);
}

#[test]
fn a_join_or_sync_request_lost_without_answer_joins_again() {
    let t0 = Instant::now();
    let mut h = Harness::classic();
    h.find_coordinator(t0);
    h.join(t0);
    h.with_ctx(|g, ctx| g.request_failed(GroupRequestKind::Join, t0, ctx));
    assert_eq!(h.group.state(), MemberState::Unjoined);
    assert!(h.group.needs_rejoin());

    let t1 = t0 + Duration::from_millis(100);
    h.find_coordinator(t1);
    h.join(t1);
    assert!(h.join_answer(t1).is_some());
    h.with_ctx(|g, ctx| g.request_failed(GroupRequestKind::Sync, t1, ctx));
    assert_eq!(h.group.state(), MemberState::Unjoined);
    assert_eq!(
        h.group.generation().generation_id,
        1,
        "rejoins with its generation"
    );
}

#[test]
fn a_heartbeat_lost_with_the_coordinator_goes_out_at_once_but_a_scheduled_one_waits() {
    let t0 = Instant::now();
    let mut h = Harness::stable(t0);

    // Nothing in flight: the next heartbeat keeps its time.
    let t1 = t0 + Duration::from_secs(1);
    h.group.coordinator_dead(t1);
    assert_eq!(h.group.state(), MemberState::Stable, "still a member");
    let t1 = t1 + Duration::from_millis(100);
    h.find_coordinator(t1);
    assert!(!heartbeats(&h.prepare(t1)));

    // In flight: sent again once a coordinator is found.
    assert!(heartbeats(&h.prepare(t0 + HEARTBEAT)));
    let t2 = t0 + HEARTBEAT + Duration::from_millis(10);
    h.with_ctx(|g, ctx| g.request_failed(GroupRequestKind::Heartbeat, t2, ctx));
    assert!(h.group.coordinator().is_none());
    assert!(!h.group.needs_rejoin());
    let t3 = t2 + Duration::from_millis(100);
    h.find_coordinator(t3);
    assert!(heartbeats(&h.prepare(t3)));
}

#[test]
fn the_session_runs_out_without_heartbeat_answers() {
    let t0 = Instant::now();
    let mut h = Harness::stable(t0);
    assert!(heartbeats(&h.prepare(t0 + HEARTBEAT)));
    let expiry = t0 + Duration::from_secs(45);
    h.prepare(expiry - Duration::from_millis(1));
    assert!(h.group.coordinator().is_some());
    assert!(h.prepare(expiry).is_empty());
    assert!(
        h.group.coordinator().is_none(),
        "the coordinator is looked up again"
    );
    assert_eq!(h.group.state(), MemberState::Stable);

    // A coordinator found restarts the session.
    let t1 = expiry + Duration::from_millis(100);
    h.find_coordinator(t1);
    assert!(h
        .group
        .deadlines()
        .contains(&(t1 + Duration::from_secs(45))));
    assert!(heartbeats(&h.prepare(t1)));
}

#[test]
fn a_member_refused_for_good_stays_failed() {
    let t0 = Instant::now();
    let mut h = Harness::stable(t0);
    assert!(heartbeats(&h.prepare(t0 + HEARTBEAT)));
    h.heartbeat_answer(t0 + HEARTBEAT, ErrorCode::FencedInstanceId);
    let fenced = ConsumerError::Group {
        api: "Heartbeat",
        group: "g".to_owned(),
        code: ErrorCode::FencedInstanceId,
    };
    assert_eq!(h.group.fatal_error(), Some(&fenced));
    assert!(matches!(h.events.pop_front(), Some(Event::PartitionsLost(p)) if p == [tp(0)]));
    assert_eq!(h.group.state(), MemberState::Unjoined);
    assert!(!h.group.needs_rejoin());
    assert!(h.prepare(t0 + HEARTBEAT * 2).is_empty());

    h.group.leave("closing");
    h.group.rejoin_after_leave();
    h.group.coordinator_dead(t0);
    assert_eq!(h.group.fatal_for_caller(), Some(fenced));
    assert!(!h.group.wants_lookup(t0 + Duration::from_secs(60)));
}

/// Found by the `consumer_core` fuzz target (fuzz/src/consumer.rs). A FindCoordinator
/// answer with no error but node -1 computed the coordinator's connection id as
/// `i32::MAX - (-1)`: an overflow panic. It now counts as "not available": no
/// coordinator, and the lookup is retried after the backoff.
#[test]
fn find_coordinator_with_negative_node_and_no_error() {
    let config = ConsumerConfig::builder()
        .bootstrap_servers(["b0:9092"])
        .group_id("g")
        .build()
        .expect("valid config");
    let mut g = ConsumerCoordinator::new(&config)
        .expect("valid config")
        .expect("a group.id gives a coordinator");
    let now = Instant::now();
    for node_id in [-1, i32::MIN] {
        g.handle_lookup(
            FindCoordinatorResponse {
                error_code: 0,
                node_id,
                host: "b0".into(),
                port: 9092,
                ..FindCoordinatorResponse::default()
            },
            now,
        );
        assert!(g.coordinator().is_none(), "node {node_id}");
    }
    // A valid answer still works afterwards.
    g.handle_lookup(
        FindCoordinatorResponse {
            node_id: 2,
            host: "b2".into(),
            port: 9092,
            ..FindCoordinatorResponse::default()
        },
        now + Duration::from_secs(1),
    );
    assert_eq!(g.coordinator().map(|c| c.host.as_str()), Some("b2"));
}
