//! LeaveGroup (key 13): members tell the coordinator they are leaving the group.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::LeaveGroup;

/// LeaveGroup request, versions 0–5.
///
/// Versions 0–2 name one leaving member in `member_id`; from v3 a batch of members is
/// named in `members` and `member_id` is not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveGroupRequest {
    /// The group id.
    pub group_id: String,
    /// The leaving member (v0–2).
    pub member_id: String,
    /// The leaving members (v3+).
    pub members: Vec<LeaveGroupMember>,
}

/// One member leaving the group (v3+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveGroupMember {
    /// The member id.
    pub member_id: String,
    /// The static member id.
    pub group_instance_id: Option<String>,
    /// Why the member leaves (v5+).
    pub reason: Option<String>,
}

/// LeaveGroup response, versions 0–5.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveGroupResponse {
    /// Throttle time in ms (v1+).
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The result per leaving member (v3+).
    pub members: Vec<LeaveGroupMemberResponse>,
}

/// The result for one leaving member (v3+).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveGroupMemberResponse {
    /// The member id.
    pub member_id: String,
    /// The static member id.
    pub group_instance_id: Option<String>,
    /// The error code, or 0.
    pub error_code: i16,
}

impl Request for LeaveGroupRequest {
    const API_KEY: ApiKey = API;
    type Response = LeaveGroupResponse;
}

impl Encode for LeaveGroupRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_string(flex, &self.group_id)?;
        if version <= 2 {
            buf.put_string(flex, &self.member_id)?;
        } else {
            buf.put_array(flex, &self.members, |b, m| {
                b.put_string(flex, &m.member_id)?;
                b.put_nullable_string(flex, m.group_instance_id.as_deref())?;
                if version >= 5 {
                    b.put_nullable_string(flex, m.reason.as_deref())?;
                }
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for LeaveGroupRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let group_id = r.string(flex)?;
        let mut out = Self {
            group_id,
            ..Self::default()
        };
        if version <= 2 {
            out.member_id = r.string(flex)?;
        } else {
            out.members = r.array(flex, |r| {
                let member_id = r.string(flex)?;
                let group_instance_id = r.nullable_string(flex)?;
                let reason = if version >= 5 {
                    r.nullable_string(flex)?
                } else {
                    None
                };
                r.skip_tagged_fields(flex)?;
                Ok(LeaveGroupMember {
                    member_id,
                    group_instance_id,
                    reason,
                })
            })?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(out)
    }
}

impl Encode for LeaveGroupResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_i16(self.error_code);
        if version >= 3 {
            buf.put_array(flex, &self.members, |b, m| {
                b.put_string(flex, &m.member_id)?;
                b.put_nullable_string(flex, m.group_instance_id.as_deref())?;
                b.put_i16(m.error_code);
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for LeaveGroupResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        let members = if version >= 3 {
            r.array(flex, |r| {
                let member_id = r.string(flex)?;
                let group_instance_id = r.nullable_string(flex)?;
                let error_code = r.i16()?;
                r.skip_tagged_fields(flex)?;
                Ok(LeaveGroupMemberResponse {
                    member_id,
                    group_instance_id,
                    error_code,
                })
            })?
        } else {
            Vec::new()
        };
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            members,
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

    const MAX: i16 = 5;

    fn request(v: i16) -> impl Strategy<Value = LeaveGroupRequest> {
        (
            string(),
            string(),
            small_vec((string(), opt_string(), opt_string())),
        )
            .prop_map(move |(g, m, members)| LeaveGroupRequest {
                group_id: g,
                member_id: if v <= 2 { m } else { String::new() },
                members: if v >= 3 {
                    members
                        .into_iter()
                        .map(|(member_id, group_instance_id, reason)| LeaveGroupMember {
                            member_id,
                            group_instance_id,
                            reason: if v >= 5 { reason } else { None },
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            })
    }

    fn response(v: i16) -> impl Strategy<Value = LeaveGroupResponse> {
        (
            any::<i32>(),
            any::<i16>(),
            small_vec((string(), opt_string(), any::<i16>())),
        )
            .prop_map(move |(t, e, members)| LeaveGroupResponse {
                throttle_time_ms: if v >= 1 { t } else { 0 },
                error_code: e,
                members: if v >= 3 {
                    members
                        .into_iter()
                        .map(|(member_id, group_instance_id, error_code)| {
                            LeaveGroupMemberResponse {
                                member_id,
                                group_instance_id,
                                error_code,
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                },
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
        let req = LeaveGroupRequest {
            group_id: "g".into(),
            member_id: "m".into(),
            members: Vec::new(),
        };
        let resp = LeaveGroupResponse {
            throttle_time_ms: 0,
            error_code: 25,
            members: Vec::new(),
        };
        frame_roundtrip(&req, &resp, 0);

        let req = LeaveGroupRequest {
            group_id: "g".into(),
            member_id: String::new(),
            members: vec![LeaveGroupMember {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                reason: Some("shutdown".into()),
            }],
        };
        let resp = LeaveGroupResponse {
            throttle_time_ms: 3,
            error_code: 0,
            members: vec![LeaveGroupMemberResponse {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                error_code: 0,
            }],
        };
        frame_roundtrip(&req, &resp, MAX);
    }

    #[test]
    fn v0_sends_the_single_member_id_and_v3_the_batch() {
        let req = LeaveGroupRequest {
            group_id: "g".into(),
            member_id: "m".into(),
            members: vec![LeaveGroupMember {
                member_id: "x".into(),
                group_instance_id: None,
                reason: None,
            }],
        };
        let mut buf = BytesMut::new();
        req.encode(&mut buf, 0).unwrap();
        assert_eq!(&buf[..], &[0, 1, b'g', 0, 1, b'm']);
        let mut buf = BytesMut::new();
        req.encode(&mut buf, 3).unwrap();
        assert_eq!(&buf[..], &[0, 1, b'g', 0, 0, 0, 1, 0, 1, b'x', 0xff, 0xff]);
    }
}
