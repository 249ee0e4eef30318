//! Batch-level tests: a hand-written batch, every error path, and round trips.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::codec::DecodeError;

fn src() -> RecordSource {
    RecordSource::new("orders", 3)
}

fn batches(buf: &Bytes, opts: &DecodeOptions) -> RecordBatches {
    RecordBatches::new(src(), buf.clone(), opts)
}

/// Decodes every batch and record, failing on the first error.
fn decode_all(
    buf: &Bytes,
    opts: &DecodeOptions,
) -> Result<Vec<(RecordBatch, Vec<Record>)>, RecordError> {
    let mut out = Vec::new();
    for batch in batches(buf, opts) {
        let batch = batch?;
        let records = batch.records()?.collect::<Result<Vec<_>, _>>()?;
        out.push((batch, records));
    }
    Ok(out)
}

/// Reads a batch through `next_view` and copies each view into a `Record`.
fn views_as_records(batch: &RecordBatch) -> Vec<Record> {
    let mut records = batch.records().unwrap();
    let mut out = Vec::new();
    while let Some(view) = records.next_view() {
        let v = view.unwrap();
        out.push(Record {
            offset: v.offset,
            timestamp: v.timestamp,
            timestamp_type: v.timestamp_type,
            key: v.key.map(Bytes::copy_from_slice),
            value: v.value.map(Bytes::copy_from_slice),
            headers: v
                .headers()
                .map(|h| Header {
                    key: h.key.to_owned(),
                    value: h.value.map(Bytes::copy_from_slice),
                })
                .collect(),
        });
    }
    out
}

/// Reads a batch through `drain_into`, `chunk` records per call, from offset `from`;
/// returns the records and the offset it ends at.
fn drained(
    batch: &RecordBatch,
    from: i64,
    chunk: usize,
) -> Result<(Vec<Record>, i64), RecordError> {
    let mut records = batch.records()?;
    let (mut out, mut next) = (Vec::new(), from);
    loop {
        let limit = out.len() + chunk;
        let done = records.drain_into(&mut next, &mut out, limit, |r| r)?;
        assert!(out.len() <= limit, "more than the limit");
        if done {
            return Ok((out, next));
        }
        assert_eq!(out.len(), limit, "stopped short of the limit");
    }
}

/// What a consumer at `from` is handed from `records`: each record past the last one
/// handed out (a repeated or lower offset is skipped), and the offset it ends at.
fn handed_out(records: &[Record], from: i64) -> (Vec<Record>, i64) {
    let mut next = from;
    let kept = records
        .iter()
        .filter(|r| {
            let keep = r.offset >= next;
            if keep {
                next = r.offset + 1;
            }
            keep
        })
        .cloned()
        .collect();
    (kept, next)
}

fn rec(offset: i64, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) -> Record {
    Record {
        offset,
        timestamp,
        timestamp_type: TimestampType::CreateTime,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: Vec::new(),
    }
}

/// Recomputes the CRC of the magic-2 batch at the start of `buf` after a test edits it.
fn fix_crc(buf: &mut [u8]) {
    let crc = crc32c::crc32c(&buf[21..]);
    buf[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn sample_batch(base_offset: i64, n: i64) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            rec(
                base_offset + i,
                1000 + i,
                Some(b"key"),
                Some(&[i as u8; 20]),
            )
        })
        .collect();
    BatchBuilder::new(base_offset).build(&records).unwrap()
}

/// A batch written byte by byte from the protocol guide: two records, one header.
fn hand_written_batch() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&100i64.to_be_bytes()); // baseOffset
    b.extend_from_slice(&73i32.to_be_bytes()); // batchLength: 49 + 24 bytes of records
    b.extend_from_slice(&5i32.to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&0x1ef1_18b9u32.to_be_bytes()); // crc (CRC-32C of bytes 21..)
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes: none, create time
    b.extend_from_slice(&1i32.to_be_bytes()); // lastOffsetDelta
    b.extend_from_slice(&1_600_000_000_000i64.to_be_bytes()); // baseTimestamp
    b.extend_from_slice(&1_600_000_000_010i64.to_be_bytes()); // maxTimestamp
    b.extend_from_slice(&7i64.to_be_bytes()); // producerId
    b.extend_from_slice(&1i16.to_be_bytes()); // producerEpoch
    b.extend_from_slice(&3i32.to_be_bytes()); // baseSequence
    b.extend_from_slice(&2i32.to_be_bytes()); // records count
                                              // Record 0: length 12, attributes 0, timestampDelta 0, offsetDelta 0,
                                              // key "k", value "hello", no headers.
    b.extend_from_slice(&[0x18, 0x00, 0x00, 0x00, 0x02, b'k', 0x0a]);
    b.extend_from_slice(b"hello");
    b.push(0x00);
    // Record 1: length 10, attributes 0, timestampDelta 10, offsetDelta 1, null key,
    // value "x", one header "h" with a null value.
    b.extend_from_slice(&[
        0x14, 0x00, 0x14, 0x02, 0x01, 0x02, b'x', 0x02, 0x02, b'h', 0x01,
    ]);
    b
}

proptest! {
    /// The batch CRC agrees with an independent CRC-32C implementation for any input,
    /// whatever SIMD path the length takes.
    #[test]
    fn batch_crc_matches_a_reference(data in proptest::collection::vec(any::<u8>(), 0..5000), skip in 0usize..64) {
        let data = data.get(skip.min(data.len())..).unwrap_or_default();
        prop_assert_eq!(crc32c(data), ::crc32c::crc32c(data));
    }
}

#[test]
fn draining_the_last_offsets_wraps_instead_of_panicking() {
    // A broker's batch ending at i64::MAX: the position after it wraps, as the batch's
    // own next_offset does, rather than overflowing.
    let buf = sample_batch(i64::MAX - 1, 2);
    let batch = batches(&buf, &DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap();
    let (records, next) = drained(&batch, i64::MIN, 10).unwrap();
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [i64::MAX - 1, i64::MAX]);
    assert_eq!(next, batch.next_offset());
    assert_eq!(next, i64::MIN);
}

#[test]
fn crc_algorithms_are_the_standard_ones() {
    // The published check values of CRC-32C (Castagnoli) and CRC-32 (IEEE).
    assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(::crc32c::crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
}

#[test]
fn decodes_a_hand_written_batch() {
    let raw = hand_written_batch();
    assert_eq!(raw.len(), 12 + 73);
    assert_eq!(crc32c::crc32c(&raw[21..]), 0x1ef1_18b9);
    let buf = Bytes::from(raw);
    let all = decode_all(&buf, &DecodeOptions::default()).unwrap();
    assert_eq!(all.len(), 1);
    let (batch, records) = &all[0];
    let h = batch.header();
    assert_eq!(h.base_offset, 100);
    assert_eq!(h.batch_length, 73);
    assert_eq!(batch.partition_leader_epoch(), Some(5));
    assert_eq!(batch.magic(), 2);
    assert_eq!(batch.compression(), Compression::None);
    assert_eq!(batch.timestamp_type(), TimestampType::CreateTime);
    assert_eq!(batch.last_offset(), 101);
    assert_eq!(batch.next_offset(), 102);
    assert_eq!(batch.producer_id(), 7);
    assert_eq!(batch.producer_epoch(), 1);
    assert_eq!(h.base_sequence, 3);
    assert_eq!(h.max_timestamp, 1_600_000_000_010);
    assert!(!batch.is_transactional() && !batch.is_control());
    assert_eq!(batch.record_count(), 2);
    let expected = vec![
        rec(100, 1_600_000_000_000, Some(b"k"), Some(b"hello")),
        Record {
            headers: vec![Header {
                key: "h".into(),
                value: None,
            }],
            ..rec(101, 1_600_000_000_010, None, Some(b"x"))
        },
    ];
    assert_eq!(records, &expected);

    // The builder writes exactly the same bytes.
    let built = BatchBuilder {
        partition_leader_epoch: 5,
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 3,
        ..BatchBuilder::new(100)
    }
    .build(&expected)
    .unwrap();
    assert_eq!(built, buf);
}

#[test]
fn values_are_slices_of_the_input() {
    let buf = sample_batch(0, 3);
    let range = buf.as_ptr_range();
    for (_, records) in decode_all(&buf, &DecodeOptions::default()).unwrap() {
        for r in records {
            let v = r.value.unwrap();
            assert!(range.contains(&v.as_ptr()), "value was copied");
        }
    }
}

#[test]
fn crc_mismatch_names_topic_partition_and_offset() {
    let mut raw = BytesMut::from(&sample_batch(42, 3)[..]);
    // The last byte of the last value: the batch still parses, only the CRC tells.
    let last = raw.len() - 2;
    raw[last] ^= 0xff;
    let buf = raw.freeze();
    let err = batches(&buf, &DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap_err();
    assert!(err.is_crc_mismatch());
    assert_eq!(&*err.topic, "orders");
    assert_eq!(err.partition, 3);
    assert_eq!(err.base_offset, 42);
    assert!(err.to_string().contains("orders-3"), "{err}");
    // With `check.crcs` off the same batch decodes.
    let lax = DecodeOptions {
        verify_crc: false,
        ..DecodeOptions::default()
    };
    assert_eq!(decode_all(&buf, &lax).unwrap()[0].1.len(), 3);
}

#[test]
fn a_partial_batch_at_the_end_stops_cleanly() {
    let first = sample_batch(0, 3);
    let second = sample_batch(3, 4);
    let mut whole = first.to_vec();
    whole.extend_from_slice(&second);
    for cut in 0..=whole.len() {
        let buf = Bytes::copy_from_slice(&whole[..cut]);
        let mut it = batches(&buf, &DecodeOptions::default());
        let got: Vec<_> = it.by_ref().collect::<Result<_, _>>().unwrap();
        let complete = usize::from(cut >= first.len()) + usize::from(cut == whole.len());
        assert_eq!(got.len(), complete, "cut at {cut}");
        let consumed = if complete == 0 {
            0
        } else if complete == 1 {
            first.len()
        } else {
            whole.len()
        };
        assert_eq!(it.position(), consumed);
        let tail = cut - consumed;
        assert_eq!(
            it.truncated_tail(),
            (tail > 0).then_some(tail),
            "cut at {cut}"
        );
        assert!(it.next().is_none());
    }
}

fn length_error(buf: &Bytes, opts: &DecodeOptions) -> RecordErrorKind {
    batches(buf, opts).next().unwrap().unwrap_err().kind
}

#[test]
fn bad_batch_lengths_are_errors() {
    let good = sample_batch(9, 2);
    let opts = DecodeOptions::default();
    for bad in [-1i32, -100, 0, 13, i32::MIN] {
        let mut raw = good.to_vec();
        raw[8..12].copy_from_slice(&bad.to_be_bytes());
        let kind = length_error(&Bytes::from(raw), &opts);
        assert!(
            matches!(kind, RecordErrorKind::InvalidBatchLength { length, .. } if length == i64::from(bad)),
            "{bad}: {kind:?}"
        );
    }
    // Above the configured limit: an error even though the bytes are not all there.
    let small = DecodeOptions {
        max_batch_bytes: 40,
        ..opts
    };
    assert!(matches!(
        length_error(&good, &small),
        RecordErrorKind::InvalidBatchLength { max: 40, .. }
    ));
    // Big enough for a legacy message but too small for a magic-2 header.
    let mut raw = good[..12 + 30].to_vec();
    raw[8..12].copy_from_slice(&30i32.to_be_bytes());
    assert!(matches!(
        length_error(&Bytes::from(raw), &opts),
        RecordErrorKind::InvalidBatchLength {
            length: 30,
            min: 49,
            ..
        }
    ));
}

#[test]
fn unknown_magic_and_codec_are_errors() {
    let mut raw = sample_batch(0, 1).to_vec();
    raw[16] = 3;
    assert_eq!(
        length_error(&Bytes::from(raw), &DecodeOptions::default()),
        RecordErrorKind::UnsupportedMagic { magic: 3 }
    );
    let mut raw = sample_batch(0, 1).to_vec();
    raw[22] |= 0x07;
    fix_crc(&mut raw);
    assert_eq!(
        length_error(&Bytes::from(raw), &DecodeOptions::default()),
        RecordErrorKind::UnknownCompression { id: 7 }
    );
}

#[test]
fn implausible_record_counts_are_errors() {
    let opts = DecodeOptions::default();
    for count in [-1i32, 1_000_000] {
        let mut raw = sample_batch(0, 2).to_vec();
        raw[57..61].copy_from_slice(&count.to_be_bytes());
        fix_crc(&mut raw);
        assert!(
            matches!(
                length_error(&Bytes::from(raw), &opts),
                RecordErrorKind::InvalidRecordCount { .. }
            ),
            "{count}"
        );
    }
}

/// Decodes the single batch in `raw` and returns the error its records end with.
fn record_error(raw: Vec<u8>) -> RecordError {
    let buf = Bytes::from(raw);
    let batch = batches(&buf, &DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap();
    let err = batch
        .records()
        .unwrap()
        .find_map(Result::err)
        .expect("records should fail");
    // Views see the same error, then nothing more.
    let mut records = batch.records().unwrap();
    let mut view_err = None;
    while let Some(v) = records.next_view() {
        if let Err(e) = v {
            view_err = Some(e);
        }
    }
    assert_eq!(view_err.as_ref(), Some(&err));
    assert!(records.next().is_none());
    // Draining hands out the records before the bad one, then the same error.
    let good = batch.records().unwrap().take_while(Result::is_ok).count();
    let (mut records, mut next, mut out) = (batch.records().unwrap(), i64::MIN, Vec::new());
    assert_eq!(
        records.drain_into(&mut next, &mut out, usize::MAX, |r| r),
        Err(err.clone())
    );
    assert_eq!(out.len(), good);
    assert_eq!(
        records.drain_into(&mut next, &mut out, usize::MAX, |r| r),
        Ok(true)
    );
    err
}

#[test]
fn record_count_must_match_the_records() {
    // Count says three, two are present.
    let mut raw = sample_batch(5, 2).to_vec();
    raw[57..61].copy_from_slice(&3i32.to_be_bytes());
    fix_crc(&mut raw);
    let err = record_error(raw);
    assert_eq!(err.base_offset, 5);
    assert!(matches!(
        err.kind,
        RecordErrorKind::Malformed(DecodeError::Truncated { .. })
    ));
    // Count says one, two are present.
    let mut raw = sample_batch(5, 2).to_vec();
    raw[57..61].copy_from_slice(&1i32.to_be_bytes());
    fix_crc(&mut raw);
    assert!(matches!(
        record_error(raw).kind,
        RecordErrorKind::Malformed(DecodeError::TrailingBytes { .. })
    ));
}

#[test]
fn malformed_records_are_errors() {
    let base = hand_written_batch();
    let cases: Vec<(usize, u8)> = vec![
        (61, 0x16), // record length 11 instead of 12: fields overrun it
        (61, 0x1a), // record length 13: a byte left over
        (61, 0x7e), // record length 63: far past the batch
        (61, 0x03), // record length -2
        (65, 0x7e), // key length 63: past the record
        (65, 0x03), // key length -2
        (81, 0x01), // header count -1
        (81, 0x7e), // header count 63: more than the bytes left
        (82, 0x01), // null header key
    ];
    for (at, byte) in cases {
        let mut raw = base.clone();
        raw[at] = byte;
        fix_crc(&mut raw);
        let err = record_error(raw);
        assert_eq!((err.base_offset, err.partition), (100, 3));
        assert!(
            matches!(err.kind, RecordErrorKind::Malformed(_)),
            "byte {at}: {err}"
        );
    }
    // A header key that is not UTF-8.
    let mut raw = base.clone();
    let last = raw.len();
    raw[last - 2] = 0xff;
    fix_crc(&mut raw);
    assert!(matches!(
        record_error(raw).kind,
        RecordErrorKind::Malformed(DecodeError::Utf8 { .. })
    ));
}

#[test]
fn log_append_time_replaces_record_timestamps() {
    let records = vec![rec(0, 10, None, Some(b"a")), rec(1, 20, None, Some(b"b"))];
    let buf = BatchBuilder {
        timestamp_type: TimestampType::LogAppendTime,
        max_timestamp: Some(999),
        ..BatchBuilder::new(0)
    }
    .build(&records)
    .unwrap();
    let all = decode_all(&buf, &DecodeOptions::default()).unwrap();
    for r in &all[0].1 {
        assert_eq!(
            (r.timestamp, r.timestamp_type),
            (999, TimestampType::LogAppendTime)
        );
    }
}

#[test]
fn control_batches_expose_their_marker() {
    let marker = Record {
        key: Some(Bytes::copy_from_slice(&ControlRecord::key(
            ControlRecordType::Commit,
        ))),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        ..rec(50, 1, None, None)
    };
    let buf = BatchBuilder {
        control: true,
        transactional: true,
        producer_id: 77,
        producer_epoch: 2,
        ..BatchBuilder::new(50)
    }
    .build(&[marker])
    .unwrap();
    let batch = batches(&buf, &DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap();
    assert!(batch.is_control() && batch.is_transactional());
    assert_eq!(batch.producer_id(), 77);
    let control = batch.control_record().unwrap().unwrap();
    assert_eq!(control.kind, ControlRecordType::Commit);
    assert_eq!(control.version, 0);
    assert_eq!(
        ControlRecord::parse(&[0, 0, 0, 0]).unwrap().kind,
        ControlRecordType::Abort
    );
    assert!(ControlRecord::parse(&[0, 0, 0]).is_err());
    assert!(ControlRecord::parse(&[0xff, 0xff, 0, 0]).is_err());
    // A data batch has no marker.
    let data = sample_batch(0, 1);
    let batch = batches(&data, &DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.control_record().unwrap(), None);
}

#[test]
fn delete_horizon_is_exposed_and_timestamps_stay_right() {
    let records = vec![rec(0, 5000, None, None), rec(1, 5100, None, None)];
    let buf = BatchBuilder {
        delete_horizon_ms: Some(4000),
        ..BatchBuilder::new(0)
    }
    .build(&records)
    .unwrap();
    let all = decode_all(&buf, &DecodeOptions::default()).unwrap();
    assert_eq!(all[0].0.header().delete_horizon_ms(), Some(4000));
    assert_eq!(all[0].1, records);
}

#[test]
fn compaction_gaps_and_empty_batches() {
    // Offsets 10 and 14 survive; the batch still ends at 19.
    let records = vec![rec(10, 1, None, Some(b"a")), rec(14, 2, None, Some(b"b"))];
    let mut buf = BytesMut::new();
    BatchBuilder {
        last_offset_delta: Some(9),
        ..BatchBuilder::new(10)
    }
    .encode(&records, &mut buf)
    .unwrap();
    BatchBuilder {
        last_offset_delta: Some(4),
        ..BatchBuilder::new(20)
    }
    .encode(&[], &mut buf)
    .unwrap();
    let all = decode_all(&buf.freeze(), &DecodeOptions::default()).unwrap();
    assert_eq!(all[0].1, records);
    assert_eq!(all[0].0.next_offset(), 20);
    assert!(all[1].1.is_empty());
    assert_eq!(all[1].0.next_offset(), 25);
}

#[cfg(any(
    feature = "gzip",
    feature = "zstd",
    feature = "lz4",
    feature = "snappy"
))]
#[test]
fn a_decompression_bomb_is_an_error() {
    let zeros = vec![0u8; 1 << 20];
    let records = vec![rec(0, 0, None, Some(&zeros))];
    let opts = DecodeOptions {
        max_decompressed_bytes: 64 << 10,
        ..DecodeOptions::default()
    };
    for codec in Compression::ALL {
        if codec == Compression::None || !codec.is_enabled() {
            continue;
        }
        let buf = BatchBuilder::new(0)
            .with_compression(codec)
            .build(&records)
            .unwrap();
        assert!(buf.len() < 64 << 10, "{codec:?} did not compress");
        let batch = batches(&buf, &opts).next().unwrap().unwrap();
        let err = batch.records().unwrap_err();
        assert_eq!(err.base_offset, 0);
        assert_eq!(
            err.kind,
            RecordErrorKind::DecompressedTooLarge {
                codec,
                limit: 64 << 10
            }
        );
    }
}

#[cfg(feature = "zstd")]
#[test]
fn compressed_record_count_is_checked_against_the_limit() {
    let mut raw = BatchBuilder::new(0)
        .with_compression(Compression::Zstd)
        .build(&[rec(0, 0, None, None)])
        .unwrap()
        .to_vec();
    raw[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crc(&mut raw);
    assert!(matches!(
        length_error(&Bytes::from(raw), &DecodeOptions::default()),
        RecordErrorKind::InvalidRecordCount { .. }
    ));
}

#[cfg(feature = "snappy")]
#[test]
fn raw_snappy_batches_decode_too() {
    // librdkafka writes snappy without the xerial framing.
    let records = vec![
        rec(0, 1, Some(b"k"), Some(b"v")),
        rec(1, 2, None, Some(b"w")),
    ];
    let mut raw = BatchBuilder::new(0).build(&records).unwrap().to_vec();
    let packed = compression::compress_snappy_raw(&raw[61..]).unwrap();
    raw.truncate(61);
    raw.extend_from_slice(&packed);
    let len = (raw.len() - 12) as i32;
    raw[8..12].copy_from_slice(&len.to_be_bytes());
    raw[22] |= Compression::Snappy.id();
    fix_crc(&mut raw);
    let all = decode_all(&Bytes::from(raw), &DecodeOptions::default()).unwrap();
    assert_eq!(all[0].1, records);
}

#[test]
fn disabled_codecs_are_typed_errors() {
    for codec in Compression::ALL {
        if codec.is_enabled() {
            continue;
        }
        let mut raw = sample_batch(0, 1).to_vec();
        raw[22] |= codec.id();
        fix_crc(&mut raw);
        let buf = Bytes::from(raw);
        let batch = batches(&buf, &DecodeOptions::default())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(
            batch.records().unwrap_err().kind,
            RecordErrorKind::CompressionDisabled { codec }
        );
    }
}

// ---- legacy message sets ----

/// A magic-0 message written by hand: offset 7, key "k", value "v".
#[test]
fn decodes_a_hand_written_magic0_message() {
    let mut body = vec![0u8, 0]; // magic 0, attributes 0
    body.extend_from_slice(&1i32.to_be_bytes());
    body.push(b'k');
    body.extend_from_slice(&1i32.to_be_bytes());
    body.push(b'v');
    let mut raw = Vec::new();
    raw.extend_from_slice(&7i64.to_be_bytes());
    raw.extend_from_slice(&((4 + body.len()) as i32).to_be_bytes());
    raw.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    raw.extend_from_slice(&body);
    let buf = Bytes::from(raw);
    let all = decode_all(&buf, &DecodeOptions::default()).unwrap();
    let (batch, records) = &all[0];
    assert_eq!(batch.magic(), 0);
    assert_eq!(batch.next_offset(), 8);
    assert_eq!(batch.partition_leader_epoch(), None);
    assert_eq!(
        records,
        &vec![Record {
            timestamp_type: TimestampType::NoTimestamp,
            ..rec(7, -1, Some(b"k"), Some(b"v"))
        }]
    );
    // And the builder agrees byte for byte.
    let built = LegacyBuilder {
        magic: 0,
        compression: Compression::None,
        log_append_time: None,
    }
    .build(&records.clone())
    .unwrap();
    assert_eq!(built, buf);
    // A flipped bit is a CRC error.
    let mut bad = buf.to_vec();
    bad[20] ^= 1;
    let err = batches(&Bytes::from(bad), &DecodeOptions::default())
        .next()
        .unwrap()
        .unwrap_err();
    assert!(err.is_crc_mismatch());
    assert_eq!(err.base_offset, 7);
}

#[cfg(feature = "gzip")]
#[test]
fn magic1_wrappers_use_relative_offsets_and_append_time() {
    let records = vec![
        rec(100, 1, None, Some(b"a")),
        rec(102, 2, Some(b"k"), Some(b"b")),
    ];
    let buf = LegacyBuilder {
        magic: 1,
        compression: Compression::Gzip,
        log_append_time: Some(555),
    }
    .build(&records)
    .unwrap();
    // The wrapper's offset is the last inner offset; inner offsets count from 0.
    assert_eq!(i64::from_be_bytes(buf[..8].try_into().unwrap()), 102);
    let all = decode_all(&buf, &DecodeOptions::default()).unwrap();
    let (batch, got) = &all[0];
    assert_eq!((batch.base_offset(), batch.last_offset()), (100, 102));
    assert_eq!(batch.compression(), Compression::Gzip);
    assert_eq!(batch.record_count(), 2);
    let offsets: Vec<_> = got
        .iter()
        .map(|r| (r.offset, r.timestamp, r.timestamp_type))
        .collect();
    assert_eq!(
        offsets,
        vec![
            (100, 555, TimestampType::LogAppendTime),
            (102, 555, TimestampType::LogAppendTime)
        ]
    );
}

#[test]
fn legacy_zstd_and_headers_are_refused() {
    let mut raw = LegacyBuilder {
        magic: 1,
        compression: Compression::None,
        log_append_time: None,
    }
    .build(&[rec(0, 0, None, Some(b"x"))])
    .unwrap()
    .to_vec();
    raw[17] = Compression::Zstd.id();
    let crc = crc32fast::hash(&raw[16..]);
    raw[12..16].copy_from_slice(&crc.to_be_bytes());
    assert!(matches!(
        length_error(&Bytes::from(raw), &DecodeOptions::default()),
        RecordErrorKind::CompressionNotAllowed { magic: 1, .. }
    ));
    let with_header = Record {
        headers: vec![Header::default()],
        ..Record::default()
    };
    assert!(LegacyBuilder {
        magic: 1,
        compression: Compression::None,
        log_append_time: None
    }
    .build(&[with_header])
    .is_err());
}

#[test]
fn legacy_and_v2_batches_can_follow_each_other() {
    let mut buf = LegacyBuilder {
        magic: 1,
        compression: Compression::None,
        log_append_time: None,
    }
    .build(&[rec(0, 5, None, Some(b"old"))])
    .unwrap()
    .to_vec();
    buf.extend_from_slice(&sample_batch(1, 2));
    let all = decode_all(&Bytes::from(buf), &DecodeOptions::default()).unwrap();
    let magics: Vec<_> = all.iter().map(|(b, _)| b.magic()).collect();
    assert_eq!(magics, vec![1, 2]);
    assert_eq!(all[0].1[0].timestamp, 5);
}

// ---- round trips ----

fn opt_bytes() -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from))
}

fn header() -> impl Strategy<Value = Header> {
    ("\\PC{0,8}", opt_bytes()).prop_map(|(key, value)| Header { key, value })
}

/// Records with increasing offsets (gaps allowed) from `base`.
fn records(with_headers: bool) -> impl Strategy<Value = Vec<Record>> {
    let max_headers = if with_headers { 3 } else { 0 };
    proptest::collection::vec(
        (
            0i64..3,
            -1_000_000i64..1_000_000,
            opt_bytes(),
            opt_bytes(),
            proptest::collection::vec(header(), 0..=max_headers),
        ),
        0..12,
    )
    .prop_map(|items| {
        let mut offset = 0;
        items
            .into_iter()
            .map(|(gap, ts, key, value, headers)| {
                offset += gap;
                Record {
                    offset,
                    timestamp: 1_700_000_000_000 + ts,
                    timestamp_type: TimestampType::CreateTime,
                    key,
                    value,
                    headers,
                }
            })
            .collect()
    })
}

fn codec() -> impl Strategy<Value = Compression> {
    proptest::sample::select(
        Compression::ALL
            .into_iter()
            .filter(|c| c.is_enabled())
            .collect::<Vec<_>>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn v2_batches_round_trip(
        batches_in in proptest::collection::vec((records(true), codec(), any::<bool>(), 0i64..1000, -1i32..10), 1..4),
        chunk in 1usize..8,
        skip in 0usize..6,
    ) {
        let mut buf = BytesMut::new();
        let mut expected = Vec::new();
        let mut next = 0i64;
        for (recs, codec, transactional, producer_id, epoch) in batches_in {
            let recs: Vec<Record> = recs
                .into_iter()
                .map(|r| Record { offset: r.offset + next, ..r })
                .collect();
            let builder = BatchBuilder {
                compression: codec,
                transactional,
                producer_id,
                partition_leader_epoch: epoch,
                ..BatchBuilder::new(next)
            };
            builder.encode(&recs, &mut buf).unwrap();
            next = recs.last().map_or(next, |r| r.offset) + 1;
            expected.push((builder, recs));
        }
        let buf = buf.freeze();
        let all = decode_all(&buf, &DecodeOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(all.len(), expected.len());
        for ((batch, got), (builder, want)) in all.iter().zip(&expected) {
            prop_assert_eq!(got, want);
            prop_assert_eq!(&views_as_records(batch), want);
            // Draining in chunks from an offset gives the records at or after it.
            let from = want.get(skip).map_or(0, |r| r.offset);
            let got = drained(batch, from, chunk).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(got, handed_out(want, from));
            prop_assert_eq!(batch.compression(), builder.compression);
            prop_assert_eq!(batch.is_transactional(), builder.transactional);
            prop_assert_eq!(batch.producer_id(), builder.producer_id);
            prop_assert_eq!(batch.header().partition_leader_epoch, builder.partition_leader_epoch);
            prop_assert_eq!(batch.base_offset(), builder.base_offset);
            prop_assert_eq!(batch.record_count(), want.len());
            if let Some(last) = want.last() {
                prop_assert_eq!(batch.last_offset(), last.offset);
            }
        }
    }

    #[test]
    fn legacy_message_sets_round_trip(
        recs in records(false),
        magic in 0i8..=1,
        codec in codec().prop_filter("zstd needs magic 2", |c| *c != Compression::Zstd),
    ) {
        let recs: Vec<Record> = recs
            .into_iter()
            .map(|r| if magic == 0 {
                Record { timestamp: -1, timestamp_type: TimestampType::NoTimestamp, ..r }
            } else {
                r
            })
            .collect();
        let buf = LegacyBuilder { magic, compression: codec, log_append_time: None }.build(&recs).unwrap();
        let all = decode_all(&buf, &DecodeOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Vec<Record> = all.iter().flat_map(|(_, r)| r.clone()).collect();
        prop_assert_eq!(&got, &recs);
        let viewed: Vec<Record> = all.iter().flat_map(|(b, _)| views_as_records(b)).collect();
        prop_assert_eq!(&viewed, &recs);
        let (mut drained_all, mut next) = (Vec::new(), i64::MIN);
        for (batch, _) in &all {
            let (mut got, after) = drained(batch, next, 3).map_err(|e| TestCaseError::fail(e.to_string()))?;
            drained_all.append(&mut got);
            next = after;
        }
        prop_assert_eq!((drained_all, next), handed_out(&recs, i64::MIN));
        for (batch, _) in &all {
            prop_assert_eq!(batch.magic(), magic);
            prop_assert_eq!(batch.compression(), codec);
        }
    }

    #[test]
    fn any_prefix_decodes_or_stops_cleanly(recs in records(true), codec in codec(), cut in any::<prop::sample::Index>()) {
        let mut buf = BatchBuilder::new(0).with_compression(codec).build(&recs).unwrap().to_vec();
        let later: Vec<Record> = recs.iter().map(|r| Record { offset: r.offset + 1000, ..r.clone() }).collect();
        buf.extend_from_slice(&BatchBuilder::new(1000).build(&later).unwrap());
        let cut = cut.index(buf.len() + 1);
        let prefix = Bytes::copy_from_slice(&buf[..cut]);
        // Never an error: complete batches decode, a partial one is reported as a tail.
        let mut it = batches(&prefix, &DecodeOptions::default());
        let mut consumed = 0;
        for batch in it.by_ref() {
            let batch = batch.map_err(|e| TestCaseError::fail(e.to_string()))?;
            consumed += batch.header().size_in_bytes();
            for r in batch.records().map_err(|e| TestCaseError::fail(e.to_string()))? {
                r.map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        prop_assert_eq!(it.truncated_tail().unwrap_or(0) + consumed, cut);
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), verify_crc: bool) {
        let buf = Bytes::from(data);
        let opts = DecodeOptions { verify_crc, max_decompressed_bytes: 1 << 16, ..DecodeOptions::default() };
        for batch in batches(&buf, &opts).flatten() {
            if let Ok(records) = batch.records() {
                for r in records {
                    let _ = r;
                }
            }
        }
    }
}

/// Like `garbage_never_panics`, but starting from valid batches with bytes flipped, so the
/// decoder gets deep into records (CRC checking off).
#[test]
fn corrupted_batches_never_panic() {
    let recs: Vec<Record> = (0..5)
        .map(|i| Record {
            headers: vec![Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"v")),
            }],
            ..rec(i, i, Some(b"key"), Some(b"value"))
        })
        .collect();
    let good = BatchBuilder::new(0).build(&recs).unwrap();
    let opts = DecodeOptions {
        verify_crc: false,
        ..DecodeOptions::default()
    };
    for at in 0..good.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut raw = good.to_vec();
            raw[at] ^= flip;
            let buf = Bytes::from(raw);
            for batch in batches(&buf, &opts).flatten() {
                if let Ok(records) = batch.records() {
                    records.for_each(drop);
                }
            }
        }
    }
}
