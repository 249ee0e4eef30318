//! The library against a malicious broker ([`FakeCluster`]): broken frames, lying size
//! prefixes, wrong correlation ids, corrupt batches, unusable versions and undecodable
//! bodies. In every case the consumer returns a typed error or recovers, within the test's
//! bound and without panicking or allocating what the peer announces; a connection that
//! carried garbage is dropped and re-established; other partitions keep being served.
//!
//! Faults the library recovers from never reach the caller; they are checked through the
//! library's log lines, captured by a counting logger (node ids are unique per test).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use consumer_core::codec::{ApiKey, VersionError};
use consumer_core::record::RecordErrorKind;
use consumer_core::{ConsumerError, TopicPartition};
use consumer_net::consumer::{KafkaConsumer, KafkaError};
use integration_tests::{FakeCluster, Fault};

/// Every test must be done within this bound.
const BOUND: Duration = Duration::from_secs(20);
const RECORDS: i64 = 10;

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct CountingLogger;

impl log::Log for CountingLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Debug
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = record.args().to_string();
            LOG.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }

    fn flush(&self) {}
}

fn install_logger() {
    static LOGGER: CountingLogger = CountingLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Debug);
    }
}

/// Log lines so far that contain every one of `parts`.
fn logged(parts: &[&str]) -> usize {
    LOG.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .count()
}

fn consumer(bootstrap: &str) -> KafkaConsumer {
    install_logger();
    KafkaConsumer::from_properties([
        ("bootstrap.servers", bootstrap),
        ("client.id", "malicious-test"),
        ("auto.offset.reset", "earliest"),
        ("fetch.max.wait.ms", "100"),
        ("request.timeout.ms", "1500"),
        ("socket.connection.setup.timeout.ms", "1000"),
        ("reconnect.backoff.ms", "20"),
        ("reconnect.backoff.max.ms", "200"),
        ("retry.backoff.ms", "20"),
        ("retry.backoff.max.ms", "200"),
    ])
    .expect("valid config")
}

#[derive(Debug, Default)]
struct Outcome {
    /// Offsets received per partition, in order.
    offsets: BTreeMap<i32, Vec<i64>>,
    errors: Vec<KafkaError>,
}

impl Outcome {
    fn complete(&self, partition: i32) -> bool {
        self.offsets.get(&partition).map_or(0, Vec::len) as i64 >= RECORDS
    }

    fn assert_complete(&self, partition: i32) {
        let want: Vec<i64> = (0..RECORDS).collect();
        assert_eq!(
            self.offsets.get(&partition),
            Some(&want),
            "partition {partition}: every record exactly once, in order (errors: {:?})",
            self.errors
        );
    }
}

/// Polls until `done` holds or the bound passes; returns what arrived. Errors are kept,
/// not fatal: the caller decides which ones are expected.
fn drain(c: &mut KafkaConsumer, done: impl Fn(&Outcome) -> bool) -> Outcome {
    let start = Instant::now();
    let mut out = Outcome::default();
    while !done(&out) && start.elapsed() < BOUND {
        let before = Instant::now();
        match c.poll(Duration::from_millis(200)) {
            Ok(records) => {
                for r in records {
                    out.offsets.entry(r.partition).or_default().push(r.offset);
                }
            }
            Err(e) => out.errors.push(e),
        }
        assert!(
            before.elapsed() < Duration::from_secs(5),
            "a poll of 200 ms took {:?}",
            before.elapsed()
        );
        if out.errors.len() > 10_000 {
            break;
        }
    }
    assert!(
        start.elapsed() < BOUND + Duration::from_secs(5),
        "draining overran its bound"
    );
    out
}

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

/// Peak resident memory of this process, from /proc (None elsewhere).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn assert_no_huge_allocation() {
    if let Some(peak) = peak_rss_bytes() {
        assert!(
            peak < 512 << 20,
            "peak RSS {peak} bytes: a peer-announced size was allocated"
        );
    }
}

/// One broker answering its first `times` fetches with `fault`: the consumer drops the
/// connection (a log line naming the node and `reason`), reconnects and delivers every
/// record exactly once.
fn recovers_on_one_broker(topic: &str, fault: Fault, reason: &str) {
    let cluster = FakeCluster::start(1, topic, &[0], RECORDS).expect("fake broker");
    cluster.set_fault(0, fault.clone(), 1);
    let mut c = consumer(&cluster.bootstrap(0));
    c.assign([tp(topic, 0)]).expect("assign");
    // Garbage may follow the frame with the last records: wait for the reconnect too.
    let out = drain(&mut c, |o| o.complete(0) && cluster.connections(0) >= 3);
    assert_eq!(cluster.faults_applied(0), 1, "{fault:?} was applied");
    assert!(
        out.errors.is_empty(),
        "{fault:?}: no error surfaces: {:?}",
        out.errors
    );
    out.assert_complete(0);
    let node = cluster.node_id(0);
    assert!(
        logged(&[&format!("node {node} disconnected"), reason]) >= 1,
        "{fault:?}: the connection to node {node} was dropped with `{reason}`"
    );
    // Bootstrap connection, the first leader connection (dropped), and its replacement.
    assert!(
        cluster.connections(0) >= 3,
        "{fault:?}: reconnected ({} connections)",
        cluster.connections(0)
    );
    assert_no_huge_allocation();
}

#[test]
fn truncated_frame_then_close_reconnects() {
    recovers_on_one_broker(
        "trunc-close",
        Fault::TruncateThenClose,
        "connection closed by peer",
    );
}

#[test]
fn truncated_frame_then_stall_times_out_and_reconnects() {
    recovers_on_one_broker("trunc-stall", Fault::TruncateThenStall, "timed out");
}

#[test]
fn two_gib_length_prefix_is_refused_without_allocating() {
    recovers_on_one_broker("huge-2g", Fault::HugeLength(0x8000_0000), "negative size");
}

#[test]
fn length_prefix_above_max_response_size_is_refused() {
    recovers_on_one_broker(
        "huge-max",
        Fault::HugeLength(i32::MAX as u32),
        "exceeds the maximum",
    );
    // Just above the consumer's limit (fetch.max.bytes + max.partition.fetch.bytes, at
    // least 16 MiB, plus 1 MiB of headroom): refused before the body arrives.
    let limit = (50u32 << 20) + (1 << 20) + (1 << 20);
    recovers_on_one_broker(
        "huge-limit",
        Fault::HugeLength(limit + 1),
        "exceeds the maximum",
    );
}

#[test]
fn wrong_correlation_id_drops_the_connection() {
    recovers_on_one_broker(
        "wrong-corr",
        Fault::WrongCorrelationId,
        "expected a response to correlation id",
    );
}

#[test]
fn negative_size_garbage_after_a_valid_frame_drops_the_connection() {
    recovers_on_one_broker(
        "garbage-neg",
        Fault::GarbageAfterFrame(vec![0xff; 8]),
        "negative size",
    );
}

#[test]
fn unsolicited_frame_after_a_valid_frame_drops_the_connection() {
    // A well-formed frame answering nothing: size 4, correlation id 0x7fff.
    recovers_on_one_broker(
        "garbage-unsolicited",
        Fault::GarbageAfterFrame(vec![0, 0, 0, 4, 0, 0, 0x7f, 0xff]),
        "unsolicited response",
    );
}

/// Body faults keep the framing intact: the answer is logged as malformed and the fetch
/// retried on the same connection.
fn malformed_body_is_retried(topic: &str, fault: Fault) {
    let cluster = FakeCluster::start(1, topic, &[0], RECORDS).expect("fake broker");
    cluster.set_fault(0, fault.clone(), 1);
    let mut c = consumer(&cluster.bootstrap(0));
    c.assign([tp(topic, 0)]).expect("assign");
    let out = drain(&mut c, |o| o.complete(0));
    assert_eq!(cluster.faults_applied(0), 1, "{fault:?} was applied");
    assert!(out.errors.is_empty(), "{fault:?}: {:?}", out.errors);
    out.assert_complete(0);
    let node = cluster.node_id(0);
    assert_eq!(
        logged(&[&format!("malformed answer from node {node}")]),
        1,
        "{fault:?}: logged once as malformed"
    );
    assert_no_huge_allocation();
}

#[test]
fn huge_array_count_is_a_malformed_answer() {
    malformed_body_is_retried("huge-array", Fault::HugeArrayCount);
}

#[test]
fn answer_at_another_version_is_a_malformed_answer() {
    // The client asked for Fetch v11; v4 lacks log_start_offset and preferred replica.
    malformed_body_is_retried("other-version", Fault::AnswerAtVersion(4));
}

#[test]
fn crc_mismatch_is_a_typed_error_and_the_other_partition_keeps_flowing() {
    let topic = "crc";
    let cluster = FakeCluster::start(1, topic, &[0, 0], RECORDS).expect("fake broker");
    cluster.set_fault(0, Fault::CorruptCrc { partition: 0 }, usize::MAX);
    let mut c = consumer(&cluster.bootstrap(0));
    c.assign([tp(topic, 0), tp(topic, 1)]).expect("assign");
    let out = drain(&mut c, |o| o.complete(1) && !o.errors.is_empty());
    out.assert_complete(1);
    assert!(
        !out.offsets.contains_key(&0),
        "nothing of the corrupt batch is delivered: {:?}",
        out.offsets.get(&0)
    );
    assert!(!out.errors.is_empty(), "the corruption is reported");
    for e in &out.errors {
        assert_crc_error(e, &tp(topic, 0));
    }
    // The position stayed before the damaged batch (the caller could seek past it).
    assert_eq!(c.position(&tp(topic, 0)).expect("position"), 0);
    // A caller that keeps polling past the error does not make the consumer refetch the
    // damaged batch in a tight loop: it waits retry.backoff.ms (20 ms here) before each
    // new fetch of that partition, so at most about 50 errors come in one second.
    let started = std::time::Instant::now();
    let mut errors = 0;
    while started.elapsed() < Duration::from_secs(1) {
        if let Err(e) = c.poll(Duration::from_millis(50)) {
            assert_crc_error(&e, &tp(topic, 0));
            errors += 1;
        }
    }
    assert!(
        (1..=60).contains(&errors),
        "{errors} corrupt-batch errors in one second"
    );
    // Once the broker sends intact data, the partition resumes where it stopped (a fetch
    // already in flight may still bring the damaged batch once more).
    cluster.clear_fault(0);
    let out = drain(&mut c, |o| o.complete(0));
    for e in &out.errors {
        assert_crc_error(e, &tp(topic, 0));
    }
    out.assert_complete(0);
}

fn assert_crc_error(e: &KafkaError, want: &TopicPartition) {
    assert!(
        matches!(
            e,
            KafkaError::Consumer(ConsumerError::CorruptRecord { tp: t, offset: 0, source })
                if t == want
                    && source.partition == want.partition
                    && matches!(source.kind, RecordErrorKind::CrcMismatch { .. })
        ),
        "unexpected error {e:?}"
    );
}

#[test]
fn no_common_fetch_version_is_a_typed_error() {
    let topic = "no-fetch-version";
    let cluster = FakeCluster::start(1, topic, &[0], RECORDS).expect("fake broker");
    cluster.set_fault(0, Fault::NoCommonFetchVersion, usize::MAX);
    let mut c = consumer(&cluster.bootstrap(0));
    c.assign([tp(topic, 0)]).expect("assign");
    let out = drain(&mut c, |o| !o.errors.is_empty());
    assert!(out.offsets.is_empty(), "{:?}", out.offsets);
    assert!(
        out.errors.iter().any(|e| matches!(
            e,
            KafkaError::Consumer(ConsumerError::UnsupportedVersion(
                VersionError::NoCommonVersion {
                    api: ApiKey::Fetch,
                    ..
                }
            ))
        )),
        "{:?}",
        out.errors
    );
}

/// Partition 0 is led by a broker that misbehaves on every fetch, partition 1 by a good
/// one: partition 1 is served in full regardless.
#[test]
fn a_misbehaving_leader_does_not_stop_the_other_partition() {
    let faults = [
        Fault::TruncateThenClose,
        Fault::TruncateThenStall,
        Fault::HugeLength(0x8000_0000),
        Fault::HugeLength(i32::MAX as u32),
        Fault::WrongCorrelationId,
        Fault::GarbageAfterFrame(vec![0xff; 8]),
        Fault::HugeArrayCount,
        Fault::AnswerAtVersion(4),
        Fault::CorruptCrc { partition: 0 },
        Fault::NoCommonFetchVersion,
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        let topic = format!("split-{i}");
        let cluster = FakeCluster::start(2, &topic, &[0, 1], RECORDS).expect("fake brokers");
        cluster.set_fault(0, fault.clone(), usize::MAX);
        // Bootstrap through the good broker; metadata names both.
        let mut c = consumer(&cluster.bootstrap(1));
        c.assign([tp(&topic, 0), tp(&topic, 1)]).expect("assign");
        let out = drain(&mut c, |o| o.complete(1) && cluster.faults_applied(0) >= 1);
        out.assert_complete(1);
        if matches!(fault, Fault::GarbageAfterFrame(_)) {
            // The frame before the garbage is valid: its records count, once.
            let got = out.offsets.get(&0).cloned().unwrap_or_default();
            let want: Vec<i64> = (0..got.len() as i64).collect();
            assert_eq!(got, want, "{fault:?}: partition 0 in order, no duplicates");
        } else {
            assert!(
                out.offsets.get(&0).is_none_or(Vec::is_empty),
                "{fault:?}: nothing arrives from the bad leader: {:?}",
                out.offsets.get(&0)
            );
        }
        for e in &out.errors {
            assert!(
                matches!(
                    e,
                    KafkaError::Consumer(
                        ConsumerError::CorruptRecord { .. } | ConsumerError::UnsupportedVersion(_)
                    )
                    // A broker announcing huge frames on every fetch is reported (once
                    // per two connections), not retried in silence.
                    | KafkaError::ResponseTooLarge { .. }
                ),
                "{fault:?}: unexpected error {e:?}"
            );
        }
        assert!(cluster.faults_applied(0) >= 1, "{fault:?} was applied");
        drop(c);
    }
    assert_no_huge_allocation();
}

/// Metadata and ListOffsets answers that break framing or do not decode: the lookup is
/// retried (on a new connection where the framing broke) and consumption completes.
#[test]
fn broken_metadata_and_list_offsets_answers_are_retried() {
    let cases = [
        (ApiKey::Metadata, Fault::HugeArrayCount),
        (ApiKey::Metadata, Fault::TruncateThenClose),
        (ApiKey::Metadata, Fault::WrongCorrelationId),
        (ApiKey::ListOffsets, Fault::HugeArrayCount),
        (ApiKey::ListOffsets, Fault::TruncateThenStall),
        (ApiKey::ListOffsets, Fault::HugeLength(0x8000_0000)),
    ];
    for (i, (api, fault)) in cases.into_iter().enumerate() {
        let topic = format!("lookup-{i}");
        let cluster = FakeCluster::start(1, &topic, &[0], RECORDS).expect("fake broker");
        cluster.set_fault_on(0, api, fault.clone(), 2);
        let mut c = consumer(&cluster.bootstrap(0));
        c.assign([tp(&topic, 0)]).expect("assign");
        let out = drain(&mut c, |o| o.complete(0));
        assert!(out.errors.is_empty(), "{api} {fault:?}: {:?}", out.errors);
        out.assert_complete(0);
        assert!(
            cluster.faults_applied(0) >= 1,
            "{api} {fault:?} was applied"
        );
    }
    assert_no_huge_allocation();
}
