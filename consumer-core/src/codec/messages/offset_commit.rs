//! OffsetCommit (key 8): a member stores its consumed positions with the group coordinator.
//!
//! From v10 (KIP-848) topics are named by id only: the topic name is not sent, so a
//! caller that does not know every topic's id must stay at v9 or below.

use super::topic_key::{put_topic, read_topic};
use crate::codec::prelude::*;

const API: ApiKey = ApiKey::OffsetCommit;

/// The first version that names topics by id instead of by name.
pub const FIRST_TOPIC_ID_VERSION: i16 = 10;

/// OffsetCommit request, versions 0–10.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// The group id.
    pub group_id: String,
    /// The generation (classic groups) or member epoch (KIP-848 groups) (v1+; -1 when absent).
    pub generation_id_or_member_epoch: i32,
    /// The member id (v1+).
    pub member_id: String,
    /// The static member id (v7+).
    pub group_instance_id: Option<String>,
    /// How long to keep the offsets, -1 for the broker default (v2–4).
    pub retention_time_ms: i64,
    /// The offsets per topic.
    pub topics: Vec<OffsetCommitRequestTopic>,
}

impl Default for OffsetCommitRequest {
    fn default() -> Self {
        Self {
            group_id: String::new(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            group_instance_id: None,
            retention_time_ms: -1,
            topics: Vec::new(),
        }
    }
}

/// The offsets to commit for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetCommitRequestTopic {
    /// The topic name (v0–9).
    pub name: String,
    /// The topic id (v10+).
    pub topic_id: [u8; 16],
    /// The offsets per partition.
    pub partitions: Vec<OffsetCommitRequestPartition>,
}

/// The offset to commit for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequestPartition {
    /// The partition index.
    pub partition_index: i32,
    /// The offset of the next record to consume.
    pub committed_offset: i64,
    /// The leader epoch of the last consumed record (v6+; -1 when absent or unknown).
    pub committed_leader_epoch: i32,
    /// The commit timestamp (v1 only; -1 when absent).
    pub commit_timestamp: i64,
    /// Free-form metadata stored with the offset.
    pub committed_metadata: Option<String>,
}

impl Default for OffsetCommitRequestPartition {
    fn default() -> Self {
        Self {
            partition_index: 0,
            committed_offset: 0,
            committed_leader_epoch: -1,
            commit_timestamp: -1,
            committed_metadata: None,
        }
    }
}

/// OffsetCommit response, versions 0–10.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetCommitResponse {
    /// Throttle time in ms (v3+).
    pub throttle_time_ms: i32,
    /// The results per topic.
    pub topics: Vec<OffsetCommitResponseTopic>,
}

/// The commit results for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetCommitResponseTopic {
    /// The topic name (v0–9).
    pub name: String,
    /// The topic id (v10+).
    pub topic_id: [u8; 16],
    /// The results per partition.
    pub partitions: Vec<OffsetCommitResponsePartition>,
}

/// The commit result for one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OffsetCommitResponsePartition {
    /// The partition index.
    pub partition_index: i32,
    /// The error code, or 0.
    pub error_code: i16,
}

impl Request for OffsetCommitRequest {
    const API_KEY: ApiKey = API;
    type Response = OffsetCommitResponse;
}

impl Encode for OffsetCommitRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_string(flex, &self.group_id)?;
        if version >= 1 {
            buf.put_i32(self.generation_id_or_member_epoch);
            buf.put_string(flex, &self.member_id)?;
        }
        if version >= 7 {
            buf.put_nullable_string(flex, self.group_instance_id.as_deref())?;
        }
        if (2..=4).contains(&version) {
            buf.put_i64(self.retention_time_ms);
        }
        buf.put_array(flex, &self.topics, |b, t| {
            put_topic(
                b,
                flex,
                version >= FIRST_TOPIC_ID_VERSION,
                &t.name,
                &t.topic_id,
            )?;
            b.put_array(flex, &t.partitions, |b, p| {
                b.put_i32(p.partition_index);
                b.put_i64(p.committed_offset);
                if version >= 6 {
                    b.put_i32(p.committed_leader_epoch);
                }
                if version == 1 {
                    b.put_i64(p.commit_timestamp);
                }
                b.put_nullable_string(flex, p.committed_metadata.as_deref())?;
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for OffsetCommitRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut out = Self {
            group_id: r.string(flex)?,
            ..Self::default()
        };
        if version >= 1 {
            out.generation_id_or_member_epoch = r.i32()?;
            out.member_id = r.string(flex)?;
        }
        if version >= 7 {
            out.group_instance_id = r.nullable_string(flex)?;
        }
        if (2..=4).contains(&version) {
            out.retention_time_ms = r.i64()?;
        }
        out.topics = r.array(flex, |r| {
            let (name, topic_id) = read_topic(r, flex, version >= FIRST_TOPIC_ID_VERSION)?;
            let partitions = r.array(flex, |r| {
                let partition_index = r.i32()?;
                let committed_offset = r.i64()?;
                let committed_leader_epoch = if version >= 6 { r.i32()? } else { -1 };
                let commit_timestamp = if version == 1 { r.i64()? } else { -1 };
                let committed_metadata = r.nullable_string(flex)?;
                r.skip_tagged_fields(flex)?;
                Ok(OffsetCommitRequestPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    commit_timestamp,
                    committed_metadata,
                })
            })?;
            r.skip_tagged_fields(flex)?;
            Ok(OffsetCommitRequestTopic {
                name,
                topic_id,
                partitions,
            })
        })?;
        r.skip_tagged_fields(flex)?;
        Ok(out)
    }
}

impl Encode for OffsetCommitResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 3 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_array(flex, &self.topics, |b, t| {
            put_topic(
                b,
                flex,
                version >= FIRST_TOPIC_ID_VERSION,
                &t.name,
                &t.topic_id,
            )?;
            b.put_array(flex, &t.partitions, |b, p| {
                b.put_i32(p.partition_index);
                b.put_i16(p.error_code);
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for OffsetCommitResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        let topics = r.array(flex, |r| {
            let (name, topic_id) = read_topic(r, flex, version >= FIRST_TOPIC_ID_VERSION)?;
            let partitions = r.array(flex, |r| {
                let partition_index = r.i32()?;
                let error_code = r.i16()?;
                r.skip_tagged_fields(flex)?;
                Ok(OffsetCommitResponsePartition {
                    partition_index,
                    error_code,
                })
            })?;
            r.skip_tagged_fields(flex)?;
            Ok(OffsetCommitResponseTopic {
                name,
                topic_id,
                partitions,
            })
        })?;
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            throttle_time_ms,
            topics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{
        frame_roundtrip, normalize_roundtrip, opt_string, small_vec, string,
    };
    use proptest::prelude::*;

    const MAX: i16 = 10;

    fn partition(v: i16) -> impl Strategy<Value = OffsetCommitRequestPartition> {
        (
            any::<i32>(),
            any::<i64>(),
            any::<i32>(),
            any::<i64>(),
            opt_string(),
        )
            .prop_map(move |(p, o, e, ts, md)| OffsetCommitRequestPartition {
                partition_index: p,
                committed_offset: o,
                committed_leader_epoch: if v >= 6 { e } else { -1 },
                commit_timestamp: if v == 1 { ts } else { -1 },
                committed_metadata: md,
            })
    }

    fn request(v: i16) -> impl Strategy<Value = OffsetCommitRequest> {
        (
            (string(), any::<i32>(), string(), opt_string(), any::<i64>()),
            small_vec((string(), any::<[u8; 16]>(), small_vec(partition(v)))),
        )
            .prop_map(
                move |((g, gen, m, inst, ret), topics)| OffsetCommitRequest {
                    group_id: g,
                    generation_id_or_member_epoch: if v >= 1 { gen } else { -1 },
                    member_id: if v >= 1 { m } else { String::new() },
                    group_instance_id: if v >= 7 { inst } else { None },
                    retention_time_ms: if (2..=4).contains(&v) { ret } else { -1 },
                    topics: topics
                        .into_iter()
                        .map(|(name, id, partitions)| OffsetCommitRequestTopic {
                            name: if v < FIRST_TOPIC_ID_VERSION {
                                name
                            } else {
                                String::new()
                            },
                            topic_id: if v >= FIRST_TOPIC_ID_VERSION {
                                id
                            } else {
                                [0; 16]
                            },
                            partitions,
                        })
                        .collect(),
                },
            )
    }

    fn response(v: i16) -> impl Strategy<Value = OffsetCommitResponse> {
        (
            any::<i32>(),
            small_vec((
                string(),
                any::<[u8; 16]>(),
                small_vec((any::<i32>(), any::<i16>())),
            )),
        )
            .prop_map(move |(t, topics)| OffsetCommitResponse {
                throttle_time_ms: if v >= 3 { t } else { 0 },
                topics: topics
                    .into_iter()
                    .map(|(name, id, parts)| OffsetCommitResponseTopic {
                        name: if v < FIRST_TOPIC_ID_VERSION {
                            name
                        } else {
                            String::new()
                        },
                        topic_id: if v >= FIRST_TOPIC_ID_VERSION {
                            id
                        } else {
                            [0; 16]
                        },
                        partitions: parts
                            .into_iter()
                            .map(
                                |(partition_index, error_code)| OffsetCommitResponsePartition {
                                    partition_index,
                                    error_code,
                                },
                            )
                            .collect(),
                    })
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn request_round_trips((v, req) in (0i16..=MAX).prop_flat_map(|v| (Just(v), request(v)))) {
            normalize_roundtrip(&req, v)?;
        }

        #[test]
        fn response_round_trips((v, resp) in (0i16..=MAX).prop_flat_map(|v| (Just(v), response(v)))) {
            normalize_roundtrip(&resp, v)?;
        }
    }

    fn sample(v: i16) -> (OffsetCommitRequest, OffsetCommitResponse) {
        let by_id = v >= FIRST_TOPIC_ID_VERSION;
        let name = if by_id { String::new() } else { "t".to_owned() };
        let topic_id = if by_id { [7; 16] } else { [0; 16] };
        let req = OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: if v >= 1 { 4 } else { -1 },
            member_id: if v >= 1 { "m".into() } else { String::new() },
            group_instance_id: None,
            retention_time_ms: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: name.clone(),
                topic_id,
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 100,
                    committed_leader_epoch: if v >= 6 { 2 } else { -1 },
                    commit_timestamp: -1,
                    committed_metadata: Some(String::new()),
                }],
            }],
        };
        let resp = OffsetCommitResponse {
            throttle_time_ms: 0,
            topics: vec![OffsetCommitResponseTopic {
                name,
                topic_id,
                partitions: vec![OffsetCommitResponsePartition {
                    partition_index: 0,
                    error_code: 0,
                }],
            }],
        };
        (req, resp)
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_versions() {
        for v in [0, MAX] {
            let (req, resp) = sample(v);
            frame_roundtrip(&req, &resp, v);
        }
    }

    #[test]
    fn v1_carries_the_commit_timestamp_and_v2_the_retention() {
        let mut req = sample(1).0;
        req.topics[0].partitions[0].commit_timestamp = 99;
        let mut v1 = BytesMut::new();
        req.encode(&mut v1, 1).unwrap();
        let mut v0 = BytesMut::new();
        sample(0).0.encode(&mut v0, 0).unwrap();
        // v1 adds generation (4) + member id (2 + 1) + timestamp (8) to v0.
        assert_eq!(v1.len(), v0.len() + 4 + 3 + 8);
        let mut r = Reader::new(v1.freeze());
        let back = OffsetCommitRequest::decode(&mut r, 1).unwrap();
        assert_eq!(back.topics[0].partitions[0].commit_timestamp, 99);

        let mut req = sample(2).0;
        req.retention_time_ms = 60_000;
        let mut v2 = BytesMut::new();
        req.encode(&mut v2, 2).unwrap();
        let mut v5 = BytesMut::new();
        req.encode(&mut v5, 5).unwrap();
        assert_eq!(v2.len(), v5.len() + 8);
    }

    #[test]
    fn v10_names_topics_by_id_only() {
        let (req, _) = sample(10);
        let mut buf = BytesMut::new();
        req.encode(&mut buf, 10).unwrap();
        let mut v9 = BytesMut::new();
        let mut named = req.clone();
        named.topics[0].name = "t".into();
        named.encode(&mut v9, 9).unwrap();
        // The 16-byte id replaces the compact string "t" (2 bytes).
        assert_eq!(buf.len(), v9.len() + 16 - 2);
    }
}
