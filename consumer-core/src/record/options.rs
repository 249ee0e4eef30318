//! Decoder settings and the partition the bytes came from.

use std::sync::Arc;

/// Limits and checks applied while decoding fetched records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Verify each batch's CRC (the Java client's `check.crcs`, default true).
    pub verify_crc: bool,
    /// Largest batch (or legacy message) size field accepted; a larger one is an error
    /// rather than a truncated tail, since no fetch will ever complete it.
    pub max_batch_bytes: usize,
    /// Largest decompressed size of one batch; more is an error (decompression bomb).
    pub max_decompressed_bytes: usize,
}

impl DecodeOptions {
    /// Default [`max_batch_bytes`](Self::max_batch_bytes): 1 GiB.
    pub const DEFAULT_MAX_BATCH_BYTES: usize = 1 << 30;
    /// Default [`max_decompressed_bytes`](Self::max_decompressed_bytes): 64 MiB.
    pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 << 20;
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            verify_crc: true,
            max_batch_bytes: Self::DEFAULT_MAX_BATCH_BYTES,
            max_decompressed_bytes: Self::DEFAULT_MAX_DECOMPRESSED_BYTES,
        }
    }
}

/// The topic and partition whose records are being decoded; every error carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordSource {
    /// Topic name (shared, so each batch and error clones a pointer, not the string).
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl RecordSource {
    /// A source for `topic` / `partition`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }

    /// Wraps `kind` into an error for the batch at `base_offset`.
    pub fn error(&self, base_offset: i64, kind: super::RecordErrorKind) -> super::RecordError {
        super::RecordError {
            topic: self.topic.clone(),
            partition: self.partition,
            base_offset,
            kind,
        }
    }
}
