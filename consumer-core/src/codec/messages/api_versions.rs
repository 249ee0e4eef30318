//! ApiVersions (key 18): which versions of which APIs a broker speaks.
//!
//! A broker that does not know the ApiVersions version it was sent answers with a
//! version-0 body carrying [`UNSUPPORTED_VERSION`] and its own ApiVersions range (KIP-511).
//! The response codec follows that rule in both directions, so a scripted broker encodes
//! what a real one sends and the client decodes it whatever version it asked for.

use super::tag_writer::TagWriter;
use crate::codec::prelude::*;
use crate::codec::BrokerVersions;

const API: ApiKey = ApiKey::ApiVersions;

/// The error code of a broker that does not support the version of a request.
pub const UNSUPPORTED_VERSION: i16 = 35;

/// ApiVersions request, versions 0–4.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiVersionsRequest {
    /// The client software's name (v3+).
    pub client_software_name: String,
    /// The client software's version (v3+).
    pub client_software_version: String,
}

/// One API the broker supports and its version range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiVersion {
    /// The API key.
    pub api_key: i16,
    /// The lowest supported version.
    pub min_version: i16,
    /// The highest supported version.
    pub max_version: i16,
}

/// A feature the broker supports (v3+, tagged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupportedFeature {
    /// The feature's name.
    pub name: String,
    /// The lowest supported version.
    pub min_version: i16,
    /// The highest supported version.
    pub max_version: i16,
}

/// A cluster-wide finalized feature (v3+, tagged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalizedFeature {
    /// The feature's name.
    pub name: String,
    /// The finalized highest version level.
    pub max_version_level: i16,
    /// The finalized lowest version level.
    pub min_version_level: i16,
}

/// ApiVersions response, versions 0–4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsResponse {
    /// The top-level error code, or 0.
    pub error_code: i16,
    /// The APIs the broker supports.
    pub api_keys: Vec<ApiVersion>,
    /// Throttle time in ms (v1+).
    pub throttle_time_ms: i32,
    /// Features the broker supports (v3+, tag 0).
    pub supported_features: Vec<SupportedFeature>,
    /// Epoch of the finalized features, -1 if unknown (v3+, tag 1).
    pub finalized_features_epoch: i64,
    /// Cluster-wide finalized features (v3+, tag 2).
    pub finalized_features: Vec<FinalizedFeature>,
    /// Set by a KRaft controller ready for ZK migration (v3+, tag 3).
    pub zk_migration_ready: bool,
}

impl Default for ApiVersionsResponse {
    fn default() -> Self {
        Self {
            error_code: 0,
            api_keys: Vec::new(),
            throttle_time_ms: 0,
            supported_features: Vec::new(),
            finalized_features_epoch: -1,
            finalized_features: Vec::new(),
            zk_migration_ready: false,
        }
    }
}

impl ApiVersionsResponse {
    /// The advertised ranges, for version negotiation.
    pub fn broker_versions(&self) -> BrokerVersions {
        BrokerVersions::new(
            self.api_keys
                .iter()
                .map(|k| (k.api_key, k.min_version, k.max_version)),
        )
    }

    /// After an [`UNSUPPORTED_VERSION`] answer, the ApiVersions version to retry with: the
    /// highest one both sides speak, or 0 if the broker did not say. `None` for any other
    /// answer.
    pub fn retry_version(&self) -> Option<i16> {
        if self.error_code != UNSUPPORTED_VERSION {
            return None;
        }
        Some(self.broker_versions().pick(API).unwrap_or(0))
    }
}

impl Request for ApiVersionsRequest {
    const API_KEY: ApiKey = API;
    type Response = ApiVersionsResponse;
}

impl Encode for ApiVersionsRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        if version >= 3 {
            buf.put_string(flex, &self.client_software_name)?;
            buf.put_string(flex, &self.client_software_version)?;
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for ApiVersionsRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let mut req = Self::default();
        if version >= 3 {
            req.client_software_name = r.string(flex)?;
            req.client_software_version = r.string(flex)?;
        }
        r.skip_tagged_fields(flex)?;
        Ok(req)
    }
}

impl Encode for ApiVersionsResponse {
    /// Writes the body; an [`UNSUPPORTED_VERSION`] answer is written as version 0, as a
    /// broker does.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let version = if self.error_code == UNSUPPORTED_VERSION {
            0
        } else {
            version
        };
        let flex = API.is_flexible(version);
        buf.put_i16(self.error_code);
        buf.put_array(flex, &self.api_keys, |b, k| {
            b.put_i16(k.api_key);
            b.put_i16(k.min_version);
            b.put_i16(k.max_version);
            b.put_empty_tagged_fields(flex);
            Ok(())
        })?;
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        let mut tags = TagWriter::new();
        if flex {
            // Like the Java broker, only fields that differ from their default are sent.
            if !self.supported_features.is_empty() {
                tags.field(0, |b| {
                    b.put_array(true, &self.supported_features, |b, f| {
                        b.put_string(true, &f.name)?;
                        b.put_i16(f.min_version);
                        b.put_i16(f.max_version);
                        b.put_empty_tagged_fields(true);
                        Ok(())
                    })
                })?;
            }
            if self.finalized_features_epoch != -1 {
                tags.field(1, |b| {
                    b.put_i64(self.finalized_features_epoch);
                    Ok(())
                })?;
            }
            if !self.finalized_features.is_empty() {
                tags.field(2, |b| {
                    b.put_array(true, &self.finalized_features, |b, f| {
                        b.put_string(true, &f.name)?;
                        b.put_i16(f.max_version_level);
                        b.put_i16(f.min_version_level);
                        b.put_empty_tagged_fields(true);
                        Ok(())
                    })
                })?;
            }
            if self.zk_migration_ready {
                tags.field(3, |b| {
                    b.put_bool(true);
                    Ok(())
                })?;
            }
        }
        tags.finish(buf, flex)
    }
}

impl Decode for ApiVersionsResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        // KIP-511: an UNSUPPORTED_VERSION answer is a v0 body, whatever version was asked.
        // It is only taken as such if it parses as v0 and fills the frame exactly, so a
        // broker that answers in the version asked for is still understood.
        if version > 0 && peek_error_code(r) == Some(UNSUPPORTED_VERSION) {
            for v in [0, version] {
                let mut attempt = r.clone();
                if let Ok(resp) = decode_body(&mut attempt, v) {
                    if attempt.is_empty() {
                        *r = attempt;
                        return Ok(resp);
                    }
                }
            }
            // Neither layout fills the frame: librdkafka 2.0.2's mock cluster, asked v3,
            // writes the key count as a plain byte (not count + 1) and no tagged fields.
            // Read as v3 that is zero keys and a throttle time of 20 minutes made of key
            // bytes. Only the error code is certain; without a range the client retries
            // at v0, as the Java client and librdkafka do.
            let rest = r.remaining();
            r.skip(rest, "ApiVersions body")?;
            return Ok(ApiVersionsResponse {
                error_code: UNSUPPORTED_VERSION,
                ..Default::default()
            });
        }
        decode_body(r, version)
    }
}

fn peek_error_code(r: &Reader) -> Option<i16> {
    let b: [u8; 2] = r.peek_rest().get(..2)?.try_into().ok()?;
    Some(i16::from_be_bytes(b))
}

fn decode_body(r: &mut Reader, version: i16) -> Result<ApiVersionsResponse, DecodeError> {
    let flex = API.is_flexible(version);
    let mut resp = ApiVersionsResponse {
        error_code: r.i16()?,
        ..Default::default()
    };
    resp.api_keys = r.array(flex, |r| {
        let k = ApiVersion {
            api_key: r.i16()?,
            min_version: r.i16()?,
            max_version: r.i16()?,
        };
        r.skip_tagged_fields(flex)?;
        Ok(k)
    })?;
    if version >= 1 {
        resp.throttle_time_ms = r.i32()?;
    }
    r.tagged_fields(flex, |tag, f| {
        match tag {
            0 => {
                resp.supported_features = f.array(true, |r| {
                    let feature = SupportedFeature {
                        name: r.string(true)?,
                        min_version: r.i16()?,
                        max_version: r.i16()?,
                    };
                    r.skip_tagged_fields(true)?;
                    Ok(feature)
                })?
            }
            1 => resp.finalized_features_epoch = f.i64()?,
            2 => {
                resp.finalized_features = f.array(true, |r| {
                    let feature = FinalizedFeature {
                        name: r.string(true)?,
                        max_version_level: r.i16()?,
                        min_version_level: r.i16()?,
                    };
                    r.skip_tagged_fields(true)?;
                    Ok(feature)
                })?
            }
            3 => resp.zk_migration_ready = f.bool()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{normalize_roundtrip, small_vec, string};
    use crate::codec::{
        decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
        VersionRange,
    };
    use proptest::prelude::*;

    const MAX: i16 = 4;

    fn request(version: i16) -> impl Strategy<Value = ApiVersionsRequest> {
        (string(), string()).prop_map(move |(name, ver)| {
            if version >= 3 {
                ApiVersionsRequest {
                    client_software_name: name,
                    client_software_version: ver,
                }
            } else {
                ApiVersionsRequest::default()
            }
        })
    }

    fn response(version: i16) -> impl Strategy<Value = ApiVersionsResponse> {
        let key = (any::<i16>(), any::<i16>(), any::<i16>()).prop_map(|(k, a, b)| ApiVersion {
            api_key: k,
            min_version: a,
            max_version: b,
        });
        let supported =
            (string(), any::<i16>(), any::<i16>()).prop_map(|(n, a, b)| SupportedFeature {
                name: n,
                min_version: a,
                max_version: b,
            });
        let finalized =
            (string(), any::<i16>(), any::<i16>()).prop_map(|(n, a, b)| FinalizedFeature {
                name: n,
                max_version_level: a,
                min_version_level: b,
            });
        (
            prop_oneof![Just(0i16), Just(UNSUPPORTED_VERSION), any::<i16>()],
            small_vec(key),
            any::<i32>(),
            small_vec(supported),
            any::<i64>(),
            small_vec(finalized),
            any::<bool>(),
        )
            .prop_map(move |(err, keys, throttle, sup, epoch, fin, zk)| {
                // An UNSUPPORTED_VERSION answer travels as v0 whatever the version.
                let v = if err == UNSUPPORTED_VERSION {
                    0
                } else {
                    version
                };
                let mut resp = ApiVersionsResponse {
                    error_code: err,
                    api_keys: keys,
                    ..Default::default()
                };
                if v >= 1 {
                    resp.throttle_time_ms = throttle;
                }
                if v >= 3 {
                    resp.supported_features = sup;
                    resp.finalized_features_epoch = epoch;
                    resp.finalized_features = fin;
                    resp.zk_migration_ready = zk;
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

    /// A Kafka 4 broker's v4 answer: flexible arrays, tagged features.
    #[test]
    fn decodes_kafka4_style_body_with_tagged_features() {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_uvarint(2 + 1); // two api keys
        for (k, min, max) in [(1i16, 4i16, 17i16), (18, 0, 4)] {
            b.put_i16(k);
            b.put_i16(min);
            b.put_i16(max);
            b.put_u8(0);
        }
        b.put_i32(7);
        b.put_uvarint(3); // three tagged fields, one unknown
        b.put_uvarint(0);
        let mut sup = BytesMut::new();
        sup.put_uvarint(1 + 1);
        sup.put_string(true, "metadata.version").unwrap();
        sup.put_i16(1);
        sup.put_i16(25);
        sup.put_u8(0);
        b.put_uvarint(sup.len() as u32);
        b.extend_from_slice(&sup);
        b.put_uvarint(1);
        b.put_uvarint(8);
        b.put_i64(42);
        b.put_uvarint(9); // unknown tag
        b.put_uvarint(2);
        b.put_u16(0xbeef);
        let mut r = Reader::new(b.freeze());
        let resp = ApiVersionsResponse::decode(&mut r, 4).unwrap();
        assert!(r.is_empty());
        assert_eq!(resp.throttle_time_ms, 7);
        assert_eq!(resp.finalized_features_epoch, 42);
        assert_eq!(resp.supported_features[0].name, "metadata.version");
        assert_eq!(resp.supported_features[0].max_version, 25);
        let bv = resp.broker_versions();
        assert_eq!(bv.advertised(ApiKey::Fetch), Some(VersionRange::new(4, 17)));
        assert_eq!(bv.pick(ApiKey::ApiVersions), Ok(4));
        assert_eq!(resp.retry_version(), None);
    }

    /// What an old broker sends to a v4 request: a v0 body with error 35.
    #[test]
    fn unsupported_version_answer_is_read_as_v0() {
        let mut b = BytesMut::new();
        b.put_i32(99); // correlation id, header v0
        b.put_i16(UNSUPPORTED_VERSION);
        b.put_i32(1);
        b.put_i16(18);
        b.put_i16(0);
        b.put_i16(2);
        let (corr, resp) = decode_response_frame::<ApiVersionsRequest>(b.freeze(), 4).unwrap();
        assert_eq!(corr, 99);
        assert_eq!(resp.error_code, UNSUPPORTED_VERSION);
        assert_eq!(
            resp.api_keys,
            vec![ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 2
            }]
        );
        assert_eq!(resp.retry_version(), Some(2));
        let no_range = ApiVersionsResponse {
            error_code: UNSUPPORTED_VERSION,
            ..Default::default()
        };
        assert_eq!(no_range.retry_version(), Some(0));
    }

    /// A broker answering error 35 in the flexible format asked for is understood too.
    #[test]
    fn unsupported_version_in_flexible_format_still_decodes() {
        let mut b = BytesMut::new();
        b.put_i16(UNSUPPORTED_VERSION);
        b.put_uvarint(1 + 1);
        b.put_i16(18);
        b.put_i16(0);
        b.put_i16(3);
        b.put_u8(0);
        b.put_i32(0);
        b.put_u8(0);
        let mut r = Reader::new(b.freeze());
        let resp = ApiVersionsResponse::decode(&mut r, 3).unwrap();
        assert!(r.is_empty());
        assert_eq!(resp.api_keys[0].max_version, 3);
    }

    /// librdkafka 2.0.2's mock cluster answers a v3 request with a body that is neither
    /// v0 nor v3 (tests/fixtures/mock-*/…-ApiVersions-v3-resp.bin): only the error counts.
    #[test]
    fn unsupported_version_in_neither_layout_keeps_only_the_error() {
        let body: &[u8] = &[
            0x00, 0x23, 0x01, 0x00, 0x12, 0x00, 0x00, 0x00, 0x02, 0, 0, 0, 0,
        ];
        let mut r = Reader::new(Bytes::from_static(body));
        let resp = ApiVersionsResponse::decode(&mut r, 3).unwrap();
        assert!(r.is_empty());
        assert_eq!(
            resp,
            ApiVersionsResponse {
                error_code: UNSUPPORTED_VERSION,
                ..Default::default()
            }
        );
        assert_eq!(resp.retry_version(), Some(0));
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_version() {
        let req = ApiVersionsRequest {
            client_software_name: "consumer".into(),
            client_software_version: "0.1".into(),
        };
        for v in [0, MAX] {
            let expect = if v >= 3 {
                req.clone()
            } else {
                ApiVersionsRequest::default()
            };
            let frame = encode_request_frame(7, Some("cid"), v, &expect).unwrap();
            let (header, back) =
                decode_request_frame::<ApiVersionsRequest>(frame.slice(4..)).unwrap();
            assert_eq!(header.api_version, v);
            assert_eq!(header.correlation_id, 7);
            assert_eq!(header.client_id.as_deref(), Some("cid"));
            assert_eq!(back, expect);

            let resp = ApiVersionsResponse {
                api_keys: vec![ApiVersion {
                    api_key: 3,
                    min_version: 0,
                    max_version: 13,
                }],
                throttle_time_ms: if v >= 1 { 5 } else { 0 },
                zk_migration_ready: v >= 3,
                ..Default::default()
            };
            let frame = encode_response_frame::<ApiVersionsRequest>(8, v, &resp).unwrap();
            let (corr, back) =
                decode_response_frame::<ApiVersionsRequest>(frame.slice(4..), v).unwrap();
            assert_eq!(corr, 8);
            assert_eq!(back, resp);
        }
    }
}
