//! Thread-free network client and blocking consumer.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod network;
pub use network::{Completion, NetConfig, NetError, NetworkClient, NodeId, WakeHandle};
pub mod consumer;
pub use consumer::{CommitCallback, KafkaConsumer, KafkaError, RebalanceListener, WakeupHandle};
pub use consumer_core::config::ConsumerConfig;
pub use consumer_core::event::ConsumerRecord;
pub use consumer_core::topic_partition::TopicPartition;
