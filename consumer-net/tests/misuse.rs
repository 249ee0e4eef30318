//! Misuse and bad configuration: every mistake is refused with an error that names it
//! (the key and value, the partition, the call), and nothing is sent to a broker.
//!
//! The bootstrap address is never contacted: every refusal happens before any IO.

use std::time::Duration;

use consumer_core::{ConfigError, StateError};
use consumer_net::{KafkaConsumer, KafkaError, TopicPartition};

/// Timeouts kept short so that dropping a consumer never waits long.
const BASE: [(&str, &str); 4] = [
    ("bootstrap.servers", "127.0.0.1:1"),
    ("request.timeout.ms", "300"),
    ("default.api.timeout.ms", "300"),
    ("auto.offset.reset", "earliest"),
];

fn build(extra: &[(&str, &str)]) -> Result<KafkaConsumer, KafkaError> {
    let mut props = BASE.to_vec();
    props.extend_from_slice(extra);
    KafkaConsumer::from_properties(props)
}

fn consumer(extra: &[(&str, &str)]) -> KafkaConsumer {
    build(extra).unwrap_or_else(|e| panic!("{extra:?}: {e}"))
}

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

/// `props` are refused with InvalidValue for `key`, and the message names the key.
fn assert_invalid(props: &[(&str, &str)], key: &str, value: &str) {
    match build(props) {
        Err(KafkaError::Config(e @ ConfigError::InvalidValue { .. })) => {
            let ConfigError::InvalidValue {
                key: k, value: v, ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(k, key, "{props:?}: {e}");
            assert_eq!(v, value, "{props:?}: {e}");
            let msg = e.to_string();
            assert!(msg.contains(key) && msg.contains(value), "{msg}");
        }
        Err(e) => panic!("{props:?}: expected InvalidValue for {key}, got {e:?}"),
        Ok(_) => panic!("{props:?}: accepted"),
    }
}

#[test]
fn zero_or_negative_sizes_name_the_key() {
    for (key, value) in [
        ("fetch.max.bytes", "0"),
        ("fetch.max.bytes", "-1"),
        ("max.partition.fetch.bytes", "-1"),
        ("max.partition.fetch.bytes", "0"),
        ("max.poll.records", "0"),
        ("max.poll.records", "-3"),
        ("fetch.min.bytes", "-1"),
        ("max.decompressed.bytes", "0"),
        ("session.timeout.ms", "0"),
        ("heartbeat.interval.ms", "-1"),
        ("max.poll.interval.ms", "0"),
        ("request.timeout.ms", "-1"),
        ("fetch.max.wait.ms", "-5"),
        ("fetch.max.bytes", "lots"),
        ("fetch.max.bytes", "4294967296"),
    ] {
        assert_invalid(&[(key, value)], key, value);
    }
}

#[test]
fn unknown_assignor_names_key_and_value() {
    let strategy = ("partition.assignment.strategy", "range,sticky-ish");
    // Refused with or without a group: a typo must not wait for the first subscribe.
    assert_invalid(&[strategy], strategy.0, "sticky-ish");
    assert_invalid(&[strategy, ("group.id", "g")], strategy.0, "sticky-ish");
    assert_invalid(&[(strategy.0, " , ")], strategy.0, " , ");
}

#[test]
fn heartbeat_interval_must_be_below_session_timeout() {
    for hb in ["10000", "20000"] {
        assert_invalid(
            &[
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", hb),
            ],
            "heartbeat.interval.ms",
            hb,
        );
    }
    consumer(&[
        ("session.timeout.ms", "10000"),
        ("heartbeat.interval.ms", "9999"),
    ]);
}

#[test]
fn isolation_level_takes_both_levels_and_nothing_else() {
    let c = consumer(&[("isolation.level", "read_committed")]);
    drop(c);
    assert_invalid(
        &[("isolation.level", "serializable")],
        "isolation.level",
        "serializable",
    );
    consumer(&[("isolation.level", "read_uncommitted")]);
}

#[test]
fn unknown_and_missing_properties_are_named() {
    match build(&[("fetch.max.byte", "1")]) {
        Err(KafkaError::Config(ConfigError::UnknownProperty { key, .. })) => {
            assert_eq!(key, "fetch.max.byte")
        }
        other => panic!("{other:?}"),
    }
    match KafkaConsumer::from_properties([("client.id", "x")]) {
        Err(KafkaError::Config(ConfigError::Missing { key })) => {
            assert_eq!(key, "bootstrap.servers")
        }
        other => panic!("{other:?}"),
    }
    assert_invalid(
        &[("bootstrap.servers", "localhost")],
        "bootstrap.servers",
        "localhost",
    );
}

fn assert_state(r: Result<impl std::fmt::Debug, KafkaError>, want: StateError) {
    match r {
        Err(KafkaError::State(got)) => assert_eq!(got, want),
        other => panic!("expected {want:?}, got {other:?}"),
    }
}

#[test]
fn group_operations_without_group_id() {
    let mut c = consumer(&[]);
    assert_state(c.subscribe(["t"]), StateError::NoGroupId("subscribe"));
    assert_state(
        c.subscribe_pattern("t.*"),
        StateError::NoGroupId("subscribe_pattern"),
    );
    // Even with nothing consumed yet: a consumer without a group can never commit.
    assert_state(c.commit_sync(), StateError::NoGroupId("commit"));
    assert_state(c.commit_async(None), StateError::NoGroupId("commit"));
    c.assign([tp("t", 0)])
        .expect("assign works without a group");
    assert_state(c.commit_sync(), StateError::NoGroupId("commit"));
    assert_state(
        c.committed(&[tp("t", 0)], Duration::from_millis(100)),
        StateError::NoGroupId("committed"),
    );
}

#[test]
fn invalid_pattern_names_the_pattern() {
    let mut c = consumer(&[("group.id", "g")]);
    match c.subscribe_pattern("orders-(") {
        Err(KafkaError::State(StateError::InvalidPattern { pattern, reason })) => {
            assert_eq!(pattern, "orders-(");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }
    // The refused pattern changed nothing: a topic subscription is still allowed.
    c.subscribe(["orders"]).expect("subscribe");
}

#[test]
fn assign_and_subscribe_do_not_mix() {
    let mut c = consumer(&[("group.id", "g")]);
    c.assign([tp("t", 0)]).expect("assign");
    assert_state(c.subscribe(["t"]), StateError::SubscriptionMix);
    assert_state(c.subscribe_pattern("t.*"), StateError::SubscriptionMix);

    let mut c = consumer(&[("group.id", "g")]);
    c.subscribe(["t"]).expect("subscribe");
    assert_state(c.assign([tp("t", 0)]), StateError::SubscriptionMix);
}

#[test]
fn seek_checks_partition_and_offset() {
    let mut c = consumer(&[]);
    c.assign([tp("t", 0)]).expect("assign");
    let other = tp("t", 3);
    match c.seek(&other, 5) {
        Err(KafkaError::State(e @ StateError::NotAssigned(_))) => {
            assert_eq!(e, StateError::NotAssigned(other.clone()));
            assert!(e.to_string().contains("t-3"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_state(
        c.seek(&tp("t", 0), -1),
        StateError::NegativeOffset {
            tp: tp("t", 0),
            offset: -1,
        },
    );
    assert_state(
        c.seek_to_beginning(std::slice::from_ref(&other)),
        StateError::NotAssigned(other.clone()),
    );
    assert_state(
        c.pause(std::slice::from_ref(&other)),
        StateError::NotAssigned(other),
    );
    c.seek(&tp("t", 0), 7).expect("valid seek");
}

#[test]
fn calls_after_close_are_refused() {
    let mut c = consumer(&[("group.id", "g")]);
    c.assign([tp("t", 0)]).expect("assign");
    c.close().expect("close");
    c.close().expect("a second close does nothing");
    assert_state(c.poll(Duration::from_millis(10)), StateError::Closed);
    assert_state(c.assign([tp("t", 1)]), StateError::Closed);
    assert_state(c.subscribe(["t"]), StateError::Closed);
    assert_state(c.commit_sync(), StateError::Closed);
    assert_state(c.commit_async(None), StateError::Closed);
    assert_state(c.seek(&tp("t", 0), 1), StateError::Closed);
    assert_state(c.position(&tp("t", 0)), StateError::Closed);
    assert_state(
        c.partitions_for("t", Duration::from_millis(10)),
        StateError::Closed,
    );
}

#[test]
fn a_config_built_by_hand_is_validated_too() {
    // With #[non_exhaustive], a config "by hand" is a default one with fields set.
    let with = |change: &dyn Fn(&mut consumer_net::ConsumerConfig)| {
        let mut c = consumer_net::ConsumerConfig::default();
        c.bootstrap_servers = vec!["127.0.0.1:1".to_owned()];
        change(&mut c);
        c
    };
    let cases: [(&str, consumer_net::ConsumerConfig); 3] = [
        ("fetch.max.bytes", with(&|c| c.fetch_max_bytes = -1)),
        ("max.poll.records", with(&|c| c.max_poll_records = 0)),
        (
            "partition.assignment.strategy",
            with(&|c| c.partition_assignment_strategy = vec!["bogus".to_owned()]),
        ),
    ];
    for (key, config) in cases {
        match KafkaConsumer::new(config) {
            Err(KafkaError::Config(ConfigError::InvalidValue { key: k, .. })) => {
                assert_eq!(k, key)
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    assert!(matches!(
        KafkaConsumer::new(consumer_net::ConsumerConfig::default()),
        Err(KafkaError::Config(ConfigError::Missing { .. }))
    ));
}
