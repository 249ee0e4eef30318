//! Errors of the blocking consumer.

use std::io;

use consumer_core::{ConfigError, ConsumerError, StateError};
use thiserror::Error;

/// An error of [`KafkaConsumer`](super::KafkaConsumer).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KafkaError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The call is not valid in the consumer's state.
    #[error(transparent)]
    State(#[from] StateError),
    /// The consumer hit an error it reports to the caller.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// The event loop failed (not a connection: those are retried).
    #[error("network poll failed: {0}")]
    Io(#[from] io::Error),
    /// `wakeup` interrupted a blocking call.
    #[error("the consumer was woken up")]
    Wakeup,
    /// A blocking call did not finish in time.
    #[error("{0} timed out")]
    Timeout(&'static str),
}
