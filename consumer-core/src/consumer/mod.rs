//! The sans-IO consumer: commands in, requests out, records and events drained.
//!
//! # Driving it
//! The driver owns the sockets and the clock. In a loop it:
//! 1. sends every [`Transmit`] from [`Consumer::poll_transmit`];
//! 2. waits for network input until [`Consumer::poll_timeout`] (or its own deadline);
//! 3. feeds answers to [`Consumer::handle_response`], lost connections to
//!    [`Consumer::handle_disconnect`], and the time to [`Consumer::handle_timeout`];
//! 4. drains [`Consumer::poll_records`] and [`Consumer::poll_event`].
//!
//! Nothing here reads a clock or touches a socket: every input carries `now`.

mod auth;
mod close;
mod dispatch;
mod group;
mod nodes;
mod requests;
mod sessions;
mod timers;
mod validate;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexSet;
use log::{debug, warn};

use crate::codec::messages::metadata::MetadataRequestTopic;
use crate::codec::messages::{ListOffsetsRequest, MetadataRequest, MetadataResponse};
use crate::codec::{ApiKey, Request};
use crate::config::{ConfigError, ConsumerConfig};
use crate::coordinator::ConsumerCoordinator;
use crate::diagnostics::WarnLimiter;
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, ConsumerRecord, Event, QueryId, StateError};
use crate::fetcher::Fetcher;
use crate::metadata::{Metadata, Node, PartitionLeader, TopicInfo};
use crate::metrics::{ConsumerMetrics, Counters};
use crate::offsets::OffsetLookups;
use crate::subscription::{OffsetResetStrategy, SubscriptionKind, SubscriptionState};
use crate::timer::TimerTable;
use crate::topic_partition::{FetchPosition, TopicPartition};
use crate::validation::Validator;

pub use crate::outcome::RequestFailure;
pub use nodes::{NodeId, Transmit};
pub use requests::RequestCounts;

pub use close::{CloseFailure, CloseStep};
use close::{CloseReport, Closing};
use requests::{InFlight, Owner, Requests};

/// The most records `poll_records` allocates room for up front (a huge `max.poll.records`
/// must not allocate a huge vector for a handful of records).
const MAX_PREALLOCATED_RECORDS: usize = 4096;

/// The consumer state machine: manual assignment, or group membership with `group.id`.
#[derive(Debug)]
pub struct Consumer {
    group: Option<ConsumerCoordinator>,
    events: VecDeque<Event>,
    pattern: Option<regex::Regex>,
    config: ConsumerConfig,
    metadata: Metadata,
    subs: SubscriptionState,
    fetcher: Fetcher,
    offsets: OffsetLookups,
    /// Position validation (KIP-320).
    validator: Validator,
    nodes: nodes::Nodes,
    requests: Requests,
    errors: VecDeque<ConsumerError>,
    query_topics: IndexSet<String>,
    last_now: Option<Instant>,
    /// The close sequence (`Closed`: nothing is sent any more).
    closing: Closing,
    /// What the close sequence could not do.
    close_report: CloseReport,
    /// When each timer next fires.
    timers: TimerTable,
    /// Deadlines at or before this were left out of the last arming of the timers.
    timers_after: Option<Instant>,
    /// Set when the fetch sessions are closed: no fetch is sent any more.
    fetching_stopped: bool,
    /// Lasting problems with the user's topics, warned about once per interval.
    topic_warnings: WarnLimiter,
    /// Records consumed and fetches, for [`metrics`](Self::metrics).
    counters: Counters,
}

impl Consumer {
    /// A consumer with `config`, assigned nothing yet.
    pub fn new(config: ConsumerConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let metadata = Metadata::new(
            &config.bootstrap_servers,
            config.metadata_max_age,
            config.retry_backoff,
            config.retry_backoff_max,
        );
        let nodes = nodes::Nodes::new(
            config.client_id.clone(),
            config.reconnect_backoff,
            config.reconnect_backoff_max,
            config.security.protocol.uses_sasl(),
        );
        let group = ConsumerCoordinator::new(&config)?;
        Ok(Self {
            group,
            events: VecDeque::new(),
            pattern: None,
            config,
            metadata,
            subs: SubscriptionState::new(),
            fetcher: Fetcher::new(),
            offsets: OffsetLookups::new(),
            validator: Validator::new(),
            nodes,
            requests: Requests::default(),
            errors: VecDeque::new(),
            query_topics: IndexSet::new(),
            last_now: None,
            closing: Closing::Open,
            close_report: CloseReport::default(),
            timers: TimerTable::default(),
            timers_after: None,
            fetching_stopped: false,
            topic_warnings: WarnLimiter::default(),
            counters: Counters::default(),
        })
    }

    // ---- getters ----

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The cluster metadata as known now.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The `host:port` requests to `node` were sent to, if any were.
    pub fn node_address(&self, node: NodeId) -> Option<&str> {
        self.nodes.address(node)
    }

    /// The assigned partitions and their state.
    pub fn subscription(&self) -> &SubscriptionState {
        &self.subs
    }

    /// The assigned partitions, in assignment order.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.subs.assigned().cloned().collect()
    }

    /// The position of `tp`: `Ok(None)` while it is being looked up.
    pub fn position(&self, tp: &TopicPartition) -> Result<Option<FetchPosition>, StateError> {
        let state = self
            .subs
            .get(tp)
            .ok_or_else(|| StateError::NotAssigned(tp.clone()))?;
        Ok(if state.reset.is_some() {
            None
        } else {
            state.position
        })
    }

    /// The lag of `tp`: from its position to the end of its log as last seen in a fetch
    /// answer (the high watermark; the last stable offset under `read_committed`), as
    /// Java's `currentLag`. None when `tp` is not assigned, or its position or end is not
    /// known yet; it asks the broker nothing.
    pub fn current_lag(&self, tp: &TopicPartition) -> Option<i64> {
        crate::metrics::lag(self.subs.get(tp)?, self.config.isolation_level)
    }

    /// A snapshot of the consumer's metrics: per assigned partition, and totals.
    pub fn metrics(&self) -> ConsumerMetrics {
        let group = self.group.as_ref();
        crate::metrics::snapshot(
            &self.subs,
            self.config.isolation_level,
            &self.counters,
            group.map(|g| &g.rebalances),
            group.map(|g| &g.commits.counters),
        )
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.subs
            .iter()
            .filter(|(_, s)| s.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// How many requests were recorded, ended and are pending: every request the core
    /// emits ends exactly once (answered, failed or cancelled), so `recorded` is always
    /// `ended + pending`.
    pub fn request_counts(&self) -> RequestCounts {
        RequestCounts {
            queued: self.nodes.queued() as u64,
            ..self.requests.counts()
        }
    }

    /// True if records are buffered and ready to drain.
    pub fn has_buffered_records(&self) -> bool {
        self.fetcher.has_buffered(&self.subs) || !self.errors.is_empty()
    }

    // ---- commands ----

    /// Assigns exactly `partitions` (replacing the previous assignment). Refused while a
    /// group subscription is active.
    pub fn assign(
        &mut self,
        partitions: impl IntoIterator<Item = TopicPartition>,
    ) -> Result<(), StateError> {
        if !self.subs.set_kind(SubscriptionKind::UserAssigned) {
            return Err(StateError::SubscriptionMix);
        }
        let before: Vec<TopicPartition> = self.subs.assigned().cloned().collect();
        self.subs.assign(partitions);
        if let Some(g) = self.group.as_mut() {
            // With a group.id, manually assigned partitions start at their committed
            // offsets (then auto.offset.reset), as in Java.
            let before_set: std::collections::HashSet<&TopicPartition> = before.iter().collect();
            let added: Vec<TopicPartition> = self
                .subs
                .assigned()
                .filter(|tp| !before_set.contains(tp))
                .cloned()
                .collect();
            let removed: Vec<TopicPartition> = before
                .into_iter()
                .filter(|tp| !self.subs.is_assigned(tp))
                .collect();
            g.commits.assigned(&added, &removed);
        }
        self.fetcher.retain_assigned(&self.subs);
        self.refresh_interest();
        Ok(())
    }

    /// Moves `tp` to `offset`.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), StateError> {
        if offset < 0 {
            return Err(StateError::NegativeOffset {
                tp: tp.clone(),
                offset,
            });
        }
        if !self.subs.seek(tp, FetchPosition::at(offset)) {
            return Err(StateError::NotAssigned(tp.clone()));
        }
        self.fetcher.clear_partition(tp, &mut self.subs);
        self.forget_missing_offset(tp);
        Ok(())
    }

    /// A queued "no offset" or "log truncation" error is stale once the partition has a
    /// new position.
    fn forget_missing_offset(&mut self, tp: &TopicPartition) {
        self.errors.retain(|e| match e {
            ConsumerError::NoOffsetForPartition { tp: t } => t != tp,
            ConsumerError::LogTruncation { tp: t, .. } => t != tp,
            _ => true,
        });
    }

    /// Moves each of `partitions` to its first offset (looked up lazily).
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<(), StateError> {
        self.reset_to(partitions, OffsetResetStrategy::Earliest)
    }

    /// Moves each of `partitions` to its end offset (looked up lazily).
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<(), StateError> {
        self.reset_to(partitions, OffsetResetStrategy::Latest)
    }

    fn reset_to(
        &mut self,
        partitions: &[TopicPartition],
        strategy: OffsetResetStrategy,
    ) -> Result<(), StateError> {
        if let Some(tp) = partitions.iter().find(|tp| !self.subs.is_assigned(tp)) {
            return Err(StateError::NotAssigned(tp.clone()));
        }
        for tp in partitions {
            self.subs.request_reset(tp, strategy);
            self.fetcher.clear_partition(tp, &mut self.subs);
            self.forget_missing_offset(tp);
        }
        Ok(())
    }

    /// Stops fetching and handing out `partitions` until resumed.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), StateError> {
        self.set_paused(partitions, true)
    }

    /// Resumes `partitions`.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), StateError> {
        self.set_paused(partitions, false)
    }

    fn set_paused(
        &mut self,
        partitions: &[TopicPartition],
        paused: bool,
    ) -> Result<(), StateError> {
        if let Some(tp) = partitions.iter().find(|tp| !self.subs.is_assigned(tp)) {
            return Err(StateError::NotAssigned(tp.clone()));
        }
        for tp in partitions {
            self.subs.set_paused(tp, paused);
        }
        Ok(())
    }

    /// Looks up offsets: for each partition a timestamp, or -2 (earliest) / -1 (latest).
    /// The answer comes as [`Event::OffsetsListed`].
    pub fn list_offsets(&mut self, partitions: Vec<(TopicPartition, i64)>) -> QueryId {
        for (tp, _) in &partitions {
            self.query_topics.insert(tp.topic.clone());
        }
        self.refresh_interest();
        self.offsets.start_query(partitions)
    }

    /// Keeps the metadata of `topic` from now on (partition discovery): a topic not known
    /// yet asks for a refresh, whose answer shows in [`Consumer::metadata`].
    pub fn request_topic_metadata(&mut self, topic: &str) {
        self.query_topics.insert(topic.to_owned());
        self.refresh_interest();
    }

    /// Gives up on an offset lookup.
    pub fn cancel_query(&mut self, query: QueryId) {
        self.offsets.cancel(query);
    }

    /// Stops all activity; later calls send nothing. Requests still pending end,
    /// cancelled, and their owners are told (a waiting commit completes with an error).
    pub fn close(&mut self) {
        self.closing = Closing::Closed;
        self.nodes.clear_outbox();
        let Some(now) = self.last_now else {
            return;
        };
        for (_, request) in self.requests.take_all() {
            self.finish(request, Err(RequestFailure::Cancelled), now);
        }
    }

    fn refresh_interest(&mut self) {
        let mut topics: IndexSet<String> = self.subs.topics().into_iter().collect();
        topics.extend(self.subs.subscribed_topics().iter().cloned());
        topics.extend(self.query_topics.iter().cloned());
        self.metadata.set_topics_of_interest(topics);
    }

    // ---- inputs ----

    /// An answer arrived from `node` for `correlation_id` (the frame without its size).
    pub fn handle_response(
        &mut self,
        node: NodeId,
        correlation_id: i32,
        frame: Bytes,
        now: Instant,
    ) {
        self.observe(now);
        let Some(request) = self.requests.take(correlation_id) else {
            debug!("answer {correlation_id} from node {node} matches no request; dropped");
            return;
        };
        if request.node != node {
            warn!(
                "answer {correlation_id} ({}) came from node {node}, was sent to {}",
                request.api, request.node
            );
        }
        self.finish(request, Ok(frame), now);
    }

    /// The connection to `node` was lost (or could not be made, or a request on it timed
    /// out): every request sent to it ends without an answer.
    pub fn handle_disconnect(&mut self, node: NodeId, now: Instant) {
        self.observe(now);
        if let Some(g) = self.group.as_mut() {
            if g.coordinator().is_some_and(|c| c.id == node) {
                g.coordinator_dead(now);
            }
        }
        self.nodes.disconnected(node, now);
        self.fetcher.node_unusable(node);
        for (_, request) in self.requests.take_node(node) {
            self.finish(request, Err(RequestFailure::Disconnected), now);
        }
    }

    /// Time has passed: the timers due at `now` fire and do their work; requests that
    /// became due wait in [`poll_transmit`](Self::poll_transmit).
    pub fn handle_timeout(&mut self, now: Instant) {
        // Deadlines set since the last poll_timeout count too, from where it left off.
        self.arm_timers(self.timers_after);
        self.observe(now);
        self.advance_close(now);
        self.fire_timers(now);
    }

    // ---- outputs ----

    /// The next request to send, if any.
    #[must_use = "a request taken and dropped is never sent"]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.observe(now);
        self.advance_close(now);
        if self.is_closed() {
            return None;
        }
        if !self.nodes.has_transmits() {
            self.prepare(now);
        }
        let transmit = self.nodes.pop_transmit()?;
        if let Some(Owner::Fetcher(_)) = self.requests.handed_out(transmit.correlation_id, now) {
            self.counters.fetch_sent();
        }
        Some(transmit)
    }

    /// When the consumer next needs [`handle_timeout`](Self::handle_timeout): the
    /// earliest of its armed [`Timer`](crate::timer::Timer)s, never one at or before the
    /// last input (whose work the next `poll_transmit` does).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.arm_timers(self.last_now);
        self.timers.next_timeout()
    }

    /// The timer table as armed by the last [`poll_timeout`](Self::poll_timeout).
    pub fn timers(&self) -> &TimerTable {
        &self.timers
    }

    /// The next event, if any.
    #[must_use = "an event taken and dropped is lost (a commit's result, a revocation)"]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self
            .events
            .pop_front()
            .or_else(|| self.offsets.poll_finished())?;
        self.close_report.observe(&event);
        Some(event)
    }

    /// Drains up to `max` buffered records. An error is returned before any record that
    /// follows it, never instead of records already decoded.
    #[must_use = "records returned count as consumed: dropping them loses them"]
    pub fn poll_records(&mut self, max: usize) -> Result<Vec<ConsumerRecord>, ConsumerError> {
        if let Some(err) = self.errors.pop_front() {
            return Err(err);
        }
        if let Some(err) = self.group.as_ref().and_then(|g| g.fatal_for_caller()) {
            return Err(err);
        }
        // Sized once: growing by doubling would copy the records several times per call.
        let mut out = if self.fetcher.has_buffered(&self.subs) {
            Vec::with_capacity(max.min(MAX_PREALLOCATED_RECORDS))
        } else {
            Vec::new()
        };
        if let Err(err) =
            self.fetcher
                .drain(max, &mut self.subs, &mut out, &mut self.counters.consumed)
        {
            if let (ConsumerError::CorruptRecord { tp, offset, .. }, Some(now)) =
                (&err, self.last_now)
            {
                // Not fetched again at once: a caller polling past the error would
                // otherwise refetch the corrupt batch in a tight loop.
                self.fetcher
                    .back_off(tp, *offset, now, self.config.retry_backoff, &mut self.subs);
            }
            return Err(err);
        }
        Ok(out)
    }

    // ---- internals ----

    /// Takes the time of an input: the last `now`, and the SASL sessions that must be
    /// renewed from now on (their nodes take no new request from this moment).
    fn observe(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.nodes.expire_sessions(now);
    }

    fn prepare(&mut self, now: Instant) {
        self.prepare_authentication(now);
        self.prepare_metadata(now);
        self.prepare_group(now);
        self.apply_default_resets();
        let mut wanted: Vec<NodeId> = Vec::new();

        let nodes = &self.nodes;
        let lookups = self.offsets.prepare(
            now,
            &self.config,
            &mut self.subs,
            &mut self.metadata,
            |node| {
                let ready = nodes.is_ready(node);
                if !ready {
                    wanted.push(node);
                }
                ready
            },
        );
        for (req, ctx) in lookups {
            let node = ctx.node;
            let owner = Owner::Offsets(ctx);
            match self.version_for(node, ApiKey::ListOffsets) {
                Some(version) => self.send(node, version, &req, owner, now),
                None => self.not_sent::<ListOffsetsRequest>(node, owner, "no usable version", now),
            }
        }

        self.prepare_validations(now, &mut wanted);

        // After the fetch sessions were closed, no fetch is sent any more.
        if !self.fetching_stopped {
            self.prepare_fetches(now, &mut wanted);
        }

        wanted.sort_unstable();
        wanted.dedup();
        for id in wanted {
            self.connect(id);
        }
    }

    /// Queues the fetches the fetcher wants now; nodes not ready for them go to `wanted`.
    fn prepare_fetches(&mut self, now: Instant, wanted: &mut Vec<NodeId>) {
        self.fetcher.expire_backoffs(now, &mut self.subs);
        self.fetcher.expire_read_replicas(now);
        let nodes = &self.nodes;
        let mut version_errors = Vec::new();
        let fetches =
            self.fetcher
                .prepare(
                    &self.config,
                    &mut self.subs,
                    &mut self.metadata,
                    |node| match nodes.pick(node, ApiKey::Fetch) {
                        Some(Ok(v)) => Some(v),
                        Some(Err(e)) => {
                            version_errors.push(e);
                            None
                        }
                        None => {
                            wanted.push(node);
                            None
                        }
                    },
                );
        self.errors
            .extend(version_errors.into_iter().map(ConsumerError::from));
        for (req, ctx) in fetches {
            let node = ctx.node;
            let version = ctx.version;
            self.send(node, version, &req, Owner::Fetcher(ctx), now);
        }
    }

    /// Starts negotiation with `id` if it is a known node.
    fn connect(&mut self, id: NodeId) {
        let Some(node) = self.metadata.node(id).cloned() else {
            return;
        };
        self.ensure_ready(&node);
    }

    fn ensure_ready(&mut self, node: &Node) -> bool {
        match self.nodes.ensure_ready(node) {
            nodes::Readiness::Ready => true,
            nodes::Readiness::Waiting => false,
            nodes::Readiness::Sent {
                correlation_id,
                version,
            } => {
                let request =
                    InFlight::sent(node.id, ApiKey::ApiVersions, version, Owner::Negotiation);
                self.record(correlation_id, request);
                false
            }
        }
    }

    fn version_for(&mut self, node: NodeId, api: ApiKey) -> Option<i16> {
        match self.nodes.pick(node, api)? {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push_back(e.into());
                None
            }
        }
    }

    /// Queues `req` for the known node `node_id`, recorded with its owner.
    fn send<R: Request>(
        &mut self,
        node_id: NodeId,
        version: i16,
        req: &R,
        owner: Owner,
        now: Instant,
    ) {
        match self.metadata.node(node_id).cloned() {
            Some(node) => self.send_to(&node, version, req, None, owner, now),
            None => self.not_sent::<R>(node_id, owner, "its node vanished", now),
        }
    }

    /// Queues `req` for `node` (with a timeout of its own, if given), recorded with its
    /// owner; one that cannot be encoded ends at once, not sent.
    fn send_to<R: Request>(
        &mut self,
        node: &Node,
        version: i16,
        req: &R,
        timeout: Option<Duration>,
        owner: Owner,
        now: Instant,
    ) {
        if self.is_closed() {
            return self.not_sent::<R>(node.id, owner, "the consumer is closed", now);
        }
        match self.nodes.queue_with_timeout(node, version, req, timeout) {
            Ok(corr) => self.record(corr, InFlight::sent(node.id, R::API_KEY, version, owner)),
            Err(e) => {
                warn!("cannot encode {} v{version}: {e}", R::API_KEY);
                self.not_sent::<R>(node.id, owner, "it cannot be encoded", now);
            }
        }
    }

    /// A request its owner wanted that never left: the owner is told at once.
    fn not_sent<R: Request>(&mut self, node: NodeId, owner: Owner, why: &str, now: Instant) {
        self.not_sent_api(R::API_KEY, node, owner, why, now);
    }

    /// Like [`not_sent`](Self::not_sent), for a request of `api`.
    fn not_sent_api(&mut self, api: ApiKey, node: NodeId, owner: Owner, why: &str, now: Instant) {
        let failure = RequestFailure::NotSent(why.to_owned());
        self.unsent(api, node, owner, failure, now);
    }

    /// A request of `api` that never left, for `failure`: the owner is told at once.
    fn unsent(
        &mut self,
        api: ApiKey,
        node: NodeId,
        owner: Owner,
        failure: RequestFailure,
        now: Instant,
    ) {
        debug!("{api} to node {node}: {failure}");
        let request = InFlight {
            node,
            api,
            version: -1,
            owner,
            sent: false,
            handed_out: None,
        };
        self.finish(request, Err(failure), now);
    }

    /// Records a queued request. Correlation ids wrap after 2^31 requests: one still
    /// pending under the same id ends, cancelled, and its owner is told.
    fn record(&mut self, correlation_id: i32, request: InFlight) {
        let Some(old) = self.requests.record(correlation_id, request) else {
            return;
        };
        // Requests are queued only from calls that carry `now`.
        if let Some(now) = self.last_now {
            self.finish(old, Err(RequestFailure::Cancelled), now);
        }
    }

    fn prepare_metadata(&mut self, now: Instant) {
        if !self.metadata.should_update(now) {
            return;
        }
        // The least loaded ready node; else start negotiating with one not backing off.
        let candidates: Vec<Node> = self.metadata.nodes().into_iter().cloned().collect();
        let ready = candidates
            .iter()
            .filter(|n| self.nodes.is_ready(n.id))
            .min_by_key(|n| self.requests.in_flight(n.id))
            .cloned();
        let Some(node) = ready else {
            let next = candidates
                .iter()
                .filter(|n| !self.nodes.is_backing_off(n.id, now))
                .min_by_key(|n| self.requests.in_flight(n.id))
                .or_else(|| candidates.first())
                .cloned();
            if let Some(n) = next {
                self.ensure_ready(&n);
            }
            return;
        };
        let Some(version) = self.version_for(node.id, ApiKey::Metadata) else {
            return;
        };
        let topics: Vec<MetadataRequestTopic> = self
            .metadata
            .topics_of_interest()
            .map(|t| MetadataRequestTopic {
                name: Some(t.clone()),
                ..MetadataRequestTopic::default()
            })
            .collect();
        // v0 cannot ask for no topics; it asks for all (an empty list) instead.
        let topics = if self.metadata.wants_all_topics() || (topics.is_empty() && version == 0) {
            None
        } else {
            Some(topics)
        };
        let req = MetadataRequest {
            topics,
            allow_auto_topic_creation: self.config.allow_auto_create_topics,
            ..MetadataRequest::default()
        };
        self.send(node.id, version, &req, Owner::Metadata, now);
        self.metadata.update_sent();
    }

    fn apply_metadata(&mut self, resp: MetadataResponse, now: Instant) {
        let assigned: std::collections::HashSet<String> = self.subs.topics().into_iter().collect();
        for t in &resp.topics {
            if let Some(name) = &t.name {
                let wanted = assigned.contains(name)
                    || self.subs.subscribed_topics().binary_search(name).is_ok();
                if wanted {
                    self.report_topic_error(name, ErrorCode::from_i16(t.error_code), now);
                }
            }
        }
        let brokers = resp
            .brokers
            .into_iter()
            .map(|b| Node {
                id: b.node_id,
                host: b.host,
                port: b.port,
                rack: b.rack,
            })
            .collect();
        // Replica lists serve only rack-aware fetching (KIP-392).
        let keep_replicas = !self.config.client_rack.is_empty();
        let topics = resp
            .topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name?;
                let replicas = if keep_replicas {
                    crate::read_replica::online_replicas(&t.partitions)
                } else {
                    std::collections::HashMap::new()
                };
                let partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        (
                            p.partition_index,
                            PartitionLeader {
                                leader: (p.leader_id >= 0).then_some(p.leader_id),
                                leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                            },
                        )
                    })
                    .collect();
                Some((
                    name,
                    TopicInfo {
                        id: t.topic_id,
                        partitions,
                        error_code: t.error_code,
                        replicas,
                    },
                ))
            })
            .collect();
        self.metadata.update(now, brokers, resp.cluster_id, topics);
        self.validate_leader_changes();
        self.report_missing_partitions(now);
        self.apply_pattern();
        if let Some(g) = self.group.as_mut() {
            g.metadata_updated(&self.metadata);
        }
    }

    /// A topic the caller subscribed to or was assigned partitions of has `code` in a
    /// metadata answer (other topics are not reported). As in Java, an authorization failure is returned by the next
    /// `poll`; a topic that does not exist is logged at WARN (once per interval: it may
    /// be about to be created) and waited for.
    fn report_topic_error(&mut self, topic: &str, code: ErrorCode, now: Instant) {
        match code {
            ErrorCode::None => self.topic_warnings.clear(topic),
            ErrorCode::TopicAuthorizationFailed => {
                if self.topic_warnings.allow(topic, now) {
                    warn!("not authorized to read topic `{topic}` (TOPIC_AUTHORIZATION_FAILED)");
                }
                let queued = self.errors.iter().any(
                    |e| matches!(e, ConsumerError::TopicAuthorization { topic: t } if t == topic),
                );
                if !queued {
                    self.errors.push_back(ConsumerError::TopicAuthorization {
                        topic: topic.to_owned(),
                    });
                }
            }
            ErrorCode::UnknownTopicOrPartition => {
                if self.topic_warnings.allow(topic, now) {
                    warn!("topic `{topic}` does not exist (UNKNOWN_TOPIC_OR_PARTITION); waiting for it to be created");
                }
            }
            code => debug!("metadata for {topic}: {code}"),
        }
    }

    /// Assigned partitions that the metadata says their topic does not have: logged at
    /// WARN (once per interval each) and waited for, as the topic may grow.
    fn report_missing_partitions(&mut self, now: Instant) {
        let missing: Vec<(TopicPartition, usize)> = self
            .subs
            .assigned()
            .filter_map(|tp| {
                let info = self.metadata.topic(&tp.topic)?;
                let exists = info.error_code == 0 && !info.partitions.is_empty();
                (exists && !info.partitions.contains_key(&tp.partition))
                    .then(|| (tp.clone(), info.partitions.len()))
            })
            .collect();
        for (tp, count) in missing {
            if self.topic_warnings.allow(&tp.to_string(), now) {
                warn!("partition {tp} does not exist (topic `{}` has {count} partitions); waiting for it", tp.topic);
            }
        }
    }

    /// What the last metadata answer said of `topic` when it is a problem (it does not
    /// exist, it is not authorized, it has no leader), for the messages of timeouts.
    pub fn topic_problem(&self, topic: &str) -> Option<String> {
        let info = self.metadata.topic(topic)?;
        let code = ErrorCode::from_i16(info.error_code);
        if code != ErrorCode::None {
            return Some(format!("metadata for topic `{topic}`: {}", code.name()));
        }
        let leaderless: Vec<i32> = info
            .partitions
            .iter()
            .filter(|(_, l)| l.leader.is_none())
            .map(|(p, _)| *p)
            .collect();
        (!leaderless.is_empty())
            .then(|| format!("topic `{topic}`: no leader for partitions {leaderless:?}"))
    }

    fn apply_default_resets(&mut self) {
        let missing = self.subs.missing_positions();
        if missing.is_empty() {
            return;
        }
        // Partitions whose error is already queued (a set: thousands may wait).
        let mut reported: std::collections::HashSet<TopicPartition> = self
            .errors
            .iter()
            .filter_map(|e| match e {
                ConsumerError::NoOffsetForPartition { tp } => Some(tp.clone()),
                _ => None,
            })
            .collect();
        for tp in missing {
            if self
                .group
                .as_ref()
                .is_some_and(|g| g.commits.is_initializing(&tp))
            {
                // The committed offset is looked up first.
                continue;
            }
            match OffsetResetStrategy::from_policy(self.config.auto_offset_reset) {
                Some(strategy) => {
                    self.subs.request_reset(&tp, strategy);
                }
                None => {
                    if reported.insert(tp.clone()) {
                        self.errors
                            .push_back(ConsumerError::NoOffsetForPartition { tp });
                    }
                }
            }
        }
    }
}
