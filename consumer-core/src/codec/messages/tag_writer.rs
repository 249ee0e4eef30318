//! Writing a tagged-field section whose fields are only known at encode time.

use bytes::BytesMut;

use crate::codec::{EncodeError, KafkaWrite};

/// Collects the known tagged fields of one struct, in increasing tag order, then writes
/// the section.
///
/// Nothing is allocated until a field is added, so the common case (every tagged field at
/// its default, hence left out) costs nothing beyond the single count byte.
#[derive(Debug, Default)]
pub(crate) struct TagWriter {
    data: BytesMut,
    /// (tag, end of the field's bytes in `data`).
    fields: Vec<(u32, usize)>,
}

impl TagWriter {
    /// An empty section.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds field `tag`, whose value `write` encodes; tags must be added in increasing order.
    pub(crate) fn field(
        &mut self,
        tag: u32,
        write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        debug_assert!(
            self.fields.last().is_none_or(|(t, _)| *t < tag),
            "tagged fields must be added in increasing tag order"
        );
        write(&mut self.data)?;
        self.fields.push((tag, self.data.len()));
        Ok(())
    }

    /// Writes the section to `buf`; nothing at all unless `flexible`.
    pub(crate) fn finish(self, buf: &mut BytesMut, flexible: bool) -> Result<(), EncodeError> {
        if !flexible {
            return Ok(());
        }
        buf.put_uvarint(too_long(self.fields.len(), "tagged fields")?);
        let mut start = 0;
        for (tag, end) in self.fields {
            buf.put_uvarint(tag);
            buf.put_uvarint(too_long(end - start, "tagged field")?);
            buf.extend_from_slice(&self.data[start..end]);
            start = end;
        }
        Ok(())
    }
}

fn too_long(n: usize, what: &'static str) -> Result<u32, EncodeError> {
    u32::try_from(n).map_err(|_| EncodeError::TooLong { what, len: n })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Reader;

    #[test]
    fn writes_fields_readable_by_reader() {
        let mut w = TagWriter::new();
        w.field(0, |b| {
            b.extend_from_slice(&[1, 2]);
            Ok(())
        })
        .unwrap();
        w.field(5, |b| {
            b.extend_from_slice(&[9]);
            Ok(())
        })
        .unwrap();
        let mut buf = BytesMut::new();
        w.finish(&mut buf, true).unwrap();
        assert_eq!(&buf[..], &[2, 0, 2, 1, 2, 5, 1, 9]);
        let mut seen = Vec::new();
        let mut r = Reader::new(buf.freeze());
        r.tagged_fields(true, |tag, f| {
            seen.push((tag, f.take(f.remaining(), "t").unwrap().to_vec()));
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen, vec![(0, vec![1, 2]), (5, vec![9])]);
    }

    #[test]
    fn empty_and_classic_sections() {
        let mut buf = BytesMut::new();
        TagWriter::new().finish(&mut buf, true).unwrap();
        assert_eq!(&buf[..], &[0]);
        let mut buf = BytesMut::new();
        TagWriter::new().finish(&mut buf, false).unwrap();
        assert!(buf.is_empty());
    }
}
