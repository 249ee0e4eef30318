//! Per-broker state: API version negotiation, in-flight requests, and framing transmits.
//!
//! A node is usable once its ApiVersions answer is in; until then subsystems ask
//! [`Nodes::ensure_ready`], which sends ApiVersions once, and try again on a later
//! `poll_transmit`. A disconnect forgets the versions, so a reconnect negotiates again.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use log::{debug, warn};

use crate::codec::messages::{ApiVersionsRequest, ApiVersionsResponse};
use crate::codec::{
    encode_request_frame, ApiKey, BrokerVersions, EncodeError, Request, VersionError,
};
use crate::error_code::ErrorCode;
use crate::metadata::Node;
use crate::outcome::RequestFailure;

/// A broker node id; bootstrap addresses have negative ids.
pub type NodeId = i32;

/// A complete request for the network layer: where to send it and the framed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// The node to send to.
    pub node: NodeId,
    /// Its `host:port`.
    pub address: String,
    /// The correlation id of the request.
    pub correlation_id: i32,
    /// The API of the request.
    pub api_key: ApiKey,
    /// Its version.
    pub api_version: i16,
    /// Header and body, without the size prefix (the network layer writes it), as
    /// response frames come back without theirs.
    pub frame: Bytes,
    /// How long the answer may take, when it differs from `request.timeout.ms`
    /// (JoinGroup waits for the whole rebalance).
    pub timeout: Option<std::time::Duration>,
}

/// What [`Nodes::ensure_ready`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Readiness {
    /// Versions are known: requests may be sent.
    Ready,
    /// Negotiation is under way.
    Waiting,
    /// An ApiVersions request was just queued.
    Sent {
        /// Its correlation id.
        correlation_id: i32,
        /// Its version.
        version: i16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum VersionState {
    Unknown,
    Negotiating,
    Ready(BrokerVersions),
}

#[derive(Debug)]
struct NodeEntry {
    versions: VersionState,
    /// The ApiVersions version to try next (lowered when the broker says it is too new).
    api_versions_version: i16,
    failed_at: Option<Instant>,
}

impl NodeEntry {
    fn new(api_versions_version: i16) -> Self {
        Self {
            versions: VersionState::Unknown,
            api_versions_version,
            failed_at: None,
        }
    }
}

/// Per-node negotiation state plus the outgoing queue.
#[derive(Debug)]
pub(super) struct Nodes {
    client_id: String,
    nodes: HashMap<NodeId, NodeEntry>,
    outbox: VecDeque<Transmit>,
    next_correlation_id: i32,
    failure_backoff: Duration,
    /// The ApiVersions version a new connection starts with: the newest both sides know,
    /// as learnt from the last broker that answered. Brokers of one cluster mostly run one
    /// release, so a cluster that does not know our newest version costs one refused
    /// attempt, not one per connection (a round trip before the first fetch).
    api_versions_start: i16,
}

impl Nodes {
    /// No node known yet.
    pub(super) fn new(client_id: String, failure_backoff: Duration) -> Self {
        Self {
            client_id,
            nodes: HashMap::new(),
            outbox: VecDeque::new(),
            next_correlation_id: 1,
            failure_backoff,
            api_versions_start: ApiKey::ApiVersions.versions().max,
        }
    }

    fn entry(&mut self, node: NodeId) -> &mut NodeEntry {
        let start = self.api_versions_start;
        self.nodes
            .entry(node)
            .or_insert_with(|| NodeEntry::new(start))
    }

    /// The versions negotiated with `node`, if ready.
    pub(super) fn versions(&self, node: NodeId) -> Option<&BrokerVersions> {
        match self.nodes.get(&node).map(|e| &e.versions) {
            Some(VersionState::Ready(v)) => Some(v),
            _ => None,
        }
    }

    /// True if requests may be encoded for `node`.
    pub(super) fn is_ready(&self, node: NodeId) -> bool {
        self.versions(node).is_some()
    }

    /// True if `node` failed within the backoff period.
    pub(super) fn is_backing_off(&self, node: NodeId, now: Instant) -> bool {
        self.nodes
            .get(&node)
            .and_then(|e| e.failed_at)
            .is_some_and(|t| now < t + self.failure_backoff)
    }

    /// Whether `node` is ready; if negotiation has not started, starts it.
    pub(super) fn ensure_ready(&mut self, node: &Node) -> Readiness {
        let e = self.entry(node.id);
        match e.versions {
            VersionState::Ready(_) => Readiness::Ready,
            VersionState::Negotiating => Readiness::Waiting,
            VersionState::Unknown => {
                e.versions = VersionState::Negotiating;
                let version = e.api_versions_version;
                let req = ApiVersionsRequest {
                    client_software_name: "kafka-consumer-rs".to_owned(),
                    client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
                };
                match self.queue(node, version, &req) {
                    Ok(correlation_id) => Readiness::Sent {
                        correlation_id,
                        version,
                    },
                    Err(err) => {
                        // Our own ApiVersions always encodes; if not, it is a bug to report.
                        warn!("cannot encode ApiVersions for node {}: {err}", node.id);
                        Readiness::Waiting
                    }
                }
            }
        }
    }

    /// Picks the version of `api` to use with a ready `node`.
    pub(super) fn pick(&self, node: NodeId, api: ApiKey) -> Option<Result<i16, VersionError>> {
        self.versions(node).map(|v| v.pick(api))
    }

    /// Frames `body` at `version` and queues it for `node`; returns its correlation id.
    pub(super) fn queue<R: Request>(
        &mut self,
        node: &Node,
        version: i16,
        body: &R,
    ) -> Result<i32, EncodeError> {
        self.queue_with_timeout(node, version, body, None)
    }

    /// Like [`queue`](Self::queue), with a request timeout of its own.
    pub(super) fn queue_with_timeout<R: Request>(
        &mut self,
        node: &Node,
        version: i16,
        body: &R,
        timeout: Option<std::time::Duration>,
    ) -> Result<i32, EncodeError> {
        let correlation_id = self.next_correlation_id;
        // Frames cross to the network without their size prefix, both ways.
        let frame =
            encode_request_frame(correlation_id, Some(&self.client_id), version, body)?.slice(4..);
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1).max(1);
        self.outbox.push_back(Transmit {
            node: node.id,
            address: node.address(),
            correlation_id,
            api_key: R::API_KEY,
            api_version: version,
            frame,
            timeout,
        });
        Ok(correlation_id)
    }

    /// The next transmit, in queue order.
    pub(super) fn pop_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// Drops every queued transmit (the consumer closed; their requests end with it).
    pub(super) fn clear_outbox(&mut self) {
        self.outbox.clear();
    }

    /// Transmits waiting for `poll_transmit`.
    pub(super) fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// True if transmits are waiting.
    pub(super) fn has_transmits(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The connection to `node` was lost: forget its versions, back off from it, and drop
    /// transmits still queued for it (their requests end with the connection).
    pub(super) fn disconnected(&mut self, node: NodeId, now: Instant) {
        let e = self.entry(node);
        e.versions = VersionState::Unknown;
        e.failed_at = Some(now);
        self.outbox.retain(|t| t.node != node);
    }

    /// Applies an ApiVersions answer from `node`.
    ///
    /// Returns an error only when the broker refuses every version we can send.
    pub(super) fn handle_api_versions(
        &mut self,
        node: NodeId,
        version: i16,
        resp: Result<ApiVersionsResponse, RequestFailure>,
    ) -> Result<(), VersionError> {
        let e = self.entry(node);
        let resp = match resp {
            Ok(r) => r,
            Err(RequestFailure::Malformed(err)) => {
                // Some brokers answer a too-new ApiVersions in an older layout: go down one.
                debug!("node {node}: ApiVersions v{version} undecodable ({err}); retrying lower");
                e.versions = VersionState::Unknown;
                e.api_versions_version = (version - 1).max(0);
                return Ok(());
            }
            Err(failure) => {
                // The connection is gone (its versions were forgotten with it): a new
                // one negotiates again.
                debug!("node {node}: ApiVersions: {failure}");
                e.versions = VersionState::Unknown;
                return Ok(());
            }
        };
        if let Some(next) = resp.retry_version() {
            // KIP-511: the answer lists the ApiVersions versions the broker speaks.
            let next = next.min(version - 1).max(0);
            debug!("node {node}: ApiVersions v{version} unsupported, retrying with v{next}");
            e.versions = VersionState::Unknown;
            e.api_versions_version = next;
            return Ok(());
        }
        let code = ErrorCode::from_i16(resp.error_code);
        if code != ErrorCode::None {
            warn!("node {node}: ApiVersions failed: {code}");
            e.versions = VersionState::Unknown;
            return Ok(());
        }
        let versions = resp.broker_versions();
        e.failed_at = None;
        // Without Metadata and Fetch, the broker is of no use to a consumer.
        for api in [ApiKey::Metadata, ApiKey::Fetch] {
            versions.pick(api)?;
        }
        let start = versions.pick(ApiKey::ApiVersions).unwrap_or(version);
        e.versions = VersionState::Ready(versions);
        self.api_versions_start = start;
        Ok(())
    }
}
