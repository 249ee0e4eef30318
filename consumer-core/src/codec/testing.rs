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
pub fn normalize_roundtrip<T>(msg: &T, version: i16) -> Result<(), TestCaseError>
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

/// Short strings, including non-ASCII.
pub fn string() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

/// Optional short strings.
pub fn opt_string() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(string())
}

/// Short byte strings.
pub fn bytes() -> impl Strategy<Value = bytes::Bytes> {
    proptest::collection::vec(any::<u8>(), 0..16).prop_map(bytes::Bytes::from)
}

/// Optional short byte strings.
pub fn opt_bytes() -> impl Strategy<Value = Option<bytes::Bytes>> {
    proptest::option::of(bytes())
}

/// A small vector of `T`.
pub fn small_vec<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    proptest::collection::vec(s, 0..4)
}
