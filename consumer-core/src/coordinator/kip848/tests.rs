//! The KIP-848 member on its own, with scripted coordinator answers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::codec::messages::consumer_group_heartbeat::{TopicPartitions, LEAVE_EPOCH};
use crate::codec::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use crate::config::{ConsumerConfig, GroupProtocol};
use crate::coordinator::test_harness::Harness;
use crate::coordinator::{GroupRequest, MemberState};
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, Event};
use crate::metadata::{PartitionLeader, TopicInfo};
use crate::topic_partition::TopicPartition;

const ORDERS: [u8; 16] = [1; 16];

impl Harness {
    /// A KIP-848 member of group "g" subscribed to "orders" (4 partitions, id ORDERS);
    /// `static_id`: its group.instance.id.
    fn kip848(static_id: Option<&str>, auto_commit: bool) -> Self {
        let mut b = ConsumerConfig::builder()
            .bootstrap_servers(["b1:9092"])
            .group_id("g")
            .group_protocol(GroupProtocol::Consumer)
            .enable_auto_commit(auto_commit);
        if let Some(id) = static_id {
            b = b.group_instance_id(id);
        }
        let mut h = Self::with_config(&b.build().expect("valid config"));
        let partitions: HashMap<i32, PartitionLeader> = (0..4)
            .map(|p| {
                (
                    p,
                    PartitionLeader {
                        leader: Some(1),
                        leader_epoch: Some(0),
                    },
                )
            })
            .collect();
        let info = TopicInfo {
            id: ORDERS,
            partitions,
            error_code: 0,
            replicas: HashMap::new(),
        };
        h.metadata.set_topics_of_interest(["orders".to_owned()]);
        h.metadata.update(
            Instant::now(),
            Vec::new(),
            None,
            vec![("orders".to_owned(), info)],
        );
        h.find_coordinator(Instant::now());
        h
    }

    /// The one heartbeat `prepare` sends now.
    fn heartbeat(&mut self, now: Instant) -> ConsumerGroupHeartbeatRequest {
        let heartbeats: Vec<_> = self
            .prepare(now)
            .into_iter()
            .filter_map(|r| match r {
                GroupRequest::ConsumerHeartbeat(h) => Some(h),
                _ => None,
            })
            .collect();
        assert_eq!(heartbeats.len(), 1, "one heartbeat due");
        heartbeats.into_iter().next().expect("checked")
    }

    fn no_heartbeat(&mut self, now: Instant) {
        let any = self
            .prepare(now)
            .into_iter()
            .any(|r| matches!(r, GroupRequest::ConsumerHeartbeat(_)));
        assert!(!any, "no heartbeat due");
    }

    fn answer(&mut self, now: Instant, resp: ConsumerGroupHeartbeatResponse) {
        self.with_ctx(|g, ctx| g.handle_consumer_heartbeat(resp, now, ctx));
    }

    fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }
}

fn ok(epoch: i32, assignment: Option<&[i32]>) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        member_epoch: epoch,
        heartbeat_interval_ms: 5000,
        assignment: assignment.map(ids),
        ..Default::default()
    }
}

/// Partitions `ps` of "orders" by topic id, as heartbeats carry them.
fn ids(ps: &[i32]) -> Vec<TopicPartitions> {
    vec![TopicPartitions {
        topic_id: ORDERS,
        partitions: ps.to_vec(),
    }]
}

fn error(code: ErrorCode) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        error_code: code.code(),
        member_epoch: -1,
        ..Default::default()
    }
}

fn orders(ps: &[i32]) -> Vec<TopicPartition> {
    ps.iter()
        .map(|p| TopicPartition::new("orders".to_owned(), *p))
        .collect()
}

/// Joins and takes `ps` at epoch 1; returns the time after.
fn joined(h: &mut Harness, ps: &[i32]) -> Instant {
    let now = Instant::now();
    let join = h.heartbeat(now);
    assert_eq!(join.member_epoch, 0);
    h.answer(now, ok(1, Some(ps)));
    let ack = h.heartbeat(now);
    assert_eq!(ack.member_epoch, 1);
    h.take_events();
    now
}

#[test]
fn joins_with_everything_then_sends_only_what_changed() {
    let mut h = Harness::kip848(None, false);
    let now = Instant::now();
    let join = h.heartbeat(now);
    assert_eq!(join.group_id, "g");
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.member_id.len(), 22, "a member id of our own: {join:?}");
    assert_eq!(join.subscribed_topic_names, Some(vec!["orders".to_owned()]));
    assert_eq!(join.subscribed_topic_regex.as_deref(), Some(""));
    assert_eq!(join.rebalance_timeout_ms, 300_000);
    assert_eq!(join.topic_partitions, Some(Vec::new()));
    assert_eq!(h.group.state(), MemberState::Joining);
    // Only one heartbeat at a time.
    h.no_heartbeat(now);

    h.answer(now, ok(1, Some(&[0, 2])));
    assert_eq!(
        h.take_events(),
        vec![Event::PartitionsAssigned(orders(&[0, 2]))]
    );
    assert_eq!(h.group.owned(), orders(&[0, 2]).as_slice());
    assert_eq!(h.group.generation().generation_id, 1);
    assert_eq!(h.group.generation().member_id, join.member_id);

    // The acknowledgement goes at once, with the owned partitions and nothing else.
    let ack = h.heartbeat(now);
    assert_eq!(ack.member_epoch, 1);
    assert_eq!(ack.member_id, join.member_id);
    assert_eq!(ack.topic_partitions, Some(ids(&[0, 2])));
    assert_eq!(ack.subscribed_topic_names, None);
    assert_eq!(ack.rebalance_timeout_ms, -1);
    h.answer(now, ok(1, None));
    assert_eq!(h.group.state(), MemberState::Stable);

    // Then at the interval the coordinator set, with nothing new.
    h.no_heartbeat(now + Duration::from_millis(4999));
    let beat = h.heartbeat(now + Duration::from_secs(5));
    assert_eq!(beat.topic_partitions, None);
    assert_eq!(beat.subscribed_topic_names, None);
}

#[test]
fn revokes_before_it_takes_and_acknowledges() {
    let mut h = Harness::kip848(None, false);
    let now = joined(&mut h, &[0, 1]);
    h.answer(now, ok(1, None));
    // The coordinator moves partition 1 away and gives 3: first only the revocation...
    let beat = h.heartbeat(now + Duration::from_secs(5));
    assert_eq!(beat.member_epoch, 1);
    h.answer(now, ok(1, Some(&[0])));
    assert_eq!(
        h.take_events(),
        vec![Event::PartitionsRevoked(orders(&[1]))]
    );
    // (the listener ran: the events were drained) ...then the acknowledgement.
    let ack = h.heartbeat(now);
    assert_eq!(ack.topic_partitions, Some(ids(&[0])));
    // ...and the new partition, at the next epoch.
    h.answer(now, ok(2, Some(&[0, 3])));
    assert_eq!(
        h.take_events(),
        vec![Event::PartitionsAssigned(orders(&[3]))]
    );
    assert_eq!(h.group.owned(), orders(&[0, 3]).as_slice());
    assert_eq!(h.subs.len(), 2);
    assert_eq!(h.heartbeat(now).member_epoch, 2);
}

#[test]
fn nothing_is_taken_before_the_caller_saw_the_revocation() {
    let mut h = Harness::kip848(None, false);
    let now = joined(&mut h, &[0, 1]);
    h.answer(now, ok(1, None));
    let _ = h.heartbeat(now + Duration::from_secs(5));
    // Revoke 1 and assign 2 in one answer.
    h.answer(now, ok(2, Some(&[0, 2])));
    // The revocation waits for the caller: no acknowledgement, nothing taken.
    h.no_heartbeat(now);
    h.no_heartbeat(now);
    assert_eq!(h.group.owned(), orders(&[0]).as_slice());
    assert_eq!(h.group.state(), MemberState::Syncing);
    assert_eq!(
        h.take_events(),
        vec![Event::PartitionsRevoked(orders(&[1]))]
    );
    let ack = h.heartbeat(now);
    assert_eq!(ack.topic_partitions, Some(ids(&[0, 2])));
    assert_eq!(
        h.take_events(),
        vec![Event::PartitionsAssigned(orders(&[2]))]
    );
}

#[test]
fn auto_commit_goes_before_the_revocation() {
    let mut h = Harness::kip848(None, true);
    let now = joined(&mut h, &[0, 1]);
    h.answer(now, ok(1, None));
    h.subs.seek(
        &TopicPartition::new("orders".to_owned(), 1),
        crate::topic_partition::FetchPosition::at(42),
    );
    let _ = h.heartbeat(now + Duration::from_secs(5));
    h.answer(now, ok(1, Some(&[0])));
    // The commit of partition 1 goes out first; nothing is revoked until it is answered.
    let commits: Vec<_> = h
        .prepare(now)
        .into_iter()
        .filter_map(|r| match r {
            GroupRequest::Commit(req, _) => Some(req),
            _ => None,
        })
        .collect();
    assert_eq!(commits.len(), 1, "one commit before revoking");
    assert_eq!(commits[0].generation_id_or_member_epoch, 1);
    assert!(h.take_events().is_empty(), "nothing revoked yet");
    assert_eq!(h.group.owned(), orders(&[0, 1]).as_slice());
}

#[test]
fn a_fenced_member_loses_its_partitions_and_joins_again_as_itself() {
    let mut h = Harness::kip848(None, false);
    let now = joined(&mut h, &[0, 1]);
    let id = h.group.generation().member_id.clone();
    h.answer(now, error(ErrorCode::FencedMemberEpoch));
    assert_eq!(
        h.take_events(),
        vec![Event::PartitionsLost(orders(&[0, 1]))]
    );
    assert!(h.subs.is_empty());
    assert_eq!(h.group.generation().generation_id, -1);
    let join = h.heartbeat(now);
    assert_eq!(join.member_epoch, 0);
    assert_eq!(join.member_id, id);
    assert_eq!(join.topic_partitions, Some(Vec::new()));
    assert!(join.subscribed_topic_names.is_some());
}

#[test]
fn a_lost_coordinator_gets_the_whole_heartbeat_again() {
    let mut h = Harness::kip848(None, false);
    let now = joined(&mut h, &[0]);
    h.answer(now, error(ErrorCode::NotCoordinator));
    assert!(h.group.coordinator().is_none());
    h.no_heartbeat(now);
    // Found again: the next heartbeat is complete, at the same epoch.
    h.find_coordinator(now + Duration::from_secs(1));
    let beat = h.heartbeat(now + Duration::from_secs(1));
    assert_eq!(beat.member_epoch, 1);
    assert!(beat.subscribed_topic_names.is_some());
    assert!(beat.topic_partitions.is_some());
    assert_eq!(h.group.owned(), orders(&[0]).as_slice(), "nothing lost");
}

#[test]
fn refusals_for_good_are_reported() {
    for code in [
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::UnreleasedInstanceId,
        ErrorCode::UnsupportedAssignor,
        ErrorCode::InvalidRequest,
    ] {
        let mut h = Harness::kip848(None, false);
        let now = Instant::now();
        let _ = h.heartbeat(now);
        h.answer(now, error(code));
        match h.group.fatal_error() {
            Some(ConsumerError::Group { api, code: c, .. }) => {
                assert_eq!(*api, "ConsumerGroupHeartbeat");
                assert_eq!(*c, code);
            }
            other => panic!("{code}: {other:?}"),
        }
        h.no_heartbeat(now + Duration::from_secs(60));
    }
}

#[test]
fn a_retriable_refusal_of_the_join_retries_after_the_backoff() {
    let mut h = Harness::kip848(None, false);
    let now = Instant::now();
    let _ = h.heartbeat(now);
    h.answer(now, error(ErrorCode::CoordinatorLoadInProgress));
    assert!(h.group.fatal_error().is_none());
    h.no_heartbeat(now);
    let join = h.heartbeat(now + Duration::from_secs(1));
    assert_eq!(join.member_epoch, 0);
}

#[test]
fn leaving_sends_epoch_minus_one_or_minus_two_for_a_static_member() {
    let mut h = Harness::kip848(None, false);
    joined(&mut h, &[0]);
    match h.group.leave("closing") {
        Some(GroupRequest::ConsumerLeave(req)) => assert_eq!(req.member_epoch, LEAVE_EPOCH),
        other => panic!("{other:?}"),
    }
    h.no_heartbeat(Instant::now() + Duration::from_secs(60));

    let mut h = Harness::kip848(Some("worker-1"), false);
    joined(&mut h, &[0]);
    match h.group.leave("closing") {
        Some(GroupRequest::ConsumerLeave(req)) => {
            assert_eq!(req.member_epoch, -2);
            assert_eq!(req.instance_id.as_deref(), Some("worker-1"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_static_member_sends_its_instance_id() {
    let mut h = Harness::kip848(Some("worker-1"), false);
    let join = h.heartbeat(Instant::now());
    assert_eq!(join.instance_id.as_deref(), Some("worker-1"));
}

#[test]
fn an_unknown_topic_id_waits_for_metadata() {
    let mut h = Harness::kip848(None, false);
    let now = Instant::now();
    let _ = h.heartbeat(now);
    let mut resp = ok(1, None);
    resp.assignment = Some(vec![TopicPartitions {
        topic_id: [9; 16],
        partitions: vec![0],
    }]);
    h.answer(now, resp);
    assert!(h.take_events().is_empty());
    assert!(h.group.owned().is_empty());
    assert_eq!(h.group.state(), MemberState::Syncing);
    assert!(h.metadata.should_update(now), "asks for metadata");
}

#[test]
fn a_subscription_change_goes_out_at_once() {
    let mut h = Harness::kip848(None, false);
    let now = joined(&mut h, &[0]);
    h.answer(now, ok(1, None));
    h.subs
        .set_subscribed_topics(vec!["orders".to_owned(), "refunds".to_owned()]);
    h.group.request_rejoin("subscription changed");
    let beat = h.heartbeat(now);
    assert_eq!(
        beat.subscribed_topic_names,
        Some(vec!["orders".to_owned(), "refunds".to_owned()])
    );
}

#[test]
fn nothing_is_acknowledged_while_the_listener_runs() {
    let mut h = Harness::kip848(None, false);
    let now = joined(&mut h, &[0, 1]);
    h.answer(now, ok(1, None));
    let _ = h.heartbeat(now + Duration::from_secs(5));
    h.answer(now, ok(2, Some(&[0])));
    // The caller took the revocation and its listener is running (committing, which
    // drives the network): the acknowledgement waits for it to return.
    assert_eq!(
        h.take_events(),
        vec![Event::PartitionsRevoked(orders(&[1]))]
    );
    h.group.set_listener_running(true);
    h.no_heartbeat(now);
    h.group.set_listener_running(false);
    let ack = h.heartbeat(now);
    assert_eq!(ack.topic_partitions, Some(ids(&[0])));
}
