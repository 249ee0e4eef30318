//! The record layer: record batches as found in the `records` field of a Fetch response.
//!
//! [`RecordBatches`] splits one partition's bytes into [`RecordBatch`]es, checking each
//! batch's length and CRC; [`RecordBatch::records`] decompresses if needed and yields
//! [`Record`]s whose key, value and header values are `Bytes` slices of the input (or of
//! the one buffer a compressed batch is inflated into): nothing is copied per record.
//!
//! - Magic 2 batches are the format of every broker since 0.11.
//! - Magic 0 and 1 message sets (older brokers, or old data on brokers before 4.0) are
//!   decoded too, including compressed wrappers with relative offsets, and presented as
//!   batches (see the `legacy` module). Any other magic is [`RecordErrorKind::UnsupportedMagic`].
//! - Codecs: gzip, snappy (raw and xerial-framed), lz4 (frame format), zstd, each behind
//!   its cargo feature; a codec compiled out is [`RecordErrorKind::CompressionDisabled`].
//! - Decompression is bounded by [`DecodeOptions::max_decompressed_bytes`].
//! - A partial batch at the end of the input ends iteration cleanly
//!   ([`RecordBatches::truncated_tail`]); every other problem is a [`RecordError`]
//!   naming the topic, partition and batch base offset.
//!
//! [`BatchBuilder`] and [`LegacyBuilder`] encode batches, for tests and test brokers.

mod aborted;
mod attributes;
mod batch;
mod buffer_pool;
mod builder;
mod compression;
mod control;
mod error;
mod legacy;
#[cfg(feature = "lz4")]
mod lz4_frame;
mod options;
mod records;
mod scan;
mod varint;

#[cfg(test)]
mod tests;

pub use aborted::AbortedTransactions;
pub use attributes::{Compression, TimestampType};
pub use batch::{BatchHeader, RecordBatch, RecordBatches, LOG_OVERHEAD, V2_HEADER_SIZE};
pub use builder::{BatchBuilder, BuildError, LegacyBuilder};
pub use control::{ControlRecord, ControlRecordType};
pub use error::{RecordError, RecordErrorKind};
pub use options::{DecodeOptions, RecordSource};
pub use records::{Header, HeaderView, HeaderViews, Record, RecordView, Records};
pub use scan::scan_next_offset;

/// The CRC-32C (Castagnoli) of magic-2 batches, computed with SIMD where the CPU has it.
fn crc32c(data: &[u8]) -> u32 {
    // A CRC-32 fits in 32 bits; crc-fast returns every width as a u64.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32
}
