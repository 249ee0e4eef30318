//! Encoding record batches (magic 2) and legacy message sets (magic 0/1).
//!
//! Used by tests, the scripted test brokers and benchmarks; a consumer never writes records.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use super::attributes::{CONTROL_BIT, DELETE_HORIZON_BIT, LOG_APPEND_TIME_BIT, TRANSACTIONAL_BIT};
use super::batch::{LOG_OVERHEAD, MAGIC_OFFSET, V2_CRC_START};
use super::compression::compress;
use super::{Compression, Record, RecordErrorKind, TimestampType};
use crate::codec::{EncodeError, KafkaWrite};

/// A batch could not be encoded (a caller mistake, or a codec compiled out).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A field is too long for its length prefix.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A record's offset is too far from the base offset (or before it) for a delta.
    #[error("record offset {offset} out of range of base offset {base_offset}")]
    OffsetOutOfRange {
        /// The record's offset.
        offset: i64,
        /// The batch's base offset.
        base_offset: i64,
    },
    /// The format cannot carry what was asked (headers before magic 2, zstd before magic 2).
    #[error("not representable: {0}")]
    Unsupported(&'static str),
    /// Compression failed or its codec is not compiled in.
    #[error(transparent)]
    Compression(#[from] RecordErrorKind),
}

/// Settings of a magic-2 batch; records are given to [`encode`](Self::encode).
///
/// Record offsets and timestamps are absolute; deltas are computed from `base_offset`
/// and the first record's timestamp (or the delete horizon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchBuilder {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Leader epoch written in the header.
    pub partition_leader_epoch: i32,
    /// Codec for the records.
    pub compression: Compression,
    /// Create time, or log-append time (then `max_timestamp` should hold the append time).
    pub timestamp_type: TimestampType,
    /// Sets the transactional bit.
    pub transactional: bool,
    /// Sets the control bit.
    pub control: bool,
    /// Producer id (-1: none).
    pub producer_id: i64,
    /// Producer epoch (-1: none).
    pub producer_epoch: i16,
    /// Sequence of the first record (-1: none).
    pub base_sequence: i32,
    /// Writes this delete horizon as the base timestamp, and sets its attribute bit.
    pub delete_horizon_ms: Option<i64>,
    /// Overrides the max timestamp (default: the largest record timestamp, -1 if none).
    pub max_timestamp: Option<i64>,
    /// Overrides the last offset delta (default: last record's offset minus the base).
    pub last_offset_delta: Option<i32>,
}

impl Default for BatchBuilder {
    fn default() -> Self {
        Self::new(0)
    }
}

impl BatchBuilder {
    /// A plain uncompressed, non-transactional batch starting at `base_offset`.
    pub fn new(base_offset: i64) -> Self {
        Self {
            base_offset,
            partition_leader_epoch: -1,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
            control: false,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            delete_horizon_ms: None,
            max_timestamp: None,
            last_offset_delta: None,
        }
    }

    /// The same settings with another codec.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Encodes `records` as one batch into a new buffer.
    pub fn build(&self, records: &[Record]) -> Result<Bytes, BuildError> {
        let mut buf = BytesMut::new();
        self.encode(records, &mut buf)?;
        Ok(buf.freeze())
    }

    /// Appends one batch holding `records` to `buf`.
    pub fn encode(&self, records: &[Record], buf: &mut BytesMut) -> Result<(), BuildError> {
        let base_timestamp = self
            .delete_horizon_ms
            .or_else(|| records.first().map(|r| r.timestamp))
            .unwrap_or(-1);
        let mut body = Vec::with_capacity(records.len() * 16);
        let mut scratch = Vec::new();
        for record in records {
            let delta = record
                .offset
                .checked_sub(self.base_offset)
                .and_then(|d| i32::try_from(d).ok())
                .filter(|&d| d >= 0)
                .ok_or(BuildError::OffsetOutOfRange {
                    offset: record.offset,
                    base_offset: self.base_offset,
                })?;
            scratch.clear();
            encode_record(&mut scratch, record, delta, base_timestamp)?;
            body.put_varint(len_i32(scratch.len(), "record")?);
            body.extend_from_slice(&scratch);
        }
        let body = compress(self.compression, &body)?;

        let mut attributes = i16::from(self.compression.id());
        if self.timestamp_type == TimestampType::LogAppendTime {
            attributes |= LOG_APPEND_TIME_BIT;
        }
        if self.transactional {
            attributes |= TRANSACTIONAL_BIT;
        }
        if self.control {
            attributes |= CONTROL_BIT;
        }
        if self.delete_horizon_ms.is_some() {
            attributes |= DELETE_HORIZON_BIT;
        }
        let last_offset_delta = match (self.last_offset_delta, records.last()) {
            (Some(d), _) => d,
            (None, Some(last)) => i32::try_from(last.offset - self.base_offset).unwrap_or(0),
            (None, None) => 0,
        };
        let max_timestamp = self
            .max_timestamp
            .unwrap_or_else(|| records.iter().map(|r| r.timestamp).max().unwrap_or(-1));

        let start = buf.len();
        buf.reserve(super::batch::V2_HEADER_SIZE + body.len());
        buf.put_i64(self.base_offset);
        buf.put_i32(len_i32(
            super::batch::V2_HEADER_SIZE - LOG_OVERHEAD + body.len(),
            "batch",
        )?);
        buf.put_i32(self.partition_leader_epoch);
        buf.put_i8(2);
        buf.put_u32(0); // CRC, filled in below
        buf.put_i16(attributes);
        buf.put_i32(last_offset_delta);
        buf.put_i64(base_timestamp);
        buf.put_i64(max_timestamp);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_i32(self.base_sequence);
        buf.put_i32(len_i32(records.len(), "record count")?);
        buf.put_slice(&body);
        let crc = super::crc32c(&buf[start + V2_CRC_START..]);
        buf[start + V2_CRC_START - 4..start + V2_CRC_START].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}

/// Writes a record's body (everything after its length).
fn encode_record(
    out: &mut Vec<u8>,
    record: &Record,
    offset_delta: i32,
    base_timestamp: i64,
) -> Result<(), BuildError> {
    out.put_i8(0);
    out.put_varlong(record.timestamp.wrapping_sub(base_timestamp));
    out.put_varint(offset_delta);
    put_varint_bytes(out, record.key.as_deref(), "record key")?;
    put_varint_bytes(out, record.value.as_deref(), "record value")?;
    out.put_varint(len_i32(record.headers.len(), "record headers")?);
    for h in &record.headers {
        put_varint_bytes(out, Some(h.key.as_bytes()), "header key")?;
        put_varint_bytes(out, h.value.as_deref(), "header value")?;
    }
    Ok(())
}

/// A varint length (-1 for null) and the bytes.
fn put_varint_bytes(
    out: &mut Vec<u8>,
    b: Option<&[u8]>,
    what: &'static str,
) -> Result<(), BuildError> {
    match b {
        None => out.put_varint(-1),
        Some(b) => {
            out.put_varint(len_i32(b.len(), what)?);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

fn len_i32(len: usize, what: &'static str) -> Result<i32, BuildError> {
    i32::try_from(len).map_err(|_| BuildError::Encode(EncodeError::TooLong { what, len }))
}

/// Settings of a legacy (magic 0 or 1) message set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyBuilder {
    /// 0 or 1.
    pub magic: i8,
    /// Codec; anything but `None` wraps all records in one compressed message.
    pub compression: Compression,
    /// For magic 1 wrappers: the broker's append time, setting the log-append-time bit.
    pub log_append_time: Option<i64>,
}

impl LegacyBuilder {
    /// Encodes `records` (no headers; magic 0 drops timestamps) into a new buffer.
    pub fn build(&self, records: &[Record]) -> Result<Bytes, BuildError> {
        if !(0..=1).contains(&self.magic) {
            return Err(BuildError::Unsupported("legacy magic must be 0 or 1"));
        }
        if self.compression == Compression::Zstd {
            return Err(BuildError::Unsupported("zstd needs magic 2"));
        }
        if records.iter().any(|r| !r.headers.is_empty()) {
            return Err(BuildError::Unsupported("headers need magic 2"));
        }
        let mut buf = BytesMut::new();
        let append_time_bit = if self.log_append_time.is_some() {
            LOG_APPEND_TIME_BIT as u8
        } else {
            0
        };
        if self.compression == Compression::None {
            for r in records {
                let ts = self.log_append_time.unwrap_or(r.timestamp);
                self.message(
                    &mut buf,
                    r.offset,
                    append_time_bit,
                    ts,
                    r.key.as_deref(),
                    r.value.as_deref(),
                )?;
            }
            return Ok(buf.freeze());
        }
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(buf.freeze());
        };
        let mut inner = BytesMut::new();
        for r in records {
            // Magic 1 inner offsets are relative to the first record; magic 0 are absolute.
            let offset = if self.magic >= 1 {
                r.offset - first.offset
            } else {
                r.offset
            };
            self.message(
                &mut inner,
                offset,
                0,
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
            )?;
        }
        let packed = compress(self.compression, &inner)?;
        let wrapper_ts = self
            .log_append_time
            .unwrap_or_else(|| records.iter().map(|r| r.timestamp).max().unwrap_or(-1));
        let attributes = self.compression.id() | append_time_bit;
        self.message(
            &mut buf,
            last.offset,
            attributes,
            wrapper_ts,
            None,
            Some(&packed),
        )?;
        Ok(buf.freeze())
    }

    /// Appends one message.
    fn message(
        &self,
        buf: &mut BytesMut,
        offset: i64,
        attributes: u8,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), BuildError> {
        let start = buf.len();
        buf.put_i64(offset);
        buf.put_i32(0); // size, filled in below
        buf.put_u32(0); // CRC, filled in below
        buf.put_i8(self.magic);
        buf.put_u8(attributes);
        if self.magic >= 1 {
            buf.put_i64(timestamp);
        }
        buf.put_nullable_bytes_field(false, key)?;
        buf.put_nullable_bytes_field(false, value)?;
        let size = len_i32(buf.len() - start - LOG_OVERHEAD, "legacy message")?;
        buf[start + 8..start + 12].copy_from_slice(&size.to_be_bytes());
        let crc = crc32fast::hash(&buf[start + MAGIC_OFFSET..]);
        buf[start + 12..start + 16].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }
}
