//! Consumer metrics on the simulated cluster.
//!
//! * `current_lag` runs from the end seen in fetch answers to the position: N before
//!   anything is handed out, 0 once everything is; None before a position and an end
//!   are known.
//! * Records and bytes counted are exactly those handed out, per partition and in total.
//! * Fetch latency is measured on the driver's clock, from `poll_transmit` to the answer.
//! * Rebalances and revocations are counted, with the time of the last rebalance.
//! * A failed commit is counted with its error's text; a good one as a success.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::{
    AutoOffsetReset, Consumer, ConsumerRecord, ErrorCode, Event, MemberState, RequestId,
};

const GROUP: &str = "billing";

fn len(b: &Option<bytes::Bytes>) -> u64 {
    b.as_ref().map_or(0, |b| b.len() as u64)
}

/// Key and value bytes of `records`.
fn bytes_of(records: &[ConsumerRecord]) -> u64 {
    records.iter().map(|r| len(&r.key) + len(&r.value)).sum()
}

fn stable(c: &Consumer) -> bool {
    c.group()
        .is_some_and(|g| g.state() == MemberState::Stable && !g.needs_rejoin())
}

#[test]
fn lag_goes_from_n_to_zero_as_records_are_handed_out() {
    let mut cluster = TestCluster::builder().topic("orders", 2).build();
    let (p0, p1) = (tp("orders", 0), tp("orders", 1));
    cluster.fill(&p0, 10, 4);
    cluster.fill(&p1, 3, 3);
    // Records are buffered, not handed out, until the test polls.
    cluster.drain = false;
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    assert_eq!(consumer.current_lag(&p0), None, "no position, no end yet");
    assert_eq!(consumer.metrics().total_lag(), None);
    assert_eq!(consumer.current_lag(&tp("orders", 7)), None, "not assigned");

    cluster.drive(
        &mut consumer,
        |c, _| c.current_lag(&p0).is_some() && c.current_lag(&p1).is_some(),
        200,
    );
    assert_eq!(consumer.current_lag(&p0), Some(10));
    assert_eq!(consumer.current_lag(&p1), Some(3));
    let m = consumer.metrics();
    assert_eq!(m.total_lag(), Some(13));
    assert_eq!((m.records_consumed, m.bytes_consumed), (0, 0));
    let part0 = &m.partitions[0];
    assert_eq!(part0.tp, p0);
    assert_eq!(
        (part0.position, part0.end_offset, part0.lag),
        (Some(0), Some(10), Some(10))
    );

    // Everything handed out, a few records at a time: the lag falls with each poll.
    let mut handed_out: Vec<ConsumerRecord> = Vec::new();
    let mut lags = vec![consumer.metrics().total_lag().unwrap()];
    while handed_out.len() < 13 {
        let records = consumer.poll_records(4).unwrap();
        if records.is_empty() {
            // The rest is still to be fetched.
            cluster.run_for(&mut consumer, Duration::from_millis(100));
            continue;
        }
        handed_out.extend(records);
        lags.push(consumer.metrics().total_lag().unwrap());
    }
    assert!(lags.windows(2).all(|w| w[1] < w[0]), "{lags:?}");
    assert_eq!(lags.last(), Some(&0));
    assert_eq!(consumer.current_lag(&p0), Some(0));
    assert_eq!(consumer.current_lag(&p1), Some(0));

    let m = consumer.metrics();
    assert_eq!(m.records_consumed, 13);
    assert_eq!(m.bytes_consumed, bytes_of(&handed_out));
    for p in &m.partitions {
        let mine: Vec<ConsumerRecord> = handed_out
            .iter()
            .filter(|r| *r.topic == p.tp.topic && r.partition == p.tp.partition)
            .cloned()
            .collect();
        assert_eq!(p.records_consumed, mine.len() as u64, "{}", p.tp);
        assert_eq!(p.bytes_consumed, bytes_of(&mine), "{}", p.tp);
        assert_eq!((p.position, p.lag), (p.end_offset, Some(0)), "{}", p.tp);
    }

    // New records appended: the next fetch answer shows them as lag.
    cluster.fill(&p1, 5, 5);
    cluster.drive(&mut consumer, |c, _| c.current_lag(&p1) == Some(5), 200);
    assert_eq!(
        consumer.metrics().records_consumed,
        13,
        "not handed out yet"
    );
}

#[test]
fn records_and_bytes_count_what_the_driver_received() {
    let mut cluster = TestCluster::builder().brokers(3).topic("orders", 3).build();
    for (p, n) in [(0, 10), (1, 7), (2, 5)] {
        cluster.fill(&tp("orders", p), n, 3);
    }
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_poll_records(4),
    );
    consumer.assign((0..3).map(|p| tp("orders", p))).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 22, 300);
    let m = consumer.metrics();
    assert_eq!(m.records_consumed, 22);
    assert_eq!(m.bytes_consumed, bytes_of(&cluster.received));
    assert_eq!(
        m.partitions.iter().map(|p| p.records_consumed).sum::<u64>(),
        22
    );
    assert_eq!(m.total_lag(), Some(0));
}

#[test]
fn fetch_latency_is_measured_on_the_drivers_clock() {
    let mut cluster = TestCluster::builder().brokers(1).topic("orders", 1).build();
    let p0 = tp("orders", 0);
    cluster.fill(&p0, 5, 5);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .fetch_max_wait(Duration::from_millis(400)),
    );
    consumer.assign([p0.clone()]).unwrap();
    assert_eq!(consumer.metrics().fetch.latency_last, None);
    // The first fetch's answer comes 250 ms late.
    cluster.delay_next(ApiKey::Fetch, Duration::from_millis(250));
    cluster.drive(&mut consumer, |c, _| c.metrics().fetch.responses == 1, 200);
    let f = consumer.metrics().fetch;
    assert_eq!(f.latency_last, Some(Duration::from_millis(250)));
    assert_eq!(f.latency_max, Some(Duration::from_millis(250)));
    assert_eq!(f.latency_avg, Some(Duration::from_millis(250)));

    // Caught up: the next fetches are long polls that wait out fetch.max.wait.ms.
    cluster.run_for(&mut consumer, Duration::from_secs(3));
    let f = consumer.metrics().fetch;
    assert!(f.responses >= 3, "{f:?}");
    assert_eq!(f.latency_last, Some(Duration::from_millis(400)), "{f:?}");
    assert_eq!(f.latency_max, Some(Duration::from_millis(400)), "{f:?}");
    let avg = f.latency_avg.unwrap();
    assert!(
        avg > Duration::from_millis(250) && avg < Duration::from_millis(400),
        "{f:?}"
    );
    assert_eq!(f.failed, 0);
    // Sent, answered or failed, or still in flight (one per broker at most).
    assert!(f.requests_sent - f.responses - f.failed <= 1, "{f:?}");
    assert_eq!(
        f.requests_sent,
        cluster.count(ApiKey::Fetch) as u64,
        "every fetch the brokers saw was counted once"
    );

    // A fetch lost with its connection counts as failed.
    let before = consumer.metrics().fetch;
    cluster.cut(&mut consumer, 1);
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    let after = consumer.metrics().fetch;
    assert_eq!(after.failed, before.failed + 1, "{after:?}");
    assert!(
        after.responses > before.responses,
        "fetching resumed: {after:?}"
    );
}

#[test]
fn rebalances_and_revocations_are_counted() {
    let mut cluster = TestCluster::builder()
        .topic("orders", 2)
        .topic("other", 1)
        .build();
    let mut consumer = cluster.manual_commit_member(GROUP, "orders");
    assert_eq!(consumer.metrics().rebalances.assignments, 0);
    cluster.drive(&mut consumer, |c, _| stable(c), 300);
    let first = consumer.metrics().rebalances;
    assert_eq!((first.assignments, first.revocations), (1, 0));
    let joined_at = first.last_assignment.expect("a rebalance time");
    assert!(joined_at <= cluster.now());

    // A new subscription: an eager member revokes everything, then is assigned again.
    cluster.advance(Duration::from_secs(1));
    consumer
        .subscribe(["orders".to_owned(), "other".to_owned()])
        .unwrap();
    cluster.drive(
        &mut consumer,
        |c, _| stable(c) && c.assignment().len() == 3,
        300,
    );
    let second = consumer.metrics().rebalances;
    assert_eq!(
        (second.assignments, second.revocations),
        (2, 1),
        "{second:?}"
    );
    assert!(second.last_assignment.unwrap() > joined_at);
    let revoked = cluster
        .events
        .iter()
        .filter(|e| matches!(e, Event::PartitionsRevoked(_)))
        .count();
    assert_eq!(revoked as u64, second.revocations);

    // Leaving the group revokes what it owned.
    consumer.unsubscribe();
    assert_eq!(consumer.metrics().rebalances.revocations, 2);
    assert_eq!(consumer.metrics().rebalances.losses, 0);
}

#[test]
fn commits_are_counted_and_a_failure_keeps_its_error() {
    let mut cluster = TestCluster::builder().topic("orders", 2).build();
    cluster.fill(&tp("orders", 0), 10, 5);
    cluster.fill(&tp("orders", 1), 10, 5);
    let mut consumer = cluster.manual_commit_member(GROUP, "orders");
    cluster.drive(&mut consumer, |_, c| c.received.len() == 20, 300);
    let done = |c: &TestCluster, id: RequestId| {
        c.events
            .iter()
            .any(|e| matches!(e, Event::CommitCompleted { id: i, .. } if *i == id))
    };

    let id = consumer.commit(consumer.consumed_offsets()).unwrap();
    cluster.drive(&mut consumer, |_, c| done(c, id), 100);
    let c = consumer.metrics().commits;
    assert_eq!(
        (c.succeeded, c.failed, c.last_error.as_deref()),
        (1, 0, None)
    );

    cluster.inject_error(ApiKey::OffsetCommit, ErrorCode::OffsetMetadataTooLarge);
    let id = consumer.commit(consumer.consumed_offsets()).unwrap();
    cluster.drive(&mut consumer, |_, c| done(c, id), 100);
    let c = consumer.metrics().commits;
    assert_eq!((c.succeeded, c.failed), (1, 1), "{c:?}");
    let error = c.last_error.expect("the failure's text");
    assert!(error.contains("OFFSET_METADATA_TOO_LARGE"), "{error}");

    // A retriable error is retried: the failed attempt counts, then the success.
    cluster.inject_error(ApiKey::OffsetCommit, ErrorCode::CoordinatorLoadInProgress);
    let id = consumer.commit(consumer.consumed_offsets()).unwrap();
    cluster.drive(&mut consumer, |_, c| done(c, id), 200);
    let c = consumer.metrics().commits;
    assert_eq!((c.succeeded, c.failed), (2, 2), "{c:?}");
    assert!(
        c.last_error
            .as_deref()
            .is_some_and(|e| e.contains("COORDINATOR_LOAD_IN_PROGRESS")),
        "{c:?}"
    );
}

#[test]
fn a_consumer_without_a_group_has_no_group_metrics() {
    let mut cluster = TestCluster::builder().topic("orders", 1).build();
    cluster.fill(&tp("orders", 0), 3, 3);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign([tp("orders", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 3, 100);
    let m = consumer.metrics();
    assert_eq!(m.rebalances, Default::default());
    assert_eq!(m.commits, Default::default());
    assert_eq!(m.records_consumed, 3);
}
