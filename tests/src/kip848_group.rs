//! What the KIP-848 group tests on librdkafka 2.16's mock share: a cluster with
//! fast group timers and a topic, waves of records, confluent-kafka members,
//! and the checks over the group's history.

use std::time::Duration;

use crate::group_history::{assert_no_violations, GroupHistory};
use crate::group_log::MemberLog;
use crate::group_member::ProcessMember;
use crate::library::{mock_cluster_on, sample_records, Expected};
use crate::mock_cluster::{MockCluster, MockVersion};
use crate::producer::produce_kcat;
use crate::record::Compression;

/// A 3-broker 2.16 cluster whose KIP-848 groups heartbeat every 500 ms
/// (librdkafka's default is 3 s) with a 10 s session, a `partitions`-partition
/// `topic`, and a first wave of `first_wave` records.
pub fn kip848_cluster(topic: &str, partitions: i32, first_wave: usize) -> (MockCluster, Expected) {
    let cluster = mock_cluster_on(MockVersion::V2_16, 3);
    cluster
        .set_consumer_group_heartbeat_interval(Duration::from_millis(500))
        .expect("KIP-848 heartbeat interval");
    cluster
        .set_consumer_group_session_timeout(Duration::from_secs(10))
        .expect("KIP-848 session timeout");
    cluster
        .create_topic(topic, partitions, 1)
        .expect("create topic");
    let mut expected = Expected::new(topic);
    produce_wave(&cluster, topic, partitions, &mut expected, first_wave, "w1");
    (cluster, expected)
}

/// Produces `n` records spread over `partitions` (tagged `tag`) with kcat and
/// adds them to `expected`.
pub fn produce_wave(
    cluster: &MockCluster,
    topic: &str,
    partitions: i32,
    expected: &mut Expected,
    n: usize,
    tag: &str,
) {
    let records = sample_records(n, partitions, tag);
    let produced = produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None)
        .unwrap_or_else(|e| panic!("producing {tag}: {e}"));
    expected.add(&produced);
}

/// confluent-kafka 2.16 in the KIP-848 group `group`; panics if it cannot start.
pub fn rdkafka_kip848_member(
    name: &str,
    cluster: &MockCluster,
    topic: &str,
    group: &str,
) -> ProcessMember {
    ProcessMember::rdkafka_consumer_protocol(name, &cluster.bootstrap(), topic, group)
        .unwrap_or_else(|e| panic!("starting the KIP-848 member {name}: {e}"))
}

/// No partition owned twice at a time, no gap, starts at committed offsets
/// (losses allowed only with `allow_lost`), and every record of `expected`
/// read; panics with the history otherwise.
pub fn check_group(
    what: &str,
    h: &GroupHistory,
    expected: &Expected,
    partitions: i32,
    logs: &[&MemberLog],
    allow_lost: bool,
) {
    assert_no_violations(what, &h.ownership_violations(allow_lost), h, logs);
    assert_no_violations(what, &h.delivery_violations(expected, partitions), h, logs);
}

/// No member reported an error.
pub fn assert_no_member_errors(logs: &[&MemberLog]) {
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
