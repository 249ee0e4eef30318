//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, to detect log truncation.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::OffsetForLeaderEpoch;

/// The replica id of a consumer ("debug" consumers use -2, the schema's default).
pub const CONSUMER_REPLICA_ID: i32 = -1;

/// One partition to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderPartition {
    /// The partition index.
    pub partition: i32,
    /// The leader epoch the client knows, for fencing (v2+; default -1).
    pub current_leader_epoch: i32,
    /// The epoch whose end offset is asked for.
    pub leader_epoch: i32,
}

impl Default for OffsetForLeaderPartition {
    fn default() -> Self {
        Self {
            partition: 0,
            current_leader_epoch: -1,
            leader_epoch: 0,
        }
    }
}

/// One topic to look up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetForLeaderTopic {
    /// The topic name.
    pub topic: String,
    /// The partitions.
    pub partitions: Vec<OffsetForLeaderPartition>,
}

/// OffsetForLeaderEpoch request, versions 2–4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetForLeaderEpochRequest {
    /// The requester's broker id, -1 for a consumer (v3+; default -2).
    pub replica_id: i32,
    /// The topics.
    pub topics: Vec<OffsetForLeaderTopic>,
}

impl Default for OffsetForLeaderEpochRequest {
    fn default() -> Self {
        Self {
            replica_id: -2,
            topics: Vec::new(),
        }
    }
}

/// The answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The error code, or 0.
    pub error_code: i16,
    /// The partition index.
    pub partition: i32,
    /// The largest epoch not above the one asked for (default -1).
    pub leader_epoch: i32,
    /// The end offset of that epoch (default -1).
    pub end_offset: i64,
}

impl Default for EpochEndOffset {
    fn default() -> Self {
        Self {
            error_code: 0,
            partition: 0,
            leader_epoch: -1,
            end_offset: -1,
        }
    }
}

/// The answer for one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetForLeaderTopicResult {
    /// The topic name.
    pub topic: String,
    /// The partitions.
    pub partitions: Vec<EpochEndOffset>,
}

/// OffsetForLeaderEpoch response, versions 2–4.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetForLeaderEpochResponse {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// The topics.
    pub topics: Vec<OffsetForLeaderTopicResult>,
}

impl Request for OffsetForLeaderEpochRequest {
    const API_KEY: ApiKey = API;
    type Response = OffsetForLeaderEpochResponse;
}

impl Encode for OffsetForLeaderEpochRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 3 {
            buf.put_i32(self.replica_id);
        }
        buf.put_array(flex, &self.topics, |b, t| {
            b.put_string(flex, &t.topic)?;
            b.put_array(flex, &t.partitions, |b, p| {
                b.put_i32(p.partition);
                // v2 is the lowest version spoken, and it has the current leader epoch.
                b.put_i32(p.current_leader_epoch);
                b.put_i32(p.leader_epoch);
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

impl Decode for OffsetForLeaderEpochRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let replica_id = if version >= 3 { r.i32()? } else { -2 };
        let topics = r.array(flex, |r| {
            let topic = r.string(flex)?;
            let partitions = r.array(flex, |r| {
                let p = OffsetForLeaderPartition {
                    partition: r.i32()?,
                    current_leader_epoch: r.i32()?,
                    leader_epoch: r.i32()?,
                };
                r.skip_tagged_fields(flex)?;
                Ok(p)
            })?;
            r.skip_tagged_fields(flex)?;
            Ok(OffsetForLeaderTopic { topic, partitions })
        })?;
        r.skip_tagged_fields(flex)?;
        Ok(Self { replica_id, topics })
    }
}

impl Encode for OffsetForLeaderEpochResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_i32(self.throttle_time_ms);
        buf.put_array(flex, &self.topics, |b, t| {
            b.put_string(flex, &t.topic)?;
            b.put_array(flex, &t.partitions, |b, p| {
                b.put_i16(p.error_code);
                b.put_i32(p.partition);
                b.put_i32(p.leader_epoch);
                b.put_i64(p.end_offset);
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

impl Decode for OffsetForLeaderEpochResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let throttle_time_ms = r.i32()?;
        let topics = r.array(flex, |r| {
            let topic = r.string(flex)?;
            let partitions = r.array(flex, |r| {
                let p = EpochEndOffset {
                    error_code: r.i16()?,
                    partition: r.i32()?,
                    leader_epoch: r.i32()?,
                    end_offset: r.i64()?,
                };
                r.skip_tagged_fields(flex)?;
                Ok(p)
            })?;
            r.skip_tagged_fields(flex)?;
            Ok(OffsetForLeaderTopicResult { topic, partitions })
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

    const MIN: i16 = 2;
    const MAX: i16 = 4;

    fn request(version: i16) -> impl Strategy<Value = OffsetForLeaderEpochRequest> {
        let partition = (any::<i32>(), any::<i32>(), any::<i32>()).prop_map(|(p, c, e)| {
            OffsetForLeaderPartition {
                partition: p,
                current_leader_epoch: c,
                leader_epoch: e,
            }
        });
        let topic = (string(), small_vec(partition))
            .prop_map(|(topic, partitions)| OffsetForLeaderTopic { topic, partitions });
        (any::<i32>(), small_vec(topic)).prop_map(move |(replica, topics)| {
            OffsetForLeaderEpochRequest {
                replica_id: if version >= 3 { replica } else { -2 },
                topics,
            }
        })
    }

    fn response() -> impl Strategy<Value = OffsetForLeaderEpochResponse> {
        let partition = (any::<i16>(), any::<i32>(), any::<i32>(), any::<i64>()).prop_map(
            |(error_code, partition, leader_epoch, end_offset)| EpochEndOffset {
                error_code,
                partition,
                leader_epoch,
                end_offset,
            },
        );
        let topic = (string(), small_vec(partition))
            .prop_map(|(topic, partitions)| OffsetForLeaderTopicResult { topic, partitions });
        (any::<i32>(), small_vec(topic)).prop_map(|(throttle_time_ms, topics)| {
            OffsetForLeaderEpochResponse {
                throttle_time_ms,
                topics,
            }
        })
    }

    proptest! {
        #[test]
        fn request_round_trips((v, req) in (MIN..=MAX).prop_flat_map(|v| (Just(v), request(v)))) {
            normalize_roundtrip(&req, v)?;
        }

        #[test]
        fn response_round_trips(v in MIN..=MAX, resp in response()) {
            normalize_roundtrip(&resp, v)?;
        }
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_version() {
        for v in [MIN, MAX] {
            let req = OffsetForLeaderEpochRequest {
                replica_id: if v >= 3 { CONSUMER_REPLICA_ID } else { -2 },
                topics: vec![OffsetForLeaderTopic {
                    topic: "t".into(),
                    partitions: vec![OffsetForLeaderPartition {
                        partition: 1,
                        current_leader_epoch: 5,
                        leader_epoch: 4,
                    }],
                }],
            };
            let frame = encode_request_frame(31, Some("c"), v, &req).unwrap();
            let (header, back) =
                decode_request_frame::<OffsetForLeaderEpochRequest>(frame.slice(4..)).unwrap();
            assert_eq!(header.api_version, v);
            assert_eq!(back, req);

            let resp = OffsetForLeaderEpochResponse {
                throttle_time_ms: 0,
                topics: vec![OffsetForLeaderTopicResult {
                    topic: "t".into(),
                    partitions: vec![EpochEndOffset {
                        partition: 1,
                        leader_epoch: 4,
                        end_offset: 100,
                        ..Default::default()
                    }],
                }],
            };
            let frame = encode_response_frame::<OffsetForLeaderEpochRequest>(32, v, &resp).unwrap();
            let (corr, back) =
                decode_response_frame::<OffsetForLeaderEpochRequest>(frame.slice(4..), v).unwrap();
            assert_eq!(corr, 32);
            assert_eq!(back, resp);
        }
    }
}
