//! Thread-free network client and blocking consumer.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod network;
pub use network::{Completion, NetConfig, NetError, NetworkClient, NodeId, WakeHandle};
