//! `isolation.level=read_committed` against real brokers: confluent-kafka's
//! transactional producer (librdkafka 2.16) writes committed and aborted transactions
//! to Tansu and to the librdkafka 2.16 mock cluster, and the library reads them back.
//!
//! Asserted: every committed record comes out exactly once and in order, no control
//! record (transaction marker) is handed out, and the position ends past the last
//! marker, with no lag left.
//!
//! Not asserted: that aborted records are dropped. Neither broker tells the consumer
//! which transactions aborted: at isolation level 1 both answer an empty aborted
//! transaction list (see consumer-core/tests/fixtures-transactions/README.md), so a
//! read_committed consumer gets the aborted records too (librdkafka's own does as
//! well). What these brokers really send is asserted instead: every data record,
//! aborted ones included, in offset order. The dropping itself is tested against the
//! simulated cluster (consumer-core/tests/read_committed.rs) and on the captured
//! batches of these brokers with the list Kafka would send
//! (consumer-core/tests/golden_transactions.rs).
//!
//! The 2.16 mock writes its markers with CRC 0: with `check.crcs` at its default (true,
//! as in Java) the consumer stops at the first marker with a CRC error; the records
//! before it are delivered. With `check.crcs=false` the whole log is read.
//!
//! A broker or client that cannot start fails the test.

use std::time::{Duration, Instant};

use consumer_core::{ConsumerError, RecordErrorKind};
use consumer_net::{KafkaConsumer, KafkaError, TopicPartition};
use integration_tests::{
    init_logging, library_consumer, produce_transactions, MockCluster, Tansu, Transaction, TxnEnd,
    TxnRecord, WAIT,
};

/// Committed, aborted, committed, aborted, committed: 0–2 c, 3 COMMIT, 4–5 a, 6 ABORT,
/// 7 c, 8 COMMIT, 9 a, 10 ABORT, 11–12 c, 13 COMMIT.
fn transactions() -> Vec<Transaction> {
    vec![
        Transaction::new(TxnEnd::Commit, &["c1", "c2", "c3"]),
        Transaction::new(TxnEnd::Abort, &["a1", "a2"]),
        Transaction::new(TxnEnd::Commit, &["c4"]),
        Transaction::new(TxnEnd::Abort, &["a3"]),
        Transaction::new(TxnEnd::Commit, &["c5", "c6"]),
    ]
}

/// The marker offsets: each after its transaction's last record, each transaction
/// starting right after the previous marker.
fn markers(produced: &[TxnRecord], txns: usize) -> Vec<i64> {
    let mut markers = Vec::new();
    for t in 0..txns {
        let offsets: Vec<i64> = produced
            .iter()
            .filter(|r| r.txn == t)
            .map(|r| r.offset)
            .collect();
        let first = offsets[0];
        assert_eq!(
            first,
            markers.last().map_or(0, |m| m + 1),
            "transaction {t} starts right after the previous marker: {produced:?}"
        );
        assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{produced:?}");
        markers.push(offsets[offsets.len() - 1] + 1);
    }
    markers
}

fn produce(bootstrap: &str, topic: &str, logs: &dyn Fn() -> String) -> (Vec<TxnRecord>, i64) {
    let txns = transactions();
    let produced = produce_transactions(bootstrap, topic, &txns)
        .unwrap_or_else(|e| panic!("transactional producer: {e}\n{}", logs()));
    let markers = markers(&produced, txns.len());
    assert_eq!(markers, vec![3, 6, 8, 10, 13]);
    (produced, 14)
}

fn read_committed_consumer(bootstrap: &str, extra: &[(&str, &str)]) -> KafkaConsumer {
    let mut props = vec![
        ("isolation.level", "read_committed"),
        ("auto.offset.reset", "earliest"),
    ];
    props.extend_from_slice(extra);
    library_consumer(bootstrap, &props)
}

/// Polls until the position of `tp` reaches `end`; fails on a poll error or after WAIT.
fn read_to(c: &mut KafkaConsumer, tp: &TopicPartition, end: i64) -> Vec<(i64, String)> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    loop {
        let records = c
            .poll(Duration::from_millis(200))
            .unwrap_or_else(|e| panic!("poll: {e}"));
        got.extend(records.into_iter().map(|r| {
            let v = r.value.as_deref().map(String::from_utf8_lossy);
            (r.offset, v.unwrap_or_default().into_owned())
        }));
        let position = c.position(tp).unwrap_or_else(|e| panic!("position: {e}"));
        if position >= end {
            assert_eq!(
                position, end,
                "the position ends right past the last marker"
            );
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "position {position} did not reach {end}; got {got:?}"
        );
    }
}

fn check(bootstrap: &str, topic: &str, extra: &[(&str, &str)], logs: &dyn Fn() -> String) {
    let (produced, end) = produce(bootstrap, topic, logs);
    let tp = TopicPartition::new(topic, 0);
    let mut c = read_committed_consumer(bootstrap, extra);
    c.assign([tp.clone()]).expect("assign");
    let got = read_to(&mut c, &tp, end);

    // What the brokers send: every data record, in offset order, exactly once (aborted
    // ones included: no aborted transaction list), no marker.
    let all: Vec<(i64, String)> = produced
        .iter()
        .map(|r| (r.offset, r.value.clone()))
        .collect();
    assert_eq!(got, all, "{}", logs());
    let markers = [3, 6, 8, 10, 13];
    assert!(got.iter().all(|(o, _)| !markers.contains(o)));
    // Every committed record exactly once, in order.
    let committed: Vec<&str> = got
        .iter()
        .map(|(_, v)| v.as_str())
        .filter(|v| v.starts_with('c'))
        .collect();
    assert_eq!(committed, ["c1", "c2", "c3", "c4", "c5", "c6"]);
    // Nothing more comes, and the lag (to the LSO, here the log end) is 0.
    let more = c
        .poll(Duration::from_millis(500))
        .unwrap_or_else(|e| panic!("poll: {e}"));
    assert!(more.is_empty(), "{more:?}");
    assert_eq!(c.current_lag(&tp), Some(0));
    assert_eq!(c.position(&tp).expect("position"), end);
}

#[test]
fn tansu_read_committed_reads_transactions() {
    init_logging();
    let tansu = Tansu::start().unwrap_or_else(|e| panic!("starting tansu: {e}"));
    tansu
        .create_topic("txn", 1)
        .unwrap_or_else(|e| panic!("creating txn: {e}\n{}", tansu.logs()));
    check(&tansu.bootstrap(), "txn", &[], &|| tansu.logs());
}

fn mock_2_16() -> MockCluster {
    let mock = MockCluster::start_v2_16(1).unwrap_or_else(|e| panic!("starting the mock: {e}"));
    mock.create_topic("txn", 1, 1)
        .unwrap_or_else(|e| panic!("creating txn: {e}\n{}", mock.logs()));
    mock
}

#[test]
fn mock_2_16_read_committed_reads_transactions_without_crc_checks() {
    init_logging();
    let mock = mock_2_16();
    check(
        &mock.bootstrap(),
        "txn",
        &[("check.crcs", "false")],
        &|| mock.logs(),
    );
}

#[test]
fn mock_2_16_markers_fail_the_crc_check_by_default() {
    init_logging();
    let mock = mock_2_16();
    let (_, _) = produce(&mock.bootstrap(), "txn", &|| mock.logs());
    let tp = TopicPartition::new("txn", 0);
    let mut c = read_committed_consumer(&mock.bootstrap(), &[]);
    c.assign([tp.clone()]).expect("assign");
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    let err = loop {
        match c.poll(Duration::from_millis(200)) {
            Ok(records) => got.extend(records.into_iter().map(|r| r.offset)),
            Err(e) => break e,
        }
        assert!(Instant::now() < deadline, "no CRC error; got {got:?}");
    };
    match &err {
        KafkaError::Consumer(ConsumerError::CorruptRecord {
            tp: t,
            offset,
            source,
        }) => {
            assert_eq!(t, &tp);
            assert_eq!(*offset, 3, "stopped at the first marker");
            assert!(
                matches!(source.kind, RecordErrorKind::CrcMismatch { stored: 0, .. }),
                "{source}"
            );
        }
        other => panic!("expected a CRC error at the first marker, got {other}"),
    }
    // The records before the marker were delivered; the position stays at the marker.
    assert_eq!(got, vec![0, 1, 2]);
    assert_eq!(c.position(&tp).expect("position"), 3);
}
