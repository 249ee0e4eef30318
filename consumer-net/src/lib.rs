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
    CloseError, CommitCallback, KafkaConsumer, KafkaError, RebalanceListener, DEFAULT_CLOSE_TIMEOUT,
};
pub use consumer_core::{
    parse_properties, AutoOffsetReset, CloseFailure, CloseStep, ConfigError, ConsumerConfig,
    ConsumerError, ConsumerRecord, ErrorCode, Event, Header, OAuthBearerToken, OffsetAndMetadata,
    OffsetAndTimestamp, RebalanceProtocol, RecordError, SaslError, SaslMechanism, Secret,
    SecurityProtocol, StateError, TimestampType, TokenProvider, TopicPartition,
};
