//! The group coordinator moves and fails: coordinator errors injected on each
//! group API (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit,
//! OffsetFetch, LeaveGroup). The group recovers and no record is lost.

use std::time::{Duration, Instant};

use integration_tests::api_key::{
    FIND_COORDINATOR, HEARTBEAT, JOIN_GROUP, LEAVE_GROUP, OFFSET_COMMIT, OFFSET_FETCH, SYNC_GROUP,
};
use integration_tests::error_code::{
    COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR, REBALANCE_IN_PROGRESS,
};
use integration_tests::{
    assert_no_violations, group_props, init_logging, mock_cluster_on, produce_kcat, sample_records,
    test_on_each_mock, wait_for_history, CommitPolicy, Compression, CoordinatorType, Expected,
    GroupHistory, LibraryMember, MemberEvent, MemberLog, MemberSpec, MockCluster, MockVersion,
    WAIT,
};

const PARTITIONS: i32 = 4;

struct Scenario {
    cluster: MockCluster,
    topic: String,
    group: String,
    expected: Expected,
    wave: usize,
}

impl Scenario {
    /// A cluster of `brokers` with the group's coordinator pinned to broker 1
    /// and a first wave of records.
    fn start(version: MockVersion, tag: &str, brokers: usize) -> Scenario {
        let cluster = mock_cluster_on(version, brokers);
        let topic = format!("faults-{tag}");
        let group = format!("faults-{tag}-group");
        cluster
            .create_topic(&topic, PARTITIONS, 1)
            .expect("create topic");
        cluster
            .set_coordinator(CoordinatorType::Group, &group, 1)
            .expect("pin the coordinator");
        let mut s = Scenario {
            cluster,
            expected: Expected::new(&topic),
            topic,
            group,
            wave: 0,
        };
        s.produce(200);
        s
    }

    fn produce(&mut self, n: usize) {
        self.wave += 1;
        let produced = produce_kcat(
            &self.cluster.bootstrap(),
            &self.topic,
            &sample_records(n, PARTITIONS, &format!("w{}", self.wave)),
            Compression::None,
        )
        .expect("produce");
        self.expected.add(&produced);
    }

    fn member(&self, name: &str, commits: CommitPolicy) -> LibraryMember {
        LibraryMember::start(MemberSpec {
            name: name.into(),
            bootstrap: self.cluster.bootstrap(),
            topics: vec![self.topic.clone()],
            props: group_props(&self.group, "range", commits),
            commits,
            poll_delay: Duration::from_millis(10),
        })
    }

    /// Member "a", alone in the group and committing every 50 records, once it has
    /// consumed everything produced so far (`what` names that wait); and a handle on its
    /// log, which the checks read while `a` itself is borrowed to stop it.
    fn lone_member(&self, what: &str) -> (LibraryMember, MemberLog) {
        let a = self.member("a", CommitPolicy::Manual { every: 50 });
        let log = a.log().clone();
        self.wait_consumed(&[&log], what);
        (a, log)
    }

    /// Waits until everything produced so far was consumed by someone.
    fn wait_consumed(&self, logs: &[&MemberLog], what: &str) -> GroupHistory {
        wait_for_history(logs, WAIT, what, |h| h.covers(&self.expected, PARTITIONS))
    }

    /// Injects `errors` into the next requests of `api` to the coordinator
    /// (broker 1).
    fn inject(&self, api: i16, errors: &[i32]) {
        let with_delay: Vec<(i32, Duration)> =
            errors.iter().map(|e| (*e, Duration::ZERO)).collect();
        self.cluster
            .push_broker_errors(1, api, &with_delay)
            .expect("inject errors");
    }

    /// Waits (bounded) until the injected errors of `api` were all answered.
    fn wait_answered(&self, api: i16, logs: &[&MemberLog]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = self
                .cluster
                .broker_error_count(1, api)
                .expect("error count");
            if left == 0 {
                return;
            }
            if Instant::now() >= deadline {
                let mut msg = format!("{left} injected errors for API {api} were never answered");
                for l in logs {
                    msg.push('\n');
                    msg.push_str(&l.describe());
                }
                panic!("{msg}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The final checks: ownership rules and exactly-what-was-produced.
    fn check(&self, what: &str, logs: &[&MemberLog]) -> GroupHistory {
        let h = GroupHistory::of(logs);
        assert_no_violations(what, &h.ownership_violations(false), &h, logs);
        assert_no_violations(
            what,
            &h.delivery_violations(&self.expected, PARTITIONS),
            &h,
            logs,
        );
        h
    }

    /// The end of a test: stops `last` (the members before it are stopped already),
    /// then the final checks and no unexpected member errors.
    fn finish(&self, last: &mut LibraryMember, what: &str, logs: &[&MemberLog]) -> GroupHistory {
        last.stop(Duration::from_secs(30));
        let h = self.check(what, logs);
        assert_no_errors(logs);
        h
    }
}

/// Commit errors the member may report: the coordinator refusing a commit
/// while the group rebalances.
fn expected_error(e: &str) -> bool {
    e.starts_with("commit")
        && (e.contains("group is rebalancing") || e.contains("group rebalanced"))
}

fn assert_no_errors(logs: &[&MemberLog]) {
    for l in logs {
        let errors: Vec<String> = l
            .errors()
            .into_iter()
            .filter(|e| !expected_error(e))
            .collect();
        assert!(
            errors.is_empty(),
            "{} reported errors: {errors:?}\n{}",
            l.name(),
            l.describe()
        );
    }
}

/// Number of revocations and losses in `log` after `t` (µs).
fn rebalances_after(log: &MemberLog, t: i64) -> usize {
    log.snapshot()
        .iter()
        .filter(|l| l.at_us > t)
        .filter(
            |l| matches!(&l.event, MemberEvent::Revoked(p) | MemberEvent::Lost(p) if !p.is_empty()),
        )
        .count()
}

fn successful_commits_after(log: &MemberLog, t: i64) -> usize {
    log.snapshot()
        .iter()
        .filter(|l| l.at_us > t && matches!(l.event, MemberEvent::Committed(_)))
        .count()
}

fn coordinator_moves_mid_stream(version: MockVersion) {
    init_logging();
    let mut s = Scenario::start(version, "move", 3);
    let mut a = s.member("a", CommitPolicy::Manual { every: 40 });
    let mut b = s.member("b", CommitPolicy::Auto);
    let logs = [a.log().clone(), b.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(
        &lr,
        Duration::from_secs(40),
        "both members owning partitions",
        |h| h.settled(PARTITIONS, &["a", "b"]) && h.covers(&s.expected, PARTITIONS),
    );
    for broker in [2, 3] {
        let moved = integration_tests::now_us();
        s.cluster
            .set_coordinator(CoordinatorType::Group, &s.group, broker)
            .expect("move the coordinator");
        s.produce(200);
        s.wait_consumed(
            &lr,
            &format!("records after the coordinator moved to broker {broker}"),
        );
        // Commits reach the new coordinator.
        let deadline = Instant::now() + Duration::from_secs(20);
        while successful_commits_after(a.log(), moved) == 0 {
            assert!(
                Instant::now() < deadline,
                "no commit succeeded after the move to broker {broker}\n{}",
                a.log().describe()
            );
            s.produce(40);
            s.wait_consumed(&lr, "more records");
        }
    }
    a.stop(Duration::from_secs(30));
    // b closes while a's leaving rebalances the group: its pre-revocation
    // auto-commit may still be queued then, and must not hold the close.
    let started = Instant::now();
    b.stop(Duration::from_secs(30));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "closing b took {took:?}");
    s.check("coordinator moves", &lr);
    assert_no_errors(&lr);
}

fn errors_while_joining(version: MockVersion) {
    init_logging();
    let s = Scenario::start(version, "join", 1);
    // Every request of the join sequence fails first, in turn.
    s.cluster
        .push_errors(
            FIND_COORDINATOR,
            &[COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS],
        )
        .expect("inject");
    let no_delay = |es: &[i32]| es.iter().map(|e| (*e, Duration::ZERO)).collect::<Vec<_>>();
    s.cluster
        .push_broker_errors(
            1,
            JOIN_GROUP,
            &no_delay(&[
                COORDINATOR_LOAD_IN_PROGRESS,
                COORDINATOR_NOT_AVAILABLE,
                NOT_COORDINATOR,
                REBALANCE_IN_PROGRESS,
            ]),
        )
        .expect("inject");
    s.cluster
        .push_broker_errors(
            1,
            SYNC_GROUP,
            &no_delay(&[REBALANCE_IN_PROGRESS, NOT_COORDINATOR]),
        )
        .expect("inject");
    let (mut a, log) = s.lone_member("every record after the failed joins");
    let lr = [&log];
    for api in [JOIN_GROUP, SYNC_GROUP] {
        assert_eq!(
            s.cluster.broker_error_count(1, api).expect("count"),
            0,
            "API {api}"
        );
    }
    s.finish(&mut a, "errors while joining", &lr);
}

fn heartbeat_errors_mid_stream(version: MockVersion) {
    init_logging();
    let mut s = Scenario::start(version, "heartbeat", 1);
    let (mut a, log) = s.lone_member("the first wave");
    let lr = [&log];

    // The coordinator is unreachable for a moment: rediscovered, no rebalance.
    let t = integration_tests::now_us();
    s.inject(HEARTBEAT, &[NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE]);
    s.wait_answered(HEARTBEAT, &lr);
    s.produce(200);
    s.wait_consumed(
        &lr,
        "records after NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE heartbeats",
    );
    assert_eq!(
        rebalances_after(a.log(), t),
        0,
        "a lost coordinator made the member rebalance\n{}",
        a.log().describe()
    );

    // The group rebalances: the member rejoins and gets its partitions back.
    let t = integration_tests::now_us();
    s.inject(HEARTBEAT, &[REBALANCE_IN_PROGRESS]);
    s.wait_answered(HEARTBEAT, &lr);
    wait_for_history(
        &lr,
        Duration::from_secs(30),
        "the member rejoining after REBALANCE_IN_PROGRESS",
        |h| h.intervals.iter().any(|i| i.start_us > t) && h.settled(PARTITIONS, &["a"]),
    );
    assert!(rebalances_after(a.log(), t) > 0, "{}", a.log().describe());
    s.produce(200);
    s.wait_consumed(&lr, "records after the rejoin");
    s.finish(&mut a, "heartbeat errors", &lr);
}

fn commit_errors_mid_stream(version: MockVersion) {
    init_logging();
    let mut s = Scenario::start(version, "commit", 1);
    let (mut a, log) = s.lone_member("the first wave");
    let lr = [&log];

    // Retriable errors: commit_sync retries (after finding the coordinator
    // again where needed) and succeeds.
    let t = integration_tests::now_us();
    s.inject(
        OFFSET_COMMIT,
        &[
            NOT_COORDINATOR,
            COORDINATOR_LOAD_IN_PROGRESS,
            COORDINATOR_NOT_AVAILABLE,
        ],
    );
    s.produce(200);
    s.wait_answered(OFFSET_COMMIT, &lr);
    s.wait_consumed(&lr, "records after the commit errors");
    let failed: Vec<String> = a.log().errors();
    assert!(
        failed.is_empty(),
        "retriable commit errors reached the caller: {failed:?}"
    );
    assert!(
        successful_commits_after(a.log(), t) > 0,
        "{}",
        a.log().describe()
    );

    // REBALANCE_IN_PROGRESS fails that commit (the caller is told); the next
    // ones go through.
    let t = integration_tests::now_us();
    s.inject(OFFSET_COMMIT, &[REBALANCE_IN_PROGRESS]);
    s.produce(200);
    s.wait_answered(OFFSET_COMMIT, &lr);
    s.wait_consumed(&lr, "records after a refused commit");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let refused = a.log().errors().iter().any(|e| expected_error(e));
        let log = a.log().snapshot();
        let last_error = log
            .iter()
            .rposition(|l| matches!(l.event, MemberEvent::Error(_)));
        let ok_after = last_error.is_some_and(|i| {
            log[i..]
                .iter()
                .any(|l| matches!(l.event, MemberEvent::Committed(_)))
        });
        if refused && ok_after && log.iter().any(|l| l.at_us > t) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no refused then successful commit\n{}",
            a.log().describe()
        );
        s.produce(60);
        s.wait_consumed(&lr, "more records");
    }
    let h = s.finish(&mut a, "commit errors", &lr);
    // Everything was committed in the end (the close commits in the revocation listener).
    let last: std::collections::BTreeMap<i32, i64> =
        h.commits.iter().map(|(_, _, p, o)| (*p, *o)).collect();
    for p in 0..PARTITIONS {
        assert_eq!(
            last.get(&p).copied(),
            Some(s.expected.end_offset(p)),
            "partition {p}"
        );
    }
}

fn offset_fetch_errors_on_takeover(version: MockVersion) {
    init_logging();
    let mut s = Scenario::start(version, "fetch", 1);
    let (mut a, _) = s.lone_member("the first wave");
    a.stop(Duration::from_secs(30));
    s.produce(200);

    // The next member must find the commits despite the errors, not fall
    // back to auto.offset.reset=earliest (which would deliver everything again).
    s.cluster
        .push_broker_errors(
            1,
            OFFSET_FETCH,
            &[
                (NOT_COORDINATOR, Duration::ZERO),
                (COORDINATOR_LOAD_IN_PROGRESS, Duration::ZERO),
                (COORDINATOR_NOT_AVAILABLE, Duration::ZERO),
            ],
        )
        .expect("inject");
    let mut b = s.member("b", CommitPolicy::Manual { every: 50 });
    let logs = [a.log().clone(), b.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    s.wait_consumed(&lr, "the second wave");
    assert_eq!(
        s.cluster
            .broker_error_count(1, OFFSET_FETCH)
            .expect("count"),
        0
    );
    let h = s.finish(&mut b, "offset fetch errors", &lr);
    assert_eq!(
        h.duplicates(),
        0,
        "b read records a had committed\n{}",
        h.describe()
    );
}

fn leave_errors_on_close(version: MockVersion) {
    init_logging();
    let mut s = Scenario::start(version, "leave", 1);
    let mut a = s.member("a", CommitPolicy::Manual { every: 50 });
    let mut b = s.member("b", CommitPolicy::Manual { every: 50 });
    let logs = [a.log().clone(), b.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(
        &lr,
        Duration::from_secs(40),
        "both members owning partitions",
        |h| h.settled(PARTITIONS, &["a", "b"]) && h.covers(&s.expected, PARTITIONS),
    );
    // b's LeaveGroup fails: its close still ends promptly, and a gets b's
    // partitions once b's session expires.
    s.cluster
        .push_broker_errors(1, LEAVE_GROUP, &[(NOT_COORDINATOR, Duration::ZERO)])
        .expect("inject");
    let started = Instant::now();
    b.stop(Duration::from_secs(30));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "closing with a failing LeaveGroup took {took:?}"
    );
    assert_eq!(
        s.cluster.broker_error_count(1, LEAVE_GROUP).expect("count"),
        0
    );
    s.produce(200);
    wait_for_history(
        &lr,
        Duration::from_secs(40),
        "a owning every partition",
        |h| h.settled(PARTITIONS, &["a"]),
    );
    s.wait_consumed(&lr, "the second wave");
    s.finish(&mut a, "leave errors", &lr);
}

test_on_each_mock!(
    coordinator_moves_mid_stream,
    errors_while_joining,
    heartbeat_errors_mid_stream,
    commit_errors_mid_stream,
    offset_fetch_errors_on_takeover,
    leave_errors_on_close,
);
