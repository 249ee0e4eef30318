//! Incremental fetch sessions (KIP-227): the first fetch to a broker is full and opens a
//! session; later ones name only partitions that were added or changed, forget the ones no
//! longer fetched, and still get records for idle partitions they did not name. Session
//! errors and lost connections bring back a full fetch; brokers without sessions get full
//! fetches throughout.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Profile, SessionMode, SessionSeen, TestCluster};
use consumer_core::{AutoOffsetReset, Consumer, TopicPartition};

fn parts() -> [TopicPartition; 3] {
    [tp("t", 0), tp("t", 1), tp("t", 2)]
}

/// One broker leading t-0..2; t-0 holds 4 records.
fn cluster(profile: Profile, mode: SessionMode) -> (TestCluster, Consumer) {
    let mut cluster = TestCluster::builder()
        .brokers(1)
        .profile(profile)
        .topic("t", 3)
        .build();
    cluster.fetch_sessions.mode = mode;
    cluster.fill(&tp("t", 0), 4, 2);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    consumer.assign(parts()).unwrap();
    (cluster, consumer)
}

fn sent_names(seen: &SessionSeen) -> Vec<TopicPartition> {
    let mut v: Vec<_> = seen.sent.iter().map(|(tp, _)| tp.clone()).collect();
    v.sort();
    v
}

/// Consumes t-0's records and runs until a fetch names no partition: every partition is
/// caught up and idle in the session.
fn until_idle(cluster: &mut TestCluster, consumer: &mut Consumer) {
    cluster.drive(
        consumer,
        |_, c| {
            c.received.len() == 4
                && c.fetch_sessions
                    .log
                    .last()
                    .is_some_and(|s| s.epoch > 0 && s.sent.is_empty())
        },
        200,
    );
}

/// Runs until a fetch after the first `since` forgets a partition; that fetch.
fn until_forgetting(
    cluster: &mut TestCluster,
    consumer: &mut Consumer,
    since: usize,
) -> SessionSeen {
    cluster.drive(
        consumer,
        |_, c| {
            c.fetch_sessions.log[since..]
                .iter()
                .any(|s| !s.forgotten.is_empty())
        },
        100,
    );
    cluster.fetch_sessions.log.last().unwrap().clone()
}

fn opens_then_goes_incremental(profile: Profile) {
    let (mut cluster, mut consumer) = cluster(profile, SessionMode::Kafka);
    until_idle(&mut cluster, &mut consumer);
    assert_eq!(cluster.offsets_of(&tp("t", 0)), vec![0, 1, 2, 3]);

    let log = cluster.fetch_sessions.log.clone();
    let first = &log[0];
    assert_eq!((first.session_id, first.epoch), (0, 0), "{log:#?}");
    assert_eq!(sent_names(first), parts().to_vec());
    let id = first.answered_id;
    assert_ne!(id, 0);
    for (n, s) in log.iter().enumerate().skip(1) {
        assert_eq!(
            (s.session_id, s.epoch, s.answered_id),
            (id, n as i32, id),
            "{log:#?}"
        );
        // t-1 and t-2 never change: never named again.
        assert!(
            s.sent.iter().all(|(p, _)| p.partition == 0),
            "idle partitions re-sent: {log:#?}"
        );
        // The broker still fetches all three, from where the consumer is.
        let mut fetched: Vec<_> = s.fetched.iter().map(|(p, _)| p.clone()).collect();
        fetched.sort();
        assert_eq!(fetched, parts().to_vec(), "{log:#?}");
    }
    // t-0 moved on (4 records consumed): the new offset was sent.
    assert!(
        log.iter().any(|s| s.sent.contains(&(tp("t", 0), 4))),
        "{log:#?}"
    );
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn by_topic_id_the_first_fetch_opens_a_session_and_later_ones_are_incremental() {
    opens_then_goes_incremental(Profile::modern());
}

#[test]
fn by_topic_name_the_first_fetch_opens_a_session_and_later_ones_are_incremental() {
    opens_then_goes_incremental(Profile::modern().with(ApiKey::Fetch, 4, 12));
}

#[test]
fn an_idle_partition_gets_its_records_without_being_named() {
    let (mut cluster, mut consumer) = cluster(Profile::modern(), SessionMode::Kafka);
    until_idle(&mut cluster, &mut consumer);
    let in_flight = cluster.fetch_sessions.log.len() - 1;

    let p2 = tp("t", 2);
    cluster.append(&p2, &[("a", "1"), ("b", "2")]);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 100);
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    let log = &cluster.fetch_sessions.log;
    // The long poll in flight named nothing, yet delivered t-2's records.
    assert!(log[in_flight].sent.is_empty(), "{log:#?}");
    assert_eq!(
        cluster.received_of(&p2),
        vec![(0, "a".into(), "1".into()), (1, "b".into(), "2".into())]
    );
    assert_eq!(consumer.position(&p2).unwrap().unwrap().offset, 2);
    // Then t-2's new offset is sent, once, and never t-1.
    let later = &log[in_flight + 1..];
    assert!(
        later.iter().any(|s| s.sent == vec![(p2.clone(), 2)]),
        "{log:#?}"
    );
    assert!(later.iter().all(|s| s.epoch > 0), "{log:#?}");
    assert!(
        later
            .iter()
            .all(|s| s.sent.iter().all(|(p, _)| p.partition != 1)),
        "{log:#?}"
    );
    assert_eq!(cluster.received.len(), 6, "no duplicates");
}

#[test]
fn paused_and_unassigned_partitions_are_forgotten_and_resumed_ones_sent_again() {
    let (mut cluster, mut consumer) = cluster(Profile::modern(), SessionMode::Kafka);
    until_idle(&mut cluster, &mut consumer);
    let (p0, p1, p2) = (tp("t", 0), tp("t", 1), tp("t", 2));

    let mark = cluster.fetch_sessions.log.len();
    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    let forgot = until_forgetting(&mut cluster, &mut consumer, mark);
    assert_eq!(forgot.forgotten, vec![p1.clone()]);
    assert!(forgot.sent.is_empty() && forgot.epoch > 0, "{forgot:#?}");
    assert!(forgot.fetched.iter().all(|(p, _)| *p != p1), "{forgot:#?}");

    // Records for the paused partition are not fetched while it is out of the session.
    cluster.append(&p1, &[("x", "1")]);
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert!(cluster.received_of(&p1).is_empty());

    let mark = cluster.fetch_sessions.log.len();
    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 5, 100);
    let log = &cluster.fetch_sessions.log;
    assert!(
        log[mark..]
            .iter()
            .any(|s| s.epoch > 0 && s.sent == vec![(p1.clone(), 0)]),
        "resumed partition re-added: {log:#?}"
    );

    let mark = cluster.fetch_sessions.log.len();
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    let forgot = until_forgetting(&mut cluster, &mut consumer, mark);
    assert_eq!(forgot.forgotten, vec![p2]);
    assert!(forgot.epoch > 0);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

/// Breaks the session with `break_it` while a long poll is in flight; the next fetch must
/// be full with session id `expected_id(old id)`, and consumption goes on.
fn recovers_with_a_full_fetch(
    break_it: impl FnOnce(&mut TestCluster, &mut Consumer),
    expected_error: i16,
    keeps_id: bool,
) {
    let (mut cluster, mut consumer) = cluster(Profile::modern(), SessionMode::Kafka);
    until_idle(&mut cluster, &mut consumer);
    let old_id = cluster.fetch_sessions.log[0].answered_id;
    let mark = cluster.fetch_sessions.log.len();
    break_it(&mut cluster, &mut consumer);
    cluster.drive(
        &mut consumer,
        |_, c| c.fetch_sessions.log[mark..].iter().any(|s| s.epoch == 0),
        100,
    );
    let log = cluster.fetch_sessions.log.clone();
    let full_at = mark + log[mark..].iter().position(|s| s.epoch == 0).unwrap();
    let full = &log[full_at];
    assert_eq!(
        full.session_id,
        if keeps_id { old_id } else { 0 },
        "{log:#?}"
    );
    assert_eq!(sent_names(full), parts().to_vec(), "{log:#?}");
    // Before it: at most the failing incremental fetch.
    let failed: Vec<_> = log[mark..full_at].iter().map(|s| s.error).collect();
    assert!(failed.iter().all(|&e| e == expected_error), "{log:#?}");
    let new_id = full.answered_id;
    assert!(new_id != 0 && new_id != old_id);
    assert_eq!(
        cluster.fetch_sessions.open(),
        1,
        "the old session was closed"
    );

    // A new session, and records still flow.
    cluster.append(&tp("t", 1), &[("k", "v")]);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 5, 100);
    let log = &cluster.fetch_sessions.log;
    assert!(
        log[full_at + 1..]
            .iter()
            .all(|s| s.session_id == new_id && s.epoch > 0),
        "{log:#?}"
    );
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn an_unknown_session_starts_over_with_a_full_fetch() {
    recovers_with_a_full_fetch(|c, _| c.fetch_sessions.evict_all(), 70, false);
}

#[test]
fn a_wrong_epoch_reopens_the_session_with_a_full_fetch() {
    recovers_with_a_full_fetch(|c, _| c.fetch_sessions.skew_epochs(), 71, true);
}

#[test]
fn a_lost_connection_reopens_the_session_with_a_full_fetch() {
    recovers_with_a_full_fetch(|c, consumer| c.cut(consumer, 1), 0, true);
}

/// A broker that answers session id 0 (Tansu) or echoes the request's id (librdkafka's
/// mock cluster): every fetch is full and names every partition; consumption works.
fn full_fetches_throughout(profile: Profile, mode: SessionMode, epoch: i32) {
    let (mut cluster, mut consumer) = cluster(profile, mode);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 4, 100);
    cluster.append(&tp("t", 2), &[("a", "1")]);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 5, 100);
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    let log = &cluster.fetch_sessions.log;
    assert!(log.len() > 3, "{log:#?}");
    for s in log {
        assert_eq!(
            (s.session_id, s.epoch, s.answered_id),
            (0, epoch, 0),
            "{log:#?}"
        );
        assert!(s.forgotten.is_empty());
        assert_eq!(sent_names(s), parts().to_vec(), "{log:#?}");
    }
    assert_eq!(cluster.offsets_of(&tp("t", 2)), vec![0]);
    assert_eq!(cluster.received.len(), 5);
}

#[test]
fn a_broker_answering_session_id_zero_gets_full_fetches() {
    full_fetches_throughout(Profile::modern(), SessionMode::Off, 0);
}

#[test]
fn the_mock_cluster_echoing_the_id_gets_full_fetches() {
    full_fetches_throughout(Profile::mock_cluster(), SessionMode::Echo, 0);
}

#[test]
fn below_fetch_v7_fetches_are_sessionless() {
    let profile = Profile::modern().with(ApiKey::Fetch, 4, 6);
    full_fetches_throughout(profile, SessionMode::Kafka, -1);
}

/// Pipelined fetches (prefetch from the end of buffered data) in a session: partitions
/// move in and out of it as their data drains; every record still arrives once, in order,
/// and the broker's view of each request matches what the consumer asked.
#[test]
fn prefetching_in_a_session_delivers_every_record_once() {
    let mut cluster = TestCluster::builder().brokers(2).topic("t", 3).build();
    cluster.fetch_sessions.mode = SessionMode::Kafka;
    for p in parts() {
        cluster.fill(&p, 40, 4);
    }
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_poll_records(3)
            // One batch per partition per fetch, and little room to prefetch: partitions
            // leave the session while their data drains and come back.
            .max_partition_fetch_bytes(1)
            .fetch_max_bytes(400),
    );
    consumer.assign(parts()).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 120, 4000);
    cluster.append(&tp("t", 1), &[("late", "1")]);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 121, 200);
    cluster.run_for(&mut consumer, Duration::from_secs(2));

    for p in parts() {
        let n = if p.partition == 1 { 41 } else { 40 };
        assert_eq!(cluster.offsets_of(&p), (0..n).collect::<Vec<_>>(), "{p}");
    }
    assert_eq!(cluster.received.len(), 121, "no duplicates");
    let log = &cluster.fetch_sessions.log;
    assert!(
        log.iter().any(|s| s.epoch > 1),
        "sessions were used: {log:#?}"
    );
    assert!(log.iter().all(|s| s.error == 0), "{log:#?}");
    // Each request fetched exactly what the consumer asked for: the partitions sent plus
    // the idle ones of the session (the wire request shows only the sent ones).
    for (s, r) in log.iter().zip(cluster.requests_of(ApiKey::Fetch)) {
        assert_eq!(s.sent, r.partitions, "{log:#?}");
        assert!(s.sent.iter().all(|x| s.fetched.contains(x)), "{s:#?}");
    }
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn closing_ends_the_session_the_broker_holds_and_stops_fetching() {
    let (mut cluster, mut consumer) = cluster(Profile::modern(), SessionMode::Kafka);
    until_idle(&mut cluster, &mut consumer);
    assert_eq!(cluster.fetch_sessions.open(), 1);
    let id = cluster.fetch_sessions.log[0].answered_id;
    let fetches = cluster.fetch_sessions.log.len();

    consumer.close_fetch_sessions();
    assert!(consumer.has_pending_session_closes());
    cluster.drive(&mut consumer, |c, _| !c.has_pending_session_closes(), 50);
    // Well past fetch.max.wait: nothing else is fetched.
    cluster.run_for(&mut consumer, Duration::from_secs(3));

    assert_eq!(cluster.fetch_sessions.open(), 0, "the broker dropped it");
    let log = &cluster.fetch_sessions.log;
    assert_eq!(
        log.len(),
        fetches + 1,
        "one final fetch, then none: {log:#?}"
    );
    let last = &log[fetches];
    assert_eq!((last.session_id, last.epoch), (id, -1));
    assert!(last.sent.is_empty() && last.forgotten.is_empty());
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn closing_sends_nothing_to_brokers_that_keep_no_session() {
    for mode in [SessionMode::Off, SessionMode::Echo] {
        let (mut cluster, mut consumer) = cluster(Profile::modern(), mode);
        cluster.drive(&mut consumer, |_, c| c.received.len() == 4, 200);
        let fetches = cluster.fetch_sessions.log.len();
        // An echoing broker answers the id the request names: always 0 here, as no
        // session was ever given.
        assert!(cluster
            .fetch_sessions
            .log
            .iter()
            .all(|s| s.answered_id == 0));

        consumer.close_fetch_sessions();
        assert!(!consumer.has_pending_session_closes(), "{mode:?}");
        cluster.run_for(&mut consumer, Duration::from_secs(3));
        assert_eq!(
            cluster.fetch_sessions.log.len(),
            fetches,
            "{mode:?}: fetched after closing"
        );
        assert!(cluster.fetch_sessions.log.iter().all(|s| s.epoch != -1));
    }
}
