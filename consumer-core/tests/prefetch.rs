//! Pipelined fetches: while buffered data of a partition is drained, its next fetch already
//! asks from the end of that data, so the broker never waits for the caller; still every
//! record once, in order, and positions only past what was handed out.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, TestCluster};
use consumer_core::{AutoOffsetReset, Consumer};

fn one_partition(records: usize, per_batch: usize) -> TestCluster {
    let mut cluster = TestCluster::builder().brokers(1).topic("t", 1).build();
    cluster.fill(&tp("t", 0), records, per_batch);
    cluster
}

/// A consumer from the earliest offset whose fetches each answer one batch per partition
/// (max.partition.fetch.bytes of 1: the first batch always goes out, KIP-74), handing out
/// `max_poll` records per poll.
fn one_batch_per_fetch(cluster: &TestCluster, max_poll: usize) -> Consumer {
    cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_partition_fetch_bytes(1)
            .max_poll_records(max_poll),
    )
}

/// The offsets of `tp` asked in each Fetch, in order.
fn fetch_offsets(cluster: &TestCluster) -> Vec<i64> {
    cluster
        .requests_of(ApiKey::Fetch)
        .iter()
        .flat_map(|r| r.partitions.iter().map(|(_, o)| *o))
        .collect()
}

#[test]
fn the_next_fetch_leaves_before_the_buffered_data_is_drained() {
    let mut cluster = one_partition(10, 5);
    let p = tp("t", 0);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_poll_records(2),
    );
    consumer.assign([p.clone()]).unwrap();
    // The first fetch answers all ten records; two are handed out per poll.
    cluster.drive(&mut consumer, |_, c| !c.received.is_empty(), 100);
    cluster.drive(&mut consumer, |_, c| c.count(ApiKey::Fetch) >= 2, 10);
    assert!(
        cluster.received.len() < 10,
        "the second fetch should leave while records are still buffered (got {})",
        cluster.received.len()
    );
    assert_eq!(fetch_offsets(&cluster), vec![0, 10]);
    // Positions never run ahead of what was handed out.
    let handed = cluster.received.len() as i64;
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, handed);

    // New records arrive through the prefetch, after the buffered ones, once each.
    cluster.fill(&p, 6, 3);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 16, 200);
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert_eq!(cluster.offsets_of(&p), (0..16).collect::<Vec<_>>());
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 16);
    assert!(cluster.poll_sizes.iter().all(|&n| n <= 2));
}

#[test]
fn at_most_one_prefetch_per_partition() {
    let mut cluster = one_partition(40, 10);
    let p = tp("t", 0);
    let mut consumer = one_batch_per_fetch(&cluster, 1);
    cluster.drain = false;
    consumer.assign([p.clone()]).unwrap();
    cluster.run_for(&mut consumer, Duration::from_secs(3));
    // Nothing drained: one buffered answer plus one prefetched, then no more fetches.
    assert_eq!(fetch_offsets(&cluster), vec![0, 10]);
    assert_eq!(consumer.position(&p).unwrap().unwrap().offset, 0);

    cluster.drain = true;
    cluster.drive(&mut consumer, |_, c| c.received.len() == 40, 400);
    assert_eq!(cluster.offsets_of(&p), (0..40).collect::<Vec<_>>());
    let offsets = fetch_offsets(&cluster);
    assert_eq!(&offsets[..4], &[0, 10, 20, 30], "{offsets:?}");
}

#[test]
fn no_prefetch_once_fetch_max_bytes_is_buffered() {
    let mut cluster = one_partition(10, 5);
    let p = tp("t", 0);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .fetch_max_bytes(1)
            .max_poll_records(1),
    );
    cluster.drain = false;
    consumer.assign([p.clone()]).unwrap();
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert_eq!(
        fetch_offsets(&cluster),
        vec![0],
        "no fetch beyond the buffer limit"
    );

    cluster.drain = true;
    cluster.drive(&mut consumer, |_, c| c.received.len() == 10, 100);
    assert_eq!(cluster.offsets_of(&p), (0..10).collect::<Vec<_>>());
}

#[test]
fn a_seek_drops_the_prefetched_answer() {
    let mut cluster = one_partition(10, 5);
    let p = tp("t", 0);
    let mut consumer = one_batch_per_fetch(&cluster, 2);
    consumer.assign([p.clone()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
    // The answer of the prefetch (offsets 5-9) is held back; seek back to 1 meanwhile.
    cluster.hold_next(ApiKey::Fetch);
    cluster.drain = false;
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 20);
    assert_eq!(fetch_offsets(&cluster), vec![0, 5]);
    consumer.seek(&p, 1).unwrap();
    cluster.release_held();
    cluster.drain = true;
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2 + 9, 200);
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    let mut want: Vec<i64> = vec![0, 1];
    want.extend(1..10);
    assert_eq!(cluster.offsets_of(&p), want);
}

#[test]
fn pausing_keeps_buffered_and_prefetched_data_in_order() {
    let mut cluster = one_partition(20, 5);
    let p = tp("t", 0);
    let mut consumer = one_batch_per_fetch(&cluster, 2);
    consumer.assign([p.clone()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
    cluster.drain = false;
    cluster.drive(&mut consumer, |_, c| c.count(ApiKey::Fetch) >= 2, 20);
    consumer.pause(std::slice::from_ref(&p)).unwrap();
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    cluster.drain = true;
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    assert_eq!(cluster.received.len(), 2, "nothing handed out while paused");
    consumer.resume(std::slice::from_ref(&p)).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 20, 200);
    assert_eq!(cluster.offsets_of(&p), (0..20).collect::<Vec<_>>());
}

#[test]
fn a_caught_up_partition_does_not_hold_up_a_busy_one_on_the_same_broker() {
    // p0 has forty records, one batch per fetch; p1 is empty (caught up at once).
    let mut cluster = TestCluster::builder().brokers(1).topic("t", 2).build();
    let (p0, p1) = (tp("t", 0), tp("t", 1));
    cluster.fill(&p0, 40, 5);
    let mut consumer = one_batch_per_fetch(&cluster, 1);
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 40, 1_000);
    // Each long poll of p1 alone would cost fetch.max.wait.ms (500 ms); none happened.
    assert!(
        cluster.elapsed() < Duration::from_millis(500),
        "took {:?} of simulated time",
        cluster.elapsed()
    );
    assert_eq!(cluster.offsets_of(&p0), (0..40).collect::<Vec<_>>());
    // p1 is still fetched once p0 is caught up too.
    cluster.fill(&p1, 3, 3);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 43, 100);
    assert_eq!(cluster.offsets_of(&p1), vec![0, 1, 2]);
}

#[test]
fn a_partly_drained_answer_still_counts_whole_against_fetch_max_bytes() {
    // p0 holds batches of 50 records (each fills max.partition.fetch.bytes: one per
    // fetch), p1 one batch of 2; fetch.max.bytes is two of p0's batches.
    let mut cluster = TestCluster::builder().brokers(1).topic("t", 2).build();
    let (p0, p1) = (tp("t", 0), tp("t", 1));
    cluster.fill(&p0, 150, 50);
    cluster.fill(&p1, 2, 2);
    let big = cluster.partition_state(&p0).log[0].bytes.len();
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .fetch_max_bytes(2 * big as i32)
            .max_partition_fetch_bytes(big as i32)
            .max_poll_records(15),
    );
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    // Answer 1 carries p0 0-49 and p1 0-1; p1 is paused once it is in, so its records
    // stay buffered (and keep answer 1 in memory) while p0 is read.
    cluster.drive(&mut consumer, |_, c| !c.received.is_empty(), 100);
    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    let asked = |c: &TestCluster, offset| {
        c.requests_of(ApiKey::Fetch)
            .iter()
            .any(|r| r.partitions.contains(&(p0.clone(), offset)))
    };
    cluster.drive(&mut consumer, |_, c| asked(c, 100), 200);
    let asked_at = cluster.requests_of(ApiKey::Fetch).last().map(|r| r.at);
    assert!(asked_at < Some(Duration::from_millis(1)), "{asked_at:?}");
    // Once p0's part of answer 1 was handed out, what was left buffered (p1's few bytes,
    // and answer 2 with p0 50-99) was less than fetch.max.bytes; but with answer 1 held
    // whole it was more, so p0 was not prefetched from 100 while answer 2 was drained:
    // only once nothing of p0 was buffered.
    assert!(
        cluster.offsets_of(&p0).len() >= 100,
        "p0 prefetched from 100 after {} records",
        cluster.offsets_of(&p0).len()
    );

    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 152, 200);
    assert_eq!(cluster.offsets_of(&p0), (0..150).collect::<Vec<_>>());
    assert_eq!(cluster.offsets_of(&p1), vec![0, 1]);
}
