//! Sans-IO Kafka consumer core: the wire codec, record batches and the consumer state
//! machine, with no sockets, no threads and no clock reads.
//!
//! ```text
//!   your service
//!        │  assign / seek / poll(timeout) / close
//!   ┌────▼──────────────────────────── consumer-net ─┐
//!   │ KafkaConsumer (blocking facade)                 │
//!   │ NetworkClient (mio: connections, unsent,        │
//!   │   in-flight by correlation id, completions)     │
//!   └────┬──────────────────────────────────▲────────┘
//!        │ Transmit (node, addr, frame)      │ response frames, disconnects, now
//!   ┌────▼──────────────────────────────────┴─ consumer-core ─┐
//!   │ Consumer: Metadata · SubscriptionState · Fetcher ·       │
//!   │           OffsetLookups · Nodes (ApiVersions, in-flight) │
//!   │ codec (primitives, one module per API) · record batches  │
//!   └──────────────────────────────────────────────────────────┘
//! ```
//!
//! # What is public
//! What a driver and its user need is re-exported here, at the crate root; the parts of
//! the state machine (fetcher, fetch sessions, offset lookups, node and request
//! bookkeeping, the group member's internals, the assignors) are private.
//!
//! - **The state machine**: [`Consumer`]. Commands (`assign`, `subscribe`, `seek`,
//!   `commit`, …) that may be refused with a [`StateError`]; inputs (`handle_response`,
//!   `handle_disconnect`, `handle_timeout`); outputs: [`Transmit`]s (a request frame for a
//!   [`NodeId`]), [`ConsumerRecord`]s, [`Event`]s and [`ConsumerError`]s. [`QueryId`] and
//!   [`RequestId`] name an offset lookup and a commit; [`RequestFailure`] says why a
//!   request got no answer; [`RequestCounts`] counts requests for invariant checks.
//! - **Configuration**: [`ConsumerConfig`], built with a [`ConsumerConfigBuilder`] or from
//!   Java property names ([`KNOWN_PROPERTIES`]), refused with a [`ConfigError`];
//!   [`AutoOffsetReset`], [`IsolationLevel`].
//! - **Partitions and offsets**: [`TopicPartition`], [`FetchPosition`],
//!   [`OffsetAndMetadata`] (commits), [`OffsetAndTimestamp`] (offset lookups).
//! - **Records**: the [`Header`]s and [`TimestampType`] of a [`ConsumerRecord`];
//!   [`RecordError`] and [`RecordErrorKind`] for a corrupt batch. The batch format itself
//!   (decoder, borrowing views, builders for test brokers) is the [`record`] module.
//! - **Broker errors**: [`ErrorCode`], classified by [`ErrorKind`].
//! - **Metrics**: [`ConsumerMetrics`] from [`Consumer::metrics`] ([`PartitionMetrics`],
//!   [`FetchMetrics`], [`RebalanceMetrics`], [`CommitMetrics`]); [`Consumer::current_lag`].
//! - **Read-only views** of the consumer's state, for drivers and tests; only their
//!   getters are public, the consumer alone changes them: [`Metadata`] ([`Node`],
//!   [`TopicInfo`], [`PartitionLeader`]) from [`Consumer::metadata`];
//!   [`SubscriptionState`] ([`PartitionState`], [`SubscriptionKind`]) from
//!   [`Consumer::subscription`]; [`ConsumerCoordinator`] ([`MemberState`], [`Generation`],
//!   [`RebalanceProtocol`]) from [`Consumer::group`]; [`TimerTable`] ([`Timer`]) from
//!   [`Consumer::timers`].
//! - **SASL**: the [`sasl`] mechanisms (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER), each a
//!   sans-IO client of its own; [`SaslError`] says why a connection could not
//!   authenticate (it comes out of `poll_records` as [`ConsumerError::Authentication`]).
//! - **The wire codec**: [`codec`], the request and response bodies of every API used
//!   ([`codec::messages`]), the consumer protocol, the frame functions
//!   ([`codec::encode_request_frame`], [`codec::decode_response_frame`], …), [`codec::ApiKey`]
//!   and version negotiation ([`codec::BrokerVersions`]); for test brokers, golden tests and
//!   fuzz targets.
//! - **The test kit**: `testing` (feature `testing`), a simulated cluster to drive a
//!   [`Consumer`] in tests.
//!
//! # Driving the core
//! Time is an argument: every input carries `now`, and [`Consumer::poll_timeout`]
//! says when the core next needs to be woken. A driver loop looks like this:
//!
//! ```
//! use std::time::Instant;
//! use consumer_core::{Consumer, ConsumerConfig, TopicPartition};
//!
//! let config = ConsumerConfig::builder()
//!     .bootstrap_servers(["127.0.0.1:9092"])
//!     .build()
//!     .expect("valid config");
//! let mut consumer = Consumer::new(config).expect("valid config");
//! consumer.assign([TopicPartition::new("events", 0)]);
//!
//! let now = Instant::now();
//! // 1. Send what the core asks for (the first request is ApiVersions to a bootstrap node).
//! let transmit = consumer.poll_transmit(now).expect("a request to send");
//! assert_eq!(transmit.address, "127.0.0.1:9092");
//! // 2. Write `transmit.frame` to that node; feed answers back with
//! //    `consumer.handle_response(node, correlation_id, frame, now)`, lost connections with
//! //    `handle_disconnect(node, now)`, and wake up at `consumer.poll_timeout()`.
//! // 3. Drain records: `consumer.poll_records(max)`, and events: `consumer.poll_event()`.
//! assert!(consumer.poll_records(500).expect("no error yet").is_empty());
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Every `pub` item is reachable from the root: the internals are `pub(crate)`.
#![warn(unreachable_pub)]
mod assignor;
pub mod codec;
mod config;
mod consumer;
mod coordinator;
pub mod diagnostics;
mod error_code;
mod event;
mod fetch_session;
mod fetcher;
mod metadata;
mod metrics;
mod offsets;
mod outcome;
mod read_replica;
pub mod record;
pub mod sasl;
mod slot_set;
mod subscription;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod timer;
mod topic_partition;
mod validation;

pub use assignor::RebalanceProtocol;
pub use config::parse_properties;
pub use config::{
    AutoOffsetReset, ConfigError, ConsumerConfig, ConsumerConfigBuilder, GroupProtocol,
    IsolationLevel, OAuthBearerToken, SaslConfig, SaslMechanism, Secret, SecurityConfig,
    SecurityProtocol, SslConfig, TlsVersion, TokenCallback, TokenProvider, UnsecuredJwt,
    KNOWN_PROPERTIES,
};
pub use consumer::{
    CloseFailure, CloseStep, Consumer, NodeId, RequestCounts, RequestFailure, Transmit,
};
pub use coordinator::{ConsumerCoordinator, Generation, MemberState};
pub use error_code::{ErrorCode, ErrorKind};
pub use event::{ConsumerError, ConsumerRecord, Event, QueryId, RequestId, StateError};
pub use metadata::{Metadata, Node, PartitionLeader, TopicInfo};
pub use metrics::{
    CommitMetrics, ConsumerMetrics, FetchMetrics, PartitionMetrics, RebalanceMetrics,
};
pub use record::{Header, RecordError, RecordErrorKind, TimestampType};
pub use sasl::SaslError;
pub use subscription::{PartitionState, SubscriptionKind, SubscriptionState};
pub use timer::{Timer, TimerTable};
pub use topic_partition::{FetchPosition, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition};
