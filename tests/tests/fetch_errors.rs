//! Retriable broker errors and dropped connections on the consume path
//! (injected into Fetch and ListOffsets answers): the library retries, and
//! every record arrives exactly once, in order.

use std::time::Duration;

use integration_tests::{
    api_key, consume_kcat, error_code, init_logging, library_consumer, mock_cluster_on, partitions,
    poll_for, poll_until, produce_kcat_with, sample_records, test_on_each_mock, Compression,
    Expected, MockCluster, MockVersion, WAIT,
};

/// KAFKA_STORAGE_ERROR: retriable, refresh metadata.
const KAFKA_STORAGE_ERROR: i32 = 56;

fn setup(version: MockVersion, topic: &str) -> (MockCluster, Expected) {
    let cluster = mock_cluster_on(version, 2);
    cluster.create_topic(topic, 2, 2).expect("create topic");
    // One partition per broker, so that both brokers serve fetches.
    cluster.set_leader(topic, 0, 1).expect("set leader");
    cluster.set_leader(topic, 1, 2).expect("set leader");
    let bs = cluster.bootstrap();
    let produced = produce_kcat_with(
        &bs,
        topic,
        &sample_records(400, 2, "e"),
        Compression::Snappy,
        &[("batch.num.messages", "20"), ("linger.ms", "1")],
    )
    .expect("produce");
    let mut all = Expected::of(&produced);
    all.timestamps_from(&consume_kcat(&bs, topic, WAIT).expect("kcat read-back"));
    (cluster, all)
}

fn retriable_fetch_errors_and_dropped_connections(version: MockVersion) {
    init_logging();
    let topic = "errors-fetch";
    let (cluster, all) = setup(version, topic);
    let mut c = library_consumer(
        &cluster.bootstrap(),
        &[
            ("auto.offset.reset", "earliest"),
            ("max.poll.records", "15"),
        ],
    );
    c.assign(partitions(topic, 2)).expect("assign");
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "the first records", |g| {
        g.len() >= 30
    });

    // Each broker fails its next Fetch answers for all their partitions,
    // or (transport) drops the connection instead of answering.
    let errors: Vec<(i32, Duration)> = [
        error_code::NOT_LEADER_OR_FOLLOWER,
        MockCluster::ERR_TRANSPORT,
        error_code::REQUEST_TIMED_OUT,
        error_code::UNKNOWN_TOPIC_OR_PARTITION,
        error_code::LEADER_NOT_AVAILABLE,
        MockCluster::ERR_TRANSPORT,
        error_code::FENCED_LEADER_EPOCH,
        error_code::UNKNOWN_LEADER_EPOCH,
        KAFKA_STORAGE_ERROR,
    ]
    .into_iter()
    .map(|e| (e, Duration::from_millis(5)))
    .collect();
    for b in 1..=2 {
        cluster
            .push_broker_errors(b, api_key::FETCH, &errors)
            .expect("inject fetch errors");
    }
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "every record through the errors",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);
    // The library went through every injected error (it fetches from both).
    for b in 1..=2 {
        let left = cluster
            .broker_error_count(b, api_key::FETCH)
            .expect("count");
        assert_eq!(left, 0, "broker {b} still has {left} injected errors");
    }
}

fn retriable_list_offsets_errors_during_reset(version: MockVersion) {
    init_logging();
    let topic = "errors-list-offsets";
    let (cluster, all) = setup(version, topic);
    cluster
        .push_errors(
            api_key::LIST_OFFSETS,
            &[
                error_code::NOT_LEADER_OR_FOLLOWER,
                MockCluster::ERR_TRANSPORT,
                error_code::REQUEST_TIMED_OUT,
                error_code::LEADER_NOT_AVAILABLE,
                error_code::UNKNOWN_TOPIC_OR_PARTITION,
            ],
        )
        .expect("inject list offsets errors");
    let mut c = library_consumer(&cluster.bootstrap(), &[("auto.offset.reset", "earliest")]);
    let tps = partitions(topic, 2);
    c.assign(tps.clone()).expect("assign");
    let mut got = Vec::new();
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "every record after the reset",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);

    // Caller lookups go through the same errors.
    cluster
        .push_errors(
            api_key::LIST_OFFSETS,
            &[
                error_code::NOT_LEADER_OR_FOLLOWER,
                MockCluster::ERR_TRANSPORT,
            ],
        )
        .expect("inject list offsets errors");
    let end = c.end_offsets(&tps, WAIT).expect("end offsets");
    for tp in &tps {
        assert_eq!(end.get(tp), Some(&all.end_offset(tp.partition)), "{tp}");
    }
}

/// UNKNOWN_SERVER_ERROR.
const UNKNOWN_SERVER_ERROR: i32 = -1;

/// The Java consumer retries every ListOffsets partition error except topic
/// authorization (OffsetFetcherUtils.handleListOffsetResponse): an
/// unexpected error must neither fail `poll` nor an offset lookup.
fn unexpected_list_offsets_errors_are_retried(version: MockVersion) {
    init_logging();
    let topic = "errors-list-offsets-unexpected";
    let (cluster, all) = setup(version, topic);
    let tps = partitions(topic, 2);
    cluster
        .push_errors(
            api_key::LIST_OFFSETS,
            &[UNKNOWN_SERVER_ERROR, UNKNOWN_SERVER_ERROR],
        )
        .expect("inject list offsets errors");
    let mut c = library_consumer(&cluster.bootstrap(), &[("auto.offset.reset", "earliest")]);
    c.assign(tps.clone()).expect("assign");
    let mut got = Vec::new();
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "every record after the reset",
        |g| g.len() >= all.len(),
    );
    got.extend(poll_for(&mut c, Duration::from_millis(700)));
    all.assert_delivered(&got);

    cluster
        .push_errors(api_key::LIST_OFFSETS, &[UNKNOWN_SERVER_ERROR])
        .expect("inject list offsets errors");
    let begin = c.beginning_offsets(&tps, WAIT).expect("beginning offsets");
    for tp in &tps {
        assert_eq!(begin.get(tp), Some(&0), "{tp}");
    }
}

test_on_each_mock!(
    retriable_fetch_errors_and_dropped_connections,
    retriable_list_offsets_errors_during_reset,
    unexpected_list_offsets_errors_are_retried,
);
