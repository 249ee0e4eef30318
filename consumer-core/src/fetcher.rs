//! The fetcher: builds one Fetch request per leader, turns answers into a buffer of
//! completed fetches, and drains records from it, at most `max.poll.records` at a time.
//!
//! Positions advance only past records handed to the caller (and past control batches,
//! which are never handed out). An answer for a partition that is no longer assigned, or
//! whose position moved since the request (a seek), is dropped.
//!
//! Fetches are pipelined: while the caller drains a partition's buffered data, the next
//! fetch of that partition already asks from the end of it, so the broker is not left
//! waiting for the caller. At most two fetches of a partition are held (one buffered, one
//! prefetched), and prefetching stops once `fetch.max.bytes` of data is buffered in all.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, warn};

use crate::codec::messages::fetch::{FINAL_SESSION_EPOCH, FIRST_TOPIC_ID_VERSION};
use crate::codec::messages::{FetchRequest, FetchResponse};
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, ConsumerRecord};
use crate::fetch_session::{is_session_error, FetchSessionHandler, PartitionFetch};
use crate::metadata::Metadata;
use crate::metadata::NodeId;
use crate::metrics::Consumed;
use crate::outcome::RequestFailure;
use crate::record::{
    scan_next_offset, DecodeOptions, RecordBatch, RecordBatches, RecordSource, Records,
};
use crate::subscription::{OffsetResetStrategy, SubscriptionState};
use crate::topic_partition::{FetchPosition, TopicPartition};

/// What was asked of one node, to interpret its answer.
#[derive(Debug, Clone)]
pub(crate) struct FetchContext {
    /// The node asked.
    pub node: NodeId,
    /// The version used.
    pub version: i16,
    /// Each partition asked with the offset asked from.
    pub partitions: HashMap<TopicPartition, i64>,
    /// Topic ids used in the request (v13+), to map the answer back to names.
    pub topic_ids: HashMap<[u8; 16], String>,
}

/// A partition's fetched data, decoded lazily as the caller drains it.
#[derive(Debug)]
struct CompletedFetch {
    tp: TopicPartition,
    batches: RecordBatches,
    current: Option<(RecordBatch, Records)>,
    /// The offset this data was fetched from.
    start: i64,
    /// The offset after its last complete batch, where a prefetch may start (None when it
    /// is not known cheaply, or no batch is complete).
    end: Option<i64>,
    /// Bytes of record data held.
    bytes: usize,
    /// The position after the last record or batch consumed from here.
    next_offset: i64,
    /// The leader epoch of the last record handed out (None: the position's, when first
    /// drained).
    last_epoch: Option<i32>,
    topic: Arc<str>,
}

/// One node's next fetch while it is assembled: the partitions with the offsets to fetch
/// from, and whether all of them are caught up (a fetch of those alone is a long poll
/// that waits out `fetch.max.wait.ms`).
type NodeFetch = (NodeId, Vec<(TopicPartition, i64)>, bool);

/// The fetch side of the consumer.
#[derive(Debug, Default)]
pub(crate) struct Fetcher {
    in_flight: HashSet<NodeId>,
    completed: VecDeque<CompletedFetch>,
    /// Completed fetches of paused partitions, kept until they are resumed.
    parked: Vec<CompletedFetch>,
    /// An error met after records were already drained in the same call.
    pending_error: Option<ConsumerError>,
    /// Partitions whose last fetch failed in a way a refetch at once cannot fix (e.g. out
    /// of range with no reset policy): not fetched again from that offset before the
    /// instant, so a broker answering at once does not make a busy loop.
    backoff: HashMap<TopicPartition, (i64, Instant)>,
    /// The fetch session with each node (KIP-227).
    sessions: HashMap<NodeId, FetchSessionHandler>,
    /// Partitions whose leader answered that it no longer leads them (or another error
    /// that needs fresh metadata), with the metadata update count then: not fetched again
    /// until a newer metadata answer is in. Fetching from the stale leader meanwhile
    /// would get the same error at once, a busy loop while the refresh is slow.
    awaiting_metadata: HashMap<TopicPartition, u64>,
    /// The same for nodes whose whole answer was such an error.
    nodes_awaiting_metadata: HashMap<NodeId, u64>,
}

impl Fetcher {
    /// An empty fetcher.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// True if records are buffered for a partition that is not paused.
    pub(crate) fn has_buffered(&self, subs: &SubscriptionState) -> bool {
        self.all_buffered().any(|c| !subs.is_paused(&c.tp))
    }

    /// Every completed fetch held, paused partitions' included.
    fn all_buffered(&self) -> impl Iterator<Item = &CompletedFetch> {
        self.completed.iter().chain(self.parked.iter())
    }

    fn buffered<'a>(&'a self, tp: &'a TopicPartition) -> impl Iterator<Item = &'a CompletedFetch> {
        self.all_buffered().filter(move |c| &c.tp == tp)
    }

    /// Bytes of record data buffered for all partitions.
    fn buffered_bytes(&self) -> usize {
        self.all_buffered().map(|c| c.bytes).sum()
    }

    /// Where the next fetch of `tp` starts: its position when nothing is buffered for it,
    /// else the end of its newest buffered data (None when that end is not known).
    fn next_fetch_offset(&self, tp: &TopicPartition, position: i64) -> Option<i64> {
        match self.buffered(tp).max_by_key(|c| c.start) {
            None => Some(position),
            Some(newest) => newest.prefetch_offset(),
        }
    }

    /// The fetch requests to send now, one per leader that has fetchable partitions and no
    /// fetch in flight. `ready` says whether a node can take a request (and at which
    /// Fetch version); partitions without a known leader ask for a metadata refresh.
    pub(crate) fn prepare(
        &mut self,
        config: &ConsumerConfig,
        subs: &SubscriptionState,
        metadata: &mut Metadata,
        mut ready: impl FnMut(NodeId) -> Option<i16>,
    ) -> Vec<(FetchRequest, FetchContext)> {
        // The common case while data flows: every broker already has a fetch in flight,
        // so nothing can be sent (and no partition needs looking at).
        if !self.in_flight.is_empty()
            && metadata.broker_ids().all(|id| self.in_flight.contains(&id))
        {
            return Vec::new();
        }
        let mut per_node: Vec<NodeFetch> = Vec::new();
        // Nodes leading a partition left out only because its buffered data is not
        // drained yet: it will want a fetch soon.
        let mut draining: HashSet<NodeId> = HashSet::new();
        let mut need_metadata = false;
        let room_to_prefetch =
            self.buffered_bytes() < usize::try_from(config.fetch_max_bytes).unwrap_or(0);
        for (tp, state) in subs.fetchable() {
            let Some(position) = state.position else {
                continue;
            };
            if self.backoff.contains_key(tp) {
                continue;
            }
            if let Some(at) = self.awaiting_metadata.get(tp) {
                if *at == metadata.update_count() {
                    continue;
                }
                self.awaiting_metadata.remove(tp);
            }
            let Some(node) = metadata.leader_node(tp).map(|n| n.id) else {
                need_metadata = true;
                continue;
            };
            if self.in_flight.contains(&node) {
                continue;
            }
            // Nothing buffered: fetch from the position; one answer buffered: prefetch from
            // its end; two: wait for the caller.
            let mut buffered = self.buffered(tp);
            let prefetch = match (buffered.next(), buffered.next()) {
                (None, _) => Some(position.offset),
                (Some(only), None) if room_to_prefetch => only.prefetch_offset(),
                _ => None,
            };
            let Some(offset) = prefetch else {
                draining.insert(node);
                continue;
            };
            let caught_up = state.high_watermark.is_some_and(|hw| offset >= hw);
            match per_node.iter_mut().find(|(n, _, _)| *n == node) {
                Some((_, list, all_caught_up)) => {
                    list.push((tp.clone(), offset));
                    *all_caught_up &= caught_up;
                }
                None => per_node.push((node, vec![(tp.clone(), offset)], caught_up)),
            }
        }
        if need_metadata {
            metadata.request_update();
        }
        let mut out = Vec::new();
        let seen = metadata.update_count();
        self.nodes_awaiting_metadata.retain(|_, at| *at == seen);
        for (node, parts, all_caught_up) in per_node {
            if self.nodes_awaiting_metadata.contains_key(&node) {
                continue;
            }
            if all_caught_up && draining.contains(&node) {
                // A long poll for caught-up partitions would hold the connection while a
                // busy partition of this node drains: wait and fetch them all together.
                continue;
            }
            let Some(mut version) = ready(node) else {
                continue;
            };
            // Topic ids are needed from v13 on; without them for every topic, stay below.
            let all_ids = parts
                .iter()
                .all(|(tp, _)| metadata.topic(&tp.topic).is_some_and(|t| t.id != [0; 16]));
            if version >= FIRST_TOPIC_ID_VERSION && !all_ids {
                version = FIRST_TOPIC_ID_VERSION - 1;
            }
            let wanted = parts.into_iter().map(|(tp, offset)| {
                let data = PartitionFetch {
                    topic_id: metadata.topic(&tp.topic).map_or([0; 16], |t| t.id),
                    fetch_offset: offset,
                    current_leader_epoch: metadata
                        .leader(&tp)
                        .and_then(|l| l.leader_epoch)
                        .unwrap_or(-1),
                    max_bytes: config.max_partition_fetch_bytes,
                };
                (tp, data)
            });
            // The session decides what goes on the wire; the answer may carry any
            // partition of the session, sent in this request or not.
            let fetch = self
                .sessions
                .entry(node)
                .or_default()
                .build(version, wanted);
            let ctx = FetchContext {
                node,
                version,
                partitions: fetch.offsets(),
                topic_ids: fetch.topic_names(),
            };
            let request = FetchRequest {
                topics: fetch.topics(),
                forgotten_topics_data: fetch.forgotten_topics(),
                ..fetch_request(config, fetch.session_id, fetch.session_epoch)
            };
            self.in_flight.insert(node);
            out.push((request, ctx));
        }
        out
    }

    /// Forgets every fetch session. Returns, in node order, the nodes whose brokers hold
    /// one, with the request that closes it: a Fetch naming the session (its
    /// `session_id`) with epoch -1 and no partition, answered at once.
    pub(crate) fn close_sessions(
        &mut self,
        config: &ConsumerConfig,
    ) -> Vec<(NodeId, FetchRequest)> {
        let mut open: Vec<(NodeId, i32)> = self
            .sessions
            .iter_mut()
            .filter_map(|(node, s)| s.close().map(|id| (*node, id)))
            .collect();
        open.sort_unstable();
        open.into_iter()
            .map(|(node, id)| {
                let request = FetchRequest {
                    max_wait_ms: 0,
                    min_bytes: 0,
                    ..fetch_request(config, id, FINAL_SESSION_EPOCH)
                };
                (node, request)
            })
            .collect()
    }

    /// The fetch to `node` ended without an answer: its session starts over, and the
    /// leader may have moved, so metadata is looked at again before fetching from it.
    fn fetch_failed(&mut self, node: NodeId, failure: &RequestFailure, metadata: &mut Metadata) {
        debug!("fetch from node {node} failed: {failure}");
        if let Some(session) = self.sessions.get_mut(&node) {
            session.handle_error();
        }
        metadata.request_update();
    }

    /// Applies the outcome of a fetch: buffers records, records watermarks, and handles
    /// per-partition errors as the Java consumer does. Errors for the caller are returned.
    pub(crate) fn handle_response(
        &mut self,
        now: Instant,
        ctx: FetchContext,
        resp: Result<FetchResponse, RequestFailure>,
        config: &ConsumerConfig,
        subs: &mut SubscriptionState,
        metadata: &mut Metadata,
    ) -> Vec<ConsumerError> {
        self.in_flight.remove(&ctx.node);
        let resp = match resp {
            Ok(resp) => resp,
            Err(failure) => {
                self.fetch_failed(ctx.node, &failure, metadata);
                return Vec::new();
            }
        };
        if let Some(session) = self.sessions.get_mut(&ctx.node) {
            session.handle_response(resp.session_id, resp.error_code);
        }
        let mut errors = Vec::new();
        let top = ErrorCode::from_i16(resp.error_code);
        if is_session_error(top) {
            // The session handler starts over; the next fetch is a full one.
            debug!("fetch session with node {}: {top}", ctx.node);
            return errors;
        }
        if top != ErrorCode::None {
            warn!("fetch from node {} failed: {top}", ctx.node);
            metadata.request_update();
            self.nodes_awaiting_metadata
                .insert(ctx.node, metadata.update_count());
            return errors;
        }
        let decode = DecodeOptions {
            verify_crc: config.check_crcs,
            max_decompressed_bytes: config.max_decompressed_bytes,
            ..DecodeOptions::default()
        };
        for topic in resp.responses {
            let name = if ctx.version >= FIRST_TOPIC_ID_VERSION {
                match ctx.topic_ids.get(&topic.topic_id) {
                    Some(n) => n.clone(),
                    None => {
                        debug!("fetch answer for unknown topic id; dropped");
                        self.sessions.entry(ctx.node).or_default().invalidate();
                        continue;
                    }
                }
            } else {
                topic.topic
            };
            let shared: Arc<str> = Arc::from(name.as_str());
            for part in topic.partitions {
                let tp = TopicPartition::new(name.clone(), part.partition_index);
                let Some(&fetch_offset) = ctx.partitions.get(&tp) else {
                    debug!("fetch answer for {tp}, which was not asked; dropped");
                    self.sessions.entry(ctx.node).or_default().invalidate();
                    continue;
                };
                let Some(state) = subs.get_mut(&tp) else {
                    debug!("fetch answer for {tp}, no longer assigned; dropped");
                    continue;
                };
                let expected = state
                    .position
                    .and_then(|p| self.next_fetch_offset(&tp, p.offset));
                if expected != Some(fetch_offset) || state.reset.is_some() {
                    debug!("fetch answer for {tp} from {fetch_offset}: position moved; dropped");
                    continue;
                }
                match ErrorCode::from_i16(part.error_code) {
                    ErrorCode::None => {
                        state.high_watermark = Some(part.high_watermark);
                        if part.last_stable_offset >= 0 {
                            state.last_stable_offset = Some(part.last_stable_offset);
                        }
                        if part.log_start_offset >= 0 {
                            state.log_start_offset = Some(part.log_start_offset);
                        }
                        let Some(records) = part.records.filter(|r| !r.is_empty()) else {
                            continue;
                        };
                        let source = RecordSource {
                            topic: shared.clone(),
                            partition: tp.partition,
                        };
                        self.completed.push_back(CompletedFetch {
                            tp,
                            end: scan_next_offset(&records),
                            bytes: records.len(),
                            batches: RecordBatches::new(source, records, &decode),
                            current: None,
                            start: fetch_offset,
                            next_offset: fetch_offset,
                            last_epoch: None,
                            topic: shared.clone(),
                        });
                    }
                    ErrorCode::OffsetOutOfRange => {
                        match OffsetResetStrategy::from_policy(config.auto_offset_reset) {
                            Some(strategy) => {
                                debug!("{tp}: offset {fetch_offset} out of range, resetting to {strategy:?}");
                                subs.request_reset(&tp, strategy);
                            }
                            None => {
                                debug_assert_eq!(config.auto_offset_reset, AutoOffsetReset::None);
                                self.back_off(&tp, fetch_offset, now, config.retry_backoff);
                                errors.push(ConsumerError::OffsetOutOfRange {
                                    tp,
                                    offset: fetch_offset,
                                });
                            }
                        }
                    }
                    ErrorCode::TopicAuthorizationFailed => {
                        self.back_off(&tp, fetch_offset, now, config.retry_backoff);
                        errors.push(ConsumerError::TopicAuthorization { topic: tp.topic });
                    }
                    code if code.needs_metadata_refresh() => {
                        debug!("{tp}: {code}; refreshing metadata before fetching it again");
                        metadata.request_update();
                        self.awaiting_metadata.insert(tp, metadata.update_count());
                    }
                    ErrorCode::UnknownLeaderEpoch => {
                        // The broker is behind our metadata; try again shortly.
                        debug!("{tp}: broker behind on leader epoch; retrying");
                        self.back_off(&tp, fetch_offset, now, config.retry_backoff);
                    }
                    code => {
                        warn!("{tp}: fetch error {code}; refreshing metadata and retrying");
                        metadata.request_update();
                        self.back_off(&tp, fetch_offset, now, config.retry_backoff);
                    }
                }
            }
        }
        errors
    }

    /// Ends the partition backoffs that are over at `now`, or whose position moved.
    pub(crate) fn expire_backoffs(&mut self, now: Instant, subs: &SubscriptionState) {
        self.backoff.retain(|tp, (offset, until)| {
            now < *until && subs.position(tp).map(|p| p.offset) == Some(*offset)
        });
    }

    /// Keeps `tp` out of fetches until `now + backoff`, unless its position leaves `offset`.
    pub(crate) fn back_off(
        &mut self,
        tp: &TopicPartition,
        offset: i64,
        now: Instant,
        backoff: Duration,
    ) {
        self.backoff.insert(tp.clone(), (offset, now + backoff));
    }

    /// Drains up to `max` records, advancing positions past what is returned and counting
    /// it per partition and in `total`.
    ///
    /// A corrupt batch stops its partition at the record before it; the error is returned
    /// once no record precedes it in this call, so nothing already decoded is lost.
    pub(crate) fn drain(
        &mut self,
        max: usize,
        subs: &mut SubscriptionState,
        out: &mut Vec<ConsumerRecord>,
        total: &mut Consumed,
    ) -> Result<(), ConsumerError> {
        if let Some(err) = self.pending_error.take() {
            return Err(err);
        }
        // Resumed partitions come back into line, in the order they were fetched.
        if self.parked.iter().any(|c| !subs.is_paused(&c.tp)) {
            let (resumed, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|c| !subs.is_paused(&c.tp));
            self.parked = still;
            self.completed.extend(resumed);
        }
        while out.len() < max {
            let Some(mut fetch) = self.completed.pop_front() else {
                break;
            };
            let Some(state) = subs.get(&fetch.tp) else {
                continue;
            };
            if state.paused {
                self.parked.push(fetch);
                continue;
            }
            if state.position.map(|p| p.offset) != Some(fetch.next_offset) || state.reset.is_some()
            {
                // Moved by a seek or reset since this data was fetched.
                continue;
            }
            if fetch.last_epoch.is_none() {
                fetch.last_epoch = state.position.and_then(|p| p.leader_epoch);
            }
            let before = out.len();
            let result = fetch.take(max - before, out);
            let position = FetchPosition {
                offset: fetch.next_offset,
                leader_epoch: fetch.last_epoch,
            };
            let consumed = consumed(&out[before..]);
            total.add(consumed);
            subs.advance(&fetch.tp, position, consumed);
            match result {
                Ok(true) => {}
                Ok(false) => self.completed.push_front(fetch),
                Err(source) => {
                    let tp = fetch.tp.clone();
                    let err = ConsumerError::CorruptRecord {
                        tp,
                        offset: fetch.next_offset,
                        source,
                    };
                    if out.is_empty() {
                        return Err(err);
                    }
                    // Hand out what came before; the error comes on the next drain.
                    self.pending_error = Some(err);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Drops buffered data of partitions no longer assigned.
    pub(crate) fn retain_assigned(&mut self, subs: &SubscriptionState) {
        self.completed.retain(|c| subs.is_assigned(&c.tp));
        self.parked.retain(|c| subs.is_assigned(&c.tp));
        self.backoff.retain(|tp, _| subs.is_assigned(tp));
        self.awaiting_metadata.retain(|tp, _| subs.is_assigned(tp));
    }

    /// Drops everything buffered for `tp` (after a seek).
    pub(crate) fn clear_partition(&mut self, tp: &TopicPartition) {
        self.completed.retain(|c| &c.tp != tp);
        self.parked.retain(|c| &c.tp != tp);
        self.backoff.remove(tp);
    }

    /// When each partition backoff ends.
    pub(crate) fn backoff_ends(&self) -> impl Iterator<Item = Instant> + '_ {
        self.backoff.values().map(|(_, until)| *until)
    }
}

impl CompletedFetch {
    /// Where a fetch following this data starts, if known.
    fn prefetch_offset(&self) -> Option<i64> {
        self.end.filter(|&end| end > self.start)
    }

    /// Moves up to `max` records into `out`. Ok(true) when this fetch is used up.
    fn take(
        &mut self,
        max: usize,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<bool, crate::record::RecordError> {
        let limit = out.len().saturating_add(max);
        loop {
            if self.current.is_none() {
                match self.batches.next() {
                    None => return Ok(true),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(batch)) => {
                        if batch.next_offset() <= self.next_offset {
                            // Entirely before the position (brokers send whole batches).
                            continue;
                        }
                        if batch.is_control() {
                            // Control records are never handed out; skip past them.
                            self.next_offset = batch.next_offset();
                            continue;
                        }
                        let records = batch.records()?;
                        self.current = Some((batch, records));
                    }
                }
            }
            let Some((batch, records)) = self.current.as_mut() else {
                continue;
            };
            let epoch = batch.partition_leader_epoch();
            let before = out.len();
            let (topic, partition) = (&self.topic, self.tp.partition);
            let done = records.drain_into(&mut self.next_offset, out, limit, |r| ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: r.timestamp_type,
                leader_epoch: epoch,
                key: r.key,
                value: r.value,
                headers: r.headers,
            });
            if out.len() > before && epoch.is_some() {
                self.last_epoch = epoch;
            }
            match done {
                Ok(true) => {
                    // Offsets compacted away at the end of a batch are skipped too.
                    self.next_offset = self.next_offset.max(batch.next_offset());
                    self.current = None;
                }
                Ok(false) => return Ok(false),
                Err(e) => {
                    self.current = None;
                    return Err(e);
                }
            }
        }
    }
}

/// The count and key+value bytes of `records`.
fn consumed(records: &[ConsumerRecord]) -> Consumed {
    let len = |b: &Option<bytes::Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
    Consumed {
        records: records.len() as u64,
        bytes: records.iter().map(|r| len(&r.key) + len(&r.value)).sum(),
    }
}

/// A Fetch with this consumer's settings for the session `session_id` at `session_epoch`,
/// naming no partition yet.
fn fetch_request(config: &ConsumerConfig, session_id: i32, session_epoch: i32) -> FetchRequest {
    FetchRequest {
        max_wait_ms: duration_ms(config.fetch_max_wait),
        min_bytes: config.fetch_min_bytes,
        max_bytes: config.fetch_max_bytes,
        isolation_level: config.isolation_level.wire_value(),
        session_id,
        session_epoch,
        rack_id: config.client_rack.clone(),
        ..FetchRequest::default()
    }
}

fn duration_ms(d: std::time::Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
