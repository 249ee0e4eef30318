//! JoinGroup (key 11): a member asks the coordinator to join (or rejoin) a classic group.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::JoinGroup;

/// JoinGroup request, versions 0–9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupRequest {
    /// The group id.
    pub group_id: String,
    /// The coordinator drops the member after this long without a heartbeat.
    pub session_timeout_ms: i32,
    /// How long the coordinator waits for members to rejoin (v1+; -1 when absent).
    pub rebalance_timeout_ms: i32,
    /// The member id from the coordinator, or empty on the first join.
    pub member_id: String,
    /// The static member id (v5+).
    pub group_instance_id: Option<String>,
    /// The protocol class, "consumer" for consumers.
    pub protocol_type: String,
    /// The protocols (assignors) this member supports, in order of preference.
    pub protocols: Vec<JoinGroupRequestProtocol>,
    /// Why the member (re)joins (v8+).
    pub reason: Option<String>,
}

impl Default for JoinGroupRequest {
    fn default() -> Self {
        Self {
            group_id: String::new(),
            session_timeout_ms: 0,
            rebalance_timeout_ms: -1,
            member_id: String::new(),
            group_instance_id: None,
            protocol_type: String::new(),
            protocols: Vec::new(),
            reason: None,
        }
    }
}

/// One protocol a joining member supports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinGroupRequestProtocol {
    /// The protocol (assignor) name.
    pub name: String,
    /// The protocol metadata (for consumers, a ConsumerProtocolSubscription).
    pub metadata: Bytes,
}

/// JoinGroup response, versions 0–9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinGroupResponse {
    /// Throttle time in ms (v2+).
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The generation of the group (-1 by default).
    pub generation_id: i32,
    /// The protocol class chosen (v7+).
    pub protocol_type: Option<String>,
    /// The protocol chosen by the coordinator (null only from v7).
    pub protocol_name: Option<String>,
    /// The member id of the group leader.
    pub leader: String,
    /// True if the leader must skip running the assignment (v9+).
    pub skip_assignment: bool,
    /// This member's id.
    pub member_id: String,
    /// All members with their metadata; empty unless this member is the leader.
    pub members: Vec<JoinGroupResponseMember>,
}

impl Default for JoinGroupResponse {
    fn default() -> Self {
        Self {
            throttle_time_ms: 0,
            error_code: 0,
            generation_id: -1,
            protocol_type: None,
            protocol_name: Some(String::new()),
            leader: String::new(),
            skip_assignment: false,
            member_id: String::new(),
            members: Vec::new(),
        }
    }
}

/// One member of the group, as the leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JoinGroupResponseMember {
    /// The member id.
    pub member_id: String,
    /// The member's static id (v5+).
    pub group_instance_id: Option<String>,
    /// The member's protocol metadata.
    pub metadata: Bytes,
}

impl Request for JoinGroupRequest {
    const API_KEY: ApiKey = API;
    type Response = JoinGroupResponse;
}

impl Encode for JoinGroupRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_string(flex, &self.group_id)?;
        buf.put_i32(self.session_timeout_ms);
        if version >= 1 {
            buf.put_i32(self.rebalance_timeout_ms);
        }
        buf.put_string(flex, &self.member_id)?;
        if version >= 5 {
            buf.put_nullable_string(flex, self.group_instance_id.as_deref())?;
        }
        buf.put_string(flex, &self.protocol_type)?;
        buf.put_array(flex, &self.protocols, |b, p| {
            b.put_string(flex, &p.name)?;
            b.put_bytes_field(flex, &p.metadata)?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        if version >= 8 {
            buf.put_nullable_string(flex, self.reason.as_deref())?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for JoinGroupRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let group_id = r.string(flex)?;
        let session_timeout_ms = r.i32()?;
        let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
        let member_id = r.string(flex)?;
        let group_instance_id = if version >= 5 {
            r.nullable_string(flex)?
        } else {
            None
        };
        let protocol_type = r.string(flex)?;
        let protocols = r.array(flex, |r| {
            let name = r.string(flex)?;
            let metadata = r.bytes(flex)?;
            r.skip_tagged_fields(flex)?;
            Ok(JoinGroupRequestProtocol { name, metadata })
        })?;
        let reason = if version >= 8 {
            r.nullable_string(flex)?
        } else {
            None
        };
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            group_id,
            session_timeout_ms,
            rebalance_timeout_ms,
            member_id,
            group_instance_id,
            protocol_type,
            protocols,
            reason,
        })
    }
}

impl Encode for JoinGroupResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 2 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_i16(self.error_code);
        buf.put_i32(self.generation_id);
        if version >= 7 {
            buf.put_nullable_string(flex, self.protocol_type.as_deref())?;
            buf.put_nullable_string(flex, self.protocol_name.as_deref())?;
        } else {
            let name = self
                .protocol_name
                .as_deref()
                .ok_or(EncodeError::NullNotAllowed {
                    what: "JoinGroup protocol_name",
                })?;
            buf.put_string(flex, name)?;
        }
        buf.put_string(flex, &self.leader)?;
        if version >= 9 {
            buf.put_bool(self.skip_assignment);
        }
        buf.put_string(flex, &self.member_id)?;
        buf.put_array(flex, &self.members, |b, m| {
            b.put_string(flex, &m.member_id)?;
            if version >= 5 {
                b.put_nullable_string(flex, m.group_instance_id.as_deref())?;
            }
            b.put_bytes_field(flex, &m.metadata)?;
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for JoinGroupResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let throttle_time_ms = if version >= 2 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        let generation_id = r.i32()?;
        let (protocol_type, protocol_name) = if version >= 7 {
            (r.nullable_string(flex)?, r.nullable_string(flex)?)
        } else {
            (None, Some(r.string(flex)?))
        };
        let leader = r.string(flex)?;
        let skip_assignment = if version >= 9 { r.bool()? } else { false };
        let member_id = r.string(flex)?;
        let members = r.array(flex, |r| {
            let member_id = r.string(flex)?;
            let group_instance_id = if version >= 5 {
                r.nullable_string(flex)?
            } else {
                None
            };
            let metadata = r.bytes(flex)?;
            r.skip_tagged_fields(flex)?;
            Ok(JoinGroupResponseMember {
                member_id,
                group_instance_id,
                metadata,
            })
        })?;
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            generation_id,
            protocol_type,
            protocol_name,
            leader,
            skip_assignment,
            member_id,
            members,
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

    const MAX: i16 = 9;

    fn request(v: i16) -> impl Strategy<Value = JoinGroupRequest> {
        (
            (string(), any::<i32>(), any::<i32>(), string(), opt_string()),
            (string(), small_vec((string(), bytes())), opt_string()),
        )
            .prop_map(move |((g, st, rt, m, inst), (pt, protos, reason))| {
                JoinGroupRequest {
                    group_id: g,
                    session_timeout_ms: st,
                    rebalance_timeout_ms: if v >= 1 { rt } else { -1 },
                    member_id: m,
                    group_instance_id: if v >= 5 { inst } else { None },
                    protocol_type: pt,
                    protocols: protos
                        .into_iter()
                        .map(|(name, metadata)| JoinGroupRequestProtocol { name, metadata })
                        .collect(),
                    reason: if v >= 8 { reason } else { None },
                }
            })
    }

    fn response(v: i16) -> impl Strategy<Value = JoinGroupResponse> {
        (
            (
                any::<i32>(),
                any::<i16>(),
                any::<i32>(),
                opt_string(),
                opt_string(),
            ),
            (
                string(),
                any::<bool>(),
                string(),
                small_vec((string(), opt_string(), bytes())),
            ),
        )
            .prop_map(move |((t, e, gen, pt, pn), (leader, skip, m, members))| {
                JoinGroupResponse {
                    throttle_time_ms: if v >= 2 { t } else { 0 },
                    error_code: e,
                    generation_id: gen,
                    protocol_type: if v >= 7 { pt } else { None },
                    // Before v7 the name is not nullable.
                    protocol_name: if v >= 7 {
                        pn
                    } else {
                        Some(pn.unwrap_or_default())
                    },
                    leader,
                    skip_assignment: v >= 9 && skip,
                    member_id: m,
                    members: members
                        .into_iter()
                        .map(|(member_id, inst, metadata)| JoinGroupResponseMember {
                            member_id,
                            group_instance_id: if v >= 5 { inst } else { None },
                            metadata,
                        })
                        .collect(),
                }
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

    fn sample_request(v: i16) -> JoinGroupRequest {
        JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: if v >= 1 { 300_000 } else { -1 },
            member_id: "m-1".into(),
            group_instance_id: (v >= 5).then(|| "i-1".into()),
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: Bytes::from_static(&[0, 1, 0, 0, 0, 0]),
            }],
            reason: (v >= 8).then(|| "rejoin".into()),
        }
    }

    fn sample_response(v: i16) -> JoinGroupResponse {
        JoinGroupResponse {
            throttle_time_ms: if v >= 2 { 5 } else { 0 },
            error_code: 0,
            generation_id: 3,
            protocol_type: (v >= 7).then(|| "consumer".into()),
            protocol_name: Some("range".into()),
            leader: "m-1".into(),
            skip_assignment: v >= 9,
            member_id: "m-1".into(),
            members: vec![JoinGroupResponseMember {
                member_id: "m-1".into(),
                group_instance_id: (v >= 5).then(|| "i-1".into()),
                metadata: Bytes::from_static(b"meta"),
            }],
        }
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_versions() {
        for v in [0, MAX] {
            frame_roundtrip(&sample_request(v), &sample_response(v), v);
        }
    }

    #[test]
    fn v0_request_has_the_classic_layout() {
        let mut buf = BytesMut::new();
        sample_request(0).encode(&mut buf, 0).unwrap();
        let mut want = Vec::new();
        want.extend_from_slice(&[0, 1, b'g']);
        want.extend_from_slice(&45_000i32.to_be_bytes());
        want.extend_from_slice(&[0, 3, b'm', b'-', b'1']);
        want.extend_from_slice(&[0, 8]);
        want.extend_from_slice(b"consumer");
        want.extend_from_slice(&[0, 0, 0, 1, 0, 5]);
        want.extend_from_slice(b"range");
        want.extend_from_slice(&[0, 0, 0, 6, 0, 1, 0, 0, 0, 0]);
        assert_eq!(&buf[..], &want[..]);
    }

    #[test]
    fn null_protocol_name_is_refused_before_v7() {
        let resp = JoinGroupResponse {
            protocol_name: None,
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        assert!(matches!(
            resp.encode(&mut buf, 6),
            Err(EncodeError::NullNotAllowed { .. })
        ));
        let mut buf = BytesMut::new();
        resp.encode(&mut buf, 7).unwrap();
    }
}
