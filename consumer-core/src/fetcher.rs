//! The fetcher: builds one Fetch request per leader, turns answers into a buffer of
//! completed fetches, and drains records from it, at most `max.poll.records` at a time.
//!
//! Positions advance only past records handed to the caller (and past control batches,
//! which are never handed out, and under `read_committed` past the batches of aborted
//! transactions, see [`AbortedTransactions`]). An answer for a partition that is no longer assigned, or
//! whose position moved since the request (a seek), is dropped.
//!
//! Fetches are pipelined: while the caller drains a partition's buffered data, the next
//! fetch of that partition already asks from the end of it, so the broker is not left
//! waiting for the caller. At most two fetches of a partition are held (one buffered, one
//! prefetched), and prefetching stops once the answers that buffered data is cut from
//! (held whole while any of it is buffered, see [`answers`]) add up to `fetch.max.bytes`.
//!
//! # Work proportional to what changed
//! A poll must not cost in proportion to the assignment (thousands of partitions): the
//! fetcher keeps, per partition slot (see [`SubscriptionState`]), what it buffers and
//! where the partition stands — fetched from a node at some offset, draining, without a
//! leader, or not fetched — and per node the partitions it fetches. Only the slots whose
//! inputs changed are looked at again: those the subscription logs as touched (position,
//! pause, reset, watermarks), those whose buffered data, backoff or metadata wait changed
//! here; all of them when the assignment, the metadata or the room to prefetch changed.
//! Each node also keeps the slots changed since its last request, which is all an
//! incremental fetch session (KIP-227) needs to build the next request.

mod answers;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, warn};

use crate::codec::messages::fetch::{FINAL_SESSION_EPOCH, FIRST_TOPIC_ID_VERSION};
use crate::codec::messages::{FetchRequest, FetchResponse};
use crate::config::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, ConsumerRecord};
use crate::fetch_session::{is_session_error, FetchSessionHandler, PartitionFetch};
use crate::metadata::Metadata;
use crate::metadata::NodeId;
use crate::outcome::RequestFailure;
use crate::read_replica::ReadReplicas;
use crate::record::{
    scan_next_offset, AbortedTransactions, DecodeOptions, RecordBatch, RecordBatches, RecordSource,
    Records,
};
use crate::slot_set::SlotSet;
use crate::subscription::{Consumed, OffsetResetStrategy, PartitionState, SubscriptionState};
use crate::topic_partition::{FetchPosition, TopicPartition};

use answers::{Answer, HeldAnswers};

/// What was asked of one node, to interpret its answer. The partitions the answer may
/// carry, with the offsets they were fetched from, are those of the node's fetch
/// session, which does not change until the answer is in.
#[derive(Debug, Clone)]
pub(crate) struct FetchContext {
    /// The node asked.
    pub node: NodeId,
    /// The version used.
    pub version: i16,
}

/// A partition's fetched data, decoded lazily as the caller drains it.
#[derive(Debug)]
struct CompletedFetch {
    /// The partition's slot in the assignment the fetcher is synced with (kept up to date
    /// by `Fetcher::sync`).
    slot: usize,
    partition: i32,
    batches: RecordBatches,
    current: Option<(RecordBatch, Records)>,
    /// The offset this data was fetched from.
    start: i64,
    /// The offset after its last complete batch, where a prefetch may start (None when it
    /// is not known cheaply, or no batch is complete).
    end: Option<i64>,
    /// Its share in the answer it was cut from, which stays in memory while it is held
    /// (kept for its drop alone).
    _answer: Answer,
    /// The position after the last record or batch consumed from here.
    next_offset: i64,
    /// The leader epoch of the last record handed out (None: the position's, when first
    /// drained).
    last_epoch: Option<i32>,
    topic: Arc<str>,
    /// Under `read_committed`, the aborted transactions the answer listed (None when it
    /// listed none: then no batch is looked at for them).
    aborted: Option<Box<AbortedTransactions>>,
}

/// Where a partition stands for the next fetches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Placement {
    /// Not fetched: not assigned or not fetchable (paused, no position, a reset pending),
    /// backing off, or waiting for newer metadata.
    #[default]
    Out,
    /// Fetchable, but its leader is not known: metadata is asked for.
    Leaderless,
    /// Its buffered data must be drained before it is fetched again from `node`.
    Draining(NodeId),
    /// Fetched from `node` (with the data in that node's `wanted`).
    Wanted {
        /// The leader.
        node: NodeId,
        /// The offset asked is at or past the high watermark.
        caught_up: bool,
    },
}

/// What fetching a partition needs from the metadata: its leader (a known broker), the
/// leader epoch and the topic id.
type Leader = (NodeId, Option<i32>, [u8; 16]);

/// The fetcher's view of one assigned partition.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Completed fetches held for it (buffered and parked).
    buffered: u32,
    /// The start of the newest of them, and the offset a prefetch after it starts from.
    newest: Option<(i64, Option<i64>)>,
    placement: Placement,
    /// What its fetch asks while it is `Wanted` (in that node's `wanted`).
    fetch: Option<PartitionFetch>,
    /// Its leader as of a metadata version: looked up once per version, not per placement.
    leader: Option<(u64, Option<Leader>)>,
    /// Queued in `Fetcher::dirty`.
    dirty: bool,
}

/// The partitions fetched from one node.
#[derive(Debug, Default)]
struct NodeFetches {
    /// The slots placed `Wanted` here (their fetch data in `Slot::fetch`).
    wanted: SlotSet,
    /// Wanted partitions that are not caught up.
    not_caught_up: usize,
    /// Wanted partitions without a topic id.
    without_topic_id: usize,
    /// Partitions of this node that wait for their buffered data to be drained.
    draining: usize,
    /// Slots whose entry in `wanted` changed since this node's last request was built.
    changed: SlotSet,
    /// The slots named by its last request if that was a full one, in the request's order.
    asked: Vec<usize>,
}

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

    // ---- indexes (see the module documentation) ----
    /// The assignment version `slots` belong to.
    assignment: Option<u64>,
    /// The metadata version the placements were computed with.
    metadata_version: Option<u64>,
    /// Whether there was room to prefetch when the placements were computed.
    room: bool,
    /// Per assigned partition, by slot.
    slots: Vec<Slot>,
    /// Slots whose placement must be computed again.
    dirty: Vec<usize>,
    /// Every slot's placement must be computed again.
    all_dirty: bool,
    /// The answers buffered and parked data is cut from.
    held: HeldAnswers,
    /// Per node, the partitions it is fetched.
    nodes: BTreeMap<NodeId, NodeFetches>,
    /// Partitions placed `Leaderless`.
    leaderless: usize,
    /// The replicas partitions are read from instead of their leader (KIP-392).
    read_replicas: ReadReplicas,
}

impl Fetcher {
    /// An empty fetcher.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// True if records are buffered for a partition that is not paused.
    pub(crate) fn has_buffered(&self, subs: &SubscriptionState) -> bool {
        let synced = self.assignment == Some(subs.assignment_version());
        self.all_buffered().any(|c| {
            if synced {
                !subs.at(c.slot).is_some_and(|(_, s)| s.paused)
            } else {
                !subs.is_paused(&c.tp())
            }
        })
    }

    /// Every completed fetch held, paused partitions' included.
    fn all_buffered(&self) -> impl Iterator<Item = &CompletedFetch> {
        self.completed.iter().chain(self.parked.iter())
    }

    /// Catches up with a new assignment: drops what belongs to partitions no longer
    /// assigned and lays the slots out again (every placement is computed anew, every
    /// session compares all at its next request).
    fn sync(&mut self, subs: &SubscriptionState) {
        if self.assignment == Some(subs.assignment_version()) {
            return;
        }
        self.assignment = Some(subs.assignment_version());
        // What is kept moves to the partition's new slot.
        let resolve = |c: &mut CompletedFetch| match subs.slot_of(&c.tp()) {
            Some(slot) => {
                c.slot = slot;
                true
            }
            None => false,
        };
        self.completed.retain_mut(resolve);
        self.parked.retain_mut(resolve);
        self.backoff.retain(|tp, _| subs.is_assigned(tp));
        self.awaiting_metadata.retain(|tp, _| subs.is_assigned(tp));
        self.slots = vec![Slot::default(); subs.len()];
        let held: Vec<(usize, i64, Option<i64>)> = self
            .all_buffered()
            .map(|c| (c.slot, c.start, c.prefetch_offset()))
            .collect();
        for (slot, start, prefetch) in held {
            if let Some(s) = self.slots.get_mut(slot) {
                s.buffered += 1;
                if s.newest.is_none_or(|(newest, _)| start > newest) {
                    s.newest = Some((start, prefetch));
                }
            }
        }
        self.nodes.clear();
        self.leaderless = 0;
        self.read_replicas.clear_all();
        self.dirty.clear();
        self.all_dirty = true;
        for session in self.sessions.values_mut() {
            session.resync();
        }
    }

    /// Queues `slot`'s placement to be computed again.
    fn mark(&mut self, slot: usize) {
        if let Some(s) = self.slots.get_mut(slot) {
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(slot);
            }
        }
    }

    /// A completed fetch of `slot` (None: not assigned) is gone (drained or dropped).
    fn dropped_one(&mut self, slot: Option<usize>, fetch: &CompletedFetch) {
        let Some(slot) = slot else {
            return;
        };
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        s.buffered = s.buffered.saturating_sub(1);
        if s.buffered == 0 {
            s.newest = None;
        } else if s.newest.is_some_and(|(newest, _)| newest == fetch.start) {
            // Not the oldest of its partition gone first (rare): find the newest left.
            let newest = self
                .completed
                .iter()
                .chain(self.parked.iter())
                .filter(|c| c.slot == fetch.slot)
                .max_by_key(|c| c.start)
                .map(|c| (c.start, c.prefetch_offset()));
            if let Some(s) = self.slots.get_mut(slot) {
                s.newest = newest;
            }
        }
        self.mark(slot);
    }

    /// Brings every placement up to date with what changed since the last call.
    fn update_placements(
        &mut self,
        config: &ConsumerConfig,
        subs: &mut SubscriptionState,
        metadata: &Metadata,
    ) {
        self.sync(subs);
        if self.metadata_version != Some(metadata.version()) {
            self.metadata_version = Some(metadata.version());
            self.all_dirty = true;
        }
        let room = self.held.bytes() < usize::try_from(config.fetch_max_bytes).unwrap_or(0);
        if room != self.room {
            // Partitions with one answer buffered are prefetched only with room.
            self.room = room;
            for slot in 0..self.slots.len() {
                if self.slots.get(slot).is_some_and(|s| s.buffered == 1) {
                    self.mark(slot);
                }
            }
        }
        let touched = subs.take_touched();
        if self.all_dirty {
            self.all_dirty = false;
            for slot in std::mem::take(&mut self.dirty) {
                if let Some(s) = self.slots.get_mut(slot) {
                    s.dirty = false;
                }
            }
            for slot in 0..self.slots.len() {
                self.place(slot, config, subs, metadata);
            }
            return;
        }
        for slot in touched {
            self.mark(slot);
        }
        for slot in std::mem::take(&mut self.dirty) {
            if let Some(s) = self.slots.get_mut(slot) {
                s.dirty = false;
            }
            self.place(slot, config, subs, metadata);
        }
    }

    /// Computes where `slot` stands now and files it under its node.
    fn place(
        &mut self,
        slot: usize,
        config: &ConsumerConfig,
        subs: &SubscriptionState,
        metadata: &Metadata,
    ) {
        let Some((tp, state)) = subs.at(slot) else {
            return;
        };
        let (placement, data) = self.placement_of(slot, tp, state, config, metadata);
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        let old = std::mem::replace(&mut s.placement, placement);
        let old_fetch = s.fetch.take();
        let new_data = match placement {
            Placement::Wanted { node, .. } => data.map(|d| (node, d)),
            _ => None,
        };
        if let Some((_, d)) = new_data {
            s.fetch = Some(d);
        }
        let old_data = match old {
            Placement::Out => None,
            Placement::Leaderless => {
                self.leaderless = self.leaderless.saturating_sub(1);
                None
            }
            Placement::Draining(node) => {
                if let Some(n) = self.nodes.get_mut(&node) {
                    n.draining = n.draining.saturating_sub(1);
                }
                None
            }
            Placement::Wanted { node, caught_up } => {
                let n = self.nodes.entry(node).or_default();
                let old = old_fetch.filter(|_| n.wanted.remove(slot));
                if !caught_up {
                    n.not_caught_up = n.not_caught_up.saturating_sub(1);
                }
                if old.is_some_and(|d| d.topic_id == [0; 16]) {
                    n.without_topic_id = n.without_topic_id.saturating_sub(1);
                }
                old.map(|d| (node, d))
            }
        };
        match placement {
            Placement::Out => {}
            Placement::Leaderless => self.leaderless += 1,
            Placement::Draining(node) => self.nodes.entry(node).or_default().draining += 1,
            Placement::Wanted { node, caught_up } => {
                let n = self.nodes.entry(node).or_default();
                if !caught_up {
                    n.not_caught_up += 1;
                }
                if let Some(d) = data {
                    if d.topic_id == [0; 16] {
                        n.without_topic_id += 1;
                    }
                    n.wanted.insert(slot);
                }
            }
        }
        // What each node's session must hear about at its next request.
        if old_data != new_data {
            for (node, _) in old_data.into_iter().chain(new_data) {
                self.nodes.entry(node).or_default().changed.insert(slot);
            }
        }
    }

    /// Where `tp` stands now, with its fetch data when it is fetched.
    fn placement_of(
        &mut self,
        slot: usize,
        tp: &TopicPartition,
        state: &PartitionState,
        config: &ConsumerConfig,
        metadata: &Metadata,
    ) -> (Placement, Option<PartitionFetch>) {
        let out = (Placement::Out, None);
        let Some(position) = state.position.filter(|_| state.is_fetchable()) else {
            return out;
        };
        if !self.backoff.is_empty() && self.backoff.contains_key(tp) {
            return out;
        }
        if let Some(at) = self.awaiting_metadata.get(tp) {
            if *at == metadata.update_count() {
                return out;
            }
            self.awaiting_metadata.remove(tp);
        }
        let version = metadata.version();
        let Some(s) = self.slots.get_mut(slot) else {
            return out;
        };
        let leader = match s.leader {
            Some((v, leader)) if v == version => leader,
            _ => {
                let leader = metadata.fetch_leader(tp);
                s.leader = Some((version, leader));
                leader
            }
        };
        let s = *s;
        let Some((node, leader_epoch, topic_id)) = leader else {
            return (Placement::Leaderless, None);
        };
        let node = self
            .read_replicas
            .select(slot, node, |r| metadata.is_read_replica(tp, r));
        // Nothing buffered: fetch from the position; one answer buffered: prefetch from
        // its end; two: wait for the caller.
        let offset = match (s.buffered, s.newest) {
            (0, _) => Some(position.offset),
            (1, Some((_, prefetch))) if self.room => prefetch,
            _ => None,
        };
        let Some(offset) = offset else {
            return (Placement::Draining(node), None);
        };
        // Under read_committed the visible end is the last stable offset (the high
        // watermark while no answer gave one).
        let end = state
            .end_offset(config.isolation_level)
            .or(state.high_watermark);
        let caught_up = end.is_some_and(|end| offset >= end);
        let data = PartitionFetch {
            topic_id,
            fetch_offset: offset,
            current_leader_epoch: leader_epoch.unwrap_or(-1),
            max_bytes: config.max_partition_fetch_bytes,
        };
        (Placement::Wanted { node, caught_up }, Some(data))
    }

    /// The fetch requests to send now, one per leader that has fetchable partitions and no
    /// fetch in flight. `ready` says whether a node can take a request (and at which
    /// Fetch version); partitions without a known leader ask for a metadata refresh.
    pub(crate) fn prepare(
        &mut self,
        config: &ConsumerConfig,
        subs: &mut SubscriptionState,
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
        self.update_placements(config, subs, metadata);
        if self.leaderless > 0 {
            metadata.request_update();
        }
        let seen = metadata.update_count();
        self.nodes_awaiting_metadata.retain(|_, at| *at == seen);
        // Nodes in the order of their first partition in the assignment.
        let mut candidates: Vec<(usize, NodeId)> = self
            .nodes
            .iter()
            .filter(|(node, _)| !self.in_flight.contains(node))
            .filter_map(|(node, n)| n.wanted.first().map(|slot| (slot, *node)))
            .collect();
        candidates.sort_unstable();
        let mut out = Vec::new();
        for (_, node) in candidates {
            if self.nodes_awaiting_metadata.contains_key(&node) {
                continue;
            }
            let Some(n) = self.nodes.get_mut(&node) else {
                continue;
            };
            if n.not_caught_up == 0 && n.draining > 0 {
                // A long poll for caught-up partitions would hold the connection while a
                // busy partition of this node drains: wait and fetch them all together.
                continue;
            }
            let Some(mut version) = ready(node) else {
                continue;
            };
            // Topic ids are needed from v13 on; without them for every topic, stay below.
            if version >= FIRST_TOPIC_ID_VERSION && n.without_topic_id > 0 {
                version = FIRST_TOPIC_ID_VERSION - 1;
            }
            let slots = &self.slots;
            let subs = &*subs;
            let (wanted, changed) = (&n.wanted, &n.changed);
            // What a slot's fetch asks, if it is wanted from this node.
            let data = |slot: usize| {
                Some(slot)
                    .filter(|&slot| wanted.contains(slot))
                    .and_then(|slot| slots.get(slot)?.fetch)
            };
            let all = || {
                wanted
                    .iter()
                    .filter_map(move |slot| Some((subs.at(slot)?.0, data(slot)?)))
            };
            let changes = || {
                changed
                    .iter()
                    .filter_map(|slot| Some((subs.at(slot)?.0.clone(), data(slot))))
                    .collect()
            };
            // The session decides what goes on the wire; the answer may carry any
            // partition of the session, sent in this request or not.
            let fetch =
                self.sessions
                    .entry(node)
                    .or_default()
                    .build_changes(version, all, Some(changes));
            n.changed.clear();
            // The slots of a full request in its order, which is the session's: its
            // answer is matched to slots without a lookup.
            n.asked.clear();
            if fetch.full {
                let slots = &self.slots;
                let named = |slot: &usize| {
                    subs.at(*slot).is_some() && slots.get(*slot).is_some_and(|s| s.fetch.is_some())
                };
                n.asked.extend(n.wanted.iter().filter(named));
            }
            let request = FetchRequest {
                topics: fetch.topics(),
                forgotten_topics_data: fetch.forgotten_topics(),
                ..fetch_request(config, fetch.session_id, fetch.session_epoch)
            };
            self.in_flight.insert(node);
            out.push((request, FetchContext { node, version }));
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
        self.node_unusable(node);
    }

    /// `node`'s connection failed: the partitions read from it as their preferred read
    /// replica go back to their leader.
    pub(crate) fn node_unusable(&mut self, node: NodeId) {
        for slot in self.read_replicas.clear_node(node) {
            debug!("read replica {node} unusable; slot {slot} back to its leader");
            self.mark(slot);
        }
    }

    /// Sends the partitions whose preferred read replica expired at `now` back to their
    /// leader (which may name it again).
    pub(crate) fn expire_read_replicas(&mut self, now: Instant) {
        for slot in self.read_replicas.expire(now) {
            self.mark(slot);
        }
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
        self.sync(subs);
        self.in_flight.remove(&ctx.node);
        let resp = match resp {
            Ok(resp) => resp,
            Err(failure) => {
                self.fetch_failed(ctx.node, &failure, metadata);
                return Vec::new();
            }
        };
        let session = self.sessions.entry(ctx.node).or_default();
        session.handle_response(resp.session_id, resp.error_code);
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
        let read_committed = config.isolation_level == IsolationLevel::ReadCommitted;
        // The slots of the request if it was a full one, in the order of the session.
        let asked: &[usize] = self.nodes.get(&ctx.node).map_or(&[], |n| &n.asked);
        // Where the next partition of the answer is expected in the session.
        let mut guess = 0;
        let answer = self.held.arrived(
            resp.responses
                .iter()
                .flat_map(|t| &t.partitions)
                .map(|p| p.records.as_ref().map_or(0, |r| r.len()))
                .sum(),
        );
        for topic in resp.responses {
            let (name, shared) = if ctx.version >= FIRST_TOPIC_ID_VERSION {
                match session.topic_of(&topic.topic_id) {
                    Some(n) => (n.to_string(), n.clone()),
                    None => {
                        debug!("fetch answer for unknown topic id; dropped");
                        session.invalidate();
                        continue;
                    }
                }
            } else {
                let shared = Arc::from(topic.topic.as_str());
                (topic.topic, shared)
            };
            // One key per topic, its partition set for each (no allocation per partition).
            let mut key = TopicPartition::new(name, 0);
            for part in topic.partitions {
                key.partition = part.partition_index;
                let tp = &key;
                let Some((index, fetch_offset)) = session.fetched_at(tp, guess) else {
                    debug!("fetch answer for {tp}, which was not asked; dropped");
                    session.invalidate();
                    continue;
                };
                guess = index + 1;
                let asked_slot = asked
                    .get(index)
                    .copied()
                    .filter(|&slot| subs.at(slot).is_some_and(|(t, _)| t == tp));
                let Some(slot) = asked_slot.or_else(|| subs.slot_of(tp)) else {
                    debug!("fetch answer for {tp}, no longer assigned; dropped");
                    continue;
                };
                let expected = subs
                    .at(slot)
                    .and_then(|(_, s)| s.position.filter(|_| s.has_valid_position()))
                    .and_then(|p| next_fetch_offset(&self.slots, slot, p.offset));
                if expected != Some(fetch_offset) {
                    debug!("fetch answer for {tp} from {fetch_offset}: position moved; dropped");
                    continue;
                }
                let code = ErrorCode::from_i16(part.error_code);
                // Any error sends the partition back to its leader (as in Java).
                let left_replica = match code {
                    ErrorCode::None => None,
                    _ => self.read_replicas.clear(slot),
                };
                match code {
                    ErrorCode::OffsetOutOfRange if left_replica.is_some() => {
                        // A follower behind the position: the leader has it, no reset.
                        debug!("{tp}: offset {fetch_offset} out of range on the read replica; fetching from the leader");
                        subs.touch(slot);
                    }
                    ErrorCode::None => {
                        let hw = Some(part.high_watermark);
                        let lso = (part.last_stable_offset >= 0).then_some(part.last_stable_offset);
                        let log_start =
                            (part.log_start_offset >= 0).then_some(part.log_start_offset);
                        let unchanged = subs.at(slot).is_some_and(|(_, s)| {
                            s.high_watermark == hw
                                && lso.is_none_or(|o| s.last_stable_offset == Some(o))
                                && log_start.is_none_or(|o| s.log_start_offset == Some(o))
                        });
                        if !unchanged {
                            if let Some((_, state)) = subs.at_mut(slot) {
                                state.high_watermark = hw;
                                if lso.is_some() {
                                    state.last_stable_offset = lso;
                                }
                                if log_start.is_some() {
                                    state.log_start_offset = log_start;
                                }
                            }
                        }
                        if ctx.version >= 11 && part.preferred_read_replica >= 0 {
                            let replica = part.preferred_read_replica;
                            if metadata.is_read_replica(tp, replica) {
                                let expires = now + config.metadata_max_age;
                                if self.read_replicas.update(slot, replica, expires) {
                                    debug!("{tp}: read from replica {replica} (KIP-392)");
                                }
                            } else {
                                // Not a usable broker here (unknown, or down and left out
                                // of metadata): the leader would name it again at once.
                                debug!("{tp}: preferred read replica {replica} unknown; refreshing metadata");
                                metadata.request_update();
                                back_off_in(
                                    &mut self.backoff,
                                    subs,
                                    tp,
                                    fetch_offset,
                                    now + config.retry_backoff,
                                );
                            }
                            subs.touch(slot);
                        }
                        let Some(records) = part.records.filter(|r| !r.is_empty()) else {
                            continue;
                        };
                        let source = RecordSource {
                            topic: shared.clone(),
                            partition: tp.partition,
                        };
                        let fetch = CompletedFetch {
                            slot,
                            partition: tp.partition,
                            end: scan_next_offset(&records),
                            _answer: answer.clone(),
                            batches: RecordBatches::new(source, records, &decode),
                            current: None,
                            start: fetch_offset,
                            next_offset: fetch_offset,
                            last_epoch: None,
                            topic: shared.clone(),
                            aborted: read_committed
                                .then_some(part.aborted_transactions)
                                .flatten()
                                .filter(|list| !list.is_empty())
                                .map(|list| Box::new(AbortedTransactions::new(&list))),
                        };
                        buffered_one(&mut self.slots, &mut self.dirty, slot, &fetch);
                        self.completed.push_back(fetch);
                    }
                    ErrorCode::OffsetOutOfRange => {
                        match OffsetResetStrategy::from_policy(config.auto_offset_reset) {
                            Some(strategy) => {
                                debug!("{tp}: offset {fetch_offset} out of range, resetting to {strategy:?}");
                                subs.request_reset(tp, strategy);
                            }
                            None => {
                                debug_assert_eq!(config.auto_offset_reset, AutoOffsetReset::None);
                                back_off_in(
                                    &mut self.backoff,
                                    subs,
                                    tp,
                                    fetch_offset,
                                    now + config.retry_backoff,
                                );
                                errors.push(ConsumerError::OffsetOutOfRange {
                                    tp: tp.clone(),
                                    offset: fetch_offset,
                                });
                            }
                        }
                    }
                    ErrorCode::TopicAuthorizationFailed => {
                        back_off_in(
                            &mut self.backoff,
                            subs,
                            tp,
                            fetch_offset,
                            now + config.retry_backoff,
                        );
                        errors.push(ConsumerError::TopicAuthorization {
                            topic: tp.topic.clone(),
                        });
                    }
                    code if code.needs_metadata_refresh() => {
                        debug!("{tp}: {code}; refreshing metadata before fetching it again");
                        metadata.request_update();
                        if code == ErrorCode::FencedLeaderEpoch {
                            // KIP-320: the position is validated once metadata is fresh.
                            subs.request_validation(tp, Some(metadata.update_count()));
                        }
                        subs.touch(slot);
                        self.awaiting_metadata
                            .insert(tp.clone(), metadata.update_count());
                    }
                    ErrorCode::UnknownLeaderEpoch => {
                        // The broker is behind our metadata; try again shortly.
                        debug!("{tp}: broker behind on leader epoch; retrying");
                        back_off_in(
                            &mut self.backoff,
                            subs,
                            tp,
                            fetch_offset,
                            now + config.retry_backoff,
                        );
                    }
                    code => {
                        warn!("{tp}: fetch error {code}; refreshing metadata and retrying");
                        metadata.request_update();
                        back_off_in(
                            &mut self.backoff,
                            subs,
                            tp,
                            fetch_offset,
                            now + config.retry_backoff,
                        );
                    }
                }
            }
        }
        errors
    }

    /// Ends the partition backoffs that are over at `now`, or whose position moved.
    pub(crate) fn expire_backoffs(&mut self, now: Instant, subs: &mut SubscriptionState) {
        if self.backoff.is_empty() {
            return;
        }
        let mut ended = Vec::new();
        self.backoff.retain(|tp, (offset, until)| {
            let keep = now < *until && subs.position(tp).map(|p| p.offset) == Some(*offset);
            if !keep {
                ended.push(tp.clone());
            }
            keep
        });
        for tp in ended {
            if let Some(slot) = subs.slot_of(&tp) {
                subs.touch(slot);
            }
        }
    }

    /// Keeps `tp` out of fetches until `now + backoff`, unless its position leaves `offset`.
    pub(crate) fn back_off(
        &mut self,
        tp: &TopicPartition,
        offset: i64,
        now: Instant,
        backoff: Duration,
        subs: &mut SubscriptionState,
    ) {
        back_off_in(&mut self.backoff, subs, tp, offset, now + backoff);
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
        self.sync(subs);
        if let Some(err) = self.pending_error.take() {
            return Err(err);
        }
        // Resumed partitions come back into line, in the order they were fetched.
        let paused = |c: &CompletedFetch| subs.at(c.slot).is_some_and(|(_, s)| s.paused);
        if self.parked.iter().any(|c| !paused(c)) {
            let (resumed, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|c| !paused(c));
            self.parked = still;
            self.completed.extend(resumed);
        }
        while out.len() < max {
            // Drained where it lies: a completed fetch is moved only once it is done with.
            let Some(fetch) = self.completed.front_mut() else {
                break;
            };
            let slot = Some(fetch.slot);
            let Some(state) = subs.at(fetch.slot).map(|(_, s)| s) else {
                self.drop_front(slot);
                continue;
            };
            if state.paused {
                self.parked.extend(self.completed.pop_front());
                continue;
            }
            if state.position.map(|p| p.offset) != Some(fetch.next_offset)
                || !state.has_valid_position()
            {
                // Moved by a seek or reset since this data was fetched, or the position
                // awaits validation (KIP-320): fetched again once validated.
                self.drop_front(slot);
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
            let consumed = consumed(out.get(before..).unwrap_or_default());
            total.add(consumed);
            subs.advance(fetch.slot, position, consumed);
            match result {
                Ok(true) => self.drop_front(slot),
                Ok(false) => {}
                Err(source) => {
                    let err = ConsumerError::CorruptRecord {
                        tp: fetch.tp(),
                        offset: fetch.next_offset,
                        source,
                    };
                    self.drop_front(slot);
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

    /// The completed fetch at the front, of `slot`, is done with.
    fn drop_front(&mut self, slot: Option<usize>) {
        if let Some(fetch) = self.completed.pop_front() {
            self.dropped_one(slot, &fetch);
        }
    }

    /// Drops buffered data of partitions no longer assigned.
    pub(crate) fn retain_assigned(&mut self, subs: &SubscriptionState) {
        self.sync(subs);
    }

    /// Drops everything buffered for `tp` (after a seek).
    pub(crate) fn clear_partition(&mut self, tp: &TopicPartition, subs: &mut SubscriptionState) {
        self.sync(subs);
        self.completed.retain(|c| !c.is(tp));
        self.parked.retain(|c| !c.is(tp));
        self.backoff.remove(tp);
        if let Some(slot) = subs.slot_of(tp) {
            if let Some(s) = self.slots.get_mut(slot) {
                s.buffered = 0;
                s.newest = None;
            }
            subs.touch(slot);
        }
    }

    /// When each partition backoff ends.
    pub(crate) fn backoff_ends(&self) -> impl Iterator<Item = Instant> + '_ {
        self.backoff
            .values()
            .map(|(_, until)| *until)
            .chain(self.read_replicas.next_expiry())
    }
}

/// Where the next fetch of `slot` starts: its position when nothing is buffered for it,
/// else the end of its newest buffered data (None when that end is not known).
fn next_fetch_offset(slots: &[Slot], slot: usize, position: i64) -> Option<i64> {
    match slots.get(slot).and_then(|s| s.newest) {
        None => Some(position),
        Some((_, prefetch)) => prefetch,
    }
}

/// A completed fetch of `slot` was buffered: counted, and its placement queued again.
fn buffered_one(slots: &mut [Slot], dirty: &mut Vec<usize>, slot: usize, fetch: &CompletedFetch) {
    if let Some(s) = slots.get_mut(slot) {
        s.buffered += 1;
        if s.newest.is_none_or(|(newest, _)| fetch.start > newest) {
            s.newest = Some((fetch.start, fetch.prefetch_offset()));
        }
        if !s.dirty {
            s.dirty = true;
            dirty.push(slot);
        }
    }
}

/// Keeps `tp` out of fetches until `until`, unless its position leaves `offset`.
fn back_off_in(
    backoff: &mut HashMap<TopicPartition, (i64, Instant)>,
    subs: &mut SubscriptionState,
    tp: &TopicPartition,
    offset: i64,
    until: Instant,
) {
    backoff.insert(tp.clone(), (offset, until));
    if let Some(slot) = subs.slot_of(tp) {
        subs.touch(slot);
    }
}

impl CompletedFetch {
    /// Its partition.
    fn tp(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }

    /// True if this is data of `tp`.
    fn is(&self, tp: &TopicPartition) -> bool {
        self.partition == tp.partition && *self.topic == *tp.topic
    }

    /// Where a fetch following this data starts, if known.
    fn prefetch_offset(&self) -> Option<i64> {
        self.end.filter(|&end| end > self.start)
    }

    /// Moves up to `max` records into `out`. Ok(true) when this fetch is used up.
    ///
    /// Kept out of line: its record loop is the hottest code of the consumer, and as a
    /// function of its own it is compiled with the byte slicing of each record inlined
    /// (callgrind `poll_cycle small/10000`: -2% of all instructions).
    #[inline(never)]
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
                        if let Some(aborted) = self.aborted.as_mut() {
                            // read_committed: a batch of an aborted transaction is skipped
                            // whole (looked at before the position check, so that markers
                            // before it still end their producer's aborted transaction).
                            if aborted.skips(&batch)? {
                                self.next_offset = self.next_offset.max(batch.next_offset());
                                continue;
                            }
                        }
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
            let (topic, partition) = (&self.topic, self.partition);
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
