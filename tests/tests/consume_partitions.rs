//! Consuming every partition of a multi-broker topic from the beginning:
//! the library delivers exactly what was produced, per partition in order.

use std::time::Duration;

use integration_tests::{
    consume_kcat, init_logging, library_consumer, mock_cluster, partitions, poll_count, poll_for,
    produce_kcat, produce_python_with, Compression, Expected, MockCluster, Record, WAIT,
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

#[test]
fn all_partitions_from_beginning_with_earliest_reset() {
    init_logging();
    let cluster = mock_cluster(3);
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

#[test]
fn seek_to_beginning_overrides_latest_reset() {
    init_logging();
    let cluster = mock_cluster(3);
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
