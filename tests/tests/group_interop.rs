//! Two library consumers and one librdkafka consumer (confluent-kafka) in
//! one group over a 6-partition topic, for each assignor: every partition
//! has one owner at a time, every record is consumed (more than once only
//! if it was not committed when its partition moved), and when members
//! leave the others take their partitions over.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::{
    assert_no_violations, group_props, init_logging, mock_cluster_on, produce_kcat,
    rdkafka_group_props, sample_records, test_on_each_mock, wait_for_history, CommitPolicy,
    Compression, Expected, GroupHistory, LibraryMember, MemberEvent, MemberLog, MemberSpec,
    MockCluster, MockVersion, ProcessMember,
};

const PARTITIONS: i32 = 6;
/// Bound for one rebalance of the mock (its waits follow the 6 s session).
const REBALANCE: Duration = Duration::from_secs(40);

fn produce(cluster: &MockCluster, topic: &str, expected: &mut Expected, n: usize, tag: &str) {
    let records = sample_records(n, PARTITIONS, tag);
    let produced = produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None)
        .unwrap_or_else(|e| panic!("producing {tag}: {e}"));
    expected.add(&produced);
}

fn library_member(
    name: &str,
    cluster: &MockCluster,
    topic: &str,
    group: &str,
    assignor: &str,
    commits: CommitPolicy,
) -> LibraryMember {
    LibraryMember::start(MemberSpec {
        name: name.to_string(),
        bootstrap: cluster.bootstrap(),
        topics: vec![topic.to_string()],
        props: group_props(group, assignor, commits),
        commits,
        poll_delay: Duration::from_millis(20),
    })
}

/// lib-a commits in its revocation listener: every revocation of partitions
/// it consumed from is preceded by a commit (or a failed attempt, see
/// [`rebalancing_commit`]) of the position after its last record of each.
fn check_revocation_commits(log: &MemberLog) {
    let events = log.snapshot();
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    let mut checked = 0;
    for (i, l) in events.iter().enumerate() {
        match &l.event {
            MemberEvent::Consumed {
                partition, offset, ..
            } => {
                last.insert(*partition, *offset);
            }
            MemberEvent::Revoked(ps) => {
                let want: Vec<(i32, i64)> = ps
                    .iter()
                    .filter_map(|p| last.remove(p).map(|o| (*p, o + 1)))
                    .collect();
                if want.is_empty() {
                    continue;
                }
                checked += 1;
                let prev = i.checked_sub(1).map(|j| &events[j].event);
                let ok = match prev {
                    Some(MemberEvent::Committed(offs)) => want.iter().all(|w| offs.contains(w)),
                    Some(MemberEvent::Error(e)) => {
                        rebalancing_commit(e)
                            && want.iter().all(|(p, o)| e.contains(&format!("({p}, {o})")))
                    }
                    _ => false,
                };
                assert!(
                    ok,
                    "{}: revoking {ps:?} at {} without committing {want:?} first\n{}",
                    log.name(),
                    l.at_us,
                    log.describe()
                );
            }
            _ => {}
        }
    }
    assert!(
        checked > 0,
        "{} never revoked a partition it consumed from",
        log.name()
    );
}

fn check(what: &str, h: &GroupHistory, expected: &Expected, logs: &[&MemberLog]) {
    assert_no_violations(what, &h.ownership_violations(false), h, logs);
    assert_no_violations(what, &h.delivery_violations(expected, PARTITIONS), h, logs);
}

/// The mock coordinator refuses commits while the group rebalances
/// (REBALANCE_IN_PROGRESS; a real broker accepts them from members of the
/// current generation), so commits made just before a revocation may fail:
/// those records are delivered again, which the history allows.
fn rebalancing_commit(error: &str) -> bool {
    error.starts_with("commit")
        && (error.contains("REBALANCE_IN_PROGRESS")
            || error.contains("group is rebalancing")
            || error.contains("group rebalanced"))
}

fn interop(version: MockVersion, assignor: &str, tag: &str) {
    init_logging();
    let topic = format!("interop-{tag}");
    let group = format!("interop-{tag}-group");
    let cluster = mock_cluster_on(version, 3);
    cluster
        .create_topic(&topic, PARTITIONS, 1)
        .expect("create topic");
    let mut expected = Expected::new(&topic);
    produce(&cluster, &topic, &mut expected, 600, "w1");

    // lib-a commits by hand (after every 40 records and in its revocation
    // listener); lib-b auto-commits; librdkafka auto-commits.
    let mut a = library_member(
        "lib-a",
        &cluster,
        &topic,
        &group,
        assignor,
        CommitPolicy::Manual { every: 40 },
    );
    let mut b = library_member(
        "lib-b",
        &cluster,
        &topic,
        &group,
        assignor,
        CommitPolicy::Auto,
    );
    let mut rd = ProcessMember::rdkafka(
        "rdkafka",
        &cluster.bootstrap(),
        &topic,
        &rdkafka_group_props(&group, assignor),
    )
    .expect("start the librdkafka member");
    // The logs are shared handles: they keep growing after a member stops.
    let logs = [a.log().clone(), b.log().clone(), rd.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();

    // All three share the partitions and consume the first wave.
    wait_for_history(
        &lr,
        REBALANCE,
        "three members sharing the partitions and the first wave consumed",
        |h| {
            h.settled(PARTITIONS, &["lib-a", "lib-b", "rdkafka"]) && h.covers(&expected, PARTITIONS)
        },
    );
    produce(&cluster, &topic, &mut expected, 300, "w2");
    wait_for_history(&lr, REBALANCE, "the second wave consumed", |h| {
        h.covers(&expected, PARTITIONS)
    });
    let h = GroupHistory::of(&lr);
    check("three members", &h, &expected, &lr);
    for m in ["lib-a", "lib-b", "rdkafka"] {
        assert_eq!(
            h.owned_by(m).len(),
            2,
            "{m} owns {:?} of 6 partitions among three members\n{}",
            h.owned_by(m),
            h.describe()
        );
    }

    // lib-b leaves: the others take its partitions over, from its commits.
    b.stop(Duration::from_secs(30));
    wait_for_history(
        &lr,
        REBALANCE,
        "lib-a and librdkafka sharing all partitions after lib-b left",
        |h| h.settled(PARTITIONS, &["lib-a", "rdkafka"]),
    );
    produce(&cluster, &topic, &mut expected, 300, "w3");
    wait_for_history(
        &lr,
        REBALANCE,
        "the third wave consumed by the two left",
        |h| h.covers(&expected, PARTITIONS),
    );

    // librdkafka leaves: lib-a takes everything.
    rd.stop(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("closing the librdkafka member: {e}"));
    wait_for_history(
        &lr,
        REBALANCE,
        "lib-a owning all partitions after librdkafka left",
        |h| h.settled(PARTITIONS, &["lib-a"]),
    );
    produce(&cluster, &topic, &mut expected, 120, "w4");
    wait_for_history(&lr, REBALANCE, "the fourth wave consumed by lib-a", |h| {
        h.covers(&expected, PARTITIONS)
    });
    a.stop(Duration::from_secs(30));

    let h = GroupHistory::of(&lr);
    check("whole run", &h, &expected, &lr);
    check_revocation_commits(a.log());
    for log in &lr {
        let errors: Vec<String> = log
            .errors()
            .into_iter()
            .filter(|e| !rebalancing_commit(e))
            .collect();
        assert!(
            errors.is_empty(),
            "{} reported errors: {errors:?}\n{}",
            log.name(),
            log.describe()
        );
    }
    eprintln!(
        "{assignor}: {} records, {} deliveries ({} again after a rebalance), {} ownership intervals",
        expected.len(),
        h.deliveries.values().map(Vec::len).sum::<usize>(),
        h.duplicates(),
        h.intervals.len()
    );
}

fn range_with_librdkafka(version: MockVersion) {
    interop(version, "range", "range");
}

fn roundrobin_with_librdkafka(version: MockVersion) {
    interop(version, "roundrobin", "rr");
}

fn cooperative_sticky_with_librdkafka(version: MockVersion) {
    interop(version, "cooperative-sticky", "coop");
}

test_on_each_mock!(
    range_with_librdkafka,
    roundrobin_with_librdkafka,
    cooperative_sticky_with_librdkafka,
);
