//! Errors of the blocking consumer.

use std::io;

use consumer_core::{ConfigError, ConsumerError, NodeId, StateError};
use thiserror::Error;

use crate::network::{TlsConfigError, TlsError};

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
    /// The TLS settings (`ssl.*`) could not be used: a file, a certificate or a key.
    #[error(transparent)]
    TlsConfig(#[from] TlsConfigError),
    /// A connection to `node` failed its TLS handshake or spoke the wrong protocol (an
    /// untrusted or expired certificate, a host name mismatch, a refused client
    /// certificate, TLS against a plaintext listener or the reverse), like the Java
    /// consumer's `SslAuthenticationException`. Returned by the call during which it
    /// happened; the consumer keeps trying to connect (with backoff) in later calls.
    #[error("node {node}: {source}")]
    Ssl {
        /// The broker whose connection failed.
        node: NodeId,
        /// What failed.
        #[source]
        source: TlsError,
    },
}
