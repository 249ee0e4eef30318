//! The life of a request.
//!
//! Every request the core emits is recorded here once, with its [`Owner`]: the subsystem
//! that asked for it, with what that subsystem needs to read the answer. Every recorded
//! request ends exactly once, by [`Requests::take`] or [`Requests::take_node`], and the
//! [`Consumer`](super::Consumer) hands its outcome to the owner: the answer, or a
//! [`RequestFailure`] (the connection was lost, the answer was malformed, it could not
//! be sent, or the consumer closed). There is no other way out of this table, so no
//! owner waits for an answer that will never come.
//!
//! Request timeouts and reconnect backoff belong to the network layer, as in Kafka's
//! `NetworkClient`: a request that times out closes its connection there, and the core
//! hears of it as a lost connection.

use std::collections::HashMap;
use std::time::Instant;

use super::group::GroupCall;
use super::NodeId;
use crate::codec::{decode_response_frame, ApiKey, Request};
use crate::fetcher::FetchContext;
use crate::offsets::OffsetsContext;
pub(crate) use crate::outcome::{Outcome, RequestFailure};
use crate::validation::ValidationContext;

/// Who is waiting for a request's outcome, with what it needs to read the answer.
#[derive(Debug)]
pub(crate) enum Owner {
    /// ApiVersions: a node's version negotiation.
    Negotiation,
    /// SaslHandshake or SaslAuthenticate: a connection's SASL exchange.
    Authentication,
    /// A metadata refresh.
    Metadata,
    /// Offset lookups (resets and the caller's queries).
    Offsets(OffsetsContext),
    /// A fetch.
    Fetcher(FetchContext),
    /// Position validation (OffsetForLeaderEpoch, KIP-320).
    Validation(ValidationContext),
    /// The final Fetch closing the fetch session `session_id`.
    SessionClose {
        /// The session closed.
        session_id: i32,
    },
    /// The group member: coordinator lookup, membership and offsets.
    Group(GroupCall),
}

/// One recorded request.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// The node it went to.
    pub node: NodeId,
    /// Its API.
    pub api: ApiKey,
    /// Its version.
    pub version: i16,
    /// Who waits for it.
    pub owner: Owner,
    /// False for a request that was never queued (it ends at once, not sent).
    pub sent: bool,
    /// When `poll_transmit` handed it to the driver (None while it waits in the core).
    pub handed_out: Option<Instant>,
}

impl InFlight {
    /// A request queued for `node`.
    pub(super) fn sent(node: NodeId, api: ApiKey, version: i16, owner: Owner) -> Self {
        Self {
            node,
            api,
            version,
            owner,
            sent: true,
            handed_out: None,
        }
    }
}

/// Decodes `frame` (without its size prefix) as the answer to a `version` request of
/// `R`'s API sent to `node`; a failure is passed through.
pub(crate) fn decode<R: Request>(
    node: NodeId,
    version: i16,
    frame: Outcome<bytes::Bytes>,
) -> Outcome<R::Response> {
    decode_response_frame::<R>(frame?, version)
        .map(|(_, body)| body)
        .map_err(|e| {
            log::warn!("malformed answer from node {node} ({}): {e}", R::API_KEY);
            RequestFailure::Malformed(e)
        })
}

/// Requests recorded and not ended yet, by correlation id.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    pending: HashMap<i32, InFlight>,
    recorded: u64,
    ended: u64,
}

/// How many requests were recorded and ended so far, and how many are pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestCounts {
    /// Requests recorded since the consumer was created.
    pub recorded: u64,
    /// Requests ended (answered or failed) and handed to their owner: counted when the
    /// owner is told, so a request taken out and never handed over shows as missing.
    pub ended: u64,
    /// Requests recorded and not ended yet.
    pub pending: u64,
    /// Of those, the ones still waiting in the core: for `poll_transmit`, or for their
    /// node's SASL session to be renewed.
    pub queued: u64,
}

impl Requests {
    /// Records a request sent (or queued) with `correlation_id`. Correlation ids wrap
    /// after 2^31 requests: a request still pending under the same id is ended and
    /// returned, for its owner to be told.
    #[must_use]
    pub(super) fn record(&mut self, correlation_id: i32, request: InFlight) -> Option<InFlight> {
        self.recorded += 1;
        self.pending.insert(correlation_id, request)
    }

    /// Takes the pending request `correlation_id` out, to be ended (see [`ended`](Self::ended)).
    pub(super) fn take(&mut self, correlation_id: i32) -> Option<InFlight> {
        self.pending.remove(&correlation_id)
    }

    /// The pending request `correlation_id` was handed to the driver at `now`: its owner.
    pub(super) fn handed_out(&mut self, correlation_id: i32, now: Instant) -> Option<&Owner> {
        let request = self.pending.get_mut(&correlation_id)?;
        request.handed_out = Some(now);
        Some(&request.owner)
    }

    /// A request taken out was handed to its owner.
    pub(super) fn ended(&mut self, request: &InFlight) {
        if request.sent {
            self.ended += 1;
        }
    }

    /// Takes out every pending request to `node`, in correlation id order.
    pub(super) fn take_node(&mut self, node: NodeId) -> Vec<(i32, InFlight)> {
        self.take_where(|r| r.node == node)
    }

    /// Takes out every pending request, in correlation id order.
    pub(super) fn take_all(&mut self) -> Vec<(i32, InFlight)> {
        self.take_where(|_| true)
    }

    fn take_where(&mut self, f: impl Fn(&InFlight) -> bool) -> Vec<(i32, InFlight)> {
        let mut ids: Vec<i32> = self
            .pending
            .iter()
            .filter(|(_, r)| f(r))
            .map(|(c, _)| *c)
            .collect();
        ids.sort_unstable();
        ids.into_iter()
            .filter_map(|c| self.take(c).map(|r| (c, r)))
            .collect()
    }

    /// Requests pending with `node` (a handful at most: counted, not tracked).
    pub(super) fn in_flight(&self, node: NodeId) -> usize {
        self.pending.values().filter(|r| r.node == node).count()
    }

    /// True if a pending request matches `f`.
    pub(super) fn any(&self, f: impl Fn(&Owner) -> bool) -> bool {
        self.pending.values().any(|r| f(&r.owner))
    }

    /// The counts so far.
    pub(super) fn counts(&self) -> RequestCounts {
        RequestCounts {
            recorded: self.recorded,
            ended: self.ended,
            pending: self.pending.len() as u64,
            queued: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(node: NodeId) -> InFlight {
        InFlight::sent(node, ApiKey::Metadata, 0, Owner::Metadata)
    }

    fn end(r: &mut Requests, request: Option<InFlight>) -> bool {
        match request {
            Some(request) => {
                r.ended(&request);
                true
            }
            None => false,
        }
    }

    #[test]
    fn each_request_ends_once() {
        let mut r = Requests::default();
        assert!(r.record(1, req(1)).is_none());
        assert!(r.record(2, req(2)).is_none());
        assert!(r.record(3, req(1)).is_none());
        assert_eq!(r.in_flight(1), 2);
        let taken = r.take(2);
        assert!(end(&mut r, taken));
        let again = r.take(2);
        assert!(!end(&mut r, again), "a second end of the same request");
        let taken = r.take_node(1);
        let ids: Vec<i32> = taken.iter().map(|(c, _)| *c).collect();
        assert_eq!(ids, vec![1, 3]);
        assert_eq!(r.counts().ended, 1, "taken out, not handed over yet");
        for (_, request) in taken {
            r.ended(&request);
        }
        assert_eq!(r.in_flight(1), 0);
        assert_eq!(
            r.counts(),
            RequestCounts {
                recorded: 3,
                ended: 3,
                pending: 0,
                queued: 0,
            }
        );
    }

    #[test]
    fn a_reused_id_ends_the_old_request() {
        let mut r = Requests::default();
        assert!(r.record(7, req(1)).is_none());
        let old = r.record(7, req(2)).expect("the old request is handed back");
        assert_eq!(old.node, 1);
        r.ended(&old);
        assert_eq!(r.in_flight(1), 0);
        assert_eq!(r.in_flight(2), 1);
        let c = r.counts();
        assert_eq!((c.recorded, c.ended, c.pending), (2, 1, 1));
    }
}
