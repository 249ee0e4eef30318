//! The network between the clients and the brokers: connections, answers in order per
//! connection, reconnect backoff, request timeouts and cut connections.
//!
//! The model knows no consumer: what it hands a client (an answer, a lost connection) goes
//! to that client's outbox as a [`NetEvent`]. The driver hands a sans-IO consumer its
//! events right after each step of the model ([`TestCluster::step`]); a
//! [`SimNetwork`](super::SimNetwork) hands them to whatever drives it, as a network client
//! would.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::messages::{FetchRequest, JoinGroupRequest, SyncGroupRequest};
use crate::codec::{Reader, RequestHeader};
use crate::consumer::{Consumer, NodeId, Transmit};

use super::broker::encode;
use super::cluster::TestCluster;
use super::driver::{self, Member};
use super::fetch_sessions::SessionAnswer;
use super::group::Answer;
use super::sasl::ConnSasl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gate {
    At(Instant),
    Held,
    Dropped,
}

#[derive(Debug)]
pub(super) enum Reply {
    /// A frame without its size prefix.
    Frame(Bytes),
    /// A fetch waiting for data until `deadline`.
    LongPoll {
        req: FetchRequest,
        version: i16,
        deadline: Instant,
        session: SessionAnswer,
    },
    /// A JoinGroup or SyncGroup the coordinator answers once the group gets there.
    Parked { version: i16, ticket: u64 },
}

#[derive(Debug)]
pub(super) struct Pending {
    pub(super) correlation_id: i32,
    pub(super) sent_at: Instant,
    /// How long the client waits for the answer.
    pub(super) timeout: Duration,
    pub(super) gate: Gate,
    pub(super) reply: Reply,
    /// The broker closes the connection once this answer is out (a failed authentication).
    pub(super) close_after: bool,
}

#[derive(Debug)]
pub(super) struct Connection {
    pub(super) broker: i32,
    pub(super) pending: VecDeque<Pending>,
    /// The broker's SASL state of the connection.
    pub(super) sasl: ConnSasl,
}

/// The network client's view of one node while it has no connection: like the real one,
/// it waits out a reconnect backoff after each lost connection or failed attempt, keeping
/// requests queued meanwhile.
#[derive(Debug, Default)]
pub(super) struct Link {
    pub(super) failures: u32,
    pub(super) retry_at: Option<Instant>,
    pub(super) queued: Vec<Transmit>,
}

/// A connection or link of one client to one of its nodes.
pub(super) type Endpoint = (usize, NodeId);

/// What the network hands one client, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The answer to request `correlation_id` on connection `node`.
    Response {
        /// The client's node id of the connection.
        node: NodeId,
        /// The request answered.
        correlation_id: i32,
        /// The response frame without its size prefix: it starts with the correlation id.
        frame: Bytes,
    },
    /// The connection `node` is gone, or could not be made: `failed` will never be answered.
    Disconnected {
        /// The client's node id of the connection.
        node: NodeId,
        /// Requests in flight and queued for the connection, in the order sent.
        failed: Vec<i32>,
        /// Why.
        cause: DisconnectCause,
    },
}

/// Why a simulated connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectCause {
    /// Cut by the test or by a fault ([`Action::Cut`](super::Action::Cut), a broker going
    /// down): the peer closed it.
    Cut,
    /// Connecting to `address` was refused (the broker is down or unknown).
    Refused {
        /// The `host:port` tried.
        address: String,
    },
    /// Request `correlation_id` was not answered within its timeout.
    RequestTimeout {
        /// The oldest request that expired.
        correlation_id: i32,
    },
}

impl TestCluster {
    /// Answers held so far.
    pub fn held(&self) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.pending.iter())
            .filter(|p| p.gate == Gate::Held)
            .count()
    }

    /// Lets every held answer go (at the current time).
    pub fn release_held(&mut self) {
        let now = self.now();
        for p in self.conns.values_mut().flat_map(|c| c.pending.iter_mut()) {
            if p.gate == Gate::Held {
                p.gate = Gate::At(now);
            }
        }
    }

    /// Closes every connection of the consumer to `broker`; their requests fail.
    pub fn cut(&mut self, consumer: &mut Consumer, broker: i32) {
        self.cut_client(0, broker);
        self.hand_over(0, consumer);
    }

    /// Closes every connection of `member` to `broker`; their requests fail.
    pub fn cut_member(&mut self, member: &mut Member, broker: i32) {
        self.cut_client(member.client, broker);
        self.hand_over(member.client, &mut member.consumer);
    }

    /// Closes every connection of every client to `broker`; their requests fail. Clients
    /// learn of it at their next step (a [`Member`]) or poll (a
    /// [`SimNetwork`](super::SimNetwork)); the consumer driven with [`step`](Self::step)
    /// too.
    pub fn cut_all(&mut self, broker: i32) {
        let clients: Vec<usize> = self.conns.keys().map(|(c, _)| *c).collect();
        for client in clients {
            self.cut_client(client, broker);
        }
    }

    pub(super) fn cut_client(&mut self, client: usize, broker: i32) {
        let nodes: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|((c, _), conn)| *c == client && conn.broker == broker)
            .map(|((_, n), _)| *n)
            .collect();
        for node in nodes {
            self.cut_endpoint(client, node, DisconnectCause::Cut);
        }
    }

    /// Closes the consumer's connection `node`; its requests fail.
    pub fn cut_node(&mut self, consumer: &mut Consumer, node: NodeId) {
        self.cut_endpoint(0, node, DisconnectCause::Cut);
        self.hand_over(0, consumer);
    }

    /// Closes the consumer's connection to its group coordinator; true if there was one.
    pub fn cut_coordinator(&mut self, consumer: &mut Consumer) -> bool {
        self.cut_coordinator_of(0, consumer)
    }

    /// Closes `member`'s connection to its group coordinator; true if there was one.
    pub fn cut_member_coordinator(&mut self, member: &mut Member) -> bool {
        self.cut_coordinator_of(member.client, &mut member.consumer)
    }

    fn cut_coordinator_of(&mut self, client: usize, consumer: &mut Consumer) -> bool {
        let node = driver::coordinator_node(consumer);
        let Some(node) = node else {
            return false;
        };
        let open = self.conns.contains_key(&(client, node));
        self.cut_endpoint(client, node, DisconnectCause::Cut);
        self.hand_over(client, consumer);
        open
    }

    pub(super) fn cut_endpoint(&mut self, client: usize, node: NodeId, cause: DisconnectCause) {
        let Some(conn) = self.conns.remove(&(client, node)) else {
            return;
        };
        let failed: Vec<i32> = conn.pending.iter().map(|p| p.correlation_id).collect();
        self.lost(client, node, failed, cause);
    }

    /// The connection to `node` is gone (or could not be made): schedule the reconnect,
    /// fail `failed` and whatever waited for the connection.
    fn lost(&mut self, client: usize, node: NodeId, mut failed: Vec<i32>, cause: DisconnectCause) {
        let now = self.now();
        let base = self.reconnect_backoff;
        let max = self.reconnect_backoff_max;
        let link = self.links.entry((client, node)).or_default();
        let delay = base
            .saturating_mul(2u32.saturating_pow(link.failures.min(16)))
            .min(max);
        link.failures += 1;
        link.retry_at = Some(now + delay);
        failed.extend(link.queued.drain(..).map(|t| t.correlation_id));
        if client == 0 {
            self.disconnects.push((node, failed.clone()));
        }
        self.lost_connections.push((client, node));
        self.outbox
            .entry(client)
            .or_default()
            .push_back(NetEvent::Disconnected {
                node,
                failed,
                cause,
            });
    }

    /// Attempts the connection `node`'s queued requests wait for, if its backoff is over.
    pub(super) fn try_connect(&mut self, client: usize, node: NodeId) -> bool {
        let now = self.now();
        let key = (client, node);
        let Some(link) = self.links.get_mut(&key) else {
            return false;
        };
        if link.queued.is_empty() || link.retry_at.is_some_and(|t| t > now) {
            return false;
        }
        let address = link.queued[0].address.clone();
        let broker = self.broker_at(&address).filter(|b| !self.brokers[b].down);
        let Some(broker) = broker else {
            self.lost(
                client,
                node,
                Vec::new(),
                DisconnectCause::Refused { address },
            );
            return true;
        };
        let link = self.links.get_mut(&key).expect("link");
        let queued = std::mem::take(&mut link.queued);
        link.failures = 0;
        self.conns.insert(
            key,
            Connection {
                broker,
                pending: VecDeque::new(),
                sasl: ConnSasl::default(),
            },
        );
        if client == 0 {
            self.connections_opened.push((node, queued[0].api_key));
        }
        for t in queued {
            if !self.conns.contains_key(&key) {
                // A scripted cut closed it again: the rest waits for the next connection.
                self.links.entry(key).or_default().queued.push(t);
                continue;
            }
            self.process(client, broker, t);
        }
        true
    }
    /// Requests in flight (received, not answered yet).
    pub fn in_flight(&self) -> usize {
        self.conns.values().map(|c| c.pending.len()).sum()
    }

    /// Closes every connection and link of `client`, dropping what they hold (the
    /// consumer closed and cancelled those requests itself).
    pub(super) fn close_client(&mut self, client: usize) {
        self.conns.retain(|(c, _), _| *c != client);
        self.links.retain(|(c, _), _| *c != client);
        self.outbox.remove(&client);
    }

    /// Requests of `client` the network holds: received and not answered yet, or
    /// waiting for a connection.
    pub fn outstanding(&self, client: usize) -> usize {
        let sent: usize = self
            .conns
            .iter()
            .filter(|((c, _), _)| *c == client)
            .map(|(_, conn)| conn.pending.len())
            .sum();
        let waiting: usize = self
            .links
            .iter()
            .filter(|((c, _), _)| *c == client)
            .map(|(_, link)| link.queued.len())
            .sum();
        sent + waiting
    }

    /// The next network event of `client`.
    pub(super) fn net_deadline(&self, client: usize) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n| n.min(t)));
        };
        for (_, link) in self
            .links
            .iter()
            .filter(|((c, _), l)| *c == client && !l.queued.is_empty())
        {
            if let Some(t) = link.retry_at {
                consider(t);
            }
        }
        for (_, conn) in self.conns.iter().filter(|((c, _), _)| *c == client) {
            for p in &conn.pending {
                consider(p.sent_at + p.timeout);
            }
            // Answers go out in order: only the first one waits for a time of its own.
            let Some(p) = conn.pending.front() else {
                continue;
            };
            match (&p.gate, &p.reply) {
                (Gate::At(_), Reply::LongPoll { deadline, .. }) => consider(*deadline),
                (Gate::At(t), Reply::Frame(_)) => consider(*t),
                (Gate::At(t), Reply::Parked { ticket, .. }) if self.groups.has_answer(*ticket) => {
                    consider(*t)
                }
                _ => {}
            }
        }
        next
    }

    fn broker_at(&self, address: &str) -> Option<i32> {
        self.brokers
            .values()
            .find(|b| b.address() == address)
            .map(|b| b.id)
    }

    pub(super) fn receive(&mut self, client: usize, t: Transmit) {
        let frame = t.frame.clone();
        let header = RequestHeader::decode(&mut Reader::new(frame.clone())).expect("header");
        assert_eq!(header.api_key, t.api_key as i16);
        assert_eq!(header.api_version, t.api_version);
        assert_eq!(header.correlation_id, t.correlation_id);

        match self.conns.get(&(client, t.node)) {
            Some(conn) => {
                let broker = conn.broker;
                self.process(client, broker, t);
            }
            None => {
                let node = t.node;
                self.links.entry((client, node)).or_default().queued.push(t);
                self.try_connect(client, node);
            }
        }
    }

    /// Closes connections with an unanswered request older than its timeout.
    pub(super) fn expire_requests(&mut self, client: usize) -> bool {
        let now = self.now();
        let expired: Vec<(NodeId, i32)> = self
            .conns
            .iter()
            .filter(|((c, _), _)| *c == client)
            .filter_map(|((_, n), conn)| {
                let p = conn.pending.iter().find(|p| p.sent_at + p.timeout <= now)?;
                Some((*n, p.correlation_id))
            })
            .collect();
        for &(node, correlation_id) in &expired {
            self.cut_endpoint(
                client,
                node,
                DisconnectCause::RequestTimeout { correlation_id },
            );
        }
        !expired.is_empty()
    }

    /// Delivers due answers, in order on each connection, to the client's outbox.
    pub(super) fn deliver(&mut self, client: usize) -> bool {
        let now = self.now();
        let mut progress = false;
        let nodes: Vec<NodeId> = self
            .conns
            .keys()
            .filter(|(c, _)| *c == client)
            .map(|(_, n)| *n)
            .collect();
        for node in nodes {
            while let Some(conn) = self.conns.get(&(client, node)) {
                let broker = conn.broker;
                let Some(head) = conn.pending.front() else {
                    break;
                };
                let Gate::At(at) = head.gate else {
                    break;
                };
                if at > now {
                    break;
                }
                let frame = match &head.reply {
                    Reply::Frame(f) => f.clone(),
                    Reply::LongPoll {
                        req,
                        version,
                        deadline,
                        session,
                    } => {
                        let (resp, ready) = self.fetch(broker, *version, req, None);
                        let resp = session.finish(resp);
                        if !ready && *deadline > now {
                            break;
                        }
                        let (corr, version) = (head.correlation_id, *version);
                        self.note_fetch_errors(broker, version, &resp);
                        encode::<FetchRequest>(corr, version, &resp)
                    }
                    Reply::Parked { version, ticket } => {
                        let (corr, version, ticket) = (head.correlation_id, *version, *ticket);
                        match self.groups.take_answer(ticket) {
                            None => break,
                            Some(Answer::Join(r)) => encode::<JoinGroupRequest>(corr, version, &r),
                            Some(Answer::Sync(r)) => encode::<SyncGroupRequest>(corr, version, &r),
                        }
                    }
                };
                let conn = self.conns.get_mut(&(client, node)).expect("connection");
                let p = conn.pending.pop_front().expect("head");
                progress = true;
                self.outbox
                    .entry(client)
                    .or_default()
                    .push_back(NetEvent::Response {
                        node,
                        correlation_id: p.correlation_id,
                        frame,
                    });
                if p.close_after {
                    self.cut_endpoint(client, node, DisconnectCause::Cut);
                }
            }
        }
        progress
    }
}
