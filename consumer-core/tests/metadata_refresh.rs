//! Metadata ages out: when the clock passes `metadata.max.age.ms` the consumer asks again,
//! and learns of changes no error told it about. A failed refresh is retried after
//! `retry.backoff.ms`, doubling up to `retry.backoff.max.ms`.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Action, TestCluster};
use consumer_core::AutoOffsetReset;

const MS: Duration = Duration::from_millis(1);

/// One paused partition: the topic is of interest, but no fetch traffic interferes.
fn quiet_consumer(brokers: usize) -> (TestCluster, consumer_core::Consumer) {
    let mut cluster = TestCluster::builder()
        .brokers(brokers)
        .topic("t", 1)
        .build();
    let p = tp("t", 0);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .metadata_max_age(Duration::from_secs(10)),
    );
    consumer.assign([p.clone()]).unwrap();
    consumer.pause(std::slice::from_ref(&p)).unwrap();
    cluster.drive(&mut consumer, |c, _| c.metadata().update_count() == 1, 100);
    (cluster, consumer)
}

fn metadata_times(cluster: &TestCluster) -> Vec<Duration> {
    cluster
        .requests_of(ApiKey::Metadata)
        .iter()
        .map(|r| r.at)
        .collect()
}

#[test]
fn max_age_triggers_a_refresh_when_the_clock_passes_it() {
    let (mut cluster, mut consumer) = quiet_consumer(2);
    let p = tp("t", 0);
    cluster.run_for(&mut consumer, Duration::from_secs(5));
    assert_eq!(metadata_times(&cluster), vec![Duration::ZERO]);

    // Leadership changes silently: nothing the paused consumer does would reveal it.
    cluster.move_leader(&p, 2);
    cluster.run_for(&mut consumer, Duration::from_secs(4));
    assert_eq!(consumer.metadata().leader(&p).unwrap().leader, Some(1));

    cluster.run_for(&mut consumer, Duration::from_secs(26));
    assert_eq!(
        metadata_times(&cluster),
        vec![
            Duration::ZERO,
            Duration::from_secs(10),
            Duration::from_secs(20),
            Duration::from_secs(30)
        ]
    );
    assert_eq!(consumer.metadata().update_count(), 4);
    let leader = consumer.metadata().leader(&p).unwrap();
    assert_eq!((leader.leader, leader.leader_epoch), (Some(2), Some(1)));
}

#[test]
fn a_failed_refresh_backs_off_exponentially() {
    let (mut cluster, mut consumer) = quiet_consumer(1);
    // The refresh at 10 s and the next two retries lose their connection.
    for _ in 0..3 {
        cluster.on_next(ApiKey::Metadata, Action::Cut);
    }
    cluster.run_for(&mut consumer, Duration::from_secs(12));

    assert_eq!(
        metadata_times(&cluster),
        vec![
            Duration::ZERO,
            Duration::from_secs(10),
            Duration::from_secs(10) + 100 * MS,
            Duration::from_secs(10) + 300 * MS,
            Duration::from_secs(10) + 700 * MS,
        ]
    );
    assert_eq!(consumer.metadata().update_count(), 2);
    // Success resets the schedule: the next refresh is a full max age later.
    cluster.run_for(&mut consumer, Duration::from_secs(9));
    assert_eq!(
        metadata_times(&cluster).last(),
        Some(&(Duration::from_secs(20) + 700 * MS))
    );
}

#[test]
fn an_unreachable_cluster_is_not_hammered() {
    let (mut cluster, mut consumer) = quiet_consumer(1);
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    cluster.set_down(&mut consumer, 1, true);
    let failures_before = cluster.disconnects.len();

    // The refresh due at 10 s cannot reach anyone until 20 s: one connection attempt at
    // a time, paced by the reconnect backoff (50 ms doubling to 1 s), about 13 in all.
    cluster.run_for(&mut consumer, Duration::from_secs(19));
    let attempts = cluster.disconnects.len() - failures_before;
    assert!(
        (8..=16).contains(&attempts),
        "{attempts} connection attempts in 19 s"
    );
    assert_eq!(consumer.metadata().update_count(), 1);

    cluster.set_down(&mut consumer, 1, false);
    cluster.drive(&mut consumer, |c, _| c.metadata().update_count() == 2, 100);
    assert!(cluster.elapsed() <= Duration::from_secs(21));
}
