//! FindCoordinator (key 10): which broker coordinates a group (or transaction).

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::FindCoordinator;

/// The key type of a consumer group.
pub const KEY_TYPE_GROUP: i8 = 0;
/// The key type of a transactional id.
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// FindCoordinator request, versions 0–6.
///
/// Versions 0–3 carry a single `key`; versions 4+ a batch of `coordinator_keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    /// The key to look up (v0–3).
    pub key: String,
    /// The key type: 0 group, 1 transaction, 2 share (v1+).
    pub key_type: i8,
    /// The keys to look up (v4+).
    pub coordinator_keys: Vec<String>,
}

/// The coordinator of one key (v4+, or built from the v0–3 fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coordinator {
    /// The key looked up.
    pub key: String,
    /// The coordinator's broker id.
    pub node_id: i32,
    /// The coordinator's host name.
    pub host: String,
    /// The coordinator's port.
    pub port: i32,
    /// The error code, or 0.
    pub error_code: i16,
    /// The error message, if any.
    pub error_message: Option<String>,
}

/// FindCoordinator response, versions 0–6.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// Throttle time in ms (v1+).
    pub throttle_time_ms: i32,
    /// The error code, or 0 (v0–3).
    pub error_code: i16,
    /// The error message, if any (v1–3).
    pub error_message: Option<String>,
    /// The coordinator's broker id (v0–3).
    pub node_id: i32,
    /// The coordinator's host name (v0–3).
    pub host: String,
    /// The coordinator's port (v0–3).
    pub port: i32,
    /// One result per key asked for (v4+).
    pub coordinators: Vec<Coordinator>,
}

impl FindCoordinatorResponse {
    /// The answer for `key`, whichever version carried it: the matching entry of
    /// `coordinators` (v4+), else the single top-level answer (v0–3).
    pub fn coordinator_for(&self, key: &str) -> Option<Coordinator> {
        if self.coordinators.is_empty() {
            return Some(Coordinator {
                key: key.to_owned(),
                node_id: self.node_id,
                host: self.host.clone(),
                port: self.port,
                error_code: self.error_code,
                error_message: self.error_message.clone(),
            });
        }
        self.coordinators.iter().find(|c| c.key == key).cloned()
    }
}

impl Request for FindCoordinatorRequest {
    const API_KEY: ApiKey = API;
    type Response = FindCoordinatorResponse;
}

impl Encode for FindCoordinatorRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version <= 3 {
            buf.put_string(flex, &self.key)?;
        }
        if version >= 1 {
            buf.put_i8(self.key_type);
        }
        if version >= 4 {
            buf.put_array(flex, &self.coordinator_keys, |b, k| b.put_string(flex, k))?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for FindCoordinatorRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut req = Self::default();
        if version <= 3 {
            req.key = r.string(flex)?;
        }
        if version >= 1 {
            req.key_type = r.i8()?;
        }
        if version >= 4 {
            req.coordinator_keys = r.array(flex, |r| r.string(flex))?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(req)
    }
}

impl Encode for FindCoordinatorResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        if version <= 3 {
            buf.put_i16(self.error_code);
            if version >= 1 {
                buf.put_nullable_string(flex, self.error_message.as_deref())?;
            }
            buf.put_i32(self.node_id);
            buf.put_string(flex, &self.host)?;
            buf.put_i32(self.port);
        } else {
            buf.put_array(flex, &self.coordinators, |b, c| {
                b.put_string(flex, &c.key)?;
                b.put_i32(c.node_id);
                b.put_string(flex, &c.host)?;
                b.put_i32(c.port);
                b.put_i16(c.error_code);
                b.put_nullable_string(flex, c.error_message.as_deref())?;
                b.put_empty_tagged_fields(flex);
                Ok(())
            })?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for FindCoordinatorResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut resp = Self::default();
        if version >= 1 {
            resp.throttle_time_ms = r.i32()?;
        }
        if version <= 3 {
            resp.error_code = r.i16()?;
            if version >= 1 {
                resp.error_message = r.nullable_string(flex)?;
            }
            resp.node_id = r.i32()?;
            resp.host = r.string(flex)?;
            resp.port = r.i32()?;
        } else {
            resp.coordinators = r.array(flex, |r| {
                let c = Coordinator {
                    key: r.string(flex)?,
                    node_id: r.i32()?,
                    host: r.string(flex)?,
                    port: r.i32()?,
                    error_code: r.i16()?,
                    error_message: r.nullable_string(flex)?,
                };
                r.skip_tagged_fields(flex)?;
                Ok(c)
            })?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{normalize_roundtrip, opt_string, small_vec, string};
    use crate::codec::{
        decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
    };
    use proptest::prelude::*;

    const MAX: i16 = 6;

    fn request(version: i16) -> impl Strategy<Value = FindCoordinatorRequest> {
        (string(), any::<i8>(), small_vec(string())).prop_map(move |(key, kt, keys)| {
            FindCoordinatorRequest {
                key: if version <= 3 { key } else { String::new() },
                key_type: if version >= 1 { kt } else { 0 },
                coordinator_keys: if version >= 4 { keys } else { Vec::new() },
            }
        })
    }

    fn coordinator() -> impl Strategy<Value = Coordinator> {
        (
            string(),
            any::<i32>(),
            string(),
            any::<i32>(),
            any::<i16>(),
            opt_string(),
        )
            .prop_map(|(key, node_id, host, port, error_code, error_message)| {
                Coordinator {
                    key,
                    node_id,
                    host,
                    port,
                    error_code,
                    error_message,
                }
            })
    }

    fn response(version: i16) -> impl Strategy<Value = FindCoordinatorResponse> {
        (
            any::<i32>(),
            any::<i16>(),
            opt_string(),
            any::<i32>(),
            string(),
            any::<i32>(),
            small_vec(coordinator()),
        )
            .prop_map(move |(throttle, err, msg, node, host, port, coords)| {
                let mut resp = FindCoordinatorResponse {
                    throttle_time_ms: if version >= 1 { throttle } else { 0 },
                    ..Default::default()
                };
                if version <= 3 {
                    resp.error_code = err;
                    resp.error_message = if version >= 1 { msg } else { None };
                    resp.node_id = node;
                    resp.host = host;
                    resp.port = port;
                } else {
                    resp.coordinators = coords;
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
    fn coordinator_for_reads_both_shapes() {
        let old = FindCoordinatorResponse {
            node_id: 3,
            host: "b3".into(),
            port: 9093,
            ..Default::default()
        };
        let c = old.coordinator_for("g").unwrap();
        assert_eq!((c.key.as_str(), c.node_id, c.port), ("g", 3, 9093));
        let new = FindCoordinatorResponse {
            coordinators: vec![Coordinator {
                key: "g".into(),
                node_id: 5,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(new.coordinator_for("g").unwrap().node_id, 5);
        assert_eq!(new.coordinator_for("other"), None);
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_version() {
        for v in [0, MAX] {
            let req = FindCoordinatorRequest {
                key: if v <= 3 {
                    "group".into()
                } else {
                    String::new()
                },
                key_type: KEY_TYPE_GROUP,
                coordinator_keys: if v >= 4 {
                    vec!["group".into()]
                } else {
                    Vec::new()
                },
            };
            let frame = encode_request_frame(3, None, v, &req).unwrap();
            let (header, back) =
                decode_request_frame::<FindCoordinatorRequest>(frame.slice(4..)).unwrap();
            assert_eq!((header.api_version, header.client_id), (v, None));
            assert_eq!(back, req);

            let resp = FindCoordinatorResponse {
                node_id: if v <= 3 { 2 } else { 0 },
                host: if v <= 3 { "b2".into() } else { String::new() },
                coordinators: if v >= 4 {
                    vec![Coordinator {
                        key: "group".into(),
                        node_id: 2,
                        host: "b2".into(),
                        port: 9092,
                        ..Default::default()
                    }]
                } else {
                    Vec::new()
                },
                ..Default::default()
            };
            let frame = encode_response_frame::<FindCoordinatorRequest>(4, v, &resp).unwrap();
            let (corr, back) =
                decode_response_frame::<FindCoordinatorRequest>(frame.slice(4..), v).unwrap();
            assert_eq!(corr, 4);
            assert_eq!(back, resp);
            assert_eq!(back.coordinator_for("group").unwrap().node_id, 2);
        }
    }
}
