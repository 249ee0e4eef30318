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
mod error_code;
mod event;
mod fetch_session;
mod fetcher;
mod metadata;
mod offsets;
pub mod record;
mod subscription;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod timer;
mod topic_partition;

pub use assignor::RebalanceProtocol;
pub use config::{
    AutoOffsetReset, ConfigError, ConsumerConfig, ConsumerConfigBuilder, IsolationLevel,
    KNOWN_PROPERTIES,
};
pub use consumer::{Consumer, NodeId, RequestCounts, RequestFailure, Transmit};
pub use coordinator::{Generation, GroupCoordinator, MemberState};
pub use error_code::{ErrorCode, ErrorKind};
pub use event::{ConsumerError, ConsumerRecord, Event, QueryId, RequestId, StateError};
pub use metadata::{Metadata, Node, PartitionLeader, TopicInfo};
pub use record::{Header, RecordError, RecordErrorKind, TimestampType};
pub use subscription::{PartitionState, SubscriptionKind, SubscriptionState};
pub use timer::{Timer, TimerTable};
pub use topic_partition::{FetchPosition, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition};
