//! Heartbeat (key 12): a group member tells the coordinator it is alive.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::Heartbeat;

/// Heartbeat request, versions 0–4.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// The group id.
    pub group_id: String,
    /// The generation of the group.
    pub generation_id: i32,
    /// The member id assigned by the coordinator.
    pub member_id: String,
    /// The static member id (v3+).
    pub group_instance_id: Option<String>,
}

/// Heartbeat response, versions 0–4.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// Throttle time in ms (v1+).
    pub throttle_time_ms: i32,
    /// The error code, or 0.
    pub error_code: i16,
}

impl Request for HeartbeatRequest {
    const API_KEY: ApiKey = API;
    type Response = HeartbeatResponse;
}

impl Encode for HeartbeatRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_string(flex, &self.group_id)?;
        buf.put_i32(self.generation_id);
        buf.put_string(flex, &self.member_id)?;
        if version >= 3 {
            buf.put_nullable_string(flex, self.group_instance_id.as_deref())?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for HeartbeatRequest {
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
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
        })
    }
}

impl Encode for HeartbeatResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_i16(self.error_code);
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for HeartbeatResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let error_code = r.i16()?;
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{normalize_roundtrip, opt_string, string};
    use proptest::prelude::*;

    fn request(version: i16) -> impl Strategy<Value = HeartbeatRequest> {
        (string(), any::<i32>(), string(), opt_string()).prop_map(move |(g, gen, m, i)| {
            HeartbeatRequest {
                group_id: g,
                generation_id: gen,
                member_id: m,
                // Fields a version does not carry decode as their default.
                group_instance_id: if version >= 3 { i } else { None },
            }
        })
    }

    proptest! {
        #[test]
        fn request_round_trips((v, req) in (0i16..=4).prop_flat_map(|v| (Just(v), request(v)))) {
            normalize_roundtrip(&req, v)?;
        }

        #[test]
        fn response_round_trips(v in 0i16..=4, throttle in any::<i32>(), err in any::<i16>()) {
            let resp = HeartbeatResponse { throttle_time_ms: if v >= 1 { throttle } else { 0 }, error_code: err };
            normalize_roundtrip(&resp, v)?;
        }
    }
}
