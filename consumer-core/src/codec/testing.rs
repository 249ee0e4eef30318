//! Helpers for the codec's property tests.
#![allow(
    dead_code,
    reason = "shared by all message modules; each uses a subset"
)]

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{Decode, Encode, Reader};

/// Encodes `msg` at `version`, decodes it back, and checks that the result is equal and
/// that every byte was consumed.
pub(crate) fn normalize_roundtrip<T>(msg: &T, version: i16) -> Result<(), TestCaseError>
where
    T: Encode + Decode + PartialEq + std::fmt::Debug,
{
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, version)
        .map_err(|e| TestCaseError::fail(format!("encode v{version}: {e}")))?;
    let mut r = Reader::new(buf.freeze());
    let back = T::decode(&mut r, version)
        .map_err(|e| TestCaseError::fail(format!("decode v{version}: {e}")))?;
    prop_assert_eq!(&back, msg, "version {}", version);
    prop_assert!(
        r.is_empty(),
        "{} bytes left over at v{}",
        r.remaining(),
        version
    );
    Ok(())
}

/// Sends `req` and `resp` at `version` through the full frame functions (size prefix,
/// header, body) and checks that both come back unchanged.
pub(crate) fn frame_roundtrip<R>(req: &R, resp: &R::Response, version: i16)
where
    R: super::Request + PartialEq + std::fmt::Debug,
    R::Response: PartialEq + std::fmt::Debug,
{
    use super::{
        decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
    };
    let frame = encode_request_frame(42, Some("frame-test"), version, req)
        .unwrap_or_else(|e| panic!("encode request frame v{version}: {e}"));
    let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    assert_eq!(
        size as usize,
        frame.len() - 4,
        "request size prefix v{version}"
    );
    let (header, back) = decode_request_frame::<R>(frame.slice(4..))
        .unwrap_or_else(|e| panic!("decode request frame v{version}: {e}"));
    assert_eq!(header.api_key, R::API_KEY as i16);
    assert_eq!(header.api_version, version);
    assert_eq!(header.correlation_id, 42);
    assert_eq!(header.client_id.as_deref(), Some("frame-test"));
    assert_eq!(&back, req, "request v{version}");

    let frame = encode_response_frame::<R>(43, version, resp)
        .unwrap_or_else(|e| panic!("encode response frame v{version}: {e}"));
    let size = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
    assert_eq!(
        size as usize,
        frame.len() - 4,
        "response size prefix v{version}"
    );
    let (correlation_id, back) = decode_response_frame::<R>(frame.slice(4..), version)
        .unwrap_or_else(|e| panic!("decode response frame v{version}: {e}"));
    assert_eq!(correlation_id, 43);
    assert_eq!(&back, resp, "response v{version}");
}

/// Short strings, including non-ASCII.
pub(crate) fn string() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

/// Optional short strings.
pub(crate) fn opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(string())
}

/// Short byte strings.
pub(crate) fn bytes() -> impl Strategy<Value = bytes::Bytes> {
    proptest::collection::vec(any::<u8>(), 0..16).prop_map(bytes::Bytes::from)
}

/// Optional short byte strings.
pub(crate) fn opt_bytes() -> impl Strategy<Value = Option<bytes::Bytes>> {
    proptest::option::of(bytes())
}

/// A small vector of `T`.
pub(crate) fn small_vec<T: std::fmt::Debug>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Vec<T>> {
    proptest::collection::vec(s, 0..4)
}
