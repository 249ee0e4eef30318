//! The `record_batches` check: one partition's `records` bytes through `RecordBatches`,
//! every batch and every record, with decompression.
//!
//! Input layout: `[mode, rest...]`, `mode % 3`:
//! - 0: `rest` is the partition's bytes, decoded with the default options (CRC checked)
//!   but a 1 MiB decompression limit;
//! - 1: the same without CRC checks, so mutations of valid batches reach the header,
//!   decompression and record parsers;
//! - 2: `rest` drives [`PartitionSpec`] (via `arbitrary`): batches in every format and
//!   codec are built from fuzzer-chosen records with `BatchBuilder`/`LegacyBuilder`, then
//!   optionally mutated or truncated, and decoded with a 64 KiB limit. Unmutated,
//!   decoding must give back exactly the records built (or, for a compressed batch over
//!   the limit, `DecompressedTooLarge`); truncated only, the complete batches must come
//!   back and the rest be reported as a truncated tail.
//!
//! Always: no panic; heap use bounded by the input (plus the decompression limit when a
//! batch is compressed); the owned records and the borrowed views agree; a batch yields
//! no more records than its header announces; position and truncated tail add up.

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use consumer_core::record::{
    BatchBuilder, Compression, DecodeOptions, Header, LegacyBuilder, Record, RecordBatches,
    RecordErrorKind, RecordSource, RecordView, TimestampType,
};

use crate::alloc;

/// The decompression limit of the raw modes.
pub const MAX_DECOMPRESSED: usize = 1 << 20;

/// The decompression limit of the structured mode: small, so that crossing it takes
/// building and compressing only a few hundred KiB per execution.
pub const STRUCTURED_MAX_DECOMPRESSED: usize = 64 << 10;

/// Heap a decode may use on top of the per-input-byte allowance when a batch claims a
/// codec, per byte of the decompression limit: the decompressed buffer (growing by
/// doubling), plus, for legacy wrappers, the eagerly decoded inner messages (~100 bytes
/// each, from 26 bytes of inflated data).
pub const DECOMPRESSION_ALLOWANCE_FACTOR: usize = 16;

/// Fixed heap for a decompressor's state (miniz_oxide's inflater is ~40 KiB, plus
/// buffers), allowed whenever a batch claims a codec.
pub const DECOMPRESSOR_STATE: usize = 256 << 10;

/// The options a mode decodes with.
pub fn options(verify_crc: bool, max_decompressed_bytes: usize) -> DecodeOptions {
    DecodeOptions {
        verify_crc,
        max_decompressed_bytes,
        ..DecodeOptions::default()
    }
}

/// Builds an input for [`check`] in mode 0 or 1 from a partition's bytes.
pub fn raw_input(verify_crc: bool, records: &[u8]) -> Vec<u8> {
    let mut out = vec![if verify_crc { 0 } else { 1 }];
    out.extend_from_slice(records);
    out
}

/// Decodes `data` as described in the module docs; panics on any broken invariant.
pub fn check(data: &[u8]) {
    let [mode, rest @ ..] = data else {
        return;
    };
    match mode % 3 {
        0 => drop(decode(Bytes::copy_from_slice(rest), true, MAX_DECOMPRESSED)),
        1 => drop(decode(
            Bytes::copy_from_slice(rest),
            false,
            MAX_DECOMPRESSED,
        )),
        _ => {
            if let Ok(spec) = PartitionSpec::arbitrary_take_rest(Unstructured::new(rest)) {
                structured(&spec);
            }
        }
    }
}

/// What came out of one partition's bytes.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every record of every batch, in order, up to the first error.
    pub records: Vec<Record>,
    /// The first error, if any.
    pub error: Option<RecordErrorKind>,
    /// Bytes of an incomplete batch at the end.
    pub truncated_tail: Option<usize>,
    /// Bytes consumed by complete batches.
    pub position: usize,
}

/// Iterates every batch and record of `bytes`, checking the invariants that hold for any
/// input, and measures the heap used against what the input justifies.
pub fn decode(bytes: Bytes, verify_crc: bool, max_decompressed: usize) -> Outcome {
    let len = bytes.len();
    // Decompressors allocate their state and output whether or not the batch then turns
    // out valid, so the allowance goes by what the framing claims, not by what decoded.
    let allowed = if claims_compression(&bytes) {
        DECOMPRESSION_ALLOWANCE_FACTOR * max_decompressed + DECOMPRESSOR_STATE
    } else {
        0
    };
    let (outcome, peak) = alloc::measure(|| walk(bytes, verify_crc, max_decompressed));
    alloc::assert_justified("record batches", peak, len, allowed);
    if let Some(tail) = outcome.truncated_tail {
        assert_eq!(outcome.position + tail, len, "position + truncated tail");
    }
    assert!(outcome.position <= len);
    outcome
}

/// True if any complete entry (batch or legacy message) of `bytes` has codec bits set:
/// an independent walk of the framing (offset i64, size i32, then magic at byte 16;
/// attributes i16 at 21 in magic 2, i8 at 17 in magic 0 and 1).
fn claims_compression(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some(size) = rest.get(8..12) {
        let size = i32::from_be_bytes([size[0], size[1], size[2], size[3]]);
        let Some(entry) = usize::try_from(size).ok().and_then(|n| rest.get(..12 + n)) else {
            return false;
        };
        let codec = match entry.get(16) {
            Some(2) => entry.get(22).copied(),
            Some(0 | 1) => entry.get(17).copied(),
            _ => None,
        };
        if codec.is_some_and(|a| a & 0x07 != 0) {
            return true;
        }
        rest = &rest[entry.len()..];
    }
    false
}

fn walk(bytes: Bytes, verify_crc: bool, max_decompressed: usize) -> Outcome {
    let source = RecordSource::new("fuzz", 0);
    let mut batches = RecordBatches::new(source, bytes, &options(verify_crc, max_decompressed));
    let mut out = Outcome::default();
    for item in batches.by_ref() {
        let batch = match item {
            Ok(batch) => batch,
            Err(e) => {
                out.error = Some(e.kind);
                break;
            }
        };
        // Every accessor, for the arithmetic in them (offsets, deltas).
        let header = batch.header();
        let _ = (header.delete_horizon_ms(), header.size_in_bytes());
        let _ = (
            batch.base_offset(),
            batch.last_offset(),
            batch.next_offset(),
        );
        let _ = (
            batch.magic(),
            batch.timestamp_type(),
            batch.is_transactional(),
        );
        let _ = (batch.producer_id(), batch.producer_epoch());
        let _ = batch.partition_leader_epoch();
        let _ = batch.control_record();
        let announced = batch.record_count();
        let (mut owned, mut views) = match (batch.records(), batch.records()) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                out.error = Some(e.kind);
                break;
            }
        };
        let mut yielded = 0usize;
        loop {
            let record = owned.next();
            let view = views.next_view();
            match (record, view) {
                (None, None) => break,
                (Some(Ok(r)), Some(Ok(v))) => {
                    assert_same(&r, &v);
                    yielded += 1;
                    assert!(
                        yielded <= announced,
                        "{yielded} records from a batch announcing {announced}"
                    );
                    out.records.push(r);
                }
                (Some(Err(a)), Some(Err(b))) => {
                    assert_eq!(a, b, "owned records and views fail differently");
                    out.error = Some(a.kind);
                    break;
                }
                (r, v) => panic!("owned records and views disagree: {r:?} vs {v:?}"),
            }
        }
        if out.error.is_some() {
            break;
        }
    }
    out.truncated_tail = batches.truncated_tail();
    out.position = batches.position();
    out
}

/// Panics unless the view shows the same record as the owned one.
fn assert_same(r: &Record, v: &RecordView<'_>) {
    assert_eq!(
        (r.offset, r.timestamp, r.timestamp_type),
        (v.offset, v.timestamp, v.timestamp_type),
        "owned record and view differ"
    );
    assert_eq!(r.key.as_deref(), v.key, "key of owned record and view");
    assert_eq!(
        r.value.as_deref(),
        v.value,
        "value of owned record and view"
    );
    let mut views = v.headers();
    for h in &r.headers {
        let hv = views
            .next()
            .expect("a view lacks a header of its owned record");
        assert_eq!((h.key.as_str(), h.value.as_deref()), (hv.key, hv.value));
    }
    assert!(
        views.next().is_none(),
        "a view has more headers than its owned record"
    );
}

/// A partition's bytes to build, and what to do to them.
#[derive(Debug, Arbitrary)]
pub struct PartitionSpec {
    /// The batches, in order.
    pub batches: Vec<BatchSpec>,
    /// Byte edits applied to the built bytes (positions wrap around).
    pub mutations: Vec<Mutation>,
    /// Cut the built bytes to this many (modulo their length + 1).
    pub truncate: Option<u32>,
}

/// One batch (or legacy message set) to build.
#[derive(Debug, Arbitrary)]
pub struct BatchSpec {
    /// Record format.
    pub format: Format,
    /// Codec id (modulo the codecs the format allows).
    pub codec: u8,
    /// Base offset (small, so record offsets cannot overflow).
    pub base_offset: u32,
    /// Log-append time instead of create time.
    pub log_append_time: Option<i64>,
    /// Transactional bit (magic 2).
    pub transactional: bool,
    /// Control bit (magic 2).
    pub control: bool,
    /// Delete horizon (magic 2).
    pub delete_horizon_ms: Option<i64>,
    /// Leader epoch (magic 2).
    pub partition_leader_epoch: i32,
    /// The records.
    pub records: Vec<RecordSpec>,
}

/// Record format of a [`BatchSpec`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Format {
    /// Magic 2.
    V2,
    /// Magic 0 message set.
    Legacy0,
    /// Magic 1 message set.
    Legacy1,
}

/// One record to build.
#[derive(Debug, Arbitrary)]
pub struct RecordSpec {
    /// Offset minus the previous record's (the first: minus the base offset).
    pub offset_gap: u8,
    /// Create time.
    pub timestamp: i64,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: ValueSpec,
    /// Headers (magic 2 only; dropped for legacy formats).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A record value: bytes from the input, or a long run that compresses well (to cross
/// the decompression limit with a small input).
#[derive(Debug, Arbitrary)]
pub enum ValueSpec {
    /// Null (a tombstone).
    Null,
    /// These bytes.
    Bytes(Vec<u8>),
    /// `byte` repeated `units` KiB times (up to 255 KiB).
    Run {
        /// The byte.
        byte: u8,
        /// Length in KiB.
        units: u8,
    },
}

/// An edit of the built bytes.
#[derive(Debug, Arbitrary)]
pub enum Mutation {
    /// XOR a byte.
    Xor {
        /// Position (wraps).
        at: u32,
        /// Mask.
        mask: u8,
    },
    /// Overwrite four bytes (a length, a count, a varint).
    Put {
        /// Position (wraps).
        at: u32,
        /// Big-endian value.
        value: i32,
    },
    /// Remove bytes.
    Remove {
        /// Position (wraps).
        at: u32,
        /// How many (up to 255).
        len: u8,
    },
}

/// A batch as built and the records a decoder must give back for it.
struct Built {
    bytes: Bytes,
    expected: Vec<Record>,
    compression: Compression,
    /// Lower and upper bound of the bytes the records take uncompressed.
    raw_size: (usize, usize),
}

/// Most bytes of `ValueSpec::Run` values in one input: enough to cross the limit, small
/// enough to keep executions fast and memory low.
const RUN_BUDGET: usize = 3 * STRUCTURED_MAX_DECOMPRESSED;

/// Builds `spec`: one batch, or for an uncompressed legacy set one per message (each is
/// its own entry for the decoder, and a truncation may keep some of them).
fn build(spec: &BatchSpec, run_budget: &mut usize) -> Option<Vec<Built>> {
    let legacy = spec.format != Format::V2;
    let compression = if legacy {
        // Zstd needs magic 2.
        Compression::ALL[usize::from(spec.codec) % 4]
    } else {
        Compression::ALL[usize::from(spec.codec) % 5]
    };
    if !compression.is_enabled() {
        return None;
    }
    let mut offset = i64::from(spec.base_offset);
    let mut records = Vec::with_capacity(spec.records.len());
    let mut sizes = Vec::with_capacity(spec.records.len());
    for r in &spec.records {
        offset += i64::from(r.offset_gap);
        let value = match &r.value {
            ValueSpec::Null => None,
            ValueSpec::Bytes(b) => Some(Bytes::copy_from_slice(b)),
            ValueSpec::Run { byte, units } => {
                let n = usize::from(*units) * 1024;
                *run_budget = run_budget.checked_sub(n)?;
                Some(Bytes::from(vec![*byte; n]))
            }
        };
        let headers: Vec<Header> = if legacy {
            Vec::new()
        } else {
            r.headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.clone(),
                    value: v.as_deref().map(Bytes::copy_from_slice),
                })
                .collect()
        };
        let payload = r.key.as_ref().map_or(0, Vec::len)
            + value.as_ref().map_or(0, Bytes::len)
            + headers
                .iter()
                .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
                .sum::<usize>();
        // Varints of a record and its headers, or a legacy message's fixed fields.
        sizes.push((payload, payload + 40 + 10 * headers.len()));
        records.push(Record {
            offset,
            timestamp: r.timestamp,
            timestamp_type: TimestampType::CreateTime,
            key: r.key.as_deref().map(Bytes::copy_from_slice),
            value,
            headers,
        });
    }
    let expect = |r: &Record| {
        let mut r = r.clone();
        match (spec.format, spec.log_append_time) {
            (Format::Legacy0, _) => {
                r.timestamp = -1;
                r.timestamp_type = TimestampType::NoTimestamp;
            }
            (_, Some(t)) => {
                r.timestamp = t;
                r.timestamp_type = TimestampType::LogAppendTime;
            }
            (_, None) => {}
        }
        r
    };
    let sum = |s: &[(usize, usize)]| s.iter().fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if spec.format == Format::V2 {
        let builder = BatchBuilder {
            partition_leader_epoch: spec.partition_leader_epoch,
            compression,
            timestamp_type: if spec.log_append_time.is_some() {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            transactional: spec.transactional,
            control: spec.control,
            delete_horizon_ms: spec.delete_horizon_ms,
            max_timestamp: spec.log_append_time,
            ..BatchBuilder::new(i64::from(spec.base_offset))
        };
        return Some(vec![Built {
            bytes: builder.build(&records).ok()?,
            expected: records.iter().map(expect).collect(),
            compression,
            raw_size: sum(&sizes),
        }]);
    }
    let builder = LegacyBuilder {
        magic: if spec.format == Format::Legacy0 { 0 } else { 1 },
        compression,
        log_append_time: spec.log_append_time,
    };
    if compression == Compression::None {
        return records
            .iter()
            .zip(&sizes)
            .map(|(r, size)| {
                Some(Built {
                    bytes: builder.build(std::slice::from_ref(r)).ok()?,
                    expected: vec![expect(r)],
                    compression,
                    raw_size: *size,
                })
            })
            .collect();
    }
    Some(vec![Built {
        bytes: builder.build(&records).ok()?,
        expected: records.iter().map(expect).collect(),
        compression,
        raw_size: sum(&sizes),
    }])
}

/// Builds, mutates and decodes `spec`, checking the results (see the module docs).
pub fn structured(spec: &PartitionSpec) {
    let mut all = BytesMut::new();
    // Per batch: where it ends and what it must decode to.
    let mut built = Vec::new();
    let mut run_budget = RUN_BUDGET;
    for b in &spec.batches {
        let Some(batches) = build(b, &mut run_budget) else {
            return;
        };
        for batch in batches {
            all.extend_from_slice(&batch.bytes);
            built.push((all.len(), batch));
        }
    }
    let mut bytes = all.to_vec();
    for m in &spec.mutations {
        mutate(&mut bytes, m);
    }
    let mutated = !spec.mutations.is_empty();
    if let Some(t) = spec.truncate {
        let keep = t as usize % (bytes.len() + 1);
        bytes.truncate(keep);
    }
    let len = bytes.len();
    let outcome = decode(Bytes::from(bytes), !mutated, STRUCTURED_MAX_DECOMPRESSED);
    if mutated {
        return;
    }

    // Unmutated: the complete batches decode exactly, up to the first one whose records
    // inflate past the limit, which must fail as too large.
    let mut expected = Vec::new();
    let mut end_of_complete = 0;
    for (end, batch) in &built {
        if *end > len {
            break;
        }
        let (low, high) = batch.raw_size;
        if batch.compression != Compression::None && !batch.expected.is_empty() {
            if low > STRUCTURED_MAX_DECOMPRESSED {
                assert_eq!(
                    outcome.records, expected,
                    "records before an oversized batch"
                );
                assert!(
                    matches!(
                        outcome.error,
                        Some(RecordErrorKind::DecompressedTooLarge { .. })
                    ),
                    "a batch of {low}+ bytes inflated past the limit: {:?}",
                    outcome.error
                );
                return;
            }
            if high > STRUCTURED_MAX_DECOMPRESSED {
                // Near the limit: either outcome is right; nothing more to compare.
                return;
            }
        }
        expected.extend(batch.expected.iter().cloned());
        end_of_complete = *end;
    }
    assert_eq!(outcome.error, None, "a valid partition failed to decode");
    assert_eq!(outcome.records, expected, "records differ from those built");
    assert_eq!(
        outcome.position, end_of_complete,
        "bytes of complete batches"
    );
    let tail = len - end_of_complete;
    assert_eq!(
        outcome.truncated_tail,
        (tail > 0).then_some(tail),
        "a batch cut short must end the iteration as a truncated tail"
    );
}

fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *m {
        Mutation::Xor { at, mask } => bytes[at as usize % n] ^= mask,
        Mutation::Put { at, value } => {
            let at = at as usize % n;
            for (i, b) in value.to_be_bytes().into_iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + i) {
                    *slot = b;
                }
            }
        }
        Mutation::Remove { at, len } => {
            let at = at as usize % n;
            let end = (at + usize::from(len)).min(n);
            bytes.drain(at..end);
        }
    }
}
