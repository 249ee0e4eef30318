//! Records of a batch: the `Record` type and the iterator that decodes them lazily.

use bytes::Bytes;

use super::varint::{varint, varlong};
use super::{RecordError, RecordSource, TimestampType};
use crate::codec::DecodeError;

/// The smallest encoded magic-2 record: a length byte and six one-byte fields
/// (attributes, timestamp delta, offset delta, key and value lengths, header count).
pub(crate) const MIN_RECORD_SIZE: usize = 7;

/// One record, as handed to the application.
///
/// `key`, `value` and header values share the fetched (or decompressed) buffer: no copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Timestamp in ms since the epoch (-1 when the format has none).
    pub timestamp: i64,
    /// Whether the timestamp is the producer's or the broker's.
    pub timestamp_type: TimestampType,
    /// The key, or `None` for a null key.
    pub key: Option<Bytes>,
    /// The value, or `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers, in wire order (empty, without allocating, when there are none).
    pub headers: Vec<Header>,
}

/// One record header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// The header key (never null on the wire).
    pub key: String,
    /// The header value, or `None` for null.
    pub value: Option<Bytes>,
}

/// The records of one batch, decoded one at a time.
///
/// Owns what it reads (a reference-counted slice of the fetch response or of the
/// decompressed batch), so a consumer can keep it across polls. Stops after the first error.
#[derive(Debug, Clone)]
pub struct Records {
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    V2(V2Records),
    Legacy { records: std::vec::IntoIter<Record> },
    Done,
}

impl Records {
    /// An iterator over magic-2 records in `data` (the bytes after the count field).
    pub(crate) fn v2(ctx: V2Context, data: Bytes, count: u32) -> Self {
        Self {
            inner: Inner::V2(V2Records {
                ctx,
                data,
                pos: 0,
                remaining: count,
            }),
        }
    }

    /// An iterator over already decoded legacy records.
    pub(crate) fn legacy(records: Vec<Record>) -> Self {
        Self {
            inner: Inner::Legacy {
                records: records.into_iter(),
            },
        }
    }

    /// How many records are left according to the batch header.
    pub fn remaining(&self) -> usize {
        match &self.inner {
            Inner::V2(v2) => v2.remaining as usize,
            Inner::Legacy { records } => records.len(),
            Inner::Done => 0,
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, RecordError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::V2(v2) => match v2.next_record() {
                Ok(Some(record)) => Some(Ok(record)),
                Ok(None) => {
                    self.inner = Inner::Done;
                    None
                }
                Err(e) => {
                    let err = v2.ctx.source.error(v2.ctx.base_offset, e.into());
                    self.inner = Inner::Done;
                    Some(Err(err))
                }
            },
            Inner::Legacy { records } => records.next().map(Ok),
            Inner::Done => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining();
        // A corrupt batch may end early with an error, so only the upper bound is sure.
        (0, Some(n.saturating_add(1)))
    }
}

impl std::iter::FusedIterator for Records {}

/// What a magic-2 record needs from its batch header.
#[derive(Debug, Clone)]
pub(crate) struct V2Context {
    /// Where the batch came from, for errors.
    pub source: RecordSource,
    /// The batch's base offset.
    pub base_offset: i64,
    /// The batch's base timestamp.
    pub base_timestamp: i64,
    /// For log-append-time batches, the broker's timestamp (the batch max timestamp).
    pub log_append_time: Option<i64>,
}

#[derive(Debug, Clone)]
struct V2Records {
    ctx: V2Context,
    data: Bytes,
    pos: usize,
    remaining: u32,
}

impl V2Records {
    #[inline]
    fn next_record(&mut self) -> Result<Option<Record>, DecodeError> {
        if self.remaining == 0 {
            if self.pos != self.data.len() {
                return Err(DecodeError::TrailingBytes {
                    what: "record batch (more bytes than its record count)",
                    remaining: self.data.len() - self.pos,
                });
            }
            return Ok(None);
        }
        self.remaining -= 1;
        let record = self.decode_one()?;
        Ok(Some(record))
    }

    /// Decodes the record at `pos`, advancing past it.
    #[inline]
    fn decode_one(&mut self) -> Result<Record, DecodeError> {
        let all: &[u8] = &self.data;
        let mut p = self.pos;
        let len = varint(all, &mut p, "record length")?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|n| p.checked_add(n))
            .filter(|&end| end <= all.len())
            .ok_or(DecodeError::InvalidLength {
                what: "record",
                len: i64::from(len),
            })?;
        let start = p;
        // Every field below is read from this record's bytes only.
        let rec = all.get(..end).unwrap_or_default();
        // Attributes: unused by magic 2, but present.
        p = p
            .checked_add(1)
            .filter(|&q| q <= end)
            .ok_or(DecodeError::Truncated {
                what: "record attributes",
                needed: 1,
                remaining: 0,
            })?;
        let timestamp_delta = varlong(rec, &mut p, "record timestamp delta")?;
        let offset_delta = varint(rec, &mut p, "record offset delta")?;
        let key = self.nullable_bytes(rec, &mut p, "record key")?;
        let value = self.nullable_bytes(rec, &mut p, "record value")?;
        let header_count = varint(rec, &mut p, "record header count")?;
        let headers = if header_count == 0 {
            Vec::new()
        } else {
            self.headers(rec, &mut p, header_count)?
        };
        if p != end {
            return Err(DecodeError::Invalid {
                what: "record",
                detail: format!("length {len} but its fields take {}", p - start),
            });
        }
        self.pos = end;
        let timestamp = match self.ctx.log_append_time {
            Some(t) => t,
            None => self.ctx.base_timestamp.wrapping_add(timestamp_delta),
        };
        Ok(Record {
            offset: self.ctx.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp,
            timestamp_type: if self.ctx.log_append_time.is_some() {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            key,
            value,
            headers,
        })
    }

    /// A varint length (-1 for null) and that many bytes, as a slice of `data`.
    #[inline(always)]
    fn nullable_bytes(
        &self,
        rec: &[u8],
        p: &mut usize,
        what: &'static str,
    ) -> Result<Option<Bytes>, DecodeError> {
        let (start, end) = match field_bounds(rec, p, what)? {
            Some(bounds) => bounds,
            None => return Ok(None),
        };
        Ok(Some(self.data.slice(start..end)))
    }

    #[cold]
    fn headers(&self, rec: &[u8], p: &mut usize, count: i32) -> Result<Vec<Header>, DecodeError> {
        // Each header takes at least two bytes (key and value lengths).
        let n = usize::try_from(count)
            .ok()
            .filter(|&n| n.saturating_mul(2) <= rec.len().saturating_sub(*p))
            .ok_or(DecodeError::InvalidLength {
                what: "record headers",
                len: i64::from(count),
            })?;
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            let (start, end) = field_bounds(rec, p, "header key")?
                .ok_or(DecodeError::UnexpectedNull { what: "header key" })?;
            let key = std::str::from_utf8(rec.get(start..end).unwrap_or_default())
                .map_err(|_| DecodeError::Utf8 { what: "header key" })?
                .to_owned();
            let value = self.nullable_bytes(rec, p, "header value")?;
            headers.push(Header { key, value });
        }
        Ok(headers)
    }
}

/// Reads a varint length (-1 for null) and returns the bounds of the bytes that follow.
#[inline(always)]
fn field_bounds(
    rec: &[u8],
    p: &mut usize,
    what: &'static str,
) -> Result<Option<(usize, usize)>, DecodeError> {
    let len = varint(rec, p, what)?;
    if len < 0 {
        if len == -1 {
            return Ok(None);
        }
        return Err(DecodeError::InvalidLength {
            what,
            len: i64::from(len),
        });
    }
    let start = *p;
    let end = start
        .checked_add(len as usize)
        .filter(|&end| end <= rec.len())
        .ok_or(DecodeError::InvalidLength {
            what,
            len: i64::from(len),
        })?;
    *p = end;
    Ok(Some((start, end)))
}
