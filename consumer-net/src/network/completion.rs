//! Items that `NetworkClient::poll` produces for the caller.

use bytes::Bytes;

use super::{NetError, NodeId};

/// A finished item: a response, or the failure of a connection and its requests.
#[derive(Debug, Clone)]
pub enum Completion {
    /// A complete response frame that answers the request with `correlation_id`.
    Response {
        /// Node that answered.
        node: NodeId,
        /// Correlation id of the request answered.
        correlation_id: i32,
        /// The frame without its size prefix (starting with the correlation id);
        /// a zero-copy slice of the read buffer.
        frame: Bytes,
    },
    /// The connection to `node` closed or could not be made.
    Disconnected {
        /// Node whose connection closed.
        node: NodeId,
        /// Correlation ids of in-flight and unsent requests that will never be answered, in send order.
        failed: Vec<i32>,
        /// Why the connection closed.
        reason: NetError,
    },
}

impl Completion {
    /// The node this completion is about.
    pub fn node(&self) -> NodeId {
        match self {
            Completion::Response { node, .. } | Completion::Disconnected { node, .. } => *node,
        }
    }
}
