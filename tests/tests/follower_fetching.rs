//! Rack-aware fetching (KIP-392) against librdkafka's mock cluster: three brokers in racks
//! rack1..rack3, a 1-partition topic led by broker 1 with a follower on broker 2. The
//! library consumer with `client.rack=rack2` is told by the leader to read from broker 2
//! and does so: every record arrives once, in order, and the brokers' own request counts
//! show where the fetches went. When broker 2 goes down and the leader stops naming it,
//! the consumer reads the rest from the leader, exactly once.
//!
//! Where the fetches went is counted by the mock itself: each broker gets a stack of
//! "no error" entries for Fetch, one of which every Fetch it receives takes (the mock's
//! injected-error stack, with error code 0, changes nothing in the answer); the entries
//! left say how many Fetch requests it received.

use std::time::Duration;

use integration_tests::{
    api_key, init_logging, json_number_field, library_consumer, mock_cluster_on, partitions,
    poll_for, poll_until, produce_read_back, run_console_consumer, sample_records,
    test_on_each_mock, Expected, MockCluster, MockVersion, RequestCounter, WAIT,
};

/// Entries pushed on each broker's Fetch stack.
const COUNTED: usize = 3000;

/// Three brokers in racks rack1..rack3; `topic` (1 partition, led by broker 1, follower on
/// broker 2) holds 5000 records in batches of 25 (the mock answers one batch a fetch, so
/// reading takes many fetches). Fetches are counted from here on.
fn start(version: MockVersion, topic: &str) -> (MockCluster, Expected, RequestCounter) {
    let cluster = mock_cluster_on(version, 3);
    for b in 1..=3 {
        cluster
            .set_rack(b, &format!("rack{b}"))
            .expect("broker rack");
    }
    cluster.create_topic(topic, 1, 3).expect("create topic");
    cluster.set_leader(topic, 0, 1).expect("leader");
    let small_batches = [("batch.num.messages", "25"), ("linger.ms", "1")];
    // In chunks: kcat needs a delimiter byte that no record of a chunk holds.
    let mut all = Expected::new(topic);
    for chunk in 0..5 {
        let records = sample_records(1000, 1, &format!("f{chunk}"));
        all = produce_read_back(&cluster, topic, &all, &records, &small_batches);
    }
    assert_eq!(all.len(), 5000);
    cluster.set_follower(topic, 0, 2).expect("follower");
    let counter = RequestCounter::start(&cluster, api_key::FETCH, &[1, 2], COUNTED)
        .expect("pushing no-error entries");
    (cluster, all, counter)
}

fn reads_from_the_follower_then_the_leader(version: MockVersion) {
    init_logging();
    let topic = "rack-aware";
    let (cluster, all, counter) = start(version, topic);

    let mut c = library_consumer(
        &cluster.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("client.rack", "rack2"),
            ("max.poll.records", "100"),
        ],
    );
    c.assign(partitions(topic, 1)).expect("assign");
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "half of the records", |g| {
        g.len() >= 2500
    });

    // The leader was asked once (and named broker 2); broker 2 served the rest.
    let (leader, follower) = (counter.received(&cluster, 1), counter.received(&cluster, 2));
    log::info!(
        "{version}: {} records read; Fetch requests: broker 1 {leader}, broker 2 {follower}",
        got.len()
    );
    assert!(
        leader <= 2,
        "broker 1 received {leader} fetches (broker 2: {follower})"
    );
    assert!(
        follower >= got.len() / 25 / 2,
        "broker 2 received {follower} fetches for {} records",
        got.len()
    );

    // Broker 2 goes down. The mock's leader still names it: the consumer goes back and
    // forth at the pace of its reconnect backoff (or, when the 2.16 mock leaves the down
    // broker out of metadata, of retry.backoff.ms = 100 ms): about 20 fetches in 2 s at
    // most, where the loop of the issue made about 50 a second.
    cluster.broker_down(2).expect("broker 2 down");
    let leader_before = counter.received(&cluster, 1);
    got.extend(poll_for(&mut c, Duration::from_secs(2)));
    let leader_down = counter.received(&cluster, 1) - leader_before;
    log::info!("{version}: broker 2 down for 2 s: broker 1 received {leader_down} fetches");
    assert!(
        leader_down <= 20,
        "broker 1 received {leader_down} fetches in 2 s"
    );

    // The leader stops naming the dead follower (as a Kafka leader does once it leaves
    // the in-sync replicas): the rest comes from the leader.
    cluster.set_follower(topic, 0, -1).expect("no follower");
    let follower_before = counter.received(&cluster, 2);
    poll_until(&mut c, &mut got, WAIT, "every record", |g| {
        g.len() >= all.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
    assert_eq!(
        counter.received(&cluster, 2),
        follower_before,
        "broker 2 is down"
    );
    let leader_total = counter.received(&cluster, 1);
    log::info!("{version}: at the end: broker 1 {leader_total} fetches");
    assert!(
        leader_total > leader_before,
        "the rest came from the leader"
    );
}

/// The reproduction of the issue: the console consumer with `client.rack=rack2` read 0 of
/// 5000 records in 10 s, fetching from the leader in a loop.
fn console_consumer_reads_everything_from_the_follower(version: MockVersion) {
    init_logging();
    let topic = "rack-aware-console";
    let (cluster, _, counter) = start(version, topic);
    let bootstrap = cluster.bootstrap();
    let args = [
        "--bootstrap-server",
        &bootstrap,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "5000",
        "--timeout-ms",
        "10000",
        "--format",
        "json",
        "--consumer-property",
        "client.rack=rack2",
    ];
    let run = run_console_consumer(&args).expect("running the console consumer");
    assert!(run.success, "{}; stderr:\n{}", run.status, run.stderr);
    let offsets: Vec<i64> = run
        .stdout
        .lines()
        .map(|l| json_number_field(l, "offset").expect("an offset in each line"))
        .collect();
    assert_eq!(offsets, (0..5000).collect::<Vec<_>>());
    let (leader, follower) = (counter.received(&cluster, 1), counter.received(&cluster, 2));
    log::info!(
        "{version}: console consumer: Fetch requests: broker 1 {leader}, broker 2 {follower}"
    );
    assert!(
        leader <= 2,
        "broker 1 received {leader} fetches (broker 2: {follower})"
    );
    assert!(
        follower >= 5000 / 25,
        "broker 2 received {follower} fetches"
    );
}

test_on_each_mock!(
    reads_from_the_follower_then_the_leader,
    console_consumer_reads_everything_from_the_follower,
);
