//! Thread-free network client and blocking consumer.
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
    CommitCallback, KafkaConsumer, KafkaError, RebalanceListener, DEFAULT_CLOSE_TIMEOUT,
};
pub use consumer::{
    CommitMetrics, ConsumerMetrics, FetchMetrics, PartitionMetrics, RebalanceMetrics,
};
pub use consumer_core::{
    parse_properties, AutoOffsetReset, ConfigError, ConsumerConfig, ConsumerError, ConsumerRecord,
    Event, OAuthBearerToken, OffsetAndMetadata, OffsetAndTimestamp, SaslMechanism, Secret,
    SecurityProtocol, StateError, TokenProvider, TopicPartition,
};
