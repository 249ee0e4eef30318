//! Where consumption starts and how positions move: from the end, from given
//! offsets (forwards, backwards, mid-stream), out-of-range handling,
//! `position()`, and the offset lookups (`beginning_offsets`, `end_offsets`,
//! `offsets_for_times`) against what kcat reads back.

use std::collections::BTreeMap;
use std::time::Duration;

use consumer_core::ConsumerError;
use consumer_net::{KafkaConsumer, KafkaError, TopicPartition};
use integration_tests::{
    consume_kcat, init_logging, library_consumer, mock_cluster_on, partitions, poll_count,
    poll_for, poll_until, produce_kcat, produce_kcat_with, produce_read_back, sample_records,
    test_on_each_mock, Compression, Expected, MockCluster, MockVersion, Record, WAIT,
};

/// Produces `records` with kcat and returns everything the topic holds now
/// (`so_far` plus these), timestamps taken from kcat's read-back.
fn produce(cluster: &MockCluster, topic: &str, so_far: &Expected, records: &[Record]) -> Expected {
    produce_read_back(cluster, topic, so_far, records, &[])
}

fn assert_quiet(consumer: &mut KafkaConsumer, what: &str) {
    let extra = poll_for(consumer, Duration::from_millis(700));
    assert!(extra.is_empty(), "{what}: unexpected records {extra:?}");
}

fn from_end_only_records_produced_afterwards_arrive(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 2);
    let topic = "positions-from-end";
    cluster.create_topic(topic, 3, 2).expect("create topic");
    let before = produce(
        &cluster,
        topic,
        &Expected::new(topic),
        &sample_records(300, 3, "old"),
    );
    let tps = partitions(topic, 3);

    // Two ways to start at the end: the default reset (latest), and an
    // explicit seek that overrides auto.offset.reset=earliest.
    let mut by_reset = library_consumer(&cluster.bootstrap(), &[]);
    by_reset.assign(tps.clone()).expect("assign");
    let mut by_seek = library_consumer(&cluster.bootstrap(), &[("auto.offset.reset", "earliest")]);
    by_seek.assign(tps.clone()).expect("assign");
    by_seek.seek_to_end(&tps).expect("seek to end");
    for c in [&mut by_reset, &mut by_seek] {
        for tp in &tps {
            assert_eq!(
                c.position(tp).expect("position"),
                before.end_offset(tp.partition),
                "{tp}"
            );
        }
        assert_quiet(c, "nothing was produced after the seek");
    }

    let all = produce(&cluster, topic, &before, &sample_records(150, 3, "new"));
    let ends: BTreeMap<i32, i64> = (0..3).map(|p| (p, before.end_offset(p))).collect();
    let new = all.filtered(|p, o| o >= ends[&p]);
    assert_eq!(new.len(), 150);
    for c in [&mut by_reset, &mut by_seek] {
        let got = poll_count(c, new.len(), "the 150 records produced after the seek");
        new.assert_delivered(&got);
        assert_quiet(c, "after the new records");
        for tp in &tps {
            assert_eq!(
                c.position(tp).expect("position"),
                all.end_offset(tp.partition)
            );
        }
    }
}

fn seek_to_offsets_forwards_backwards_and_mid_stream(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 3);
    let topic = "positions-seek";
    cluster.create_topic(topic, 3, 3).expect("create topic");
    let all = produce(
        &cluster,
        topic,
        &Expected::new(topic),
        &sample_records(600, 3, "s"),
    );
    let tps = partitions(topic, 3);
    // Few records per poll, so that fetched data is still buffered when we seek.
    let mut c = library_consumer(&cluster.bootstrap(), &[("max.poll.records", "7")]);
    c.assign(tps.clone()).expect("assign");

    // Initial seeks, before any fetch: position() reflects them at once.
    let start = [(0, 50), (1, 0), (2, 199)];
    for (p, o) in start {
        c.seek(&tps[p as usize], o).expect("seek");
        assert_eq!(c.position(&tps[p as usize]).expect("position"), o);
    }
    let want = all.filtered(|p, o| o >= start[p as usize].1);
    let got = poll_count(&mut c, want.len(), "records from the sought offsets");
    want.assert_delivered(&got);
    assert_quiet(&mut c, "after the sought ranges");

    // Backwards: partition 0 again from offset 10; the others stay at the end.
    c.seek(&tps[0], 10).expect("seek back");
    let want = all.filtered(|p, o| p == 0 && o >= 10);
    let got = poll_count(&mut c, want.len(), "partition 0 again from offset 10");
    want.assert_delivered(&got);
    assert_quiet(&mut c, "after re-reading partition 0");

    // Mid-stream: re-read partition 1, jump ahead after the first poll that
    // returns some of it; buffered records before the jump must not leak.
    c.seek(&tps[1], 0).expect("seek");
    let mut first = Vec::new();
    poll_until(&mut c, &mut first, WAIT, "some of partition 1", |g| {
        !g.is_empty()
    });
    let read = first.len() as i64;
    assert!(read <= 7, "max.poll.records exceeded: {read}");
    all.filtered(|p, o| p == 1 && o < read)
        .assert_delivered(&first);
    c.seek(&tps[1], 150).expect("seek forward");
    assert_eq!(c.position(&tps[1]).expect("position"), 150);
    let want = all.filtered(|p, o| p == 1 && o >= 150);
    let got = poll_count(&mut c, want.len(), "partition 1 from offset 150");
    want.assert_delivered(&got);
    assert_quiet(&mut c, "after the jump");

    // Seeking to the end offset itself delivers nothing, and is not an error.
    c.seek(&tps[2], all.end_offset(2))
        .expect("seek to end offset");
    assert_quiet(&mut c, "positioned at the end");
}

fn out_of_range_positions_reset_or_fail_per_policy(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 1);
    let topic = "positions-out-of-range";
    cluster.create_topic(topic, 2, 1).expect("create topic");
    let all = produce(
        &cluster,
        topic,
        &Expected::new(topic),
        &sample_records(100, 2, "r"),
    );
    let tps = partitions(topic, 2);

    // earliest: a position past the end is reset to the beginning.
    let mut c = library_consumer(&cluster.bootstrap(), &[("auto.offset.reset", "earliest")]);
    c.assign(tps.clone()).expect("assign");
    c.seek(&tps[0], 10_000).expect("seek past the end");
    c.seek(&tps[1], 20).expect("seek");
    let want = all.filtered(|p, o| p == 0 || o >= 20);
    let got = poll_count(&mut c, want.len(), "p0 reset to earliest, p1 from 20");
    want.assert_delivered(&got);
    assert_quiet(&mut c, "after the reset");

    // none: no position is an error, and so is a position out of range.
    let mut c = library_consumer(&cluster.bootstrap(), &[("auto.offset.reset", "none")]);
    c.assign(vec![tps[0].clone()]).expect("assign");
    match c.poll(Duration::from_secs(10)) {
        Err(KafkaError::Consumer(ConsumerError::NoOffsetForPartition { tp })) => {
            assert_eq!(tp, tps[0])
        }
        other => panic!("expected NoOffsetForPartition, got {other:?}"),
    }
    c.seek(&tps[0], 10_000).expect("seek past the end");
    let err = poll_error(&mut c);
    assert!(
        matches!(
            &err,
            KafkaError::Consumer(ConsumerError::OffsetOutOfRange { tp, offset: 10_000 })
                if *tp == tps[0]
        ),
        "expected OffsetOutOfRange at 10000, got {err:?}"
    );
    // After a valid seek it consumes normally.
    c.seek(&tps[0], 5).expect("seek");
    let want = all.filtered(|p, o| p == 0 && o >= 5);
    let got = poll_count(&mut c, want.len(), "p0 from 5 after the error");
    want.assert_delivered(&got);
}

/// Polls until an error comes (records are not expected meanwhile).
fn poll_error(c: &mut KafkaConsumer) -> KafkaError {
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        match c.poll(Duration::from_millis(500)) {
            Err(e) => return e,
            Ok(r) => assert!(r.is_empty(), "records while an error was expected: {r:?}"),
        }
    }
    panic!("no error within {WAIT:?}");
}

fn offset_lookups_match_what_kcat_reads(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 3);
    let topic = "positions-lookups";
    cluster.create_topic(topic, 4, 3).expect("create topic");
    // Uneven partitions: 0 stays empty, 1 gets 1 record, 2 gets 10, 3 gets 200.
    let records: Vec<Record> = [(1, 1), (2, 10), (3, 200)]
        .into_iter()
        .flat_map(|(p, n)| {
            sample_records(n, 1, "l")
                .into_iter()
                .map(move |r| Record { partition: p, ..r })
        })
        .collect();
    let bs = cluster.bootstrap();
    produce_kcat(&bs, topic, &records, Compression::None).expect("produce");
    let read = consume_kcat(&bs, topic, WAIT).expect("kcat read-back");
    let mut kcat_first: BTreeMap<i32, i64> = BTreeMap::new();
    let mut kcat_end: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &read {
        let f = kcat_first.entry(r.partition).or_insert(r.offset);
        *f = (*f).min(r.offset);
        let e = kcat_end.entry(r.partition).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    assert_eq!(read.len(), 211);

    let tps = partitions(topic, 4);
    let mut c = library_consumer(&bs, &[]);
    let begin = c.beginning_offsets(&tps, WAIT).expect("beginning offsets");
    let end = c.end_offsets(&tps, WAIT).expect("end offsets");
    for tp in &tps {
        let p = tp.partition;
        assert_eq!(
            begin.get(tp),
            Some(kcat_first.get(&p).unwrap_or(&0)),
            "{tp} begin"
        );
        assert_eq!(
            end.get(tp),
            Some(kcat_end.get(&p).unwrap_or(&0)),
            "{tp} end"
        );
    }

    // The mock does not index by time and answers "no offset" for every
    // timestamp: the library reports that as None, without failing.
    let query: Vec<(TopicPartition, i64)> = tps.iter().map(|tp| (tp.clone(), 0)).collect();
    let found = c
        .offsets_for_times(query.clone(), WAIT)
        .expect("offsets for times");
    assert_eq!(found.len(), 4);
    assert!(found.values().all(Option::is_none), "{found:?}");

    // Positions: earliest reset lands on the beginning, and consuming moves
    // each position to the end; the high watermark agrees.
    c.assign(tps.clone()).expect("assign");
    c.seek_to_beginning(&tps).expect("seek to beginning");
    for tp in &tps {
        assert_eq!(c.position(tp).expect("position"), begin[tp], "{tp}");
    }
    let got = poll_count(&mut c, 211, "all 211 records");
    assert_eq!(got.len(), 211, "extra records");
    assert_quiet(&mut c, "after everything");
    for tp in &tps {
        assert_eq!(c.position(tp).expect("position"), end[tp], "{tp}");
        if end[tp] > 0 {
            assert_eq!(c.high_watermark(tp), Some(end[tp]), "{tp}");
        }
    }
}

fn log_start_moved_up_by_the_broker(version: MockVersion) {
    init_logging();
    let cluster = mock_cluster_on(version, 1);
    let topic = "positions-log-start";
    cluster.create_topic(topic, 1, 1).expect("create topic");
    let bs = cluster.bootstrap();
    // The mock keeps 5 MB per partition: 70 batches of 100 KB evict the
    // oldest ones, so the log starts above 0.
    let records: Vec<Record> = (0..70)
        .map(|i| Record::new(0, format!("{i:04}").repeat(25_000)).with_key(format!("k{i}")))
        .collect();
    let produced = produce_kcat_with(
        &bs,
        topic,
        &records,
        Compression::None,
        &[("batch.num.messages", "1"), ("linger.ms", "0")],
    )
    .expect("produce");
    let read = consume_kcat(&bs, topic, WAIT).expect("kcat read-back");
    let first = read
        .iter()
        .map(|r| r.offset)
        .min()
        .expect("kcat read nothing");
    assert!(first > 0, "nothing was evicted; the test proves nothing");
    assert_eq!(read.len() as i64, 70 - first, "kcat read a gap");

    let tp = TopicPartition::new(topic, 0);
    let mut c = library_consumer(&bs, &[("auto.offset.reset", "earliest")]);
    let begin = c
        .beginning_offsets(std::slice::from_ref(&tp), WAIT)
        .expect("beginning");
    assert_eq!(begin.get(&tp), Some(&first));
    let end = c.end_offsets(std::slice::from_ref(&tp), WAIT).expect("end");
    assert_eq!(end.get(&tp), Some(&70));

    // A position below the log start is out of range: reset to the start.
    c.assign(vec![tp.clone()]).expect("assign");
    c.seek(&tp, 0).expect("seek");
    let mut want = Expected::of(&produced);
    want.retain(|_, o| o >= first);
    want.timestamps_from(&read);
    let got = poll_count(&mut c, want.len(), "the records still in the log");
    want.assert_delivered(&got);
    assert_quiet(&mut c, "after the log end");
    assert_eq!(c.position(&tp).expect("position"), 70);
}

test_on_each_mock!(
    from_end_only_records_produced_afterwards_arrive,
    seek_to_offsets_forwards_backwards_and_mid_stream,
    out_of_range_positions_reset_or_fail_per_policy,
    offset_lookups_match_what_kcat_reads,
    log_start_moved_up_by_the_broker,
);
