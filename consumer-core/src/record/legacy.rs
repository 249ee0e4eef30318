//! Legacy message sets, magic 0 and 1 (Kafka before 0.11), decoded rather than refused.
//!
//! A message is `offset i64, size i32, crc u32, magic i8, attributes i8, [timestamp i64
//! (magic 1)], key bytes, value bytes`; its CRC-32 (IEEE) covers magic to the end. A
//! compressed message is a wrapper whose value holds a compressed message set of inner
//! messages. In magic 1 the inner offsets are relative: the wrapper carries the absolute
//! offset of the last inner message. Such wrappers are decompressed when the batch is read,
//! and presented as one [`RecordBatch`].

use bytes::Bytes;

use super::batch::{be_i32, BatchHeader, LOG_OVERHEAD};
use super::compression::decompress;
use super::{
    Compression, DecodeOptions, Record, RecordBatch, RecordErrorKind, RecordSource, TimestampType,
};
use crate::codec::Reader;

/// Size field of a magic-0 message with null key and value.
const MIN_SIZE_V0: usize = 14;
/// Size field of a magic-1 message with null key and value (adds the timestamp).
const MIN_SIZE_V1: usize = 22;

/// One decoded legacy message.
struct Message {
    offset: i64,
    size: i32,
    crc: u32,
    magic: i8,
    attributes: i16,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

impl Message {
    /// Reads (and, if asked, checks the CRC of) the complete message in `entry`.
    fn parse(entry: Bytes, verify_crc: bool) -> Result<Self, RecordErrorKind> {
        let mut r = Reader::new(entry);
        let offset = r.i64()?;
        let size = r.i32()?;
        let crc = r.u32()?;
        if verify_crc {
            let computed = crc32fast::hash(r.peek_rest());
            if computed != crc {
                return Err(RecordErrorKind::CrcMismatch {
                    stored: crc,
                    computed,
                });
            }
        }
        let magic = r.i8()?;
        let min = match magic {
            0 => MIN_SIZE_V0,
            1 => MIN_SIZE_V1,
            magic => return Err(RecordErrorKind::UnsupportedMagic { magic }),
        };
        if usize::try_from(size).map_or(true, |s| s < min) {
            return Err(RecordErrorKind::InvalidBatchLength {
                length: i64::from(size),
                min,
                max: i32::MAX as usize,
            });
        }
        // The attribute byte is unsigned on the wire; keep its bits where magic 2 has them.
        let attributes = i16::from(r.i8()? as u8);
        let timestamp = if magic >= 1 { r.i64()? } else { -1 };
        let key = r.nullable_bytes(false)?;
        let value = r.nullable_bytes(false)?;
        r.finish("legacy message")?;
        Ok(Self {
            offset,
            size,
            crc,
            magic,
            attributes,
            timestamp,
            key,
            value,
        })
    }

    fn timestamp_type(&self) -> TimestampType {
        if self.magic == 0 {
            TimestampType::NoTimestamp
        } else {
            TimestampType::from_attributes(self.attributes)
        }
    }
}

/// Decodes one top-level legacy message (`entry` holds exactly its bytes).
pub(crate) fn decode(
    source: &RecordSource,
    options: &DecodeOptions,
    entry: Bytes,
) -> Result<RecordBatch, RecordErrorKind> {
    let outer = Message::parse(entry, options.verify_crc)?;
    let compression = Compression::from_attributes(outer.attributes)?;
    let timestamp_type = outer.timestamp_type();
    let records = if compression == Compression::None {
        vec![Record {
            offset: outer.offset,
            timestamp: outer.timestamp,
            timestamp_type,
            key: outer.key.clone(),
            value: outer.value.clone(),
            headers: Vec::new(),
        }]
    } else {
        inner_records(&outer, compression, options)?
    };
    let base_offset = records.first().map_or(outer.offset, |r| r.offset);
    let header = BatchHeader {
        base_offset,
        batch_length: outer.size,
        partition_leader_epoch: -1,
        magic: outer.magic,
        crc: outer.crc,
        attributes: outer.attributes,
        last_offset_delta: i32::try_from(outer.offset.wrapping_sub(base_offset)).unwrap_or(0),
        base_timestamp: outer.timestamp,
        max_timestamp: outer.timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        record_count: i32::try_from(records.len()).unwrap_or(i32::MAX),
    };
    Ok(RecordBatch::legacy(
        header,
        compression,
        source.clone(),
        records,
    ))
}

/// Decompresses a wrapper and decodes its inner messages into records.
fn inner_records(
    outer: &Message,
    compression: Compression,
    options: &DecodeOptions,
) -> Result<Vec<Record>, RecordErrorKind> {
    if compression == Compression::Zstd {
        return Err(RecordErrorKind::CompressionNotAllowed {
            codec: compression,
            magic: outer.magic,
        });
    }
    let Some(value) = &outer.value else {
        return Err(RecordErrorKind::invalid(
            "legacy message",
            "compressed wrapper with a null value",
        ));
    };
    let inner = Bytes::from(decompress(
        compression,
        value,
        options.max_decompressed_bytes,
    )?);
    let mut messages = Vec::new();
    let mut pos = 0;
    while pos < inner.len() {
        let rest = inner.get(pos..).unwrap_or_default();
        let total = be_i32(rest, 8)
            .and_then(|size| usize::try_from(size).ok())
            .and_then(|size| size.checked_add(LOG_OVERHEAD))
            .filter(|&total| total <= rest.len())
            .ok_or_else(|| RecordErrorKind::invalid("legacy message", "inner message cut short"))?;
        let message = Message::parse(inner.slice(pos..pos + total), options.verify_crc)?;
        if message.attributes & super::attributes::CODEC_MASK != 0 {
            return Err(RecordErrorKind::invalid(
                "legacy message",
                "compressed message nested in a compressed message",
            ));
        }
        messages.push(message);
        pos += total;
    }
    let Some(last) = messages.last() else {
        return Err(RecordErrorKind::invalid(
            "legacy message",
            "compressed wrapper with no inner messages",
        ));
    };
    // Magic 1 wrappers carry the absolute offset of the last inner message; inner offsets
    // count from zero. Magic 0 inner messages carry absolute offsets.
    let offset_base = if outer.magic >= 1 {
        outer.offset.wrapping_sub(last.offset)
    } else {
        0
    };
    let wrapper_type = outer.timestamp_type();
    Ok(messages
        .into_iter()
        .map(|m| {
            let (timestamp, timestamp_type) = if m.magic == 0 {
                (-1, TimestampType::NoTimestamp)
            } else if wrapper_type == TimestampType::LogAppendTime {
                (outer.timestamp, wrapper_type)
            } else {
                (m.timestamp, m.timestamp_type())
            };
            Record {
                offset: offset_base.wrapping_add(m.offset),
                timestamp,
                timestamp_type,
                key: m.key,
                value: m.value,
                headers: Vec::new(),
            }
        })
        .collect())
}
