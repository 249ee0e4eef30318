//! Decoding primitives: a cursor over a `Bytes` frame that hands out zero-copy slices.

use bytes::{Buf, Bytes};

use super::DecodeError;

type Result<T> = std::result::Result<T, DecodeError>;

/// A cursor over one received frame.
///
/// Every read checks that the bytes are really there; byte fields are returned as
/// `Bytes` slices that share the frame's allocation.
#[derive(Debug, Clone, Default)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    /// Reads from `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread rest of the input.
    pub(crate) fn into_rest(self) -> Bytes {
        self.buf
    }

    /// The unread rest of the input, without consuming it.
    pub(crate) fn peek_rest(&self) -> &Bytes {
        &self.buf
    }

    /// Fails unless at least `n` bytes remain.
    pub(crate) fn ensure(&self, n: usize, what: &'static str) -> Result<()> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                what,
                needed: n,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless the input is used up.
    pub(crate) fn finish(&self, what: &'static str) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                what,
                remaining: self.buf.len(),
            })
        }
    }

    /// Takes the next `n` bytes as a zero-copy slice.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes> {
        self.ensure(n, what)?;
        Ok(self.buf.split_to(n))
    }

    /// Skips `n` bytes.
    pub(crate) fn skip(&mut self, n: usize, what: &'static str) -> Result<()> {
        self.ensure(n, what)?;
        self.buf.advance(n);
        Ok(())
    }

    /// A sub-reader over the next `n` bytes.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader> {
        Ok(Reader::new(self.take(n, what)?))
    }

    /// An INT8.
    pub(crate) fn i8(&mut self) -> Result<i8> {
        self.ensure(1, "int8")?;
        Ok(self.buf.get_i8())
    }

    /// A BOOLEAN (any non-zero byte is true).
    pub(crate) fn bool(&mut self) -> Result<bool> {
        Ok(self.i8()? != 0)
    }

    /// An INT16.
    pub(crate) fn i16(&mut self) -> Result<i16> {
        self.ensure(2, "int16")?;
        Ok(self.buf.get_i16())
    }

    /// A UINT16.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "a wire primitive no message reads yet")
    )]
    pub(crate) fn u16(&mut self) -> Result<u16> {
        self.ensure(2, "uint16")?;
        Ok(self.buf.get_u16())
    }

    /// An INT32.
    pub(crate) fn i32(&mut self) -> Result<i32> {
        self.ensure(4, "int32")?;
        Ok(self.buf.get_i32())
    }

    /// A UINT32.
    pub(crate) fn u32(&mut self) -> Result<u32> {
        self.ensure(4, "uint32")?;
        Ok(self.buf.get_u32())
    }

    /// An INT64.
    pub(crate) fn i64(&mut self) -> Result<i64> {
        self.ensure(8, "int64")?;
        Ok(self.buf.get_i64())
    }

    /// A FLOAT64.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "a wire primitive no message reads yet")
    )]
    pub(crate) fn f64(&mut self) -> Result<f64> {
        self.ensure(8, "float64")?;
        Ok(self.buf.get_f64())
    }

    /// A UUID (16 bytes).
    pub(crate) fn uuid(&mut self) -> Result<[u8; 16]> {
        self.ensure(16, "uuid")?;
        let mut out = [0u8; 16];
        self.buf.copy_to_slice(&mut out);
        Ok(out)
    }

    /// An UNSIGNED_VARINT (at most 5 bytes).
    pub(crate) fn uvarint(&mut self) -> Result<u32> {
        let v = self.uvarlong_bounded(5, "unsigned varint")?;
        u32::try_from(v).map_err(|_| DecodeError::Varint {
            what: "unsigned varint",
        })
    }

    /// An unsigned 64-bit varint (at most 10 bytes).
    pub(crate) fn uvarlong(&mut self) -> Result<u64> {
        self.uvarlong_bounded(10, "unsigned varlong")
    }

    fn uvarlong_bounded(&mut self, max_bytes: usize, what: &'static str) -> Result<u64> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let Some(&byte) = self.buf.first() else {
                return Err(DecodeError::Truncated {
                    what,
                    needed: i + 1,
                    remaining: i,
                });
            };
            self.buf.advance(1);
            let shift = 7 * i as u32;
            let bits = u64::from(byte & 0x7f);
            // The last allowed byte may only carry the bits that still fit.
            if shift > 0 && bits.checked_shl(shift).map(|v| v >> shift) != Some(bits) {
                return Err(DecodeError::Varint { what });
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Varint { what })
    }

    /// A zigzag VARINT.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "a wire primitive no message reads yet")
    )]
    pub(crate) fn varint(&mut self) -> Result<i32> {
        let v = self.uvarint()?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    /// A zigzag VARLONG.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "a wire primitive no message reads yet")
    )]
    pub(crate) fn varlong(&mut self) -> Result<i64> {
        let v = self.uvarlong()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A length prefix: INT16/INT32 when classic, UNSIGNED_VARINT minus one when compact.
    /// `None` is null. The length is checked against the bytes present, scaled by
    /// `min_item_size`, so no caller can be made to allocate more than the input justifies.
    fn length(
        &mut self,
        compact: bool,
        classic_i16: bool,
        min_item_size: usize,
        what: &'static str,
    ) -> Result<Option<usize>> {
        let len: i64 = if compact {
            i64::from(self.uvarint()?) - 1
        } else if classic_i16 {
            i64::from(self.i16()?)
        } else {
            i64::from(self.i32()?)
        };
        if len < 0 {
            if len == -1 {
                return Ok(None);
            }
            return Err(DecodeError::InvalidLength { what, len });
        }
        let n = len as usize;
        if n.saturating_mul(min_item_size) > self.buf.len() {
            return Err(DecodeError::InvalidLength { what, len });
        }
        Ok(Some(n))
    }

    /// A STRING (classic INT16 length) or COMPACT_STRING.
    pub(crate) fn string(&mut self, compact: bool) -> Result<String> {
        self.nullable_string(compact)?
            .ok_or(DecodeError::UnexpectedNull { what: "string" })
    }

    /// A NULLABLE_STRING or COMPACT_NULLABLE_STRING.
    pub(crate) fn nullable_string(&mut self, compact: bool) -> Result<Option<String>> {
        match self.length(compact, true, 1, "string")? {
            None => Ok(None),
            Some(n) => {
                let raw = self.buf.split_to(n);
                match std::str::from_utf8(&raw) {
                    Ok(s) => Ok(Some(s.to_owned())),
                    Err(_) => Err(DecodeError::Utf8 { what: "string" }),
                }
            }
        }
    }

    /// A BYTES (INT32 length) or COMPACT_BYTES, as a zero-copy slice.
    pub(crate) fn bytes(&mut self, compact: bool) -> Result<Bytes> {
        self.nullable_bytes(compact)?
            .ok_or(DecodeError::UnexpectedNull { what: "bytes" })
    }

    /// A NULLABLE_BYTES or COMPACT_NULLABLE_BYTES, as a zero-copy slice.
    pub(crate) fn nullable_bytes(&mut self, compact: bool) -> Result<Option<Bytes>> {
        match self.length(compact, false, 1, "bytes")? {
            None => Ok(None),
            Some(n) => Ok(Some(self.buf.split_to(n))),
        }
    }

    /// The length of an ARRAY or COMPACT_ARRAY; `None` for a null array.
    ///
    /// Each element takes at least one byte, so a count larger than the rest of the
    /// input is rejected before anything is allocated.
    pub(crate) fn array_len(&mut self, compact: bool) -> Result<Option<usize>> {
        self.length(compact, false, 1, "array")
    }

    /// A non-null array, decoding each element with `item`.
    pub(crate) fn array<T>(
        &mut self,
        compact: bool,
        item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Vec<T>> {
        self.nullable_array(compact, item)?
            .ok_or(DecodeError::UnexpectedNull { what: "array" })
    }

    /// A nullable array, decoding each element with `item`.
    pub(crate) fn nullable_array<T>(
        &mut self,
        compact: bool,
        mut item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Option<Vec<T>>> {
        let Some(n) = self.array_len(compact)? else {
            return Ok(None);
        };
        // The count was checked against the bytes left, one byte per element, but an
        // element can be far bigger in memory than that (a Fetch partition is ~150 bytes),
        // so reserve no more bytes than the input has left: a count alone must not make
        // the decoder allocate more than the input justifies. A real array just grows.
        let mut out = Vec::with_capacity(n.min(self.buf.len() / size_of::<T>().max(1)));
        for _ in 0..n {
            out.push(item(self)?);
        }
        Ok(Some(out))
    }

    /// A null array read as empty; for fields whose null and empty mean the same.
    pub(crate) fn array_or_empty<T>(
        &mut self,
        compact: bool,
        item: impl FnMut(&mut Reader) -> Result<T>,
    ) -> Result<Vec<T>> {
        Ok(self.nullable_array(compact, item)?.unwrap_or_default())
    }

    /// A tagged-field section (flexible versions only; a no-op when `flexible` is false).
    ///
    /// `known` is called with each tag and a reader over exactly that field's bytes and
    /// returns whether it handled the tag; unknown tags are skipped.
    pub(crate) fn tagged_fields(
        &mut self,
        flexible: bool,
        mut known: impl FnMut(u32, &mut Reader) -> Result<bool>,
    ) -> Result<()> {
        if !flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        // Each tagged field takes at least two bytes (tag and size).
        if (count as usize).saturating_mul(2) > self.buf.len() {
            return Err(DecodeError::InvalidLength {
                what: "tagged fields",
                len: i64::from(count),
            });
        }
        let mut last_tag: Option<u32> = None;
        for _ in 0..count {
            let tag = self.uvarint()?;
            if last_tag.is_some_and(|t| tag <= t) {
                return Err(DecodeError::Invalid {
                    what: "tagged fields",
                    detail: format!("tag {tag} out of order"),
                });
            }
            last_tag = Some(tag);
            let size = self.uvarint()? as usize;
            let mut field = self.sub(size, "tagged field")?;
            // A known field's decoder may leave nothing behind; what it leaves is ignored,
            // as newer peers may extend a tagged struct.
            let _handled = known(tag, &mut field)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section (no-op when `flexible` is false).
    pub(crate) fn skip_tagged_fields(&mut self, flexible: bool) -> Result<()> {
        self.tagged_fields(flexible, |_, _| Ok(false))
    }
}
