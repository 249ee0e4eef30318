//! Errors reported when a connection fails or a peer violates the framing protocol.

use std::io;
use std::sync::Arc;

use super::TlsError;

/// Why a connection was closed and its pending requests failed.
///
/// Cloneable (IO errors are shared behind an `Arc`) so a caller can hand the same
/// reason to every request that failed with it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// Reading from or writing to an established connection failed.
    #[error("I/O error: {0}")]
    Io(#[source] Arc<io::Error>),
    /// No address of the node accepted a connection.
    #[error("connecting to {address} failed: {source}")]
    ConnectFailed {
        /// The "host:port" being connected to.
        address: String,
        /// The error of the last address tried.
        #[source]
        source: Arc<io::Error>,
    },
    /// The connection was not established within the connection setup timeout.
    #[error("connection setup timed out")]
    ConnectTimeout,
    /// The "host:port" could not be resolved to any socket address.
    #[error("could not resolve {address}")]
    Resolve {
        /// The address that failed to resolve.
        address: String,
    },
    /// A request was not answered within its timeout; the connection was closed.
    #[error("request with correlation id {correlation_id} timed out")]
    RequestTimeout {
        /// The request that expired first.
        correlation_id: i32,
    },
    /// The peer announced a frame larger than `max_response_size`.
    #[error("response frame of {size} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The announced frame size.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The peer announced a negative frame size.
    #[error("response frame has a negative size")]
    NegativeFrameSize,
    /// A response frame is too short to hold a correlation id.
    #[error("response frame of {size} bytes has no correlation id")]
    FrameTooShort {
        /// The frame size.
        size: usize,
    },
    /// A response did not answer the oldest in-flight request.
    #[error("expected a response to correlation id {expected}, got {got}")]
    UnexpectedCorrelationId {
        /// Correlation id of the oldest in-flight request.
        expected: i32,
        /// Correlation id found in the response.
        got: i32,
    },
    /// A response arrived while no request was in flight.
    #[error("unsolicited response with correlation id {correlation_id}")]
    UnsolicitedResponse {
        /// Correlation id found in the response.
        correlation_id: i32,
    },
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    PeerClosed,
    /// The connection was closed by the caller (`disconnect` or `close`).
    #[error("connection closed by the client")]
    Closed,
    /// TLS failed: the handshake, the broker's certificate, or a listener that speaks
    /// TLS to a plaintext client or the reverse. See [`is_security_failure`](Self::is_security_failure).
    #[error(transparent)]
    Tls(#[from] TlsError),
}

impl NetError {
    /// Whether this is a failure of the connection's security (TLS) that retrying will
    /// not cure until the configuration or the broker changes: reported to the caller
    /// rather than only retried. A [conclusive](TlsError::is_conclusive) TLS failure.
    pub fn is_security_failure(&self) -> bool {
        matches!(self, NetError::Tls(err) if err.is_conclusive())
    }

    /// Whether the peer closed or reset the connection.
    pub(crate) fn is_peer_close(&self) -> bool {
        match self {
            NetError::PeerClosed => true,
            NetError::Io(err) => is_closed(err),
            _ => false,
        }
    }

    /// The TLS failure, if this is one.
    pub fn tls_error(&self) -> Option<&TlsError> {
        match self {
            NetError::Tls(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for NetError {
    fn from(err: io::Error) -> Self {
        NetError::Io(Arc::new(err))
    }
}

/// Whether an IO error means the peer closed or reset the connection.
pub(crate) fn is_closed(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
