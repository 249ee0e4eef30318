//! Against Tansu, a broker that speaks the current flexible protocol
//! versions (Metadata v12 with topic ids, Fetch v12+, ListOffsets v6+):
//! records produced by kafka-python arrive exactly; from-end and seeks work.
//!
//! kcat cannot talk to Tansu (librdkafka fails its ApiVersions handshake),
//! so the Python producer writes and reports the offsets.

use std::time::Duration;

use consumer_net::KafkaConsumer;
use integration_tests::{
    init_logging, library_consumer, partitions, poll_count, poll_for, produce_python, Compression,
    Expected, Record, Tansu, WAIT,
};

fn start(topic: &str, partitions: i32) -> Tansu {
    let tansu = Tansu::start().unwrap_or_else(|e| panic!("starting tansu: {e}"));
    tansu
        .create_topic(topic, partitions)
        .unwrap_or_else(|e| panic!("creating {topic} on tansu: {e}\n{}", tansu.logs()));
    tansu
}

fn produce(tansu: &Tansu, topic: &str, records: &[Record], codec: Compression) -> Expected {
    let produced = produce_python(&tansu.bootstrap(), topic, records, codec)
        .unwrap_or_else(|e| panic!("producing to tansu: {e}\n{}", tansu.logs()));
    assert!(produced.records.iter().all(|r| r.offset.is_some()));
    Expected::of(&produced)
}

/// Keys (some null or binary), tombstones, repeated and binary headers, and
/// explicit timestamps.
fn records(n: usize, partitions: i32, tag: &str, ts_base: i64) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let p = (i % partitions as usize) as i32;
            let mut r = match i % 10 {
                3 => Record::tombstone(p).with_key(format!("{tag}-k{i}")),
                5 => Record::new(p, format!("{tag}-no-key-{i}")),
                7 => Record::new(p, vec![0u8, 0xff, (i % 256) as u8]).with_key(vec![0xc3, 0x28]),
                _ => Record::new(p, format!("{tag}-v{i}-").repeat(1 + i % 5))
                    .with_key(format!("{tag}-k{i}")),
            };
            r = r.with_header("i", i.to_string());
            if i % 4 == 0 {
                r = r
                    .with_header("bin", vec![0u8, 0xff, i as u8])
                    .with_header("i", "again")
                    .with_header("empty", "");
            }
            r.with_timestamp(ts_base + i as i64 * 3)
        })
        .collect()
}

fn quiet(c: &mut KafkaConsumer) {
    let extra = poll_for(c, Duration::from_millis(800));
    assert!(extra.is_empty(), "unexpected extra records: {extra:?}");
}

#[test]
fn python_records_arrive_exactly() {
    init_logging();
    let topic = "tansu-exact";
    let tansu = start(topic, 3);
    let bs = tansu.bootstrap();
    let mut expected = produce(
        &tansu,
        topic,
        &records(450, 3, "a", 1_700_000_000_000),
        Compression::None,
    );
    // A second wave, compressed, in the same partitions.
    let second = produce_python(
        &bs,
        topic,
        &records(150, 3, "b", 1_700_000_100_000),
        Compression::Zstd,
    )
    .expect("produce second wave");
    expected.add(&second);

    let mut c = library_consumer(&bs, &[("auto.offset.reset", "earliest")]);
    let tps = partitions(topic, 3);
    c.assign(tps.clone()).expect("assign");
    let got = poll_count(&mut c, expected.len(), "all 600 records from tansu");
    expected.assert_delivered(&got);
    quiet(&mut c);

    // The flexible Metadata versions carry topic ids.
    let id = c.core().metadata().topic(topic).map(|t| t.id);
    assert!(
        id.is_some_and(|id| id != [0; 16]),
        "no topic id from tansu's metadata: {id:?}"
    );
    for tp in &tps {
        let end = expected.end_offset(tp.partition);
        assert_eq!(c.position(tp).expect("position"), end, "{tp}");
        assert_eq!(c.high_watermark(tp), Some(end), "{tp}");
    }
}

#[test]
fn from_end_and_seek() {
    init_logging();
    let topic = "tansu-positions";
    let tansu = start(topic, 2);
    let bs = tansu.bootstrap();
    let mut all = produce(
        &tansu,
        topic,
        &records(200, 2, "old", 1_700_000_000_000),
        Compression::Lz4,
    );
    // Tansu answers ListOffsets(latest) with the base offset of the last
    // batch + 1, which is the end only when that batch holds one record:
    // end the topic with single-record batches (one producer call each).
    for p in 0..2 {
        let one = Record::new(p, format!("last-of-{p}")).with_key("last");
        all.add(&produce_python(&bs, topic, &[one], Compression::None).expect("produce"));
    }
    let tps = partitions(topic, 2);

    let mut c = library_consumer(&bs, &[("auto.offset.reset", "earliest")]);
    c.assign(tps.clone()).expect("assign");
    let begin = c.beginning_offsets(&tps, WAIT).expect("beginning offsets");
    let end = c.end_offsets(&tps, WAIT).expect("end offsets");
    for tp in &tps {
        assert_eq!(begin.get(tp), Some(&0), "{tp}");
        assert_eq!(end.get(tp), Some(&all.end_offset(tp.partition)), "{tp}");
    }

    c.seek_to_end(&tps).expect("seek to end");
    for tp in &tps {
        assert_eq!(c.position(tp).expect("position"), end[tp], "{tp}");
    }
    quiet(&mut c);
    let new = produce_python(
        &bs,
        topic,
        &records(60, 2, "new", 1_700_000_200_000),
        Compression::Gzip,
    )
    .expect("produce after seek");
    all.add(&new);
    let want = all.filtered(|p, o| o >= end[&tps[p as usize]]);
    assert_eq!(want.len(), 60);
    let got = poll_count(&mut c, want.len(), "records produced after seek_to_end");
    want.assert_delivered(&got);
    quiet(&mut c);

    // Seeks: partition 0 back to 17, partition 1 to 150.
    c.seek(&tps[0], 17).expect("seek");
    c.seek(&tps[1], 150).expect("seek");
    let want = all.filtered(|p, o| o >= [17, 150][p as usize]);
    let got = poll_count(&mut c, want.len(), "records from the sought offsets");
    want.assert_delivered(&got);
    quiet(&mut c);
}

#[test]
fn batches_larger_than_the_fetch_limits_still_arrive() {
    init_logging();
    let topic = "tansu-large";
    let tansu = start(topic, 2);
    // 30 KB values against 1 KB partition / 4 KB response limits: the broker
    // must still return the first batch (KIP-74), and the library must keep
    // going batch after batch.
    let big: Vec<Record> = (0..40)
        .map(|i| {
            Record::new(i % 2, format!("{i:03}").repeat(10_000))
                .with_key(format!("k{i}"))
                .with_timestamp(1_700_000_000_000 + i64::from(i))
        })
        .collect();
    let expected = produce(&tansu, topic, &big, Compression::None);
    let mut c = library_consumer(
        &tansu.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("max.partition.fetch.bytes", "1024"),
            ("fetch.max.bytes", "4096"),
        ],
    );
    c.assign(partitions(topic, 2)).expect("assign");
    let got = poll_count(&mut c, expected.len(), "40 records of 30 KB");
    expected.assert_delivered(&got);
    quiet(&mut c);
}
