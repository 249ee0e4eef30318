//! A member that stops polling for longer than max.poll.interval.ms.
//!
//! The library has no background thread: while the application is away
//! nothing is sent, not even heartbeats. So what happens is:
//! * away longer than the session: the coordinator expires the member and
//!   gives its partitions to the others; when the application comes back its
//!   next poll reports `MaxPollIntervalExceeded`, the listener's
//!   `on_partitions_lost` runs, and the following polls rejoin;
//! * away longer than max.poll.interval.ms but within the session: the next
//!   poll leaves the group (LeaveGroup), reports `MaxPollIntervalExceeded`
//!   with `on_partitions_lost`, and the following polls rejoin.
//!
//! (The Java consumer's heartbeat thread would leave the group as soon as
//! max.poll.interval.ms passes.)

use std::time::Duration;

use integration_tests::{
    assert_no_violations, group_props, init_logging, mock_cluster, now_us, produce_kcat,
    sample_records, wait_for_history, CommitPolicy, Compression, Expected, GroupHistory,
    LibraryMember, MemberEvent, MemberLog, MemberSpec, MockCluster,
};

const PARTITIONS: i32 = 4;

struct Setup {
    cluster: MockCluster,
    topic: String,
    group: String,
    expected: Expected,
}

impl Setup {
    fn start(tag: &str) -> Setup {
        let cluster = mock_cluster(1);
        let topic = format!("poll-{tag}");
        cluster
            .create_topic(&topic, PARTITIONS, 1)
            .expect("create topic");
        let mut s = Setup {
            cluster,
            expected: Expected::new(&topic),
            group: format!("poll-{tag}-group"),
            topic,
        };
        s.produce(200, "w1");
        s
    }

    fn produce(&mut self, n: usize, tag: &str) {
        let produced = produce_kcat(
            &self.cluster.bootstrap(),
            &self.topic,
            &sample_records(n, PARTITIONS, tag),
            Compression::None,
        )
        .expect("produce");
        self.expected.add(&produced);
    }

    fn member(&self, name: &str, session_ms: u32, max_poll_ms: u32) -> LibraryMember {
        let commits = CommitPolicy::Manual { every: 30 };
        let mut props = group_props(&self.group, "range", commits);
        props.extend([
            ("session.timeout.ms".to_string(), session_ms.to_string()),
            ("max.poll.interval.ms".to_string(), max_poll_ms.to_string()),
        ]);
        LibraryMember::start(MemberSpec {
            name: name.into(),
            bootstrap: self.cluster.bootstrap(),
            topics: vec![self.topic.clone()],
            props,
            commits,
            poll_delay: Duration::from_millis(10),
        })
    }
}

/// The time (µs) of `log`'s first MaxPollIntervalExceeded error, if any.
fn exceeded_at(log: &MemberLog) -> Option<i64> {
    log.snapshot().iter().find_map(|l| match &l.event {
        MemberEvent::Error(e) if e.contains("max.poll.interval.ms") => Some(l.at_us),
        _ => None,
    })
}

/// Checks what the slow member `x` saw when it came back: exactly one
/// MaxPollIntervalExceeded error, right after it lost the partitions it held
/// (`on_partitions_lost`, not revoked), and no other error.
fn check_return(x: &MemberLog, held: &[i32]) -> i64 {
    let events = x.snapshot();
    let errors = x.errors();
    assert_eq!(
        errors.len(),
        1,
        "x should report MaxPollIntervalExceeded once: {errors:?}\n{}",
        x.describe()
    );
    // KafkaError::Consumer(ConsumerError::MaxPollIntervalExceeded { .. }).
    assert!(
        errors[0].contains("[Consumer(MaxPollIntervalExceeded { elapsed_ms: "),
        "{errors:?}"
    );
    let at = exceeded_at(x).unwrap_or(0);
    let i = events
        .iter()
        .position(|l| l.at_us == at && matches!(l.event, MemberEvent::Error(_)))
        .unwrap_or(0);
    match i.checked_sub(1).map(|j| &events[j].event) {
        Some(MemberEvent::Lost(p)) => {
            assert_eq!(
                p,
                held,
                "x lost other partitions than it held\n{}",
                x.describe()
            )
        }
        other => panic!(
            "x's error did not follow on_partitions_lost (before it: {other:?})\n{}",
            x.describe()
        ),
    }
    at
}

#[test]
fn away_longer_than_the_session() {
    init_logging();
    let mut s = Setup::start("session");
    // A short session (the mock's rebalance wait is session - 1 s), and a
    // poll interval shorter still.
    let mut x = s.member("x", 3000, 2000);
    let mut y = s.member("y", 3000, 2000);
    let logs = [x.log().clone(), y.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    let h = wait_for_history(
        &lr,
        Duration::from_secs(40),
        "both members consuming",
        |h| h.settled(PARTITIONS, &["x", "y"]) && h.covers(&s.expected, PARTITIONS),
    );
    let held = h.owned_by("x");
    let paused = now_us();
    x.pause(Duration::from_secs(9));
    s.produce(200, "w2");

    // The coordinator expires x (no heartbeats) and y takes everything,
    // while x is still away.
    wait_for_history(
        &lr,
        Duration::from_secs(8),
        "y owning every partition while x is away",
        |h| h.owned_by("y").len() == PARTITIONS as usize,
    );
    assert!(exceeded_at(&logs[0]).is_none(), "x came back too early");
    wait_for_history(
        &lr,
        Duration::from_secs(30),
        "x back, both members owning partitions again",
        |h| exceeded_at(&logs[0]).is_some() && h.settled(PARTITIONS, &["x", "y"]),
    );
    let back = check_return(&logs[0], &held);
    assert!(
        back - paused >= 9_000_000,
        "x reported the error {} ms after the pause began",
        (back - paused) / 1000
    );
    let h = GroupHistory::of(&lr);
    let owners = h.owners_at(back - 1);
    assert!(
        (0..PARTITIONS).all(|p| owners.get(&p) == Some(&vec!["y".to_string()])),
        "y did not own everything when x came back: {owners:?}\n{}",
        h.describe()
    );
    s.produce(200, "w3");
    wait_for_history(&lr, Duration::from_secs(30), "every record consumed", |h| {
        h.covers(&s.expected, PARTITIONS)
    });
    x.stop(Duration::from_secs(30));
    y.stop(Duration::from_secs(30));
    let h = GroupHistory::of(&lr);
    // x's ownership ended only when it came back ("lost"), after y had
    // taken the partitions: the overlap is the lost member's, as in Java.
    assert_no_violations("session expiry", &h.ownership_violations(true), &h, &lr);
    assert_no_violations(
        "session expiry",
        &h.delivery_violations(&s.expected, PARTITIONS),
        &h,
        &lr,
    );
    let y_errors = logs[1].errors();
    assert!(
        y_errors.iter().all(|e| e.contains("group rebalanced")),
        "{y_errors:?}"
    );
}

#[test]
fn away_longer_than_max_poll_interval_within_the_session() {
    init_logging();
    let mut s = Setup::start("interval");
    let mut x = s.member("x", 6000, 2000);
    let mut y = s.member("y", 6000, 2000);
    let logs = [x.log().clone(), y.log().clone()];
    let lr: Vec<&MemberLog> = logs.iter().collect();
    let h = wait_for_history(
        &lr,
        Duration::from_secs(40),
        "both members consuming",
        |h| h.settled(PARTITIONS, &["x", "y"]) && h.covers(&s.expected, PARTITIONS),
    );
    let held = h.owned_by("x");
    let paused = now_us();
    x.pause(Duration::from_millis(3500));
    s.produce(200, "w2");
    wait_for_history(
        &lr,
        Duration::from_secs(30),
        "x back, both members owning partitions again",
        |h| exceeded_at(&logs[0]).is_some() && h.settled(PARTITIONS, &["x", "y"]),
    );
    let back = check_return(&logs[0], &held);
    // Within the session nobody took x's partitions while it was away: the
    // rebalance starts only when x comes back and leaves.
    let h = GroupHistory::of(&lr);
    let y_revoked: Vec<i64> = h
        .intervals
        .iter()
        .filter(|i| i.member == "y" && i.end_us != i64::MAX && i.end_us > paused)
        .map(|i| i.end_us)
        .collect();
    assert!(
        y_revoked.iter().all(|t| *t >= back),
        "y was revoked at {y_revoked:?} before x came back at {back}\n{}",
        h.describe()
    );
    assert!(
        (back - paused) < 6_000_000,
        "x came back {} ms after pausing: not within the session",
        (back - paused) / 1000
    );
    s.produce(200, "w3");
    wait_for_history(&lr, Duration::from_secs(30), "every record consumed", |h| {
        h.covers(&s.expected, PARTITIONS)
    });
    x.stop(Duration::from_secs(30));
    y.stop(Duration::from_secs(30));
    let h = GroupHistory::of(&lr);
    assert_no_violations(
        "max.poll.interval.ms",
        &h.ownership_violations(true),
        &h,
        &lr,
    );
    assert_no_violations(
        "max.poll.interval.ms",
        &h.delivery_violations(&s.expected, PARTITIONS),
        &h,
        &lr,
    );
    let y_errors = logs[1].errors();
    assert!(
        y_errors.iter().all(|e| e.contains("group rebalanced")),
        "{y_errors:?}"
    );
}
