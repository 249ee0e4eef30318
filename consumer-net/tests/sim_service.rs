//! A service's consume loop tested the way a user would test theirs: a `KafkaConsumer`
//! over the simulated cluster of `consumer_net::testing`, on simulated time (no sockets,
//! no sleeping), with only public API.

use std::time::Duration;

use consumer_net::testing::{tp, ApiKey, ErrorCode, SharedCluster, SimTransport, TestCluster};
use consumer_net::{AutoOffsetReset, KafkaConsumer, KafkaError, Transport};

/// Why the service stopped.
#[derive(Debug)]
enum ServiceError {
    Kafka(KafkaError),
    /// Processing the record at this offset failed.
    Processing(i64),
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServiceError::Kafka(e) => write!(f, "kafka: {e}"),
            ServiceError::Processing(offset) => write!(f, "processing offset {offset} failed"),
        }
    }
}

impl From<KafkaError> for ServiceError {
    fn from(e: KafkaError) -> Self {
        ServiceError::Kafka(e)
    }
}

/// The service under test: processes each record of a batch, then commits the batch.
#[derive(Debug, Default)]
struct Billing {
    /// Offsets processed, in order.
    processed: Vec<i64>,
    /// Processing this offset fails (a bad record, a database down).
    fails_at: Option<i64>,
}

impl Billing {
    fn failing_at(offset: i64) -> Self {
        Self {
            fails_at: Some(offset),
            ..Self::default()
        }
    }

    /// One turn of the service's loop. Generic over the transport: the service runs on
    /// `KafkaConsumer` (sockets) in production and on the simulated cluster here.
    fn run_once<T: Transport>(
        &mut self,
        consumer: &mut KafkaConsumer<T>,
    ) -> Result<(), ServiceError> {
        let records = consumer.poll(Duration::from_millis(100))?;
        for record in &records {
            if self.fails_at == Some(record.offset) {
                return Err(ServiceError::Processing(record.offset));
            }
            self.processed.push(record.offset);
        }
        if !records.is_empty() {
            consumer.commit_sync()?;
        }
        Ok(())
    }
}

/// A cluster of 3 brokers with topic "orders" (one partition) holding `records` records.
fn orders(records: usize) -> SharedCluster {
    let cluster = TestCluster::builder().topic("orders", 1).build().shared();
    if records > 0 {
        cluster.borrow_mut().fill(&tp("orders", 0), records, 5);
    }
    cluster
}

/// A member of group "billing" subscribed to "orders", polling at most 5 records, with
/// manual commits.
fn billing_consumer(cluster: &SharedCluster, name: &str) -> KafkaConsumer<SimTransport> {
    let config = cluster.borrow().config();
    let config = config
        .client_id(name.to_owned())
        .group_id("billing")
        .enable_auto_commit(false)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .max_poll_records(5)
        .build()
        .expect("config");
    let transport = SimTransport::new(cluster);
    let mut consumer = KafkaConsumer::with_transport(config, transport).expect("consumer");
    consumer.subscribe(["orders"]).expect("subscribe");
    consumer
}

/// The offset group "billing" committed for the partition.
fn committed(cluster: &SharedCluster) -> Option<i64> {
    cluster
        .borrow()
        .groups
        .committed("billing", &tp("orders", 0))
}

#[test]
fn commits_only_what_was_processed() {
    let cluster = orders(20);
    let mut consumer = billing_consumer(&cluster, "billing");
    let mut service = Billing::failing_at(12);
    let mut outcome = Ok(());
    for _ in 0..100 {
        outcome = service.run_once(&mut consumer);
        // Never ahead of the processing, at any turn.
        let next_unprocessed = service.processed.last().map_or(0, |o| o + 1);
        assert!(committed(&cluster).unwrap_or(0) <= next_unprocessed);
        if outcome.is_err() {
            break;
        }
    }
    assert!(
        matches!(outcome, Err(ServiceError::Processing(12))),
        "{outcome:?}"
    );
    assert_eq!(service.processed, (0..12).collect::<Vec<_>>());
    // Batches of 5: 10 and 11 were processed, but their batch never finished.
    assert_eq!(committed(&cluster), Some(10));
}

#[test]
fn after_a_rebalance_the_new_owner_resumes_from_the_last_commit() {
    let cluster = orders(0);
    let mut a = billing_consumer(&cluster, "a");
    let mut b = billing_consumer(&cluster, "b");
    // Both instances start, polling in turn; one of them owns the partition.
    let mut idle = Billing::default();
    for _ in 0..20 {
        idle.run_once(&mut a).expect("a");
        idle.run_once(&mut b).expect("b");
    }
    let (mut owner, mut other) = match a.assignment().is_empty() {
        true => (b, a),
        false => (a, b),
    };
    assert_eq!(owner.assignment(), vec![tp("orders", 0)]);
    assert!(other.assignment().is_empty());
    // Records arrive; the owner processes until a record fails, then goes down.
    cluster.borrow_mut().fill(&tp("orders", 0), 20, 5);
    let (mut first, mut second) = (Billing::failing_at(12), Billing::default());
    while first.run_once(&mut owner).is_ok() {
        second.run_once(&mut other).expect("other");
    }
    assert_eq!(committed(&cluster), Some(10));
    owner.close().expect("close");
    // The other instance takes the partition over and resumes at the last commit.
    for _ in 0..100 {
        second.run_once(&mut other).expect("other");
        if second.processed.last() == Some(&19) {
            break;
        }
    }
    assert_eq!(other.assignment(), vec![tp("orders", 0)]);
    assert_eq!(first.processed, (0..12).collect::<Vec<_>>());
    assert_eq!(second.processed, (10..20).collect::<Vec<_>>());
    assert_eq!(committed(&cluster), Some(20));
    // Generations: the first instance alone, both, the other alone.
    assert_eq!(cluster.borrow().groups.generations("billing").len(), 3);
}

#[test]
fn a_broker_error_is_retried_not_surfaced() {
    let cluster = orders(20);
    {
        let mut c = cluster.borrow_mut();
        c.inject_error(ApiKey::Metadata, ErrorCode::LeaderNotAvailable);
        c.inject_error(ApiKey::Fetch, ErrorCode::NotLeaderOrFollower);
        c.inject_error(ApiKey::Fetch, ErrorCode::NotLeaderOrFollower);
    }
    let mut consumer = billing_consumer(&cluster, "billing");
    let mut service = Billing::default();
    for _ in 0..100 {
        service
            .run_once(&mut consumer)
            .expect("no error reaches the service");
        if service.processed.len() >= 20 {
            break;
        }
    }
    // Every record once, in order, and the errors did happen.
    assert_eq!(service.processed, (0..20).collect::<Vec<_>>());
    assert_eq!(committed(&cluster), Some(20));
    let errors = cluster.borrow().partition_errors.clone();
    let not_leader = errors
        .iter()
        .filter(|e| e.code == ErrorCode::NotLeaderOrFollower);
    assert_eq!(not_leader.count(), 2);
}

#[test]
fn waiting_for_records_takes_simulated_time_only() {
    let cluster = orders(0);
    let mut consumer = billing_consumer(&cluster, "billing");
    let started = std::time::Instant::now();
    let records = consumer.poll(Duration::from_secs(60)).expect("poll");
    assert!(records.is_empty());
    assert!(cluster.borrow().elapsed() >= Duration::from_secs(60));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_broker_going_down_for_a_while_loses_nothing() {
    let cluster = orders(10);
    cluster.borrow_mut().groups.move_coordinator("billing", 3);
    let mut consumer = billing_consumer(&cluster, "billing");
    let mut service = Billing::default();
    for turn in 0..200 {
        // The partition's leader (broker 1) is down from turn 5 to 15; 10 more records
        // are written meanwhile.
        match turn {
            5 => cluster.borrow_mut().set_broker_down(1, true),
            10 => {
                cluster.borrow_mut().fill(&tp("orders", 0), 10, 5);
            }
            15 => cluster.borrow_mut().set_broker_down(1, false),
            _ => {}
        }
        service
            .run_once(&mut consumer)
            .expect("no error reaches the service");
        if service.processed.len() >= 20 {
            break;
        }
    }
    assert_eq!(service.processed, (0..20).collect::<Vec<_>>());
    assert_eq!(committed(&cluster), Some(20));
    assert!(cluster.borrow().lost_connections.len() >= 2);
}

#[test]
fn a_wakeup_ends_a_poll_at_once() {
    let cluster = orders(0);
    let mut consumer = billing_consumer(&cluster, "billing");
    consumer.wakeup_handle().wake();
    let woken = consumer.poll(Duration::from_secs(60));
    assert!(matches!(woken, Err(KafkaError::Wakeup)), "{woken:?}");
    assert!(cluster.borrow().elapsed() < Duration::from_secs(1));
}
