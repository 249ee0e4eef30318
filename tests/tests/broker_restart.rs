//! Brokers go down during consumption and come back: consumption resumes
//! where it stopped, with no record lost or delivered twice.

use std::time::Duration;

use consumer_net::KafkaConsumer;
use integration_tests::{
    consume_kcat, init_logging, library_consumer, mock_cluster, partitions, poll_for, poll_until,
    produce_kcat_with, sample_records, Compression, Expected, MockCluster, Record, WAIT,
};

/// Produces in small batches, so that consuming takes many fetches. Without
/// a read-back (kcat cannot read the whole topic while a leader is down):
/// see [`read_back`].
fn produce(cluster: &MockCluster, topic: &str, so_far: &Expected, records: &[Record]) -> Expected {
    let bs = cluster.bootstrap();
    let produced = produce_kcat_with(
        &bs,
        topic,
        records,
        Compression::None,
        &[("batch.num.messages", "25"), ("linger.ms", "1")],
    )
    .expect("produce");
    let mut all = so_far.clone();
    all.add(&produced);
    all
}

/// Checks the expectation against kcat's read-back and takes the timestamps.
fn read_back(cluster: &MockCluster, expected: &mut Expected, topic: &str) {
    let read = consume_kcat(&cluster.bootstrap(), topic, WAIT).expect("kcat read-back");
    expected.timestamps_from(&read);
}

/// 1200 sample records over the 3 partitions of `topic`, partition p led by broker
/// p % `brokers` + 1; and a consumer from the earliest offset, 20 records a poll,
/// reconnecting quickly (plus the properties `extra`), assigned every partition.
fn start(
    brokers: usize,
    topic: &str,
    extra: &[(&str, &str)],
) -> (MockCluster, Expected, KafkaConsumer) {
    let cluster = mock_cluster(brokers);
    cluster.create_topic(topic, 3, 3).expect("create topic");
    for p in 0..3 {
        let leader = p % brokers as i32 + 1;
        cluster.set_leader(topic, p, leader).expect("set leader");
    }
    let all = produce(
        &cluster,
        topic,
        &Expected::new(topic),
        &sample_records(1200, 3, "r"),
    );
    let mut props = vec![
        ("auto.offset.reset", "earliest"),
        ("max.poll.records", "20"),
        ("reconnect.backoff.max.ms", "500"),
    ];
    props.extend_from_slice(extra);
    let mut c = library_consumer(&cluster.bootstrap(), &props);
    c.assign(partitions(topic, 3)).expect("assign");
    (cluster, all, c)
}

#[test]
fn consumption_resumes_after_the_leader_restarts() {
    init_logging();
    let topic = "restart-one";
    let (cluster, first, mut c) = start(3, topic, &[]);
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "a quarter of the records", |g| {
        g.len() >= first.len() / 4
    });

    // Broker 2 leads partition 1. While it is down the other partitions flow,
    // including records produced meanwhile.
    cluster.broker_down(2).expect("broker down");
    let during: Vec<Record> = sample_records(60, 2, "down")
        .into_iter()
        .map(|r| Record {
            partition: r.partition * 2,
            ..r
        })
        .collect();
    let mut all = produce(&cluster, topic, &first, &during);
    let others = all.filtered(|p, _| p != 1).len();
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "partitions 0 and 2 while broker 2 is down",
        |g| g.iter().filter(|r| r.partition != 1).count() >= others,
    );
    let p1_before = got.iter().filter(|r| r.partition == 1).count();
    assert!(
        p1_before < all.partition(1).len(),
        "partition 1 was complete before its leader went down: the test proves nothing"
    );
    got.extend(poll_for(&mut c, Duration::from_millis(1500)));

    cluster.broker_up(2).expect("broker up");
    read_back(&cluster, &mut all, topic);
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "partition 1 after broker 2 is back",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

#[test]
fn consumption_resumes_after_every_broker_restarts() {
    init_logging();
    let topic = "restart-all";
    let (cluster, all, mut c) = start(2, topic, &[]);
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "a third of the records", |g| {
        g.len() >= all.len() / 3
    });
    cluster.broker_down(-1).expect("all brokers down");
    // Whatever was buffered may still come out; then nothing can.
    got.extend(poll_for(&mut c, Duration::from_millis(2000)));
    assert!(
        got.len() < all.len(),
        "everything arrived before the outage"
    );
    cluster.broker_up(-1).expect("all brokers up");
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "every record after the outage",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

#[test]
fn a_broker_slower_than_the_request_timeout_is_retried() {
    init_logging();
    let topic = "restart-slow";
    let (cluster, all, mut c) = start(3, topic, &[("request.timeout.ms", "1500")]);
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "a quarter of the records", |g| {
        g.len() >= all.len() / 4
    });
    // Broker 3 (leader of partition 2) answers only after 4 s: its requests
    // time out, the connection is dropped and retried; the others flow.
    cluster
        .set_rtt(3, Duration::from_secs(4))
        .expect("slow broker");
    let others = all.filtered(|p, _| p != 2).len();
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "partitions 0 and 1 while broker 3 is slow",
        |g| g.iter().filter(|r| r.partition != 2).count() >= others,
    );
    got.extend(poll_for(&mut c, Duration::from_millis(2000)));
    let p2 = got.iter().filter(|r| r.partition == 2).count();
    assert!(
        p2 < all.partition(2).len(),
        "partition 2 completed while its leader was slow: the test proves nothing"
    );
    cluster
        .set_rtt(3, Duration::ZERO)
        .expect("broker back to speed");
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "partition 2 once broker 3 is fast again",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}
