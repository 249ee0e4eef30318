//! KIP-848 groups (`group.protocol=consumer`) on librdkafka 2.16's mock
//! cluster, with confluent-kafka 2.16 members: the harness's reference for a
//! later mixed group with the library. One member reads every record of a
//! 6-partition topic; two members split the partitions, none owned twice at
//! a time, every record read (again only if it was not committed when its
//! partition moved), and when one leaves the other takes its partitions over.

use std::time::Duration;

use integration_tests::{
    assert_no_member_errors, check_group, init_logging, kip848_cluster, produce_wave,
    rdkafka_kip848_member, wait_for_history, Expected, GroupHistory, MemberLog, MockCluster,
};

const PARTITIONS: i32 = 6;
/// Bound for one assignment change: a few heartbeats (500 ms) apart.
const REBALANCE: Duration = Duration::from_secs(30);

fn start(topic: &str) -> (MockCluster, Expected) {
    kip848_cluster(topic, PARTITIONS, 600)
}

fn produce(cluster: &MockCluster, topic: &str, expected: &mut Expected, n: usize, tag: &str) {
    produce_wave(cluster, topic, PARTITIONS, expected, n, tag);
}

fn check(what: &str, h: &GroupHistory, expected: &Expected, logs: &[&MemberLog]) {
    check_group(what, h, expected, PARTITIONS, logs, false);
}

#[test]
fn one_member_reads_every_record() {
    init_logging();
    let topic = "kip848-one";
    let (cluster, mut expected) = start(topic);
    let mut a = rdkafka_kip848_member("rdkafka-a", &cluster, topic, "kip848-one-group");
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
    assert_no_member_errors(&lr);
}

#[test]
fn two_members_split_the_partitions() {
    init_logging();
    let topic = "kip848-two";
    let group = "kip848-two-group";
    let (cluster, mut expected) = start(topic);
    let mut a = rdkafka_kip848_member("rdkafka-a", &cluster, topic, group);
    let logs_a = a.log().clone();
    wait_for_history(&[&logs_a], REBALANCE, "rdkafka-a owning all 6", |h| {
        h.settled(PARTITIONS, &["rdkafka-a"]) && h.distinct() > 0
    });

    // b joins: the coordinator moves some partitions from a to b.
    let mut b = rdkafka_kip848_member("rdkafka-b", &cluster, topic, group);
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
    assert_no_member_errors(&lr);
    eprintln!(
        "{} records, {} deliveries ({} again after a move), {} ownership intervals",
        expected.len(),
        h.deliveries.values().map(Vec::len).sum::<usize>(),
        h.duplicates(),
        h.intervals.len()
    );
}
