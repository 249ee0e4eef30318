//! Consuming every partition of a multi-broker topic from the beginning:
//! the library delivers exactly what was produced, per partition in order.

use std::time::Duration;

use consumer_net::ConsumerRecord;
use integration_tests::{
    consume_kcat, init_logging, library_consumer, mock_cluster_on, partitions, poll_count,
    poll_for, poll_until, produce_kcat, produce_python_with, sample_records, test_on_each_mock,
    Compression, Expected, MockCluster, MockVersion, Record, WAIT,
};

const PARTITIONS: i32 = 6;

/// ~5000 varied records: uneven spread over the partitions, null and
/// non-UTF-8 keys, tombstones, empty values, repeated and binary headers,
/// and explicit timestamps on most records.
fn varied_records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            // Uneven: partition 0 gets more than the others.
            let p = if i % 5 == 0 { 0 } else { (i % 6) as i32 };
            let value = match i % 53 {
                0 => None,
                1 => Some(Vec::new()),
                2 => Some(vec![0u8, 0xff, b'\n', b'\t', (i % 256) as u8]),
                3 => Some(format!("big-{i}-").repeat(200).into_bytes()),
                _ => Some(format!("value-{i}").into_bytes()),
            };
            let key = match i % 11 {
                0 if value.is_some() => None,
                1 => Some(vec![0xfe, 0x00, (i % 256) as u8]),
                _ => Some(format!("key-{i}").into_bytes()),
            };
            let mut r = Record {
                partition: p,
                key,
                value,
                headers: Vec::new(),
                timestamp_ms: None,
            };
            for h in 0..(i % 4) {
                r = r.with_header(format!("h{h}"), format!("{i}/{h}"));
            }
            if i % 7 == 0 {
                r = r
                    .with_header("dup", "first")
                    .with_header("dup", vec![0u8, 1, 2, 0xff])
                    .with_header("ключ", "");
            }
            // Odd records get the producer's clock (checked against kcat's read-back).
            if i % 2 == 0 {
                r = r.with_timestamp(1_700_000_000_000 + i as i64);
            }
            r
        })
        .collect()
}

fn all_partitions_from_beginning_with_earliest_reset(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 3);
    let bs = cluster.bootstrap();
    let topic = "consume-all-earliest";
    cluster
        .create_topic(topic, PARTITIONS, 3)
        .expect("create topic");
    let records = varied_records(5000);
    let produced = produce_python_with(
        &bs,
        topic,
        &records,
        Compression::None,
        MockCluster::KAFKA_PYTHON_CONFIG,
    )
    .expect("produce");
    let mut expected = Expected::of(&produced);
    expected.timestamps_from(&consume_kcat(&bs, topic, WAIT).expect("kcat read-back"));
    assert_eq!(expected.len(), 5000);

    let mut consumer = library_consumer(&bs, &[("auto.offset.reset", "earliest")]);
    let tps = partitions(topic, PARTITIONS);
    consumer.assign(tps.clone()).expect("assign");
    let got = poll_count(&mut consumer, expected.len(), "all 5000 records");
    expected.assert_delivered(&got);

    // Nothing more (no duplicates trailing in), and positions sit at the ends.
    let extra = poll_for(&mut consumer, Duration::from_millis(800));
    assert!(extra.is_empty(), "unexpected extra records: {extra:?}");
    for tp in &tps {
        let end = expected.end_offset(tp.partition);
        assert_eq!(consumer.position(tp).expect("position"), end, "{tp}");
        assert_eq!(consumer.high_watermark(tp), Some(end), "{tp}");
    }
}

fn seek_to_beginning_overrides_latest_reset(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 3);
    let bs = cluster.bootstrap();
    let topic = "consume-all-seek-beginning";
    cluster
        .create_topic(topic, PARTITIONS, 2)
        .expect("create topic");
    // kcat sets headers per invocation: keep them constant per partition.
    let records: Vec<Record> = (0..3000)
        .map(|i| {
            let p = (i % PARTITIONS as usize) as i32;
            Record::new(p, format!("v{i}-").repeat(1 + i % 20))
                .with_key(format!("k{i}"))
                .with_header("partition", p.to_string())
                .with_header("producer", "kcat")
        })
        .collect();
    let produced = produce_kcat(&bs, topic, &records, Compression::None).expect("produce");
    let mut expected = Expected::of(&produced);
    expected.timestamps_from(&consume_kcat(&bs, topic, WAIT).expect("kcat read-back"));

    // The default reset (latest) would skip everything; the explicit seek wins.
    let mut consumer = library_consumer(&bs, &[]);
    let tps = partitions(topic, PARTITIONS);
    consumer.assign(tps.clone()).expect("assign");
    consumer.seek_to_beginning(&tps).expect("seek to beginning");
    let got = poll_count(&mut consumer, expected.len(), "all 3000 records");
    expected.assert_delivered(&got);
    let extra = poll_for(&mut consumer, Duration::from_millis(800));
    assert!(extra.is_empty(), "unexpected extra records: {extra:?}");
}

/// Splits delivered records by topic, keeping the delivery order.
fn of_topic(got: &[ConsumerRecord], topic: &str) -> Vec<ConsumerRecord> {
    got.iter().filter(|r| &*r.topic == topic).cloned().collect()
}

fn kcat_expected(bs: &str, topic: &str, records: &[Record]) -> Expected {
    let produced = produce_kcat(bs, topic, records, Compression::Lz4).expect("produce");
    let mut expected = Expected::of(&produced);
    expected.timestamps_from(&consume_kcat(bs, topic, WAIT).expect("kcat read-back"));
    expected
}

fn many_partitions_of_several_topics_at_once(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 3);
    let bs = cluster.bootstrap();
    let (wide, narrow) = ("consume-wide", "consume-narrow");
    cluster.create_topic(wide, 64, 2).expect("create topic");
    cluster.create_topic(narrow, 2, 3).expect("create topic");
    let wide_expected = kcat_expected(&bs, wide, &sample_records(640, 64, "w"));
    let narrow_expected = kcat_expected(&bs, narrow, &sample_records(500, 2, "n"));

    let mut consumer = library_consumer(&bs, &[("auto.offset.reset", "earliest")]);
    let mut tps = partitions(wide, 64);
    tps.extend(partitions(narrow, 2));
    consumer.assign(tps).expect("assign");
    let total = wide_expected.len() + narrow_expected.len();
    let mut got = poll_count(&mut consumer, total, "both topics");
    got.extend(poll_for(&mut consumer, Duration::from_millis(800)));
    wide_expected.assert_delivered(&of_topic(&got, wide));
    narrow_expected.assert_delivered(&of_topic(&got, narrow));
    assert_eq!(got.len(), total, "records of other topics");
}

fn reassignment_mid_stream_drops_and_adds_partitions(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 2);
    let bs = cluster.bootstrap();
    let topic = "consume-reassign";
    cluster.create_topic(topic, 3, 2).expect("create topic");
    let expected = kcat_expected(&bs, topic, &sample_records(1500, 3, "r"));
    let tps = partitions(topic, 3);

    // Start with partitions 0 and 1, a few records per poll so that fetched
    // data is buffered when the assignment changes.
    let mut consumer = library_consumer(
        &bs,
        &[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "10"),
        ],
    );
    consumer.assign(tps[0..2].to_vec()).expect("assign");
    let mut before = Vec::new();
    poll_until(
        &mut consumer,
        &mut before,
        WAIT,
        "records of 0 and 1",
        |g| g.iter().any(|r| r.partition == 0) && g.iter().any(|r| r.partition == 1),
    );
    assert!(before.iter().all(|r| r.partition != 2));
    let read1 = before.iter().filter(|r| r.partition == 1).count() as i64;

    // Keep 1, drop 0, add 2: partition 1 continues where it was, 2 starts at
    // the beginning (earliest), nothing more of 0 arrives.
    consumer.assign(tps[1..3].to_vec()).expect("reassign");
    assert_eq!(consumer.assignment(), tps[1..3].to_vec());
    assert!(
        consumer.position(&tps[0]).is_err(),
        "partition 0 still assigned"
    );
    let after_want = expected.filtered(|p, o| (p == 1 && o >= read1) || p == 2);
    let mut after = poll_count(&mut consumer, after_want.len(), "partitions 1 and 2");
    after.extend(poll_for(&mut consumer, Duration::from_millis(800)));
    after_want.assert_delivered(&after);
    let read0 = before.iter().filter(|r| r.partition == 0).count() as i64;
    expected
        .filtered(|p, o| (p == 0 && o < read0) || (p == 1 && o < read1))
        .assert_delivered(&before);
}

fn zero_timeout_polls_make_progress(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 2);
    let bs = cluster.bootstrap();
    let topic = "consume-poll-zero";
    cluster.create_topic(topic, 4, 2).expect("create topic");
    let expected = kcat_expected(&bs, topic, &sample_records(800, 4, "z"));
    let mut consumer = library_consumer(&bs, &[("auto.offset.reset", "earliest")]);
    consumer.assign(partitions(topic, 4)).expect("assign");
    // A caller that never blocks in poll (it does its own waiting).
    let deadline = std::time::Instant::now() + WAIT;
    let mut got = Vec::new();
    let mut slowest = Duration::ZERO;
    while got.len() < expected.len() && std::time::Instant::now() < deadline {
        let t = std::time::Instant::now();
        got.extend(consumer.poll(Duration::ZERO).expect("poll(0)"));
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(1));
    }
    // Generous for a loaded machine, far below the 500 ms fetch wait.
    assert!(
        slowest < Duration::from_millis(200),
        "poll(0) blocked for {slowest:?}"
    );
    got.extend(poll_for(&mut consumer, Duration::from_millis(700)));
    expected.assert_delivered(&got);
}

test_on_each_mock!(
    all_partitions_from_beginning_with_earliest_reset,
    seek_to_beginning_overrides_latest_reset,
    many_partitions_of_several_topics_at_once,
    reassignment_mid_stream_drops_and_adds_partitions,
    zero_timeout_polls_make_progress,
);
