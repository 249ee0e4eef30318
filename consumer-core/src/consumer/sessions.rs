//! Closing the incremental fetch sessions (KIP-227) brokers hold for this consumer.

use log::debug;

use super::requests::{Outcome, Owner};
use super::Consumer;
use crate::codec::ApiKey;
use crate::error_code::ErrorCode;
use crate::metadata::NodeId;

impl Consumer {
    /// Stops fetching and closes every fetch session a broker holds for this consumer: a
    /// Fetch naming the session with epoch -1 and no partition, as the Java consumer sends
    /// on close, so that the session does not wait in the broker's cache until it expires.
    /// [`has_pending_session_closes`](Self::has_pending_session_closes) tells when the
    /// answers are in. Brokers that gave no session (id 0) get nothing.
    pub fn close_fetch_sessions(&mut self) {
        self.fetching_stopped = true;
        for (node, req) in self.fetcher.close_sessions(&self.config) {
            let session_id = req.session_id;
            // A session exists only at Fetch v7+, negotiated with this node already.
            let Some(Ok(version)) = self.nodes.pick(node, ApiKey::Fetch) else {
                continue;
            };
            debug!("node {node}: closing fetch session {session_id}");
            let now = self.last_now;
            if let Some(now) = now {
                self.send(node, version, &req, Owner::SessionClose { session_id }, now);
            }
        }
    }

    /// True while a session close sent by
    /// [`close_fetch_sessions`](Self::close_fetch_sessions) awaits its answer.
    pub fn has_pending_session_closes(&self) -> bool {
        self.requests
            .any(|owner| matches!(owner, Owner::SessionClose { .. }))
    }

    /// The answer to a session close: only logged (the session is gone either way; an
    /// expired one is answered with an error).
    pub(super) fn session_closed(
        node: NodeId,
        session_id: i32,
        resp: Outcome<crate::codec::messages::FetchResponse>,
    ) {
        match resp {
            Ok(resp) => debug!(
                "node {node}: fetch session {session_id} closed ({})",
                ErrorCode::from_i16(resp.error_code)
            ),
            Err(e) => debug!("node {node}: closing fetch session {session_id}: {e}"),
        }
    }
}
