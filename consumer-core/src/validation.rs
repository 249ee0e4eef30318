//! Log truncation detection (KIP-320): positions are checked against their leader's log
//! with OffsetForLeaderEpoch before fetching resumes.
//!
//! A partition *awaits validation* (see [`SubscriptionState::request_validation`]) after
//! its leader or leader epoch changed in the metadata, after a fetch was fenced
//! (FENCED_LEADER_EPOCH, once metadata is refreshed), and after its position was restored
//! from a committed offset that carries an epoch. It is not fetched meanwhile. One
//! request per leader asks the end offset of each position's epoch (one in flight per
//! node); the answer, as in the Java consumer's `SubscriptionState.maybeCompleteValidation`:
//!
//! * end offset at or past the position: validated, fetching resumes;
//! * end offset below the position (the log was truncated): with an `auto.offset.reset`
//!   policy the position moves back to that end offset (the divergence point), with `none`
//!   the caller gets [`ConsumerError::LogTruncation`];
//! * no end offset known (-1): the `auto.offset.reset` policy applies, or with `none` the
//!   same error without a divergent offset.
//!
//! Validation is skipped (the position is taken as valid) when the leader does not speak
//! OffsetForLeaderEpoch v2+, when the metadata has no leader epoch, for positions without
//! an epoch, and for positions whose epoch is the leader's current one (its answer would
//! be its log end; skipping also avoids a quirk of librdkafka 2.16's mock, which reports
//! the current epoch as a committed offset's and answers -1 for an epoch without
//! batches). Work is proportional to the partitions awaiting validation.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use log::{debug, warn};

use crate::codec::messages::offset_for_leader_epoch::{
    OffsetForLeaderPartition, OffsetForLeaderTopic, CONSUMER_REPLICA_ID,
};
use crate::codec::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error_code::ErrorCode;
use crate::event::ConsumerError;
use crate::metadata::{Metadata, NodeId};
use crate::outcome::RequestFailure;
use crate::subscription::{OffsetResetStrategy, SubscriptionState};
use crate::topic_partition::{FetchPosition, TopicPartition};

/// What a leader offers for validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeaderSupport {
    /// Not connected or not negotiated yet.
    NotReady,
    /// No OffsetForLeaderEpoch v2+: positions are taken as valid.
    Unsupported,
    /// OffsetForLeaderEpoch at this version.
    Version(i16),
}

/// One partition asked in a validation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Asked {
    /// The partition.
    pub tp: TopicPartition,
    /// Its position when asked (the answer applies only while it is unchanged).
    pub position: FetchPosition,
    /// The attempt (the answer applies only to the validation it was sent for).
    pub attempt: u64,
}

/// What was asked of one node.
#[derive(Debug, Clone)]
pub(crate) struct ValidationContext {
    /// The leader asked.
    pub node: NodeId,
    /// The partitions asked.
    pub partitions: Vec<Asked>,
}

/// What an answer means for a position, as Java's `maybeCompleteValidation` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The leader's log has the position: fetch on.
    Valid,
    /// Truncated below the position: move back to the divergence point.
    Diverged(FetchPosition),
    /// The leader knows no end offset for the epoch: reset by policy.
    Reset(OffsetResetStrategy),
    /// Truncated, and `auto.offset.reset` is `none`.
    Truncated {
        /// The first offset known to diverge, if known.
        divergent_offset: Option<i64>,
    },
}

/// Judges `position` against the leader's end offset of its epoch (`end_epoch` is the
/// largest epoch of the leader not above the position's; -1 and -1 when unknown).
pub(crate) fn judge(
    position: FetchPosition,
    end_epoch: i32,
    end_offset: i64,
    policy: AutoOffsetReset,
) -> Verdict {
    let strategy = OffsetResetStrategy::from_policy(policy);
    if end_offset < 0 || end_epoch < 0 {
        return match strategy {
            Some(s) => Verdict::Reset(s),
            None => Verdict::Truncated {
                divergent_offset: None,
            },
        };
    }
    if end_offset >= position.offset {
        return Verdict::Valid;
    }
    match strategy {
        Some(_) => Verdict::Diverged(FetchPosition {
            offset: end_offset,
            leader_epoch: Some(end_epoch),
        }),
        None => Verdict::Truncated {
            divergent_offset: Some(end_offset),
        },
    }
}

/// One leader's partitions due for validation: the node, the version to use, and each
/// partition asked with the leader epoch the metadata has for it.
type NodeBatch = (NodeId, i16, Vec<(Asked, i32)>);

/// The validation side of the consumer: the nodes with a request in flight.
#[derive(Debug, Default)]
pub(crate) struct Validator {
    in_flight: HashSet<NodeId>,
    attempts: u64,
}

impl Validator {
    /// Nothing in flight.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Partitions whose leader or leader epoch changed in the metadata: those with a
    /// position carrying an epoch await validation. Returns them (their buffered data,
    /// fetched from the old leader, is to be dropped).
    pub(crate) fn leaders_changed(
        subs: &mut SubscriptionState,
        changed: impl IntoIterator<Item = TopicPartition>,
    ) -> Vec<TopicPartition> {
        changed
            .into_iter()
            .filter(|tp| subs.request_validation(tp, None))
            .inspect(|tp| debug!("{tp}: leader changed; validating the position"))
            .collect()
    }

    /// When each backed-off validation may be retried.
    pub(crate) fn retry_times(subs: &SubscriptionState) -> impl Iterator<Item = Instant> + '_ {
        subs.validations()
            .filter(|(_, _, v)| v.in_flight.is_none())
            .filter_map(|(_, _, v)| v.next_attempt)
    }

    /// The requests to send now, one per leader with partitions due and no request in
    /// flight, with the version to use. `support` says what a leader offers; partitions
    /// whose leader does not speak the API, or whose metadata has no leader epoch, are
    /// validated at once; nodes not ready yet are put in `wanted`.
    pub(crate) fn prepare(
        &mut self,
        now: Instant,
        subs: &mut SubscriptionState,
        metadata: &mut Metadata,
        wanted: &mut Vec<NodeId>,
        mut support: impl FnMut(NodeId) -> LeaderSupport,
    ) -> Vec<(OffsetForLeaderEpochRequest, i16, ValidationContext)> {
        if !subs.any_validating() {
            return Vec::new();
        }
        let seen = metadata.update_count();
        let mut skip: Vec<TopicPartition> = Vec::new();
        let mut need_metadata = false;
        let mut groups: Vec<NodeBatch> = Vec::new();
        let mut verdicts: HashMap<NodeId, LeaderSupport> = HashMap::new();
        for (tp, state, v) in subs.validations() {
            let due = v.in_flight.is_none()
                && v.next_attempt.is_none_or(|t| t <= now)
                && v.after_metadata.is_none_or(|at| seen > at);
            let Some(position) = state.position.filter(|_| due) else {
                continue;
            };
            let Some(epoch) = position.leader_epoch else {
                skip.push(tp.clone());
                continue;
            };
            let Some((node, current_epoch, _)) = metadata.fetch_leader(tp) else {
                need_metadata = true;
                continue;
            };
            let Some(current_epoch) = current_epoch.filter(|&e| e != epoch) else {
                // No epoch in the metadata (an old broker): nothing to validate against.
                // The position's epoch is the leader's current one: its answer would be
                // its log end, which a position read from it cannot pass.
                skip.push(tp.clone());
                continue;
            };
            if self.in_flight.contains(&node) {
                continue;
            }
            let offered = *verdicts.entry(node).or_insert_with(|| support(node));
            let version = match offered {
                LeaderSupport::NotReady => {
                    wanted.push(node);
                    continue;
                }
                LeaderSupport::Unsupported => {
                    skip.push(tp.clone());
                    continue;
                }
                LeaderSupport::Version(v) => v,
            };
            self.attempts += 1;
            let asked = Asked {
                tp: tp.clone(),
                position: FetchPosition {
                    offset: position.offset,
                    leader_epoch: Some(epoch),
                },
                attempt: self.attempts,
            };
            match groups.iter_mut().find(|(n, _, _)| *n == node) {
                Some((_, _, list)) => list.push((asked, current_epoch)),
                None => groups.push((node, version, vec![(asked, current_epoch)])),
            }
        }
        for tp in skip {
            debug!("{tp}: position taken as valid (no epoch to compare, the leader's current epoch, or a leader without OffsetForLeaderEpoch)");
            subs.complete_validation(&tp);
        }
        if need_metadata {
            metadata.request_update();
        }
        let mut out = Vec::new();
        for (node, version, partitions) in groups {
            let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
            let mut index: HashMap<&str, usize> = HashMap::new();
            for (asked, current_epoch) in &partitions {
                if let Some(v) = subs.validation_mut(&asked.tp) {
                    v.in_flight = Some(asked.attempt);
                }
                let partition = OffsetForLeaderPartition {
                    partition: asked.tp.partition,
                    current_leader_epoch: *current_epoch,
                    leader_epoch: asked.position.leader_epoch.unwrap_or(-1),
                };
                let topic = asked.tp.topic.as_str();
                match index.get(topic).and_then(|&i| topics.get_mut(i)) {
                    Some(t) => t.partitions.push(partition),
                    None => {
                        index.insert(topic, topics.len());
                        topics.push(OffsetForLeaderTopic {
                            topic: asked.tp.topic.clone(),
                            partitions: vec![partition],
                        });
                    }
                }
            }
            let request = OffsetForLeaderEpochRequest {
                replica_id: CONSUMER_REPLICA_ID,
                topics,
            };
            self.in_flight.insert(node);
            let partitions = partitions.into_iter().map(|(a, _)| a).collect();
            out.push((request, version, ValidationContext { node, partitions }));
        }
        out
    }

    /// Applies the outcome of a validation request. Errors for the caller are returned.
    pub(crate) fn handle_response(
        &mut self,
        ctx: ValidationContext,
        resp: Result<OffsetForLeaderEpochResponse, RequestFailure>,
        now: Instant,
        config: &ConsumerConfig,
        subs: &mut SubscriptionState,
        metadata: &mut Metadata,
    ) -> Vec<ConsumerError> {
        self.in_flight.remove(&ctx.node);
        let retry_at = Some(now + config.retry_backoff);
        let resp = match resp {
            Ok(resp) => resp,
            Err(failure) => {
                debug!("validation on node {} failed: {failure}", ctx.node);
                metadata.request_update();
                for asked in &ctx.partitions {
                    retry_later(subs, asked, retry_at);
                }
                return Vec::new();
            }
        };
        let mut answers: HashMap<(String, i32), (ErrorCode, i32, i64)> = HashMap::new();
        for topic in resp.topics {
            for p in topic.partitions {
                let code = ErrorCode::from_i16(p.error_code);
                answers.insert(
                    (topic.topic.clone(), p.partition),
                    (code, p.leader_epoch, p.end_offset),
                );
            }
        }
        let mut errors = Vec::new();
        for asked in ctx.partitions {
            let tp = &asked.tp;
            let (code, end_epoch, end_offset) = answers
                .remove(&(tp.topic.clone(), tp.partition))
                .unwrap_or((ErrorCode::UnknownTopicOrPartition, -1, -1));
            if pending(subs, &asked).is_none() {
                debug!("{tp}: validation answer no longer wanted (position moved, or validation restarted)");
                continue;
            }
            if code != ErrorCode::None {
                if code.needs_metadata_refresh() {
                    debug!("{tp}: validation answered {code}; refreshing metadata first");
                    metadata.request_update();
                    if let Some(v) = pending(subs, &asked) {
                        v.in_flight = None;
                        v.after_metadata = Some(metadata.update_count());
                    }
                    continue;
                }
                match code {
                    ErrorCode::UnknownLeaderEpoch => {
                        debug!("{tp}: broker behind on leader epoch; validation retried")
                    }
                    ErrorCode::TopicAuthorizationFailed => {
                        errors.push(ConsumerError::TopicAuthorization {
                            topic: tp.topic.clone(),
                        })
                    }
                    code => warn!("{tp}: OffsetForLeaderEpoch failed with {code}; retrying"),
                }
                retry_later(subs, &asked, retry_at);
                continue;
            }
            let position = asked.position;
            match judge(position, end_epoch, end_offset, config.auto_offset_reset) {
                Verdict::Valid => {
                    debug!("{tp}: position {} validated", position.offset);
                    subs.complete_validation(tp);
                }
                Verdict::Diverged(to) => {
                    warn!(
                        "{tp}: log truncation detected at offset {} (epoch {:?}); the leader's log ends at {} for epoch {end_epoch}: resetting to the divergence point {}",
                        position.offset, position.leader_epoch, end_offset, to.offset
                    );
                    subs.seek(tp, to);
                }
                Verdict::Reset(strategy) => {
                    warn!(
                        "{tp}: log truncation detected at offset {} (epoch {:?}), divergence point unknown: resetting to {strategy:?} (auto.offset.reset)",
                        position.offset, position.leader_epoch
                    );
                    subs.request_reset(tp, strategy);
                }
                Verdict::Truncated { divergent_offset } => {
                    warn!(
                        "{tp}: log truncation detected at offset {} (divergent offset {divergent_offset:?}) and auto.offset.reset is none",
                        position.offset
                    );
                    retry_later(subs, &asked, retry_at);
                    errors.push(ConsumerError::LogTruncation {
                        tp: tp.clone(),
                        offset: position.offset,
                        divergent_offset,
                    });
                }
            }
        }
        errors
    }
}

/// The validation `asked` was sent for, if it is still pending at the same position.
fn pending<'a>(
    subs: &'a mut SubscriptionState,
    asked: &Asked,
) -> Option<&'a mut crate::subscription::PendingValidation> {
    let same = subs.position(&asked.tp) == Some(asked.position);
    subs.validation_mut(&asked.tp)
        .filter(|v| same && v.in_flight == Some(asked.attempt))
}

/// The validation `asked` was sent for, if still pending, is tried again at `at`.
fn retry_later(subs: &mut SubscriptionState, asked: &Asked, at: Option<Instant>) {
    if let Some(v) = pending(subs, asked) {
        v.in_flight = None;
        v.next_attempt = at;
    }
}

#[cfg(test)]
mod tests;
