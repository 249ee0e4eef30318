//! The brokers: each request decoded and answered with the crate's own codec, at the
//! versions the broker advertises, and what the brokers saw.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::codec::messages::api_versions::{ApiVersion, UNSUPPORTED_VERSION};
use crate::codec::messages::fetch::{FetchableTopicResponse, PartitionData};
use crate::codec::messages::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use crate::codec::messages::metadata::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::codec::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse,
};
use crate::codec::{decode_request_frame, encode_response_frame, ApiKey, Request, RequestHeader};
use crate::consumer::{NodeId, Transmit};
use crate::error_code::ErrorCode;
use crate::topic_partition::TopicPartition;

use super::cluster::{Partition, TestCluster, Topic};
use super::faults::Action;
use super::network::{DisconnectCause, Gate, Pending, Reply};
use super::sasl::Verdict;
use super::tp;

/// A request as a broker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// Simulated time since the start.
    pub at: Duration,
    /// The client that sent it: 0 for the consumer driven with [`TestCluster::step`], else
    /// a [`Member`](super::Member)'s `client`.
    pub client: usize,
    /// The consumer's node id for the connection.
    pub node: NodeId,
    /// The broker that received it.
    pub broker: i32,
    /// Its correlation id.
    pub correlation_id: i32,
    /// Its API.
    pub api: ApiKey,
    /// Its version.
    pub version: i16,
    /// Fetch: each partition with its fetch offset; ListOffsets: each with its timestamp.
    pub partitions: Vec<(TopicPartition, i64)>,
    /// Metadata: the topics asked for (`None`: all).
    pub topics: Option<Vec<String>>,
    /// Group APIs: the group.
    pub group: String,
    /// Group APIs: the member id sent.
    pub member_id: String,
    /// Group APIs: the generation sent (-1: none).
    pub generation: i32,
}

/// A per-partition error a broker answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    /// Simulated time of the answer.
    pub at: Duration,
    /// The broker that answered.
    pub broker: i32,
    /// The API (Fetch or ListOffsets).
    pub api: ApiKey,
    /// The partition.
    pub tp: TopicPartition,
    /// The error.
    pub code: ErrorCode,
}

impl TestCluster {
    // ---- queries on what was seen ----

    /// The requests of `api`, in order.
    pub fn requests_of(&self, api: ApiKey) -> Vec<SeenRequest> {
        self.requests
            .iter()
            .filter(|r| r.api == api)
            .cloned()
            .collect()
    }

    /// Requests of `api` received so far.
    pub fn count(&self, api: ApiKey) -> usize {
        self.requests.iter().filter(|r| r.api == api).count()
    }

    // ---- answering ----

    /// A broker handles one request on an open connection.
    pub(super) fn process(&mut self, client: usize, broker: i32, t: Transmit) {
        let now = self.now();
        let profile = &self.brokers[&broker].profile;
        let advertised = profile.range(t.api_key);
        let api_versions_probe = t.api_key == ApiKey::ApiVersions;
        assert!(
            api_versions_probe || advertised.is_some_and(|(a, b)| (a..=b).contains(&t.api_version)),
            "client sent {} v{} to broker {broker}, which advertises {advertised:?}",
            t.api_key,
            t.api_version
        );
        let action = self.take_rule(t.api_key, broker, client);
        let error = match action {
            Some(Action::Error(code)) => Some(code),
            _ => None,
        };
        let mut seen = SeenRequest {
            at: self.elapsed,
            client,
            node: t.node,
            broker,
            correlation_id: t.correlation_id,
            api: t.api_key,
            version: t.api_version,
            partitions: Vec::new(),
            topics: None,
            group: String::new(),
            member_id: String::new(),
            generation: -1,
        };
        let corr = t.correlation_id;
        let (reply, close_after) = match self.sasl_verdict(client, broker, &t, error) {
            Verdict::Refuse => {
                // As Kafka: the connection closes, the request is never answered.
                self.requests.push(seen);
                self.cut_endpoint(client, t.node, DisconnectCause::Cut);
                return;
            }
            Verdict::Answer { frame, close } => (Reply::Frame(frame), close),
            Verdict::Pass => (
                self.answer(broker, t.clone(), action, error, &mut seen),
                false,
            ),
        };
        self.requests.push(seen);
        let gate = match action {
            Some(Action::Hold) => Gate::Held,
            Some(Action::Drop) => Gate::Dropped,
            Some(Action::Delay(d)) => Gate::At(now + self.latency + d),
            _ => Gate::At(now + self.latency),
        };
        let conn = self.conns.get_mut(&(client, t.node)).expect("connection");
        conn.pending.push_back(Pending {
            correlation_id: corr,
            sent_at: now,
            timeout: t.timeout.unwrap_or(self.request_timeout),
            gate,
            reply,
            close_after,
        });
        if action == Some(Action::Cut) {
            self.cut_endpoint(client, t.node, DisconnectCause::Cut);
        }
    }

    /// The broker's answer to a request it accepts.
    fn answer(
        &mut self,
        broker: i32,
        t: Transmit,
        action: Option<Action>,
        error: Option<i16>,
        seen: &mut SeenRequest,
    ) -> Reply {
        let now = self.now();
        let frame = t.frame.clone();
        let corr = t.correlation_id;
        let v = t.api_version;
        match t.api_key {
            ApiKey::ApiVersions => {
                let (_, _req) = decode::<ApiVersionsRequest>(frame);
                Reply::Frame(encode::<ApiVersionsRequest>(
                    corr,
                    v,
                    &self.api_versions(broker, v, error),
                ))
            }
            ApiKey::Metadata => {
                let (_, req) = decode::<MetadataRequest>(frame);
                seen.topics = req
                    .topics
                    .as_ref()
                    .filter(|t| v > 0 || !t.is_empty())
                    .map(|t| t.iter().filter_map(|t| t.name.clone()).collect());
                let resp = self.metadata(v, seen.topics.as_deref(), error);
                Reply::Frame(encode::<MetadataRequest>(corr, v, &resp))
            }
            ApiKey::ListOffsets => {
                let (_, req) = decode::<ListOffsetsRequest>(frame);
                seen.partitions = req
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (tp(&t.name, p.partition_index), p.timestamp))
                    })
                    .collect();
                let resp = self.list_offsets(broker, &req, error);
                for t in &resp.topics {
                    for p in t.partitions.iter().filter(|p| p.error_code != 0) {
                        self.partition_errors.push(PartitionError {
                            at: self.elapsed,
                            broker,
                            api: ApiKey::ListOffsets,
                            tp: tp(&t.name, p.partition_index),
                            code: ErrorCode::from_i16(p.error_code),
                        });
                    }
                }
                Reply::Frame(encode::<ListOffsetsRequest>(corr, v, &resp))
            }
            ApiKey::Fetch => {
                let (_, wire) = decode::<FetchRequest>(frame);
                seen.partitions = wire
                    .topics
                    .iter()
                    .flat_map(|t| {
                        let name = self.topic_name(v, &t.topic, &t.topic_id);
                        t.partitions
                            .iter()
                            .map(move |p| (tp(&name, p.partition), p.fetch_offset))
                    })
                    .collect();
                let topics = &self.topics;
                let name_of = |id: &[u8; 16]| topic_name_by_id(topics, id);
                match self.fetch_sessions.receive(broker, v, &wire, name_of) {
                    Err(resp) => Reply::Frame(encode::<FetchRequest>(corr, v, &resp)),
                    Ok((req, session)) => {
                        let (resp, ready) = self.fetch(broker, v, &req, error);
                        let resp = session.finish(resp);
                        if ready || req.max_wait_ms <= 0 || action.is_some() {
                            self.note_fetch_errors(broker, v, &resp);
                            Reply::Frame(encode::<FetchRequest>(corr, v, &resp))
                        } else {
                            let wait = Duration::from_millis(req.max_wait_ms as u64);
                            Reply::LongPoll {
                                req,
                                version: v,
                                deadline: now + self.latency + wait,
                                session,
                            }
                        }
                    }
                }
            }
            ApiKey::OffsetForLeaderEpoch => {
                Reply::Frame(self.offset_for_leader_epoch(broker, corr, v, frame, error, seen))
            }
            api if is_group_api(api) => {
                // The coordinator never sees a request lost on the way.
                let lost = action == Some(Action::Drop);
                self.group_request(broker, v, corr, frame, error, lost, seen)
            }
            other => panic!("the simulated broker does not answer {other}"),
        }
    }

    pub(super) fn note_fetch_errors(&mut self, broker: i32, version: i16, resp: &FetchResponse) {
        for t in &resp.responses {
            let name = self.topic_name(version, &t.topic, &t.topic_id);
            for p in t.partitions.iter().filter(|p| p.error_code != 0) {
                self.partition_errors.push(PartitionError {
                    at: self.elapsed,
                    broker,
                    api: ApiKey::Fetch,
                    tp: tp(&name, p.partition_index),
                    code: ErrorCode::from_i16(p.error_code),
                });
            }
        }
    }

    fn api_versions(&self, broker: i32, version: i16, error: Option<i16>) -> ApiVersionsResponse {
        let profile = &self.brokers[&broker].profile;
        let (min, max) = profile.range(ApiKey::ApiVersions).unwrap_or((0, 0));
        if version > max || version < min {
            // KIP-511: too new; say which ApiVersions versions we speak, in a v0 body.
            return ApiVersionsResponse {
                error_code: UNSUPPORTED_VERSION,
                api_keys: vec![ApiVersion {
                    api_key: ApiKey::ApiVersions as i16,
                    min_version: min,
                    max_version: max,
                }],
                ..ApiVersionsResponse::default()
            };
        }
        if let Some(code) = error {
            return ApiVersionsResponse {
                error_code: code,
                ..ApiVersionsResponse::default()
            };
        }
        ApiVersionsResponse {
            api_keys: profile
                .apis
                .iter()
                .map(|&(api_key, min_version, max_version)| ApiVersion {
                    api_key,
                    min_version,
                    max_version,
                })
                .collect(),
            ..ApiVersionsResponse::default()
        }
    }

    fn metadata(
        &self,
        version: i16,
        topics: Option<&[String]>,
        error: Option<i16>,
    ) -> MetadataResponse {
        let names: Vec<String> = match topics {
            Some(t) => t.to_vec(),
            None => self.topics.keys().cloned().collect(),
        };
        let topics = names
            .into_iter()
            .map(|name| match self.topics.get(&name) {
                None => MetadataResponseTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                    name: Some(name),
                    ..MetadataResponseTopic::default()
                },
                Some(t) => MetadataResponseTopic {
                    error_code: error.unwrap_or(0),
                    name: Some(name.clone()),
                    topic_id: if version >= 10 { t.id } else { [0; 16] },
                    partitions: t
                        .partitions
                        .iter()
                        .enumerate()
                        .map(|(i, p)| MetadataResponsePartition {
                            partition_index: i as i32,
                            leader_id: p.leader,
                            leader_epoch: if version >= 7 { p.epoch } else { -1 },
                            replica_nodes: self.replicas_of(&tp(&name, i as i32), p.leader),
                            isr_nodes: self.replicas_of(&tp(&name, i as i32), p.leader),
                            ..MetadataResponsePartition::default()
                        })
                        .collect(),
                    ..MetadataResponseTopic::default()
                },
            })
            .collect();
        MetadataResponse {
            brokers: self
                .brokers
                .values()
                .filter(|b| self.lists_broker(b.id))
                .map(|b| MetadataResponseBroker {
                    node_id: b.id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: self.rack_of(b.id),
                })
                .collect(),
            cluster_id: (version >= 2).then(|| "sim-cluster".to_owned()),
            controller_id: if version >= 1 { 1 } else { -1 },
            topics,
            ..MetadataResponse::default()
        }
    }

    /// Leadership and fencing checks shared by Fetch and ListOffsets.
    pub(super) fn check_leader(
        &self,
        broker: i32,
        topic: &str,
        partition: i32,
        epoch: i32,
    ) -> Result<&Partition, ErrorCode> {
        let p = self
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if p.leader != broker {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if epoch >= 0 && epoch > p.epoch {
            return Err(ErrorCode::UnknownLeaderEpoch);
        }
        if epoch >= 0 && epoch < p.epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        Ok(p)
    }

    fn list_offsets(
        &self,
        broker: i32,
        req: &ListOffsetsRequest,
        error: Option<i16>,
    ) -> ListOffsetsResponse {
        let topics = req
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|rp| {
                        let mut out = ListOffsetsPartitionResponse {
                            partition_index: rp.partition_index,
                            ..ListOffsetsPartitionResponse::default()
                        };
                        if let Some(code) = error {
                            out.error_code = code;
                            return out;
                        }
                        let p = match self.check_leader(
                            broker,
                            &t.name,
                            rp.partition_index,
                            rp.current_leader_epoch,
                        ) {
                            Ok(p) => p,
                            Err(code) => {
                                out.error_code = code.code();
                                return out;
                            }
                        };
                        out.leader_epoch = p.epoch;
                        match rp.timestamp {
                            -2 => out.offset = p.log_start,
                            -1 => out.offset = p.visible_end(req.isolation_level),
                            ts => {
                                if let Some(r) = p
                                    .records()
                                    .find(|r| r.timestamp >= ts && r.offset < p.high_watermark)
                                {
                                    out.offset = r.offset;
                                    out.timestamp = r.timestamp;
                                }
                            }
                        }
                        out
                    })
                    .collect(),
            })
            .collect();
        ListOffsetsResponse {
            topics,
            ..ListOffsetsResponse::default()
        }
    }

    fn topic_name(&self, version: i16, name: &str, id: &[u8; 16]) -> String {
        if version >= 13 {
            topic_name_by_id(&self.topics, id)
        } else {
            name.to_owned()
        }
    }

    /// The answer to a fetch, and whether it should go out now (data or an error).
    pub(super) fn fetch(
        &self,
        broker: i32,
        version: i16,
        req: &FetchRequest,
        error: Option<i16>,
    ) -> (FetchResponse, bool) {
        let mut ready = false;
        let mut budget = i64::from(req.max_bytes);
        let mut any_bytes = false;
        let mut responses = Vec::new();
        for t in &req.topics {
            let name = self.topic_name(version, &t.topic, &t.topic_id);
            let mut partitions = Vec::new();
            for rp in &t.partitions {
                let mut out = PartitionData {
                    partition_index: rp.partition,
                    high_watermark: -1,
                    aborted_transactions: (req.isolation_level == 1).then(Vec::new),
                    records: Some(Bytes::new()),
                    ..PartitionData::default()
                };
                if let Some(code) = error {
                    out.error_code = code;
                    ready = true;
                    partitions.push(out);
                    continue;
                }
                let unknown_id = version >= 13 && !self.topics.values().any(|x| x.id == t.topic_id);
                let p = if unknown_id {
                    Err(ErrorCode::UnknownTopicId)
                } else {
                    let serving = self.serving_as(broker, &tp(&name, rp.partition));
                    self.check_leader(serving, &name, rp.partition, rp.current_leader_epoch)
                };
                let p = match p {
                    Ok(p) => p,
                    Err(code) => {
                        out.error_code = code.code();
                        ready = true;
                        partitions.push(out);
                        continue;
                    }
                };
                // A follower serves up to its own log end; a leader may name one.
                let key = tp(&name, rp.partition);
                let follower_hw = self.as_follower(broker, &key, p.leader, p.high_watermark);
                let hw = follower_hw.unwrap_or(p.high_watermark);
                out.high_watermark = hw;
                out.last_stable_offset = p.last_stable_offset().min(hw);
                out.log_start_offset = p.log_start;
                let preferred = (follower_hw.is_none() && version >= 11)
                    .then(|| self.preferred_read_replica(&key, &req.rack_id, rp.fetch_offset, hw))
                    .flatten();
                if let Some(replica) = preferred {
                    out.preferred_read_replica = replica;
                    ready = true;
                    partitions.push(out);
                    continue;
                }
                if rp.fetch_offset < p.log_start || rp.fetch_offset > hw {
                    out.error_code = ErrorCode::OffsetOutOfRange.code();
                    ready = true;
                    partitions.push(out);
                    continue;
                }
                let mut buf = BytesMut::new();
                let visible = p.visible_end(req.isolation_level);
                let mut upper = rp.fetch_offset;
                for b in &p.log {
                    if b.last_offset() < rp.fetch_offset || b.last_offset() >= visible.min(hw) {
                        continue;
                    }
                    let size = b.bytes.len() as i64;
                    // The first batch always goes out (KIP-74), later ones within limits.
                    let first = !any_bytes;
                    let fits = buf.len() as i64 + size <= i64::from(rp.partition_max_bytes)
                        && size <= budget;
                    if !first && !fits {
                        break;
                    }
                    buf.extend_from_slice(&b.bytes);
                    budget -= size;
                    any_bytes = true;
                    upper = b.last_offset() + 1;
                }
                if req.isolation_level == 1 {
                    out.aborted_transactions =
                        Some(p.transactions.aborted_in(rp.fetch_offset, upper));
                }
                if !buf.is_empty() {
                    ready = true;
                }
                out.records = Some(buf.freeze());
                partitions.push(out);
            }
            responses.push(FetchableTopicResponse {
                topic: if version >= 13 { String::new() } else { name },
                topic_id: if version >= 13 { t.topic_id } else { [0; 16] },
                partitions,
            });
        }
        (
            FetchResponse {
                responses,
                ..FetchResponse::default()
            },
            ready,
        )
    }
}

fn is_group_api(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
            | ApiKey::ConsumerGroupHeartbeat
    )
}

/// The name of the topic with `id` (`"<unknown id>"` for none).
fn topic_name_by_id(topics: &BTreeMap<String, Topic>, id: &[u8; 16]) -> String {
    topics
        .iter()
        .find(|(_, t)| &t.id == id)
        .map_or_else(|| "<unknown id>".to_owned(), |(n, _)| n.clone())
}

pub(super) fn decode<R: Request>(frame: Bytes) -> (RequestHeader, R) {
    decode_request_frame::<R>(frame).unwrap_or_else(|e| panic!("{} request: {e}", R::API_KEY))
}

/// Encodes an answer and strips the size prefix, as the network layer does.
pub(super) fn encode<R: Request>(corr: i32, version: i16, body: &R::Response) -> Bytes {
    let frame = encode_response_frame::<R>(corr, version, body)
        .unwrap_or_else(|e| panic!("{} v{version} response: {e}", R::API_KEY));
    frame.slice(4..)
}
