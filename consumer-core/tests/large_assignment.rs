//! A large assignment (3 000 partitions over three brokers) against brokers keeping fetch
//! sessions (KIP-227): once the sessions are open, a fetch names only the partitions whose
//! fetch position moved (those that got records), never the idle ones; every record is
//! handed out once, in order; and an idle consumer sends nothing but long polls.

use std::collections::BTreeSet;
use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, SessionMode, TestCluster};
use consumer_core::AutoOffsetReset;

const PARTITIONS: usize = 3_000;

#[test]
fn incremental_fetches_name_only_what_moved() {
    let mut cluster = TestCluster::builder()
        .brokers(3)
        .topic("big", PARTITIONS)
        .build();
    cluster.fetch_sessions.mode = SessionMode::Kafka;
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    let all: Vec<_> = (0..PARTITIONS as i32).map(|p| tp("big", p)).collect();
    consumer.assign(all).expect("assign");

    // Every partition gets its position and is in a session: idle, nothing to send.
    cluster.drive(
        &mut consumer,
        |_, c| {
            let brokers: BTreeSet<i32> = c
                .fetch_sessions
                .log
                .iter()
                .rev()
                .take(3)
                .filter(|s| s.epoch > 0 && s.sent.is_empty())
                .map(|s| s.broker)
                .collect();
            brokers.len() == 3
        },
        500,
    );

    // Records arrive on a few partitions, twice.
    let active = [tp("big", 7), tp("big", 1_500), tp("big", 2_999)];
    for round in 0..2 {
        let since = cluster.fetch_sessions.log.len();
        for p in &active {
            cluster.fill(p, 20, 10);
        }
        let expected = 20 * (round + 1);
        cluster.drive(
            &mut consumer,
            |_, c| active.iter().all(|p| c.offsets_of(p).len() == expected),
            500,
        );
        for seen in &cluster.fetch_sessions.log[since..] {
            assert!(
                seen.epoch > 0,
                "a full fetch after the sessions opened: {seen:?}"
            );
            assert!(
                seen.sent.iter().all(|(tp, _)| active.contains(tp)),
                "a fetch named an idle partition: {:?}",
                seen.sent
            );
            assert!(seen.forgotten.len() <= active.len(), "{seen:?}");
        }
    }
    for p in &active {
        assert_eq!(cluster.offsets_of(p), (0..40).collect::<Vec<i64>>());
    }
    assert_eq!(cluster.received.len(), 3 * 40);

    // Idle: a minute of simulated time costs long polls only; past the first ones (the
    // partitions just drained going back into their sessions), they name no partition.
    let since = cluster.fetch_sessions.log.len();
    let fetches = cluster.requests.len();
    cluster.run_for(&mut consumer, Duration::from_secs(60));
    let polls = &cluster.fetch_sessions.log[since..];
    for seen in polls {
        assert!(
            seen.sent.iter().all(|(tp, _)| active.contains(tp)),
            "{seen:?}"
        );
    }
    assert!(
        polls
            .iter()
            .skip(6)
            .all(|s| s.sent.is_empty() && s.forgotten.is_empty()),
        "{:?}",
        polls.iter().take(10).collect::<Vec<_>>()
    );
    let sent = cluster.requests[fetches..]
        .iter()
        .filter(|r| r.api == ApiKey::Fetch)
        .count();
    // fetch.max.wait.ms is 500 ms: about 120 long polls per broker in a minute.
    assert!(sent <= 3 * 125, "{sent} fetches in an idle minute");
}
