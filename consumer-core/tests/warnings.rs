//! Lasting problems with the caller's topics are logged at WARN once per interval, not
//! once per retry, and not silently: a topic that does not exist, a partition its topic
//! does not have. (A capturing logger: this file is its own test binary.)

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::diagnostics::WARN_INTERVAL;
use consumer_core::testing::{tp, Action, LogCapture, TestCluster};
use consumer_core::AutoOffsetReset;

/// WARN lines containing `needle` logged by this test so far.
fn warnings(needle: &str) -> usize {
    LogCapture::get().warnings(&[needle]).len()
}

/// The tests share the logger: one at a time, each starting with an empty log.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    LogCapture::serial()
}

#[test]
fn an_assigned_topic_that_does_not_exist_is_warned_about_once_per_interval() {
    let _serial = serial();
    let mut cluster = TestCluster::builder().topic("t", 1).build();
    cluster.always(None, ApiKey::Metadata, Action::Error(3)); // UNKNOWN_TOPIC_OR_PARTITION
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .metadata_max_age(Duration::from_secs(1)),
    );
    consumer.assign([tp("missing-topic", 0)]).unwrap();
    // Metadata is asked again and again (every retry says the same).
    cluster.run_for(&mut consumer, WARN_INTERVAL - Duration::from_secs(1));
    let asked = cluster.requests_of(ApiKey::Metadata).len();
    assert!(asked > 5, "{asked} metadata requests");
    assert_eq!(warnings("topic `missing-topic` does not exist"), 1);
    // The next interval: one more.
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert_eq!(warnings("topic `missing-topic` does not exist"), 2);
    // Nothing fetched, nothing reported by poll: the topic may be about to be created.
    assert!(consumer.poll_records(10).unwrap().is_empty());
}

#[test]
fn an_assigned_partition_the_topic_does_not_have_is_warned_about() {
    let _serial = serial();
    let mut cluster = TestCluster::builder().topic("small", 2).build();
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .metadata_max_age(Duration::from_secs(1)),
    );
    consumer.assign([tp("small", 0), tp("small", 7)]).unwrap();
    cluster.run_for(&mut consumer, Duration::from_secs(5));
    assert_eq!(
        warnings("partition small-7 does not exist (topic `small` has 2 partitions)"),
        1
    );
    assert_eq!(warnings("small-0"), 0);
}
