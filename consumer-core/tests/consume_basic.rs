//! Consuming three partitions from the beginning: every record exactly once, in order per
//! partition, at most `max.poll.records` per poll, positions just past what was returned.

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, value_for, Profile, TestCluster};
use consumer_core::{AutoOffsetReset, FetchPosition};

/// Three partitions led by brokers 1, 2 and 3, filled with batches of different sizes.
fn orders_cluster(profile: Profile) -> TestCluster {
    let mut cluster = TestCluster::builder()
        .brokers(3)
        .profile(profile)
        .topic("orders", 3)
        .build();
    cluster.fill(&tp("orders", 0), 10, 4); // batches 0-3, 4-7, 8-9
    cluster.fill(&tp("orders", 1), 7, 3); // batches 0-2, 3-5, 6
    cluster.fill(&tp("orders", 2), 5, 5); // one batch 0-4
    cluster
}

fn consume_everything(profile: Profile) -> TestCluster {
    let mut cluster = orders_cluster(profile);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_poll_records(4),
    );
    let parts = [tp("orders", 0), tp("orders", 1), tp("orders", 2)];
    consumer.assign(parts.clone()).unwrap();

    cluster.drive(&mut consumer, |_, c| c.received.len() >= 22, 200);
    // Give it time to misbehave: nothing more may arrive.
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(5));

    for (p, n) in [(0, 10), (1, 7), (2, 5)] {
        let part = tp("orders", p);
        let got = cluster.received_of(&part);
        let want: Vec<(i64, String, String)> = (0..n)
            .map(|o| (o, format!("k{o}"), value_for(&part, o)))
            .collect();
        assert_eq!(got, want, "records of {part}");
        assert_eq!(
            consumer.position(&part).unwrap(),
            Some(FetchPosition {
                offset: n,
                leader_epoch: consumer.position(&part).unwrap().unwrap().leader_epoch
            })
        );
        assert_eq!(consumer.position(&part).unwrap().unwrap().offset, n);
    }
    assert_eq!(cluster.received.len(), 22, "no duplicates");
    assert!(
        cluster.poll_sizes.iter().all(|&n| n <= 4),
        "{:?}",
        cluster.poll_sizes
    );
    assert!(cluster.poll_sizes.contains(&4), "{:?}", cluster.poll_sizes);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    // Every reset went to the log start.
    let resets = cluster.requests_of(ApiKey::ListOffsets);
    assert!(resets
        .iter()
        .flat_map(|r| r.partitions.iter())
        .all(|(_, ts)| *ts == -2));
    cluster
}

#[test]
fn modern_brokers_every_record_once_in_order() {
    let cluster = consume_everything(Profile::modern());
    let v = |api| cluster.requests_of(api).last().unwrap().version;
    assert_eq!(v(ApiKey::Fetch), ApiKey::Fetch.versions().max);
    assert_eq!(v(ApiKey::Metadata), ApiKey::Metadata.versions().max);
    assert_eq!(v(ApiKey::ListOffsets), ApiKey::ListOffsets.versions().max);
    assert_eq!(v(ApiKey::ApiVersions), ApiKey::ApiVersions.versions().max);
}

#[test]
fn mock_cluster_brokers_every_record_once_in_order() {
    let cluster = consume_everything(Profile::mock_cluster());
    let v = |api| cluster.requests_of(api).last().unwrap().version;
    assert_eq!(v(ApiKey::Fetch), 11);
    assert_eq!(v(ApiKey::Metadata), 2);
    assert_eq!(v(ApiKey::ListOffsets), 5);
    assert_eq!(v(ApiKey::ApiVersions), 2);
}

#[test]
fn seek_into_the_middle_of_a_batch_skips_the_records_before_it() {
    let mut cluster = orders_cluster(Profile::modern());
    let mut consumer = cluster.consumer(cluster.config().auto_offset_reset(AutoOffsetReset::None));
    let p0 = tp("orders", 0);
    consumer.assign([p0.clone()]).unwrap();
    // Offset 5 is inside the batch 4-7: the broker sends the whole batch.
    consumer.seek(&p0, 5).unwrap();

    cluster.drive(&mut consumer, |_, c| c.received.len() >= 5, 100);
    cluster.run_for(&mut consumer, std::time::Duration::from_secs(2));

    assert_eq!(cluster.offsets_of(&p0), vec![5, 6, 7, 8, 9]);
    assert_eq!(
        cluster.requests_of(ApiKey::Fetch)[0].partitions,
        vec![(p0.clone(), 5)]
    );
    assert_eq!(
        cluster.count(ApiKey::ListOffsets),
        0,
        "a seek needs no lookup"
    );
    assert_eq!(consumer.position(&p0).unwrap().unwrap().offset, 10);
}

#[test]
fn positions_advance_only_past_records_returned() {
    let mut cluster = orders_cluster(Profile::mock_cluster());
    cluster.drain = false;
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .max_poll_records(3),
    );
    let p2 = tp("orders", 2);
    consumer.assign([p2.clone()]).unwrap();
    cluster.drive(&mut consumer, |c, _| c.has_buffered_records(), 100);

    // The whole batch 0-4 is buffered, but nothing is consumed until polled.
    assert_eq!(consumer.position(&p2).unwrap().unwrap().offset, 0);

    let first = consumer.poll_records(2).unwrap();
    assert_eq!(
        first.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert_eq!(consumer.position(&p2).unwrap().unwrap().offset, 2);

    let second = consumer.poll_records(10).unwrap();
    assert_eq!(
        second.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    assert_eq!(consumer.position(&p2).unwrap().unwrap().offset, 5);
    assert!(consumer.poll_records(10).unwrap().is_empty());
    assert_eq!(consumer.position(&p2).unwrap().unwrap().offset, 5);
}

#[test]
fn records_appended_while_polling_arrive_through_the_long_poll() {
    let mut cluster = TestCluster::builder().brokers(1).topic("live", 1).build();
    let p = tp("live", 0);
    let mut consumer =
        cluster.consumer(cluster.config().auto_offset_reset(AutoOffsetReset::Latest));
    consumer.assign([p.clone()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.count(ApiKey::Fetch) >= 1, 100);
    assert_eq!(
        cluster.requests_of(ApiKey::Fetch)[0].partitions,
        vec![(p.clone(), 0)]
    );

    cluster.append(&p, &[("a", "1"), ("b", "2")]);
    let before = cluster.elapsed();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 50);
    // The parked fetch ended as soon as data arrived, well before fetch.max.wait.ms.
    assert!(cluster.elapsed() - before < std::time::Duration::from_millis(500));
    assert_eq!(
        cluster.received_of(&p),
        vec![(0, "a".into(), "1".into()), (1, "b".into(), "2".into())]
    );
}
