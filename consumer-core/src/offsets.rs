//! Offset lookups through ListOffsets: resets of partitions without a valid position
//! (earliest / latest) and the caller's queries (beginning, end, by timestamp).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use log::{debug, warn};

use crate::codec::messages::list_offsets::{ListOffsetsPartition, ListOffsetsTopic};
use crate::codec::messages::{ListOffsetsRequest, ListOffsetsResponse};
use crate::config::ConsumerConfig;
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, Event, QueryId};
use crate::metadata::Metadata;
use crate::metadata::NodeId;
use crate::outcome::RequestFailure;
use crate::subscription::SubscriptionState;
use crate::topic_partition::{FetchPosition, OffsetAndTimestamp, TopicPartition};

/// What a ListOffsets request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupKind {
    /// Position resets.
    Reset,
    /// A caller's query.
    Query(QueryId),
}

/// What was asked of one node.
#[derive(Debug, Clone)]
pub(crate) struct OffsetsContext {
    /// The node asked.
    pub node: NodeId,
    /// Why.
    pub kind: LookupKind,
    /// The partitions asked, with the timestamp asked for.
    pub partitions: Vec<(TopicPartition, i64)>,
}

#[derive(Debug, Clone)]
struct PendingLookup {
    timestamp: i64,
    in_flight: bool,
    next_attempt: Option<Instant>,
}

#[derive(Debug, Default)]
struct Query {
    pending: IndexMap<TopicPartition, PendingLookup>,
    order: Vec<TopicPartition>,
    done: HashMap<TopicPartition, Result<Option<OffsetAndTimestamp>, ConsumerError>>,
}

/// The offset-lookup side of the consumer.
#[derive(Debug, Default)]
pub(crate) struct OffsetLookups {
    queries: IndexMap<QueryId, Query>,
    next_query: u64,
    /// Per assignment slot, its leader as last looked up (None: not looked up), valid for
    /// the metadata and assignment versions in `leaders_of`: while connections are set
    /// up, thousands of resets may wait on every call.
    leaders: Vec<Option<LeaderOf>>,
    leaders_of: Option<(u64, u64)>,
}

/// A partition's leader if it is a known broker, with the leader epoch.
type LeaderOf = Option<(NodeId, Option<i32>)>;

/// A partition to look up in the next request to its leader.
struct Lookup {
    tp: TopicPartition,
    timestamp: i64,
    /// Its slot, for a reset.
    slot: Option<usize>,
    /// The leader epoch the request names (-1: unknown).
    epoch: i32,
}

impl OffsetLookups {
    /// No lookups pending.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Starts a query for the given (partition, timestamp) pairs; -2 is earliest, -1 latest.
    pub(crate) fn start_query(&mut self, partitions: Vec<(TopicPartition, i64)>) -> QueryId {
        self.next_query += 1;
        let id = QueryId(self.next_query);
        let mut q = Query::default();
        for (tp, timestamp) in partitions {
            // A partition asked twice is looked up once (the last timestamp wins) and
            // answered once, instead of its second entry finding no result.
            if !q.pending.contains_key(&tp) {
                q.order.push(tp.clone());
            }
            q.pending.insert(
                tp,
                PendingLookup {
                    timestamp,
                    in_flight: false,
                    next_attempt: None,
                },
            );
        }
        self.queries.insert(id, q);
        id
    }

    /// Forgets a query (the caller gave up on it).
    pub(crate) fn cancel(&mut self, id: QueryId) {
        self.queries.shift_remove(&id);
    }

    /// When each backed-off query partition may be retried.
    pub(crate) fn retry_times(&self) -> impl Iterator<Item = Instant> + '_ {
        self.queries
            .values()
            .flat_map(|q| q.pending.values())
            .filter(|p| !p.in_flight)
            .filter_map(|p| p.next_attempt)
    }

    /// Finished queries, as events.
    pub(crate) fn poll_finished(&mut self) -> Option<Event> {
        let id = *self
            .queries
            .iter()
            .find(|(_, q)| q.pending.is_empty())
            .map(|(id, _)| id)?;
        let mut q = self.queries.shift_remove(&id)?;
        let offsets = q
            .order
            .iter()
            .map(|tp| {
                let r = q.done.remove(tp).unwrap_or(Err(ConsumerError::Timeout));
                (tp.clone(), r)
            })
            .collect();
        Some(Event::OffsetsListed { query: id, offsets })
    }

    /// The ListOffsets requests to send now.
    pub(crate) fn prepare(
        &mut self,
        now: Instant,
        config: &ConsumerConfig,
        subs: &mut SubscriptionState,
        metadata: &mut Metadata,
        mut ready: impl FnMut(NodeId) -> bool,
    ) -> Vec<(ListOffsetsRequest, OffsetsContext)> {
        let mut groups: Vec<(NodeId, LookupKind, Vec<Lookup>)> = Vec::new();
        let mut add =
            |node, kind, lookup| match groups.iter_mut().find(|(n, k, _)| *n == node && *k == kind)
            {
                Some((_, _, list)) => list.push(lookup),
                None => groups.push((node, kind, vec![lookup])),
            };
        let leader_of = |tp| {
            metadata
                .fetch_leader(tp)
                .map(|(node, epoch, _)| (node, epoch))
        };
        let mut need_metadata = false;
        // Each node is asked once per call, and a partition is copied only into a request:
        // while connections are being set up, thousands of partitions may wait here on
        // every call.
        let mut asked: Vec<(NodeId, bool)> = Vec::new();
        let mut ready = |node: NodeId| match asked.iter().find(|(n, _)| *n == node) {
            Some(&(_, r)) => r,
            None => {
                let r = ready(node);
                asked.push((node, r));
                r
            }
        };
        let versions = (metadata.version(), subs.assignment_version());
        if self.leaders_of != Some(versions) {
            self.leaders_of = Some(versions);
            self.leaders.clear();
            self.leaders.resize(subs.len(), None);
        }
        for (slot, tp, strategy) in subs.resets_due(now) {
            let cached = self.leaders.get_mut(slot);
            let leader = match cached {
                Some(Some(leader)) => *leader,
                _ => {
                    let leader = leader_of(tp);
                    if let Some(c) = cached {
                        *c = Some(leader);
                    }
                    leader
                }
            };
            match leader {
                Some((node, epoch)) if ready(node) => {
                    let lookup = Lookup {
                        tp: tp.clone(),
                        timestamp: strategy.timestamp(),
                        slot: Some(slot),
                        epoch: epoch.unwrap_or(-1),
                    };
                    add(node, LookupKind::Reset, lookup)
                }
                Some(_) => {}
                None => need_metadata = true,
            }
        }
        for (id, q) in self.queries.iter() {
            for (tp, p) in q.pending.iter() {
                if p.in_flight || p.next_attempt.is_some_and(|t| now < t) {
                    continue;
                }
                match leader_of(tp) {
                    Some((node, epoch)) if ready(node) => {
                        let lookup = Lookup {
                            tp: tp.clone(),
                            timestamp: p.timestamp,
                            slot: None,
                            epoch: epoch.unwrap_or(-1),
                        };
                        add(node, LookupKind::Query(*id), lookup)
                    }
                    Some(_) => {}
                    None => need_metadata = true,
                }
            }
        }
        if need_metadata {
            metadata.request_update();
        }
        let mut out = Vec::new();
        for (node, kind, lookups) in groups {
            let mut topics: Vec<ListOffsetsTopic> = Vec::new();
            let mut index: HashMap<&str, usize> = HashMap::new();
            for Lookup {
                tp,
                timestamp,
                slot,
                epoch,
            } in &lookups
            {
                match kind {
                    LookupKind::Reset => {
                        let state = slot.and_then(|slot| subs.at_mut(slot));
                        if let Some(r) = state.and_then(|(_, s)| s.reset.as_mut()) {
                            r.in_flight = true;
                        }
                    }
                    LookupKind::Query(id) => {
                        if let Some(p) = self
                            .queries
                            .get_mut(&id)
                            .and_then(|q| q.pending.get_mut(tp))
                        {
                            p.in_flight = true;
                        }
                    }
                }
                let partition = ListOffsetsPartition {
                    partition_index: tp.partition,
                    current_leader_epoch: *epoch,
                    timestamp: *timestamp,
                };
                match index
                    .get(tp.topic.as_str())
                    .and_then(|&i| topics.get_mut(i))
                {
                    Some(t) => t.partitions.push(partition),
                    None => {
                        index.insert(&tp.topic, topics.len());
                        topics.push(ListOffsetsTopic {
                            name: tp.topic.clone(),
                            partitions: vec![partition],
                        });
                    }
                }
            }
            let request = ListOffsetsRequest {
                replica_id: -1,
                isolation_level: config.isolation_level.wire_value(),
                topics,
                timeout_ms: i32::try_from(config.request_timeout.as_millis()).unwrap_or(i32::MAX),
            };
            out.push((
                request,
                OffsetsContext {
                    node,
                    kind,
                    partitions: lookups.into_iter().map(|l| (l.tp, l.timestamp)).collect(),
                },
            ));
        }
        out
    }

    /// Applies the outcome of a lookup; one without an answer is retried after `backoff`.
    pub(crate) fn handle_response(
        &mut self,
        ctx: OffsetsContext,
        resp: Result<ListOffsetsResponse, RequestFailure>,
        now: Instant,
        backoff: Duration,
        subs: &mut SubscriptionState,
        metadata: &mut Metadata,
    ) -> Vec<ConsumerError> {
        let resp = match resp {
            Ok(resp) => resp,
            Err(failure) => {
                log::debug!("offset lookup on node {} failed: {failure}", ctx.node);
                self.handle_failure(ctx, now, backoff, subs);
                return Vec::new();
            }
        };
        let mut errors = Vec::new();
        let mut answers = Answers::new(resp);
        for (tp, _) in ctx.partitions {
            let (mut code, found) = answers
                .take(&tp)
                .unwrap_or((ErrorCode::UnknownTopicOrPartition, None));
            if code == ErrorCode::UnsupportedForMessageFormat {
                // A pre-0.10 log has no timestamps: no offset matches, as in Java.
                code = ErrorCode::None;
            }
            // Like the Java consumer, every other partition error is retried (after a
            // backoff; queries are bounded by the caller's timeout), except authorization.
            let retry = code != ErrorCode::None && code != ErrorCode::TopicAuthorizationFailed;
            if retry && !code.is_retriable() && !code.needs_metadata_refresh() {
                warn!("{tp}: ListOffsets failed with unexpected {code}; retrying");
            } else if retry {
                debug!("{tp}: ListOffsets failed with {code}; retrying");
            }
            if code.needs_metadata_refresh() {
                metadata.request_update();
            }
            match ctx.kind {
                LookupKind::Reset => {
                    let Some(slot) = subs.slot_of(&tp) else {
                        continue;
                    };
                    let Some(reset) = subs.at_mut(slot).and_then(|(_, s)| s.reset.as_mut()) else {
                        // Sought elsewhere meanwhile.
                        continue;
                    };
                    if code == ErrorCode::None {
                        match found {
                            Some(o) => {
                                debug!("{tp}: reset to {}", o.offset);
                                // Without an epoch, as in Java: a position just looked up
                                // needs no validation (KIP-320); the records consumed
                                // from it give it theirs.
                                subs.seek_at(slot, FetchPosition::at(o.offset));
                            }
                            None => {
                                reset.in_flight = false;
                                reset.next_attempt = Some(now + backoff);
                            }
                        }
                    } else if retry {
                        reset.in_flight = false;
                        reset.next_attempt = Some(now + backoff);
                    } else {
                        reset.in_flight = false;
                        reset.next_attempt = Some(now + backoff);
                        errors.push(ConsumerError::TopicAuthorization {
                            topic: tp.topic.clone(),
                        });
                    }
                }
                LookupKind::Query(id) => {
                    let Some(q) = self.queries.get_mut(&id) else {
                        continue;
                    };
                    if retry {
                        if let Some(p) = q.pending.get_mut(&tp) {
                            p.in_flight = false;
                            p.next_attempt = Some(now + backoff);
                        }
                        continue;
                    }
                    // (Not shift_remove: that moves every later entry.)
                    q.pending.swap_remove(&tp);
                    let result = if code == ErrorCode::None {
                        Ok(found)
                    } else {
                        Err(ConsumerError::TopicAuthorization {
                            topic: tp.topic.clone(),
                        })
                    };
                    q.done.insert(tp, result);
                }
            }
        }
        errors
    }

    /// The request got no answer: retry its partitions after `backoff`.
    fn handle_failure(
        &mut self,
        ctx: OffsetsContext,
        now: Instant,
        backoff: Duration,
        subs: &mut SubscriptionState,
    ) {
        for (tp, _) in ctx.partitions {
            match ctx.kind {
                LookupKind::Reset => {
                    if let Some(r) = subs.get_mut(&tp).and_then(|s| s.reset.as_mut()) {
                        r.in_flight = false;
                        r.next_attempt = Some(now + backoff);
                    }
                }
                LookupKind::Query(id) => {
                    if let Some(p) = self
                        .queries
                        .get_mut(&id)
                        .and_then(|q| q.pending.get_mut(&tp))
                    {
                        p.in_flight = false;
                        p.next_attempt = Some(now + backoff);
                    }
                }
            }
        }
    }
}

/// A partition's error and the offset found, if any.
type Answered = (ErrorCode, Option<OffsetAndTimestamp>);

/// A ListOffsets answer's partitions, taken one by one in the order of the request:
/// brokers answer in that order, so each is found at the front without a lookup; an
/// answer in another order is indexed once.
struct Answers {
    topics: Vec<String>,
    /// (topic index, partition, its answer), None once taken.
    partitions: Vec<Option<(usize, i32, Answered)>>,
    next: usize,
    index: Option<HashMap<(String, i32), usize>>,
}

impl Answers {
    fn new(resp: ListOffsetsResponse) -> Self {
        let mut topics = Vec::with_capacity(resp.topics.len());
        let mut partitions = Vec::new();
        for (t, topic) in resp.topics.into_iter().enumerate() {
            topics.push(topic.name);
            partitions.extend(topic.partitions.into_iter().map(|p| {
                let found = (p.offset >= 0).then_some(OffsetAndTimestamp {
                    offset: p.offset,
                    timestamp: p.timestamp,
                    leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                });
                Some((
                    t,
                    p.partition_index,
                    (ErrorCode::from_i16(p.error_code), found),
                ))
            }));
        }
        Self {
            topics,
            partitions,
            next: 0,
            index: None,
        }
    }

    /// The answer for `tp` (None if the broker left it out).
    fn take(&mut self, tp: &TopicPartition) -> Option<Answered> {
        let at_front = match self.partitions.get(self.next) {
            Some(Some((t, p, _))) => {
                *p == tp.partition && self.topics.get(*t).is_some_and(|n| *n == tp.topic)
            }
            _ => false,
        };
        let i = if at_front && self.index.is_none() {
            self.next += 1;
            self.next - 1
        } else {
            let (topics, partitions) = (&self.topics, &self.partitions);
            let index = self.index.get_or_insert_with(|| {
                partitions
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| {
                        let (t, p, _) = (*a)?;
                        Some(((topics.get(t)?.clone(), p), i))
                    })
                    .collect()
            });
            *index.get(&(tp.topic.clone(), tp.partition))?
        };
        self.partitions
            .get_mut(i)?
            .take()
            .map(|(_, _, answered)| answered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::messages::list_offsets::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };

    fn answer(topics: &[(&str, &[i32])]) -> ListOffsetsResponse {
        ListOffsetsResponse {
            throttle_time_ms: 0,
            topics: topics
                .iter()
                .map(|(name, parts)| ListOffsetsTopicResponse {
                    name: name.to_string(),
                    partitions: parts
                        .iter()
                        .map(|&p| ListOffsetsPartitionResponse {
                            partition_index: p,
                            error_code: 0,
                            timestamp: -1,
                            offset: i64::from(p) * 10,
                            leader_epoch: -1,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn offset(a: &mut Answers, topic: &str, p: i32) -> Option<i64> {
        a.take(&TopicPartition::new(topic, p))
            .map(|(_, found)| found.map_or(-1, |o| o.offset))
    }

    #[test]
    fn answers_are_matched_in_any_order_once_each() {
        // In the request's order.
        let mut a = Answers::new(answer(&[("a", &[0, 1]), ("b", &[0])]));
        assert_eq!(offset(&mut a, "a", 0), Some(0));
        assert_eq!(offset(&mut a, "a", 1), Some(10));
        assert_eq!(offset(&mut a, "b", 0), Some(0));
        assert!(a.index.is_none(), "no lookup needed");
        // Out of order, with one partition left out and one not asked.
        let mut a = Answers::new(answer(&[("b", &[0]), ("a", &[2, 1, 9])]));
        assert_eq!(offset(&mut a, "a", 1), Some(10));
        assert_eq!(offset(&mut a, "a", 2), Some(20));
        assert_eq!(offset(&mut a, "a", 3), None);
        assert_eq!(offset(&mut a, "b", 0), Some(0));
        assert_eq!(offset(&mut a, "a", 1), None, "taken once");
        assert_eq!(offset(&mut a, "c", 0), None);
    }
}
