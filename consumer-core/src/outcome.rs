//! How a request ended, as the subsystem that sent it sees it.

use thiserror::Error;

use crate::codec::{ApiKey, DecodeError};

/// Why a request ended without an answer its owner can use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RequestFailure {
    /// The connection closed (or could not be made, or a request on it timed out) before
    /// the answer came.
    #[error("the connection to the broker was lost")]
    Disconnected,
    /// The answer could not be decoded.
    #[error("malformed answer: {0}")]
    Malformed(DecodeError),
    /// The request could not be sent (its node vanished, no version both sides speak).
    #[error("not sent: {0}")]
    NotSent(String),
    /// The broker is ready but offers no version of the API that both sides speak: no
    /// retry can help.
    #[error("the broker offers no version of {0} that this client speaks")]
    Unsupported(ApiKey),
    /// The consumer closed before the answer came.
    #[error("cancelled: the consumer closed")]
    Cancelled,
}

/// How a request ended: the decoded answer, or why there is none.
pub(crate) type Outcome<T> = Result<T, RequestFailure>;
