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
mod tests;
