//! Records of a batch: the owned `Record`, the borrowed `RecordView`, and the iterator
//! that decodes them lazily.

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

/// A record borrowed from its batch: no reference count touched, nothing allocated.
///
/// For looking at records cheaply (filtering, skipping below a position); turn the ones
/// to keep into [`Record`]s with [`Records::next`] instead, or copy what is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// The record's offset in its partition.
    pub offset: i64,
    /// Timestamp in ms since the epoch (-1 when the format has none).
    pub timestamp: i64,
    /// Whether the timestamp is the producer's or the broker's.
    pub timestamp_type: TimestampType,
    /// The key, or `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// The value, or `None` for a null value.
    pub value: Option<&'a [u8]>,
    headers: HeaderViews<'a>,
}

impl<'a> RecordView<'a> {
    /// The headers, in wire order (already validated when the record was read).
    pub fn headers(&self) -> HeaderViews<'a> {
        self.headers
    }
}

/// A header borrowed from its batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderView<'a> {
    /// The header key.
    pub key: &'a str,
    /// The header value, or `None` for null.
    pub value: Option<&'a [u8]>,
}

/// The headers of a [`RecordView`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeaderViews<'a> {
    bytes: &'a [u8],
    remaining: u32,
}

impl<'a> Iterator for HeaderViews<'a> {
    type Item = HeaderView<'a>;

    fn next(&mut self) -> Option<HeaderView<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let mut p = 0;
        // The record was validated when read, so this cannot fail; if it did, stop.
        let parsed = parse_header(self.bytes, &mut p).ok();
        let Some((key, value)) = parsed else {
            self.remaining = 0;
            return None;
        };
        let key = std::str::from_utf8(slice(self.bytes, key)).ok()?;
        let value = value.map(|v| slice(self.bytes, v));
        self.bytes = self.bytes.get(p..).unwrap_or_default();
        self.remaining -= 1;
        Some(HeaderView { key, value })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining as usize))
    }
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
    Legacy {
        records: std::vec::IntoIter<Record>,
        /// The record the last view borrowed from.
        current: Option<Record>,
    },
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
                current: None,
            },
        }
    }

    /// How many records are left according to the batch header.
    pub fn remaining(&self) -> usize {
        match &self.inner {
            Inner::V2(v2) => v2.remaining as usize,
            Inner::Legacy { records, .. } => records.len(),
            Inner::Done => 0,
        }
    }

    /// The next record as a borrowed view (the zero-overhead way to look at records).
    pub fn next_view(&mut self) -> Option<Result<RecordView<'_>, RecordError>> {
        match self.next_raw()? {
            Err(e) => Some(Err(e)),
            Ok(Raw::V2(raw)) => match &self.inner {
                Inner::V2(v2) => Some(Ok(v2.view(&raw))),
                _ => None,
            },
            Ok(Raw::Legacy(record)) => {
                let Inner::Legacy { current, .. } = &mut self.inner else {
                    return None;
                };
                let r = current.insert(record);
                Some(Ok(RecordView {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    timestamp_type: r.timestamp_type,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    headers: HeaderViews::default(),
                }))
            }
        }
    }

    /// Moves the records at or after `*next_offset` into `out`, each turned into a `T` by
    /// `make`, until `out` holds `limit` items; `*next_offset` ends past the last one
    /// moved. Ok(true) once the batch is used up. Offsets wrap like
    /// [`RecordBatch::next_offset`](super::RecordBatch::next_offset): a broker's bad offsets
    /// never make this panic.
    ///
    /// The same records as [`next`](Iterator::next) gives, but each is built straight in
    /// `out`: going through `next` copies every record twice more, a tenth of the cost of
    /// consuming small records.
    #[inline]
    pub fn drain_into<T>(
        &mut self,
        next_offset: &mut i64,
        out: &mut Vec<T>,
        limit: usize,
        mut make: impl FnMut(Record) -> T,
    ) -> Result<bool, RecordError> {
        let Inner::V2(v2) = &mut self.inner else {
            while out.len() < limit {
                match self.next() {
                    None => return Ok(true),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(r)) if r.offset < *next_offset => {}
                    Some(Ok(r)) => {
                        *next_offset = r.offset.wrapping_add(1);
                        out.push(make(r));
                    }
                }
            }
            return Ok(false);
        };
        while out.len() < limit {
            match v2.next_record() {
                Ok(Some(raw)) => {
                    let (offset, _, _) = v2.offset_and_time(&raw);
                    if offset < *next_offset {
                        continue;
                    }
                    *next_offset = offset.wrapping_add(1);
                    out.push(make(v2.owned(raw)));
                }
                Ok(None) => {
                    self.inner = Inner::Done;
                    return Ok(true);
                }
                Err(e) => {
                    let e = v2.ctx.source.error(v2.ctx.base_offset, e.into());
                    self.inner = Inner::Done;
                    return Err(e);
                }
            }
        }
        Ok(false)
    }

    /// Advances past the next record, returning where its fields are.
    #[inline]
    fn next_raw(&mut self) -> Option<Result<Raw, RecordError>> {
        let result = match &mut self.inner {
            Inner::V2(v2) => match v2.next_record() {
                Ok(Some(raw)) => return Some(Ok(Raw::V2(raw))),
                Ok(None) => None,
                Err(e) => Some(Err(v2.ctx.source.error(v2.ctx.base_offset, e.into()))),
            },
            Inner::Legacy { records, .. } => return records.next().map(|r| Ok(Raw::Legacy(r))),
            Inner::Done => return None,
        };
        self.inner = Inner::Done;
        result
    }
}

/// Where the next record is, before it is turned into a `Record` or a view.
enum Raw {
    V2(RawRecord),
    Legacy(Record),
}

impl Iterator for Records {
    type Item = Result<Record, RecordError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        // The magic-2 case builds the record straight from the positions, without going
        // through `Raw` (which is as big as a legacy `Record` and would be copied around).
        let result = match &mut self.inner {
            Inner::V2(v2) => match v2.next_record() {
                Ok(Some(raw)) => return Some(Ok(v2.owned(raw))),
                Ok(None) => None,
                Err(e) => Some(Err(v2.ctx.source.error(v2.ctx.base_offset, e.into()))),
            },
            Inner::Legacy { records, .. } => return records.next().map(Ok),
            Inner::Done => return None,
        };
        self.inner = Inner::Done;
        result
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

/// A byte range of the batch data: `(start, end)`.
type Span = (usize, usize);

/// A validated record, as positions in the batch data.
struct RawRecord {
    offset_delta: i32,
    timestamp_delta: i64,
    key: Option<Span>,
    value: Option<Span>,
    /// Header count and the span of all headers (validated).
    headers: (u32, Span),
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
    fn next_record(&mut self) -> Result<Option<RawRecord>, DecodeError> {
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
        match self.parse_fast() {
            Some(record) => Ok(Some(record)),
            None => self.parse().map(Some),
        }
    }

    /// [`parse`](Self::parse) without error details: the same checks, but any failure is
    /// just `None` (the caller then runs `parse` to say what is wrong). Building no error
    /// values keeps this loop small; it is most of the cost of consuming a record.
    #[inline(always)]
    fn parse_fast(&mut self) -> Option<RawRecord> {
        let all: &[u8] = &self.data;
        let mut p = self.pos;
        let len = usize::try_from(varint(all, &mut p, "").ok()?).ok()?;
        let end = p.checked_add(len)?;
        let rec = all.get(..end)?;
        // Attributes: one byte, unused by magic 2.
        p = p.checked_add(1).filter(|&q| q <= end)?;
        let timestamp_delta = varlong(rec, &mut p, "").ok()?;
        let offset_delta = varint(rec, &mut p, "").ok()?;
        let key = field_bounds(rec, &mut p, "").ok()?;
        let value = field_bounds(rec, &mut p, "").ok()?;
        let header_count = varint(rec, &mut p, "").ok()?;
        let headers_start = p;
        let header_count = if header_count == 0 {
            0
        } else {
            validate_headers(rec, &mut p, header_count).ok()?
        };
        if p != end {
            return None;
        }
        self.pos = end;
        Some(RawRecord {
            offset_delta,
            timestamp_delta,
            key,
            value,
            headers: (header_count, (headers_start, end)),
        })
    }

    /// Reads and validates the record at `pos`, advancing past it.
    #[cold]
    #[inline(never)]
    fn parse(&mut self) -> Result<RawRecord, DecodeError> {
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
        let key = field_bounds(rec, &mut p, "record key")?;
        let value = field_bounds(rec, &mut p, "record value")?;
        let header_count = varint(rec, &mut p, "record header count")?;
        let headers_start = p;
        let header_count = if header_count == 0 {
            0
        } else {
            validate_headers(rec, &mut p, header_count)?
        };
        if p != end {
            return Err(DecodeError::Invalid {
                what: "record",
                detail: format!("length {len} but its fields take {}", p - start),
            });
        }
        self.pos = end;
        Ok(RawRecord {
            offset_delta,
            timestamp_delta,
            key,
            value,
            headers: (header_count, (headers_start, end)),
        })
    }

    #[inline(always)]
    fn offset_and_time(&self, raw: &RawRecord) -> (i64, i64, TimestampType) {
        let offset = self
            .ctx
            .base_offset
            .wrapping_add(i64::from(raw.offset_delta));
        match self.ctx.log_append_time {
            Some(t) => (offset, t, TimestampType::LogAppendTime),
            None => (
                offset,
                self.ctx.base_timestamp.wrapping_add(raw.timestamp_delta),
                TimestampType::CreateTime,
            ),
        }
    }

    /// The record with its fields as slices of the batch data.
    #[inline(always)]
    fn owned(&self, raw: RawRecord) -> Record {
        let (offset, timestamp, timestamp_type) = self.offset_and_time(&raw);
        let (count, span) = raw.headers;
        Record {
            offset,
            timestamp,
            timestamp_type,
            key: raw.key.map(|(s, e)| self.data.slice(s..e)),
            value: raw.value.map(|(s, e)| self.data.slice(s..e)),
            headers: if count == 0 {
                Vec::new()
            } else {
                self.owned_headers(count, span)
            },
        }
    }

    /// Builds the headers of a validated record.
    #[cold]
    fn owned_headers(&self, count: u32, (start, end): Span) -> Vec<Header> {
        let mut headers = Vec::with_capacity(count as usize);
        let region = slice(&self.data, (start, end));
        let mut p = 0;
        for _ in 0..count {
            // Validated when the record was read; a failure here would only end the list.
            let Ok((key, value)) = parse_header(region, &mut p) else {
                break;
            };
            let key = String::from_utf8_lossy(slice(region, key)).into_owned();
            let value = value.map(|(s, e)| self.data.slice(start + s..start + e));
            headers.push(Header { key, value });
        }
        headers
    }

    /// The record borrowed from the batch data.
    #[inline(always)]
    fn view(&self, raw: &RawRecord) -> RecordView<'_> {
        let (offset, timestamp, timestamp_type) = self.offset_and_time(raw);
        let (count, span) = raw.headers;
        RecordView {
            offset,
            timestamp,
            timestamp_type,
            key: raw.key.map(|k| slice(&self.data, k)),
            value: raw.value.map(|v| slice(&self.data, v)),
            headers: HeaderViews {
                bytes: slice(&self.data, span),
                remaining: count,
            },
        }
    }
}

/// The bytes of an already validated span (empty if it were not).
#[inline(always)]
fn slice(data: &[u8], (start, end): Span) -> &[u8] {
    data.get(start..end).unwrap_or_default()
}

/// Checks `count` headers (lengths, non-null UTF-8 keys) and returns the count.
#[cold]
fn validate_headers(rec: &[u8], p: &mut usize, count: i32) -> Result<u32, DecodeError> {
    // Each header takes at least two bytes (key and value lengths).
    let n = u32::try_from(count)
        .ok()
        .filter(|&n| (n as usize).saturating_mul(2) <= rec.len().saturating_sub(*p))
        .ok_or(DecodeError::InvalidLength {
            what: "record headers",
            len: i64::from(count),
        })?;
    for _ in 0..n {
        let (key, _) = parse_header(rec, p)?;
        std::str::from_utf8(slice(rec, key))
            .map_err(|_| DecodeError::Utf8 { what: "header key" })?;
    }
    Ok(n)
}

/// One header: the span of its key and of its value (`None` for null).
#[inline]
fn parse_header(buf: &[u8], p: &mut usize) -> Result<(Span, Option<Span>), DecodeError> {
    let key = field_bounds(buf, p, "header key")?
        .ok_or(DecodeError::UnexpectedNull { what: "header key" })?;
    let value = field_bounds(buf, p, "header value")?;
    Ok((key, value))
}

/// Reads a varint length (-1 for null) and returns the bounds of the bytes that follow.
#[inline(always)]
fn field_bounds(
    rec: &[u8],
    p: &mut usize,
    what: &'static str,
) -> Result<Option<Span>, DecodeError> {
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
