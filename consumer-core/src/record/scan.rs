//! Reading where fetched record data ends from the batch headers alone, without checking
//! CRCs or decoding records: cheap enough to do for every fetched partition, so the next
//! fetch can be sent before the data is drained.

use super::batch::{be_i32, be_i64, LOG_OVERHEAD, MAGIC_OFFSET};

/// Where `lastOffsetDelta` sits in a magic-2 batch (after base offset, length, partition
/// leader epoch, magic, CRC and attributes).
const LAST_OFFSET_DELTA_OFFSET: usize = 23;

/// The offset after the last complete magic-2 batch of `records`, read from the headers.
///
/// None when no batch is complete, when a header is malformed (decoding reports it), or
/// when legacy (magic 0/1) data is met: its offsets are only known by decoding.
pub fn scan_next_offset(records: &[u8]) -> Option<i64> {
    let mut rest = records;
    let mut next = None;
    while !rest.is_empty() {
        // A partial batch at the end (the broker cuts at the size limits), even one cut
        // inside its offset and length: stop there.
        let (Some(base), Some(size)) = (be_i64(rest, 0), be_i32(rest, 8)) else {
            break;
        };
        let total = LOG_OVERHEAD.checked_add(usize::try_from(size).ok()?)?;
        let Some(entry) = rest.get(..total) else {
            break;
        };
        if entry.get(MAGIC_OFFSET) != Some(&2) {
            return None;
        }
        let delta = be_i32(entry, LAST_OFFSET_DELTA_OFFSET)?;
        next = Some(base.checked_add(i64::from(delta))?.checked_add(1)?);
        rest = rest.get(total..)?;
    }
    next
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::record::{BatchBuilder, DecodeOptions, Record, RecordBatches, RecordSource};

    fn batch(base: i64, count: i64) -> Bytes {
        let records: Vec<Record> = (base..base + count)
            .map(|offset| Record {
                offset,
                value: Some(Bytes::from_static(b"value")),
                ..Record::default()
            })
            .collect();
        BatchBuilder::new(base).build(&records).expect("batch")
    }

    fn decoded_end(records: Bytes) -> Option<i64> {
        let source = RecordSource {
            topic: "t".into(),
            partition: 0,
        };
        RecordBatches::new(source, records, &DecodeOptions::default())
            .map(|b| b.expect("valid").next_offset())
            .last()
    }

    #[test]
    fn end_of_complete_batches_matches_decoding() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&batch(10, 5));
        buf.extend_from_slice(&batch(15, 3));
        let all = buf.freeze();
        assert_eq!(scan_next_offset(&all), Some(18));
        assert_eq!(scan_next_offset(&all), decoded_end(all.clone()));
        // A cut in the second batch leaves the first one's end, wherever the cut falls.
        let first = batch(10, 5).len();
        for cut_at in [all.len() - 7, first + 20, first + 10, first + 3] {
            let cut = all.slice(..cut_at);
            assert_eq!(scan_next_offset(&cut), Some(15), "cut at {cut_at}");
            assert_eq!(scan_next_offset(&cut), decoded_end(cut.clone()));
        }
    }

    #[test]
    fn nothing_complete_or_not_magic_two_is_unknown() {
        let one = batch(0, 2);
        assert_eq!(scan_next_offset(&[]), None);
        assert_eq!(scan_next_offset(&one[..20]), None);
        let mut legacy = one.to_vec();
        legacy[MAGIC_OFFSET] = 1;
        assert_eq!(scan_next_offset(&legacy), None);
        let mut negative = one.to_vec();
        negative[8..12].copy_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(scan_next_offset(&negative), None);
    }
}
