//! Encoding primitives, as an extension of `BufMut`.

use bytes::BufMut;

use super::EncodeError;

type Result<T> = std::result::Result<T, EncodeError>;

/// Kafka's primitive types written to any `BufMut`.
///
/// `compact` selects the flexible-version forms (unsigned-varint lengths plus one).
pub(crate) trait KafkaWrite: BufMut {
    /// An UNSIGNED_VARINT.
    fn put_uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8);
    }

    /// An unsigned 64-bit varint.
    fn put_uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.put_u8(v as u8);
    }

    /// A zigzag VARINT.
    fn put_varint(&mut self, v: i32) {
        self.put_uvarint(((v << 1) ^ (v >> 31)) as u32);
    }

    /// A zigzag VARLONG.
    fn put_varlong(&mut self, v: i64) {
        self.put_uvarlong(((v << 1) ^ (v >> 63)) as u64);
    }

    /// A BOOLEAN.
    fn put_bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }

    /// A UUID.
    fn put_uuid(&mut self, v: &[u8; 16]) {
        self.put_slice(v);
    }

    /// A length prefix; `None` writes null.
    fn put_length(
        &mut self,
        compact: bool,
        classic_i16: bool,
        len: Option<usize>,
        what: &'static str,
    ) -> Result<()> {
        match (compact, len) {
            (true, None) => self.put_uvarint(0),
            (true, Some(n)) => {
                let v = u32::try_from(n)
                    .ok()
                    .and_then(|n| n.checked_add(1))
                    .ok_or(EncodeError::TooLong { what, len: n })?;
                self.put_uvarint(v);
            }
            (false, None) if classic_i16 => self.put_i16(-1),
            (false, None) => self.put_i32(-1),
            (false, Some(n)) if classic_i16 => {
                let v = i16::try_from(n).map_err(|_| EncodeError::TooLong { what, len: n })?;
                self.put_i16(v);
            }
            (false, Some(n)) => {
                let v = i32::try_from(n).map_err(|_| EncodeError::TooLong { what, len: n })?;
                self.put_i32(v);
            }
        }
        Ok(())
    }

    /// A STRING or COMPACT_STRING.
    fn put_string(&mut self, compact: bool, s: &str) -> Result<()> {
        self.put_length(compact, true, Some(s.len()), "string")?;
        self.put_slice(s.as_bytes());
        Ok(())
    }

    /// A NULLABLE_STRING or COMPACT_NULLABLE_STRING.
    fn put_nullable_string(&mut self, compact: bool, s: Option<&str>) -> Result<()> {
        match s {
            Some(s) => self.put_string(compact, s),
            None => self.put_length(compact, true, None, "string"),
        }
    }

    /// A BYTES or COMPACT_BYTES.
    fn put_bytes_field(&mut self, compact: bool, b: &[u8]) -> Result<()> {
        self.put_length(compact, false, Some(b.len()), "bytes")?;
        self.put_slice(b);
        Ok(())
    }

    /// A NULLABLE_BYTES or COMPACT_NULLABLE_BYTES.
    fn put_nullable_bytes_field(&mut self, compact: bool, b: Option<&[u8]>) -> Result<()> {
        match b {
            Some(b) => self.put_bytes_field(compact, b),
            None => self.put_length(compact, false, None, "bytes"),
        }
    }

    /// An ARRAY or COMPACT_ARRAY, writing each element with `item`.
    fn put_array<T>(
        &mut self,
        compact: bool,
        items: &[T],
        mut item: impl FnMut(&mut Self, &T) -> Result<()>,
    ) -> Result<()>
    where
        Self: Sized,
    {
        self.put_length(compact, false, Some(items.len()), "array")?;
        for it in items {
            item(self, it)?;
        }
        Ok(())
    }

    /// A nullable ARRAY or COMPACT_ARRAY.
    fn put_nullable_array<T>(
        &mut self,
        compact: bool,
        items: Option<&[T]>,
        item: impl FnMut(&mut Self, &T) -> Result<()>,
    ) -> Result<()>
    where
        Self: Sized,
    {
        match items {
            Some(items) => self.put_array(compact, items, item),
            None => self.put_length(compact, false, None, "array"),
        }
    }

    /// A tagged-field section holding `fields` (tag, encoded value), sorted by tag.
    /// Writes nothing when `flexible` is false.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "a wire primitive no message writes yet")
    )]
    fn put_tagged_fields(&mut self, flexible: bool, fields: &[(u32, &[u8])]) -> Result<()> {
        if !flexible {
            return Ok(());
        }
        let n = u32::try_from(fields.len()).map_err(|_| EncodeError::TooLong {
            what: "tagged fields",
            len: fields.len(),
        })?;
        self.put_uvarint(n);
        for (tag, data) in fields {
            self.put_uvarint(*tag);
            let len = u32::try_from(data.len()).map_err(|_| EncodeError::TooLong {
                what: "tagged field",
                len: data.len(),
            })?;
            self.put_uvarint(len);
            self.put_slice(data);
        }
        Ok(())
    }

    /// An empty tagged-field section (a single zero byte when `flexible`).
    fn put_empty_tagged_fields(&mut self, flexible: bool) {
        if flexible {
            self.put_u8(0);
        }
    }
}

impl<B: BufMut + ?Sized> KafkaWrite for B {}
