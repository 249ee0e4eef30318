//! [`KafkaConsumer`]: the blocking facade a synchronous service embeds.
//!
//! It couples the sans-IO [`Consumer`] of consumer-core with a [`Transport`]: the
//! thread-free [`NetworkClient`] by default, or a simulated cluster in tests
//! ([`KafkaConsumer::with_transport`]). Nothing runs outside its methods, and every
//! reading of the clock is the transport's. Its `poll` follows the Java
//! consumer: return buffered records if any; otherwise refresh metadata and positions as
//! needed, send fetches, and drive the network until a fetch completes or the timeout
//! passes. Before returning records it sends the next fetches, so the broker works while
//! the caller processes.

mod error;
mod group;
mod metrics;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consumer_core::{
    Consumer, ConsumerConfig, ConsumerError, ConsumerRecord, ErrorCode, OffsetAndTimestamp,
    QueryId, TokenProvider, TopicPartition,
};
use log::{debug, warn};

pub use crate::network::WakeupHandle;
use crate::network::{Completion, NetConfig, NetError, NetworkClient, TlsClientConfig};
use crate::transport::Transport;

pub use consumer_core::{
    CommitMetrics, ConsumerMetrics, FetchMetrics, PartitionMetrics, RebalanceMetrics,
};
pub use error::KafkaError;
pub use group::{CommitCallback, RebalanceListener};

/// How long `close` waits for its sequence (commit, revocation, LeaveGroup, session
/// closes) at most: Java's default close timeout.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A Kafka consumer that blocks in its calls, with no thread of its own.
///
/// `T` is its network and clock: [`NetworkClient`] (sockets) unless built with
/// [`with_transport`](Self::with_transport).
#[derive(Debug)]
pub struct KafkaConsumer<T: Transport = NetworkClient> {
    core: Consumer,
    net: T,
    closed: bool,
    group: group::GroupFacade<T>,
    listed: HashMap<QueryId, ListedOffsets>,
    /// A TLS failure seen since the last blocking call returned, to return from it.
    security_failure: Option<KafkaError>,
}

type ListedOffsets = Vec<(
    TopicPartition,
    Result<Option<OffsetAndTimestamp>, ConsumerError>,
)>;

impl KafkaConsumer {
    /// A consumer for `config`; it connects lazily.
    pub fn new(config: ConsumerConfig) -> Result<Self, KafkaError> {
        let net = NetworkClient::new(net_config(&config)?)?;
        Self::with_transport(config, net)
    }

    /// A consumer from Java property names (`bootstrap.servers`, `fetch.min.bytes`, …).
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        props: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, KafkaError> {
        Self::new(ConsumerConfig::from_properties(props)?)
    }
}

impl<T: Transport> KafkaConsumer<T> {
    /// A consumer for `config` over `transport`, e.g. a simulated cluster in tests
    /// (`consumer_net::testing::SimTransport`, feature `testing`). The transport's own
    /// settings (request timeout, buffer sizes) are its own: [`new`](KafkaConsumer::new)
    /// derives a [`NetworkClient`]'s from `config`.
    pub fn with_transport(config: ConsumerConfig, transport: T) -> Result<Self, KafkaError> {
        let core = Consumer::new(with_unsecured_token_provider(config))?;
        Ok(Self {
            core,
            net: transport,
            closed: false,
            group: group::GroupFacade::default(),
            listed: HashMap::new(),
            security_failure: None,
        })
    }

    /// The transport, for inspection.
    pub fn transport(&self) -> &T {
        &self.net
    }

    /// The sans-IO core, for inspection (metadata, positions, watermarks).
    pub fn core(&self) -> &Consumer {
        &self.core
    }

    /// A handle that interrupts a blocked call from another thread.
    pub fn wakeup_handle(&self) -> WakeupHandle {
        self.net.waker()
    }

    fn check_open(&self) -> Result<(), KafkaError> {
        if self.closed {
            Err(consumer_core::StateError::Closed.into())
        } else {
            Ok(())
        }
    }

    /// Assigns exactly `partitions`.
    pub fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.assign(partitions)?)
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.core.assignment()
    }

    /// Moves `tp` to `offset`; the next poll fetches from there.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.seek(tp, offset)?)
    }

    /// Moves `partitions` to their first offsets.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.seek_to_beginning(partitions)?)
    }

    /// Moves `partitions` to their end offsets.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.seek_to_end(partitions)?)
    }

    /// Stops fetching `partitions` until resumed.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.pause(partitions)?)
    }

    /// Resumes `partitions`.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), KafkaError> {
        self.check_open()?;
        Ok(self.core.resume(partitions)?)
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.core.paused()
    }

    /// The offset of the next record for `tp`, looking it up if needed (bounded by
    /// `default.api.timeout.ms`).
    pub fn position(&mut self, tp: &TopicPartition) -> Result<i64, KafkaError> {
        self.check_open()?;
        let deadline = self.net.now() + self.core.config().default_api_timeout;
        loop {
            if let Some(p) = self.core.position(tp)? {
                return Ok(p.offset);
            }
            self.core.poll_records(0)?;
            if self.net.now() >= deadline {
                return Err(KafkaError::Timeout("position"));
            }
            self.run_once(deadline)?;
        }
    }

    /// The high watermark last seen for `tp`.
    pub fn high_watermark(&self, tp: &TopicPartition) -> Option<i64> {
        self.core
            .subscription()
            .get(tp)
            .and_then(|s| s.high_watermark)
    }

    /// Records fetched since the last call, waiting up to `timeout` for some.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, KafkaError> {
        self.check_open()?;
        let deadline = self.net.now() + timeout;
        let max = self.core.config().max_poll_records;
        self.core.poll_started(self.net.now());
        self.dispatch_events();
        loop {
            let records = self.core.poll_records(max)?;
            if !records.is_empty() {
                // Pipelining: the next fetches leave before the caller starts processing.
                // The listener is not called here: a revocation this round may have
                // started would otherwise reach the caller before these records of the
                // revoked partitions. The core holds its rejoin until the next call
                // dispatches the revocation, so the caller sees records, then the revocation.
                let now = self.net.now();
                self.flush(now);
                self.net.poll(Some(Duration::ZERO), now)?;
                // Answers that just came in make room for prefetches: send them too.
                if self.complete_io(self.net.now()) {
                    let now = self.net.now();
                    if self.flush(now) {
                        self.net.poll(Some(Duration::ZERO), now)?;
                        self.complete_io(self.net.now());
                    }
                }
                return Ok(records);
            }
            self.run_once(deadline)?;
            if self.net.now() >= deadline && !self.core.has_buffered_records() {
                return Ok(Vec::new());
            }
        }
    }

    /// The partitions of `topic`, sorted, from the cluster metadata (fetched when the topic
    /// is not known yet). As in Java's `partitionsFor`, a topic the cluster does not have
    /// gives an empty list.
    pub fn partitions_for(
        &mut self,
        topic: &str,
        timeout: Duration,
    ) -> Result<Vec<i32>, KafkaError> {
        self.check_open()?;
        let deadline = self.net.now() + timeout;
        // Only an answer applied after this call may say the topic does not exist: an
        // error remembered from before could be stale.
        let start = self.core.metadata().update_count();
        self.core.request_topic_metadata(topic);
        loop {
            let fresh = self.core.metadata().update_count() > start;
            if let Some(info) = self.core.metadata().topic(topic) {
                match ErrorCode::from_i16(info.error_code) {
                    ErrorCode::None if !info.partitions.is_empty() => {
                        let mut partitions: Vec<i32> = info.partitions.keys().copied().collect();
                        partitions.sort_unstable();
                        return Ok(partitions);
                    }
                    ErrorCode::UnknownTopicOrPartition if fresh => return Ok(Vec::new()),
                    ErrorCode::TopicAuthorizationFailed if fresh => {
                        let topic = topic.to_owned();
                        return Err(ConsumerError::TopicAuthorization { topic }.into());
                    }
                    // Being created or without leaders: the core asks again after a backoff.
                    _ => {}
                }
            }
            if self.net.now() >= deadline {
                return Err(KafkaError::Timeout("partition lookup"));
            }
            self.run_once(deadline)?;
        }
    }

    /// The first offset of each partition.
    pub fn beginning_offsets(
        &mut self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, i64>, KafkaError> {
        self.list_offsets(
            partitions.iter().map(|tp| (tp.clone(), -2)).collect(),
            timeout,
        )
        .map(|m| {
            m.into_iter()
                .filter_map(|(tp, o)| o.map(|o| (tp, o.offset)))
                .collect()
        })
    }

    /// The end offset (high watermark) of each partition.
    pub fn end_offsets(
        &mut self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, i64>, KafkaError> {
        self.list_offsets(
            partitions.iter().map(|tp| (tp.clone(), -1)).collect(),
            timeout,
        )
        .map(|m| {
            m.into_iter()
                .filter_map(|(tp, o)| o.map(|o| (tp, o.offset)))
                .collect()
        })
    }

    /// For each partition, the first offset whose timestamp is at least the one given
    /// (None when there is none).
    pub fn offsets_for_times(
        &mut self,
        query: &[(TopicPartition, i64)],
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>, KafkaError> {
        self.list_offsets(query.to_vec(), timeout)
    }

    fn list_offsets(
        &mut self,
        query: Vec<(TopicPartition, i64)>,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>, KafkaError> {
        self.check_open()?;
        let deadline = self.net.now() + timeout;
        let id = self.core.list_offsets(query);
        loop {
            self.dispatch_events();
            if let Some(offsets) = self.listed.remove(&id) {
                let mut out = HashMap::new();
                for (tp, r) in offsets {
                    out.insert(tp, r?);
                }
                return Ok(out);
            }
            if self.net.now() >= deadline {
                self.core.cancel_query(id);
                return Err(KafkaError::Timeout("offset lookup"));
            }
            if let Err(e) = self.run_once(deadline) {
                self.core.cancel_query(id);
                return Err(e);
            }
        }
    }

    /// Closes the consumer, waiting at most 30 s (Java's default); see
    /// [`close_timeout`](Self::close_timeout).
    pub fn close(&mut self) {
        self.close_timeout(DEFAULT_CLOSE_TIMEOUT);
    }

    /// Closes the consumer within `timeout`. A group member commits what it consumed
    /// (with auto-commit), calls the listener's `on_partitions_revoked` (which may
    /// commit), and leaves the group; fetch sessions the brokers hold are closed (for at
    /// most 5 s); then connections are closed. The sequence runs in the core
    /// (`Consumer::begin_close`): this only drives it. Steps not done by the deadline
    /// are skipped; a wakeup ends the wait at once.
    pub fn close_timeout(&mut self, timeout: Duration) {
        if self.closed {
            return;
        }
        let now = self.net.now();
        let deadline = now + timeout;
        self.core.begin_close(now, timeout);
        loop {
            self.dispatch_events();
            if self.core.is_closed() || self.net.now() >= deadline {
                break;
            }
            if let Err(e) = self.run_once(deadline) {
                debug!("close: {e}; closing at once");
                break;
            }
        }
        self.closed = true;
        self.core.close();
        // Commits and lookups cancelled by the close complete (their callbacks run).
        self.dispatch_events();
        self.group.listener = None;
        self.net.close();
    }

    /// Hands the core's requests to the network; true if there were any.
    fn flush(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(t) = self.core.poll_transmit(now) {
            any = true;
            self.net.send(
                t.node,
                &t.address,
                t.correlation_id,
                t.frame,
                t.timeout,
                now,
            );
        }
        any
    }

    /// Feeds finished network items to the core, then calls the listener and callbacks.
    fn complete(&mut self, now: Instant) {
        self.complete_io(now);
        self.dispatch_events();
    }

    /// Feeds finished network items to the core; its events wait for the next dispatch.
    /// True if there were any.
    fn complete_io(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(c) = self.net.poll_completion() {
            any = true;
            match c {
                Completion::Response {
                    node,
                    correlation_id,
                    frame,
                } => self.core.handle_response(node, correlation_id, frame, now),
                Completion::Disconnected {
                    node,
                    failed,
                    reason,
                } => {
                    debug!("node {node} disconnected ({reason}); {failed:?} failed with it");
                    self.core.handle_disconnect(node, now);
                    match reason {
                        NetError::Tls(source) if source.is_conclusive() => {
                            warn!("node {node}: {source}");
                            self.security_failure = Some(KafkaError::Ssl { node, source });
                        }
                        _ => {}
                    }
                }
            }
        }
        self.core.handle_timeout(now);
        any
    }

    /// One round: send, wait for IO until the earliest deadline, feed the results.
    fn run_once(&mut self, deadline: Instant) -> Result<(), KafkaError> {
        let now = self.net.now();
        self.flush(now);
        let mut until = deadline;
        if let Some(t) = self.core.poll_timeout() {
            until = until.min(t);
        }
        if self.core.is_closed() {
            // The close sequence ended as its last requests were taken: nothing to wait
            // for (with no connection pending either, the wait would last to `deadline`).
            until = now;
        }
        let wait = until.saturating_duration_since(now);
        self.net.poll(Some(wait), now)?;
        let woken = self.net.was_woken();
        self.complete(self.net.now());
        if woken {
            return Err(KafkaError::Wakeup);
        }
        // Reported, not retried in silence: the next call tries again (with backoff).
        if let Some(err) = self.security_failure.take() {
            return Err(err);
        }
        // As the Java consumer throws AuthenticationException from every blocking call, a
        // failed authentication ends the call that is waiting (for records, a commit, an
        // offset...) rather than letting it wait out its timeout.
        if let Some(e) = self.core.poll_authentication_error() {
            return Err(ConsumerError::Authentication(e).into());
        }
        Ok(())
    }
}

/// OAUTHBEARER with an unsecured JWT (Java's `unsecuredLogin*` options, librdkafka's
/// `sasl.oauthbearer.config`) and no token provider: the core reads no clock, so the
/// token, issued now and valid for its lifetime, is made here from the wall clock, anew
/// for each authentication.
fn with_unsecured_token_provider(mut config: ConsumerConfig) -> ConsumerConfig {
    let sasl = &mut config.security.sasl;
    if sasl.token_provider.is_none() {
        if let Some(jwt) = sasl.unsecured_jwt.clone() {
            sasl.token_provider = Some(TokenProvider::new(move || {
                let unix_now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Ok(jwt.token(unix_now))
            }));
        }
    }
    config
}

impl<T: Transport> Drop for KafkaConsumer<T> {
    fn drop(&mut self) {
        self.close();
    }
}

/// The network settings of `c`; TLS ones read their files here.
fn net_config(c: &ConsumerConfig) -> Result<NetConfig, KafkaError> {
    let fetch = usize::try_from(c.fetch_max_bytes).unwrap_or(0);
    let partition = usize::try_from(c.max_partition_fetch_bytes).unwrap_or(0);
    Ok(NetConfig {
        request_timeout: c.request_timeout,
        reconnect_backoff: c.reconnect_backoff,
        reconnect_backoff_max: c.reconnect_backoff_max,
        connection_setup_timeout: c.socket_connection_setup_timeout,
        // A response holds at most fetch.max.bytes, or one batch larger than the limits
        // (KIP-74); leave room for both and for the headers around them.
        max_response_size: (fetch + partition).max(16 << 20) + (1 << 20),
        tls: match c.security.protocol.uses_tls() {
            true => Some(TlsClientConfig::from_ssl_config(&c.security.ssl)?),
            false => None,
        },
        ..NetConfig::default()
    })
}
