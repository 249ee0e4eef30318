//! SaslHandshake (key 17): choose the SASL mechanism before authenticating.
//!
//! At v0 the SASL tokens that follow travel as raw size-prefixed frames; at v1 they are
//! wrapped in SaslAuthenticate requests.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::SaslHandshake;

/// SaslHandshake request, versions 0–1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    /// The SASL mechanism chosen by the client, e.g. "PLAIN" or "SCRAM-SHA-512".
    pub mechanism: String,
}

/// SaslHandshake response, versions 0–1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslHandshakeResponse {
    /// The error code, or 0.
    pub error_code: i16,
    /// The mechanisms enabled on the broker.
    pub mechanisms: Vec<String>,
}

impl Request for SaslHandshakeRequest {
    const API_KEY: ApiKey = API;
    type Response = SaslHandshakeResponse;
}

impl Encode for SaslHandshakeRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        // No version of this API is flexible.
        buf.put_string(false, &self.mechanism)
    }
}

impl Decode for SaslHandshakeRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        Ok(Self {
            mechanism: r.string(false)?,
        })
    }
}

impl Encode for SaslHandshakeResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        buf.put_i16(self.error_code);
        buf.put_array(false, &self.mechanisms, |b, m| b.put_string(false, m))
    }
}

impl Decode for SaslHandshakeResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let error_code = r.i16()?;
        let mechanisms = r.array(false, |r| r.string(false))?;
        Ok(Self {
            error_code,
            mechanisms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{frame_roundtrip, normalize_roundtrip, small_vec, string};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn request_round_trips(v in 0i16..=1, mechanism in string()) {
            normalize_roundtrip(&SaslHandshakeRequest { mechanism }, v)?;
        }

        #[test]
        fn response_round_trips(v in 0i16..=1, error_code in any::<i16>(), mechanisms in small_vec(string())) {
            normalize_roundtrip(&SaslHandshakeResponse { error_code, mechanisms }, v)?;
        }
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_versions() {
        for v in [0, 1] {
            let req = SaslHandshakeRequest {
                mechanism: "PLAIN".into(),
            };
            let resp = SaslHandshakeResponse {
                error_code: 33,
                mechanisms: vec!["SCRAM-SHA-256".into(), "SCRAM-SHA-512".into()],
            };
            frame_roundtrip(&req, &resp, v);
        }
    }

    #[test]
    fn request_is_a_classic_string() {
        let mut buf = BytesMut::new();
        SaslHandshakeRequest {
            mechanism: "PLAIN".into(),
        }
        .encode(&mut buf, 1)
        .unwrap();
        assert_eq!(&buf[..], b"\x00\x05PLAIN");
    }
}
