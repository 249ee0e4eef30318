//! KIP-848 groups (`group.protocol=consumer`) on librdkafka 2.16's mock
//! cluster, with confluent-kafka 2.16 members: the harness's reference for a
//! later mixed group with the library. One member reads every record of a
//! 6-partition topic; two members split the partitions, none owned twice at
//! a time, every record read (again only if it was not committed when its
//! partition moved), and when one leaves the other takes its partitions over.

use std::time::Duration;

use integration_tests::{
    assert_no_violations, init_logging, mock_cluster_on, produce_kcat, sample_records,
    wait_for_history, Compression, Expected, GroupHistory, MemberLog, MockCluster, MockVersion,
    ProcessMember,
};

const PARTITIONS: i32 = 6;
/// Bound for one assignment change: a few heartbeats (500 ms) apart.
const REBALANCE: Duration = Duration::from_secs(30);

/// A 3-broker 2.16 cluster with a 6-partition `topic`, KIP-848 heartbeats
/// every 500 ms (librdkafka's default is 3 s), and a first wave of records.
fn start(topic: &str) -> (MockCluster, Expected) {
    let cluster = mock_cluster_on(MockVersion::V2_16, 3);
    cluster
        .set_consumer_group_heartbeat_interval(Duration::from_millis(500))
        .expect("KIP-848 heartbeat interval");
    cluster
        .set_consumer_group_session_timeout(Duration::from_secs(10))
        .expect("KIP-848 session timeout");
    cluster
        .create_topic(topic, PARTITIONS, 1)
        .expect("create topic");
    let mut expected = Expected::new(topic);
    produce(&cluster, topic, &mut expected, 600, "w1");
    (cluster, expected)
}

fn produce(cluster: &MockCluster, topic: &str, expected: &mut Expected, n: usize, tag: &str) {
    let records = sample_records(n, PARTITIONS, tag);
    let produced = produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None)
        .unwrap_or_else(|e| panic!("producing {tag}: {e}"));
    expected.add(&produced);
}

fn member(name: &str, cluster: &MockCluster, topic: &str, group: &str) -> ProcessMember {
    ProcessMember::rdkafka_consumer_protocol(name, &cluster.bootstrap(), topic, group)
        .unwrap_or_else(|e| panic!("starting the KIP-848 member {name}: {e}"))
}

fn check(what: &str, h: &GroupHistory, expected: &Expected, logs: &[&MemberLog]) {
    assert_no_violations(what, &h.ownership_violations(false), h, logs);
    assert_no_violations(what, &h.delivery_violations(expected, PARTITIONS), h, logs);
}

fn assert_no_errors(logs: &[&MemberLog]) {
    for log in logs {
        let errors = log.errors();
        assert!(
            errors.is_empty(),
            "{} reported errors: {errors:?}\n{}",
            log.name(),
            log.describe()
        );
    }
}

#[test]
fn one_member_reads_every_record() {
    init_logging();
    let topic = "kip848-one";
    let (cluster, mut expected) = start(topic);
    let mut a = member("rdkafka-a", &cluster, topic, "kip848-one-group");
    let logs = [a.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(
        &lr,
        REBALANCE,
        "rdkafka-a owning all 6 partitions and the first wave read",
        |h| h.settled(PARTITIONS, &["rdkafka-a"]) && h.covers(&expected, PARTITIONS),
    );
    produce(&cluster, topic, &mut expected, 300, "w2");
    wait_for_history(&lr, REBALANCE, "the second wave read", |h| {
        h.covers(&expected, PARTITIONS)
    });
    a.stop(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("closing rdkafka-a: {e}"));
    let h = GroupHistory::of(&lr);
    check("one KIP-848 member", &h, &expected, &lr);
    assert_eq!(
        h.duplicates(),
        0,
        "a lone member read records twice\n{}",
        h.describe()
    );
    assert_no_errors(&lr);
}

#[test]
fn two_members_split_the_partitions() {
    init_logging();
    let topic = "kip848-two";
    let group = "kip848-two-group";
    let (cluster, mut expected) = start(topic);
    let mut a = member("rdkafka-a", &cluster, topic, group);
    let logs_a = a.log().clone();
    wait_for_history(&[&logs_a], REBALANCE, "rdkafka-a owning all 6", |h| {
        h.settled(PARTITIONS, &["rdkafka-a"]) && h.distinct() > 0
    });

    // b joins: the coordinator moves some partitions from a to b.
    let mut b = member("rdkafka-b", &cluster, topic, group);
    let logs = [logs_a.clone(), b.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(
        &lr,
        REBALANCE,
        "rdkafka-a and rdkafka-b sharing the partitions, the first wave read",
        |h| h.settled(PARTITIONS, &["rdkafka-a", "rdkafka-b"]) && h.covers(&expected, PARTITIONS),
    );
    let h = GroupHistory::of(&lr);
    let (owned_a, owned_b) = (h.owned_by("rdkafka-a"), h.owned_by("rdkafka-b"));
    assert!(
        !owned_a.is_empty() && !owned_b.is_empty() && owned_a.len() + owned_b.len() == 6,
        "a owns {owned_a:?}, b owns {owned_b:?}\n{}",
        h.describe()
    );
    produce(&cluster, topic, &mut expected, 300, "w2");
    wait_for_history(&lr, REBALANCE, "the second wave read by both", |h| {
        h.covers(&expected, PARTITIONS)
    });
    let h = GroupHistory::of(&lr);
    check("two KIP-848 members", &h, &expected, &lr);
    for m in ["rdkafka-a", "rdkafka-b"] {
        assert!(
            h.intervals
                .iter()
                .any(|i| i.member == m && !i.offsets.is_empty()),
            "{m} read nothing\n{}",
            h.describe()
        );
    }

    // b leaves: a takes everything back, from b's commits.
    b.stop(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("closing rdkafka-b: {e}"));
    wait_for_history(&lr, REBALANCE, "rdkafka-a owning all 6 again", |h| {
        h.settled(PARTITIONS, &["rdkafka-a"])
    });
    produce(&cluster, topic, &mut expected, 120, "w3");
    wait_for_history(&lr, REBALANCE, "the third wave read by rdkafka-a", |h| {
        h.covers(&expected, PARTITIONS)
    });
    a.stop(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("closing rdkafka-a: {e}"));
    let h = GroupHistory::of(&lr);
    check("whole run", &h, &expected, &lr);
    assert_no_errors(&lr);
    eprintln!(
        "{} records, {} deliveries ({} again after a move), {} ownership intervals",
        expected.len(),
        h.deliveries.values().map(Vec::len).sum::<usize>(),
        h.duplicates(),
        h.intervals.len()
    );
}
