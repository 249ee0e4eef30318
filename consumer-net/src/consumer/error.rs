//! Errors of the blocking consumer.

use std::fmt;
use std::io;
use std::time::Duration;

use consumer_core::{CloseFailure, ConfigError, ConsumerError, NodeId, StateError};
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
    /// [`WakeupHandle::wake`](crate::WakeupHandle::wake) interrupted this call (or was
    /// called before it). Reported once: the next call runs normally.
    #[error("the consumer was woken up")]
    Wakeup,
    /// A blocking call did not finish within its timeout.
    #[error("{operation} timed out after {after:?}{}", cause_text(.cause))]
    Timeout {
        /// What timed out ("commit", "committed offsets lookup", "partition lookup", …).
        operation: &'static str,
        /// The timeout that passed.
        after: Duration,
        /// What was in the way, as far as the consumer knows: the last connection
        /// failure, the group coordinator's state, the topic's metadata error.
        cause: Option<String>,
    },
    /// No broker has answered for `waited` while connections failed: every broker the
    /// consumer tried is down, refuses connections, or its address is wrong. Returned by
    /// the blocking calls once `socket.connection.setup.timeout.ms` has passed this way,
    /// then at most once per that interval; the consumer keeps retrying.
    #[error("no broker could be reached for {waited:?} ({}); still retrying", .causes.join("; "))]
    BrokersUnreachable {
        /// How long connections have been failing with no answer from any broker.
        waited: Duration,
        /// Per broker address, the last reason its connection failed.
        causes: Vec<String>,
        /// Whether any broker ever answered this consumer (false: check
        /// `bootstrap.servers`).
        ever_connected: bool,
    },
    /// A broker's answer was larger than the consumer accepts (`fetch.max.bytes` +
    /// `max.partition.fetch.bytes`, at least 16 MiB, plus 1 MiB): most likely one record
    /// batch larger than the fetch limits. Returned by the call during which it happened
    /// the second time in a row on one broker (the connection is closed and made again
    /// each time): the same fetch would bring the same answer, so raise
    /// `fetch.max.bytes` (or `max.partition.fetch.bytes`) to read past it.
    #[error("node {node}: {source}; a record batch larger than the fetch limits? raise fetch.max.bytes to read it")]
    ResponseTooLarge {
        /// The broker.
        node: NodeId,
        /// The size announced and the limit.
        #[source]
        source: crate::network::NetError,
    },
    /// `close` could not do everything it should within its timeout.
    #[error(transparent)]
    Close(#[from] CloseError),
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

fn cause_text(cause: &Option<String>) -> String {
    cause
        .as_ref()
        .map_or_else(String::new, |c| format!(" ({c})"))
}

impl KafkaError {
    /// Whether the same call may succeed if made again: the consumer keeps its state and
    /// retries underneath (timeouts, unreachable brokers, a wakeup, a commit refused by
    /// a rebalance, TLS and authentication failures that a fixed broker may cure).
    /// Configuration and state errors, and the errors of a closed consumer, are not.
    pub fn is_retriable(&self) -> bool {
        match self {
            KafkaError::Timeout { .. }
            | KafkaError::BrokersUnreachable { .. }
            | KafkaError::Wakeup
            | KafkaError::Ssl { .. } => true,
            KafkaError::Consumer(e) => matches!(
                e,
                ConsumerError::CommitFailed { .. }
                    | ConsumerError::Timeout
                    | ConsumerError::MaxPollIntervalExceeded { .. }
                    | ConsumerError::Authentication(_)
            ),
            _ => false,
        }
    }

    /// Whether this is a commit refused because the group rebalanced
    /// ([`ConsumerError::CommitFailed`]): normal while partitions move; see its docs.
    pub fn is_commit_failed(&self) -> bool {
        matches!(
            self,
            KafkaError::Consumer(ConsumerError::CommitFailed { .. })
        )
    }
}

/// What [`close_with_timeout`](super::KafkaConsumer::close_with_timeout) could not do.
/// The consumer is closed all the same.
#[derive(Debug)]
#[non_exhaustive]
pub struct CloseError {
    /// The steps that failed or were cut short by the timeout.
    pub failures: Vec<CloseFailure>,
    /// An error that ended the close early (the event loop failed).
    pub ended_by: Option<Box<KafkaError>>,
}

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("closing did not finish cleanly: ")?;
        let mut parts: Vec<String> = self.failures.iter().map(ToString::to_string).collect();
        if let Some(e) = &self.ended_by {
            parts.push(format!("ended early by: {e}"));
        }
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for CloseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.ended_by
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
