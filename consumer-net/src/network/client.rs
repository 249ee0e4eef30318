//! The network client: per-node connections and request queues driven by one mio poll.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use log::{debug, trace, warn};
use mio::event::Event;
use mio::{Events, Poll, Token, Waker};

use super::backoff::Reconnect;
use super::connection::{Connection, ReadStatus};
use super::queue::RequestQueue;
use super::tls::UNANSWERED_CLOSES;
use super::{Completion, NetConfig, NetError, NodeId, TlsError, WakeupHandle};

const WAKER_TOKEN: Token = Token(0);
const EVENTS_CAPACITY: usize = 256;

/// Readiness copied out of a mio event, so events can be handled while `self` is borrowed.
#[derive(Debug, Clone, Copy)]
struct Ready {
    readable: bool,
    writable: bool,
    /// Error or hang-up: a read surfaces the cause.
    closed: bool,
}

impl Ready {
    fn of(event: &Event) -> Self {
        Ready {
            readable: event.is_readable(),
            writable: event.is_writable(),
            closed: event.is_error() || event.is_read_closed() || event.is_write_closed(),
        }
    }
}

/// Everything known about one node; kept across reconnects for the backoff state.
#[derive(Debug)]
struct NodeState {
    address: String,
    queue: RequestQueue,
    conn: Option<Connection>,
    reconnect: Reconnect,
    /// Connections closed by the peer before any answer (during the TLS handshake, or
    /// once connected), in a row. From [`UNANSWERED_CLOSES`] on they are reported with
    /// their likely cause: plaintext, a TLS listener (OpenSSL's resets a connection that
    /// does not start with a ClientHello, sending nothing back:
    /// [`TlsError::ClosedWithoutAnswer`]); during the handshake, a plaintext listener
    /// ([`TlsError::ClosedDuringHandshake`]); after it, a refused client certificate whose
    /// TLS 1.3 alert was lost to the reset. One or two may be a broker going down.
    unanswered_closes: u32,
}

/// A thread-free client multiplexing one connection per node over a mio poll.
///
/// [`send`](Self::send) only queues; all IO happens inside [`poll`](Self::poll), whose
/// results are drained with [`poll_completion`](Self::poll_completion).
#[derive(Debug)]
pub struct NetworkClient {
    config: NetConfig,
    poll: Poll,
    events: Events,
    /// Reused buffer of the current batch of events.
    ready: Vec<(Token, Ready)>,
    nodes: IndexMap<NodeId, NodeState>,
    tokens: HashMap<Token, NodeId>,
    next_token: usize,
    completions: VecDeque<Completion>,
    wake: WakeupHandle,
    woken: bool,
}

impl NetworkClient {
    /// Creates a client with its own mio poll and waker.
    ///
    /// `socket_send_buffer`/`socket_receive_buffer` cannot be applied without `unsafe`
    /// or a socket crate; when set they are logged and the OS defaults are used.
    pub fn new(config: NetConfig) -> io::Result<Self> {
        if config.socket_send_buffer.is_some() || config.socket_receive_buffer.is_some() {
            warn!("socket buffer sizes are not supported yet; using the OS defaults");
        }
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER_TOKEN)?;
        Ok(NetworkClient {
            config,
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            ready: Vec::with_capacity(EVENTS_CAPACITY),
            nodes: IndexMap::new(),
            tokens: HashMap::new(),
            next_token: WAKER_TOKEN.0 + 1,
            completions: VecDeque::new(),
            wake: WakeupHandle::new(waker),
            woken: false,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Queues a request frame (header and body, without the size prefix, which is
    /// written before it) for `node` at `address` ("host:port"), with the configured
    /// request timeout. Responses come back the same way, without their size prefix.
    ///
    /// Opens the connection lazily (non-blocking connect) unless one exists or the
    /// reconnect backoff is running; the bytes are written by [`poll`](Self::poll).
    pub fn send(
        &mut self,
        node: NodeId,
        address: &str,
        correlation_id: i32,
        frame: Bytes,
        now: Instant,
    ) {
        let timeout = self.config.request_timeout;
        self.send_with_timeout(node, address, correlation_id, frame, timeout, now);
    }

    /// Like [`send`](Self::send) with a per-request timeout (e.g. JoinGroup, which may
    /// legitimately wait for a whole rebalance).
    pub fn send_with_timeout(
        &mut self,
        node: NodeId,
        address: &str,
        correlation_id: i32,
        frame: Bytes,
        timeout: Duration,
        now: Instant,
    ) {
        let state = self.nodes.entry(node).or_insert_with(|| NodeState {
            address: address.to_owned(),
            queue: RequestQueue::default(),
            conn: None,
            reconnect: Reconnect::new(node),
            unanswered_closes: 0,
        });
        if state.address != address {
            // A moved broker: the current connection (if any) stays; reconnects use the new address.
            debug!("node {node} moved from {} to {address}", state.address);
            address.clone_into(&mut state.address);
        }
        trace!(
            "queued request {correlation_id} ({} bytes) for node {node}",
            frame.len()
        );
        state
            .queue
            .push(correlation_id, now.checked_add(timeout), frame);
        if state.conn.is_none() && state.reconnect.remaining(now).is_zero() {
            self.connect(node, now);
        }
    }

    /// Drives all IO for at most `timeout` (`None`: until an event), or until woken.
    ///
    /// Order, as in Kafka: start due connects and expire timeouts, write what can be
    /// written, wait for one batch of events and handle it (connects, reads, writes),
    /// expire timeouts again and write again. Does not block when completions are
    /// already waiting, and never waits past [`next_timeout`](Self::next_timeout).
    /// Per-connection failures become [`Completion::Disconnected`]; only a failure of
    /// the poll itself is returned as an error.
    pub fn poll(&mut self, timeout: Option<Duration>, now: Instant) -> io::Result<()> {
        self.woken = false;
        self.start_due_connects(now);
        self.expire(now);
        self.write_all(now);

        let wait = self.wait_time(timeout, now);
        let started = Instant::now();
        match self.poll.poll(&mut self.events, wait) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => self.events.clear(),
            Err(err) => return Err(err),
        }
        // Keep the caller's clock, advanced by the time spent waiting.
        let now = now + started.elapsed();

        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|e| (e.token(), Ready::of(e))));
        for &(token, readiness) in &ready {
            self.handle_event(token, readiness, now);
        }
        self.ready = ready;
        self.woken = self.wake.take();

        self.expire(now);
        self.start_due_connects(now);
        self.write_all(now);
        Ok(())
    }

    /// Next finished item, in the order they finished.
    pub fn poll_completion(&mut self) -> Option<Completion> {
        self.completions.pop_front()
    }

    /// Whether completions are waiting to be taken.
    pub fn has_completions(&self) -> bool {
        !self.completions.is_empty()
    }

    /// A handle that interrupts a blocked [`poll`](Self::poll) from any thread.
    pub fn waker(&self) -> WakeupHandle {
        self.wake.clone()
    }

    /// Whether the last [`poll`](Self::poll) consumed a [`WakeupHandle::wake`].
    pub fn was_woken(&self) -> bool {
        self.woken
    }

    /// Requests to `node` fully written and awaiting their response.
    pub fn in_flight(&self, node: NodeId) -> usize {
        self.nodes.get(&node).map_or(0, |s| s.queue.in_flight())
    }

    /// Whether some request to `node` is not yet fully written (waiting for the
    /// connection or for socket buffer space).
    pub fn has_unsent(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|s| s.queue.has_unsent())
    }

    /// Whether some request to `node` is queued or in flight.
    pub fn has_pending(&self, node: NodeId) -> bool {
        self.nodes.get(&node).is_some_and(|s| !s.queue.is_empty())
    }

    /// Whether the connection to `node` is established.
    pub fn is_connected(&self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .and_then(|s| s.conn.as_ref())
            .is_some_and(Connection::is_connected)
    }

    /// Whether a connection to `node` is being established.
    pub fn is_connecting(&self, node: NodeId) -> bool {
        self.nodes
            .get(&node)
            .and_then(|s| s.conn.as_ref())
            .is_some_and(|c| !c.is_connected())
    }

    /// Reconnect backoff left before a connection to `node` may be attempted; zero if
    /// one may be attempted now or a connection exists.
    pub fn connection_delay(&self, node: NodeId, now: Instant) -> Duration {
        match self.nodes.get(&node) {
            Some(state) if state.conn.is_none() => state.reconnect.remaining(now),
            _ => Duration::ZERO,
        }
    }

    /// Closes the connection to `node`; its in-flight and unsent requests complete as
    /// [`Completion::Disconnected`] with [`NetError::Closed`]. The reconnect backoff applies.
    pub fn disconnect(&mut self, node: NodeId, now: Instant) {
        self.fail_node(node, NetError::Closed, now);
    }

    /// Closes every connection, failing all pending requests with [`NetError::Closed`],
    /// and forgets all nodes (including their backoff).
    pub fn close(&mut self) {
        let now = Instant::now();
        let nodes: Vec<NodeId> = self.nodes.keys().copied().collect();
        for node in nodes {
            self.fail_node(node, NetError::Closed, now);
        }
        self.nodes.clear();
        self.tokens.clear();
    }

    /// Earliest request deadline, connection setup deadline or end of a reconnect
    /// backoff with requests waiting, so the caller can bound its own wait.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.nodes
            .values()
            .filter_map(|s| {
                let connect = s.conn.as_ref().and_then(Connection::connect_deadline);
                let request = s.queue.earliest_deadline().map(|(at, _)| at);
                let reconnect = match s.conn {
                    None if s.queue.has_unsent() => s.reconnect.ready_at(),
                    _ => None,
                };
                [connect, request, reconnect].into_iter().flatten().min()
            })
            .min()
    }

    fn wait_time(&self, timeout: Option<Duration>, now: Instant) -> Option<Duration> {
        if !self.completions.is_empty() {
            return Some(Duration::ZERO);
        }
        let internal = self
            .next_timeout()
            .map(|at| at.saturating_duration_since(now));
        match (timeout, internal) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Starts a connection attempt for `node`; failures complete its requests.
    fn connect(&mut self, node: NodeId, now: Instant) {
        let Some(state) = self.nodes.get_mut(&node) else {
            return;
        };
        // Blocking DNS, as in the Java client; addresses are tried in the order returned.
        let addrs: Vec<SocketAddr> = match state.address.to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(err) => {
                debug!("resolving {} failed: {err}", state.address);
                Vec::new()
            }
        };
        let result = if addrs.is_empty() {
            Err(NetError::Resolve {
                address: state.address.clone(),
            })
        } else {
            let token = Token(self.next_token);
            self.next_token += 1;
            Connection::connect(
                self.poll.registry(),
                token,
                &state.address,
                addrs,
                self.config.connection_setup_timeout,
                self.config.max_response_size,
                self.config.tls.as_ref(),
                now,
            )
        };
        match result {
            Ok(conn) => {
                self.tokens.insert(conn.token(), node);
                state.conn = Some(conn);
            }
            Err(err) => {
                // The attempt failed before a socket existed: back off as for any failure.
                let (base, max) = (
                    self.config.reconnect_backoff,
                    self.config.reconnect_backoff_max,
                );
                state.reconnect.disconnected(base, max, now);
                self.fail_node(node, err, now);
            }
        }
    }

    fn start_due_connects(&mut self, now: Instant) {
        let due: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, s)| {
                s.conn.is_none() && s.queue.has_unsent() && s.reconnect.remaining(now).is_zero()
            })
            .map(|(&node, _)| node)
            .collect();
        for node in due {
            self.connect(node, now);
        }
    }

    /// Handles connect deadlines and request timeouts. A timed-out request closes its
    /// connection, as in Kafka: a later response could no longer be matched reliably.
    fn expire(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (&node, state) in &self.nodes {
            let connect_due = state
                .conn
                .as_ref()
                .and_then(Connection::connect_deadline)
                .is_some_and(|at| at <= now);
            if connect_due {
                expired.push((node, None));
            } else if let Some((at, correlation_id)) = state.queue.earliest_deadline() {
                if at <= now {
                    expired.push((node, Some(correlation_id)));
                }
            }
        }
        for (node, request) in expired {
            let err = match request {
                Some(correlation_id) => NetError::RequestTimeout { correlation_id },
                None => {
                    let registry = self.poll.registry();
                    match self.nodes.get_mut(&node).and_then(|s| s.conn.as_mut()) {
                        Some(conn) => match conn.connect_timed_out(registry, now) {
                            Ok(()) => continue,
                            Err(err) => err,
                        },
                        None => continue,
                    }
                }
            };
            self.fail_node(node, err, now);
        }
    }

    /// Writes to every connection that can make progress.
    fn write_all(&mut self, now: Instant) {
        let registry = self.poll.registry();
        let mut failed = Vec::new();
        for (&node, state) in &mut self.nodes {
            if let Some(conn) = state.conn.as_mut() {
                if conn.can_write() && state.queue.has_unsent() {
                    if let Err(err) = conn.write(registry, &mut state.queue) {
                        failed.push((node, err));
                    }
                }
            }
        }
        for (node, err) in failed {
            self.fail_node(node, err, now);
        }
    }

    fn handle_event(&mut self, token: Token, ready: Ready, now: Instant) {
        if token == WAKER_TOKEN {
            // Reported through the shared flag, which survives batch boundaries.
            return;
        }
        let Some(&node) = self.tokens.get(&token) else {
            trace!("event for a closed connection ({token:?})");
            return;
        };
        let registry = self.poll.registry();
        let Some(state) = self.nodes.get_mut(&node) else {
            return;
        };
        let Some(conn) = state.conn.as_mut() else {
            return;
        };
        let completions = &mut self.completions;
        let queue = &mut state.queue;
        let result = (|| {
            let mut just_connected = false;
            if !conn.is_connected() {
                // TCP connect, then the TLS handshake if any.
                if !conn.establish(registry, now)? {
                    return Ok(());
                }
                state.reconnect.connected();
                just_connected = true;
            }
            // Just connected: the handshake may have left data unread (edge-triggered:
            // no new event would announce it).
            if ready.readable || ready.closed || just_connected {
                let mut deliver = |frame: Bytes| deliver(node, queue, completions, frame);
                if conn.read(&mut deliver)? == ReadStatus::Eof {
                    return Err(NetError::PeerClosed);
                }
            }
            if ready.writable || just_connected {
                conn.set_writable();
            }
            if ready.writable || just_connected || conn.wants_write() {
                conn.write(registry, queue)?;
            }
            Ok(())
        })();
        if let Err(err) = result {
            self.fail_node(node, err, now);
        }
    }

    /// Closes `node`'s connection (if any) and fails every pending request.
    fn fail_node(&mut self, node: NodeId, mut reason: NetError, now: Instant) {
        let Some(state) = self.nodes.get_mut(&node) else {
            return;
        };
        let had_conn = match state.conn.take() {
            Some(mut conn) => {
                if conn.answered() {
                    state.unanswered_closes = 0;
                } else if let NetError::Tls(TlsError::ClosedDuringHandshake { closes, .. }) =
                    &mut reason
                {
                    state.unanswered_closes += 1;
                    *closes = state.unanswered_closes;
                    if state.unanswered_closes >= UNANSWERED_CLOSES {
                        state.unanswered_closes = 0;
                    }
                } else if conn.is_connected() && reason.is_peer_close() {
                    state.unanswered_closes += 1;
                    if state.unanswered_closes >= UNANSWERED_CLOSES {
                        reason = TlsError::ClosedWithoutAnswer {
                            address: state.address.clone(),
                            closes: state.unanswered_closes,
                            tls: conn.is_tls(),
                        }
                        .into();
                        state.unanswered_closes = 0;
                    }
                }
                conn.deregister(self.poll.registry());
                self.tokens.remove(&conn.token());
                state.reconnect.disconnected(
                    self.config.reconnect_backoff,
                    self.config.reconnect_backoff_max,
                    now,
                );
                true
            }
            None => false,
        };
        let failed = state.queue.drain_ids();
        if had_conn || !failed.is_empty() {
            debug!(
                "node {node} ({}) disconnected: {reason}; {} request(s) failed",
                state.address,
                failed.len()
            );
            self.completions.push_back(Completion::Disconnected {
                node,
                failed,
                reason,
            });
        }
    }
}

/// Pairs a response frame with its request and queues the completion.
fn deliver(
    node: NodeId,
    queue: &mut RequestQueue,
    completions: &mut VecDeque<Completion>,
    frame: Bytes,
) -> Result<(), NetError> {
    let correlation_id = match frame.get(..4) {
        Some(&[a, b, c, d]) => i32::from_be_bytes([a, b, c, d]),
        _ => return Err(NetError::FrameTooShort { size: frame.len() }),
    };
    queue.complete(correlation_id)?;
    trace!(
        "response {correlation_id} ({} bytes) from node {node}",
        frame.len()
    );
    completions.push_back(Completion::Response {
        node,
        correlation_id,
        frame,
    });
    Ok(())
}
