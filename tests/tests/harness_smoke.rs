//! Smoke tests for the integration harness itself: brokers start, reference
//! clients round-trip data exactly, fault injection answers.

use std::time::Duration;

use integration_tests::{
    api_key, consume_kcat, consume_python, consumed_by_partition, error_code, kcat_metadata,
    produce_kcat, produce_kcat_with, produce_python, produce_python_with, test_on_each_mock,
    Compression, ConsumedRecord, CoordinatorType, HarnessError, MockCluster, MockVersion, Produced,
    Record, Tansu,
};

const CONSUME_TIMEOUT: Duration = Duration::from_secs(60);

/// Asserts that `consumed` holds exactly the `produced` records, partition by
/// partition in order, at offsets 0.. (the topic was empty before).
fn assert_round_trip(produced: &Produced, consumed: &[ConsumedRecord], check_timestamps: bool) {
    assert_eq!(consumed.len(), produced.len(), "record count");
    let want = produced.by_partition();
    let got = consumed_by_partition(consumed);
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>(),
        "partitions"
    );
    for (p, want) in &want {
        let got = &got[p];
        assert_eq!(got.len(), want.len(), "partition {p} count");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.offset, i as i64, "partition {p} offset");
            assert!(
                g.matches(&w.record),
                "partition {p} offset {i}: got {g:?}, want {:?}",
                w.record
            );
            if let Some(o) = w.offset {
                assert_eq!(g.offset, o, "reported offset");
            }
            if check_timestamps {
                if let Some(ts) = w.record.timestamp_ms {
                    assert_eq!(g.timestamp_ms, ts, "timestamp at {p}/{i}");
                }
            }
        }
    }
}

fn kcat_records(n: usize, partitions: i32) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let p = (i % partitions as usize) as i32;
            // Every 7th value is binary (newline, NUL, high bytes).
            let value = if i % 7 == 0 {
                vec![b'v', b'\n', 0, 0xff, (i % 256) as u8]
            } else {
                format!("value-{i}").into_bytes()
            };
            Record::new(p, value)
                .with_key(format!("key-{i}"))
                .with_header("src", "kcat")
                .with_header("p", p.to_string())
        })
        .collect()
}

fn mock_cluster_kcat_round_trip_1000_records(version: MockVersion) {
    let cluster = MockCluster::start_version(version, 3).expect("start mock cluster");
    let topic = "smoke-kcat-1000";
    cluster.create_topic(topic, 6, 3).expect("create topic");
    let records = kcat_records(1000, 6);
    let produced =
        produce_kcat(&cluster.bootstrap(), topic, &records, Compression::Lz4).expect("produce");
    assert_eq!(produced.len(), 1000);
    let consumed = consume_kcat(&cluster.bootstrap(), topic, CONSUME_TIMEOUT).expect("consume");
    assert_round_trip(&produced, &consumed, false);
}

fn mock_cluster_kcat_every_codec_and_null_handling(version: MockVersion) {
    let cluster = MockCluster::start_version(version, 1).expect("start mock cluster");
    for codec in Compression::ALL {
        let topic = format!("smoke-codec-{codec}");
        cluster.create_topic(&topic, 2, 1).expect("create topic");
        let mut records = kcat_records(40, 2);
        // Null key, empty value with a key, and a tombstone.
        records.push(Record::new(0, "no-key"));
        records.push(Record::new(0, "").with_key("empty-value"));
        records.push(Record::tombstone(1).with_key("tombstone"));
        records.push(Record::new(1, "after-tombstone").with_key(""));
        let produced =
            produce_kcat(&cluster.bootstrap(), &topic, &records, codec).expect("produce");
        let consumed =
            consume_kcat(&cluster.bootstrap(), &topic, CONSUME_TIMEOUT).expect("consume");
        assert_round_trip(&produced, &consumed, false);
    }
}

fn mock_cluster_python_producer_sets_timestamps(version: MockVersion) {
    let cluster = MockCluster::start_version(version, 2).expect("start mock cluster");
    let topic = "smoke-python-on-mock";
    cluster.create_topic(topic, 2, 2).expect("create topic");
    let records: Vec<Record> = (0..20)
        .map(|i| {
            Record::new(i % 2, format!("v{i}"))
                .with_key(format!("k{i}"))
                .with_header("i", i.to_string())
                .with_timestamp(1_700_000_000_000 + i64::from(i))
        })
        .collect();
    let produced = produce_python_with(
        &cluster.bootstrap(),
        topic,
        &records,
        Compression::Zstd,
        MockCluster::KAFKA_PYTHON_CONFIG,
    )
    .expect("produce");
    let consumed = consume_kcat(&cluster.bootstrap(), topic, CONSUME_TIMEOUT).expect("consume");
    assert_round_trip(&produced, &consumed, true);
}

fn mock_cluster_fault_injection_commands(version: MockVersion) {
    let cluster = MockCluster::start_version(version, 3).expect("start mock cluster");
    let bs = cluster.bootstrap();
    assert_eq!(cluster.broker_addrs().len(), 3);
    let topic = "smoke-faults";
    cluster.create_topic(topic, 2, 3).expect("create topic");
    cluster.set_leader(topic, 0, 2).expect("set leader");
    let md = kcat_metadata(&bs, Some(topic)).expect("metadata");
    assert!(md.contains("partition 0, leader 2"), "metadata:\n{md}");

    // Leader down: produce to partition 0 times out.
    cluster.broker_down(2).expect("broker down");
    let one = [Record::new(0, "x").with_key("k")];
    let err = produce_kcat_with(
        &bs,
        topic,
        &one,
        Compression::None,
        &[("message.timeout.ms", "1500")],
    )
    .expect_err("produce to a downed leader must fail");
    assert!(matches!(err, HarnessError::Failed { .. }), "{err}");
    cluster.broker_up(2).expect("broker up");
    produce_kcat(&bs, topic, &one, Compression::None).expect("produce after broker_up");

    // Retriable errors are absorbed by the producer's retries.
    cluster
        .push_errors(
            api_key::PRODUCE,
            &[
                error_code::NOT_LEADER_OR_FOLLOWER,
                error_code::REQUEST_TIMED_OUT,
            ],
        )
        .expect("push errors");
    produce_kcat(&bs, topic, &one, Compression::None).expect("produce through injected errors");
    let consumed = consume_kcat(&bs, topic, CONSUME_TIMEOUT).expect("consume");
    assert_eq!(consumed.len(), 2);

    cluster
        .push_broker_errors(
            1,
            api_key::FETCH,
            &[
                (0, Duration::from_millis(10)),
                (MockCluster::ERR_TRANSPORT, Duration::ZERO),
            ],
        )
        .expect("push broker errors");
    assert_eq!(
        cluster
            .broker_error_count(1, api_key::FETCH)
            .expect("count"),
        2
    );
    cluster
        .push_errors(api_key::FETCH, &[error_code::NOT_LEADER_OR_FOLLOWER])
        .expect("push");
    cluster.clear_errors(api_key::FETCH).expect("clear errors");
    cluster.set_rtt(3, Duration::from_millis(5)).expect("rtt");
    cluster.set_rtt(3, Duration::ZERO).expect("rtt reset");
    cluster
        .set_coordinator(CoordinatorType::Group, "g1", 3)
        .expect("coordinator");
    cluster.set_follower(topic, 1, 3).expect("follower");
    cluster
        .set_follower_watermarks(topic, 1, -1, -1)
        .expect("follower wmarks");
    cluster.set_rack(-1, "rack-a").expect("rack");
    cluster
        .set_api_version(api_key::FETCH, 0, 11)
        .expect("apiversion");
    cluster
        .set_topic_error("other-topic", error_code::LEADER_NOT_AVAILABLE)
        .expect("topic error");

    // Errors are reported, and the protocol stays in sync afterwards.
    let err = cluster
        .command("no_such_command")
        .expect_err("unknown command");
    assert!(matches!(err, HarnessError::Command { .. }), "{err}");
    let err = cluster
        .set_leader(topic, 0, 99)
        .expect_err("unknown broker");
    assert!(matches!(err, HarnessError::Command { .. }), "{err}");
    let err = cluster
        .create_topic("has space", 1, 1)
        .expect_err("bad topic name");
    assert!(matches!(err, HarnessError::InvalidInput(_)), "{err}");
    cluster.command("ping").expect("still in sync");
}

#[test]
fn kcat_rejects_what_it_cannot_produce() {
    // Validation happens before any broker is contacted.
    let bs = "127.0.0.1:1";
    for r in [
        Record::new(0, "v").with_timestamp(1),
        Record::new(0, ""),
        Record::tombstone(0),
        Record::new(0, "v").with_header("a=b", "c"),
    ] {
        let err = produce_kcat(bs, "t", &[r], Compression::None).expect_err("must reject");
        assert!(matches!(err, HarnessError::InvalidInput(_)), "{err}");
    }
}

#[test]
fn tansu_python_round_trip_with_group_consumer() {
    let tansu = Tansu::start().expect("start tansu");
    let topic = "smoke-tansu";
    tansu.create_topic(topic, 3).expect("create topic");
    let records: Vec<Record> = (0..30)
        .map(|i| {
            let r = match i % 10 {
                3 => Record::tombstone(i % 3).with_key(format!("k{i}")),
                5 => Record::new(i % 3, format!("no-key-{i}")),
                _ => Record::new(i % 3, format!("v{i}")).with_key(format!("k{i}")),
            };
            r.with_header("i", i.to_string())
                .with_header("bin", vec![0u8, 0xff, i as u8])
                .with_timestamp(1_700_000_000_000 + i64::from(i) * 1000)
        })
        .collect();
    let produced =
        produce_python(&tansu.bootstrap(), topic, &records, Compression::Gzip).expect("produce");
    assert!(produced.records.iter().all(|r| r.offset.is_some()));

    let consumed =
        consume_python(&tansu.bootstrap(), topic, 30, None, CONSUME_TIMEOUT).expect("consume");
    assert_round_trip(&produced, &consumed, true);

    let grouped = consume_python(
        &tansu.bootstrap(),
        topic,
        30,
        Some("smoke-group"),
        CONSUME_TIMEOUT,
    )
    .expect("group consume");
    assert_round_trip(&produced, &grouped, true);
}

/// What the librdkafka 2.16 mock advertises (ApiVersions v0, decoded with
/// consumer-core's codec): KIP-848's ConsumerGroupHeartbeat v1, flexible
/// versions of the consumer's APIs, and the classic group APIs it misparses
/// in their flexible versions capped by the harness (JoinGroup v5, SyncGroup
/// v3, LeaveGroup v2; natively 6, 4 and 4).
#[test]
fn mock_cluster_v2_16_advertises_kip848_and_join_group_up_to_v5() {
    let cluster = MockCluster::start_v2_16(2).expect("start the librdkafka 2.16 mock cluster");
    assert_eq!(cluster.version(), MockVersion::V2_16);
    assert!(
        cluster.librdkafka_version().starts_with("2.16."),
        "librdkafka {}",
        cluster.librdkafka_version()
    );
    for broker in 1..=2 {
        let v = cluster
            .advertised_versions(broker)
            .unwrap_or_else(|e| panic!("ApiVersions to broker {broker}: {e}"));
        assert_eq!(
            v.get(&api_key::CONSUMER_GROUP_HEARTBEAT),
            Some(&(1, 1)),
            "ConsumerGroupHeartbeat (68) of broker {broker}: {v:?}"
        );
        assert_eq!(
            v.get(&api_key::JOIN_GROUP),
            Some(&(0, 5)),
            "JoinGroup must be capped at v5 on broker {broker}: {v:?}"
        );
        assert_eq!(v.get(&api_key::SYNC_GROUP), Some(&(0, 3)), "{v:?}");
        assert_eq!(v.get(&api_key::LEAVE_GROUP), Some(&(0, 2)), "{v:?}");
        for (key, range) in [
            (api_key::FETCH, (0, 16)),
            (api_key::LIST_OFFSETS, (0, 7)),
            (api_key::METADATA, (0, 13)),
            (api_key::OFFSET_COMMIT, (0, 9)),
            (api_key::OFFSET_FETCH, (0, 6)),
            (api_key::FIND_COORDINATOR, (0, 3)),
            (api_key::HEARTBEAT, (0, 5)),
            (api_key::OFFSET_FOR_LEADER_EPOCH, (2, 2)),
        ] {
            assert_eq!(
                v.get(&key),
                Some(&range),
                "api key {key} of broker {broker}: {v:?}"
            );
        }
    }
    // Without the caps it advertises its whole (partly broken) ranges.
    cluster
        .set_api_version(api_key::JOIN_GROUP, 0, 6)
        .expect("uncap JoinGroup");
    let v = cluster.advertised_versions(1).expect("ApiVersions");
    assert_eq!(v.get(&api_key::JOIN_GROUP), Some(&(0, 6)), "{v:?}");

    // The KIP-848 settings exist on 2.16 only.
    cluster
        .set_consumer_group_heartbeat_interval(Duration::from_millis(500))
        .expect("KIP-848 heartbeat interval on 2.16");
    cluster
        .set_consumer_group_session_timeout(Duration::from_secs(10))
        .expect("KIP-848 session timeout on 2.16");
    cluster
        .set_group_initial_rebalance_delay(Duration::from_millis(500))
        .expect("initial rebalance delay on 2.16");
}

/// The 2.0.2 mock: old versions only, no KIP-848, and the commands of newer
/// librdkafka answer an error naming the missing function.
#[test]
fn mock_cluster_v2_0_2_has_no_kip848() {
    let cluster = MockCluster::start(1).expect("start the librdkafka 2.0.2 mock cluster");
    assert_eq!(cluster.version(), MockVersion::V2_0_2);
    assert_eq!(cluster.librdkafka_version(), "2.0.2");
    let v = cluster.advertised_versions(1).expect("ApiVersions");
    assert_eq!(v.get(&api_key::CONSUMER_GROUP_HEARTBEAT), None, "{v:?}");
    assert_eq!(v.get(&api_key::JOIN_GROUP), Some(&(0, 5)), "{v:?}");
    assert_eq!(v.get(&api_key::FETCH), Some(&(0, 11)), "{v:?}");
    assert_eq!(v.get(&api_key::METADATA), Some(&(0, 2)), "{v:?}");
    let err = cluster
        .set_consumer_group_heartbeat_interval(Duration::from_millis(500))
        .expect_err("no KIP-848 groups in 2.0.2");
    assert!(
        err.to_string()
            .contains("rd_kafka_mock_set_group_consumer_heartbeat_interval_ms"),
        "{err}"
    );
    cluster.command("ping").expect("still in sync");
}

test_on_each_mock!(
    mock_cluster_kcat_round_trip_1000_records,
    mock_cluster_kcat_every_codec_and_null_handling,
    mock_cluster_python_producer_sets_timestamps,
    mock_cluster_fault_injection_commands,
);
