//! Pausing a partition: none of its records arrive while it is paused (the
//! other partitions keep flowing), and after resume all of them arrive, in
//! order, exactly once.

use std::time::Duration;

use consumer_net::{KafkaConsumer, TopicPartition};
use integration_tests::{
    init_logging, library_consumer, mock_cluster_on, partitions, poll_for, poll_until,
    produce_read_back, sample_records, test_on_each_mock, Expected, MockCluster, MockVersion,
    Record, WAIT,
};

fn produce(cluster: &MockCluster, topic: &str, so_far: &Expected, records: &[Record]) -> Expected {
    produce_read_back(cluster, topic, so_far, records, &[])
}

fn count_of(got: &[consumer_net::ConsumerRecord], p: i32) -> usize {
    got.iter().filter(|r| r.partition == p).count()
}

/// `n` sample records tagged `tag` over `partition_count` partitions of `topic`, on
/// `brokers` brokers (each with a replica); and a consumer from the earliest offset,
/// `max_poll_records` a poll, assigned every partition (the returned list) but not yet
/// polled. Dropping the cluster stops the brokers: keep it until the end.
fn start(
    version: MockVersion,
    brokers: usize,
    topic: &str,
    partition_count: i32,
    n: usize,
    tag: &str,
    max_poll_records: &str,
) -> (MockCluster, Expected, Vec<TopicPartition>, KafkaConsumer) {
    let cluster = mock_cluster_on(version, brokers);
    cluster
        .create_topic(topic, partition_count, brokers as i32)
        .expect("create topic");
    let all = produce(
        &cluster,
        topic,
        &Expected::new(topic),
        &sample_records(n, partition_count, tag),
    );
    let tps = partitions(topic, partition_count);
    let mut c = library_consumer(
        &cluster.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", max_poll_records),
        ],
    );
    c.assign(tps.clone()).expect("assign");
    (cluster, all, tps, c)
}

fn paused_partition_delivers_nothing_until_resumed(version: MockVersion) {
    init_logging();
    let topic = "pause-before-fetch";
    let (cluster, first, tps, mut c) = start(version, 2, topic, 3, 900, "a", "50");
    c.pause(&tps[1..2]).expect("pause");
    assert_eq!(c.paused(), vec![tps[1].clone()]);

    let mut got = Vec::new();
    let others = first.filtered(|p, _| p != 1);
    poll_until(&mut c, &mut got, WAIT, "partitions 0 and 2", |g| {
        g.len() >= others.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(1000)));
    others.assert_delivered(&got);

    // More data everywhere while paused: 0 and 2 keep flowing, 1 stays silent.
    let all = produce(&cluster, topic, &first, &sample_records(450, 3, "b"));
    let others = all.filtered(|p, _| p != 1);
    poll_until(&mut c, &mut got, WAIT, "the second wave of 0 and 2", |g| {
        g.len() >= others.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(1000)));
    others.assert_delivered(&got);
    assert_eq!(count_of(&got, 1), 0);
    assert_eq!(c.position(&tps[1]).expect("position"), 0, "paused position");

    c.resume(&tps[1..2]).expect("resume");
    assert!(c.paused().is_empty());
    poll_until(&mut c, &mut got, WAIT, "partition 1 after resume", |g| {
        g.len() >= all.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

fn pause_holds_back_records_already_fetched(version: MockVersion) {
    init_logging();
    // Ten records per poll: a fetch brings far more, so the rest is buffered.
    let (_cluster, all, tps, mut c) = start(version, 1, "pause-buffered", 2, 1000, "c", "10");
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "some of partition 0", |g| {
        count_of(g, 0) > 0
    });
    c.pause(&tps[0..1]).expect("pause");
    let delivered0 = count_of(&got, 0);
    let position0 = c.position(&tps[0]).expect("position");
    assert_eq!(
        position0, delivered0 as i64,
        "position after {delivered0} records"
    );

    let want1 = all.filtered(|p, _| p == 1);
    poll_until(&mut c, &mut got, WAIT, "all of partition 1", |g| {
        count_of(g, 1) >= want1.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(1000)));
    assert_eq!(
        count_of(&got, 0),
        delivered0,
        "partition 0 records while paused"
    );
    assert_eq!(c.position(&tps[0]).expect("position"), position0);

    c.resume(&tps[0..1]).expect("resume");
    poll_until(&mut c, &mut got, WAIT, "the rest of partition 0", |g| {
        g.len() >= all.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

fn seek_while_paused_takes_effect_on_resume(version: MockVersion) {
    init_logging();
    let (_cluster, all, tps, mut c) = start(version, 1, "pause-seek", 2, 600, "s", "10");
    let mut before = Vec::new();
    poll_until(&mut c, &mut before, WAIT, "some of partition 0", |g| {
        count_of(g, 0) > 0
    });
    // Paused with fetched data buffered, then moved: the buffered data is
    // stale and must not come out after resume.
    c.pause(&tps[0..1]).expect("pause");
    c.seek(&tps[0], 250).expect("seek while paused");
    assert_eq!(c.position(&tps[0]).expect("position"), 250);
    let mut paused = Vec::new();
    poll_until(&mut c, &mut paused, WAIT, "all of partition 1", |g| {
        count_of(g, 1) + count_of(&before, 1) >= all.partition(1).len()
    });
    paused.extend(poll_for(&mut c, Duration::from_millis(800)));
    assert_eq!(count_of(&paused, 0), 0, "partition 0 records while paused");

    c.resume(&tps[0..1]).expect("resume");
    let want = all.filtered(|p, o| p == 0 && o >= 250);
    let mut after = Vec::new();
    poll_until(&mut c, &mut after, WAIT, "partition 0 from 250", |g| {
        g.len() >= want.len()
    });
    after.extend(poll_for(&mut c, Duration::from_millis(700)));
    want.assert_delivered(&after);
    // Before + while paused: a contiguous start of 0 and all of 1.
    let read0 = count_of(&before, 0) as i64;
    let mut first = before;
    first.extend(paused);
    all.filtered(|p, o| p == 1 || o < read0)
        .assert_delivered(&first);
}

test_on_each_mock!(
    paused_partition_delivers_nothing_until_resumed,
    pause_holds_back_records_already_fetched,
    seek_while_paused_takes_effect_on_resume,
);
