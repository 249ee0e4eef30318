//! Per-broker state: API version negotiation, the connection's SASL session, and
//! framing transmits.
//!
//! A node is usable once its ApiVersions answer is in and, on a SASL listener, once the
//! connection authenticated; until then subsystems ask [`Nodes::ensure_ready`], which
//! sends ApiVersions once, and try again on a later `poll_transmit`. A disconnect forgets
//! the versions and the session, so a reconnect negotiates and authenticates again.
//!
//! ```text
//!  Unknown ──ApiVersions──► Negotiating ──answer──► Connected { versions, session }
//!
//!  session:  Open                      (no SASL: ready)
//!            Due ──SaslHandshake──► Authenticating ──done──► Authenticated ──renew_at──► Due
//!             ▲                          │ failed (backoff)
//!             └──────────────────────────┘
//! ```
//!
//! A session that nears its end (KIP-368) is `Due` again: the node is not ready, requests
//! queued for it wait in the core (`parked`), and once the answers to what was sent
//! before are in, the connection authenticates again; then they go out.

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
use crate::sasl::Authenticator;

pub use crate::metadata::NodeId;

/// A complete request for the network layer: where to send it and the framed bytes.
///
/// Its `Debug` output shows the frame's size, not its bytes: a SASL frame carries a
/// password or a token.
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transmit")
            .field("node", &self.node)
            .field("address", &self.address)
            .field("correlation_id", &self.correlation_id)
            .field("api_key", &self.api_key)
            .field("api_version", &self.api_version)
            .field("frame", &format_args!("[{} bytes]", self.frame.len()))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What [`Nodes::ensure_ready`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Readiness {
    /// Versions are known (and the connection authenticated): requests may be sent.
    Ready,
    /// Negotiation or authentication is under way.
    Waiting,
    /// An ApiVersions request was just queued.
    Sent {
        /// Its correlation id.
        correlation_id: i32,
        /// Its version.
        version: i16,
    },
}

#[derive(Debug)]
enum LinkState {
    /// No connection, or its versions were forgotten with it.
    Unknown,
    /// ApiVersions sent.
    Negotiating,
    /// Versions known; the session says whether requests may go.
    Connected {
        versions: BrokerVersions,
        session: Session,
    },
}

/// The SASL session of one connection.
#[derive(Debug)]
enum Session {
    /// Nothing to authenticate (PLAINTEXT, SSL).
    Open,
    /// Must authenticate before anything else goes: a new connection, a session near its
    /// end (`renewal`), or one whose attempt failed (not before the retry time).
    Due { renewal: bool },
    /// The exchange is under way; `sent_at` is when its last request was queued.
    Authenticating {
        auth: Box<Authenticator>,
        sent_at: Instant,
        renewal: bool,
    },
    /// Authenticated; to be renewed at `renew_at` (KIP-368), if the broker limits it.
    Authenticated { renew_at: Option<Instant> },
}

impl Session {
    fn is_ready(&self) -> bool {
        matches!(self, Session::Open | Session::Authenticated { .. })
    }

    fn is_renewal(&self) -> bool {
        matches!(
            self,
            Session::Due { renewal: true } | Session::Authenticating { renewal: true, .. }
        )
    }
}

#[derive(Debug)]
struct NodeEntry {
    state: LinkState,
    /// The ApiVersions version to try next (lowered when the broker says it is too new).
    api_versions_version: i16,
    failed_at: Option<Instant>,
    /// `host:port`, for the requests the node's session sends itself.
    address: Option<String>,
    /// After a failed authentication: no new attempt before this (kept across
    /// reconnects, as Java's AUTHENTICATION_FAILED state).
    auth_retry_at: Option<Instant>,
    /// Failed authentications in a row (the backoff doubles with each).
    auth_failures: u32,
}

impl NodeEntry {
    fn new(api_versions_version: i16) -> Self {
        Self {
            state: LinkState::Unknown,
            api_versions_version,
            failed_at: None,
            address: None,
            auth_retry_at: None,
            auth_failures: 0,
        }
    }

    fn session(&self) -> Option<&Session> {
        match &self.state {
            LinkState::Connected { session, .. } => Some(session),
            _ => None,
        }
    }

    /// Must authenticate, and no failed attempt's backoff is running.
    fn due_for_authentication(&self, now: Instant) -> bool {
        matches!(self.session(), Some(Session::Due { .. }))
            && self.auth_retry_at.is_none_or(|t| t <= now)
    }
}

/// Per-node negotiation and session state plus the outgoing queue.
#[derive(Debug)]
pub(super) struct Nodes {
    client_id: String,
    nodes: HashMap<NodeId, NodeEntry>,
    outbox: VecDeque<Transmit>,
    /// Requests for nodes renewing their SASL session: they go out once it is renewed.
    parked: VecDeque<Transmit>,
    next_correlation_id: i32,
    failure_backoff: Duration,
    failure_backoff_max: Duration,
    /// Whether connections authenticate with SASL.
    sasl: bool,
    /// The ApiVersions version a new connection starts with: the newest both sides know,
    /// as learnt from the last broker that answered. Brokers of one cluster mostly run one
    /// release, so a cluster that does not know our newest version costs one refused
    /// attempt, not one per connection (a round trip before the first fetch).
    api_versions_start: i16,
}

impl Nodes {
    /// No node known yet. `failure_backoff` (doubling up to `failure_backoff_max`) is
    /// waited after a lost connection or a failed authentication; `sasl`: connections
    /// authenticate before they are ready.
    pub(super) fn new(
        client_id: String,
        failure_backoff: Duration,
        failure_backoff_max: Duration,
        sasl: bool,
    ) -> Self {
        Self {
            client_id,
            nodes: HashMap::new(),
            outbox: VecDeque::new(),
            parked: VecDeque::new(),
            next_correlation_id: 1,
            failure_backoff,
            failure_backoff_max,
            sasl,
            api_versions_start: ApiKey::ApiVersions.versions().max,
        }
    }

    /// The `host:port` `node` was last reached at (or tried).
    pub(super) fn address(&self, node: NodeId) -> Option<&str> {
        self.nodes.get(&node).and_then(|e| e.address.as_deref())
    }

    fn entry(&mut self, node: NodeId) -> &mut NodeEntry {
        let start = self.api_versions_start;
        self.nodes
            .entry(node)
            .or_insert_with(|| NodeEntry::new(start))
    }

    /// The versions negotiated with `node`, if it is ready for requests.
    pub(super) fn versions(&self, node: NodeId) -> Option<&BrokerVersions> {
        match self.nodes.get(&node).map(|e| &e.state) {
            Some(LinkState::Connected { versions, session }) if session.is_ready() => {
                Some(versions)
            }
            _ => None,
        }
    }

    /// The versions negotiated with `node`, ready or not (authenticating).
    pub(super) fn negotiated(&self, node: NodeId) -> Option<&BrokerVersions> {
        match self.nodes.get(&node).map(|e| &e.state) {
            Some(LinkState::Connected { versions, .. }) => Some(versions),
            _ => None,
        }
    }

    /// True if requests may be encoded for `node`.
    pub(super) fn is_ready(&self, node: NodeId) -> bool {
        self.versions(node).is_some()
    }

    /// True if `node` is renewing its SASL session: requests queued for it wait in the
    /// core until it is renewed.
    pub(super) fn is_renewing(&self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .and_then(NodeEntry::session)
            .is_some_and(Session::is_renewal)
    }

    /// When each node's backoff after a lost connection ends (some may be past): a
    /// choice of node that avoided it is made again then.
    pub(super) fn backoff_ends(&self) -> impl Iterator<Item = Instant> + '_ {
        self.nodes
            .values()
            .filter_map(|e| e.failed_at)
            .map(|t| t + self.failure_backoff)
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
        if e.address.is_none() {
            e.address = Some(node.address());
        }
        match &e.state {
            LinkState::Connected { session, .. } if session.is_ready() => Readiness::Ready,
            LinkState::Connected { .. } | LinkState::Negotiating => Readiness::Waiting,
            LinkState::Unknown => {
                e.state = LinkState::Negotiating;
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

    /// Like [`queue`](Self::queue), with a request timeout of its own. A request for a
    /// node renewing its session waits in the core until the session is renewed.
    pub(super) fn queue_with_timeout<R: Request>(
        &mut self,
        node: &Node,
        version: i16,
        body: &R,
        timeout: Option<std::time::Duration>,
    ) -> Result<i32, EncodeError> {
        let t = self.frame(node.id, node.address(), version, body, timeout)?;
        let correlation_id = t.correlation_id;
        if self.is_renewing(node.id) && !is_sasl(R::API_KEY) {
            self.parked.push_back(t);
        } else {
            self.outbox.push_back(t);
        }
        Ok(correlation_id)
    }

    /// Queues a request of `node`'s own session (SASL) to the address it was reached at.
    fn queue_session<R: Request>(
        &mut self,
        node: NodeId,
        version: i16,
        body: &R,
    ) -> Result<i32, EncodeError> {
        let address = self
            .nodes
            .get(&node)
            .and_then(|e| e.address.clone())
            .unwrap_or_default();
        let t = self.frame(node, address, version, body, None)?;
        let correlation_id = t.correlation_id;
        self.outbox.push_back(t);
        Ok(correlation_id)
    }

    fn frame<R: Request>(
        &mut self,
        node: NodeId,
        address: String,
        version: i16,
        body: &R,
        timeout: Option<Duration>,
    ) -> Result<Transmit, EncodeError> {
        let correlation_id = self.next_correlation_id;
        // Frames cross to the network without their size prefix, both ways.
        let frame =
            encode_request_frame(correlation_id, Some(&self.client_id), version, body)?.slice(4..);
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1).max(1);
        Ok(Transmit {
            node,
            address,
            correlation_id,
            api_key: R::API_KEY,
            api_version: version,
            frame,
            timeout,
        })
    }

    /// The next transmit, in queue order.
    pub(super) fn pop_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// Drops every queued transmit (the consumer closed; their requests end with it).
    pub(super) fn clear_outbox(&mut self) {
        self.outbox.clear();
        self.parked.clear();
    }

    /// Transmits waiting in the core: for `poll_transmit`, or for a session renewal.
    pub(super) fn queued(&self) -> usize {
        self.outbox.len() + self.parked.len()
    }

    /// Transmits for `node` still in the core (not handed to the network).
    pub(super) fn held(&self, node: NodeId) -> usize {
        self.outbox
            .iter()
            .chain(&self.parked)
            .filter(|t| t.node == node)
            .count()
    }

    /// True if transmits are waiting for `poll_transmit`.
    pub(super) fn has_transmits(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The connection to `node` was lost: forget its versions and session, back off from
    /// it, and drop transmits still queued for it (their requests end with the
    /// connection). A failed authentication's retry time stays.
    pub(super) fn disconnected(&mut self, node: NodeId, now: Instant) {
        let e = self.entry(node);
        e.state = LinkState::Unknown;
        e.failed_at = Some(now);
        self.outbox.retain(|t| t.node != node);
        self.parked.retain(|t| t.node != node);
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
        let sasl = self.sasl;
        let e = self.entry(node);
        if !matches!(e.state, LinkState::Negotiating) {
            // The connection it was asked on is gone (a disconnect reset the node).
            match &resp {
                Ok(_) => debug!("node {node}: ApiVersions answer for a connection already reset"),
                Err(failure) => {
                    debug!("node {node}: ApiVersions ended ({failure}); the connection was reset")
                }
            }
            return Ok(());
        }
        let resp = match resp {
            Ok(r) => r,
            Err(RequestFailure::Malformed(err)) => {
                // Some brokers answer a too-new ApiVersions in an older layout: go down one.
                debug!("node {node}: ApiVersions v{version} undecodable ({err}); retrying lower");
                e.state = LinkState::Unknown;
                e.api_versions_version = (version - 1).max(0);
                return Ok(());
            }
            Err(failure) => {
                // The connection is gone (its versions were forgotten with it): a new
                // one negotiates again.
                debug!("node {node}: ApiVersions: {failure}");
                e.state = LinkState::Unknown;
                return Ok(());
            }
        };
        if let Some(next) = resp.retry_version() {
            // KIP-511: the answer lists the ApiVersions versions the broker speaks.
            let next = next.min(version - 1).max(0);
            debug!("node {node}: ApiVersions v{version} unsupported, retrying with v{next}");
            e.state = LinkState::Unknown;
            e.api_versions_version = next;
            return Ok(());
        }
        let code = ErrorCode::from_i16(resp.error_code);
        if code != ErrorCode::None {
            warn!("node {node}: ApiVersions failed: {code}");
            e.state = LinkState::Unknown;
            return Ok(());
        }
        let versions = resp.broker_versions();
        e.failed_at = None;
        // Without Metadata and Fetch, the broker is of no use to a consumer.
        // (The node stays Negotiating: it is not asked again, the error is told once.)
        for api in [ApiKey::Metadata, ApiKey::Fetch] {
            versions.pick(api)?;
        }
        let start = versions.pick(ApiKey::ApiVersions).unwrap_or(version);
        let session = if sasl {
            Session::Due { renewal: false }
        } else {
            Session::Open
        };
        e.state = LinkState::Connected { versions, session };
        self.api_versions_start = start;
        Ok(())
    }

    // ---- the SASL session ----

    /// Ends the sessions whose renewal time has come: their nodes are not ready until
    /// they authenticate again, and what is queued for them waits for that.
    pub(super) fn expire_sessions(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (id, e) in &mut self.nodes {
            if let LinkState::Connected { session, .. } = &mut e.state {
                if let Session::Authenticated { renew_at: Some(at) } = session {
                    if *at <= now {
                        debug!("node {id}: the SASL session is due for renewal");
                        *session = Session::Due { renewal: true };
                        expired.push(*id);
                    }
                }
            }
        }
        for id in expired {
            let (park, keep): (VecDeque<Transmit>, VecDeque<Transmit>) =
                self.outbox.drain(..).partition(|t| t.node == id);
            self.outbox = keep;
            self.parked.extend(park);
        }
    }

    /// Nodes whose connection must authenticate and may try now (no failed attempt's
    /// backoff running).
    pub(super) fn due_for_authentication(&self, now: Instant) -> Vec<NodeId> {
        let mut due: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, e)| e.due_for_authentication(now))
            .map(|(id, _)| *id)
            .collect();
        due.sort_unstable();
        due
    }

    /// Whether `node` must authenticate and may try now (see
    /// [`due_for_authentication`](Self::due_for_authentication)).
    pub(super) fn is_due_for_authentication(&self, node: NodeId, now: Instant) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|e| e.due_for_authentication(now))
    }

    /// Starts the exchange on `node` with `auth`: queues its SaslHandshake (v1: the one
    /// that wraps the mechanism's messages in SaslAuthenticate). Returns the correlation
    /// id, or None if the node is not waiting to authenticate.
    pub(super) fn begin_authentication(
        &mut self,
        node: NodeId,
        auth: Authenticator,
        now: Instant,
    ) -> Option<Result<i32, EncodeError>> {
        let e = self.nodes.get_mut(&node)?;
        let LinkState::Connected { session, .. } = &mut e.state else {
            return None;
        };
        let Session::Due { renewal } = *session else {
            return None;
        };
        let req = auth.handshake();
        *session = Session::Authenticating {
            auth: Box::new(auth),
            sent_at: now,
            renewal,
        };
        Some(self.queue_session(node, SASL_HANDSHAKE_VERSION, &req))
    }

    /// The exchange under way on `node`, if any.
    pub(super) fn authenticator(&mut self, node: NodeId) -> Option<&mut Authenticator> {
        match self.nodes.get_mut(&node).map(|e| &mut e.state) {
            Some(LinkState::Connected {
                session: Session::Authenticating { auth, .. },
                ..
            }) => Some(auth),
            _ => None,
        }
    }

    /// Queues the next SaslAuthenticate of the exchange on `node`.
    pub(super) fn send_authenticate<R: Request>(
        &mut self,
        node: NodeId,
        version: i16,
        req: &R,
        now: Instant,
    ) -> Result<i32, EncodeError> {
        if let Some(LinkState::Connected {
            session: Session::Authenticating { sent_at, .. },
            ..
        }) = self.nodes.get_mut(&node).map(|e| &mut e.state)
        {
            *sent_at = now;
        }
        self.queue_session(node, version, req)
    }

    /// `node` authenticated. The session is renewed at 90% of its lifetime, counted from
    /// when the last request of the exchange was queued: before the broker started its
    /// clock, so the renewal always comes before the broker's end of the session. What
    /// waited for the renewal goes out.
    pub(super) fn authenticated(&mut self, node: NodeId, lifetime: Option<Duration>) {
        let Some(e) = self.nodes.get_mut(&node) else {
            return;
        };
        let LinkState::Connected { session, .. } = &mut e.state else {
            return;
        };
        let Session::Authenticating { sent_at, .. } = session else {
            return;
        };
        // (A lifetime too long for an Instant is no limit.)
        let renew_at = lifetime.and_then(|l| sent_at.checked_add(l - l / 10));
        debug!("node {node}: authenticated; session renewal at {renew_at:?}");
        *session = Session::Authenticated { renew_at };
        e.auth_retry_at = None;
        e.auth_failures = 0;
        let (release, keep): (VecDeque<Transmit>, VecDeque<Transmit>) =
            self.parked.drain(..).partition(|t| t.node == node);
        self.parked = keep;
        self.outbox.extend(release);
    }

    /// An attempt to authenticate on `node` failed: it must authenticate again, not
    /// before a backoff that doubles with each failure in a row.
    pub(super) fn authentication_failed(&mut self, node: NodeId, now: Instant) {
        let (base, max) = (self.failure_backoff, self.failure_backoff_max);
        let e = self.entry(node);
        let delay = base
            .saturating_mul(2u32.saturating_pow(e.auth_failures.min(16)))
            .min(max.max(base));
        e.auth_failures = e.auth_failures.saturating_add(1);
        e.auth_retry_at = Some(now + delay);
        if let LinkState::Connected { session, .. } = &mut e.state {
            let renewal = session.is_renewal();
            *session = Session::Due { renewal };
        }
    }

    /// When sessions are to be renewed.
    pub(super) fn renewal_times(&self) -> impl Iterator<Item = Instant> + '_ {
        self.nodes.values().filter_map(|e| match e.session() {
            Some(Session::Authenticated { renew_at }) => *renew_at,
            _ => None,
        })
    }

    /// When connections waiting to authenticate after a failure may try again.
    pub(super) fn authentication_retry_times(&self) -> impl Iterator<Item = Instant> + '_ {
        self.nodes
            .values()
            .filter(|e| matches!(e.session(), Some(Session::Due { .. })))
            .filter_map(|e| e.auth_retry_at)
    }
}

/// The SaslHandshake version sent: v1, whose tokens travel in SaslAuthenticate requests
/// (v0 sends them as raw frames, which this client does not speak).
pub(super) const SASL_HANDSHAKE_VERSION: i16 = 1;

fn is_sasl(api: ApiKey) -> bool {
    matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::messages::api_versions::ApiVersion;
    use crate::codec::messages::MetadataRequest;
    use crate::config::{SaslConfig, SaslMechanism, Secret};

    fn node(id: NodeId) -> Node {
        Node {
            id,
            host: "b".into(),
            port: 9092,
            rack: None,
        }
    }

    fn sasl_config() -> SaslConfig {
        SaslConfig {
            mechanism: Some(SaslMechanism::Plain),
            username: Some("u".into()),
            password: Some(Secret::new("p")),
            ..SaslConfig::default()
        }
    }

    /// A node connected and authenticated at `t0` with a session of `lifetime`.
    fn authenticated(lifetime: Option<Duration>, t0: Instant) -> Nodes {
        let ms = Duration::from_millis(50);
        let mut nodes = Nodes::new("c".into(), ms, 8 * ms, true);
        assert!(matches!(
            nodes.ensure_ready(&node(1)),
            Readiness::Sent { .. }
        ));
        let resp = ApiVersionsResponse {
            api_keys: ApiKey::ALL
                .iter()
                .map(|k| ApiVersion {
                    api_key: *k as i16,
                    min_version: k.versions().min,
                    max_version: k.versions().max,
                })
                .collect(),
            ..ApiVersionsResponse::default()
        };
        nodes.handle_api_versions(1, 4, Ok(resp)).unwrap();
        assert!(!nodes.is_ready(1), "versions known, not authenticated yet");
        assert_eq!(nodes.due_for_authentication(t0), vec![1]);
        let auth = Authenticator::new(1, &sasl_config()).unwrap();
        assert!(matches!(
            nodes.begin_authentication(1, auth, t0),
            Some(Ok(_))
        ));
        assert!(nodes.authenticator(1).is_some());
        nodes.authenticated(1, lifetime);
        assert!(nodes.is_ready(1));
        nodes.clear_outbox();
        nodes
    }

    #[test]
    fn a_session_is_renewed_at_90_percent_and_requests_wait_for_it() {
        let t0 = Instant::now();
        let mut nodes = authenticated(Some(Duration::from_secs(10)), t0);
        assert_eq!(
            nodes.renewal_times().collect::<Vec<_>>(),
            vec![t0 + Duration::from_secs(9)]
        );
        // Queued before the renewal time: goes out, unless still queued at that time.
        nodes
            .queue(&node(1), 0, &MetadataRequest::default())
            .unwrap();
        nodes.expire_sessions(t0 + Duration::from_millis(8_999));
        assert!(nodes.is_ready(1));
        nodes.expire_sessions(t0 + Duration::from_secs(9));
        assert!(!nodes.is_ready(1) && nodes.is_renewing(1));
        assert!(!nodes.has_transmits(), "what was still queued waits");
        nodes
            .queue(&node(1), 0, &MetadataRequest::default())
            .unwrap();
        assert_eq!((nodes.queued(), nodes.held(1)), (2, 2));
        // The renewal itself goes out; the rest after it.
        let auth = Authenticator::new(1, &sasl_config()).unwrap();
        let t1 = t0 + Duration::from_secs(9);
        nodes.begin_authentication(1, auth, t1).unwrap().unwrap();
        assert_eq!(
            nodes.pop_transmit().map(|t| t.api_key),
            Some(ApiKey::SaslHandshake)
        );
        assert!(nodes.pop_transmit().is_none());
        nodes.authenticated(1, Some(Duration::from_secs(10)));
        let after: Vec<ApiKey> = std::iter::from_fn(|| nodes.pop_transmit())
            .map(|t| t.api_key)
            .collect();
        assert_eq!(after, vec![ApiKey::Metadata, ApiKey::Metadata]);
        assert_eq!(nodes.queued(), 0);
    }

    #[test]
    fn unlimited_or_huge_lifetimes_are_never_renewed() {
        let t0 = Instant::now();
        let nodes = authenticated(None, t0);
        assert_eq!(nodes.renewal_times().count(), 0);
        let huge = Duration::from_millis(i64::MAX as u64);
        let nodes = authenticated(Some(huge), t0);
        // Either beyond what an Instant holds (no renewal) or far ahead: never now.
        assert!(nodes
            .renewal_times()
            .all(|t| t > t0 + Duration::from_secs(1 << 40)));
    }

    #[test]
    fn failures_back_off_doubling_to_the_maximum_across_reconnects() {
        let t0 = Instant::now();
        let mut nodes = authenticated(None, t0);
        let ms = Duration::from_millis;
        let mut delays = Vec::new();
        for _ in 0..6 {
            nodes.authentication_failed(1, t0);
            let retry = nodes.nodes[&1].auth_retry_at.unwrap();
            delays.push(retry - t0);
        }
        assert_eq!(
            delays,
            vec![ms(50), ms(100), ms(200), ms(400), ms(400), ms(400)]
        );
        assert_eq!(nodes.due_for_authentication(t0), Vec::<NodeId>::new());
        assert_eq!(nodes.authentication_retry_times().count(), 1);
        // A reconnect does not skip the backoff.
        nodes.disconnected(1, t0);
        assert_eq!(nodes.nodes[&1].auth_retry_at, Some(t0 + ms(400)));
    }

    #[test]
    fn a_disconnect_drops_what_waited_for_the_renewal() {
        let t0 = Instant::now();
        let mut nodes = authenticated(Some(Duration::from_secs(1)), t0);
        nodes.expire_sessions(t0 + Duration::from_secs(1));
        nodes
            .queue(&node(1), 0, &MetadataRequest::default())
            .unwrap();
        assert_eq!(nodes.queued(), 1);
        nodes.disconnected(1, t0 + Duration::from_secs(1));
        assert_eq!(nodes.queued(), 0);
        assert!(!nodes.is_renewing(1) && !nodes.is_ready(1));
    }
}
