//! The consumer state machine (`consumer_core::Consumer`) driven by fuzzer-chosen
//! steps: a simulated clock, answers to its requests (fuzzer bytes, or well-formed
//! responses built with the real codec from fuzzer-chosen values), lost connections, and
//! the caller's commands.
//!
//! Invariants: no panic; `poll_records` hands out, per partition, offsets in increasing
//! order from the position it had before the call, only for assigned, unpaused partitions
//! with a position; across calls a partition's offsets only go back after something that
//! may move a position back (a seek, an offset reset, an assignment change); `poll_timeout`
//! is after the last `now` given; the requests awaiting an answer stay few; the heap stays
//! within a bound proportional to the input.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use bytes::Bytes;
use consumer_core::codec::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicPartitions,
};
use consumer_core::codec::messages::api_versions::ApiVersion;
use consumer_core::codec::messages::consumer_group_heartbeat::TopicPartitions as CghTopicPartitions;
use consumer_core::codec::messages::fetch::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use consumer_core::codec::messages::find_coordinator::Coordinator;
use consumer_core::codec::messages::join_group::JoinGroupResponseMember;
use consumer_core::codec::messages::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use consumer_core::codec::messages::metadata::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use consumer_core::codec::messages::offset_commit::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use consumer_core::codec::messages::offset_fetch::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use consumer_core::codec::messages::offset_for_leader_epoch::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use consumer_core::codec::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, FetchRequest, FetchResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse, SyncGroupRequest, SyncGroupResponse,
};
use consumer_core::codec::{decode_request_frame, encode_response_frame, ApiKey, Request};
use consumer_core::record::{BatchBuilder, ControlRecord, ControlRecordType, Record};
use consumer_core::{
    AutoOffsetReset, Consumer, ConsumerConfig, Event, GroupProtocol, IsolationLevel,
    OffsetAndMetadata, SaslMechanism, SecurityProtocol, TopicPartition, Transmit,
};

use crate::alloc;

/// The simulated cluster's topics: name, id, partitions.
const TOPICS: [(&str, [u8; 16]); 2] = [("a", [1; 16]), ("b", [2; 16])];
/// Brokers 0..BROKERS, at `b<id>:9092`.
const BROKERS: i32 = 3;
/// Steps per input at most (each takes at least one byte anyway).
const MAX_STEPS: usize = 2_000;
/// Requests awaiting an answer at most: more is a request storm.
const MAX_OUTSTANDING: usize = 1_000;
/// Error codes answers carry, besides success: the ones the state machines branch on.
const ERRORS: [i16; 16] = [
    1,   // OFFSET_OUT_OF_RANGE
    3,   // UNKNOWN_TOPIC_OR_PARTITION
    5,   // LEADER_NOT_AVAILABLE
    6,   // NOT_LEADER_OR_FOLLOWER
    7,   // REQUEST_TIMED_OUT
    14,  // COORDINATOR_LOAD_IN_PROGRESS
    15,  // COORDINATOR_NOT_AVAILABLE
    16,  // NOT_COORDINATOR
    22,  // ILLEGAL_GENERATION
    25,  // UNKNOWN_MEMBER_ID
    27,  // REBALANCE_IN_PROGRESS
    35,  // UNSUPPORTED_VERSION
    74,  // FENCED_LEADER_EPOCH
    75,  // UNKNOWN_LEADER_EPOCH
    79,  // MEMBER_ID_REQUIRED
    100, // UNKNOWN_TOPIC_ID
];

type Res<T> = arbitrary::Result<T>;

/// Runs one input; panics on a broken invariant.
pub fn check(data: &[u8]) -> Depth {
    let len = data.len();
    let (depth, peak) = alloc::measure(|| {
        let mut u = Unstructured::new(data);
        let mut depth = Depth::default();
        let _ = run(&mut u, &mut depth);
        depth
    });
    // Frames and records the harness builds, the requests it keeps, and the consumer's
    // own state all grow with the number of steps (one input byte or more each); a storm
    // or a leak grows faster than that.
    alloc::assert_justified("consumer", peak, len, len * 960 + (1 << 20));
    depth
}

/// How far one input got, to check that the corpus reaches the deep states.
#[derive(Debug, Default, Clone, Copy)]
pub struct Depth {
    /// Well-formed answers given.
    pub answers: usize,
    /// Records handed out by `poll_records`.
    pub records: usize,
    /// Most partitions assigned at once.
    pub assigned: usize,
}

struct Harness {
    consumer: Consumer,
    now: Instant,
    outstanding: Vec<Transmit>,
    /// Last offset handed out per partition, while no position move back is expected.
    last: HashMap<TopicPartition, i64>,
    group: bool,
    answers: usize,
    records: usize,
}

fn all_partitions() -> Vec<TopicPartition> {
    TOPICS
        .iter()
        .flat_map(|(t, _)| (0..4).map(move |p| TopicPartition::new(*t, p)))
        .collect()
}

fn run(u: &mut Unstructured, depth: &mut Depth) -> Res<()> {
    let mode = u.arbitrary::<u8>()?;
    let group = mode & 1 == 1;
    let reset = match (mode >> 1) % 3 {
        0 => AutoOffsetReset::Earliest,
        1 => AutoOffsetReset::Latest,
        _ => AutoOffsetReset::None,
    };
    let mut b = ConsumerConfig::builder()
        .bootstrap_servers(["b0:9092"])
        .auto_offset_reset(reset)
        .enable_auto_commit(mode & 8 != 0)
        .isolation_level(if mode & 16 != 0 {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        })
        .max_poll_records(usize::from(u.int_in_range(1u8..=20)?));
    if u.ratio(1u8, 4)? {
        // KIP-392: answers may name a preferred read replica; replica lists are kept.
        b = b.client_rack("r1".to_owned());
    }
    if mode & 128 != 0 {
        // Every connection authenticates (PLAIN) before anything else: SaslHandshake and
        // SaslAuthenticate answers from the fuzzer, session lifetimes included (renewals).
        b = b
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_credentials(SaslMechanism::Plain, "fuzz", "fuzz-password");
    }
    if group {
        b = b.group_id("g");
        if u.ratio(1u8, 3)? {
            // KIP-848: ConsumerGroupHeartbeat answers from the fuzzer.
            b = b.group_protocol(GroupProtocol::Consumer);
        } else if mode & 32 != 0 {
            b = b.partition_assignment_strategy(["cooperative-sticky"]);
        }
    }
    let Ok(config) = b.build() else {
        return Ok(());
    };
    let Ok(mut consumer) = Consumer::new(config) else {
        return Ok(());
    };
    let all = all_partitions();
    if group && mode & 64 == 0 {
        let topics: Vec<String> = TOPICS
            .iter()
            .filter(|_| u.arbitrary::<bool>().unwrap_or(true))
            .map(|(t, _)| (*t).to_owned())
            .collect();
        consumer
            .subscribe(topics)
            .expect("a group consumer subscribes");
    } else {
        let picked: Vec<TopicPartition> = all
            .iter()
            .filter(|_| u.arbitrary::<bool>().unwrap_or(false))
            .cloned()
            .collect();
        consumer.assign(picked).expect("assign");
    }
    let mut h = Harness {
        consumer,
        now: Instant::now(),
        outstanding: Vec::new(),
        last: HashMap::new(),
        group,
        answers: 0,
        records: 0,
    };
    for _ in 0..MAX_STEPS {
        if u.is_empty() {
            break;
        }
        let stepped = h.step(u);
        h.after_step();
        depth.answers += h.answers;
        h.answers = 0;
        depth.records += h.records;
        h.records = 0;
        depth.assigned = depth.assigned.max(h.consumer.assignment().len());
        stepped?;
    }
    Ok(())
}

impl Harness {
    fn step(&mut self, u: &mut Unstructured) -> Res<()> {
        match u.int_in_range(0u8..=16)? {
            0 | 1 => {
                let ms: u64 = match u.int_in_range(0u8..=3)? {
                    0 => u64::from(u.arbitrary::<u8>()?),
                    1 => u64::from(u.arbitrary::<u16>()?),
                    2 => 1_000 * u64::from(u.int_in_range(1u8..=120)?),
                    _ => 0,
                };
                self.now += Duration::from_millis(ms);
                self.consumer.handle_timeout(self.now);
            }
            2 => self.drain_transmits(),
            3 | 16 => {
                // A cooperative round: send everything, answer everything well-formed.
                self.drain_transmits();
                for t in std::mem::take(&mut self.outstanding) {
                    match respond(u, &t)? {
                        Some(frame) => {
                            self.answers += 1;
                            self.answer(&t, frame);
                        }
                        None => self.outstanding.push(t),
                    }
                }
            }
            4 => {
                if let Some(i) = self.pick(u)? {
                    let t = self.outstanding.swap_remove(i);
                    let n = u.int_in_range(0u16..=512)?;
                    let frame = Bytes::copy_from_slice(u.bytes(usize::from(n).min(u.len()))?);
                    self.answer(&t, frame);
                }
            }
            5..=8 => {
                if let Some(i) = self.pick(u)? {
                    let t = self.outstanding.swap_remove(i);
                    if let Some(frame) = respond(u, &t)? {
                        self.answers += 1;
                        self.answer(&t, frame);
                    } else {
                        self.outstanding.push(t);
                    }
                }
            }
            9 => {
                if let Some(i) = self.pick(u)? {
                    let node = self.outstanding[i].node;
                    self.outstanding.retain(|t| t.node != node);
                    self.consumer.handle_disconnect(node, self.now);
                }
            }
            10 | 11 => {
                let max = usize::from(u.int_in_range(0u8..=40)?);
                self.poll_records(max);
            }
            12 => {
                let tp = self.partition(u)?;
                let offset = i64::from(u.int_in_range(-1i16..=200)?);
                if self.consumer.seek(&tp, offset).is_ok() {
                    self.last.remove(&tp);
                }
            }
            13 => {
                let tps = self.partitions(u)?;
                let _ = match u.int_in_range(0u8..=3)? {
                    0 => self.consumer.pause(&tps),
                    1 => self.consumer.resume(&tps),
                    2 => self.consumer.seek_to_beginning(&tps),
                    _ => self.consumer.seek_to_end(&tps),
                };
                for tp in &tps {
                    self.last.remove(tp);
                }
            }
            14 => match u.int_in_range(0u8..=5)? {
                0 | 1 => {
                    let offsets = self.consumer.consumed_offsets();
                    let _ = if u.arbitrary()? {
                        self.consumer.commit(offsets)
                    } else {
                        self.consumer.commit_async(offsets)
                    };
                }
                2 => {
                    let tps = self.partitions(u)?;
                    let _ = self.consumer.committed(tps);
                }
                3 => {
                    let tps = self.partitions(u)?;
                    let ts = i64::from(u.int_in_range(-2i8..=100)?);
                    let _ = self
                        .consumer
                        .list_offsets(tps.into_iter().map(|t| (t, ts)).collect());
                }
                4 => self.consumer.poll_started(self.now),
                _ => {
                    let tp = self.partition(u)?;
                    let offset = i64::from(u.int_in_range(0u8..=200)?);
                    let _ = self.consumer.commit(vec![(
                        tp,
                        OffsetAndMetadata {
                            offset,
                            leader_epoch: None,
                            metadata: String::new(),
                        },
                    )]);
                }
            },
            _ => {
                // Rarely: change the subscription or assignment.
                if u.int_in_range(0u8..=7)? == 0 {
                    if self.group && u.arbitrary()? {
                        self.consumer.unsubscribe();
                        let _ = self.consumer.subscribe(["a".to_owned()]);
                    } else if !self.group {
                        let tps = self.partitions(u)?;
                        let _ = self.consumer.assign(tps);
                    }
                    self.last.clear();
                }
            }
        }
        Ok(())
    }

    /// Checks that hold after every step, and forgets the last offsets of partitions whose
    /// position may legitimately move back.
    fn after_step(&mut self) {
        if let Some(t) = self.consumer.poll_timeout() {
            assert!(t > self.now, "poll_timeout is not after the last now");
        }
        // The life of a request: every request recorded has ended (its owner told) or is
        // pending, and each pending one is either still queued in the core or one this
        // driver holds (sent, not answered or failed yet).
        let counts = self.consumer.request_counts();
        assert_eq!(counts.recorded, counts.ended + counts.pending, "{counts:?}");
        if !self.consumer.is_closed() {
            assert_eq!(
                counts.pending,
                counts.queued + self.outstanding.len() as u64,
                "{counts:?}"
            );
        }
        assert!(
            self.outstanding.len() < MAX_OUTSTANDING,
            "{} requests outstanding",
            self.outstanding.len()
        );
        while let Some(e) = self.consumer.poll_event() {
            match e {
                Event::PartitionsRevoked(tps)
                | Event::PartitionsAssigned(tps)
                | Event::PartitionsLost(tps) => {
                    for tp in tps {
                        self.last.remove(&tp);
                    }
                }
                _ => {}
            }
        }
        // A position being looked up (reset, committed offset) may come back lower.
        let assigned = self.consumer.assignment();
        self.last.retain(|tp, _| {
            assigned.contains(tp) && matches!(self.consumer.position(tp), Ok(Some(_)))
        });
    }

    fn pick(&self, u: &mut Unstructured) -> Res<Option<usize>> {
        if self.outstanding.is_empty() {
            return Ok(None);
        }
        Ok(Some(u.choose_index(self.outstanding.len())?))
    }

    fn partition(&self, u: &mut Unstructured) -> Res<TopicPartition> {
        let all = all_partitions();
        Ok(all[u.choose_index(all.len())?].clone())
    }

    fn partitions(&self, u: &mut Unstructured) -> Res<Vec<TopicPartition>> {
        let mask = u.arbitrary::<u8>()?;
        Ok(all_partitions()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, tp)| tp)
            .collect())
    }

    fn drain_transmits(&mut self) {
        let mut n = 0;
        while let Some(t) = self.consumer.poll_transmit(self.now) {
            self.outstanding.push(t);
            n += 1;
            assert!(n < MAX_OUTSTANDING, "poll_transmit does not stop");
        }
    }

    fn answer(&mut self, t: &Transmit, frame: Bytes) {
        self.consumer
            .handle_response(t.node, t.correlation_id, frame, self.now);
    }

    fn poll_records(&mut self, max: usize) {
        let assigned = self.consumer.assignment();
        let paused = self.consumer.paused();
        let before: HashMap<TopicPartition, Option<i64>> = assigned
            .iter()
            .map(|tp| {
                let pos = self.consumer.position(tp).ok().flatten().map(|p| p.offset);
                (tp.clone(), pos)
            })
            .collect();
        let Ok(records) = self.consumer.poll_records(max) else {
            return;
        };
        assert!(
            records.len() <= max,
            "{} records for max {max}",
            records.len()
        );
        self.records += records.len();
        let mut seen: HashMap<TopicPartition, i64> = HashMap::new();
        for r in &records {
            let tp = TopicPartition::new(&*r.topic, r.partition);
            let Some(pos) = before.get(&tp) else {
                panic!("record {} of unassigned {tp:?}", r.offset);
            };
            assert!(
                !paused.contains(&tp),
                "record {} of paused {tp:?}",
                r.offset
            );
            let Some(pos) = pos else {
                panic!("record {} of {tp:?}, which has no position", r.offset);
            };
            let floor = seen.get(&tp).map_or(*pos, |prev| prev + 1);
            assert!(
                r.offset >= floor,
                "{tp:?}: record {} below {floor} (position before the poll {pos})",
                r.offset
            );
            if let Some(prev) = self.last.get(&tp) {
                assert!(
                    r.offset > *prev,
                    "{tp:?}: record {} after {prev} was handed out, with no seek or reset",
                    r.offset
                );
            }
            seen.insert(tp.clone(), r.offset);
            self.last.insert(tp, r.offset);
        }
        for (tp, last) in seen {
            let after = self.consumer.position(&tp).ok().flatten().map(|p| p.offset);
            // Past the last record handed out; further when what follows in its batch is
            // not for the caller (control or aborted records, an empty batch).
            assert!(
                after.is_some_and(|a| a > last),
                "{tp:?}: position {after:?} after handing out {last}"
            );
        }
    }
}

/// A well-formed answer to `t`, from fuzzer-chosen values (None if not encodable).
fn respond(u: &mut Unstructured, t: &Transmit) -> Res<Option<Bytes>> {
    let corr = t.correlation_id;
    let v = t.api_version;
    let req = t.frame.clone();
    let frame = match t.api_key {
        ApiKey::ApiVersions => {
            let mut api_keys = Vec::new();
            for &a in ApiKey::ALL.iter() {
                if !u.ratio(15u8, 16)? {
                    continue;
                }
                let r = a.versions();
                // Out of input the ranges are the full ones (as for every default below:
                // an input that runs out gets a cooperative broker, so short inputs go deep).
                let span = r.max - r.min - u.int_in_range(0..=r.max - r.min)?;
                api_keys.push(ApiVersion {
                    api_key: a as i16,
                    min_version: r.min,
                    max_version: r.min + span,
                });
            }
            let resp = ApiVersionsResponse {
                error_code: error(u)?,
                api_keys,
                ..Default::default()
            };
            encode::<ApiVersionsRequest>(corr, v, &resp)
        }
        ApiKey::Metadata => {
            let brokers = (0..BROKERS - u.int_in_range(0..=BROKERS - 1)?)
                .map(|id| MetadataResponseBroker {
                    node_id: id,
                    host: format!("b{id}"),
                    port: 9092,
                    rack: None,
                })
                .collect();
            let mut topics = Vec::new();
            for (name, id) in TOPICS {
                if !u.ratio(7u8, 8)? {
                    continue;
                }
                let count = 4 - u.int_in_range(0..=4)?;
                let mut partitions = Vec::new();
                for p in 0..count {
                    partitions.push(MetadataResponsePartition {
                        error_code: error(u)?,
                        partition_index: p,
                        leader_id: node(u)?,
                        leader_epoch: u.int_in_range(-1..=3)?,
                        replica_nodes: (0..BROKERS)
                            .filter(|_| u.ratio(2u8, 3).unwrap_or(true))
                            .collect(),
                        ..Default::default()
                    });
                }
                topics.push(MetadataResponseTopic {
                    error_code: error(u)?,
                    name: Some(name.to_owned()),
                    topic_id: id,
                    partitions,
                    ..Default::default()
                });
            }
            let resp = MetadataResponse {
                brokers,
                cluster_id: Some("c".into()),
                controller_id: 0,
                topics,
                ..Default::default()
            };
            encode::<MetadataRequest>(corr, v, &resp)
        }
        ApiKey::Fetch => {
            let Ok((_, req)) = decode_request_frame::<FetchRequest>(req) else {
                return Ok(None);
            };
            let mut responses = Vec::new();
            for topic in &req.topics {
                let mut partitions = Vec::new();
                for p in &topic.partitions {
                    let code = error(u)?;
                    let delta = [0, -1, -2, -3, 1, 2, 3][u.choose_index(7)?];
                    let base = p.fetch_offset + delta;
                    let (records, end) = if code == 0 {
                        batches(u, base)?
                    } else {
                        (Bytes::new(), base)
                    };
                    let hw = end.max(0) + i64::from(u.int_in_range(0u8..=20)?);
                    partitions.push(PartitionData {
                        partition_index: p.partition,
                        error_code: code,
                        high_watermark: hw,
                        last_stable_offset: hw,
                        log_start_offset: i64::from(u.int_in_range(-1i8..=10)?),
                        aborted_transactions: if req.isolation_level == 1 {
                            Some(aborted(u, base)?)
                        } else {
                            None
                        },
                        preferred_read_replica: if u.ratio(1u8, 8)? { node(u)? } else { -1 },
                        records: Some(records),
                        ..Default::default()
                    });
                }
                responses.push(FetchableTopicResponse {
                    topic: topic.topic.clone(),
                    topic_id: topic.topic_id,
                    partitions,
                });
            }
            let resp = FetchResponse {
                error_code: if u.ratio(1u8, 16)? { error(u)? } else { 0 },
                responses,
                ..Default::default()
            };
            encode::<FetchRequest>(corr, v, &resp)
        }
        ApiKey::ListOffsets => {
            let Ok((_, req)) = decode_request_frame::<ListOffsetsRequest>(req) else {
                return Ok(None);
            };
            let mut topics = Vec::new();
            for topic in &req.topics {
                let mut partitions = Vec::new();
                for p in &topic.partitions {
                    partitions.push(ListOffsetsPartitionResponse {
                        partition_index: p.partition_index,
                        error_code: error(u)?,
                        timestamp: -1,
                        offset: offset(u)?,
                        leader_epoch: u.int_in_range(-1..=3)?,
                    });
                }
                topics.push(ListOffsetsTopicResponse {
                    name: topic.name.clone(),
                    partitions,
                });
            }
            let resp = ListOffsetsResponse {
                topics,
                ..Default::default()
            };
            encode::<ListOffsetsRequest>(corr, v, &resp)
        }
        ApiKey::FindCoordinator => {
            let Ok((_, req)) = decode_request_frame::<FindCoordinatorRequest>(req) else {
                return Ok(None);
            };
            let node = node(u)?;
            let code = error(u)?;
            let resp = if v >= 4 {
                FindCoordinatorResponse {
                    coordinators: req
                        .coordinator_keys
                        .iter()
                        .map(|k| Coordinator {
                            key: k.clone(),
                            node_id: node,
                            host: format!("b{node}"),
                            port: 9092,
                            error_code: code,
                            error_message: None,
                        })
                        .collect(),
                    ..Default::default()
                }
            } else {
                FindCoordinatorResponse {
                    error_code: code,
                    node_id: node,
                    host: format!("b{node}"),
                    port: 9092,
                    ..Default::default()
                }
            };
            encode::<FindCoordinatorRequest>(corr, v, &resp)
        }
        ApiKey::JoinGroup => {
            let Ok((_, req)) = decode_request_frame::<JoinGroupRequest>(req) else {
                return Ok(None);
            };
            let member = if req.member_id.is_empty() || u.ratio(1u8, 8)? {
                format!("m{}", u.int_in_range(0u8..=2)?)
            } else {
                req.member_id.clone()
            };
            let protocol = if req.protocols.is_empty() {
                None
            } else {
                Some(
                    req.protocols[u.choose_index(req.protocols.len())?]
                        .name
                        .clone(),
                )
            };
            let leader = !u.arbitrary::<bool>()?;
            let mut members = Vec::new();
            if leader {
                members.push(JoinGroupResponseMember {
                    member_id: member.clone(),
                    group_instance_id: None,
                    metadata: req
                        .protocols
                        .first()
                        .map(|p| p.metadata.clone())
                        .unwrap_or_default(),
                });
                for i in 0..u.int_in_range(0u8..=2)? {
                    let sub = ConsumerProtocolSubscription {
                        topics: vec!["a".into(), "b".into()],
                        owned_partitions: assignment(u)?,
                        generation_id: u.int_in_range(-1..=3)?,
                        ..Default::default()
                    };
                    members.push(JoinGroupResponseMember {
                        member_id: format!("other{i}"),
                        group_instance_id: None,
                        metadata: sub.encode(u.int_in_range(0..=3)?).unwrap_or_default(),
                    });
                }
            }
            let resp = JoinGroupResponse {
                error_code: error(u)?,
                generation_id: 1 + u.int_in_range(0..=5)?,
                protocol_type: Some("consumer".into()),
                protocol_name: protocol,
                leader: if leader {
                    member.clone()
                } else {
                    "other".into()
                },
                member_id: member,
                members,
                ..Default::default()
            };
            encode::<JoinGroupRequest>(corr, v, &resp)
        }
        ApiKey::SyncGroup => {
            let a = ConsumerProtocolAssignment {
                assigned_partitions: assignment(u)?,
                user_data: None,
            };
            let resp = SyncGroupResponse {
                error_code: error(u)?,
                protocol_type: Some("consumer".into()),
                protocol_name: None,
                assignment: a.encode(u.int_in_range(0..=3)?).unwrap_or_default(),
                ..Default::default()
            };
            encode::<SyncGroupRequest>(corr, v, &resp)
        }
        ApiKey::Heartbeat => {
            let resp = HeartbeatResponse {
                error_code: error(u)?,
                ..Default::default()
            };
            encode::<HeartbeatRequest>(corr, v, &resp)
        }
        ApiKey::LeaveGroup => {
            let resp = LeaveGroupResponse {
                error_code: error(u)?,
                ..Default::default()
            };
            encode::<LeaveGroupRequest>(corr, v, &resp)
        }
        ApiKey::OffsetCommit => {
            let Ok((_, req)) = decode_request_frame::<OffsetCommitRequest>(req) else {
                return Ok(None);
            };
            let mut topics = Vec::new();
            for topic in &req.topics {
                let mut partitions = Vec::new();
                for p in &topic.partitions {
                    partitions.push(OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: error(u)?,
                    });
                }
                topics.push(OffsetCommitResponseTopic {
                    name: topic.name.clone(),
                    topic_id: topic.topic_id,
                    partitions,
                });
            }
            let resp = OffsetCommitResponse {
                topics,
                ..Default::default()
            };
            encode::<OffsetCommitRequest>(corr, v, &resp)
        }
        ApiKey::OffsetFetch => {
            let Ok((_, req)) = decode_request_frame::<OffsetFetchRequest>(req) else {
                return Ok(None);
            };
            let asked = if v >= 8 {
                req.groups.first().and_then(|g| g.topics.clone())
            } else {
                req.topics.clone()
            };
            let mut topics = Vec::new();
            for topic in asked.iter().flatten() {
                let mut partitions = Vec::new();
                for p in &topic.partition_indexes {
                    partitions.push(OffsetFetchResponsePartition {
                        partition_index: *p,
                        committed_offset: offset(u)?,
                        committed_leader_epoch: u.int_in_range(-1..=3)?,
                        metadata: Some(String::new()),
                        error_code: error(u)?,
                    });
                }
                topics.push(OffsetFetchResponseTopic {
                    name: topic.name.clone(),
                    topic_id: topic.topic_id,
                    partitions,
                });
            }
            let code = error(u)?;
            let resp = if v >= 8 {
                OffsetFetchResponse {
                    groups: vec![OffsetFetchResponseGroup {
                        group_id: "g".into(),
                        topics,
                        error_code: code,
                    }],
                    ..Default::default()
                }
            } else {
                OffsetFetchResponse {
                    topics,
                    error_code: code,
                    ..Default::default()
                }
            };
            encode::<OffsetFetchRequest>(corr, v, &resp)
        }
        ApiKey::SaslHandshake => {
            let resp = SaslHandshakeResponse {
                error_code: sasl_error(u)?,
                mechanisms: vec!["PLAIN".to_owned(), "SCRAM-SHA-512".to_owned()],
            };
            encode::<SaslHandshakeRequest>(corr, v, &resp)
        }
        ApiKey::SaslAuthenticate => {
            let session_lifetime_ms = match u.int_in_range(0u8..=3)? {
                0 => 0,
                1 => i64::from(u.int_in_range(1u16..=5_000)?),
                2 => -1,
                _ => i64::MAX,
            };
            let resp = SaslAuthenticateResponse {
                error_code: sasl_error(u)?,
                error_message: None,
                auth_bytes: Bytes::new(),
                session_lifetime_ms,
            };
            encode::<SaslAuthenticateRequest>(corr, v, &resp)
        }
        ApiKey::ConsumerGroupHeartbeat => {
            let mut assignment = None;
            if u.arbitrary::<bool>()? {
                let mut tps = Vec::new();
                for (_, id) in TOPICS {
                    if u.arbitrary::<bool>()? {
                        let partitions = (0..u.int_in_range(0..=4)?)
                            .map(|_| u.int_in_range(-1..=4))
                            .collect::<Result<Vec<i32>, _>>()?;
                        tps.push(CghTopicPartitions {
                            topic_id: if u.ratio(1u8, 8)? { [9; 16] } else { id },
                            partitions,
                        });
                    }
                }
                assignment = Some(tps);
            }
            let resp = ConsumerGroupHeartbeatResponse {
                error_code: error(u)?,
                member_id: if u.arbitrary::<bool>()? {
                    Some("m-fuzz".into())
                } else {
                    None
                },
                member_epoch: u.int_in_range(-2..=5)?,
                heartbeat_interval_ms: u.int_in_range(-1..=5_000)?,
                assignment,
                ..Default::default()
            };
            encode::<ConsumerGroupHeartbeatRequest>(corr, v, &resp)
        }
        ApiKey::OffsetForLeaderEpoch => {
            let Ok((_, req)) = decode_request_frame::<OffsetForLeaderEpochRequest>(req) else {
                return Ok(None);
            };
            let mut topics = Vec::new();
            for topic in &req.topics {
                let mut partitions = Vec::new();
                for p in &topic.partitions {
                    partitions.push(EpochEndOffset {
                        error_code: error(u)?,
                        partition: p.partition,
                        leader_epoch: u.int_in_range(-1..=3)?,
                        end_offset: offset(u)?,
                    });
                }
                topics.push(OffsetForLeaderTopicResult {
                    topic: topic.topic.clone(),
                    partitions,
                });
            }
            let resp = OffsetForLeaderEpochResponse {
                topics,
                ..Default::default()
            };
            encode::<OffsetForLeaderEpochRequest>(corr, v, &resp)
        }
    };
    Ok(frame)
}

/// Aborted transactions of a Fetch answer at isolation level 1: producers 0..3 starting
/// around `base`.
fn aborted(u: &mut Unstructured, base: i64) -> Res<Vec<AbortedTransaction>> {
    let mut out = Vec::new();
    for _ in 0..u.int_in_range(0u8..=2)? {
        out.push(AbortedTransaction {
            producer_id: i64::from(u.int_in_range(0u8..=2)?),
            first_offset: base + i64::from(u.int_in_range(-2i8..=8)?),
        });
    }
    Ok(out)
}

fn encode<R: Request>(corr: i32, version: i16, body: &R::Response) -> Option<Bytes> {
    // Without the size prefix, as the network layer hands frames over.
    let frame = encode_response_frame::<R>(corr, version, body).ok()?;
    (frame.len() >= 4).then(|| frame.slice(4..))
}

/// Mostly success; otherwise one of [`ERRORS`] or any code.
fn error(u: &mut Unstructured) -> Res<i16> {
    Ok(match u.int_in_range(0u8..=15)? {
        0..=10 => 0,
        11..=14 => ERRORS[u.choose_index(ERRORS.len())?],
        _ => u.arbitrary()?,
    })
}

fn assignment(u: &mut Unstructured) -> Res<Vec<TopicPartitions>> {
    let mut out = Vec::new();
    for (name, _) in TOPICS {
        let mask = !u.arbitrary::<u8>()?;
        let partitions: Vec<i32> = (0..5).filter(|p| mask & (1 << p) != 0).collect();
        if !partitions.is_empty() {
            out.push(TopicPartitions {
                topic: name.into(),
                partitions,
            });
        }
    }
    Ok(out)
}

/// Up to two record batches from `base` (which may be before the offset asked), and the
/// offset after them.
fn batches(u: &mut Unstructured, base: i64) -> Res<(Bytes, i64)> {
    let mut out = Vec::new();
    let mut next = base.max(0);
    for _ in 0..(u.int_in_range(0u8..=2)? + 1) % 3 {
        let n = 5 - u.int_in_range(0u8..=5)?;
        let mut records = Vec::new();
        for i in 0..i64::from(n) {
            let len = usize::from(u.int_in_range(0u8..=8)?);
            records.push(Record {
                offset: next + i,
                timestamp: 1_700_000_000_000 + next + i,
                key: None,
                value: Some(Bytes::copy_from_slice(u.bytes(len.min(u.len()))?)),
                ..Default::default()
            });
        }
        // Plain data, or a producer's transactional data or marker (read_committed).
        let kind = u.int_in_range(0u8..=7)?;
        let mut builder = BatchBuilder::new(next);
        if kind >= 4 {
            builder.transactional = true;
            builder.producer_id = i64::from(kind % 3);
            builder.producer_epoch = 0;
        }
        if kind >= 6 && n > 0 {
            let marker = if kind == 6 {
                ControlRecordType::Abort
            } else {
                ControlRecordType::Commit
            };
            builder.control = true;
            records.truncate(1);
            if let Some(r) = records.first_mut() {
                r.key = Some(Bytes::copy_from_slice(&ControlRecord::key(marker)));
            }
        }
        let n = records.len() as i64;
        if let Ok(b) = builder.build(&records) {
            out.extend_from_slice(&b);
        }
        next += n + i64::from(u.int_in_range(0u8..=2)?);
    }
    if u.ratio(1u8, 8)? {
        // A torn batch at the end, as brokers send at the size limit.
        let cut = out.len().saturating_sub(usize::from(u.arbitrary::<u8>()?));
        out.truncate(cut);
    }
    Ok((Bytes::from(out), next))
}

/// A SASL answer's error: mostly none (out of input: none), else one a broker sends.
fn sasl_error(u: &mut Unstructured) -> Res<i16> {
    Ok(match u.int_in_range(0u8..=15)? {
        1 => 33, // UNSUPPORTED_SASL_MECHANISM
        2 => 34, // ILLEGAL_SASL_STATE
        3 => 58, // SASL_AUTHENTICATION_FAILED
        _ => 0,
    })
}

/// A broker id, or -1 (none).
fn node(u: &mut Unstructured) -> Res<i32> {
    let n = u.int_in_range(0..=BROKERS)?;
    Ok(if n == BROKERS { -1 } else { n })
}

/// An offset, or -1 (none).
fn offset(u: &mut Unstructured) -> Res<i64> {
    let n = u.int_in_range(0i64..=201)?;
    Ok(if n == 201 { -1 } else { n })
}

/// Seeds: each configuration, then rounds of a cooperative broker (zeros answer with
/// success, full version ranges, three brokers, leaders and records) and polls.
pub fn seeds() -> Vec<crate::seeds::Seed> {
    let mut out = Vec::new();
    for mode in [0u8, 1, 2, 4, 9, 17, 33, 64 + 1, 128, 128 + 1] {
        for pad in [40usize, 120, 400] {
            let mut data = vec![mode, 19];
            data.extend([1u8; 8]);
            for _ in 0..12 {
                data.push(16);
                data.extend(std::iter::repeat_n(0u8, pad));
                data.extend([10, 40]);
            }
            out.push((format!("mode{mode}-pad{pad}"), data));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    /// The seeds reach the deep states: records are handed out.
    #[test]
    fn seeds_hand_out_records() {
        let mut best = super::Depth::default();
        for (name, data) in super::seeds() {
            let d = super::check(&data);
            println!("{name}: {d:?}");
            best.records = best.records.max(d.records);
        }
        assert!(best.records > 0);
    }

    /// Replays the grown corpus (`fuzz/corpus/consumer_core`, after a run) and reports
    /// how deep it gets: `cargo test -- --ignored --nocapture corpus_depth`.
    #[test]
    #[ignore = "needs a corpus from a fuzz run"]
    fn corpus_depth() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/consumer_core");
        let (mut inputs, mut with_records, mut records, mut answers, mut assigned) =
            (0, 0, 0, 0, 0);
        for entry in std::fs::read_dir(dir).expect("corpus").flatten() {
            let data = std::fs::read(entry.path()).expect("input");
            let d = super::check(&data);
            inputs += 1;
            with_records += usize::from(d.records > 0);
            records += d.records;
            answers += d.answers;
            assigned = assigned.max(d.assigned);
        }
        println!(
            "{inputs} inputs, {with_records} hand out records ({records} in all), \
             {answers} well-formed answers, at most {assigned} partitions assigned"
        );
        assert!(with_records > 0);
    }
}
