//! Log truncation detection (KIP-320) against librdkafka's mock cluster: each leader move
//! bumps the partition's leader epoch, and the library validates its positions with
//! OffsetForLeaderEpoch before fetching from the new leader, where the broker offers it
//! (the 2.16 mock, v2). The 2.0.2 mock has no OffsetForLeaderEpoch: consumption goes on
//! without validation. Either way every record arrives exactly once, in order.
//! (Truncation itself cannot be made on the mock: the simulated cluster's
//! `consumer-core/tests/log_truncation.rs` covers it.)

use std::time::Duration;

use integration_tests::api_key::OFFSET_FOR_LEADER_EPOCH;
use integration_tests::{
    init_logging, library_consumer, mock_cluster_on, partitions, poll_for, poll_until,
    produce_read_back, sample_records, test_on_each_mock, Expected, MockCluster, MockVersion,
    RequestCounter, WAIT,
};

/// OffsetForLeaderEpoch requests counted per broker (on the broker side, see
/// [`RequestCounter`]).
const MARKERS: usize = 100;

fn set_leaders(cluster: &MockCluster, topic: &str, leaders: [i32; 3]) {
    for (p, b) in leaders.into_iter().enumerate() {
        cluster
            .set_leader(topic, p as i32, b)
            .expect("set partition leader");
    }
}

/// OffsetForLeaderEpoch requests each of brokers 1..=3 answered since counting started.
fn validations(cluster: &MockCluster, counter: &RequestCounter) -> Vec<usize> {
    (1..=3).map(|b| counter.received(cluster, b)).collect()
}

fn positions_are_validated_after_leader_moves(version: MockVersion) {
    init_logging();
    let topic = "epoch-validation";
    let cluster = mock_cluster_on(version, 3);
    let offered = cluster
        .advertised_versions(1)
        .expect("ApiVersions")
        .get(&OFFSET_FOR_LEADER_EPOCH)
        .copied();
    match version {
        MockVersion::V2_16 => assert!(
            offered.is_some_and(|(_, max)| max >= 2),
            "the 2.16 mock offers OffsetForLeaderEpoch v2+: {offered:?}"
        ),
        _ => assert_eq!(offered, None, "the 2.0.2 mock has no OffsetForLeaderEpoch"),
    }
    let counter = offered.map(|_| {
        RequestCounter::start(&cluster, OFFSET_FOR_LEADER_EPOCH, &[1, 2, 3], MARKERS)
            .expect("queue markers")
    });
    cluster.create_topic(topic, 3, 3).expect("create topic");
    set_leaders(&cluster, topic, [1, 2, 3]);
    let small_batches = [("batch.num.messages", "25"), ("linger.ms", "1")];
    let first = produce_read_back(
        &cluster,
        topic,
        &Expected::new(topic),
        &sample_records(900, 3, "v"),
        &small_batches,
    );
    let mut c = library_consumer(
        &cluster.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "20"),
        ],
    );
    c.assign(partitions(topic, 3)).expect("assign");
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "a third of the records", |g| {
        g.len() >= first.len() / 3
    });
    if let Some(counter) = &counter {
        assert_eq!(
            validations(&cluster, counter),
            vec![0, 0, 0],
            "nothing to validate yet"
        );
    }
    // At most two batches (of 25) a partition were buffered before the move: reading
    // all of the first records takes fetches from each new leader.
    set_leaders(&cluster, topic, [2, 3, 1]);
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "the records produced before the move",
        |g| g.len() >= first.len(),
    );
    if let Some(counter) = &counter {
        // Each partition was fetched from its new leader, which validated its position
        // first (only the library's consumer is connected now).
        let seen = validations(&cluster, counter);
        assert!(
            seen.iter().all(|&n| n >= 1),
            "validations per broker: {seen:?}"
        );
    }
    set_leaders(&cluster, topic, [3, 1, 2]);
    let all = produce_read_back(
        &cluster,
        topic,
        &first,
        &sample_records(300, 3, "w"),
        &small_batches,
    );
    poll_until(&mut c, &mut got, WAIT, "every record", |g| {
        g.len() >= all.len()
    });
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
}

test_on_each_mock!(positions_are_validated_after_leader_moves);
