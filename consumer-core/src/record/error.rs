//! Errors of the record layer, each tied to the partition and batch it came from.

use std::sync::Arc;

use thiserror::Error;

use super::Compression;
use crate::codec::DecodeError;

/// A record batch (or legacy message) could not be decoded.
///
/// Carries the topic, partition and base offset of the batch, so the consumer can report
/// which data is corrupt (and, like the Java client, refuse to skip it silently).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{topic}-{partition}, batch at offset {base_offset}: {kind}")]
pub struct RecordError {
    /// The topic the bytes were fetched from.
    pub topic: Arc<str>,
    /// The partition the bytes were fetched from.
    pub partition: i32,
    /// The base offset of the batch (for legacy messages: the offset of the outer message).
    pub base_offset: i64,
    /// What went wrong.
    pub kind: RecordErrorKind,
}

impl RecordError {
    /// True for a CRC mismatch.
    pub fn is_crc_mismatch(&self) -> bool {
        matches!(self.kind, RecordErrorKind::CrcMismatch { .. })
    }
}

/// The ways a batch can be undecodable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// The checksum stored in the batch does not match its bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC read from the batch.
        stored: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// The batch (or message) size field is negative, below the header size, or above the limit.
    #[error("invalid batch length {length} (allowed {min}..={max})")]
    InvalidBatchLength {
        /// The length read from the wire.
        length: i64,
        /// The smallest length a valid batch can have.
        min: usize,
        /// The largest length accepted ([`DecodeOptions::max_batch_bytes`](super::DecodeOptions)).
        max: usize,
    },
    /// The magic byte names a format this decoder does not know.
    #[error("unsupported record format magic {magic}")]
    UnsupportedMagic {
        /// The magic byte.
        magic: i8,
    },
    /// The compression bits name no known codec.
    #[error("unknown compression codec id {id}")]
    UnknownCompression {
        /// The codec id from the attributes.
        id: u8,
    },
    /// The codec is known but its cargo feature is not compiled in.
    #[error("compression codec {codec:?} is not enabled (cargo feature)")]
    CompressionDisabled {
        /// The codec.
        codec: Compression,
    },
    /// The codec is not allowed in this record format (zstd needs magic 2).
    #[error("compression codec {codec:?} is not valid with magic {magic}")]
    CompressionNotAllowed {
        /// The codec.
        codec: Compression,
        /// The magic byte of the batch.
        magic: i8,
    },
    /// The compressed data is corrupt.
    #[error("{codec:?} decompression failed: {detail}")]
    Decompression {
        /// The codec.
        codec: Compression,
        /// The codec's error message.
        detail: String,
    },
    /// Decompression would produce more bytes than allowed (a decompression bomb, or a
    /// batch larger than [`DecodeOptions::max_decompressed_bytes`](super::DecodeOptions)).
    #[error("{codec:?} batch decompresses to more than {limit} bytes")]
    DecompressedTooLarge {
        /// The codec.
        codec: Compression,
        /// The limit in bytes.
        limit: usize,
    },
    /// The record count field cannot be right for the bytes present.
    #[error("implausible record count {count} for {bytes} bytes of records")]
    InvalidRecordCount {
        /// The count read from the batch.
        count: i64,
        /// The bytes holding the records.
        bytes: usize,
    },
    /// A record (or inner message) is malformed.
    #[error("malformed record: {0}")]
    Malformed(#[from] DecodeError),
}

impl RecordErrorKind {
    /// A malformed-record error with a free-form explanation.
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        Self::Malformed(DecodeError::Invalid {
            what,
            detail: detail.into(),
        })
    }
}
