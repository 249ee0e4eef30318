//! SaslAuthenticate (key 36): one round of SASL token exchange, after SaslHandshake v1.

use crate::codec::prelude::*;

const API: ApiKey = ApiKey::SaslAuthenticate;

/// SaslAuthenticate request, versions 0–2.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    /// The SASL token from the client's mechanism.
    pub auth_bytes: Bytes,
}

impl std::fmt::Debug for SaslAuthenticateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token may hold a password (PLAIN) or a bearer token: only its size shows.
        f.debug_struct("SaslAuthenticateRequest")
            .field(
                "auth_bytes",
                &format_args!("[{} bytes hidden]", self.auth_bytes.len()),
            )
            .finish()
    }
}

/// SaslAuthenticate response, versions 0–2.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaslAuthenticateResponse {
    /// The error code, or 0.
    pub error_code: i16,
    /// The error message, if any.
    pub error_message: Option<String>,
    /// The SASL token from the broker's mechanism.
    pub auth_bytes: Bytes,
    /// How long the authenticated session may live in ms, 0 for unlimited (v1+).
    pub session_lifetime_ms: i64,
}

impl Request for SaslAuthenticateRequest {
    const API_KEY: ApiKey = API;
    type Response = SaslAuthenticateResponse;
}

impl Encode for SaslAuthenticateRequest {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_bytes_field(flex, &self.auth_bytes)?;
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for SaslAuthenticateRequest {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let auth_bytes = r.bytes(flex)?;
        r.skip_tagged_fields(flex)?;
        Ok(Self { auth_bytes })
    }
}

impl Encode for SaslAuthenticateResponse {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        check_encode_version(API, version)?;
        let flex = API.is_flexible(version);
        buf.put_i16(self.error_code);
        buf.put_nullable_string(flex, self.error_message.as_deref())?;
        buf.put_bytes_field(flex, &self.auth_bytes)?;
        if version >= 1 {
            buf.put_i64(self.session_lifetime_ms);
        }
        buf.put_empty_tagged_fields(flex);
        Ok(())
    }
}

impl Decode for SaslAuthenticateResponse {
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError> {
        check_decode_version(API, version)?;
        let flex = API.is_flexible(version);
        let error_code = r.i16()?;
        let error_message = r.nullable_string(flex)?;
        let auth_bytes = r.bytes(flex)?;
        let session_lifetime_ms = if version >= 1 { r.i64()? } else { 0 };
        r.skip_tagged_fields(flex)?;
        Ok(Self {
            error_code,
            error_message,
            auth_bytes,
            session_lifetime_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::testing::{bytes, frame_roundtrip, normalize_roundtrip, opt_string};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn request_round_trips(v in 0i16..=2, auth_bytes in bytes()) {
            normalize_roundtrip(&SaslAuthenticateRequest { auth_bytes }, v)?;
        }

        #[test]
        fn response_round_trips(
            v in 0i16..=2,
            error_code in any::<i16>(),
            error_message in opt_string(),
            auth_bytes in bytes(),
            lifetime in any::<i64>(),
        ) {
            let resp = SaslAuthenticateResponse {
                error_code,
                error_message,
                auth_bytes,
                session_lifetime_ms: if v >= 1 { lifetime } else { 0 },
            };
            normalize_roundtrip(&resp, v)?;
        }
    }

    #[test]
    fn frames_round_trip_at_lowest_and_highest_versions() {
        for v in [0, 2] {
            let req = SaslAuthenticateRequest {
                auth_bytes: Bytes::from_static(b"\0user\0secret"),
            };
            let resp = SaslAuthenticateResponse {
                error_code: 0,
                error_message: None,
                auth_bytes: Bytes::new(),
                session_lifetime_ms: if v >= 1 { 3_600_000 } else { 0 },
            };
            frame_roundtrip(&req, &resp, v);
        }
    }

    #[test]
    fn debug_hides_the_token() {
        let req = SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(b"\0user\0secret"),
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("12 bytes"), "{shown}");
    }

    #[test]
    fn v2_is_compact() {
        let mut buf = BytesMut::new();
        SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(b"ab"),
        }
        .encode(&mut buf, 2)
        .unwrap();
        assert_eq!(&buf[..], &[3, b'a', b'b', 0]);
        let mut buf = BytesMut::new();
        SaslAuthenticateRequest {
            auth_bytes: Bytes::from_static(b"ab"),
        }
        .encode(&mut buf, 0)
        .unwrap();
        assert_eq!(&buf[..], &[0, 0, 0, 2, b'a', b'b']);
    }
}
