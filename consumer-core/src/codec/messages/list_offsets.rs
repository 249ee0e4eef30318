//! ListOffsets (key 2): the offset of a partition at a timestamp (earliest, latest, ...).

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::ListOffsets;

/// The timestamp asking for the latest offset (the high watermark, or the LSO).
pub const LATEST_TIMESTAMP: i64 = -1;
/// The timestamp asking for the earliest offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;

/// One partition to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartition {
    /// The partition index.
    pub partition_index: i32,
    /// The leader epoch the client knows, for fencing (v4+; default -1).
    pub current_leader_epoch: i32,
    /// The timestamp to look up, or one of the special values (-1 latest, -2 earliest, ...).
    pub timestamp: i64,
}

impl Default for ListOffsetsPartition {
    fn default() -> Self {
        Self {
            partition_index: 0,
            current_leader_epoch: -1,
            timestamp: 0,
        }
    }
}

/// One topic to look up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsTopic {
    /// The topic name.
    pub name: String,
    /// The partitions.
    pub partitions: Vec<ListOffsetsPartition>,
}

/// ListOffsets request, versions 1–11.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsRequest {
    /// The requesting broker's id, or -1 for a consumer.
    pub replica_id: i32,
    /// 0 read uncommitted, 1 read committed (v2+).
    pub isolation_level: i8,
    /// The topics.
    pub topics: Vec<ListOffsetsTopic>,
    /// How long to wait for tiered-storage lookups, in ms (v10+).
    pub timeout_ms: i32,
}

/// The answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOffsetsPartitionResponse {
    /// The partition index.
    pub partition_index: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The timestamp of the returned offset (default -1).
    pub timestamp: i64,
    /// The returned offset (default -1).
    pub offset: i64,
    /// The leader epoch of the returned offset (v4+; default -1).
    pub leader_epoch: i32,
}

impl Default for ListOffsetsPartitionResponse {
    fn default() -> Self {
        Self {
            partition_index: 0,
            error_code: 0,
            timestamp: -1,
            offset: -1,
            leader_epoch: -1,
        }
    }
}

/// The answer for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsTopicResponse {
    /// The topic name.
    pub name: String,
    /// The partitions.
    pub partitions: Vec<ListOffsetsPartitionResponse>,
}

/// ListOffsets response, versions 1–11.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOffsetsResponse {
    /// Throttle time in ms (v2+).
    pub throttle_time_ms: i32,
    /// The topics.
    pub topics: Vec<ListOffsetsTopicResponse>,
}

impl Request for ListOffsetsRequest {
    const API_KEY: ApiKey = API;
    type Response = ListOffsetsResponse;
}

impl Encode for ListOffsetsRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_i32(self.replica_id);
        if version >= 2 {
            buf.put_i8(self.isolation_level);
        }
        buf.put_array(flex, &self.topics, |b, t| {
            b.put_string(flex, &t.name)?;
            b.put_array(flex, &t.partitions, |b, p| {
                b.put_i32(p.partition_index);
                if version >= 4 {
                    b.put_i32(p.current_leader_epoch);
                }
                b.put_i64(p.timestamp);
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        if version >= 10 {
            buf.put_i32(self.timeout_ms);
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for ListOffsetsRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut req = Self {
            replica_id: r.i32()?,
            ..Default::default()
        };
        if version >= 2 {
            req.isolation_level = r.i8()?;
        }
        req.topics = r.array(flex, |r| {
            let name = r.string(flex)?;
            let partitions = r.array(flex, |r| {
                let mut p = ListOffsetsPartition {
                    partition_index: r.i32()?,
                    ..Default::default()
                };
                if version >= 4 {
                    p.current_leader_epoch = r.i32()?;
                }
                p.timestamp = r.i64()?;
                r.skip_tagged_fields(flex)?;
                Ok(p)
            })?;
            r.skip_tagged_fields(flex)?;
            Ok(ListOffsetsTopic { name, partitions })
        })?;
        if version >= 10 {
            req.timeout_ms = r.i32()?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(req)
    }
}

impl Encode for ListOffsetsResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 2 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_array(flex, &self.topics, |b, t| {
            b.put_string(flex, &t.name)?;
            b.put_array(flex, &t.partitions, |b, p| {
                b.put_i32(p.partition_index);
                b.put_i16(p.error_code);
                b.put_i64(p.timestamp);
                b.put_i64(p.offset);
                if version >= 4 {
                    b.put_i32(p.leader_epoch);
                }
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

impl Decode for ListOffsetsResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let throttle_time_ms = if version >= 2 { r.i32()? } else { 0 };
        let topics = r.array(flex, |r| {
            let name = r.string(flex)?;
            let partitions = r.array(flex, |r| {
                let mut p = ListOffsetsPartitionResponse {
                    partition_index: r.i32()?,
                    error_code: r.i16()?,
                    timestamp: r.i64()?,
                    offset: r.i64()?,
                    ..Default::default()
                };
                if version >= 4 {
                    p.leader_epoch = r.i32()?;
                }
                r.skip_tagged_fields(flex)?;
                Ok(p)
            })?;
            r.skip_tagged_fields(flex)?;
            Ok(ListOffsetsTopicResponse { name, partitions })
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
    use crate::codec::testing::{normalize_roundtrip, small_vec, string};
    use crate::codec::{
        decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
    };
    use proptest::prelude::*;

    const MIN: i16 = 1;
    const MAX: i16 = 11;

    fn request(version: i16) -> impl Strategy<Value = ListOffsetsRequest> {
        let partition = (any::<i32>(), any::<i32>(), any::<i64>()).prop_map(move |(i, e, t)| {
            ListOffsetsPartition {
                partition_index: i,
                current_leader_epoch: if version >= 4 { e } else { -1 },
                timestamp: t,
            }
        });
        let topic = (string(), small_vec(partition))
            .prop_map(|(name, partitions)| ListOffsetsTopic { name, partitions });
        (any::<i32>(), any::<i8>(), small_vec(topic), any::<i32>()).prop_map(
            move |(replica, iso, topics, timeout)| ListOffsetsRequest {
                replica_id: replica,
                isolation_level: if version >= 2 { iso } else { 0 },
                topics,
                timeout_ms: if version >= 10 { timeout } else { 0 },
            },
        )
    }

    fn response(version: i16) -> impl Strategy<Value = ListOffsetsResponse> {
        let partition = (
            any::<i32>(),
            any::<i16>(),
            any::<i64>(),
            any::<i64>(),
            any::<i32>(),
        )
            .prop_map(move |(i, err, ts, off, e)| ListOffsetsPartitionResponse {
                partition_index: i,
                error_code: err,
                timestamp: ts,
                offset: off,
                leader_epoch: if version >= 4 { e } else { -1 },
            });
        let topic = (string(), small_vec(partition))
            .prop_map(|(name, partitions)| ListOffsetsTopicResponse { name, partitions });
        (any::<i32>(), small_vec(topic)).prop_map(move |(throttle, topics)| ListOffsetsResponse {
            throttle_time_ms: if version >= 2 { throttle } else { 0 },
            topics,
        })
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

    #[test]
    fn version_zero_is_refused() {
        let mut buf = BytesMut::new();
        assert!(ListOffsetsRequest::default().encode(&mut buf, 0).is_err());
        let mut r = Reader::new(Bytes::from_static(&[0; 16]));
        assert!(ListOffsetsResponse::decode(&mut r, 0).is_err());
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_version() {
        for v in [MIN, MAX] {
            let req = ListOffsetsRequest {
                replica_id: -1,
                isolation_level: if v >= 2 { 1 } else { 0 },
                topics: vec![ListOffsetsTopic {
                    name: "t".into(),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: 0,
                        current_leader_epoch: if v >= 4 { 3 } else { -1 },
                        timestamp: EARLIEST_TIMESTAMP,
                    }],
                }],
                timeout_ms: if v >= 10 { 30_000 } else { 0 },
            };
            let frame = encode_request_frame(21, Some("c"), v, &req).unwrap();
            let (header, back) =
                decode_request_frame::<ListOffsetsRequest>(frame.slice(4..)).unwrap();
            assert_eq!(header.api_version, v);
            assert_eq!(back, req);

            let resp = ListOffsetsResponse {
                throttle_time_ms: if v >= 2 { 1 } else { 0 },
                topics: vec![ListOffsetsTopicResponse {
                    name: "t".into(),
                    partitions: vec![ListOffsetsPartitionResponse {
                        offset: 42,
                        leader_epoch: if v >= 4 { 3 } else { -1 },
                        ..Default::default()
                    }],
                }],
            };
            let frame = encode_response_frame::<ListOffsetsRequest>(22, v, &resp).unwrap();
            let (corr, back) =
                decode_response_frame::<ListOffsetsRequest>(frame.slice(4..), v).unwrap();
            assert_eq!(corr, 22);
            assert_eq!(back, resp);
        }
    }
}
