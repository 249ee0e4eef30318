//! Errors of the wire codec.

use thiserror::Error;

/// A frame or field from the peer could not be decoded.
///
/// Every decoder returns this instead of panicking; the length prefixes it checks are
/// always compared with the bytes really present.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before a field was complete.
    #[error("truncated input: {what} needs {needed} bytes, {remaining} remain")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A length prefix is negative (where null is not allowed) or larger than the input.
    #[error("invalid length {len} for {what}")]
    InvalidLength {
        /// The field being read.
        what: &'static str,
        /// The length read from the wire.
        len: i64,
    },
    /// A null where the protocol does not allow one.
    #[error("unexpected null for {what}")]
    UnexpectedNull {
        /// The field being read.
        what: &'static str,
    },
    /// A variable-length integer is longer than its type allows.
    #[error("malformed varint in {what}")]
    Varint {
        /// The field being read.
        what: &'static str,
    },
    /// A string is not valid UTF-8.
    #[error("invalid UTF-8 in {what}")]
    Utf8 {
        /// The field being read.
        what: &'static str,
    },
    /// The message has no definition at this version.
    #[error("{api} has no version {version}")]
    UnsupportedVersion {
        /// API name.
        api: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A value that is well-formed but not allowed.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field being read.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Bytes were left over after a message that should fill its frame.
    #[error("{remaining} unexpected trailing bytes after {what}")]
    TrailingBytes {
        /// The message just decoded.
        what: &'static str,
        /// The bytes left over.
        remaining: usize,
    },
}

/// A message could not be encoded (a caller mistake, never a peer's).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The message has no definition at this version.
    #[error("{api} has no version {version}")]
    UnsupportedVersion {
        /// API name.
        api: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// A string, byte array or array is longer than its length prefix can express.
    #[error("{what} is too long: {len}")]
    TooLong {
        /// The field being written.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A null where the protocol, at this version, does not allow one.
    #[error("{what} may not be null at this version")]
    NullNotAllowed {
        /// The field being written.
        what: &'static str,
    },
    /// A value this version of the message has no way to express.
    #[error("{what} cannot be expressed at version {version}")]
    NotRepresentable {
        /// What cannot be expressed.
        what: &'static str,
        /// The version asked for.
        version: i16,
    },
}
