//! The whole sans-IO consume path, without sockets: one Fetch response frame (as the
//! network layer hands it over: header and body, size prefix stripped, a slice of a bigger
//! buffer) fed to `Consumer::handle_response`, then `poll_records(500)` until drained.
//!
//! Each case is 4 partitions of one topic, fetched from offset 0 by a manually assigned
//! consumer at the newest Fetch version. Per iteration the consumer seeks back to 0, builds
//! its next Fetch request, takes the (same) answer and hands out every record.
//!
//! `CONSUME_PATH_PROFILE=<case>[:<iterations>]` runs one case in a plain loop instead of
//! criterion, for `valgrind --tool=callgrind` (see docs/performance-profile.md).

mod support;

use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use consumer_core::codec::messages::fetch::{FetchableTopicResponse, PartitionData};
use consumer_core::codec::messages::{
    ApiVersionsRequest, FetchRequest, FetchResponse, MetadataRequest,
};
use consumer_core::codec::ApiKey;
use consumer_core::record::{BatchBuilder, Compression, Record};
use consumer_core::{Consumer, ConsumerConfig, NodeId, TopicPartition, Transmit};
use criterion::{BenchmarkId, Criterion, Throughput};
use support::{api_versions, bench_record, encode, metadata};

const TOPIC: &str = "bench";
const TOPIC_ID: [u8; 16] = [7; 16];
const PARTITIONS: i32 = 4;
const MAX_POLL: usize = 500;

/// One workload: record size, records per partition and per batch, codec.
#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    value_len: usize,
    per_partition: usize,
    per_batch: usize,
    codec: Compression,
    /// zstd frames streamed without their content size, as librdkafka writes them.
    unsized_zstd: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "100B",
        value_len: 100,
        per_partition: 5_000,
        per_batch: 500,
        codec: Compression::None,
        unsized_zstd: false,
    },
    Case {
        name: "1KiB",
        value_len: 1024,
        per_partition: 1_000,
        per_batch: 100,
        codec: Compression::None,
        unsized_zstd: false,
    },
    Case {
        name: "100B_lz4",
        value_len: 100,
        per_partition: 5_000,
        per_batch: 500,
        codec: Compression::Lz4,
        unsized_zstd: false,
    },
    Case {
        name: "100B_zstd",
        value_len: 100,
        per_partition: 5_000,
        per_batch: 500,
        codec: Compression::Zstd,
        unsized_zstd: false,
    },
    Case {
        name: "1KiB_zstd",
        value_len: 1024,
        per_partition: 1_000,
        per_batch: 100,
        codec: Compression::Zstd,
        unsized_zstd: true,
    },
];

impl Case {
    fn records(&self) -> usize {
        self.per_partition * PARTITIONS as usize
    }

    /// One partition's `records` bytes: batches of semi-random values with 10-byte keys.
    fn partition_records(&self) -> Bytes {
        let mut buf = BytesMut::new();
        for first in (0..self.per_partition).step_by(self.per_batch) {
            let n = self.per_batch.min(self.per_partition - first);
            let records: Vec<Record> = (first..first + n)
                .map(|i| bench_record(i as i64, self.value_len))
                .collect();
            let start = buf.len();
            let codec = if self.unsized_zstd {
                Compression::None
            } else {
                self.codec
            };
            BatchBuilder::new(first as i64)
                .with_compression(codec)
                .encode(&records, &mut buf)
                .expect("encode batch");
            if self.unsized_zstd {
                let batch = zstd_without_size(&buf.split_off(start));
                buf.extend_from_slice(&batch);
            }
        }
        buf.freeze()
    }

    /// The Fetch answer frame for `version`, without its size prefix.
    fn fetch_frame(&self, version: i16) -> Bytes {
        let records = self.partition_records();
        let end = self.per_partition as i64;
        let resp = FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: TOPIC.to_owned(),
                topic_id: TOPIC_ID,
                partitions: (0..PARTITIONS)
                    .map(|p| PartitionData {
                        partition_index: p,
                        high_watermark: end,
                        last_stable_offset: end,
                        log_start_offset: 0,
                        records: Some(records.clone()),
                        ..PartitionData::default()
                    })
                    .collect(),
            }],
            ..FetchResponse::default()
        };
        encode::<FetchRequest>(0, version, &resp)
    }
}

/// Recompresses an uncompressed v2 batch's records with the streaming zstd encoder, whose
/// frames carry no content size, and fixes up length, attributes and CRC.
fn zstd_without_size(batch: &[u8]) -> Vec<u8> {
    use consumer_core::record::V2_HEADER_SIZE;
    use std::io::Write;
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).expect("zstd encoder");
    enc.include_contentsize(false).expect("no content size");
    enc.write_all(&batch[V2_HEADER_SIZE..]).expect("compress");
    let mut out = batch[..V2_HEADER_SIZE].to_vec();
    out.extend(enc.finish().expect("compress"));
    let batch_len = (out.len() - 12) as u32;
    out[8..12].copy_from_slice(&batch_len.to_be_bytes());
    out[22] = (out[22] & !0x07) | Compression::Zstd.id();
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out
}

/// A consumer assigned the bench partitions at offset 0, with its first Fetch in flight:
/// ApiVersions and Metadata are answered here (one broker, node 1, leading everything).
struct Driver {
    consumer: Consumer,
    partitions: Vec<TopicPartition>,
    now: Instant,
    fetch: Transmit,
}

impl Driver {
    fn new() -> Self {
        let config = ConsumerConfig::builder()
            .bootstrap_servers(["localhost:9092"])
            .build()
            .expect("config");
        let mut consumer = Consumer::new(config).expect("consumer");
        let partitions: Vec<TopicPartition> = (0..PARTITIONS)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect();
        consumer.assign(partitions.clone()).expect("assign");
        for tp in &partitions {
            consumer.seek(tp, 0).expect("seek");
        }
        let now = Instant::now();
        for _ in 0..100 {
            let Some(t) = consumer.poll_transmit(now) else {
                continue;
            };
            let frame = match t.api_key {
                ApiKey::Fetch => {
                    return Self {
                        consumer,
                        partitions,
                        now,
                        fetch: t,
                    }
                }
                ApiKey::ApiVersions => {
                    encode::<ApiVersionsRequest>(t.correlation_id, t.api_version, &api_versions())
                }
                ApiKey::Metadata => encode::<MetadataRequest>(
                    t.correlation_id,
                    t.api_version,
                    &metadata(TOPIC, TOPIC_ID, PARTITIONS as usize, 1),
                ),
                other => panic!("unexpected {other:?} request"),
            };
            consumer.handle_response(t.node, t.correlation_id, frame, now);
        }
        panic!("no fetch request after 100 rounds");
    }

    /// Answers the fetch in flight with `frame`, drains every record, and gets the next
    /// fetch (from offset 0 again) in flight. Returns the records and bytes handed out.
    fn round(&mut self, frame: &Bytes) -> (usize, usize) {
        let node: NodeId = self.fetch.node;
        self.consumer
            .handle_response(node, self.fetch.correlation_id, frame.clone(), self.now);
        let (mut count, mut bytes) = (0, 0);
        loop {
            let records = self.consumer.poll_records(MAX_POLL).expect("records");
            if records.is_empty() {
                break;
            }
            for r in &records {
                let key = r.key.as_deref().unwrap_or_default();
                let value = r.value.as_deref().unwrap_or_default();
                bytes += key.len() + value.len() + usize::from(value.first().copied().unwrap_or(0));
            }
            count += records.len();
            black_box(records);
        }
        for tp in &self.partitions {
            self.consumer.seek(tp, 0).expect("seek");
        }
        self.fetch = self.consumer.poll_transmit(self.now).expect("next fetch");
        assert_eq!(self.fetch.api_key, ApiKey::Fetch);
        (count, bytes)
    }
}

fn setup(case: &Case) -> (Driver, Bytes) {
    let mut driver = Driver::new();
    let frame = case.fetch_frame(driver.fetch.api_version);
    let (count, _) = driver.round(&frame);
    assert_eq!(count, case.records(), "{}: records handed out", case.name);
    (driver, frame)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("consume_path");
    for case in CASES {
        if !case.codec.is_enabled() {
            continue;
        }
        let (mut driver, frame) = setup(case);
        // Payload bytes (keys and values) handed to the caller, so codecs compare.
        let payload = case.records() * (10 + case.value_len);
        group.throughput(Throughput::Bytes(payload as u64));
        group.bench_function(BenchmarkId::from_parameter(case.name), |b| {
            b.iter(|| driver.round(black_box(&frame)))
        });
        let start = Instant::now();
        let rounds = 20;
        for _ in 0..rounds {
            driver.round(&frame);
        }
        let ns = start.elapsed().as_nanos() as f64 / (rounds * case.records()) as f64;
        println!("consume_path/{}: {ns:.1} ns/record", case.name);
    }
    group.finish();
}

/// `CONSUME_PATH_PROFILE=case[:iterations]`: one case in a loop, for callgrind or perf.
fn profile(spec: &str) {
    let (name, iterations) = match spec.split_once(':') {
        Some((n, i)) => (n, i.parse().expect("iterations")),
        None => (spec, 10),
    };
    let case = CASES
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let (mut driver, frame) = setup(case);
    let mut total = 0;
    for _ in 0..iterations {
        total += driver.round(&frame).0;
    }
    println!("{name}: {total} records in {iterations} rounds (plus one warm-up)");
}

fn main() {
    if let Ok(spec) = std::env::var("CONSUME_PATH_PROFILE") {
        profile(&spec);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
