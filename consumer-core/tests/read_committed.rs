//! `isolation.level=read_committed` against the simulated cluster, whose brokers keep
//! transactions as Kafka does (testing/transactions.rs): records of aborted transactions
//! are dropped, committed ones come out once and in order, nothing past the last stable
//! offset is seen, control records are never handed out, positions and commits land past
//! the final marker, and the lag is measured to the LSO. `read_uncommitted` on the same
//! log sees every data record.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::{
    AutoOffsetReset, Consumer, ConsumerConfigBuilder, Event, IsolationLevel, RequestId,
    TopicPartition,
};

const GROUP: &str = "rc";

fn cluster() -> TestCluster {
    TestCluster::builder().brokers(1).topic("t", 1).build()
}

fn config(cluster: &TestCluster, isolation: IsolationLevel) -> ConsumerConfigBuilder {
    cluster
        .config()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .isolation_level(isolation)
}

fn assigned(cluster: &TestCluster, config: ConsumerConfigBuilder, p: &TopicPartition) -> Consumer {
    let mut consumer = cluster.consumer(config);
    consumer.assign([p.clone()]).expect("assign");
    consumer
}

/// The values received from `p`, in order.
fn values(cluster: &TestCluster, p: &TopicPartition) -> Vec<String> {
    cluster.received_of(p).into_iter().map(|r| r.2).collect()
}

fn position(consumer: &Consumer, p: &TopicPartition) -> Option<i64> {
    consumer.position(p).ok().flatten().map(|p| p.offset)
}

/// Drives until the position of `p` reaches `offset`.
fn drive_to(cluster: &mut TestCluster, consumer: &mut Consumer, p: &TopicPartition, offset: i64) {
    let q = p.clone();
    cluster.drive(consumer, |c, _| position(c, &q) == Some(offset), 500);
}

/// Three producers: 1 aborts twice, 2 commits, 3 commits then aborts; plain records in
/// between. Returns the log end.
fn interleaved(cluster: &mut TestCluster, p: &TopicPartition) -> i64 {
    cluster.append(p, &[("plain", "p0")]); // 0
    cluster.append_transactional(p, 1, &[("a", "a1-x"), ("a", "a1-y")]); // 1, 2
    cluster.append_transactional(p, 2, &[("b", "b1")]); // 3
    cluster.append(p, &[("plain", "p1")]); // 4
    cluster.append_transactional(p, 3, &[("c", "c1")]); // 5
    cluster.append_transactional(p, 1, &[("a", "a1-z")]); // 6
    cluster.append_transactional(p, 2, &[("b", "b2")]); // 7
    assert_eq!(cluster.abort_transaction(p, 1), 8);
    assert_eq!(cluster.commit_transaction(p, 2), 9);
    cluster.append_transactional(p, 1, &[("a", "a2")]); // 10
    assert_eq!(cluster.commit_transaction(p, 3), 11);
    cluster.append_transactional(p, 3, &[("c", "c2")]); // 12
    cluster.append(p, &[("plain", "p2")]); // 13
    assert_eq!(cluster.abort_transaction(p, 1), 14);
    assert_eq!(cluster.abort_transaction(p, 3), 15);
    cluster.append(p, &[("plain", "p3")]); // 16
    assert_eq!(cluster.last_stable_offset(p), 17);
    17
}

#[test]
fn interleaved_transactions_keep_only_committed_and_plain_records() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    let end = interleaved(&mut cluster, &p);
    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted),
        &p,
    );
    drive_to(&mut cluster, &mut consumer, &p, end);
    assert_eq!(cluster.offsets_of(&p), vec![0, 3, 4, 5, 7, 13, 16]);
    assert_eq!(
        values(&cluster, &p),
        vec!["p0", "b1", "p1", "c1", "b2", "p2", "p3"]
    );
}

#[test]
fn read_uncommitted_sees_every_data_record_of_the_same_log() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    let end = interleaved(&mut cluster, &p);
    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadUncommitted),
        &p,
    );
    drive_to(&mut cluster, &mut consumer, &p, end);
    // Aborted records included; only the control records (8, 9, 11, 14, 15) are skipped.
    assert_eq!(
        cluster.offsets_of(&p),
        vec![0, 1, 2, 3, 4, 5, 6, 7, 10, 12, 13, 16]
    );
}

#[test]
fn interleaved_transactions_one_batch_per_fetch() {
    // max.partition.fetch.bytes 1: each fetch answers one batch, so the aborted
    // transactions of producer 1 and 3 span many fetches, each listing them again.
    let mut cluster = cluster();
    let p = tp("t", 0);
    let end = interleaved(&mut cluster, &p);
    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted).max_partition_fetch_bytes(1),
        &p,
    );
    drive_to(&mut cluster, &mut consumer, &p, end);
    assert_eq!(cluster.offsets_of(&p), vec![0, 3, 4, 5, 7, 13, 16]);
    // One fetch from each of the 16 batches (then long polls at the end).
    let mut offsets: Vec<i64> = cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .flat_map(|r| r.partitions.iter().map(|(_, o)| *o))
        .collect();
    offsets.dedup();
    assert_eq!(
        offsets,
        vec![0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    );
}

#[test]
fn an_aborted_transaction_spanning_several_fetches_is_dropped_whole() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    cluster.append(&p, &[("k", "before")]); // 0
    for i in 0..6 {
        let v = format!("aborted-{i}");
        cluster.append_transactional(&p, 9, &[("k", v.as_str()), ("k", v.as_str())]);
    } // 1..=12
    assert_eq!(cluster.abort_transaction(&p, 9), 13);
    cluster.append_transactional(&p, 9, &[("k", "committed")]); // 14
    assert_eq!(cluster.commit_transaction(&p, 9), 15);
    cluster.append(&p, &[("k", "after")]); // 16
    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted)
            .max_partition_fetch_bytes(1)
            .max_poll_records(1),
        &p,
    );
    drive_to(&mut cluster, &mut consumer, &p, 17);
    assert_eq!(cluster.offsets_of(&p), vec![0, 14, 16]);
    assert_eq!(values(&cluster, &p), vec!["before", "committed", "after"]);
    // The transaction's batches came in separate fetches.
    let offsets: Vec<i64> = cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .flat_map(|r| r.partitions.iter().map(|(_, o)| *o))
        .collect();
    for o in [3, 5, 7, 9, 11] {
        assert!(offsets.contains(&o), "a fetch from {o}: {offsets:?}");
    }
}

#[test]
fn an_open_transaction_holds_the_consumer_at_the_last_stable_offset() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    cluster.append(&p, &[("k", "v0")]); // 0
    cluster.append_transactional(&p, 5, &[("k", "open-1")]); // 1
    cluster.append(&p, &[("k", "v2")]); // 2, after the open transaction
    cluster.append_transactional(&p, 6, &[("k", "other")]); // 3
    assert_eq!(cluster.commit_transaction(&p, 6), 4);
    assert_eq!(cluster.last_stable_offset(&p), 1);

    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted),
        &p,
    );
    drive_to(&mut cluster, &mut consumer, &p, 1);
    cluster.run_for(&mut consumer, Duration::from_secs(3));
    assert_eq!(cluster.offsets_of(&p), vec![0], "nothing past the LSO");
    assert_eq!(position(&consumer, &p), Some(1));
    // Lag is measured to the LSO, not to the high watermark (5).
    assert_eq!(consumer.current_lag(&p), Some(0));
    let m = consumer.metrics();
    let pm = m
        .partitions
        .iter()
        .find(|x| x.tp == p)
        .expect("partition metrics");
    assert_eq!(pm.end_offset, Some(1));
    assert_eq!(pm.lag, Some(0));

    // The open transaction commits: its record, the plain one and the other producer's
    // committed record come out, in offset order.
    cluster.append_transactional(&p, 5, &[("k", "open-2")]); // 5
    assert_eq!(cluster.commit_transaction(&p, 5), 6);
    cluster.run_for(&mut consumer, Duration::from_millis(1));
    drive_to(&mut cluster, &mut consumer, &p, 7);
    assert_eq!(cluster.offsets_of(&p), vec![0, 1, 2, 3, 5]);
    assert_eq!(
        values(&cluster, &p),
        vec!["v0", "open-1", "v2", "other", "open-2"]
    );
    assert_eq!(consumer.current_lag(&p), Some(0));
}

#[test]
fn an_open_transaction_that_aborts_releases_only_the_other_records() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    cluster.append_transactional(&p, 5, &[("k", "doomed")]); // 0
    cluster.append(&p, &[("k", "plain")]); // 1
    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted),
        &p,
    );
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert!(cluster.received.is_empty());
    assert_eq!(position(&consumer, &p), Some(0));
    assert_eq!(cluster.abort_transaction(&p, 5), 2);
    drive_to(&mut cluster, &mut consumer, &p, 3);
    assert_eq!(values(&cluster, &p), vec!["plain"]);
}

#[test]
fn lag_under_read_committed_is_measured_to_the_lso() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    cluster.append(&p, &[("k", "a"), ("k", "b")]); // 0, 1
    cluster.append_transactional(&p, 5, &[("k", "t1"), ("k", "t2"), ("k", "t3")]); // 2..=4
    let mut rc = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted).max_poll_records(1),
        &p,
    );
    cluster.drain = false;
    // Fetch without handing anything out: position 0, LSO 2, high watermark 5.
    cluster.drive(&mut rc, |c, _| c.has_buffered_records(), 100);
    assert_eq!(position(&rc, &p), Some(0));
    assert_eq!(rc.current_lag(&p), Some(2));
    let m = rc.metrics();
    let pm = m
        .partitions
        .iter()
        .find(|x| x.tp == p)
        .expect("partition metrics");
    assert_eq!(
        pm.end_offset,
        Some(2),
        "the LSO, not the high watermark (5)"
    );
    assert_eq!(pm.lag, Some(2));

    let mut ru = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadUncommitted),
        &p,
    );
    cluster.drive(&mut ru, |c, _| c.has_buffered_records(), 100);
    assert_eq!(
        ru.current_lag(&p),
        Some(5),
        "read_uncommitted: to the high watermark"
    );
}

#[test]
fn list_offsets_latest_answers_the_lso_under_read_committed() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    cluster.append(&p, &[("k", "a")]); // 0
    cluster.append_transactional(&p, 5, &[("k", "t1")]); // 1
    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted).auto_offset_reset(AutoOffsetReset::Latest),
        &p,
    );
    drive_to(&mut cluster, &mut consumer, &p, 1);
    // Latest is the LSO (1), not the high watermark (2).
    assert_eq!(cluster.count(ApiKey::ListOffsets), 1);
    assert_eq!(cluster.commit_transaction(&p, 5), 2);
    drive_to(&mut cluster, &mut consumer, &p, 3);
    assert_eq!(values(&cluster, &p), vec!["t1"]);
}

/// The result of the caller's commit `id`, once completed.
fn committed(cluster: &TestCluster, id: RequestId) -> bool {
    cluster
        .events
        .iter()
        .any(|e| matches!(e, Event::CommitCompleted { id: i, result: Ok(()), .. } if *i == id))
}

#[test]
fn positions_and_commits_land_past_the_final_marker() {
    let mut cluster = cluster();
    let p = tp("t", 0);
    cluster.append_transactional(&p, 1, &[("k", "c1"), ("k", "c2")]); // 0, 1
    assert_eq!(cluster.commit_transaction(&p, 1), 2);
    cluster.append_transactional(&p, 2, &[("k", "dropped")]); // 3
    assert_eq!(cluster.abort_transaction(&p, 2), 4);
    let mut consumer = cluster.consumer(
        config(&cluster, IsolationLevel::ReadCommitted)
            .group_id(GROUP)
            .enable_auto_commit(false),
    );
    consumer.subscribe(["t".to_owned()]).expect("subscribe");
    drive_to(&mut cluster, &mut consumer, &p, 5);
    assert_eq!(values(&cluster, &p), vec!["c1", "c2"]);
    // The last record handed out is at 1, yet the position is past both markers.
    assert_eq!(position(&consumer, &p), Some(5));
    let offsets = consumer.consumed_offsets();
    assert_eq!(offsets.len(), 1);
    assert_eq!(offsets[0].1.offset, 5);
    let id = consumer.commit(offsets).expect("commit");
    cluster.drive(&mut consumer, |_, c| committed(c, id), 100);
    assert_eq!(cluster.groups.committed(GROUP, &p), Some(5));
    // No control record was handed out: every record received is data.
    assert!(cluster
        .received
        .iter()
        .all(|r| r.value.as_deref() != Some(&[0u8, 0, 0, 0, 0, 0][..])));
}

#[test]
fn a_fetch_that_ends_with_a_marker_moves_the_position_past_it() {
    // Only a marker after the position: the consumer hands nothing out but moves on, so
    // the next fetch does not ask for the marker again.
    let mut cluster = cluster();
    let p = tp("t", 0);
    cluster.append_transactional(&p, 1, &[("k", "x")]); // 0
    assert_eq!(cluster.abort_transaction(&p, 1), 1);
    let mut consumer = assigned(
        &cluster,
        config(&cluster, IsolationLevel::ReadCommitted),
        &p,
    );
    drive_to(&mut cluster, &mut consumer, &p, 2);
    assert!(cluster.received.is_empty());
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    let offsets: Vec<i64> = cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .flat_map(|r| r.partitions.iter().map(|(_, o)| *o))
        .collect();
    assert_eq!(offsets.first(), Some(&0));
    assert!(offsets.iter().skip(1).all(|&o| o == 2), "{offsets:?}");
}
