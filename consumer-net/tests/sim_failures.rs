//! Failures a service must hear of, and waits it must be able to bound, tested through
//! the public API over the simulated cluster (simulated time: the bounds are exact).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use consumer_net::testing::{tp, Action, ApiKey, SharedCluster, SimTransport, TestCluster};
use consumer_net::{
    AutoOffsetReset, CloseFailure, CloseStep, ConsumerError, KafkaConsumer, KafkaError,
    OffsetAndMetadata, RebalanceListener, StateError, TopicPartition,
};

const SECOND: Duration = Duration::from_secs(1);

/// Three brokers, topic "orders" (one partition) holding `records` records.
fn orders(records: usize) -> SharedCluster {
    let cluster = TestCluster::builder().topic("orders", 1).build().shared();
    if records > 0 {
        cluster.borrow_mut().fill(&tp("orders", 0), records, 5);
    }
    cluster
}

/// A consumer; in group "billing" (auto-commit as given) when `group`.
fn consumer(
    cluster: &SharedCluster,
    group: bool,
    auto_commit: bool,
) -> KafkaConsumer<SimTransport> {
    let mut config = cluster
        .borrow()
        .config()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .enable_auto_commit(auto_commit)
        .max_poll_records(5);
    if group {
        config = config.group_id("billing");
    }
    let config = config.build().expect("config");
    KafkaConsumer::with_transport(config, SimTransport::new(cluster)).expect("consumer")
}

/// Polls until some records come (bounded).
fn poll_some(c: &mut KafkaConsumer<SimTransport>) -> usize {
    for _ in 0..200 {
        let n = c.poll(Duration::from_millis(100)).expect("poll").len();
        if n > 0 {
            return n;
        }
    }
    panic!("no records came");
}

fn elapsed(cluster: &SharedCluster) -> Duration {
    cluster.borrow().elapsed()
}

fn all_brokers_down(cluster: &SharedCluster) {
    for b in 1..=3 {
        cluster.borrow_mut().set_broker_down(b, true);
    }
}

#[test]
fn poll_with_nothing_subscribed_or_assigned_is_a_state_error() {
    let cluster = orders(0);
    let mut c = consumer(&cluster, false, false);
    let err = c.poll(SECOND).unwrap_err();
    assert!(
        matches!(err, KafkaError::State(StateError::NotSubscribed)),
        "{err:?}"
    );
    // It did not wait out its timeout.
    assert!(elapsed(&cluster) < SECOND);
    // An empty assignment is nothing assigned.
    c.assign(Vec::<TopicPartition>::new()).expect("assign");
    assert!(matches!(
        c.poll(SECOND),
        Err(KafkaError::State(StateError::NotSubscribed))
    ));
    c.assign([tp("orders", 0)]).expect("assign");
    assert!(c.poll(Duration::from_millis(100)).is_ok());
}

#[test]
fn a_pending_wake_fails_the_next_call_once_even_with_records_buffered() {
    let cluster = orders(20);
    let mut c = consumer(&cluster, false, false);
    c.assign([tp("orders", 0)]).expect("assign");
    assert_eq!(poll_some(&mut c), 5);
    // More records are buffered; a wake that came while the caller was busy still wins.
    c.wakeup_handle().wake();
    let woken = c.poll(Duration::from_secs(60));
    assert!(matches!(woken, Err(KafkaError::Wakeup)), "{woken:?}");
    // Reported once: the buffered records come next, from where the last poll stopped.
    let next = c
        .poll(Duration::from_secs(60))
        .expect("poll after the wake");
    assert_eq!(next.first().map(|r| r.offset), Some(5));
    // A wake ends other blocking calls too, once.
    c.wakeup_handle().wake();
    let err = c.position_with_timeout(&tp("orders", 0), SECOND);
    assert!(matches!(err, Err(KafkaError::Wakeup)), "{err:?}");
    assert_eq!(c.position(&tp("orders", 0)).expect("position"), 10);
}

#[test]
fn close_is_not_interrupted_by_a_wake_and_leaves_the_group() {
    let cluster = orders(20);
    let mut c = consumer(&cluster, true, true);
    c.subscribe(["orders"]).expect("subscribe");
    poll_some(&mut c);
    assert_eq!(
        cluster
            .borrow()
            .groups
            .group("billing")
            .map(|g| g.member_ids().len()),
        Some(1)
    );
    c.wakeup_handle().wake();
    c.close_with_timeout(Duration::from_secs(10))
        .expect("a clean close despite the wake");
    let group = cluster.borrow();
    let members = group.groups.group("billing").map(|g| g.member_ids().len());
    assert_eq!(members, Some(0), "the member left the group");
    // The final auto-commit covered what was handed out.
    assert_eq!(group.groups.committed("billing", &tp("orders", 0)), Some(5));
}

#[test]
fn close_with_every_broker_down_is_bounded_and_says_what_failed() {
    let cluster = orders(20);
    let mut c = consumer(&cluster, true, true);
    c.subscribe(["orders"]).expect("subscribe");
    poll_some(&mut c);
    all_brokers_down(&cluster);
    let before = elapsed(&cluster);
    let err = c.close_with_timeout(Duration::from_secs(3)).unwrap_err();
    let took = elapsed(&cluster) - before;
    assert!(took <= Duration::from_secs(3), "close took {took:?}");
    let KafkaError::Close(close) = &err else {
        panic!("expected a close error, got {err:?}");
    };
    assert!(
        close.failures.iter().any(|f| matches!(
            f,
            CloseFailure::TimedOut(CloseStep::Commit) | CloseFailure::Commit(_)
        )),
        "{err}"
    );
    // Closed all the same.
    assert!(matches!(
        c.poll(SECOND),
        Err(KafkaError::State(StateError::Closed))
    ));
}

/// Commits the revoked partitions with the default (60 s) commit timeout.
struct CommitOnRevoke;

impl RebalanceListener<SimTransport> for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut KafkaConsumer<SimTransport>,
        partitions: &[TopicPartition],
    ) {
        let offsets: Vec<_> = partitions
            .iter()
            .map(|tp| (tp.clone(), OffsetAndMetadata::new(3)))
            .collect();
        let _ = consumer.commit_offsets_sync(offsets);
    }
}

#[test]
fn a_listener_commit_during_close_is_bounded_by_the_close_timeout() {
    let cluster = orders(20);
    let mut c = consumer(&cluster, true, false);
    c.subscribe_with_listener(["orders"], Box::new(CommitOnRevoke))
        .expect("subscribe");
    poll_some(&mut c);
    all_brokers_down(&cluster);
    let before = elapsed(&cluster);
    let result = c.close_with_timeout(Duration::from_secs(2));
    let took = elapsed(&cluster) - before;
    assert!(took <= Duration::from_secs(2), "close took {took:?}");
    assert!(result.is_err(), "the listener's commit could not finish");
}

#[test]
fn a_commit_that_times_out_says_what_was_in_its_way() {
    let cluster = orders(20);
    cluster.borrow_mut().always(
        None,
        ApiKey::FindCoordinator,
        Action::Error(15), // COORDINATOR_NOT_AVAILABLE
    );
    let mut c = consumer(&cluster, true, false);
    c.assign([tp("orders", 0)]).expect("assign");
    let offsets = [(tp("orders", 0), OffsetAndMetadata::new(1))];
    let before = elapsed(&cluster);
    let err = c
        .commit_offsets_sync_with_timeout(offsets, Duration::from_secs(2))
        .unwrap_err();
    assert!(elapsed(&cluster) - before <= Duration::from_secs(2));
    let KafkaError::Timeout {
        operation, cause, ..
    } = &err
    else {
        panic!("expected a timeout, got {err:?}");
    };
    assert_eq!(*operation, "commit");
    let cause = cause.as_deref().unwrap_or_default();
    assert!(cause.contains("coordinator of group billing"), "{err}");
    assert!(cause.contains("COORDINATOR_NOT_AVAILABLE"), "{err}");
}

#[test]
fn an_unauthorized_topic_is_reported_by_poll() {
    let cluster = orders(20);
    cluster
        .borrow_mut()
        .always(None, ApiKey::Metadata, Action::Error(29)); // TOPIC_AUTHORIZATION_FAILED
    let mut c = consumer(&cluster, false, false);
    c.assign([tp("orders", 0)]).expect("assign");
    let mut seen = None;
    for _ in 0..50 {
        match c.poll(Duration::from_millis(200)) {
            Ok(r) => assert!(r.is_empty()),
            Err(e) => {
                seen = Some(e);
                break;
            }
        }
    }
    match seen {
        Some(KafkaError::Consumer(ConsumerError::TopicAuthorization { topic })) => {
            assert_eq!(topic, "orders")
        }
        other => panic!("expected a topic authorization error, got {other:?}"),
    }
}

#[test]
fn no_broker_answering_is_reported_naming_each_address() {
    let cluster = orders(20);
    all_brokers_down(&cluster);
    let mut c = consumer(&cluster, false, false);
    c.assign([tp("orders", 0)]).expect("assign");
    let mut seen = None;
    while elapsed(&cluster) < Duration::from_secs(30) {
        if let Err(e) = c.poll(SECOND) {
            seen = Some(e);
            break;
        }
    }
    let Some(
        err @ KafkaError::BrokersUnreachable {
            ever_connected,
            waited,
            causes,
        },
    ) = &seen
    else {
        panic!("expected BrokersUnreachable, got {seen:?}");
    };
    assert!(!ever_connected);
    // socket.connection.setup.timeout.ms (10 s by default) after the first failure.
    assert!(*waited >= Duration::from_secs(10), "{err}");
    assert!(elapsed(&cluster) < Duration::from_secs(12), "{err}");
    assert!(!causes.is_empty());
    assert!(err.to_string().contains("refused"), "{err}");
    assert!(err.is_retriable());
    // The consumer keeps trying: once a broker is back, records come.
    for b in 1..=3 {
        cluster.borrow_mut().set_broker_down(b, false);
    }
    let mut got = 0;
    for _ in 0..100 {
        match c.poll(Duration::from_millis(200)) {
            Ok(r) => got += r.len(),
            Err(KafkaError::BrokersUnreachable { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        if got > 0 {
            break;
        }
    }
    assert!(got > 0, "no records after the brokers came back");
}

/// Looks up the committed offsets of its new partitions; a wake comes just then.
struct WokenInListener(Arc<AtomicBool>);

impl RebalanceListener<SimTransport> for WokenInListener {
    fn on_partitions_assigned(
        &mut self,
        consumer: &mut KafkaConsumer<SimTransport>,
        partitions: &[TopicPartition],
    ) {
        consumer.wakeup_handle().wake();
        let result = consumer.committed(partitions, SECOND);
        self.0
            .store(matches!(result, Err(KafkaError::Wakeup)), Ordering::SeqCst);
    }
}

#[test]
fn a_wake_that_ends_a_call_of_the_listener_ends_the_poll_that_ran_it() {
    let cluster = orders(20);
    let mut c = consumer(&cluster, true, false);
    let woken_inside = Arc::new(AtomicBool::new(false));
    c.subscribe_with_listener(
        ["orders"],
        Box::new(WokenInListener(Arc::clone(&woken_inside))),
    )
    .expect("subscribe");
    let mut results = Vec::new();
    for _ in 0..100 {
        let r = c.poll(Duration::from_millis(100));
        let woken = matches!(r, Err(KafkaError::Wakeup));
        results.push(r.map(|r| r.len()));
        if woken {
            break;
        }
    }
    assert!(
        woken_inside.load(Ordering::SeqCst),
        "the listener's call saw the wake"
    );
    assert!(
        matches!(results.last(), Some(Err(KafkaError::Wakeup))),
        "no poll reported the wake: {results:?}"
    );
    // Reported once: the next poll runs normally.
    assert!(c.poll(Duration::from_millis(100)).is_ok());
}
