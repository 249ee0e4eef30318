use std::time::Duration;

use super::*;
use crate::codec::messages::offset_for_leader_epoch::{EpochEndOffset, OffsetForLeaderTopicResult};
use crate::metadata::{Node, PartitionLeader, TopicInfo};

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new("t", p)
}

fn at(offset: i64, epoch: i32) -> FetchPosition {
    FetchPosition {
        offset,
        leader_epoch: Some(epoch),
    }
}

/// Metadata with partitions 0..4 of `t`: partition p led by broker `1 + p % 2`, epoch 5.
fn metadata(now: Instant) -> Metadata {
    let mut m = Metadata::new(
        &["h:1".into()],
        Duration::from_secs(300),
        Duration::from_millis(100),
        Duration::from_secs(1),
    );
    m.set_topics_of_interest(["t".to_owned()]);
    let brokers = (1..=2)
        .map(|id| Node {
            id,
            host: "h".into(),
            port: id,
            rack: None,
        })
        .collect();
    let partitions = (0..4)
        .map(|p| {
            let leader = PartitionLeader {
                leader: Some(1 + p % 2),
                leader_epoch: Some(5),
            };
            (p, leader)
        })
        .collect();
    let info = TopicInfo {
        id: [0; 16],
        partitions,
        error_code: 0,
        replicas: Default::default(),
    };
    m.update(now, brokers, None, vec![("t".into(), info)]);
    m
}

fn subs_at(positions: &[(i32, FetchPosition)]) -> SubscriptionState {
    let mut s = SubscriptionState::new();
    s.assign(positions.iter().map(|(p, _)| tp(*p)));
    for (p, pos) in positions {
        s.seek(&tp(*p), *pos);
    }
    s
}

fn answer(parts: &[(i32, ErrorCode, i32, i64)]) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse {
        throttle_time_ms: 0,
        topics: vec![OffsetForLeaderTopicResult {
            topic: "t".into(),
            partitions: parts
                .iter()
                .map(|&(p, code, e, o)| EpochEndOffset {
                    error_code: code.code(),
                    partition: p,
                    leader_epoch: e,
                    end_offset: o,
                })
                .collect(),
        }],
    }
}

fn v4(_: NodeId) -> LeaderSupport {
    LeaderSupport::Version(4)
}

#[test]
fn judge_follows_the_java_consumer() {
    use AutoOffsetReset::{Earliest, Latest, None as NoReset};
    let pos = at(10, 3);
    assert_eq!(judge(pos, 3, 10, Earliest), Verdict::Valid);
    assert_eq!(judge(pos, 3, 12, NoReset), Verdict::Valid);
    assert_eq!(judge(pos, 2, 7, Latest), Verdict::Diverged(at(7, 2)));
    assert_eq!(
        judge(pos, 2, 7, NoReset),
        Verdict::Truncated {
            divergent_offset: Some(7)
        }
    );
    assert_eq!(
        judge(pos, -1, -1, Latest),
        Verdict::Reset(OffsetResetStrategy::Latest)
    );
    assert_eq!(
        judge(pos, -1, -1, NoReset),
        Verdict::Truncated {
            divergent_offset: None
        }
    );
}

#[test]
fn only_positions_with_an_epoch_await_validation() {
    let mut s = subs_at(&[(0, at(4, 1)), (1, FetchPosition::at(4))]);
    assert!(s.request_validation(&tp(0), None));
    assert!(!s.request_validation(&tp(1), None));
    assert!(!s.get(&tp(0)).unwrap().is_fetchable());
    assert!(s.get(&tp(1)).unwrap().is_fetchable());
    // A seek ends it; so does a reset (which wins over it).
    s.seek(&tp(0), at(2, 1));
    assert!(s.get(&tp(0)).unwrap().is_fetchable());
    s.request_validation(&tp(0), None);
    s.request_reset(&tp(0), OffsetResetStrategy::Earliest);
    assert!(!s.get(&tp(0)).unwrap().is_awaiting_validation());
    assert_eq!(s.validations().count(), 0);
}

#[test]
fn one_request_per_leader_one_in_flight_per_node() {
    let now = Instant::now();
    let mut m = metadata(now);
    let mut s = subs_at(&[(0, at(1, 4)), (1, at(2, 4)), (2, at(3, 4)), (3, at(9, 5))]);
    for p in 0..4 {
        s.request_validation(&tp(p), None);
    }
    let mut v = Validator::new();
    let mut wanted = Vec::new();
    let out = v.prepare(now, &mut s, &mut m, &mut wanted, v4);
    // (node, [(partition, current leader epoch, epoch asked)]) of each request.
    type Shape = (NodeId, Vec<(i32, i32, i32)>);
    let shape: Vec<Shape> = out
        .iter()
        .map(|(req, version, ctx)| {
            assert_eq!(*version, 4);
            assert_eq!(req.replica_id, CONSUMER_REPLICA_ID);
            let parts = req.topics[0]
                .partitions
                .iter()
                .map(|p| (p.partition, p.current_leader_epoch, p.leader_epoch))
                .collect();
            (ctx.node, parts)
        })
        .collect();
    assert_eq!(
        shape,
        vec![(1, vec![(0, 5, 4), (2, 5, 4)]), (2, vec![(1, 5, 4)])]
    );
    // Partition 3's position has the leader's current epoch: nothing to ask.
    assert!(s.get(&tp(3)).unwrap().is_fetchable());
    // Nothing more while they are in flight.
    assert!(v.prepare(now, &mut s, &mut m, &mut wanted, v4).is_empty());
    assert!(wanted.is_empty());

    // Node 1's answer: partition 0 valid, partition 2 truncated to 2 (earliest policy).
    let config = ConsumerConfig::builder()
        .bootstrap_servers(["h:1"])
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .unwrap();
    let (_, _, ctx) = out.into_iter().next().unwrap();
    let resp = answer(&[(0, ErrorCode::None, 4, 1), (2, ErrorCode::None, 4, 2)]);
    let errors = v.handle_response(ctx, Ok(resp), now, &config, &mut s, &mut m);
    assert!(errors.is_empty());
    assert!(s.get(&tp(0)).unwrap().is_fetchable());
    assert_eq!(s.position(&tp(0)), Some(at(1, 4)));
    assert!(s.get(&tp(2)).unwrap().is_fetchable());
    assert_eq!(s.position(&tp(2)), Some(at(2, 4)));
    // Node 1 may be asked again, node 2 not.
    s.request_validation(&tp(0), None);
    let again = v.prepare(now, &mut s, &mut m, &mut wanted, v4);
    let nodes: Vec<NodeId> = again.iter().map(|(_, _, c)| c.node).collect();
    assert_eq!(nodes, vec![1]);
}

#[test]
fn a_leader_without_the_api_or_an_epoch_validates_at_once() {
    let now = Instant::now();
    let mut m = metadata(now);
    let mut s = subs_at(&[(0, at(1, 4)), (1, at(2, 4))]);
    s.request_validation(&tp(0), None);
    s.request_validation(&tp(1), None);
    let mut v = Validator::new();
    let mut wanted = Vec::new();
    let out = v.prepare(now, &mut s, &mut m, &mut wanted, |node| {
        if node == 1 {
            LeaderSupport::Unsupported
        } else {
            LeaderSupport::NotReady
        }
    });
    assert!(out.is_empty());
    assert!(
        s.get(&tp(0)).unwrap().is_fetchable(),
        "node 1 lacks the API"
    );
    assert!(s.get(&tp(1)).unwrap().is_awaiting_validation());
    assert_eq!(wanted, vec![2], "node 2 is connected first");
}

#[test]
fn errors_wait_for_metadata_or_back_off() {
    let now = Instant::now();
    let mut m = metadata(now);
    let mut s = subs_at(&[(0, at(1, 4)), (2, at(3, 4))]);
    s.request_validation(&tp(0), None);
    s.request_validation(&tp(2), None);
    let mut v = Validator::new();
    let mut wanted = Vec::new();
    let config = ConsumerConfig::builder()
        .bootstrap_servers(["h:1"])
        .build()
        .unwrap();
    let (_, _, ctx) = v
        .prepare(now, &mut s, &mut m, &mut wanted, v4)
        .into_iter()
        .next()
        .unwrap();
    let resp = answer(&[
        (0, ErrorCode::FencedLeaderEpoch, -1, -1),
        (2, ErrorCode::UnknownLeaderEpoch, -1, -1),
    ]);
    assert!(v
        .handle_response(ctx, Ok(resp), now, &config, &mut s, &mut m)
        .is_empty());
    // Partition 2 backs off; partition 0 waits for a metadata answer.
    let retry: Vec<Instant> = Validator::retry_times(&s).collect();
    assert_eq!(retry, vec![now + config.retry_backoff]);
    let later = now + config.retry_backoff;
    let out = v.prepare(later, &mut s, &mut m, &mut wanted, v4);
    let asked: Vec<i32> = out[0].2.partitions.iter().map(|a| a.tp.partition).collect();
    assert_eq!(asked, vec![2]);
    // A newer metadata answer than the one the error was seen with.
    let mut m2 = metadata(later);
    m2.update(later, Vec::new(), None, Vec::new());
    let _ = v.handle_response(
        out.into_iter().next().unwrap().2,
        Err(RequestFailure::Disconnected),
        later,
        &config,
        &mut s,
        &mut m2,
    );
    let out = v.prepare(later, &mut s, &mut m2, &mut wanted, v4);
    let asked: Vec<i32> = out[0].2.partitions.iter().map(|a| a.tp.partition).collect();
    assert_eq!(asked, vec![0], "after fresh metadata; 2 backs off again");
}

#[test]
fn truncation_without_a_policy_is_an_error_and_a_restart_ignores_old_answers() {
    let now = Instant::now();
    let mut m = metadata(now);
    let mut s = subs_at(&[(0, at(10, 4))]);
    s.request_validation(&tp(0), None);
    let mut v = Validator::new();
    let mut wanted = Vec::new();
    let config = ConsumerConfig::builder()
        .bootstrap_servers(["h:1"])
        .auto_offset_reset(AutoOffsetReset::None)
        .build()
        .unwrap();
    let (_, _, ctx) = v
        .prepare(now, &mut s, &mut m, &mut wanted, v4)
        .into_iter()
        .next()
        .unwrap();
    let errors = v.handle_response(
        ctx.clone(),
        Ok(answer(&[(0, ErrorCode::None, 3, 6)])),
        now,
        &config,
        &mut s,
        &mut m,
    );
    assert_eq!(
        errors,
        vec![ConsumerError::LogTruncation {
            tp: tp(0),
            offset: 10,
            divergent_offset: Some(6)
        }]
    );
    assert_eq!(s.position(&tp(0)), Some(at(10, 4)), "the position stays");
    assert!(s.get(&tp(0)).unwrap().is_awaiting_validation());
    // The same answer again, for an attempt no longer pending: ignored.
    let errors = v.handle_response(
        ctx,
        Ok(answer(&[(0, ErrorCode::None, 3, 6)])),
        now,
        &config,
        &mut s,
        &mut m,
    );
    assert!(errors.is_empty());
}

#[test]
fn a_position_awaiting_validation_is_not_committed() {
    use crate::coordinator::commits::Commits;
    let mut s = subs_at(&[(0, at(10, 4)), (1, at(3, 4))]);
    s.request_validation(&tp(0), None);
    let committed: Vec<(TopicPartition, i64)> = Commits::all_positions(&s)
        .into_iter()
        .map(|(tp, o)| (tp, o.offset))
        .collect();
    assert_eq!(committed, vec![(tp(1), 3)]);
    s.complete_validation(&tp(0));
    assert_eq!(Commits::all_positions(&s).len(), 2);
}
