//! The simulated network as a transport: for a consumer driven from outside the kit (a
//! blocking facade such as consumer-net's `KafkaConsumer`) instead of by
//! [`TestCluster::step`]. Requests go in with [`SimNetwork::send`];
//! [`SimNetwork::poll`] does the network's work and, when nothing is due, jumps the
//! simulated clock to the next event; answers and lost connections come back as
//! [`NetEvent`]s. It is the same model of the network as `step` uses: only who takes the
//! client's outbox differs.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::{
    decode_response_frame, encode_request_frame, ApiKey, Reader, Request, RequestHeader,
};
use crate::consumer::{NodeId, Transmit};

use super::cluster::TestCluster;
use super::network::NetEvent;

/// A [`TestCluster`] shared by a test and the [`SimNetwork`]s playing its network: the
/// test keeps one handle to produce records, inject faults and look at what the brokers
/// saw while consumers run. Do not hold a borrow across a call into a consumer: its
/// network borrows the cluster.
pub type SharedCluster = Rc<RefCell<TestCluster>>;

impl TestCluster {
    /// This cluster behind a shared handle, for [`SimNetwork::new`].
    pub fn shared(self) -> SharedCluster {
        Rc::new(RefCell::new(self))
    }
}

/// The network of one client of a [`SharedCluster`], shaped like a network client.
///
/// Frames cross it as they cross a real network client, in one form both ways: without
/// their 4-byte size prefix. A request is handed to [`send`](Self::send) as header and
/// body (as [`Transmit::frame`](crate::consumer::Transmit::frame)); an answer comes back
/// from [`poll_completion`](Self::poll_completion) starting with the correlation id (as
/// [`Consumer::handle_response`](crate::consumer::Consumer::handle_response) takes it).
///
/// Each `SimNetwork` is a client of its own ([`client`](Self::client) in
/// [`SeenRequest::client`](super::SeenRequest::client), in fault rules and in
/// [`TestCluster::lost_connections`]), so several consumers can share a cluster and its
/// clock. Only the one polling makes progress: the others are applications that are not
/// calling their consumer.
#[derive(Debug)]
pub struct SimNetwork {
    cluster: SharedCluster,
    client: usize,
    /// Requests sent and not yet handed to the brokers (that happens in `poll`).
    unsent: Vec<Transmit>,
    /// Requests sent with [`call`](Self::call): its correlation ids.
    calls: i32,
}

impl SimNetwork {
    /// A new client of `cluster`.
    pub fn new(cluster: &SharedCluster) -> Self {
        let client = {
            let mut c = cluster.borrow_mut();
            let n = c.next_client;
            c.next_client += 1;
            n
        };
        Self {
            cluster: Rc::clone(cluster),
            client,
            unsent: Vec::new(),
            calls: 0,
        }
    }

    /// Its client number.
    pub fn client(&self) -> usize {
        self.client
    }

    /// The cluster it plays the network of.
    pub fn cluster(&self) -> &SharedCluster {
        &self.cluster
    }

    /// The simulated now.
    pub fn now(&self) -> Instant {
        self.cluster.borrow().now()
    }

    /// Queues a request for `node` at `address` (`host:port`); the broker gets it at the
    /// next [`poll`](Self::poll). `frame` is the request's header and body (no size prefix).
    /// `timeout`: how long the answer may take (`None`: the cluster's
    /// [`request_timeout`](TestCluster::request_timeout)).
    ///
    /// Panics on a frame that is not a request (a client bug).
    pub fn send(
        &mut self,
        node: NodeId,
        address: &str,
        correlation_id: i32,
        frame: Bytes,
        timeout: Option<Duration>,
    ) {
        let header =
            RequestHeader::decode(&mut Reader::new(frame.clone())).expect("request header");
        let api_key = ApiKey::from_i16(header.api_key).expect("known API key");
        self.unsent.push(Transmit {
            node,
            address: address.to_owned(),
            correlation_id,
            api_key,
            api_version: header.api_version,
            frame,
            timeout,
        });
    }

    /// The network's work for this client: hand the brokers the requests sent, connect,
    /// expire requests, deliver due answers. When that hands the client nothing, the
    /// clock jumps to the next event of the client or of the groups (a delayed answer, the
    /// end of a long poll, a request timeout, a reconnect backoff, a group's timer), by at
    /// most `timeout` (`None`: no bound), and the network works again. Never sleeps.
    pub fn poll(&mut self, timeout: Option<Duration>) {
        let client = self.client;
        let mut cluster = self.cluster.borrow_mut();
        let c = &mut *cluster;
        let start = c.now();
        c.groups.tick(start);
        for t in self.unsent.drain(..) {
            c.receive(client, t);
        }
        c.network_round(client);
        if c.outbox.get(&client).is_some_and(|q| !q.is_empty()) {
            return;
        }
        // A deadline that passed and produced nothing would not move the clock: nudge it.
        let next = [c.net_deadline(client), c.groups.next_deadline()]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.max(start + Duration::from_millis(1)));
        let limit = timeout.map(|t| start + t);
        let target = match (next, limit) {
            (Some(n), Some(l)) => n.min(l),
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => return,
        };
        if target <= start {
            return;
        }
        c.advance_to(target);
        c.groups.tick(target);
        c.network_round(client);
    }

    /// Sends `req` to `broker` at `version` and polls until it is answered: a scripted
    /// client speaking raw requests (say, a consumer group member played by the test next
    /// to real consumers). Fault rules apply as to any request; the clock moves as
    /// [`poll`](Self::poll) moves it. Other answers to this client that arrive meanwhile
    /// are dropped. Returns the answer, or the [`NetEvent::Disconnected`] that failed it.
    ///
    /// Panics when the request can be neither answered nor failed (held, with nothing
    /// else left to happen).
    pub fn call<R: Request>(
        &mut self,
        broker: i32,
        version: i16,
        req: &R,
    ) -> Result<R::Response, NetEvent> {
        let address = self.cluster.borrow().brokers[&broker].address();
        self.calls += 1;
        let corr = self.calls;
        let client_id = format!("raw-{}", self.client);
        let frame = encode_request_frame(corr, Some(&client_id), version, req)
            .unwrap_or_else(|e| panic!("{} v{version}: {e}", R::API_KEY));
        self.send(broker, &address, corr, frame.slice(4..), None);
        for _ in 0..1000 {
            self.poll(None);
            while let Some(event) = self.poll_completion() {
                match event {
                    NetEvent::Response {
                        correlation_id,
                        frame,
                        ..
                    } if correlation_id == corr => {
                        let (_, resp) = decode_response_frame::<R>(frame, version)
                            .unwrap_or_else(|e| panic!("{} v{version} answer: {e}", R::API_KEY));
                        return Ok(resp);
                    }
                    NetEvent::Disconnected { ref failed, .. } if failed.contains(&corr) => {
                        return Err(event);
                    }
                    _ => {}
                }
            }
        }
        panic!("{} to broker {broker}: no answer", R::API_KEY)
    }

    /// The next answer or lost connection, in the order they happened.
    pub fn poll_completion(&mut self) -> Option<NetEvent> {
        self.cluster
            .borrow_mut()
            .outbox
            .get_mut(&self.client)?
            .pop_front()
    }

    /// Closes every connection of this client: what is in flight or queued is never
    /// answered, and nothing more is handed back.
    pub fn close(&mut self) {
        let client = self.client;
        let mut c = self.cluster.borrow_mut();
        c.conns.retain(|(cl, _), _| *cl != client);
        c.links.retain(|(cl, _), _| *cl != client);
        c.outbox.remove(&client);
        self.unsent.clear();
    }
}
