//! Partition leadership moves (and briefly disappears) while the library
//! consumes: every record still arrives exactly once, in order.

use std::time::Duration;

use consumer_net::KafkaConsumer;
use integration_tests::{
    error_code, init_logging, library_consumer, mock_cluster_on, partitions, poll_for, poll_until,
    produce_read_back, sample_records, test_on_each_mock, Expected, MockCluster, MockVersion,
    Record, WAIT,
};

/// Produces in small batches, so that consuming a partition takes many fetches
/// (the mock answers each fetch with one batch).
fn produce(cluster: &MockCluster, topic: &str, so_far: &Expected, records: &[Record]) -> Expected {
    let small_batches = [("batch.num.messages", "25"), ("linger.ms", "1")];
    produce_read_back(cluster, topic, so_far, records, &small_batches)
}

fn set_leaders(cluster: &MockCluster, topic: &str, leaders: [i32; 3]) {
    for (p, b) in leaders.into_iter().enumerate() {
        cluster
            .set_leader(topic, p as i32, b)
            .expect("set partition leader");
    }
}

/// A 3-broker cluster where brokers 1, 2 and 3 lead the 3 partitions of `topic`, which
/// holds `n` sample records tagged `tag`, and a library consumer assigned all of them
/// from the start. At most 20 records a poll, so that the leaders can move mid-stream.
/// `leaderless`: the test will leave partitions without a leader (see
/// [`MockCluster::allow_leaderless_partitions`]).
fn start(
    version: MockVersion,
    topic: &str,
    n: usize,
    tag: &str,
    leaderless: bool,
) -> (MockCluster, Expected, KafkaConsumer) {
    let cluster = mock_cluster_on(version, 3);
    if leaderless {
        cluster
            .allow_leaderless_partitions()
            .expect("keeping the mock's Fetch below v12");
    }
    cluster.create_topic(topic, 3, 3).expect("create topic");
    set_leaders(&cluster, topic, [1, 2, 3]);
    let all = produce(
        &cluster,
        topic,
        &Expected::new(topic),
        &sample_records(n, 3, tag),
    );
    let mut c = library_consumer(
        &cluster.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "20"),
        ],
    );
    c.assign(partitions(topic, 3)).expect("assign");
    (cluster, all, c)
}

fn every_record_arrives_once_while_leaders_move(version: MockVersion) {
    init_logging();
    let topic = "leader-move";
    let (cluster, first, mut c) = start(version, topic, 1200, "m", false);
    let mut got = Vec::new();
    let n = first.len();

    // Move every leader twice while records are still coming.
    poll_until(&mut c, &mut got, WAIT, "a quarter of the records", |g| {
        g.len() >= n / 4
    });
    set_leaders(&cluster, topic, [2, 3, 1]);
    poll_until(&mut c, &mut got, WAIT, "half of the records", |g| {
        g.len() >= n / 2
    });
    set_leaders(&cluster, topic, [3, 1, 2]);
    // New records land on the new leaders.
    let all = produce(&cluster, topic, &first, &sample_records(300, 3, "n"));
    poll_until(&mut c, &mut got, WAIT, "every record", |g| {
        g.len() >= all.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);

    // Caught up and idle at the end: move the leaders, then produce more.
    set_leaders(&cluster, topic, [1, 2, 3]);
    let all = produce(&cluster, topic, &all, &sample_records(90, 3, "o"));
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "records produced after the last move",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

fn consumption_resumes_after_a_partition_was_leaderless(version: MockVersion) {
    init_logging();
    let topic = "leader-none";
    let (cluster, all, mut c) = start(version, topic, 600, "x", true);
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "some of partition 2", |g| {
        g.iter().any(|r| r.partition == 2)
    });
    // Partition 2 has no leader for a while: the others go on.
    cluster.set_leader(topic, 2, -1).expect("leaderless");
    let others = all.filtered(|p, _| p != 2).len();
    poll_until(&mut c, &mut got, WAIT, "partitions 0 and 1", |g| {
        g.iter().filter(|r| r.partition != 2).count() >= others
    });
    got.extend(poll_for(&mut c, Duration::from_millis(1000)));
    cluster.set_leader(topic, 2, 1).expect("new leader");
    poll_until(&mut c, &mut got, WAIT, "the rest of partition 2", |g| {
        g.len() >= all.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

fn leader_moves_while_metadata_reports_a_topic_error(version: MockVersion) {
    init_logging();
    let topic = "leader-move-topic-error";
    let (cluster, all, mut c) = start(version, topic, 900, "t", true);
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "a third of the records", |g| {
        g.len() >= all.len() / 3
    });
    // For a while the topic has no leader and its metadata carries a topic
    // error (the mock still lists the partitions, leaderless); then it
    // comes back with new leaders. The library must keep asking.
    cluster
        .set_topic_error(topic, error_code::LEADER_NOT_AVAILABLE)
        .expect("topic error");
    set_leaders(&cluster, topic, [-1, -1, -1]);
    got.extend(poll_for(&mut c, Duration::from_millis(1500)));
    assert!(got.len() < all.len(), "everything arrived while leaderless");
    cluster
        .set_topic_error(topic, 0)
        .expect("clear topic error");
    set_leaders(&cluster, topic, [3, 1, 2]);
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "every record after the error cleared",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

test_on_each_mock!(
    every_record_arrives_once_while_leaders_move,
    consumption_resumes_after_a_partition_was_leaderless,
    leader_moves_while_metadata_reports_a_topic_error,
);
