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
mod health;
mod metrics;

use std::borrow::Borrow;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use consumer_core::{
    Consumer, ConsumerConfig, ConsumerError, ConsumerRecord, ErrorCode, NodeId, OffsetAndTimestamp,
    QueryId, StateError, SubscriptionKind, TokenProvider, TopicPartition,
};
use log::{debug, warn};

pub use crate::network::WakeupHandle;
use crate::network::{Completion, NetConfig, NetError, NetworkClient, TlsClientConfig};
use crate::transport::Transport;

pub use consumer_core::{
    CommitMetrics, ConsumerMetrics, FetchMetrics, PartitionMetrics, RebalanceMetrics,
};
pub use error::{CloseError, KafkaError};
pub use group::{CommitCallback, RebalanceListener};

/// Answers too large in a row from one broker before the calls are told (one may be a
/// glitch of the stream; the connection is made again either way).
const TOO_LARGE_TIMES: u32 = 2;

/// How long `close` waits for its sequence (commit, revocation, LeaveGroup, session
/// closes) at most: Java's default close timeout.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A Kafka consumer that blocks in its calls, with no thread of its own: the Java
/// `KafkaConsumer`'s API and semantics, in Rust.
///
/// Build it from Java property names ([`from_properties`](KafkaConsumer::from_properties))
/// or a [`ConsumerConfig`]; then either [`assign`](Self::assign) partitions yourself or
/// [`subscribe`](Self::subscribe) through a consumer group (`group.id`); then call
/// [`poll`](Self::poll) in a loop, commit what you processed, and
/// [`close`](Self::close) (or drop it: dropping closes it, within 30 s). It connects
/// lazily, in the first call that needs the cluster. It is `Send` but not shared: one
/// thread uses it; other threads stop it through a [`WakeupHandle`]. The crate's docs
/// have complete examples.
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
    /// A connection failure the caller must hear of (TLS, an answer too large), seen
    /// since the last blocking call returned, to return from it.
    pending_failure: Option<KafkaError>,
    /// A wake not yet reported: the current or next blocking call fails with it.
    wakeup_pending: bool,
    /// While closing: the close deadline, which bounds the calls a listener makes.
    close_deadline: Option<Instant>,
    /// Connection failures and whether any broker answers.
    health: health::Health,
    /// Per broker, answers too large in a row (connections closed for it).
    too_large: HashMap<NodeId, u32>,
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
        let unreachable_after = core.config().socket_connection_setup_timeout;
        Ok(Self {
            core,
            net: transport,
            closed: false,
            group: group::GroupFacade::default(),
            listed: HashMap::new(),
            pending_failure: None,
            wakeup_pending: false,
            close_deadline: None,
            health: health::Health::new(unreachable_after),
            too_large: HashMap::new(),
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

    /// A handle that interrupts the consumer from another thread (a signal handler, a
    /// timer), as Java's `wakeup`: the blocking call under way, or else the next one,
    /// returns [`KafkaError::Wakeup`] once; the calls after it run normally. `close` is
    /// not interrupted.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use consumer_net::{KafkaConsumer, KafkaError};
    /// # let mut consumer: KafkaConsumer = todo!();
    /// let wake = consumer.wakeup_handle();
    /// // From a Ctrl-C handler (the ctrlc crate), or any thread:
    /// std::thread::spawn(move || wake.wake());
    /// loop {
    ///     match consumer.poll(Duration::from_secs(1)) {
    ///         Ok(records) => { /* process */ }
    ///         Err(KafkaError::Wakeup) => break,
    ///         Err(e) => return Err(e),
    ///     }
    /// }
    /// consumer.close()?;
    /// # Ok::<(), KafkaError>(())
    /// ```
    pub fn wakeup_handle(&self) -> WakeupHandle {
        self.net.waker()
    }

    fn check_open(&self) -> Result<(), KafkaError> {
        if self.closed {
            Err(StateError::Closed.into())
        } else {
            Ok(())
        }
    }

    /// The start of a blocking call: refused once closed; a pending wake ends it.
    fn start_call(&mut self) -> Result<(), KafkaError> {
        self.check_open()?;
        self.take_wakeup()
    }

    /// Reports a pending wake, once (not while closing: `close` is not interrupted).
    fn take_wakeup(&mut self) -> Result<(), KafkaError> {
        // A wake not seen by a network poll yet (the consumer was not blocked).
        if self.net.waker().take() {
            self.wakeup_pending = true;
        }
        if self.wakeup_pending && self.close_deadline.is_none() {
            self.wakeup_pending = false;
            if self.group.listener_running {
                // The listener cannot pass the error on (its methods return nothing): as
                // Java's WakeupException out of the callback, the call that ran the
                // listener reports it too.
                self.group.wakeup_in_listener = true;
            }
            return Err(KafkaError::Wakeup);
        }
        Ok(())
    }

    /// The deadline of a call bounded by `timeout`; while closing, never past the close
    /// deadline (a listener's commit cannot stretch the close).
    fn deadline_after(&self, started: Instant, timeout: Duration) -> Instant {
        let deadline = started + timeout;
        self.close_deadline.map_or(deadline, |c| c.min(deadline))
    }

    /// The timeout error of `operation` after waiting `after` (the caller's timeout, or
    /// less when the close deadline cut it), with what was in its way: `cause` if the
    /// caller knows it, and the last connection failure.
    fn timeout(
        &self,
        operation: &'static str,
        after: Duration,
        cause: Option<String>,
    ) -> KafkaError {
        let network = self
            .health
            .last_failure()
            .map(|f| format!("last connection failure: {f}"));
        let cause = match (cause, network) {
            (Some(c), Some(n)) => Some(format!("{c}; {n}")),
            (c, n) => c.or(n),
        };
        KafkaError::Timeout {
            operation,
            after,
            cause,
        }
    }

    /// Assigns exactly `partitions` (an empty set unassigns everything), without a group.
    /// Each starts at its committed offset when `group.id` is set and one exists, else
    /// by `auto.offset.reset`, unless [`seek`](Self::seek) says otherwise.
    ///
    /// Calls that take several partitions take any collection of them, owned or
    /// borrowed: an array, a `Vec`, a slice, an iterator.
    /// ```no_run
    /// # use consumer_net::{KafkaConsumer, TopicPartition};
    /// # let mut consumer: KafkaConsumer = todo!();
    /// let partitions = [TopicPartition::new("events", 0), TopicPartition::new("events", 1)];
    /// consumer.assign(&partitions)?;
    /// consumer.seek(&partitions[0], 42)?;
    /// consumer.seek_to_beginning(&partitions[1..])?;
    /// # Ok::<(), consumer_net::KafkaError>(())
    /// ```
    pub fn assign<P>(&mut self, partitions: P) -> Result<(), KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.check_open()?;
        Ok(self.core.assign(owned(partitions))?)
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

    /// Moves `partitions` to their first offsets (looked up lazily, by the next poll).
    pub fn seek_to_beginning<P>(&mut self, partitions: P) -> Result<(), KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.check_open()?;
        Ok(self.core.seek_to_beginning(&owned(partitions))?)
    }

    /// Moves `partitions` to their end offsets (looked up lazily, by the next poll).
    pub fn seek_to_end<P>(&mut self, partitions: P) -> Result<(), KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.check_open()?;
        Ok(self.core.seek_to_end(&owned(partitions))?)
    }

    /// Stops fetching `partitions` until resumed; their positions stay.
    pub fn pause<P>(&mut self, partitions: P) -> Result<(), KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.check_open()?;
        Ok(self.core.pause(&owned(partitions))?)
    }

    /// Resumes fetching `partitions`.
    pub fn resume<P>(&mut self, partitions: P) -> Result<(), KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.check_open()?;
        Ok(self.core.resume(&owned(partitions))?)
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.core.paused()
    }

    /// The offset of the next record for `tp`, looking it up if needed (the committed
    /// offset, or `auto.offset.reset`), waiting at most `default.api.timeout.ms`.
    pub fn position(&mut self, tp: &TopicPartition) -> Result<i64, KafkaError> {
        self.position_with_timeout(tp, self.core.config().default_api_timeout)
    }

    /// [`position`](Self::position), waiting at most `timeout`.
    pub fn position_with_timeout(
        &mut self,
        tp: &TopicPartition,
        timeout: Duration,
    ) -> Result<i64, KafkaError> {
        self.start_call()?;
        let started = self.net.now();
        let deadline = self.deadline_after(started, timeout);
        loop {
            if let Some(p) = self.core.position(tp)? {
                return Ok(p.offset);
            }
            self.core.poll_records(0)?;
            if self.net.now() >= deadline {
                let cause = self.core.topic_problem(&tp.topic);
                return Err(self.timeout(
                    "position lookup",
                    deadline.saturating_duration_since(started),
                    cause,
                ));
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

    /// Records fetched since the last call, waiting up to `timeout` for some; an empty
    /// list when none came in time.
    ///
    /// As the Java consumer's `poll`: it returns buffered records at once if there are
    /// any; otherwise it refreshes metadata, joins the group (a subscription), looks up
    /// positions and sends fetches, and waits for an answer. Before returning records it
    /// sends the next fetches, so the brokers work while the caller processes. The
    /// rebalance listener and commit callbacks run inside it.
    ///
    /// Errors the caller must act on are returned here: [`StateError::NotSubscribed`]
    /// with nothing subscribed or assigned, authentication and TLS failures,
    /// authorization failures, an offset out of range with `auto.offset.reset=none`, a
    /// corrupt record, [`KafkaError::BrokersUnreachable`] when no broker answers, and
    /// [`KafkaError::Wakeup`]. Most are retriable ([`KafkaError::is_retriable`]): poll
    /// again.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use consumer_net::{KafkaConsumer, TopicPartition};
    ///
    /// let mut consumer = KafkaConsumer::from_properties([
    ///     ("bootstrap.servers", "localhost:9092"),
    ///     ("auto.offset.reset", "earliest"),
    /// ])?;
    /// consumer.assign([TopicPartition::new("events", 0)])?;
    /// for _ in 0..10 {
    ///     for record in consumer.poll(Duration::from_millis(500))? {
    ///         println!("{}@{}: {:?}", record.topic_partition(), record.offset, record.value);
    ///     }
    /// }
    /// consumer.close()?;
    /// # Ok::<(), consumer_net::KafkaError>(())
    /// ```
    #[must_use = "records returned by poll count as consumed: dropping them loses them"]
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, KafkaError> {
        self.start_call()?;
        let nothing = match self.core.subscription().kind() {
            SubscriptionKind::None => true,
            SubscriptionKind::UserAssigned => self.core.subscription().is_empty(),
            _ => false,
        };
        if nothing {
            return Err(StateError::NotSubscribed.into());
        }
        let deadline = self.net.now() + timeout;
        let max = self.core.config().max_poll_records;
        self.core.poll_started(self.net.now());
        self.dispatch_events();
        // A wake that ended a call of the listener ends this call too.
        self.take_wakeup()?;
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
                self.net_poll(Duration::ZERO, now)?;
                // Answers that just came in make room for prefetches: send them too.
                if self.complete_io(self.net.now()) {
                    let now = self.net.now();
                    if self.flush(now) {
                        self.net_poll(Duration::ZERO, now)?;
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
        self.start_call()?;
        let started = self.net.now();
        let deadline = self.deadline_after(started, timeout);
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
                let cause = self.core.topic_problem(topic);
                return Err(self.timeout(
                    "partition lookup",
                    deadline.saturating_duration_since(started),
                    cause,
                ));
            }
            self.run_once(deadline)?;
        }
    }

    /// The first offset of each partition, waiting at most `timeout`.
    pub fn beginning_offsets<P>(
        &mut self,
        partitions: P,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, i64>, KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.list_offsets(
            partitions
                .into_iter()
                .map(|tp| (tp.borrow().clone(), -2))
                .collect(),
            timeout,
        )
        .map(|m| {
            m.into_iter()
                .filter_map(|(tp, o)| o.map(|o| (tp, o.offset)))
                .collect()
        })
    }

    /// The end offset (high watermark) of each partition, waiting at most `timeout`.
    pub fn end_offsets<P>(
        &mut self,
        partitions: P,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, i64>, KafkaError>
    where
        P: IntoIterator,
        P::Item: Borrow<TopicPartition>,
    {
        self.list_offsets(
            partitions
                .into_iter()
                .map(|tp| (tp.borrow().clone(), -1))
                .collect(),
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
        query: impl IntoIterator<Item = (TopicPartition, i64)>,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>, KafkaError> {
        self.list_offsets(query.into_iter().collect(), timeout)
    }

    fn list_offsets(
        &mut self,
        query: Vec<(TopicPartition, i64)>,
        timeout: Duration,
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>, KafkaError> {
        self.start_call()?;
        let started = self.net.now();
        let deadline = self.deadline_after(started, timeout);
        let topics: Vec<String> = query.iter().map(|(tp, _)| tp.topic.clone()).collect();
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
                let cause = topics.iter().find_map(|t| self.core.topic_problem(t));
                return Err(self.timeout(
                    "offset lookup",
                    deadline.saturating_duration_since(started),
                    cause,
                ));
            }
            if let Err(e) = self.run_once(deadline) {
                self.core.cancel_query(id);
                return Err(e);
            }
        }
    }

    /// Closes the consumer, waiting at most [`DEFAULT_CLOSE_TIMEOUT`] (30 s, Java's
    /// default); see [`close_with_timeout`](Self::close_with_timeout).
    pub fn close(&mut self) -> Result<(), KafkaError> {
        self.close_with_timeout(DEFAULT_CLOSE_TIMEOUT)
    }

    /// Closes the consumer within `timeout` (Java's `close(Duration)`).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use consumer_net::KafkaConsumer;
    /// # let mut consumer: KafkaConsumer = todo!();
    /// // Under Kubernetes' 30 s grace period, with room to spare:
    /// if let Err(e) = consumer.close_with_timeout(Duration::from_secs(20)) {
    ///     log::warn!("{e}"); // e.g. "the close timeout passed during the final commit"
    /// }
    /// ```
    /// A group member
    /// commits what it consumed (with auto-commit), calls the listener's
    /// `on_partitions_revoked` (whose own commits are bounded by the same deadline), and
    /// leaves the group; fetch sessions the brokers hold are closed (for at most 5 s);
    /// then connections are closed. Steps not done by the deadline are skipped. A wake
    /// does not interrupt it.
    ///
    /// The consumer is closed when this returns, whatever it returns; the error lists
    /// what could not be done ([`CloseError`]). Closing twice does nothing.
    pub fn close_with_timeout(&mut self, timeout: Duration) -> Result<(), KafkaError> {
        if self.closed {
            return Ok(());
        }
        let now = self.net.now();
        let deadline = now + timeout;
        self.close_deadline = Some(deadline);
        self.core.begin_close(now, timeout);
        let mut ended_by = None;
        loop {
            self.dispatch_events();
            if self.core.is_closed() || self.net.now() >= deadline {
                break;
            }
            match self.run_once(deadline) {
                Ok(()) => {}
                Err(e @ KafkaError::Io(_)) => {
                    warn!("close: {e}; closing at once");
                    ended_by = Some(Box::new(e));
                    break;
                }
                // Reported by the calls before; the close goes on to its deadline.
                Err(e) => debug!("close: {e}"),
            }
        }
        // At the deadline the core notes the step it was cut short in.
        self.core.handle_timeout(self.net.now());
        let failures = self.core.close_failures().to_vec();
        self.closed = true;
        self.core.close();
        // Commits and lookups cancelled by the close complete (their callbacks run).
        self.dispatch_events();
        self.group.listener = None;
        self.net.close();
        if failures.is_empty() && ended_by.is_none() {
            Ok(())
        } else {
            Err(CloseError { failures, ended_by }.into())
        }
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
                } => {
                    self.too_large.remove(&node);
                    self.health.answered(self.core.node_address(node));
                    self.core.handle_response(node, correlation_id, frame, now);
                }
                Completion::Disconnected {
                    node,
                    failed,
                    reason,
                } => {
                    debug!("node {node} disconnected ({reason}); {failed:?} failed with it");
                    let address = self.core.node_address(node);
                    self.health.disconnected(node, address, &reason, now);
                    self.core.handle_disconnect(node, now);
                    match reason {
                        NetError::Tls(source) if source.is_conclusive() => {
                            warn!("node {node}: {source}");
                            self.pending_failure = Some(KafkaError::Ssl { node, source });
                        }
                        // Twice in a row from one broker, it is no glitch: retrying brings
                        // the same answer, and the caller must change a limit.
                        source @ NetError::FrameTooLarge { .. } => {
                            let times = self.too_large.entry(node).or_insert(0);
                            *times += 1;
                            if *times >= TOO_LARGE_TIMES {
                                *times = 0;
                                let e = KafkaError::ResponseTooLarge { node, source };
                                warn!("{e}");
                                self.pending_failure = Some(e);
                            } else {
                                warn!("node {node}: {source}; reconnecting");
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        self.core.handle_timeout(now);
        any
    }

    /// Drives the network for at most `wait`; a wake it sees is kept for the call.
    fn net_poll(&mut self, wait: Duration, now: Instant) -> Result<(), KafkaError> {
        self.net.poll(Some(wait), now)?;
        if self.net.was_woken() {
            self.wakeup_pending = true;
        }
        Ok(())
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
        self.net_poll(wait, now)?;
        let now = self.net.now();
        self.complete(now);
        self.take_wakeup()?;
        // Reported, not retried in silence: the next call tries again (with backoff).
        if let Some(err) = self.pending_failure.take() {
            return Err(err);
        }
        // As the Java consumer throws AuthenticationException from every blocking call, a
        // failed authentication ends the call that is waiting (for records, a commit, an
        // offset...) rather than letting it wait out its timeout.
        if let Some(e) = self.core.poll_authentication_error() {
            return Err(ConsumerError::Authentication(e).into());
        }
        if let Some(e) = self.health.unreachable_error(now) {
            warn!("{e}");
            return Err(e);
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
    /// Closes the consumer if it is not closed yet, within [`DEFAULT_CLOSE_TIMEOUT`].
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            warn!("closing the consumer on drop: {e}");
        }
    }
}

/// The partitions of a call's argument, owned.
fn owned<P>(partitions: P) -> Vec<TopicPartition>
where
    P: IntoIterator,
    P::Item: Borrow<TopicPartition>,
{
    partitions
        .into_iter()
        .map(|tp| tp.borrow().clone())
        .collect()
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
