//! A group member that commits as it goes is killed (SIGKILL: no close, no
//! LeaveGroup, no final commit) and restarted: it resumes from its last
//! commit, so exactly the records after that commit are delivered again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consumer_core::TopicPartition;
use consumer_net::{KafkaConsumer, RebalanceListener};

use integration_tests::{
    assert_no_violations, group_props, init_logging, library_consumer, mock_cluster_on, partitions,
    poll_until, produce_kcat, sample_records, test_on_each_mock, wait_for_history, CommitPolicy,
    Compression, Expected, GroupHistory, LibraryMember, MemberEvent, MemberLog, MemberSpec,
    MockCluster, MockVersion, ProcessMember, WAIT,
};

const PARTITIONS: i32 = 3;

fn member_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_group_member"))
}

fn start(version: MockVersion, topic: &str, n: usize) -> (MockCluster, Expected) {
    let cluster = mock_cluster_on(version, 1);
    cluster
        .create_topic(topic, PARTITIONS, 1)
        .expect("create topic");
    let produced = produce_kcat(
        &cluster.bootstrap(),
        topic,
        &sample_records(n, PARTITIONS, "r"),
        Compression::None,
    )
    .expect("produce");
    (cluster, Expected::of(&produced))
}

/// A slow member (20 records per poll, 30 ms per poll) that commits after
/// every 100 records.
fn slow_spec(name: &str, cluster: &MockCluster, topic: &str, group: &str) -> MemberSpec {
    let commits = CommitPolicy::Manual { every: 100 };
    let mut props = group_props(group, "range", commits);
    props.push(("max.poll.records".into(), "20".into()));
    MemberSpec {
        name: name.into(),
        bootstrap: cluster.bootstrap(),
        topics: vec![topic.into()],
        props,
        commits,
        poll_delay: Duration::from_millis(30),
    }
}

/// The last committed offset of each partition, from `log`.
fn last_commits(log: &MemberLog) -> BTreeMap<i32, i64> {
    let mut m = BTreeMap::new();
    for l in log.snapshot() {
        if let MemberEvent::Committed(offs) = l.event {
            m.extend(offs);
        }
    }
    m
}

fn consumed_after_commit(log: &MemberLog) -> usize {
    let events = log.snapshot();
    let last = events
        .iter()
        .rposition(|l| matches!(l.event, MemberEvent::Committed(_)));
    last.map_or(0, |i| {
        events[i..]
            .iter()
            .filter(|l| matches!(l.event, MemberEvent::Consumed { .. }))
            .count()
    })
}

/// Waits until `member` has committed at least `commits` times and consumed
/// 30 records past its last commit.
fn wait_mid_stream(member: &ProcessMember, commits: usize) {
    let log = member.log();
    let deadline = Instant::now() + WAIT;
    loop {
        let n = log
            .snapshot()
            .iter()
            .filter(|l| matches!(l.event, MemberEvent::Committed(_)))
            .count();
        if n >= commits && consumed_after_commit(log) >= 30 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the member did not get to {commits} commits and 30 more records within {WAIT:?}\n{}\nstderr: {}",
            log.describe(),
            member.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn killed_member_restarts_from_its_commits(version: MockVersion) {
    init_logging();
    let topic = "restart-kill";
    let group = "restart-kill-group";
    let (cluster, all) = start(version, topic, 1500);
    let mut child =
        ProcessMember::library(member_exe(), &slow_spec("child", &cluster, topic, group))
            .expect("start the group_member child");
    wait_mid_stream(&child, 3);
    child.kill();
    let committed = last_commits(child.log());
    let consumed = child
        .log()
        .snapshot()
        .iter()
        .filter(|l| matches!(l.event, MemberEvent::Consumed { .. }))
        .count();
    let errors = child.log().errors();
    assert!(errors.is_empty(), "the child reported errors: {errors:?}");
    assert!(
        consumed < all.len(),
        "the child consumed everything ({consumed}) before it was killed"
    );

    // The broker has exactly the child's last commits.
    let bs = cluster.bootstrap();
    let mut c = library_consumer(
        &bs,
        &group_props(group, "range", CommitPolicy::Manual { every: 1 })
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
    );
    let tps = partitions(topic, PARTITIONS);
    let on_broker = c.committed(&tps, WAIT).expect("committed offsets");
    for tp in &tps {
        assert_eq!(
            on_broker.get(tp).cloned().flatten().map(|o| o.offset),
            committed.get(&tp.partition).copied(),
            "{tp}: committed on the broker vs last commit of the killed member"
        );
    }

    // The restarted member gets exactly the records after the commits: those
    // the child consumed after its last commit come again, none before.
    let rest = all.filtered(|p, o| o >= committed.get(&p).copied().unwrap_or(0));
    let again = consumed_after_commit(child.log());
    assert!(again > 0);
    c.subscribe([topic]).expect("subscribe");
    let mut got = Vec::new();
    poll_until(
        &mut c,
        &mut got,
        WAIT,
        "the records after the last commit",
        |g| g.len() >= rest.len(),
    );
    rest.assert_delivered(&got);
    for tp in &tps {
        assert_eq!(
            c.position(tp).expect("position"),
            all.end_offset(tp.partition),
            "{tp}"
        );
    }
    c.commit_sync().expect("commit");
    let after = c.committed(&tps, WAIT).expect("committed offsets");
    for tp in &tps {
        assert_eq!(
            after.get(tp).cloned().flatten().map(|o| o.offset),
            Some(all.end_offset(tp.partition)),
            "{tp}"
        );
    }
    eprintln!(
        "killed after {consumed} records; restarted from {committed:?}: {} records, {again} of them again",
        rest.len()
    );
}

fn survivor_takes_over_from_the_killed_members_commits(version: MockVersion) {
    init_logging();
    let topic = "restart-survivor";
    let group = "restart-survivor-group";
    let (cluster, all) = start(version, topic, 1500);
    let mut child =
        ProcessMember::library(member_exe(), &slow_spec("child", &cluster, topic, group))
            .expect("start the group_member child");
    let mut survivor = LibraryMember::start(slow_spec("survivor", &cluster, topic, group));
    let logs = [child.log().clone(), survivor.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    wait_for_history(
        &lr,
        Duration::from_secs(40),
        "both members owning partitions",
        |h| h.settled(PARTITIONS, &["child", "survivor"]),
    );
    wait_mid_stream(&child, 2);
    child.kill();
    // No LeaveGroup: the coordinator notices at the session timeout (6 s).
    let h = wait_for_history(
        &lr,
        Duration::from_secs(60),
        "the survivor owning every partition",
        |h| h.settled(PARTITIONS, &["survivor"]),
    );
    let _ = h;
    wait_for_history(&lr, WAIT, "every record consumed", |h| {
        h.covers(&all, PARTITIONS)
    });
    survivor.stop(Duration::from_secs(30));
    let h = GroupHistory::of(&lr);
    assert_no_violations("kill and takeover", &h.ownership_violations(false), &h, &lr);
    assert_no_violations(
        "kill and takeover",
        &h.delivery_violations(&all, PARTITIONS),
        &h,
        &lr,
    );
    // The survivor resumed the partitions the child had when it died
    // exactly at the child's last commits.
    let committed = last_commits(child.log());
    let killed_at = h
        .intervals
        .iter()
        .filter(|i| i.member == "child")
        .map(|i| i.end_us)
        .max()
        .unwrap_or(0);
    let held: Vec<i32> = h
        .intervals
        .iter()
        .filter(|i| i.member == "child" && i.end_us == killed_at)
        .map(|i| i.partition)
        .collect();
    assert!(
        !held.is_empty(),
        "the child held nothing when killed\n{}",
        h.describe()
    );
    for p in held {
        let taken = h
            .intervals
            .iter()
            .find(|i| i.member == "survivor" && i.partition == p && i.start_us > killed_at)
            .unwrap_or_else(|| panic!("nobody took partition {p} over\n{}", h.describe()));
        let from = committed.get(&p).copied().unwrap_or(0);
        let expect = (from < all.end_offset(p)).then_some(from);
        assert_eq!(
            taken.offsets.first().copied(),
            expect,
            "the survivor resumed partition {p} of the killed member\n{}",
            h.describe()
        );
    }
    for log in &lr {
        let errors: Vec<String> = log
            .errors()
            .into_iter()
            .filter(|e| !e.contains("group is rebalancing") && !e.contains("group rebalanced"))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", log.name());
    }
}

/// Commits in `on_partitions_revoked` and remembers what it was told.
struct CommittingListener(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for CommittingListener {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut KafkaConsumer,
        partitions: &[TopicPartition],
    ) {
        let r = consumer.commit_sync();
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.push(format!("revoked {} (commit: {r:?})", partitions.len()));
    }

    fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.push(format!("assigned {}", partitions.len()));
    }
}

fn unsubscribe_commits_in_the_listener_and_resubscribing_resumes(version: MockVersion) {
    init_logging();
    let topic = "restart-unsubscribe";
    let group = "restart-unsubscribe-group";
    let (cluster, all) = start(version, topic, 600);
    let props = group_props(group, "range", CommitPolicy::Manual { every: 1 });
    let mut props: Vec<(&str, &str)> = props
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    props.push(("max.poll.records", "20"));
    let mut c = library_consumer(&cluster.bootstrap(), &props);
    let seen = Arc::new(Mutex::new(Vec::new()));
    c.subscribe_with_listener([topic], Box::new(CommittingListener(seen.clone())))
        .expect("subscribe");
    let mut got = Vec::new();
    poll_until(&mut c, &mut got, WAIT, "some records", |g| g.len() >= 150);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &got {
        next.insert(r.partition, r.offset + 1);
    }

    // The listener commits what was consumed before the member leaves.
    let started = Instant::now();
    c.unsubscribe().expect("unsubscribe");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "unsubscribe took {:?}",
        started.elapsed()
    );
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        Some("revoked 3 (commit: Ok(()))"),
        "{seen:?}"
    );
    assert!(c.assignment().is_empty());
    let tps = partitions(topic, PARTITIONS);
    let committed = c.committed(&tps, WAIT).expect("committed offsets");
    for tp in &tps {
        // A partition nothing was read from yet is committed at 0 (its
        // position), or not at all if it had none yet.
        assert_eq!(
            committed.get(tp).cloned().flatten().map_or(0, |o| o.offset),
            next.get(&tp.partition).copied().unwrap_or(0),
            "{tp}: committed in the listener on unsubscribe"
        );
    }

    // Subscribing again joins afresh and resumes at the commits.
    c.subscribe([topic]).expect("subscribe again");
    let rest = all.filtered(|p, o| o >= next.get(&p).copied().unwrap_or(0));
    let mut again = Vec::new();
    poll_until(
        &mut c,
        &mut again,
        WAIT,
        "the records after the commits",
        |g| g.len() >= rest.len(),
    );
    rest.assert_delivered(&again);
    c.close().expect("close");
}

test_on_each_mock!(
    killed_member_restarts_from_its_commits,
    survivor_takes_over_from_the_killed_members_commits,
    unsubscribe_commits_in_the_listener_and_resubscribing_resumes,
);
