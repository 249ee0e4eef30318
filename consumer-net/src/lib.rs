//! A Kafka consumer for synchronous Rust services: [`KafkaConsumer`], speaking the Kafka
//! wire protocol to real brokers with no thread and no async runtime of its own.
//!
//! Everything happens inside its calls: `poll` sends fetches, drives the sockets
//! ([`NetworkClient`], on `mio`) and returns records; the group protocol, commits and
//! the rebalance listener run inside it too. The logic lives in the sans-IO
//! `consumer-core` crate; this crate adds the network and the blocking API. Its
//! configuration uses Java's property names ([`ConsumerConfig::from_properties`]), with
//! Java's defaults and semantics.
//!
//! # A poll loop
//! ```no_run
//! use std::time::Duration;
//! use consumer_net::{KafkaConsumer, TopicPartition};
//!
//! let mut consumer = KafkaConsumer::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("auto.offset.reset", "earliest"),
//! ])?;
//! consumer.assign([TopicPartition::new("events", 0), TopicPartition::new("events", 1)])?;
//! loop {
//!     for record in consumer.poll(Duration::from_millis(500))? {
//!         println!("{} offset {}: {:?}", record.topic_partition(), record.offset, record.value);
//!     }
//! #   break;
//! }
//! consumer.close()?;
//! # Ok::<(), consumer_net::KafkaError>(())
//! ```
//!
//! # A group member with a rebalance listener
//! With `group.id`, [`KafkaConsumer::subscribe`] joins the group; partitions are assigned
//! during `poll`. A [`RebalanceListener`] hears of partitions given and taken away; a
//! commit in `on_partitions_revoked` lands before the partitions move to another member.
//! ```no_run
//! use std::collections::HashMap;
//! use std::time::Duration;
//! use consumer_net::{KafkaConsumer, OffsetAndMetadata, RebalanceListener, TopicPartition};
//!
//! /// Logs the moves; commits are made in the loop (see below).
//! struct Moves;
//!
//! impl RebalanceListener for Moves {
//!     fn on_partitions_assigned(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
//!         log::info!("assigned {partitions:?}");
//!     }
//!     fn on_partitions_revoked(&mut self, consumer: &mut KafkaConsumer, partitions: &[TopicPartition]) {
//!         // What poll handed out of them (with processing done right after each poll).
//!         if let Err(e) = consumer.commit_sync() {
//!             log::warn!("commit before giving up {partitions:?} failed: {e}");
//!         }
//!     }
//! }
//!
//! let mut consumer = KafkaConsumer::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "billing"),
//!     ("enable.auto.commit", "false"),
//! ])?;
//! consumer.subscribe_with_listener(["orders"], Box::new(Moves))?;
//! let mut processed: HashMap<TopicPartition, OffsetAndMetadata> = HashMap::new();
//! let mut since_commit = 0;
//! loop {
//!     for record in consumer.poll(Duration::from_millis(500))? {
//!         // ... process the record ...
//!         processed.insert(record.topic_partition(), OffsetAndMetadata::new(record.offset + 1));
//!         since_commit += 1;
//!     }
//!     // Commit every 100 records: the offsets of the next records to read.
//!     if since_commit >= 100 {
//!         match consumer.commit_offsets_sync(processed.drain()) {
//!             Ok(()) => since_commit = 0,
//!             // A rebalance moved partitions: their next owner resumes at the last
//!             // commit, so some records may be processed twice. Keep polling.
//!             Err(e) if e.is_commit_failed() => log::info!("{e}"),
//!             Err(e) => return Err(e),
//!         }
//!     }
//! #   break;
//! }
//! # Ok::<(), consumer_net::KafkaError>(())
//! ```
//!
//! # Commit strategies
//! - **Auto-commit** (`enable.auto.commit=true`, the default): every
//!   `auto.commit.interval.ms` the positions handed out by `poll` are committed, from
//!   inside `poll`, and once more by `close`. Records handed out but not yet processed
//!   when the process dies are not read again: process each batch before the next poll.
//! - **Synchronous** ([`KafkaConsumer::commit_sync`], [`KafkaConsumer::commit_offsets_sync`],
//!   and `_with_timeout` variants): commit after processing; a commit covers only what
//!   was handed out. At-least-once.
//! - **Asynchronous** ([`KafkaConsumer::commit_async`]): does not wait; the callback runs
//!   from a later call. A failed async commit is not retried (a newer one follows).
//!
//! [`ConsumerError::CommitFailed`] ([`KafkaError::is_commit_failed`]) means the group
//! rebalanced since the records were handed out; it is normal while partitions move.
//!
//! # Graceful shutdown
//! A [`WakeupHandle`] interrupts the consumer from another thread, such as a signal
//! handler or a timer: the blocking call under way (or else the next one) returns
//! [`KafkaError::Wakeup`] once. Then commit and close, each with a bound: with every
//! broker down, [`KafkaConsumer::close_with_timeout`] still returns in time (30 s by
//! default for `close`, as in Java), saying what it could not do.
//! ```no_run
//! use std::time::Duration;
//! use consumer_net::{KafkaConsumer, KafkaError};
//!
//! let mut consumer = KafkaConsumer::from_properties([
//!     ("bootstrap.servers", "localhost:9092"),
//!     ("group.id", "billing"),
//! ])?;
//! consumer.subscribe(["orders"])?;
//! let wake = consumer.wakeup_handle();
//! std::thread::spawn(move || {
//!     std::thread::sleep(Duration::from_secs(60)); // or a Ctrl-C handler
//!     wake.wake();
//! });
//! loop {
//!     match consumer.poll(Duration::from_millis(500)) {
//!         Ok(records) => { /* process */ }
//!         Err(KafkaError::Wakeup) => break,
//!         Err(e) if e.is_retriable() => log::warn!("{e}"),
//!         Err(e) => return Err(e),
//!     }
//! }
//! // Auto-commit commits on close; a manual committer would call
//! // commit_sync_with_timeout here.
//! if let Err(e) = consumer.close_with_timeout(Duration::from_secs(20)) {
//!     log::warn!("{e}");
//! }
//! # Ok::<(), KafkaError>(())
//! ```
//!
//! # When something is wrong
//! Failures are not retried in silence. Connection and DNS failures are logged at WARN
//! (once per broker per 30 s), and when no broker has answered for
//! `socket.connection.setup.timeout.ms` the blocking calls return
//! [`KafkaError::BrokersUnreachable`], naming each address and its cause. Timeouts
//! ([`KafkaError::Timeout`]) say what was in the way. Authentication, TLS and
//! authorization failures, an offset out of range with `auto.offset.reset=none` and a
//! corrupt record are returned by `poll`. A topic that does not exist is logged at WARN
//! and waited for. See [`KafkaError`] and [`KafkaError::is_retriable`].
//!
//! # Testing your own consumer logic
//! With the feature `testing`, [`testing::SimTransport`] runs a `KafkaConsumer` over a
//! simulated cluster on simulated time (no sockets, no sleeping): see the README.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod network;
pub use network::{
    Completion, NetConfig, NetError, NetworkClient, NodeId, TlsClientConfig, TlsConfigError,
    TlsError, WakeupHandle,
};
pub mod transport;
pub use transport::Transport;
pub mod consumer;
#[cfg(feature = "testing")]
pub mod testing;
pub use consumer::{
    CloseError, CommitCallback, CommitMetrics, ConsumerMetrics, FetchMetrics, KafkaConsumer,
    KafkaError, PartitionMetrics, RebalanceListener, RebalanceMetrics, DEFAULT_CLOSE_TIMEOUT,
};
/// The types of the configuration, the records, the errors and the events, from
/// consumer-core: a service needs no direct dependency on it.
pub use consumer_core::{
    parse_properties, AutoOffsetReset, CloseFailure, CloseStep, ConfigError, ConsumerConfig,
    ConsumerConfigBuilder, ConsumerError, ConsumerRecord, ErrorCode, Event, GroupProtocol, Header,
    IsolationLevel, OAuthBearerToken, OffsetAndMetadata, OffsetAndTimestamp, RebalanceProtocol,
    RecordError, RequestId, SaslError, SaslMechanism, Secret, SecurityProtocol, StateError,
    TimestampType, TokenProvider, TopicPartition,
};
