//! [`Transport`]: what [`KafkaConsumer`](crate::KafkaConsumer) needs of a network, the
//! clock included.

use std::io;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::network::{Completion, NetworkClient, NodeId, WakeupHandle};

/// The network and the clock of a [`KafkaConsumer`](crate::KafkaConsumer).
///
/// The consumer does all its IO and reads all its time through this: it sends requests,
/// drives IO in [`poll`](Self::poll) (the only call that may block), takes what finished
/// with [`poll_completion`](Self::poll_completion), and asks [`now`](Self::now) whenever
/// it needs the time. [`NetworkClient`] (sockets, `Instant::now()`) is the transport of
/// [`KafkaConsumer::new`](crate::KafkaConsumer::new); with the feature `testing`,
/// `consumer_net::testing::SimTransport` plays a simulated cluster on a simulated clock,
/// so a service's loop can be tested without sockets or sleeping.
///
/// Frames cross it in one form both ways: without Kafka's 4-byte size prefix, which the
/// transport writes and reads itself. A request is handed over as header and body (as
/// `Transmit::frame`); a [`Completion::Response`] frame comes back starting with the
/// correlation id. A transport pairs answers with requests per node; it does not look
/// inside frames otherwise.
pub trait Transport {
    /// Queues request `correlation_id` for `node` at `address` (`host:port`), connecting
    /// if needed; the bytes may leave in the next [`poll`](Self::poll). `timeout`: how long
    /// the answer may take before the connection is given up (`None`: the transport's
    /// request timeout). `now` is [`now`](Self::now) as the caller read it.
    fn send(
        &mut self,
        node: NodeId,
        address: &str,
        correlation_id: i32,
        frame: Bytes,
        timeout: Option<Duration>,
        now: Instant,
    );

    /// Drives IO for at most `timeout` (`None`: until something happens), returning
    /// early when something finished or on a wake. Failures of connections become
    /// [`Completion::Disconnected`]; an error is a failure of the transport itself.
    fn poll(&mut self, timeout: Option<Duration>, now: Instant) -> io::Result<()>;

    /// The next finished item, in the order they finished.
    fn poll_completion(&mut self) -> Option<Completion>;

    /// A handle that interrupts a blocked [`poll`](Self::poll), from any thread.
    fn waker(&self) -> WakeupHandle;

    /// Whether the last [`poll`](Self::poll) consumed a wake.
    fn was_woken(&self) -> bool;

    /// Closes every connection; what is pending is never answered.
    fn close(&mut self);

    /// The time now, on the transport's clock.
    fn now(&self) -> Instant;
}

impl Transport for NetworkClient {
    fn send(
        &mut self,
        node: NodeId,
        address: &str,
        correlation_id: i32,
        frame: Bytes,
        timeout: Option<Duration>,
        now: Instant,
    ) {
        match timeout {
            Some(timeout) => NetworkClient::send_with_timeout(
                self,
                node,
                address,
                correlation_id,
                frame,
                timeout,
                now,
            ),
            None => NetworkClient::send(self, node, address, correlation_id, frame, now),
        }
    }

    fn poll(&mut self, timeout: Option<Duration>, now: Instant) -> io::Result<()> {
        NetworkClient::poll(self, timeout, now)
    }

    fn poll_completion(&mut self) -> Option<Completion> {
        NetworkClient::poll_completion(self)
    }

    fn waker(&self) -> WakeupHandle {
        NetworkClient::waker(self)
    }

    fn was_woken(&self) -> bool {
        NetworkClient::was_woken(self)
    }

    fn close(&mut self) {
        NetworkClient::close(self);
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}
