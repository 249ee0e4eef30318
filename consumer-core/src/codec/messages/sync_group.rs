//! SyncGroup (key 14): members fetch their assignment; the leader also delivers everyone's.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::SyncGroup;

/// SyncGroup request, versions 0–5.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGroupRequest {
    /// The group id.
    pub group_id: String,
    /// The generation from JoinGroup.
    pub generation_id: i32,
    /// The member id from JoinGroup.
    pub member_id: String,
    /// The static member id (v3+).
    pub group_instance_id: Option<String>,
    /// The protocol class, checked by the coordinator (v5+).
    pub protocol_type: Option<String>,
    /// The protocol chosen in JoinGroup, checked by the coordinator (v5+).
    pub protocol_name: Option<String>,
    /// Every member's assignment; only the leader sends any.
    pub assignments: Vec<SyncGroupRequestAssignment>,
}

/// The assignment the leader computed for one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGroupRequestAssignment {
    /// The member assigned.
    pub member_id: String,
    /// The assignment (for consumers, a ConsumerProtocolAssignment).
    pub assignment: Bytes,
}

/// SyncGroup response, versions 0–5.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncGroupResponse {
    /// Throttle time in ms (v1+).
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The protocol class (v5+).
    pub protocol_type: Option<String>,
    /// The protocol name (v5+).
    pub protocol_name: Option<String>,
    /// This member's assignment (may be empty).
    pub assignment: Bytes,
}

impl Request for SyncGroupRequest {
    const API_KEY: ApiKey = API;
    type Response = SyncGroupResponse;
}

impl Encode for SyncGroupRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_string(flex, &self.group_id)?;
        buf.put_i32(self.generation_id);
        buf.put_string(flex, &self.member_id)?;
        if version >= 3 {
            buf.put_nullable_string(flex, self.group_instance_id.as_deref())?;
        }
        if version >= 5 {
            buf.put_nullable_string(flex, self.protocol_type.as_deref())?;
            buf.put_nullable_string(flex, self.protocol_name.as_deref())?;
        }
        buf.put_array(flex, &self.assignments, |b, a| {
            b.put_string(flex, &a.member_id)?;
            b.put_bytes_field(flex, &a.assignment)?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for SyncGroupRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let group_id = r.string(flex)?;
        let generation_id = r.i32()?;
        let member_id = r.string(flex)?;
        let group_instance_id = if version >= 3 {
            r.nullable_string(flex)?
        } else {
            None
        };
        let (protocol_type, protocol_name) = if version >= 5 {
            (r.nullable_string(flex)?, r.nullable_string(flex)?)
        } else {
            (None, None)
        };
        let assignments = r.array(flex, |r| {
            let member_id = r.string(flex)?;
            let assignment = r.bytes(flex)?;
            r.skip_tagged_fields(flex)?;
            Ok(SyncGroupRequestAssignment {
                member_id,
                assignment,
            })
        })?;
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
            protocol_type,
            protocol_name,
            assignments,
        })
    }
}

impl Encode for SyncGroupResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_i16(self.error_code);
        if version >= 5 {
            buf.put_nullable_string(flex, self.protocol_type.as_deref())?;
            buf.put_nullable_string(flex, self.protocol_name.as_deref())?;
        }
        buf.put_bytes_field(flex, &self.assignment)?;
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for SyncGroupResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        let (protocol_type, protocol_name) = if version >= 5 {
            (r.nullable_string(flex)?, r.nullable_string(flex)?)
        } else {
            (None, None)
        };
        // Not nullable in the schema, but librdkafka's mock coordinator answers errors
        // with a null assignment (length -1); librdkafka reads that as empty, so do we.
        let assignment = r.nullable_bytes(flex)?.unwrap_or_default();
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            protocol_type,
            protocol_name,
            assignment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{
        bytes, frame_roundtrip, normalize_roundtrip, opt_string, small_vec, string,
    };
    use proptest::prelude::*;

    const MAX: i16 = 5;

    fn request(v: i16) -> impl Strategy<Value = SyncGroupRequest> {
        (
            (string(), any::<i32>(), string(), opt_string()),
            (opt_string(), opt_string(), small_vec((string(), bytes()))),
        )
            .prop_map(
                move |((g, gen, m, inst), (pt, pn, assignments))| SyncGroupRequest {
                    group_id: g,
                    generation_id: gen,
                    member_id: m,
                    group_instance_id: if v >= 3 { inst } else { None },
                    protocol_type: if v >= 5 { pt } else { None },
                    protocol_name: if v >= 5 { pn } else { None },
                    assignments: assignments
                        .into_iter()
                        .map(|(member_id, assignment)| SyncGroupRequestAssignment {
                            member_id,
                            assignment,
                        })
                        .collect(),
                },
            )
    }

    fn response(v: i16) -> impl Strategy<Value = SyncGroupResponse> {
        (
            any::<i32>(),
            any::<i16>(),
            opt_string(),
            opt_string(),
            bytes(),
        )
            .prop_map(move |(t, e, pt, pn, assignment)| SyncGroupResponse {
                throttle_time_ms: if v >= 1 { t } else { 0 },
                error_code: e,
                protocol_type: if v >= 5 { pt } else { None },
                protocol_name: if v >= 5 { pn } else { None },
                assignment,
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
        for v in [0, MAX] {
            let req = SyncGroupRequest {
                group_id: "g".into(),
                generation_id: 7,
                member_id: "m".into(),
                group_instance_id: (v >= 3).then(|| "i".into()),
                protocol_type: (v >= 5).then(|| "consumer".into()),
                protocol_name: (v >= 5).then(|| "range".into()),
                assignments: vec![SyncGroupRequestAssignment {
                    member_id: "m".into(),
                    assignment: Bytes::from_static(b"assignment"),
                }],
            };
            let resp = SyncGroupResponse {
                throttle_time_ms: if v >= 1 { 1 } else { 0 },
                error_code: 0,
                protocol_type: (v >= 5).then(|| "consumer".into()),
                protocol_name: (v >= 5).then(|| "range".into()),
                assignment: Bytes::from_static(b"assignment"),
            };
            frame_roundtrip(&req, &resp, v);
        }
    }

    #[test]
    fn null_assignment_of_an_error_answer_reads_as_empty() {
        // v1 (classic): throttle, REBALANCE_IN_PROGRESS, assignment length -1.
        let mut classic = Reader::new(Bytes::from_static(&[
            0, 0, 0, 0, 0, 27, 0xff, 0xff, 0xff, 0xff,
        ]));
        let resp = SyncGroupResponse::decode(&mut classic, 1).unwrap();
        assert_eq!((resp.error_code, resp.assignment.len()), (27, 0));
        assert_eq!(classic.remaining(), 0);
        // v4 (flexible): compact length 0 means null.
        let mut flex = Reader::new(Bytes::from_static(&[0, 0, 0, 0, 0, 27, 0, 0]));
        let resp = SyncGroupResponse::decode(&mut flex, 4).unwrap();
        assert_eq!((resp.error_code, resp.assignment.len()), (27, 0));
        assert_eq!(flex.remaining(), 0);
    }

    #[test]
    fn v4_response_is_compact() {
        let resp = SyncGroupResponse {
            throttle_time_ms: 0,
            error_code: 27,
            assignment: Bytes::new(),
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        resp.encode(&mut buf, 4).unwrap();
        // throttle, error, empty compact bytes (length+1 = 1), no tagged fields.
        assert_eq!(&buf[..], &[0, 0, 0, 0, 0, 27, 1, 0]);
    }
}
