//! Two behaviours found wanting while writing the service example and the loud-failure
//! tests, now fixed: a wake that ends a call the rebalance listener makes also ends the
//! `poll` that ran the listener (as Java's `WakeupException` out of the callback), and
//! the error of a close with every broker down does not advise polling.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consumer_net::{KafkaConsumer, KafkaError, RebalanceListener, TopicPartition};
use integration_tests::{
    init_logging, library_consumer, mock_cluster, poll_count, produce_kcat, sample_records,
    Compression,
};

/// A wake (Ctrl-C) that lands while the rebalance listener runs, and ends a call the
/// listener makes, is reported by the `poll` that ran the listener too: the listener
/// cannot pass an error on (its methods return `()`), and a service's loop must still
/// stop. (In Java, the `WakeupException` thrown in the callback propagates out of
/// `poll`.)
#[test]
fn a_wake_that_ends_a_call_of_the_listener_still_ends_the_poll() {
    init_logging();
    let cluster = mock_cluster(1);
    let topic = "gap-wake-in-listener";
    cluster.create_topic(topic, 1, 1).expect("create topic");
    let records = sample_records(20, 1, "w");
    produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None).expect("produce");

    /// Looks up the committed offsets of its new partitions, as listeners do; a Ctrl-C
    /// comes just then.
    struct Listener(Arc<Mutex<Option<String>>>);
    impl RebalanceListener for Listener {
        fn on_partitions_assigned(&mut self, c: &mut KafkaConsumer, p: &[TopicPartition]) {
            c.wakeup_handle().wake();
            let result = c.committed(p, Duration::from_secs(5));
            *self.0.lock().unwrap() = Some(format!("{result:?}"));
        }
    }
    let seen = Arc::new(Mutex::new(None));
    let mut consumer = library_consumer(
        &cluster.bootstrap(),
        &[
            ("group.id", "gap-wake"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "3000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    );
    consumer
        .subscribe_with_listener([topic], Box::new(Listener(Arc::clone(&seen))))
        .expect("subscribe");
    let started = Instant::now();
    let mut polls = Vec::new();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no assignment in 20 s"
        );
        let result = consumer.poll(Duration::from_millis(200));
        if seen.lock().unwrap().is_none() {
            continue;
        }
        let woken = matches!(result, Err(KafkaError::Wakeup));
        polls.push(result.map(|r| r.len()));
        if woken {
            return;
        }
        if polls.len() >= 5 {
            break;
        }
    }
    panic!(
        "the listener's call returned {}, and no poll returned Wakeup after it: {polls:?}",
        seen.lock().unwrap().as_deref().unwrap_or("?")
    );
}

/// With every broker down, `close_with_timeout` reports the final commit as not sent
/// (no coordinator could be reached before the close deadline), not as `CommitFailed`,
/// whose advice ("keep polling: this member rejoins the group") is for a live member.
#[test]
fn the_close_error_does_not_advise_polling_a_closed_consumer() {
    init_logging();
    let cluster = mock_cluster(1);
    let topic = "gap-close-advice";
    cluster.create_topic(topic, 1, 1).expect("create topic");
    let records = sample_records(10, 1, "c");
    produce_kcat(&cluster.bootstrap(), topic, &records, Compression::None).expect("produce");
    let mut consumer = library_consumer(
        &cluster.bootstrap(),
        &[
            ("group.id", "gap-close"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "3000"),
            ("heartbeat.interval.ms", "1000"),
        ],
    );
    consumer.subscribe([topic]).expect("subscribe");
    poll_count(&mut consumer, records.len(), "the records");
    drop(cluster);
    let result = consumer.close_with_timeout(Duration::from_secs(1));
    let Err(error) = result else {
        panic!("close with every broker down succeeded");
    };
    let text = error.to_string();
    assert!(
        !text.contains("keep polling") && !text.contains("rejoins"),
        "the close error advises polling a closed consumer: {text}"
    );
}
