//! `KafkaConsumer::partitions_for` against the librdkafka mock cluster.

use std::time::{Duration, Instant};

use consumer_net::{KafkaConsumer, KafkaError};
use integration_tests::{error_code, test_on_each_mock, MockCluster, MockVersion};

fn consumer(cluster: &MockCluster) -> KafkaConsumer {
    KafkaConsumer::from_properties([
        ("bootstrap.servers", cluster.bootstrap().as_str()),
        ("allow.auto.create.topics", "false"),
        ("retry.backoff.ms", "20"),
    ])
    .expect("consumer")
}

fn lists_the_partitions_of_a_topic(version: MockVersion) {
    let cluster = MockCluster::start_version(version, 3).expect("start mock cluster");
    cluster.create_topic("pf-five", 5, 2).expect("create topic");
    cluster.create_topic("pf-one", 1, 1).expect("create topic");
    let mut c = consumer(&cluster);
    let timeout = Duration::from_secs(20);
    assert_eq!(
        c.partitions_for("pf-five", timeout).unwrap(),
        vec![0, 1, 2, 3, 4]
    );
    // A second topic is added to the topics of interest; the first stays known.
    assert_eq!(c.partitions_for("pf-one", timeout).unwrap(), vec![0]);
    assert_eq!(
        c.partitions_for("pf-five", timeout).unwrap(),
        vec![0, 1, 2, 3, 4]
    );
}

fn unknown_topic_is_empty_and_retriable_errors_time_out(version: MockVersion) {
    let cluster = MockCluster::start_version(version, 1).expect("start mock cluster");
    cluster.create_topic("pf-err", 3, 1).expect("create topic");
    let mut c = consumer(&cluster);

    cluster
        .set_topic_error("pf-err", error_code::UNKNOWN_TOPIC_OR_PARTITION)
        .expect("topic error");
    let started = Instant::now();
    assert_eq!(
        c.partitions_for("pf-err", Duration::from_secs(20)).unwrap(),
        Vec::<i32>::new()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered at once"
    );

    cluster
        .set_topic_error("pf-err", error_code::LEADER_NOT_AVAILABLE)
        .expect("topic error");
    let err = c
        .partitions_for("pf-err", Duration::from_millis(700))
        .unwrap_err();
    match &err {
        KafkaError::Timeout {
            operation, cause, ..
        } => {
            assert_eq!(*operation, "partition lookup");
            let cause = cause.as_deref().unwrap_or_default();
            assert!(cause.contains("LEADER_NOT_AVAILABLE"), "{err}");
        }
        other => panic!("expected a timeout, got {other:?}"),
    }

    // Once the error clears, the retries find the partitions.
    cluster
        .set_topic_error("pf-err", 0)
        .expect("clear topic error");
    assert_eq!(
        c.partitions_for("pf-err", Duration::from_secs(20)).unwrap(),
        vec![0, 1, 2]
    );
}

test_on_each_mock!(
    lists_the_partitions_of_a_topic,
    unknown_topic_is_empty_and_retriable_errors_time_out,
);
