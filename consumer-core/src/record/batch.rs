//! Record batches: splitting one partition's fetched bytes into batches and checking them.
//!
//! Magic-2 layout (offsets in bytes; the CRC-32C covers byte 21 to the end of the batch):
//!
//! ```text
//!  0 baseOffset i64        8 batchLength i32      12 partitionLeaderEpoch i32
//! 16 magic i8             17 crc u32              21 attributes i16
//! 23 lastOffsetDelta i32  27 baseTimestamp i64    35 maxTimestamp i64
//! 43 producerId i64       51 producerEpoch i16    53 baseSequence i32
//! 57 recordCount i32      61 records...
//! ```

use bytes::Bytes;

use super::attributes::{CONTROL_BIT, DELETE_HORIZON_BIT, TRANSACTIONAL_BIT};
use super::compression::decompress;
use super::records::{V2Context, MIN_RECORD_SIZE};
use super::{
    legacy, Compression, DecodeOptions, Record, RecordError, RecordErrorKind, RecordSource,
    Records, TimestampType,
};
use crate::codec::{DecodeError, Reader};

/// Offset and length fields that precede every batch and legacy message.
pub const LOG_OVERHEAD: usize = 12;
/// Size of a magic-2 batch header, up to the first record.
pub const V2_HEADER_SIZE: usize = 61;
/// Where the magic byte sits, in every format.
pub(crate) const MAGIC_OFFSET: usize = 16;
/// Where the magic-2 CRC starts covering bytes (the attributes).
pub(crate) const V2_CRC_START: usize = 21;
/// The smallest size field of any record format (a magic-0 message with null key and value).
const MIN_SIZE_FIELD: usize = 14;

/// The fixed fields of a batch header.
///
/// Legacy (magic 0/1) messages are presented with the same fields: no producer, leader
/// epoch -1, and the outer message's CRC, attributes and timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Size of the batch after the length field.
    pub batch_length: i32,
    /// Leader epoch of the broker that appended it (-1 when unknown).
    pub partition_leader_epoch: i32,
    /// Record format: 2, or 0/1 for legacy messages.
    pub magic: i8,
    /// The stored checksum (CRC-32C for magic 2, CRC-32 for legacy).
    pub crc: u32,
    /// Codec, timestamp type and flags.
    pub attributes: i16,
    /// Offset of the last record minus `base_offset` (kept across compaction).
    pub last_offset_delta: i32,
    /// Timestamp of the first record, or the delete horizon (see `has_delete_horizon`).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (the append time for log-append-time batches).
    pub max_timestamp: i64,
    /// Producer id (-1 when not idempotent).
    pub producer_id: i64,
    /// Producer epoch (-1 when not idempotent).
    pub producer_epoch: i16,
    /// Sequence number of the first record (-1 when not idempotent).
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Offset of the last record (kept across compaction, even if that record is gone).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset to fetch after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The compression codec.
    pub fn compression(&self) -> Result<Compression, RecordErrorKind> {
        Compression::from_attributes(self.attributes)
    }

    /// The timestamp type (magic 0 has none).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.magic == 0 {
            TimestampType::NoTimestamp
        } else {
            TimestampType::from_attributes(self.attributes)
        }
    }

    /// True when the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.magic >= 2 && self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// True when the batch holds control records (transaction markers), not data.
    pub fn is_control(&self) -> bool {
        self.magic >= 2 && self.attributes & CONTROL_BIT != 0
    }

    /// True when `base_timestamp` holds the delete horizon of a compacted batch.
    pub fn has_delete_horizon(&self) -> bool {
        self.magic >= 2 && self.attributes & DELETE_HORIZON_BIT != 0
    }

    /// The delete horizon of a compacted batch, if set.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.has_delete_horizon().then_some(self.base_timestamp)
    }

    /// The whole batch size, including the offset and length fields.
    pub fn size_in_bytes(&self) -> usize {
        LOG_OVERHEAD + usize::try_from(self.batch_length).unwrap_or(0)
    }

    /// Reads the 61-byte magic-2 header.
    fn decode_v2(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            base_offset: r.i64()?,
            batch_length: r.i32()?,
            partition_leader_epoch: r.i32()?,
            magic: r.i8()?,
            crc: r.u32()?,
            attributes: r.i16()?,
            last_offset_delta: r.i32()?,
            base_timestamp: r.i64()?,
            max_timestamp: r.i64()?,
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
            base_sequence: r.i32()?,
            record_count: r.i32()?,
        })
    }
}

/// One batch (or one legacy message, possibly a compressed wrapper) of a partition.
#[derive(Debug, Clone)]
pub struct RecordBatch {
    header: BatchHeader,
    compression: Compression,
    source: RecordSource,
    max_decompressed_bytes: usize,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    /// The bytes after the count field, still compressed if the batch is.
    V2(Bytes),
    /// Legacy messages, decoded (and decompressed) when the batch was read.
    Legacy(Vec<Record>),
}

impl RecordBatch {
    /// A legacy message set presented as a batch.
    pub(crate) fn legacy(
        header: BatchHeader,
        compression: Compression,
        source: RecordSource,
        records: Vec<Record>,
    ) -> Self {
        Self {
            header,
            compression,
            source,
            max_decompressed_bytes: 0,
            body: Body::Legacy(records),
        }
    }

    /// The header fields.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// Topic and partition the batch came from.
    pub fn source(&self) -> &RecordSource {
        &self.source
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record (base offset + last offset delta).
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// The offset to fetch after this batch.
    pub fn next_offset(&self) -> i64 {
        self.header.next_offset()
    }

    /// Record format of the batch (0, 1 or 2).
    pub fn magic(&self) -> i8 {
        self.header.magic
    }

    /// The compression codec.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The timestamp type of its records.
    pub fn timestamp_type(&self) -> TimestampType {
        self.header.timestamp_type()
    }

    /// True when the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.header.is_transactional()
    }

    /// True when the batch holds control records.
    pub fn is_control(&self) -> bool {
        self.header.is_control()
    }

    /// Producer id (-1 when not idempotent).
    pub fn producer_id(&self) -> i64 {
        self.header.producer_id
    }

    /// Producer epoch (-1 when not idempotent).
    pub fn producer_epoch(&self) -> i16 {
        self.header.producer_epoch
    }

    /// The leader epoch the batch was appended in, when known.
    pub fn partition_leader_epoch(&self) -> Option<i32> {
        (self.header.partition_leader_epoch >= 0).then_some(self.header.partition_leader_epoch)
    }

    /// Number of records announced by the header.
    pub fn record_count(&self) -> usize {
        usize::try_from(self.header.record_count).unwrap_or(0)
    }

    /// Wraps `kind` with this batch's topic, partition and base offset.
    pub(crate) fn error(&self, kind: RecordErrorKind) -> RecordError {
        self.source.error(self.header.base_offset, kind)
    }

    /// The records, decompressing the batch first if needed.
    ///
    /// Uncompressed records are slices of the fetched bytes; compressed ones are slices of
    /// one buffer holding the decompressed batch. Each call decompresses anew.
    pub fn records(&self) -> Result<Records, RecordError> {
        let data = match &self.body {
            Body::Legacy(records) => return Ok(Records::legacy(records.clone())),
            Body::V2(data) => data,
        };
        let count = u32::try_from(self.header.record_count).unwrap_or(0);
        let data = if count == 0 {
            // Like the Java client: an empty batch has no records, whatever follows its header.
            Bytes::new()
        } else if self.compression == Compression::None {
            data.clone()
        } else {
            let out = decompress(self.compression, data, self.max_decompressed_bytes)
                .map_err(|k| self.error(k))?;
            check_count(self.header.record_count, out.len()).map_err(|k| self.error(k))?;
            super::buffer_pool::share(out)
        };
        let ctx = V2Context {
            source: self.source.clone(),
            base_offset: self.header.base_offset,
            base_timestamp: self.header.base_timestamp,
            log_append_time: (self.timestamp_type() == TimestampType::LogAppendTime)
                .then_some(self.header.max_timestamp),
        };
        Ok(Records::v2(ctx, data, count))
    }
}

/// Fails unless `count` records could fit in `bytes` bytes.
fn check_count(count: i32, bytes: usize) -> Result<(), RecordErrorKind> {
    match usize::try_from(count) {
        Ok(n) if n.saturating_mul(MIN_RECORD_SIZE) <= bytes => Ok(()),
        _ => Err(RecordErrorKind::InvalidRecordCount {
            count: i64::from(count),
            bytes,
        }),
    }
}

/// The batches in the `records` field of one partition of a Fetch response.
///
/// A batch cut short at the end of the bytes (brokers stop at the fetch size limit) ends
/// the iteration without an error; [`truncated_tail`](Self::truncated_tail) then tells how
/// many bytes were left. Iteration stops after the first error.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    source: RecordSource,
    options: DecodeOptions,
    buf: Bytes,
    pos: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Running,
    Finished,
    Truncated(usize),
    Failed,
}

impl RecordBatches {
    /// Iterates the batches of `records`, the raw bytes fetched for `source`.
    pub fn new(source: RecordSource, records: Bytes, options: &DecodeOptions) -> Self {
        Self {
            source,
            options: *options,
            buf: records,
            pos: 0,
            state: State::Running,
        }
    }

    /// Bytes of an incomplete batch at the end, once iteration has stopped there.
    pub fn truncated_tail(&self) -> Option<usize> {
        match self.state {
            State::Truncated(n) => Some(n),
            _ => None,
        }
    }

    /// Bytes of the input consumed by the batches returned so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>, RecordError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            self.state = State::Finished;
            return Ok(None);
        }
        let (Some(offset), Some(length)) = (be_i64(rest, 0), be_i32(rest, 8)) else {
            self.state = State::Truncated(rest.len());
            return Ok(None);
        };
        let max = self.options.max_batch_bytes;
        let size = usize::try_from(length)
            .ok()
            .filter(|&n| (MIN_SIZE_FIELD..=max).contains(&n))
            .ok_or_else(|| {
                self.source.error(
                    offset,
                    RecordErrorKind::InvalidBatchLength {
                        length: i64::from(length),
                        min: MIN_SIZE_FIELD,
                        max,
                    },
                )
            })?;
        let total = LOG_OVERHEAD + size;
        if rest.len() < total {
            self.state = State::Truncated(rest.len());
            return Ok(None);
        }
        let entry = self.buf.slice(self.pos..self.pos + total);
        self.pos += total;
        let magic = rest.get(MAGIC_OFFSET).map_or(-1, |&m| m as i8);
        let batch = match magic {
            2 => self.decode_v2(entry),
            0 | 1 => legacy::decode(&self.source, &self.options, entry),
            magic => Err(RecordErrorKind::UnsupportedMagic { magic }),
        };
        batch.map(Some).map_err(|k| self.source.error(offset, k))
    }

    fn decode_v2(&self, entry: Bytes) -> Result<RecordBatch, RecordErrorKind> {
        if entry.len() < V2_HEADER_SIZE {
            return Err(RecordErrorKind::InvalidBatchLength {
                length: (entry.len() - LOG_OVERHEAD) as i64,
                min: V2_HEADER_SIZE - LOG_OVERHEAD,
                max: self.options.max_batch_bytes,
            });
        }
        if self.options.verify_crc {
            let stored = be_u32(&entry, V2_CRC_START - 4).unwrap_or(0);
            let computed = super::crc32c(entry.get(V2_CRC_START..).unwrap_or_default());
            if stored != computed {
                return Err(RecordErrorKind::CrcMismatch { stored, computed });
            }
        }
        let mut r = Reader::new(entry);
        let header = BatchHeader::decode_v2(&mut r)?;
        let compression = header.compression()?;
        let records = r.into_rest();
        // Refuse counts the bytes cannot hold before anyone sizes anything by them.
        let room = if compression == Compression::None {
            records.len()
        } else {
            self.options.max_decompressed_bytes
        };
        check_count(header.record_count, room)?;
        Ok(RecordBatch {
            header,
            compression,
            source: self.source.clone(),
            max_decompressed_bytes: self.options.max_decompressed_bytes,
            body: Body::V2(records),
        })
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Running {
            return None;
        }
        match self.next_batch() {
            Ok(batch) => batch.map(Ok),
            Err(e) => {
                self.state = State::Failed;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for RecordBatches {}

/// A big-endian integer at `at`, if the bytes are there.
pub(crate) fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    let raw = b.get(at..at.checked_add(8)?)?;
    Some(i64::from_be_bytes(raw.try_into().ok()?))
}

/// A big-endian integer at `at`, if the bytes are there.
pub(crate) fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    let raw = b.get(at..at.checked_add(4)?)?;
    Some(i32::from_be_bytes(raw.try_into().ok()?))
}

/// A big-endian integer at `at`, if the bytes are there.
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    be_i32(b, at).map(|v| v as u32)
}
