//! Fetch (key 1): read records from partition leaders (the consumer's hot path).
//!
//! The record sets of the response are handed out as zero-copy slices of the received
//! frame; decoding them into batches is the record module's job, not this one's.

use super::tag_writer::TagWriter;
use super::topic_key::{put_topic, read_topic};
use crate::codec::prelude::*;

const API: ApiKey = ApiKey::Fetch;

/// The replica id of a consumer.
pub const CONSUMER_REPLICA_ID: i32 = -1;
/// The session id meaning "no fetch session".
pub const INVALID_SESSION_ID: i32 = 0;
/// The session epoch that opens a new fetch session (with session id 0).
pub const INITIAL_SESSION_EPOCH: i32 = 0;
/// The session epoch of a sessionless fetch, or of one that closes its session.
pub const FINAL_SESSION_EPOCH: i32 = -1;
/// The first version that names topics by id instead of by name.
pub const FIRST_TOPIC_ID_VERSION: i16 = 13;

/// The state of a follower replica (v15+, tagged; consumers leave it at default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaState {
    /// The follower's broker id, or -1.
    pub replica_id: i32,
    /// The follower's broker epoch, or -1.
    pub replica_epoch: i64,
}

impl Default for ReplicaState {
    fn default() -> Self {
        Self {
            replica_id: -1,
            replica_epoch: -1,
        }
    }
}

/// One partition to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPartition {
    /// The partition index.
    pub partition: i32,
    /// The leader epoch the client knows, for fencing (v9+; default -1).
    pub current_leader_epoch: i32,
    /// The offset to fetch from.
    pub fetch_offset: i64,
    /// The epoch of the last fetched record, or -1 (v12+).
    pub last_fetched_epoch: i32,
    /// The follower's log start offset; -1 for consumers (v5+).
    pub log_start_offset: i64,
    /// The most bytes to return for this partition.
    pub partition_max_bytes: i32,
    /// The fetching follower's directory id (v17+, tag 0; all zero for none).
    pub replica_directory_id: [u8; 16],
    /// The high watermark the follower knows (v18+, tag 1; i64::MAX when not used).
    pub high_watermark: i64,
}

impl Default for FetchPartition {
    fn default() -> Self {
        Self {
            partition: 0,
            current_leader_epoch: -1,
            fetch_offset: 0,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            partition_max_bytes: 0,
            replica_directory_id: [0; 16],
            high_watermark: i64::MAX,
        }
    }
}

/// One topic to fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchTopic {
    /// The topic name (v4–12).
    pub topic: String,
    /// The topic id (v13+).
    pub topic_id: [u8; 16],
    /// The partitions to fetch.
    pub partitions: Vec<FetchPartition>,
}

/// Partitions to remove from an incremental fetch session (v7+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForgottenTopic {
    /// The topic name (v7–12).
    pub topic: String,
    /// The topic id (v13+).
    pub topic_id: [u8; 16],
    /// The partition indexes to forget.
    pub partitions: Vec<i32>,
}

/// Fetch request, versions 4–18.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The cluster id, if known (v12+, tag 0).
    pub cluster_id: Option<String>,
    /// The follower's broker id, -1 for a consumer (v4–14).
    pub replica_id: i32,
    /// The follower's state (v15+, tag 1).
    pub replica_state: ReplicaState,
    /// The longest time to wait for `min_bytes`, in ms.
    pub max_wait_ms: i32,
    /// The fewest bytes to accumulate before answering.
    pub min_bytes: i32,
    /// The most bytes to return (default i32::MAX).
    pub max_bytes: i32,
    /// 0 read uncommitted, 1 read committed.
    pub isolation_level: i8,
    /// The fetch session id, or 0 (v7+).
    pub session_id: i32,
    /// The fetch session epoch (v7+; default -1).
    pub session_epoch: i32,
    /// The topics to fetch.
    pub topics: Vec<FetchTopic>,
    /// Partitions to remove from the session (v7+).
    pub forgotten_topics_data: Vec<ForgottenTopic>,
    /// The consumer's rack, for follower fetching (v11+).
    pub rack_id: String,
}

impl Default for FetchRequest {
    fn default() -> Self {
        Self {
            cluster_id: None,
            replica_id: CONSUMER_REPLICA_ID,
            replica_state: ReplicaState::default(),
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: i32::MAX,
            isolation_level: 0,
            session_id: INVALID_SESSION_ID,
            session_epoch: FINAL_SESSION_EPOCH,
            topics: Vec::new(),
            forgotten_topics_data: Vec::new(),
            rack_id: String::new(),
        }
    }
}

/// A largest epoch and its end offset, where the log diverges (v12+, tagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DivergingEpoch {
    /// The epoch, or -1.
    pub epoch: i32,
    /// Its end offset, or -1.
    pub end_offset: i64,
}

impl Default for DivergingEpoch {
    fn default() -> Self {
        Self {
            epoch: -1,
            end_offset: -1,
        }
    }
}

/// The current leader of a partition (v12+, tagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// The leader's broker id, or -1.
    pub leader_id: i32,
    /// The leader epoch, or -1.
    pub leader_epoch: i32,
}

impl Default for LeaderIdAndEpoch {
    fn default() -> Self {
        Self {
            leader_id: -1,
            leader_epoch: -1,
        }
    }
}

/// The snapshot to fetch instead (KRaft followers; v12+, tagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotId {
    /// The snapshot's end offset, or -1.
    pub end_offset: i64,
    /// The snapshot's epoch, or -1.
    pub epoch: i32,
}

impl Default for SnapshotId {
    fn default() -> Self {
        Self {
            end_offset: -1,
            epoch: -1,
        }
    }
}

/// An aborted transaction overlapping the returned records (v4+).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AbortedTransaction {
    /// The producer id of the transaction.
    pub producer_id: i64,
    /// The first offset of the transaction.
    pub first_offset: i64,
}

/// The answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionData {
    /// The partition index.
    pub partition_index: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The high watermark.
    pub high_watermark: i64,
    /// The last stable offset (default -1).
    pub last_stable_offset: i64,
    /// The log start offset (v5+; default -1).
    pub log_start_offset: i64,
    /// Where the log diverges from the fetcher's (v12+, tag 0).
    pub diverging_epoch: DivergingEpoch,
    /// The current leader, sent with NOT_LEADER / FENCED errors (v12+, tag 1).
    pub current_leader: LeaderIdAndEpoch,
    /// The snapshot to fetch instead (v12+, tag 2).
    pub snapshot_id: SnapshotId,
    /// Aborted transactions in the returned range; null when not read committed.
    pub aborted_transactions: Option<Vec<AbortedTransaction>>,
    /// The replica to fetch from next, or -1 (v11+).
    pub preferred_read_replica: i32,
    /// The raw record set: a zero-copy slice of the response frame.
    pub records: Option<Bytes>,
}

impl Default for PartitionData {
    fn default() -> Self {
        Self {
            partition_index: 0,
            error_code: 0,
            high_watermark: 0,
            last_stable_offset: -1,
            log_start_offset: -1,
            diverging_epoch: DivergingEpoch::default(),
            current_leader: LeaderIdAndEpoch::default(),
            snapshot_id: SnapshotId::default(),
            aborted_transactions: None,
            preferred_read_replica: -1,
            records: None,
        }
    }
}

/// The answer for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchableTopicResponse {
    /// The topic name (v4–12).
    pub topic: String,
    /// The topic id (v13+).
    pub topic_id: [u8; 16],
    /// The partitions.
    pub partitions: Vec<PartitionData>,
}

/// A broker named as a new leader (v16+, tagged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeEndpoint {
    /// The broker id.
    pub node_id: i32,
    /// The broker's host name.
    pub host: String,
    /// The broker's port.
    pub port: i32,
    /// The broker's rack, if any.
    pub rack: Option<String>,
}

/// Fetch response, versions 4–18.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchResponse {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// The top-level error code, or 0 (v7+).
    pub error_code: i16,
    /// The fetch session id, or 0 (v7+).
    pub session_id: i32,
    /// The topics.
    pub responses: Vec<FetchableTopicResponse>,
    /// Endpoints of the new leaders named in `current_leader` (v16+, tag 0).
    pub node_endpoints: Vec<NodeEndpoint>,
}

impl Request for FetchRequest {
    const API_KEY: ApiKey = API;
    type Response = FetchResponse;
}

impl FetchPartition {
    fn write(&self, buf: &mut BytesMut, version: i16, flex: bool) -> Result<(), EncodeError> {
        buf.put_i32(self.partition);
        if version >= 9 {
            buf.put_i32(self.current_leader_epoch);
        }
        buf.put_i64(self.fetch_offset);
        if version >= 12 {
            buf.put_i32(self.last_fetched_epoch);
        }
        if version >= 5 {
            buf.put_i64(self.log_start_offset);
        }
        buf.put_i32(self.partition_max_bytes);
        let mut tags = TagWriter::new();
        if version >= 17 && self.replica_directory_id != [0; 16] {
            tags.field(0, |b| {
                b.put_uuid(&self.replica_directory_id);
                Ok(())
            })?;
        }
        if version >= 18 && self.high_watermark != i64::MAX {
            tags.field(1, |b| {
                b.put_i64(self.high_watermark);
                Ok(())
            })?;
        }
        tags.finish(buf, flex)
    }

    fn read(r: &mut Reader, version: i16, flex: bool) -> Result<Self, DecodeError> {
        let mut p = Self {
            partition: r.i32()?,
            ..Default::default()
        };
        if version >= 9 {
            p.current_leader_epoch = r.i32()?;
        }
        p.fetch_offset = r.i64()?;
        if version >= 12 {
            p.last_fetched_epoch = r.i32()?;
        }
        if version >= 5 {
            p.log_start_offset = r.i64()?;
        }
        p.partition_max_bytes = r.i32()?;
        r.tagged_fields(flex, |tag, f| {
            match tag {
                0 if version >= 17 => p.replica_directory_id = f.uuid()?,
                1 if version >= 18 => p.high_watermark = f.i64()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(p)
    }
}

impl Encode for FetchRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version <= 14 {
            buf.put_i32(self.replica_id);
        }
        buf.put_i32(self.max_wait_ms);
        buf.put_i32(self.min_bytes);
        buf.put_i32(self.max_bytes);
        buf.put_i8(self.isolation_level);
        if version >= 7 {
            buf.put_i32(self.session_id);
            buf.put_i32(self.session_epoch);
        }
        buf.put_array(flex, &self.topics, |b, t| {
            put_topic(
                b,
                flex,
                version >= FIRST_TOPIC_ID_VERSION,
                &t.topic,
                &t.topic_id,
            )?;
            b.put_array(flex, &t.partitions, |b, p| p.write(b, version, flex))?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        if version >= 7 {
            buf.put_array(flex, &self.forgotten_topics_data, |b, t| {
                put_topic(
                    b,
                    flex,
                    version >= FIRST_TOPIC_ID_VERSION,
                    &t.topic,
                    &t.topic_id,
                )?;
                b.put_array(flex, &t.partitions, |b, p| {
                    b.put_i32(*p);
                    Ok(())
                })?;
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
        }
        if version >= 11 {
            buf.put_string(flex, &self.rack_id)?;
        }
        let mut tags = TagWriter::new();
        if flex {
            if let Some(cluster_id) = &self.cluster_id {
                tags.field(0, |b| b.put_nullable_string(true, Some(cluster_id)))?;
            }
            if version >= 15 && self.replica_state != ReplicaState::default() {
                tags.field(1, |b| {
                    b.put_i32(self.replica_state.replica_id);
                    b.put_i64(self.replica_state.replica_epoch);
                    b.put_empty_tagged_fields(true);
                    Ok(())
                })?;
            }
        }
        tags.finish(buf, flex)
    }
}

impl Decode for FetchRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut req = Self::default();
        if version <= 14 {
            req.replica_id = r.i32()?;
        }
        req.max_wait_ms = r.i32()?;
        req.min_bytes = r.i32()?;
        req.max_bytes = r.i32()?;
        req.isolation_level = r.i8()?;
        if version >= 7 {
            req.session_id = r.i32()?;
            req.session_epoch = r.i32()?;
        }
        req.topics = r.array(flex, |r| {
            let (topic, topic_id) = read_topic(r, flex, version >= FIRST_TOPIC_ID_VERSION)?;
            let partitions = r.array(flex, |r| FetchPartition::read(r, version, flex))?;
            r.skip_tagged_fields(flex)?;
            Ok(FetchTopic {
                topic,
                topic_id,
                partitions,
            })
        })?;
        if version >= 7 {
            req.forgotten_topics_data = r.array(flex, |r| {
                let (topic, topic_id) = read_topic(r, flex, version >= FIRST_TOPIC_ID_VERSION)?;
                let partitions = r.array(flex, Reader::i32)?;
                r.skip_tagged_fields(flex)?;
                Ok(ForgottenTopic {
                    topic,
                    topic_id,
                    partitions,
                })
            })?;
        }
        if version >= 11 {
            req.rack_id = r.string(flex)?;
        }
        r.tagged_fields(flex, |tag, f| {
            match tag {
                0 => req.cluster_id = f.nullable_string(true)?,
                1 if version >= 15 => {
                    req.replica_state = ReplicaState {
                        replica_id: f.i32()?,
                        replica_epoch: f.i64()?,
                    };
                    f.skip_tagged_fields(true)?;
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(req)
    }
}

impl PartitionData {
    fn write(&self, buf: &mut BytesMut, version: i16, flex: bool) -> Result<(), EncodeError> {
        buf.put_i32(self.partition_index);
        buf.put_i16(self.error_code);
        buf.put_i64(self.high_watermark);
        buf.put_i64(self.last_stable_offset);
        if version >= 5 {
            buf.put_i64(self.log_start_offset);
        }
        buf.put_nullable_array(flex, self.aborted_transactions.as_deref(), |b, t| {
            b.put_i64(t.producer_id);
            b.put_i64(t.first_offset);
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        if version >= 11 {
            buf.put_i32(self.preferred_read_replica);
        }
        buf.put_nullable_bytes_field(flex, self.records.as_deref())?;
        let mut tags = TagWriter::new();
        if flex {
            if self.diverging_epoch != DivergingEpoch::default() {
                tags.field(0, |b| {
                    b.put_i32(self.diverging_epoch.epoch);
                    b.put_i64(self.diverging_epoch.end_offset);
                    b.put_empty_tagged_fields(true);
                    Ok(())
                })?;
            }
            if self.current_leader != LeaderIdAndEpoch::default() {
                tags.field(1, |b| {
                    b.put_i32(self.current_leader.leader_id);
                    b.put_i32(self.current_leader.leader_epoch);
                    b.put_empty_tagged_fields(true);
                    Ok(())
                })?;
            }
            if self.snapshot_id != SnapshotId::default() {
                tags.field(2, |b| {
                    b.put_i64(self.snapshot_id.end_offset);
                    b.put_i32(self.snapshot_id.epoch);
                    b.put_empty_tagged_fields(true);
                    Ok(())
                })?;
            }
        }
        tags.finish(buf, flex)
    }

    fn read(r: &mut Reader, version: i16, flex: bool) -> Result<Self, DecodeError> {
        let mut p = Self {
            partition_index: r.i32()?,
            error_code: r.i16()?,
            high_watermark: r.i64()?,
            last_stable_offset: r.i64()?,
            ..Default::default()
        };
        if version >= 5 {
            p.log_start_offset = r.i64()?;
        }
        p.aborted_transactions = r.nullable_array(flex, |r| {
            let t = AbortedTransaction {
                producer_id: r.i64()?,
                first_offset: r.i64()?,
            };
            r.skip_tagged_fields(flex)?;
            Ok(t)
        })?;
        if version >= 11 {
            p.preferred_read_replica = r.i32()?;
        }
        // A slice of the frame: no copy, and no look inside the record set here.
        p.records = r.nullable_bytes(flex)?;
        r.tagged_fields(flex, |tag, f| {
            match tag {
                0 => {
                    p.diverging_epoch = DivergingEpoch {
                        epoch: f.i32()?,
                        end_offset: f.i64()?,
                    }
                }
                1 => {
                    p.current_leader = LeaderIdAndEpoch {
                        leader_id: f.i32()?,
                        leader_epoch: f.i32()?,
                    }
                }
                2 => {
                    p.snapshot_id = SnapshotId {
                        end_offset: f.i64()?,
                        epoch: f.i32()?,
                    }
                }
                _ => return Ok(false),
            }
            // The struct's own tagged fields, if any, are left in `f` and ignored.
            Ok(true)
        })?;
        Ok(p)
    }
}

impl Encode for FetchResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_i32(self.throttle_time_ms);
        if version >= 7 {
            buf.put_i16(self.error_code);
            buf.put_i32(self.session_id);
        }
        buf.put_array(flex, &self.responses, |b, t| {
            put_topic(
                b,
                flex,
                version >= FIRST_TOPIC_ID_VERSION,
                &t.topic,
                &t.topic_id,
            )?;
            b.put_array(flex, &t.partitions, |b, p| p.write(b, version, flex))?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        let mut tags = TagWriter::new();
        if version >= 16 && !self.node_endpoints.is_empty() {
            tags.field(0, |b| {
                b.put_array(true, &self.node_endpoints, |b, n| {
                    b.put_i32(n.node_id);
                    b.put_string(true, &n.host)?;
                    b.put_i32(n.port);
                    b.put_nullable_string(true, n.rack.as_deref())?;
                    b.put_empty_tagged_fields(true);
                    Ok(())
                })
            })?;
        }
        tags.finish(buf, flex)
    }
}

impl Decode for FetchResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut resp = Self {
            throttle_time_ms: r.i32()?,
            ..Default::default()
        };
        if version >= 7 {
            resp.error_code = r.i16()?;
            resp.session_id = r.i32()?;
        }
        resp.responses = r.array(flex, |r| {
            let (topic, topic_id) = read_topic(r, flex, version >= FIRST_TOPIC_ID_VERSION)?;
            let partitions = r.array(flex, |r| PartitionData::read(r, version, flex))?;
            r.skip_tagged_fields(flex)?;
            Ok(FetchableTopicResponse {
                topic,
                topic_id,
                partitions,
            })
        })?;
        r.tagged_fields(flex, |tag, f| {
            if tag != 0 || version < 16 {
                return Ok(false);
            }
            resp.node_endpoints = f.array(true, |r| {
                let n = NodeEndpoint {
                    node_id: r.i32()?,
                    host: r.string(true)?,
                    port: r.i32()?,
                    rack: r.nullable_string(true)?,
                };
                r.skip_tagged_fields(true)?;
                Ok(n)
            })?;
            Ok(true)
        })?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{normalize_roundtrip, opt_bytes, opt_string, small_vec, string};
    use crate::codec::{
        decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
    };
    use proptest::prelude::*;

    const MIN: i16 = 4;
    const MAX: i16 = 18;

    fn partition(version: i16) -> impl Strategy<Value = FetchPartition> {
        (
            (any::<i32>(), any::<i32>(), any::<i64>(), any::<i32>()),
            (any::<i64>(), any::<i32>(), any::<[u8; 16]>(), any::<i64>()),
        )
            .prop_map(move |((p, cle, off, lfe), (lso, pmb, dir, hw))| {
                let d = FetchPartition::default();
                FetchPartition {
                    partition: p,
                    current_leader_epoch: if version >= 9 {
                        cle
                    } else {
                        d.current_leader_epoch
                    },
                    fetch_offset: off,
                    last_fetched_epoch: if version >= 12 {
                        lfe
                    } else {
                        d.last_fetched_epoch
                    },
                    log_start_offset: if version >= 5 {
                        lso
                    } else {
                        d.log_start_offset
                    },
                    partition_max_bytes: pmb,
                    replica_directory_id: if version >= 17 {
                        dir
                    } else {
                        d.replica_directory_id
                    },
                    high_watermark: if version >= 18 { hw } else { d.high_watermark },
                }
            })
    }

    fn request(version: i16) -> impl Strategy<Value = FetchRequest> {
        let topic = (string(), any::<[u8; 16]>(), small_vec(partition(version))).prop_map(
            move |(name, id, partitions)| FetchTopic {
                topic: if version <= 12 { name } else { String::new() },
                topic_id: if version >= 13 { id } else { [0; 16] },
                partitions,
            },
        );
        let forgotten = (string(), any::<[u8; 16]>(), small_vec(any::<i32>())).prop_map(
            move |(name, id, partitions)| ForgottenTopic {
                topic: if version <= 12 { name } else { String::new() },
                topic_id: if version >= 13 { id } else { [0; 16] },
                partitions,
            },
        );
        (
            (opt_string(), any::<i32>(), any::<i32>(), any::<i64>()),
            (any::<i32>(), any::<i32>(), any::<i32>(), any::<i8>()),
            (
                any::<i32>(),
                any::<i32>(),
                small_vec(topic),
                small_vec(forgotten),
            ),
            string(),
        )
            .prop_map(
                move |(
                    (cluster, rid, state_id, state_epoch),
                    (wait, min, max, iso),
                    (sid, sepoch, topics, forgotten),
                    rack,
                )| {
                    let d = FetchRequest::default();
                    FetchRequest {
                        cluster_id: if version >= 12 { cluster } else { None },
                        replica_id: if version <= 14 { rid } else { d.replica_id },
                        replica_state: if version >= 15 {
                            ReplicaState {
                                replica_id: state_id,
                                replica_epoch: state_epoch,
                            }
                        } else {
                            d.replica_state
                        },
                        max_wait_ms: wait,
                        min_bytes: min,
                        max_bytes: max,
                        isolation_level: iso,
                        session_id: if version >= 7 { sid } else { d.session_id },
                        session_epoch: if version >= 7 {
                            sepoch
                        } else {
                            d.session_epoch
                        },
                        topics,
                        forgotten_topics_data: if version >= 7 { forgotten } else { Vec::new() },
                        rack_id: if version >= 11 { rack } else { String::new() },
                    }
                },
            )
    }

    fn partition_data(version: i16) -> impl Strategy<Value = PartitionData> {
        let aborted = (any::<i64>(), any::<i64>()).prop_map(|(p, f)| AbortedTransaction {
            producer_id: p,
            first_offset: f,
        });
        (
            (
                any::<i32>(),
                any::<i16>(),
                any::<i64>(),
                any::<i64>(),
                any::<i64>(),
            ),
            (any::<i32>(), any::<i64>(), any::<i32>(), any::<i32>()),
            (any::<i64>(), any::<i32>()),
            (
                proptest::option::of(small_vec(aborted)),
                any::<i32>(),
                opt_bytes(),
            ),
        )
            .prop_map(
                move |(
                    (idx, err, hw, lso, lstart),
                    (de, deo, lid, lep),
                    (se, sep),
                    (ab, prr, rec),
                )| {
                    let d = PartitionData::default();
                    let flex = version >= 12;
                    PartitionData {
                        partition_index: idx,
                        error_code: err,
                        high_watermark: hw,
                        last_stable_offset: lso,
                        log_start_offset: if version >= 5 {
                            lstart
                        } else {
                            d.log_start_offset
                        },
                        diverging_epoch: if flex {
                            DivergingEpoch {
                                epoch: de,
                                end_offset: deo,
                            }
                        } else {
                            d.diverging_epoch
                        },
                        current_leader: if flex {
                            LeaderIdAndEpoch {
                                leader_id: lid,
                                leader_epoch: lep,
                            }
                        } else {
                            d.current_leader
                        },
                        snapshot_id: if flex {
                            SnapshotId {
                                end_offset: se,
                                epoch: sep,
                            }
                        } else {
                            d.snapshot_id
                        },
                        aborted_transactions: ab,
                        preferred_read_replica: if version >= 11 {
                            prr
                        } else {
                            d.preferred_read_replica
                        },
                        records: rec,
                    }
                },
            )
    }

    fn response(version: i16) -> impl Strategy<Value = FetchResponse> {
        let topic = (
            string(),
            any::<[u8; 16]>(),
            small_vec(partition_data(version)),
        )
            .prop_map(move |(name, id, partitions)| FetchableTopicResponse {
                topic: if version <= 12 { name } else { String::new() },
                topic_id: if version >= 13 { id } else { [0; 16] },
                partitions,
            });
        let endpoint = (any::<i32>(), string(), any::<i32>(), opt_string()).prop_map(
            |(node_id, host, port, rack)| NodeEndpoint {
                node_id,
                host,
                port,
                rack,
            },
        );
        (
            any::<i32>(),
            any::<i16>(),
            any::<i32>(),
            small_vec(topic),
            small_vec(endpoint),
        )
            .prop_map(
                move |(throttle, err, sid, responses, endpoints)| FetchResponse {
                    throttle_time_ms: throttle,
                    error_code: if version >= 7 { err } else { 0 },
                    session_id: if version >= 7 { sid } else { 0 },
                    responses,
                    node_endpoints: if version >= 16 { endpoints } else { Vec::new() },
                },
            )
    }

    proptest! {
        #[test]
        fn request_round_trips((v, req) in (MIN..=MAX).prop_flat_map(|v| (Just(v), request(v)))) {
            normalize_roundtrip(&req, v)?;
        }

        #[test]
        fn response_round_trips((v, resp) in (MIN..=MAX).prop_flat_map(|v| (Just(v), response(v)))) {
            normalize_roundtrip(&resp, v)?;
        }
    }

    /// A v11 response built by hand, as the mock cluster would send it.
    #[test]
    fn decodes_hand_built_v11_response() {
        let mut b = BytesMut::new();
        b.put_i32(3); // throttle
        b.put_i16(0); // error
        b.put_i32(77); // session id
        b.put_i32(1); // one topic
        b.put_string(false, "orders").unwrap();
        b.put_i32(1); // one partition
        b.put_i32(2); // index
        b.put_i16(0);
        b.put_i64(100); // hw
        b.put_i64(90); // lso
        b.put_i64(5); // log start
        b.put_i32(1); // one aborted txn
        b.put_i64(9);
        b.put_i64(80);
        b.put_i32(-1); // preferred read replica
        b.put_i32(4); // records
        b.put_slice(b"abcd");
        let frame = b.freeze();
        let mut r = Reader::new(frame.clone());
        let resp = FetchResponse::decode(&mut r, 11).unwrap();
        assert!(r.is_empty());
        assert_eq!(resp.session_id, 77);
        let p = &resp.responses[0].partitions[0];
        assert_eq!(resp.responses[0].topic, "orders");
        assert_eq!(
            (p.partition_index, p.high_watermark, p.last_stable_offset),
            (2, 100, 90)
        );
        assert_eq!(
            p.aborted_transactions,
            Some(vec![AbortedTransaction {
                producer_id: 9,
                first_offset: 80
            }])
        );
        let records = p.records.as_ref().unwrap();
        assert_eq!(&records[..], b"abcd");
        // Zero copy: the records live inside the frame's allocation.
        let start = frame.as_ptr() as usize;
        let at = records.as_ptr() as usize;
        assert!(at >= start && at + records.len() <= start + frame.len());
    }

    /// A v16 response built by hand: topic ids, tagged current leader and node endpoints,
    /// and an unknown tag that must be skipped.
    #[test]
    fn decodes_hand_built_v16_response_with_tags() {
        let mut b = BytesMut::new();
        b.put_i32(0);
        b.put_i16(0);
        b.put_i32(0);
        b.put_uvarint(2); // one topic
        b.put_slice(&[1; 16]);
        b.put_uvarint(2); // one partition
        b.put_i32(0);
        b.put_i16(6); // NOT_LEADER_OR_FOLLOWER
        b.put_i64(-1);
        b.put_i64(-1);
        b.put_i64(-1);
        b.put_uvarint(0); // null aborted transactions
        b.put_i32(-1);
        b.put_uvarint(0); // null records
        b.put_uvarint(2); // partition tags: current leader, unknown 7
        b.put_uvarint(1);
        b.put_uvarint(9);
        b.put_i32(4);
        b.put_i32(12);
        b.put_u8(0);
        b.put_uvarint(7);
        b.put_uvarint(1);
        b.put_u8(0xaa);
        b.put_u8(0); // topic tags
        b.put_uvarint(1); // response tags: node endpoints
        let mut ne = BytesMut::new();
        ne.put_uvarint(2);
        ne.put_i32(4);
        ne.put_string(true, "b4").unwrap();
        ne.put_i32(9094);
        ne.put_nullable_string(true, None).unwrap();
        ne.put_u8(0);
        b.put_uvarint(0);
        b.put_uvarint(ne.len() as u32);
        b.put_slice(&ne);
        let mut r = Reader::new(b.freeze());
        let resp = FetchResponse::decode(&mut r, 16).unwrap();
        assert!(r.is_empty());
        let t = &resp.responses[0];
        assert_eq!(t.topic_id, [1; 16]);
        let p = &t.partitions[0];
        assert_eq!(p.error_code, 6);
        assert_eq!(p.aborted_transactions, None);
        assert_eq!(p.records, None);
        assert_eq!(
            p.current_leader,
            LeaderIdAndEpoch {
                leader_id: 4,
                leader_epoch: 12
            }
        );
        assert_eq!(p.diverging_epoch, DivergingEpoch::default());
        assert_eq!(
            resp.node_endpoints,
            vec![NodeEndpoint {
                node_id: 4,
                host: "b4".into(),
                port: 9094,
                rack: None
            }]
        );
    }

    #[test]
    fn consumer_request_at_v15_has_no_replica_fields() {
        let req = FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            ..Default::default()
        };
        let mut b = BytesMut::new();
        req.encode(&mut b, 15).unwrap();
        // wait, min, max, isolation, session id, epoch, topics, forgotten, rack, tags.
        let mut expect = BytesMut::new();
        expect.put_i32(500);
        expect.put_i32(1);
        expect.put_i32(i32::MAX);
        expect.put_i8(0);
        expect.put_i32(0);
        expect.put_i32(-1);
        expect.put_slice(&[1, 1, 1, 0]);
        assert_eq!(b, expect);
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_version() {
        for v in [MIN, MAX] {
            let req = FetchRequest {
                max_wait_ms: 500,
                min_bytes: 1,
                isolation_level: 1,
                topics: vec![FetchTopic {
                    topic: if v <= 12 { "t".into() } else { String::new() },
                    topic_id: if v >= 13 { [3; 16] } else { [0; 16] },
                    partitions: vec![FetchPartition {
                        partition: 0,
                        fetch_offset: 10,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            };
            let frame = encode_request_frame(41, Some("c"), v, &req).unwrap();
            let (header, back) = decode_request_frame::<FetchRequest>(frame.slice(4..)).unwrap();
            assert_eq!(header.api_version, v);
            assert_eq!(back, req);

            let resp = FetchResponse {
                responses: vec![FetchableTopicResponse {
                    topic: if v <= 12 { "t".into() } else { String::new() },
                    topic_id: if v >= 13 { [3; 16] } else { [0; 16] },
                    partitions: vec![PartitionData {
                        high_watermark: 11,
                        records: Some(Bytes::from_static(b"batch")),
                        ..Default::default()
                    }],
                }],
                ..Default::default()
            };
            let frame = encode_response_frame::<FetchRequest>(42, v, &resp).unwrap();
            let (corr, back) = decode_response_frame::<FetchRequest>(frame.slice(4..), v).unwrap();
            assert_eq!(corr, 42);
            assert_eq!(back, resp);
        }
    }
}
