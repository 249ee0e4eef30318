//! Record batches compressed by librdkafka (kcat `-z <codec>`), one test per
//! codec: the library decompresses them into exactly what was produced.

use std::time::Duration;

use integration_tests::{
    consume_kcat, init_logging, library_consumer, mock_cluster_on, partitions, poll_count,
    poll_for, produce_kcat, test_on_each_mock, Compression, Expected, MockVersion, Record, WAIT,
};

const PARTITIONS: i32 = 3;

/// Deterministic bytes without the ASCII controls kcat needs as delimiters;
/// close to incompressible.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            0x20 + (x % 0xe0) as u8
        })
        .collect()
}

/// Small and large, compressible and incompressible values, null keys,
/// empty values and tombstones, with headers that change every 100 records
/// (so each partition gets several batches).
fn records(codec: Compression) -> Vec<Record> {
    (0..600usize)
        .map(|i| {
            let p = (i % PARTITIONS as usize) as i32;
            let key = format!("{codec}-key-{i}");
            let r = match i % 50 {
                // 100 KB of text: many LZ4 blocks and Snappy (xerial) chunks.
                0 => Record::new(p, format!("{i}:compressible;").repeat(6000)).with_key(key),
                1 => Record::new(p, noise(20_000, i as u64)).with_key(key),
                _ if i % 23 == 0 => Record::tombstone(p).with_key(key),
                _ if i % 17 == 0 => Record::new(p, "").with_key(key),
                _ if i % 29 == 0 => Record::new(p, format!("no key {i}")),
                _ => Record::new(p, format!("{codec} value {i} ").repeat(1 + i % 7)).with_key(key),
            };
            r.with_header("codec", codec.as_str())
                .with_header("block", (i / 100).to_string())
        })
        .collect()
}

fn round_trip(version: MockVersion, codec: Compression) {
    init_logging();
    let cluster = mock_cluster_on(version, 1);
    let topic = format!("compression-{codec}");
    cluster
        .create_topic(&topic, PARTITIONS, 1)
        .expect("create topic");
    let bs = cluster.bootstrap();
    let produced = produce_kcat(&bs, &topic, &records(codec), codec).expect("produce");
    let mut expected = Expected::of(&produced);
    expected.timestamps_from(&consume_kcat(&bs, &topic, WAIT).expect("kcat read-back"));

    let mut c = library_consumer(&bs, &[("auto.offset.reset", "earliest")]);
    c.assign(partitions(&topic, PARTITIONS)).expect("assign");
    let got = poll_count(&mut c, expected.len(), &format!("all {codec} records"));
    expected.assert_delivered(&got);
    let extra = poll_for(&mut c, Duration::from_millis(700));
    assert!(extra.is_empty(), "unexpected extra records: {extra:?}");
}

fn uncompressed(version: MockVersion) {
    round_trip(version, Compression::None);
}

fn gzip(version: MockVersion) {
    round_trip(version, Compression::Gzip);
}

fn snappy(version: MockVersion) {
    round_trip(version, Compression::Snappy);
}

fn lz4(version: MockVersion) {
    round_trip(version, Compression::Lz4);
}

fn zstd(version: MockVersion) {
    round_trip(version, Compression::Zstd);
}

test_on_each_mock!(uncompressed, gzip, snappy, lz4, zstd,);
