//! Testing a service built on [`KafkaConsumer`](crate::KafkaConsumer) without sockets
//! (feature `testing`): [`SimTransport`] runs the consumer over consumer-core's simulated
//! cluster, on its simulated clock. Everything of `consumer_core::testing` is re-exported
//! here, with the [`ApiKey`] and [`ErrorCode`] its fault rules take, so a test needs this
//! one module.
//!
//! ```
//! use std::time::Duration;
//! use consumer_net::testing::{tp, SimTransport, TestCluster};
//! use consumer_net::{AutoOffsetReset, KafkaConsumer};
//!
//! let cluster = TestCluster::builder().topic("events", 1).build().shared();
//! cluster.borrow_mut().fill(&tp("events", 0), 3, 3);
//! let config = cluster.borrow().config().auto_offset_reset(AutoOffsetReset::Earliest);
//! let transport = SimTransport::new(&cluster);
//! let mut consumer = KafkaConsumer::with_transport(config.build()?, transport)?;
//! consumer.assign([tp("events", 0)])?;
//! // A minute of simulated time at most; no real waiting.
//! let records = consumer.poll(Duration::from_secs(60))?;
//! assert_eq!(records.len(), 3);
//! # Ok::<(), consumer_net::KafkaError>(())
//! ```

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use consumer_core::codec::ApiKey;
pub use consumer_core::testing::*;
pub use consumer_core::ErrorCode;

use crate::network::{Completion, NetError, NodeId, WakeupHandle};
use crate::transport::Transport;

/// A [`Transport`] over a [`SharedCluster`]: the consumer's requests go to the simulated
/// brokers, and its `poll` jumps the simulated clock to the next event instead of waiting.
/// One per consumer; several consumers may share a cluster (each is a client of its own:
/// see [`SimNetwork`]).
#[derive(Debug)]
pub struct SimTransport {
    net: SimNetwork,
    wake: WakeupHandle,
    woken: bool,
}

impl SimTransport {
    /// A new client of `cluster`.
    pub fn new(cluster: &SharedCluster) -> Self {
        Self {
            net: SimNetwork::new(cluster),
            wake: WakeupHandle::flag_only(),
            woken: false,
        }
    }

    /// Its client number, as in [`SeenRequest::client`] and the kit's fault rules
    /// ([`TestCluster::on_next_from`]).
    pub fn client(&self) -> usize {
        self.net.client()
    }

    /// The simulated network it wraps.
    pub fn network(&self) -> &SimNetwork {
        &self.net
    }
}

impl Transport for SimTransport {
    fn send(
        &mut self,
        node: NodeId,
        address: &str,
        correlation_id: i32,
        frame: Bytes,
        timeout: Option<Duration>,
        _now: Instant,
    ) {
        self.net.send(node, address, correlation_id, frame, timeout);
    }

    fn poll(&mut self, timeout: Option<Duration>, _now: Instant) -> io::Result<()> {
        // A wake ends the wait at once, as it does on a real network client.
        self.woken = self.wake.take();
        let timeout = if self.woken {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        self.net.poll(timeout);
        Ok(())
    }

    fn poll_completion(&mut self) -> Option<Completion> {
        Some(match self.net.poll_completion()? {
            NetEvent::Response {
                node,
                correlation_id,
                frame,
            } => Completion::Response {
                node,
                correlation_id,
                frame,
            },
            NetEvent::Disconnected {
                node,
                failed,
                cause,
            } => Completion::Disconnected {
                node,
                failed,
                reason: match cause {
                    DisconnectCause::Cut => NetError::PeerClosed,
                    DisconnectCause::Refused { address } => NetError::ConnectFailed {
                        address,
                        source: Arc::new(io::ErrorKind::ConnectionRefused.into()),
                    },
                    DisconnectCause::RequestTimeout { correlation_id } => {
                        NetError::RequestTimeout { correlation_id }
                    }
                },
            },
        })
    }

    fn waker(&self) -> WakeupHandle {
        self.wake.clone()
    }

    fn was_woken(&self) -> bool {
        self.woken
    }

    fn close(&mut self) {
        self.net.close();
    }

    fn now(&self) -> Instant {
        self.net.now()
    }
}
