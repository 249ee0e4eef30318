//! OffsetFetch (key 9): read the committed positions of a group from its coordinator.
//!
//! Versions 0–7 ask for one group (`group_id`, `topics`); from v8 a batch of groups is
//! asked for in `groups`. From v10 (KIP-848) topics inside `groups` are named by id only.

use super::topic_key::{put_topic, read_topic};
use crate::codec::prelude::*;

const API: ApiKey = ApiKey::OffsetFetch;

/// The first version that batches groups.
pub const FIRST_GROUPS_VERSION: i16 = 8;
/// The first version that names topics by id instead of by name.
pub const FIRST_TOPIC_ID_VERSION: i16 = 10;

/// OffsetFetch request, versions 0–10.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchRequest {
    /// The group id (v0–7).
    pub group_id: String,
    /// The topics to fetch (v0–7); `None` fetches all topics (v2–7 only).
    pub topics: Option<Vec<OffsetFetchRequestTopic>>,
    /// The groups to fetch (v8+).
    pub groups: Vec<OffsetFetchRequestGroup>,
    /// Whether the broker should wait for pending transactional commits (v7+).
    pub require_stable: bool,
}

/// One topic to fetch offsets for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchRequestTopic {
    /// The topic name (v0–9).
    pub name: String,
    /// The topic id (v10+, inside `groups` only).
    pub topic_id: [u8; 16],
    /// The partitions to fetch.
    pub partition_indexes: Vec<i32>,
}

/// One group to fetch offsets for (v8+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchRequestGroup {
    /// The group id.
    pub group_id: String,
    /// The member id, for KIP-848 groups (v9+).
    pub member_id: Option<String>,
    /// The member epoch, for KIP-848 groups (v9+; -1 when absent).
    pub member_epoch: i32,
    /// The topics to fetch; `None` fetches all topics.
    pub topics: Option<Vec<OffsetFetchRequestTopic>>,
}

impl Default for OffsetFetchRequestGroup {
    fn default() -> Self {
        Self {
            group_id: String::new(),
            member_id: None,
            member_epoch: -1,
            topics: None,
        }
    }
}

/// OffsetFetch response, versions 0–10.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchResponse {
    /// Throttle time in ms (v3+).
    pub throttle_time_ms: i32,
    /// The offsets per topic (v0–7).
    pub topics: Vec<OffsetFetchResponseTopic>,
    /// The top-level error code, or 0 (v2–7).
    pub error_code: i16,
    /// The results per group (v8+).
    pub groups: Vec<OffsetFetchResponseGroup>,
}

/// The committed offsets of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchResponseTopic {
    /// The topic name (v0–9).
    pub name: String,
    /// The topic id (v10+, inside `groups` only).
    pub topic_id: [u8; 16],
    /// The offsets per partition.
    pub partitions: Vec<OffsetFetchResponsePartition>,
}

/// The committed offset of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetFetchResponsePartition {
    /// The partition index.
    pub partition_index: i32,
    /// The committed offset, or -1 if none.
    pub committed_offset: i64,
    /// The leader epoch stored with the offset (v5+; -1 when absent or unknown).
    pub committed_leader_epoch: i32,
    /// The metadata stored with the offset.
    pub metadata: Option<String>,
    /// The error code, or 0.
    pub error_code: i16,
}

impl Default for OffsetFetchResponsePartition {
    fn default() -> Self {
        Self {
            partition_index: 0,
            committed_offset: 0,
            committed_leader_epoch: -1,
            metadata: None,
            error_code: 0,
        }
    }
}

/// The result for one group (v8+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetFetchResponseGroup {
    /// The group id.
    pub group_id: String,
    /// The offsets per topic.
    pub topics: Vec<OffsetFetchResponseTopic>,
    /// The group-level error code, or 0.
    pub error_code: i16,
}

impl Request for OffsetFetchRequest {
    const API_KEY: ApiKey = API;
    type Response = OffsetFetchResponse;
}

fn put_request_topics(
    buf: &mut BytesMut,
    flex: bool,
    version: i16,
    topics: Option<&[OffsetFetchRequestTopic]>,
) -> Result<(), EncodeError> {
    buf.put_nullable_array(flex, topics, |b, t| {
        put_topic(
            b,
            flex,
            version >= FIRST_TOPIC_ID_VERSION,
            &t.name,
            &t.topic_id,
        )?;
        b.put_array(flex, &t.partition_indexes, |b, p| {
            b.put_i32(*p);
            Ok(())
        })?;
        b.put_empty_tagged_fields(flex);
        Ok(())
    })
}

fn read_request_topics(
    r: &mut Reader,
    flex: bool,
    version: i16,
) -> Result<Option<Vec<OffsetFetchRequestTopic>>, DecodeError> {
    r.nullable_array(flex, |r| {
        let (name, topic_id) = read_topic(r, flex, version >= FIRST_TOPIC_ID_VERSION)?;
        let partition_indexes = r.array(flex, |r| r.i32())?;
        r.skip_tagged_fields(flex)?;
        Ok(OffsetFetchRequestTopic {
            name,
            topic_id,
            partition_indexes,
        })
    })
}

impl Encode for OffsetFetchRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version < FIRST_GROUPS_VERSION {
            buf.put_string(flex, &self.group_id)?;
            if version < 2 && self.topics.is_none() {
                return Err(EncodeError::NullNotAllowed {
                    what: "OffsetFetch topics",
                });
            }
            put_request_topics(buf, flex, version, self.topics.as_deref())?;
        } else {
            buf.put_array(flex, &self.groups, |b, g| {
                b.put_string(flex, &g.group_id)?;
                if version >= 9 {
                    b.put_nullable_string(flex, g.member_id.as_deref())?;
                    b.put_i32(g.member_epoch);
                }
                put_request_topics(b, flex, version, g.topics.as_deref())?;
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
        }
        if version >= 7 {
            buf.put_bool(self.require_stable);
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for OffsetFetchRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut out = Self::default();
        if version < FIRST_GROUPS_VERSION {
            out.group_id = r.string(flex)?;
            out.topics = read_request_topics(r, flex, version)?;
            if version < 2 && out.topics.is_none() {
                return Err(DecodeError::UnexpectedNull {
                    what: "OffsetFetch topics",
                });
            }
        } else {
            out.groups = r.array(flex, |r| {
                let group_id = r.string(flex)?;
                let (member_id, member_epoch) = if version >= 9 {
                    (r.nullable_string(flex)?, r.i32()?)
                } else {
                    (None, -1)
                };
                let topics = read_request_topics(r, flex, version)?;
                r.skip_tagged_fields(flex)?;
                Ok(OffsetFetchRequestGroup {
                    group_id,
                    member_id,
                    member_epoch,
                    topics,
                })
            })?;
        }
        if version >= 7 {
            out.require_stable = r.bool()?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(out)
    }
}

fn put_response_topics(
    buf: &mut BytesMut,
    flex: bool,
    version: i16,
    topics: &[OffsetFetchResponseTopic],
) -> Result<(), EncodeError> {
    buf.put_array(flex, topics, |b, t| {
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
            if version >= 5 {
                b.put_i32(p.committed_leader_epoch);
            }
            b.put_nullable_string(flex, p.metadata.as_deref())?;
            b.put_i16(p.error_code);
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        b.put_empty_tagged_fields(flex);
        Ok(())
    })
}

fn read_response_topics(
    r: &mut Reader,
    flex: bool,
    version: i16,
) -> Result<Vec<OffsetFetchResponseTopic>, DecodeError> {
    r.array(flex, |r| {
        let (name, topic_id) = read_topic(r, flex, version >= FIRST_TOPIC_ID_VERSION)?;
        let partitions = r.array(flex, |r| {
            let partition_index = r.i32()?;
            let committed_offset = r.i64()?;
            let committed_leader_epoch = if version >= 5 { r.i32()? } else { -1 };
            let metadata = r.nullable_string(flex)?;
            let error_code = r.i16()?;
            r.skip_tagged_fields(flex)?;
            Ok(OffsetFetchResponsePartition {
                partition_index,
                committed_offset,
                committed_leader_epoch,
                metadata,
                error_code,
            })
        })?;
        r.skip_tagged_fields(flex)?;
        Ok(OffsetFetchResponseTopic {
            name,
            topic_id,
            partitions,
        })
    })
}

impl Encode for OffsetFetchResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 3 {
            buf.put_i32(self.throttle_time_ms);
        }
        if version < FIRST_GROUPS_VERSION {
            put_response_topics(buf, flex, version, &self.topics)?;
            if version >= 2 {
                buf.put_i16(self.error_code);
            }
        } else {
            buf.put_array(flex, &self.groups, |b, g| {
                b.put_string(flex, &g.group_id)?;
                put_response_topics(b, flex, version, &g.topics)?;
                b.put_i16(g.error_code);
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for OffsetFetchResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut out = Self::default();
        if version >= 3 {
            out.throttle_time_ms = r.i32()?;
        }
        if version < FIRST_GROUPS_VERSION {
            out.topics = read_response_topics(r, flex, version)?;
            if version >= 2 {
                out.error_code = r.i16()?;
            }
        } else {
            out.groups = r.array(flex, |r| {
                let group_id = r.string(flex)?;
                let topics = read_response_topics(r, flex, version)?;
                let error_code = r.i16()?;
                r.skip_tagged_fields(flex)?;
                Ok(OffsetFetchResponseGroup {
                    group_id,
                    topics,
                    error_code,
                })
            })?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(out)
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

    fn name_or_id(v: i16, name: String, id: [u8; 16]) -> (String, [u8; 16]) {
        if v >= FIRST_TOPIC_ID_VERSION {
            (String::new(), id)
        } else {
            (name, [0; 16])
        }
    }

    fn req_topics(v: i16) -> impl Strategy<Value = Option<Vec<OffsetFetchRequestTopic>>> {
        proptest::option::of(small_vec((
            string(),
            any::<[u8; 16]>(),
            small_vec(any::<i32>()),
        )))
        .prop_map(move |topics| {
            topics.map(|ts| {
                ts.into_iter()
                    .map(|(n, id, partition_indexes)| {
                        let (name, topic_id) = name_or_id(v, n, id);
                        OffsetFetchRequestTopic {
                            name,
                            topic_id,
                            partition_indexes,
                        }
                    })
                    .collect()
            })
        })
    }

    fn request(v: i16) -> impl Strategy<Value = OffsetFetchRequest> {
        (
            string(),
            req_topics(v.min(9)),
            small_vec((string(), opt_string(), any::<i32>(), req_topics(v))),
            any::<bool>(),
        )
            .prop_map(move |(g, topics, groups, stable)| {
                let mut req = OffsetFetchRequest {
                    require_stable: v >= 7 && stable,
                    ..Default::default()
                };
                if v < FIRST_GROUPS_VERSION {
                    req.group_id = g;
                    // Null (all topics) exists from v2.
                    req.topics = if v >= 2 {
                        topics
                    } else {
                        Some(topics.unwrap_or_default())
                    };
                } else {
                    req.groups = groups
                        .into_iter()
                        .map(|(group_id, m, e, topics)| OffsetFetchRequestGroup {
                            group_id,
                            member_id: if v >= 9 { m } else { None },
                            member_epoch: if v >= 9 { e } else { -1 },
                            topics,
                        })
                        .collect();
                }
                req
            })
    }

    fn resp_topics(v: i16) -> impl Strategy<Value = Vec<OffsetFetchResponseTopic>> {
        small_vec((
            string(),
            any::<[u8; 16]>(),
            small_vec((
                any::<i32>(),
                any::<i64>(),
                any::<i32>(),
                opt_string(),
                any::<i16>(),
            )),
        ))
        .prop_map(move |ts| {
            ts.into_iter()
                .map(|(n, id, parts)| {
                    let (name, topic_id) = name_or_id(v, n, id);
                    OffsetFetchResponseTopic {
                        name,
                        topic_id,
                        partitions: parts
                            .into_iter()
                            .map(|(p, o, e, md, err)| OffsetFetchResponsePartition {
                                partition_index: p,
                                committed_offset: o,
                                committed_leader_epoch: if v >= 5 { e } else { -1 },
                                metadata: md,
                                error_code: err,
                            })
                            .collect(),
                    }
                })
                .collect()
        })
    }

    fn response(v: i16) -> impl Strategy<Value = OffsetFetchResponse> {
        (
            any::<i32>(),
            resp_topics(v.min(9)),
            any::<i16>(),
            small_vec((string(), resp_topics(v), any::<i16>())),
        )
            .prop_map(move |(t, topics, err, groups)| {
                let mut resp = OffsetFetchResponse {
                    throttle_time_ms: if v >= 3 { t } else { 0 },
                    ..Default::default()
                };
                if v < FIRST_GROUPS_VERSION {
                    resp.topics = topics;
                    resp.error_code = if v >= 2 { err } else { 0 };
                } else {
                    resp.groups = groups
                        .into_iter()
                        .map(|(group_id, topics, error_code)| OffsetFetchResponseGroup {
                            group_id,
                            topics,
                            error_code,
                        })
                        .collect();
                }
                resp
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

    #[test]
    fn frames_round_trip_at_lowest_and_highest_versions() {
        let req = OffsetFetchRequest {
            group_id: "g".into(),
            topics: Some(vec![OffsetFetchRequestTopic {
                name: "t".into(),
                topic_id: [0; 16],
                partition_indexes: vec![0, 1],
            }]),
            ..Default::default()
        };
        let resp = OffsetFetchResponse {
            topics: vec![OffsetFetchResponseTopic {
                name: "t".into(),
                topic_id: [0; 16],
                partitions: vec![OffsetFetchResponsePartition {
                    partition_index: 0,
                    committed_offset: 42,
                    committed_leader_epoch: -1,
                    metadata: Some(String::new()),
                    error_code: 0,
                }],
            }],
            ..Default::default()
        };
        frame_roundtrip(&req, &resp, 0);

        let req = OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: "g".into(),
                member_id: Some("m".into()),
                member_epoch: 5,
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: String::new(),
                    topic_id: [9; 16],
                    partition_indexes: vec![0],
                }]),
            }],
            require_stable: true,
            ..Default::default()
        };
        let resp = OffsetFetchResponse {
            throttle_time_ms: 1,
            groups: vec![OffsetFetchResponseGroup {
                group_id: "g".into(),
                topics: vec![OffsetFetchResponseTopic {
                    name: String::new(),
                    topic_id: [9; 16],
                    partitions: vec![OffsetFetchResponsePartition {
                        partition_index: 0,
                        committed_offset: 42,
                        committed_leader_epoch: 3,
                        metadata: None,
                        error_code: 0,
                    }],
                }],
                error_code: 0,
            }],
            ..Default::default()
        };
        frame_roundtrip(&req, &resp, MAX);
    }

    #[test]
    fn null_topics_mean_all_from_v2_only() {
        let req = OffsetFetchRequest {
            group_id: "g".into(),
            topics: None,
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        assert!(matches!(
            req.encode(&mut buf, 1),
            Err(EncodeError::NullNotAllowed { .. })
        ));
        let mut buf = BytesMut::new();
        req.encode(&mut buf, 2).unwrap();
        assert_eq!(&buf[..], &[0, 1, b'g', 0xff, 0xff, 0xff, 0xff]);
        // A null array on the wire at v1 is refused rather than read as "all".
        let mut r = Reader::new(buf.freeze());
        assert!(OffsetFetchRequest::decode(&mut r, 1).is_err());
    }
}
