//! Thread-free, protocol-agnostic network client on mio.
//!
//! Modelled on Kafka's `NetworkClient`: [`NetworkClient::send`] only queues a request,
//! [`NetworkClient::poll`] performs all IO (connects, writes, reads, timeouts) and
//! produces [`Completion`]s that the caller drains with [`NetworkClient::poll_completion`].
//! The client knows nothing of message contents: it moves size-prefixed frames and
//! pairs each response with the oldest in-flight request of its connection by
//! correlation id (the first four bytes of a response body).

mod backoff;
mod client;
mod completion;
mod config;
mod connection;
mod error;
mod frame;
mod queue;
mod tls;
mod waker;

pub use client::NetworkClient;
pub use completion::Completion;
pub use config::NetConfig;
pub use error::NetError;
pub use tls::{TlsClientConfig, TlsConfigError, TlsError};
pub use waker::WakeupHandle;

pub use consumer_core::NodeId;
