//! A consumer with a large assignment driven through poll cycles against three scripted
//! brokers (shared by the `poll_cycle` and `partition_memory` benches; see poll_cycle.rs).
#![allow(dead_code)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use consumer_core::codec::messages::fetch::{FetchableTopicResponse, PartitionData};
use consumer_core::codec::messages::{
    ApiVersionsRequest, FetchRequest, FetchResponse, MetadataRequest,
};
use consumer_core::codec::{decode_request_frame, ApiKey};
use consumer_core::record::{BatchBuilder, Record};
use consumer_core::{Consumer, ConsumerConfig, TopicPartition, Transmit};

use super::{api_versions, bench_record, encode, metadata};

const TOPIC: &str = "bench";
const TOPIC_ID: [u8; 16] = [7; 16];
const BROKERS: i32 = 3;
const MAX_POLL: usize = 500;

/// Which partitions get records each cycle.
#[derive(Debug, Clone, Copy)]
enum Active {
    /// Every partition.
    All,
    /// This many, spread evenly over the assignment.
    Few(usize),
}

/// One workload.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub kind: &'static str,
    pub partitions: usize,
    active: Active,
    /// Records per active partition per cycle (one batch).
    per_batch: usize,
    /// Whether the brokers keep fetch sessions.
    sessions: bool,
}

impl Case {
    pub fn all(partitions: usize) -> Self {
        Self {
            kind: "all",
            partitions,
            active: Active::All,
            per_batch: 50,
            sessions: false,
        }
    }

    /// Every partition gets a small batch (6 records) per cycle, full fetches: the shape of
    /// the mock cluster at thousands of partitions, where the cost per partition entry of
    /// a fetch round dominates.
    pub fn small(partitions: usize) -> Self {
        Self {
            kind: "small",
            partitions,
            active: Active::All,
            per_batch: 6,
            sessions: false,
        }
    }

    pub fn few(partitions: usize, sessions: bool) -> Self {
        Self {
            kind: if sessions { "few" } else { "few_full" },
            partitions,
            active: Active::Few(8),
            per_batch: 64,
            sessions,
        }
    }

    pub fn name(&self) -> String {
        format!("{}/{}", self.kind, self.partitions)
    }

    fn active(&self) -> Vec<bool> {
        let mut active = vec![false; self.partitions];
        match self.active {
            Active::All => active.fill(true),
            Active::Few(n) => {
                let n = n.min(self.partitions);
                for i in 0..n {
                    active[i * self.partitions / n] = true;
                }
            }
        }
        active
    }

    pub fn records_per_cycle(&self) -> usize {
        self.active().iter().filter(|a| **a).count() * self.per_batch
    }
}

pub fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for n in [16, 1_000, 3_000, 10_000] {
        cases.push(Case::all(n));
    }
    for n in [3_000, 10_000] {
        cases.push(Case::small(n));
    }
    for n in [16, 1_000, 3_000, 10_000] {
        cases.push(Case::few(n, true));
    }
    cases.push(Case::few(10_000, false));
    cases
}

/// A broker's view of one client's fetch session: partition → fetch offset.
#[derive(Debug, Default)]
struct Session {
    id: i32,
    epoch: i32,
    partitions: HashMap<i32, i64>,
}

/// The three scripted brokers.
struct Brokers {
    sessions: bool,
    /// Per partition: gets records each cycle.
    active: Vec<bool>,
    /// The active partitions, by leader.
    active_of: HashMap<i32, Vec<i32>>,
    /// One batch of `per_batch` records at base offset 0.
    batch: Bytes,
    per_batch: i64,
    by_node: HashMap<i32, Session>,
    next_session: i32,
}

impl Brokers {
    fn new(case: &Case) -> Self {
        let records: Vec<Record> = (0..case.per_batch)
            .map(|i| bench_record(i as i64, 100))
            .collect();
        let mut buf = BytesMut::new();
        BatchBuilder::new(0)
            .encode(&records, &mut buf)
            .expect("encode batch");
        let active = case.active();
        let mut active_of: HashMap<i32, Vec<i32>> = HashMap::new();
        for (p, _) in active.iter().enumerate().filter(|(_, a)| **a) {
            active_of
                .entry(leader(p as i32))
                .or_default()
                .push(p as i32);
        }
        Self {
            sessions: case.sessions,
            active,
            active_of,
            batch: buf.freeze(),
            per_batch: case.per_batch as i64,
            by_node: HashMap::new(),
            next_session: 0,
        }
    }

    /// The batch with its base offset set to `offset` (the base offset is outside the CRC).
    fn batch_at(&self, offset: i64) -> Bytes {
        let mut b = BytesMut::from(&self.batch[..]);
        b[..8].copy_from_slice(&offset.to_be_bytes());
        b.freeze()
    }

    /// The answer frame to a fetch, as a Kafka broker (with or without sessions) gives it
    /// when every active partition has `per_batch` new records.
    #[inline(never)]
    fn answer(&mut self, t: &Transmit) -> Bytes {
        assert_eq!(t.api_key, ApiKey::Fetch);
        let (_, req) = decode_request_frame::<FetchRequest>(t.frame.clone()).expect("fetch");
        let session = self.by_node.entry(t.node).or_default();
        let full = !self.sessions || req.session_epoch <= 0;
        if full {
            session.partitions.clear();
        }
        let mut sent = Vec::new();
        for topic in &req.topics {
            for p in &topic.partitions {
                session.partitions.insert(p.partition, p.fetch_offset);
                sent.push(p.partition);
            }
        }
        for topic in &req.forgotten_topics_data {
            for p in &topic.partitions {
                session.partitions.remove(p);
            }
        }
        let session_id = if !self.sessions || req.session_epoch < 0 {
            0
        } else if req.session_epoch == 0 {
            self.next_session += 1;
            session.id = self.next_session;
            session.epoch = 1;
            session.id
        } else {
            assert_eq!(req.session_id, session.id, "session id");
            assert_eq!(req.session_epoch, session.epoch, "session epoch");
            session.epoch += 1;
            session.id
        };
        // Full: every partition of the request. Incremental: those sent, and those of the
        // session with records.
        let mut answered: Vec<(i32, i64)> = if full {
            sent.iter().map(|p| (*p, session.partitions[p])).collect()
        } else {
            let mut a: Vec<(i32, i64)> = sent.iter().map(|p| (*p, session.partitions[p])).collect();
            for p in self.active_of.get(&t.node).into_iter().flatten() {
                if let Some(offset) = session.partitions.get(p) {
                    if !sent.contains(p) {
                        a.push((*p, *offset));
                    }
                }
            }
            a
        };
        answered.sort_unstable();
        let partitions = answered
            .into_iter()
            .map(|(p, offset)| {
                let active = self.active.get(p as usize).copied().unwrap_or(false);
                let (records, hw) = if active {
                    (self.batch_at(offset), offset + 2 * self.per_batch)
                } else {
                    (Bytes::new(), offset)
                };
                PartitionData {
                    partition_index: p,
                    high_watermark: hw,
                    last_stable_offset: hw,
                    log_start_offset: 0,
                    records: Some(records),
                    ..PartitionData::default()
                }
            })
            .collect();
        let resp = FetchResponse {
            session_id,
            responses: vec![FetchableTopicResponse {
                topic: TOPIC.to_owned(),
                topic_id: TOPIC_ID,
                partitions,
            }],
            ..FetchResponse::default()
        };
        encode::<FetchRequest>(t.correlation_id, t.api_version, &resp)
    }
}

fn leader(partition: i32) -> i32 {
    partition % BROKERS + 1
}

/// A consumer assigned every partition of the case at offset 0, with its fetches in flight.
pub struct Driver {
    consumer: Consumer,
    brokers: Brokers,
    now: Instant,
    in_flight: Vec<Transmit>,
}

impl Driver {
    pub fn new(case: &Case) -> Self {
        let config = ConsumerConfig::builder()
            .bootstrap_servers(["broker1:9092"])
            .build()
            .expect("config");
        let mut consumer = Consumer::new(config).expect("consumer");
        let partitions: Vec<TopicPartition> = (0..case.partitions as i32)
            .map(|p| TopicPartition::new(TOPIC, p))
            .collect();
        consumer.assign(partitions.clone()).expect("assign");
        for tp in &partitions {
            consumer.seek(tp, 0).expect("seek");
        }
        let mut driver = Self {
            consumer,
            brokers: Brokers::new(case),
            now: Instant::now(),
            in_flight: Vec::new(),
        };
        // Connections, metadata, the first fetches: until a fetch is in flight to every
        // broker.
        for _ in 0..100 {
            let mut answered = false;
            while let Some(t) = driver.consumer.poll_transmit(driver.now) {
                let frame = match t.api_key {
                    ApiKey::Fetch => {
                        driver.in_flight.push(t);
                        continue;
                    }
                    ApiKey::ApiVersions => encode::<ApiVersionsRequest>(
                        t.correlation_id,
                        t.api_version,
                        &api_versions(),
                    ),
                    ApiKey::Metadata => encode::<MetadataRequest>(
                        t.correlation_id,
                        t.api_version,
                        &metadata(TOPIC, TOPIC_ID, case.partitions, BROKERS),
                    ),
                    other => panic!("unexpected {other:?} request"),
                };
                driver
                    .consumer
                    .handle_response(t.node, t.correlation_id, frame, driver.now);
                answered = true;
            }
            if driver.in_flight.len() == (BROKERS as usize).min(case.partitions) && !answered {
                return driver;
            }
        }
        panic!("no fetch to every broker after 100 rounds");
    }

    /// The consumer alone: the brokers and the requests in flight are dropped.
    pub fn into_consumer(self) -> Consumer {
        self.consumer
    }

    /// Takes every request the consumer has to send (only fetches are expected).
    fn flush(&mut self) {
        while let Some(t) = self.consumer.poll_transmit(self.now) {
            assert_eq!(t.api_key, ApiKey::Fetch, "only fetches in a cycle");
            self.in_flight.push(t);
        }
    }

    /// One cycle: the fetches in flight are answered, the records drained. Returns the
    /// records handed out.
    pub fn cycle(&mut self) -> usize {
        for t in std::mem::take(&mut self.in_flight) {
            let frame = self.brokers.answer(&t);
            self.consumer
                .handle_response(t.node, t.correlation_id, frame, self.now);
        }
        self.consumer.handle_timeout(self.now);
        let mut count = 0;
        loop {
            let records = self.consumer.poll_records(MAX_POLL).expect("records");
            if records.is_empty() {
                break;
            }
            count += records.len();
            black_box(records);
            // As `KafkaConsumer::poll`: the next fetches leave before records are returned.
            self.flush();
        }
        self.flush();
        black_box(self.consumer.poll_timeout());
        count
    }
}

/// A ready driver for `case`, run until its cycles are steady (each hands out the same
/// number of records), checked to hand out what arrives.
pub fn setup(case: &Case) -> Driver {
    let mut driver = Driver::new(case);
    let expected = case.records_per_cycle();
    let mut total = 0;
    for _ in 0..3 {
        total += driver.cycle();
    }
    assert!(
        total >= 2 * expected,
        "{}: {total} records in 3 cycles, expected ~{expected} per cycle",
        case.name()
    );
    driver
}
