//! Driving the library under test ([`KafkaConsumer`]) and checking what it
//! delivers against what the producers wrote.
//!
//! These helpers panic with a message that says what is missing or wrong:
//! they are meant to be called from `#[test]` functions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use consumer_core::record::TimestampType;
use consumer_core::{ConsumerRecord, TopicPartition};
use consumer_net::KafkaConsumer;

use crate::consumer::consume_kcat;
use crate::mock_cluster::{MockCluster, MockVersion};
use crate::producer::produce_kcat_with;
use crate::record::{Compression, ConsumedRecord, Produced, Record};

/// A generous bound for any wait on the library (consuming, lookups).
pub const WAIT: Duration = Duration::from_secs(60);

/// Produces `records` (uncompressed) to `topic` of `cluster` with kcat, passing the extra
/// librdkafka properties `config`, and returns `so_far` plus them, with the timestamps
/// the producer chose read back by kcat (which also checks offsets, keys and values).
pub fn produce_read_back(
    cluster: &MockCluster,
    topic: &str,
    so_far: &Expected,
    records: &[Record],
    config: &[(&str, &str)],
) -> Expected {
    let bs = cluster.bootstrap();
    let produced =
        produce_kcat_with(&bs, topic, records, Compression::None, config).expect("produce");
    let mut all = so_far.clone();
    all.add(&produced);
    all.timestamps_from(&consume_kcat(&bs, topic, WAIT).expect("kcat read-back"));
    all
}

/// Starts a librdkafka 2.0.2 mock cluster with `brokers` brokers for the
/// library to consume from (panics with the harness's message if it cannot
/// start); see [`mock_cluster_on`].
pub fn mock_cluster(brokers: usize) -> MockCluster {
    mock_cluster_on(MockVersion::V2_0_2, brokers)
}

/// Starts `version`'s mock cluster with `brokers` brokers for the library to
/// consume from (panics with the harness's message if it cannot start).
///
/// On 2.0.2, ListOffsets is capped at v3: librdkafka 2.0.2's mock writes the
/// v4+ response field `LeaderEpoch` as 8 bytes instead of 4, so every
/// partition after the first in a response is garbage. 2.16 has that fixed
/// and keeps its whole range (0–7); its JoinGroup cap (v5) is
/// [`MockCluster::start_version`]'s.
pub fn mock_cluster_on(version: MockVersion, brokers: usize) -> MockCluster {
    let cluster = MockCluster::start_version(version, brokers)
        .unwrap_or_else(|e| panic!("starting a {brokers}-broker {version}: {e}"));
    if version == MockVersion::V2_0_2 {
        cluster
            .set_api_version(crate::api_key::LIST_OFFSETS, 0, 3)
            .unwrap_or_else(|e| panic!("capping the mock's ListOffsets version: {e}"));
    }
    cluster
}

/// A library consumer for `bootstrap`, with extra Java-named properties
/// (later entries override earlier ones and the defaults).
pub fn library_consumer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaConsumer {
    let mut props = vec![("bootstrap.servers", bootstrap), ("client.id", "integ")];
    props.extend_from_slice(extra);
    KafkaConsumer::from_properties(props.iter().copied())
        .unwrap_or_else(|e| panic!("creating the library consumer with {props:?}: {e}"))
}

/// `topic`-0 .. `topic`-(n-1).
pub fn partitions(topic: &str, n: i32) -> Vec<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// `n` records spread round-robin over `partitions` partitions, that kcat
/// can produce in few invocations: keys, values of varied length (some
/// binary), and headers constant per partition (`tag`, `p`).
pub fn sample_records(n: usize, partitions: i32, tag: &str) -> Vec<Record> {
    let parts = usize::try_from(partitions.max(1)).unwrap_or(1);
    (0..n)
        .map(|i| {
            let p = (i % parts) as i32;
            let value = if i % 13 == 0 {
                vec![0, 0xff, b'\n', b',', (i % 256) as u8]
            } else {
                format!("{tag}-{i}-").repeat(1 + i % 9).into_bytes()
            };
            Record::new(p, value)
                .with_key(format!("{tag}-key-{i}"))
                .with_header("tag", tag)
                .with_header("p", p.to_string())
        })
        .collect()
}

/// Polls until `done(all records so far)` holds, appending every delivered
/// record to `got` in arrival order. Fails after `timeout` with `what` and a
/// per-partition summary of what arrived.
pub fn poll_until(
    consumer: &mut KafkaConsumer,
    got: &mut Vec<ConsumerRecord>,
    timeout: Duration,
    what: &str,
    mut done: impl FnMut(&[ConsumerRecord]) -> bool,
) {
    let deadline = Instant::now() + timeout;
    while !done(got) {
        let now = Instant::now();
        if now >= deadline {
            panic!(
                "timed out after {timeout:?} waiting for {what}; received so far: {}",
                summary(got)
            );
        }
        let batch = consumer
            .poll((deadline - now).min(Duration::from_millis(500)))
            .unwrap_or_else(|e| panic!("poll failed while waiting for {what}: {e}"));
        got.extend(batch);
    }
}

/// Polls until at least `n` records arrived (see [`poll_until`]).
pub fn poll_count(consumer: &mut KafkaConsumer, n: usize, what: &str) -> Vec<ConsumerRecord> {
    let mut got = Vec::new();
    poll_until(consumer, &mut got, WAIT, what, |g| g.len() >= n);
    got
}

/// Everything delivered during `period` (to check that nothing more comes).
pub fn poll_for(consumer: &mut KafkaConsumer, period: Duration) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + period;
    let mut got = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return got;
        }
        let batch = consumer
            .poll(deadline - now)
            .unwrap_or_else(|e| panic!("poll failed: {e}"));
        got.extend(batch);
    }
}

/// Records delivered per partition, and the offset range of each, for messages.
pub fn summary(got: &[ConsumerRecord]) -> String {
    let mut per: BTreeMap<i32, (usize, i64, i64)> = BTreeMap::new();
    for r in got {
        let e = per.entry(r.partition).or_insert((0, r.offset, r.offset));
        e.0 += 1;
        e.1 = e.1.min(r.offset);
        e.2 = e.2.max(r.offset);
    }
    let mut s = format!("{} records", got.len());
    for (p, (n, lo, hi)) in per {
        let _ = write!(s, "; p{p}: {n} in [{lo}, {hi}]");
    }
    s
}

/// One record the library must deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedRecord {
    /// Its offset.
    pub offset: i64,
    /// What was produced.
    pub record: Record,
    /// The timestamp it must carry: the producer's explicit one, or what a
    /// reference consumer read back ([`Expected::timestamps_from`]).
    pub timestamp_ms: Option<i64>,
}

/// What a topic holds, per partition in offset order: the reference the
/// library's output is checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    topic: String,
    partitions: BTreeMap<i32, Vec<ExpectedRecord>>,
}

impl Expected {
    /// Nothing yet, for `topic`.
    pub fn new(topic: &str) -> Expected {
        Expected {
            topic: topic.to_string(),
            partitions: BTreeMap::new(),
        }
    }

    /// The records of `produced`, which went to a topic that was empty.
    pub fn of(produced: &Produced) -> Expected {
        let mut e = Expected::new(&produced.topic);
        e.add(produced);
        e
    }

    /// Appends `produced`: offsets as the producer reported them, otherwise
    /// following the last known offset of the partition (0 when empty).
    pub fn add(&mut self, produced: &Produced) {
        assert_eq!(produced.topic, self.topic, "records of another topic");
        for pr in &produced.records {
            let list = self.partitions.entry(pr.record.partition).or_default();
            let offset = pr
                .offset
                .unwrap_or_else(|| list.last().map_or(0, |l| l.offset + 1));
            if let Some(last) = list.last() {
                assert!(
                    offset > last.offset,
                    "producer reported offsets out of order"
                );
            }
            list.push(ExpectedRecord {
                offset,
                record: pr.record.clone(),
                timestamp_ms: pr.record.timestamp_ms,
            });
        }
    }

    /// Checks that a reference consumer read the same offsets, keys and values,
    /// and takes the timestamps the producer chose itself from it (kcat
    /// cannot report them). `reference` must cover every expected record.
    pub fn timestamps_from(&mut self, reference: &[ConsumedRecord]) {
        let by_offset: BTreeMap<(i32, i64), &ConsumedRecord> = reference
            .iter()
            .map(|r| ((r.partition, r.offset), r))
            .collect();
        for (p, list) in &mut self.partitions {
            for e in list {
                let Some(r) = by_offset.get(&(*p, e.offset)) else {
                    panic!(
                        "the reference consumer did not read {}/{p} offset {}",
                        self.topic, e.offset
                    );
                };
                assert!(
                    r.key == e.record.key && r.value == e.record.value,
                    "reference consumer disagrees with the producer at {}/{p}@{}: read {r:?}, \
                     produced {:?}",
                    self.topic,
                    e.offset,
                    e.record
                );
                if let Some(ts) = e.timestamp_ms {
                    assert_eq!(
                        ts, r.timestamp_ms,
                        "reference timestamp at {p}@{}",
                        e.offset
                    );
                }
                e.timestamp_ms = Some(r.timestamp_ms);
            }
        }
    }

    /// Keeps the records for which `keep(partition, offset)` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(i32, i64) -> bool) {
        for (p, list) in &mut self.partitions {
            list.retain(|e| keep(*p, e.offset));
        }
        self.partitions.retain(|_, l| !l.is_empty());
    }

    /// A copy keeping the records for which `keep(partition, offset)` holds.
    pub fn filtered(&self, keep: impl FnMut(i32, i64) -> bool) -> Expected {
        let mut e = self.clone();
        e.retain(keep);
        e
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.partitions.values().map(Vec::len).sum()
    }

    /// True if no record is expected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records of `partition`, in offset order.
    pub fn partition(&self, partition: i32) -> &[ExpectedRecord] {
        self.partitions.get(&partition).map_or(&[], Vec::as_slice)
    }

    /// The offset after the last record of `partition` (0 if none).
    pub fn end_offset(&self, partition: i32) -> i64 {
        self.partition(partition).last().map_or(0, |e| e.offset + 1)
    }

    /// Asserts that `got` (in delivery order) holds exactly these records:
    /// per partition in offset order, contiguous, each once, with the
    /// produced key, value, headers and timestamp.
    pub fn assert_delivered(&self, got: &[ConsumerRecord]) {
        let mut problems: Vec<String> = Vec::new();
        let mut per: BTreeMap<i32, Vec<&ConsumerRecord>> = BTreeMap::new();
        for r in got {
            if *r.topic != *self.topic {
                problems.push(format!("record of topic {} delivered", r.topic));
            }
            per.entry(r.partition).or_default().push(r);
        }
        let mut parts: Vec<i32> = self.partitions.keys().copied().collect();
        parts.extend(per.keys().filter(|p| !self.partitions.contains_key(p)));
        for p in parts {
            let want = self.partition(p);
            let have = per.get(&p).map_or(&[][..], Vec::as_slice);
            check_partition(p, want, have, &mut problems);
        }
        if !problems.is_empty() {
            let shown = problems.len().min(25);
            panic!(
                "{}: the library did not deliver exactly what was produced \
                 ({} expected; received {}):\n  {}{}",
                self.topic,
                self.len(),
                summary(got),
                problems[..shown].join("\n  "),
                if problems.len() > shown {
                    format!("\n  ... and {} more", problems.len() - shown)
                } else {
                    String::new()
                }
            );
        }
    }
}

fn check_partition(
    p: i32,
    want: &[ExpectedRecord],
    have: &[&ConsumerRecord],
    problems: &mut Vec<String>,
) {
    // Delivery order: each record exactly one past the one before.
    for w in have.windows(2) {
        if let [a, b] = w {
            if b.offset != a.offset + 1 {
                let kind = if b.offset <= a.offset {
                    "duplicate or out of order"
                } else {
                    "gap"
                };
                problems.push(format!(
                    "p{p}: offset {} delivered after {} ({kind})",
                    b.offset, a.offset
                ));
            }
        }
    }
    let want_offsets: BTreeMap<i64, &ExpectedRecord> = want.iter().map(|e| (e.offset, e)).collect();
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for r in have {
        *seen.entry(r.offset).or_default() += 1;
        match want_offsets.get(&r.offset) {
            None => problems.push(format!("p{p}: unexpected record at offset {}", r.offset)),
            Some(e) => {
                if let Some(why) = mismatch(r, e) {
                    problems.push(format!("p{p}@{}: {why}", r.offset));
                }
            }
        }
    }
    for (o, n) in &seen {
        if *n > 1 {
            problems.push(format!("p{p}: offset {o} delivered {n} times"));
        }
    }
    let missing: Vec<i64> = want
        .iter()
        .map(|e| e.offset)
        .filter(|o| !seen.contains_key(o))
        .collect();
    if let (Some(first), Some(last)) = (missing.first(), missing.last()) {
        problems.push(format!(
            "p{p}: {} of {} records missing (offsets {first}..={last})",
            missing.len(),
            want.len()
        ));
    }
}

/// Why `got` is not the expected record, if it is not.
fn mismatch(got: &ConsumerRecord, want: &ExpectedRecord) -> Option<String> {
    let r = &want.record;
    let mut why = Vec::new();
    if got.key.as_deref() != r.key.as_deref() {
        why.push(format!(
            "key {:?} != {:?}",
            got.key,
            r.key.as_deref().map(lossy)
        ));
    }
    if got.value.as_deref() != r.value.as_deref() {
        why.push(format!(
            "value {:?} != {:?}",
            got.value,
            r.value.as_deref().map(lossy)
        ));
    }
    let headers_equal = got.headers.len() == r.headers.len()
        && got
            .headers
            .iter()
            .zip(&r.headers)
            .all(|(g, (n, v))| g.key == *n && g.value.as_deref() == Some(v.as_slice()));
    if !headers_equal {
        why.push(format!("headers {:?} != {:?}", got.headers, r.headers));
    }
    if let Some(ts) = want.timestamp_ms {
        if got.timestamp != ts || got.timestamp_type != TimestampType::CreateTime {
            why.push(format!(
                "timestamp {} ({:?}) != {ts} (CreateTime)",
                got.timestamp, got.timestamp_type
            ));
        }
    }
    (!why.is_empty()).then(|| why.join("; "))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Sends `log` output (the library's and the harness's) to stderr when
/// `INTEG_LOG` is set to a level (`debug`, `trace`, ...); call it first in a
/// test. Cargo's test capture shows it for failing tests only.
pub fn init_logging() {
    static LOGGER: StderrLogger = StderrLogger;
    let Some(level) = std::env::var("INTEG_LOG")
        .ok()
        .and_then(|l| l.parse::<log::LevelFilter>().ok())
    else {
        return;
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        // eprintln! goes through the test harness's capture, per test thread.
        eprintln!(
            "{:?} {} {}: {}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default(),
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}
