//! Decoding a Fetch response's records: batches, CRC, every record, against a memcpy.
//!
//! The input is 100,000 records with 10-byte keys and 100-byte values in batches of 1,000
//! (about 115 KiB each), as one partition's `records` bytes. `uncompressed` yields owned
//! `Record`s (what a consumer hands out); `uncompressed_view` borrowed `RecordView`s.

mod support;

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use consumer_core::record::{
    BatchBuilder, Compression, DecodeOptions, Record, RecordBatches, RecordSource,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use support::bench_record;

const RECORDS: usize = 100_000;
const PER_BATCH: usize = 1_000;
const VALUE_LEN: usize = 100;

/// Encodes the whole partition with `codec`.
fn fetch_buffer(codec: Compression) -> Bytes {
    let mut buf = BytesMut::new();
    for batch in 0..RECORDS / PER_BATCH {
        let base = (batch * PER_BATCH) as i64;
        let records: Vec<Record> = (0..PER_BATCH)
            .map(|i| bench_record(base + i as i64, VALUE_LEN))
            .collect();
        BatchBuilder {
            producer_id: 4242,
            producer_epoch: 0,
            base_sequence: base as i32,
            ..BatchBuilder::new(base)
        }
        .with_compression(codec)
        .encode(&records, &mut buf)
        .expect("encode");
    }
    buf.freeze()
}

/// Decodes everything, touching every key and value; returns a checksum of sorts.
fn decode(buf: &Bytes, source: &RecordSource, opts: &DecodeOptions) -> usize {
    let mut touched = 0usize;
    let mut count = 0usize;
    for batch in RecordBatches::new(source.clone(), buf.clone(), opts) {
        let batch = batch.expect("batch");
        for record in batch.records().expect("records") {
            let record = record.expect("record");
            let key = record.key.as_deref().unwrap_or_default();
            let value = record.value.as_deref().unwrap_or_default();
            touched += key.len() + value.len() + usize::from(value.first().copied().unwrap_or(0));
            count += 1;
        }
    }
    assert_eq!(count, RECORDS);
    touched
}

/// The same through borrowed views: no reference counting per record.
fn decode_views(buf: &Bytes, source: &RecordSource, opts: &DecodeOptions) -> usize {
    let mut touched = 0usize;
    let mut count = 0usize;
    for batch in RecordBatches::new(source.clone(), buf.clone(), opts) {
        let mut records = batch.expect("batch").records().expect("records");
        while let Some(record) = records.next_view() {
            let record = record.expect("record");
            let key = record.key.unwrap_or_default();
            let value = record.value.unwrap_or_default();
            touched += key.len() + value.len() + usize::from(value.first().copied().unwrap_or(0));
            count += 1;
        }
    }
    assert_eq!(count, RECORDS);
    touched
}

fn bench(c: &mut Criterion) {
    let source = RecordSource::new("bench", 0);
    let opts = DecodeOptions::default();
    let plain = fetch_buffer(Compression::None);

    let mut group = c.benchmark_group("fetch_decode");
    group.throughput(Throughput::Bytes(plain.len() as u64));
    group.bench_function("uncompressed", |b| {
        b.iter(|| decode(black_box(&plain), &source, &opts))
    });
    group.bench_function("uncompressed_view", |b| {
        b.iter(|| decode_views(black_box(&plain), &source, &opts))
    });
    let mut dst = vec![0u8; plain.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(&plain));
            black_box(&mut dst);
        })
    });
    // Compressed variants: throughput counted in uncompressed bytes, for comparison.
    for codec in [Compression::Lz4, Compression::Zstd] {
        if !codec.is_enabled() {
            continue;
        }
        let packed = fetch_buffer(codec);
        group.bench_function(codec.name(), |b| {
            b.iter(|| decode(black_box(&packed), &source, &opts))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
