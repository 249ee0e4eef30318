//! Group offsets: committed-offset lookups for new partitions and for the caller, the
//! caller's commits, and auto-commit (every `auto.commit.interval.ms`, before an eager
//! revocation, and on close). Only positions are committed, and positions only move past
//! records handed to the caller, so a commit never covers a record not handed out.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use log::{debug, warn};

use super::{Generation, GroupCtx, GroupRequest};
use crate::codec::messages::offset_commit::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use crate::codec::messages::offset_fetch::{OffsetFetchRequestGroup, OffsetFetchRequestTopic};
use crate::codec::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, Event, RequestId};
use crate::metrics::CommitCounters;
use crate::outcome::RequestFailure;
use crate::subscription::{PartitionState, SubscriptionState};
use crate::timer::Timer;
use crate::topic_partition::{FetchPosition, OffsetAndMetadata, TopicPartition};

/// Why a commit is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitKind {
    /// `enable.auto.commit`.
    Auto,
    /// The caller asked, and waits (retriable errors are retried until it gives up).
    User,
    /// The caller asked and does not wait: not retried, as in Java, so that an older
    /// retried commit never overwrites a newer one.
    UserAsync,
    /// Auto-commit before an eager revocation.
    PreRevoke,
}

impl CommitKind {
    /// True for the caller's commits (sync or async).
    pub(crate) fn is_user(self) -> bool {
        matches!(self, CommitKind::User | CommitKind::UserAsync)
    }
}

/// What an OffsetCommit answer means for the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub(crate) struct CommitOutcome {
    /// The coordinator must be looked up again.
    pub coordinator_gone: bool,
    /// The group moved on: rejoin.
    pub rejoin: bool,
    /// UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION: the generation the commit was sent in is
    /// no longer a place in the group.
    pub stale_generation: Option<i32>,
}

/// What one OffsetCommit carried.
#[derive(Debug, Clone)]
pub(crate) struct CommitContext {
    /// The caller's id for a user commit.
    pub id: Option<RequestId>,
    /// The offsets.
    pub offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    /// Why.
    pub kind: CommitKind,
    /// The generation the offsets were consumed in: the commit is not sent in another
    /// one, where the partitions may belong to someone else (None: any generation).
    pub generation: Option<i32>,
}

/// What one OffsetFetch asked.
#[derive(Debug, Clone)]
pub(crate) struct OffsetFetchContext {
    /// The partitions asked.
    pub partitions: Vec<TopicPartition>,
    /// The caller's lookup, or None for the positions of newly assigned partitions.
    pub query: Option<RequestId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreRevoke {
    NotStarted,
    InFlight,
    Done,
}

/// The offset side of the group.
#[derive(Debug)]
pub(crate) struct Commits {
    group_id: String,
    instance_id: Option<String>,
    auto_commit: Option<Duration>,
    next_auto_commit: Option<Instant>,
    last_committed: HashMap<TopicPartition, i64>,
    queued: VecDeque<CommitContext>,
    user_in_flight: usize,
    pre_revoke: PreRevoke,
    /// Newly assigned partitions whose committed offset is still to be looked up.
    initializing: HashSet<TopicPartition>,
    init_in_flight: bool,
    queries: VecDeque<(RequestId, Vec<TopicPartition>)>,
    retry_at: Option<Instant>,
    next_id: u64,
    /// Positions of partitions revoked in the current rebalance: the caller's revocation
    /// listener may still commit them (they are no longer assigned by then).
    revoked_positions: Vec<(TopicPartition, OffsetAndMetadata)>,
    /// A KIP-848 member: OffsetFetch names the member and its epoch.
    kip848: bool,
    /// Commits succeeded and failed, for the consumer's metrics.
    pub(crate) counters: CommitCounters,
}

impl Commits {
    /// No commits yet.
    pub(crate) fn new(
        group_id: String,
        instance_id: Option<String>,
        auto_commit: Option<Duration>,
    ) -> Self {
        Self {
            group_id,
            instance_id,
            auto_commit,
            next_auto_commit: None,
            last_committed: HashMap::new(),
            queued: VecDeque::new(),
            user_in_flight: 0,
            pre_revoke: PreRevoke::NotStarted,
            initializing: HashSet::new(),
            init_in_flight: false,
            queries: VecDeque::new(),
            retry_at: None,
            next_id: 0,
            revoked_positions: Vec::new(),
            kip848: false,
            counters: CommitCounters::default(),
        }
    }

    /// The member speaks KIP-848's protocol: its offset lookups carry its member id and
    /// epoch.
    pub(crate) fn name_member_in_fetches(&mut self) {
        self.kip848 = true;
    }

    fn next_request_id(&mut self) -> RequestId {
        self.next_id += 1;
        RequestId(self.next_id)
    }

    /// True with `enable.auto.commit`.
    pub(crate) fn auto_commit_enabled(&self) -> bool {
        self.auto_commit.is_some()
    }

    /// True if `tp` waits for its committed offset (no reset policy applies yet).
    pub(crate) fn is_initializing(&self, tp: &TopicPartition) -> bool {
        self.initializing.contains(tp)
    }

    /// The auto-commit and retry deadlines with their timers; each may be past.
    pub(crate) fn timers(&self) -> [(Timer, Option<Instant>); 2] {
        [
            (Timer::AutoCommit, self.next_auto_commit),
            (Timer::CommitRetry, self.retry_at),
        ]
    }

    /// Queues a commit of `offsets` by the caller; the answer comes as
    /// [`Event::CommitCompleted`] with the returned id.
    #[cfg(test)]
    pub(crate) fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    ) -> RequestId {
        self.queue_user_commit(offsets, None)
    }

    /// Like `commit` (which the tests use) for offsets consumed in `generation` (-1:
    /// outside any generation): if the group has moved on when the commit can be sent, it
    /// fails with [`ConsumerError::CommitFailed`] instead, as Java's commit does.
    pub(crate) fn commit_in(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        generation: Option<i32>,
    ) -> RequestId {
        self.queue_user_commit(offsets, generation)
    }

    /// Like [`commit_in`](Self::commit_in), never retried.
    pub(crate) fn commit_async_in(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        generation: Option<i32>,
    ) -> RequestId {
        let id = self.queue_user_commit(offsets, generation);
        if let Some(c) = self.queued.back_mut() {
            c.kind = CommitKind::UserAsync;
        }
        id
    }

    fn queue_user_commit(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
        generation: Option<i32>,
    ) -> RequestId {
        let id = self.next_request_id();
        self.queued.push_back(CommitContext {
            id: Some(id),
            offsets,
            kind: CommitKind::User,
            generation,
        });
        id
    }

    /// Queues a lookup of the committed offsets of `partitions`; the answer comes as
    /// [`Event::CommittedFetched`].
    pub(crate) fn fetch_committed(&mut self, partitions: Vec<TopicPartition>) -> RequestId {
        let id = self.next_request_id();
        self.queries.push_back((id, partitions));
        id
    }

    /// True while caller commits are queued or in flight.
    pub(crate) fn has_pending_sync_commits(&self) -> bool {
        !self.queued.is_empty() || self.user_in_flight > 0 || self.pre_revoke == PreRevoke::InFlight
    }

    /// The consumed positions of `partitions`, as offsets to commit.
    pub(crate) fn positions(
        subs: &SubscriptionState,
        partitions: &[TopicPartition],
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        partitions
            .iter()
            .filter_map(|tp| Some((tp, subs.get(tp)?)))
            .filter_map(|(tp, p)| Some((tp.clone(), Self::committable(p)?)))
            .collect()
    }

    /// The consumed positions of every assigned partition, in assignment order, as
    /// offsets to commit.
    pub(crate) fn all_positions(
        subs: &SubscriptionState,
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        subs.iter()
            .filter_map(|(tp, p)| Some((tp.clone(), Self::committable(p)?)))
            .collect()
    }

    /// The consumed positions of the assigned partitions whose position moved since it
    /// was last committed, in assignment order. Nothing is cloned for the others.
    fn uncommitted_positions(
        &self,
        subs: &SubscriptionState,
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        subs.iter()
            .filter_map(|(tp, p)| {
                let o = Self::committable(p)?;
                (self.last_committed.get(tp) != Some(&o.offset)).then(|| (tp.clone(), o))
            })
            .collect()
    }

    /// The position of a partition as the offset to commit, if it has one to commit: not
    /// while a reset or a validation (KIP-320: it may be past a truncation) is pending,
    /// as Java commits only valid positions.
    fn committable(p: &PartitionState) -> Option<OffsetAndMetadata> {
        if p.reset.is_some() || p.validation.is_some() {
            return None;
        }
        let pos = p.position?;
        Some(OffsetAndMetadata {
            offset: pos.offset,
            leader_epoch: pos.leader_epoch,
            metadata: String::new(),
        })
    }

    /// Auto-commit before (re)joining, and so before an eager revocation: queue the
    /// consumed positions of `owned`, assigned in `generation`.
    pub(crate) fn commit_before_revoke(
        &mut self,
        subs: &SubscriptionState,
        owned: &[TopicPartition],
        generation: i32,
    ) {
        if self.pre_revoke != PreRevoke::NotStarted {
            return;
        }
        let offsets: Vec<_> = Self::positions(subs, owned)
            .into_iter()
            .filter(|(tp, o)| self.last_committed.get(tp) != Some(&o.offset))
            .collect();
        if offsets.is_empty() {
            self.pre_revoke = PreRevoke::Done;
            return;
        }
        self.pre_revoke = PreRevoke::InFlight;
        self.queued.push_front(CommitContext {
            id: None,
            offsets,
            kind: CommitKind::PreRevoke,
            generation: Some(generation),
        });
    }

    /// True once the pre-revocation commit finished (or was not needed).
    pub(crate) fn pre_revoke_done(&self) -> bool {
        self.pre_revoke == PreRevoke::Done
    }

    /// Forgets the pre-revocation commit and the revoked positions once the rebalance is
    /// done.
    pub(crate) fn reset_pre_revoke(&mut self) {
        self.pre_revoke = PreRevoke::NotStarted;
        self.revoked_positions.clear();
    }

    /// `revoked` are taken away: keeps their consumed positions committable until the
    /// rebalance is done (call before they leave `subs`).
    pub(crate) fn remember_revoked(
        &mut self,
        subs: &SubscriptionState,
        revoked: &[TopicPartition],
    ) {
        let revoked_set: HashSet<&TopicPartition> = revoked.iter().collect();
        self.revoked_positions
            .retain(|(tp, _)| !revoked_set.contains(tp));
        self.revoked_positions
            .extend(Self::positions(subs, revoked));
    }

    /// The consumed positions of the partitions revoked in the current rebalance.
    pub(crate) fn revoked_positions(&self) -> &[(TopicPartition, OffsetAndMetadata)] {
        &self.revoked_positions
    }

    /// A rebalance added and revoked partitions.
    pub(crate) fn assigned(&mut self, added: &[TopicPartition], revoked: &[TopicPartition]) {
        for tp in revoked {
            self.initializing.remove(tp);
            self.last_committed.remove(tp);
        }
        self.initializing.extend(added.iter().cloned());
    }

    /// The coordinator is gone: requests in flight will be failed by the caller.
    pub(crate) fn coordinator_dead(&mut self) {
        self.init_in_flight = false;
    }

    /// The requests to send now; `generation` is Some while the member is stable.
    pub(crate) fn prepare(
        &mut self,
        now: Instant,
        generation: Option<&Generation>,
        ctx: &mut GroupCtx<'_>,
    ) -> Vec<GroupRequest> {
        let mut out = Vec::new();
        if self.retry_at.is_some_and(|t| now < t) {
            return out;
        }
        self.retry_at = None;
        // Committed offsets of newly assigned partitions without a position.
        self.initializing.retain(|tp| {
            ctx.subs
                .get(tp)
                .is_some_and(|s| s.position.is_none() && s.reset.is_none())
        });
        if !self.init_in_flight && !self.initializing.is_empty() {
            let mut partitions: Vec<TopicPartition> = self.initializing.iter().cloned().collect();
            partitions.sort();
            self.init_in_flight = true;
            out.push(self.fetch_request(partitions, None, generation));
        }
        while let Some((id, partitions)) = self.queries.pop_front() {
            out.push(self.fetch_request(partitions, Some(id), generation));
        }
        // Auto-commit.
        if let Some(interval) = self.auto_commit {
            match self.next_auto_commit {
                None => self.next_auto_commit = Some(now + interval),
                Some(t) if now >= t => {
                    self.next_auto_commit = Some(now + interval);
                    if let Some(g) = generation {
                        let offsets = self.uncommitted_positions(ctx.subs);
                        if !offsets.is_empty() {
                            self.queued.push_back(CommitContext {
                                id: None,
                                offsets,
                                kind: CommitKind::Auto,
                                generation: Some(g.generation_id),
                            });
                        }
                    }
                }
                Some(_) => {}
            }
        }
        // Commits go out only with a valid generation, except for a consumer that assigns
        // partitions itself (a "simple" group member commits with generation -1).
        let simple = ctx.subs.kind() == crate::subscription::SubscriptionKind::UserAssigned;
        if generation.is_none() && !simple {
            return out;
        }
        let none = Generation::none();
        let generation = generation.unwrap_or(&none);
        while let Some(c) = self.queued.pop_front() {
            if c.generation.is_some_and(|g| g != generation.generation_id) {
                self.stale(c, generation.generation_id, ctx.events);
                continue;
            }
            if c.kind.is_user() {
                self.user_in_flight += 1;
            }
            out.push(GroupRequest::Commit(self.commit_request(generation, &c), c));
        }
        out
    }

    /// A commit queued in an earlier generation: the partitions may have moved since, so
    /// it is not sent (a caller's commit fails).
    fn stale(&mut self, c: CommitContext, now_generation: i32, events: &mut VecDeque<Event>) {
        debug!(
            "group {}: not sending a {:?} commit of generation {:?} in generation {now_generation}",
            self.group_id, c.kind, c.generation
        );
        match c.kind {
            CommitKind::Auto => {}
            CommitKind::PreRevoke => self.pre_revoke = PreRevoke::Done,
            CommitKind::User | CommitKind::UserAsync => {
                let error = ConsumerError::CommitFailed {
                    reason: format!(
                        "the group rebalanced (generation {:?} to {now_generation}) since these offsets were consumed",
                        c.generation
                    ),
                };
                self.counters.failed(&error);
                events.push_back(Event::CommitCompleted {
                    id: c.id.unwrap_or(RequestId(0)),
                    offsets: c.offsets,
                    result: Err(error),
                });
            }
        }
    }

    /// An OffsetFetch of `partitions`. A KIP-848 member (`generation` is its member id
    /// and epoch, without an assignor name) names itself, as OffsetFetch v9+ lets it, so
    /// the coordinator can refuse a stale epoch; others ask as no member (null, -1).
    fn fetch_request(
        &self,
        partitions: Vec<TopicPartition>,
        query: Option<RequestId>,
        generation: Option<&Generation>,
    ) -> GroupRequest {
        let member = generation.filter(|g| self.kip848 && g.is_valid());
        let mut topics: Vec<OffsetFetchRequestTopic> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for tp in &partitions {
            match index
                .get(tp.topic.as_str())
                .and_then(|&i| topics.get_mut(i))
            {
                Some(t) => t.partition_indexes.push(tp.partition),
                None => {
                    index.insert(&tp.topic, topics.len());
                    topics.push(OffsetFetchRequestTopic {
                        name: tp.topic.clone(),
                        topic_id: [0; 16],
                        partition_indexes: vec![tp.partition],
                    });
                }
            }
        }
        let req = OffsetFetchRequest {
            group_id: self.group_id.clone(),
            topics: Some(topics.clone()),
            groups: vec![OffsetFetchRequestGroup {
                group_id: self.group_id.clone(),
                member_id: member.map(|g| g.member_id.clone()),
                member_epoch: member.map_or(-1, |g| g.generation_id),
                topics: Some(topics),
            }],
            require_stable: true,
        };
        GroupRequest::FetchOffsets(req, OffsetFetchContext { partitions, query })
    }

    fn commit_request(&self, generation: &Generation, c: &CommitContext) -> OffsetCommitRequest {
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (tp, o) in &c.offsets {
            let p = OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: o.offset,
                committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                commit_timestamp: -1,
                committed_metadata: Some(o.metadata.clone()),
            };
            match index
                .get(tp.topic.as_str())
                .and_then(|&i| topics.get_mut(i))
            {
                Some(t) => t.partitions.push(p),
                None => {
                    index.insert(&tp.topic, topics.len());
                    topics.push(OffsetCommitRequestTopic {
                        name: tp.topic.clone(),
                        topic_id: [0; 16],
                        partitions: vec![p],
                    });
                }
            }
        }
        OffsetCommitRequest {
            group_id: self.group_id.clone(),
            generation_id_or_member_epoch: generation.generation_id,
            member_id: generation.member_id.clone(),
            group_instance_id: self.instance_id.clone(),
            retention_time_ms: -1,
            topics,
        }
    }

    /// An OffsetCommit answer.
    pub(crate) fn handle_commit(
        &mut self,
        ctx: CommitContext,
        resp: Result<OffsetCommitResponse, RequestFailure>,
        now: Instant,
        backoff: Duration,
        events: &mut VecDeque<Event>,
    ) -> CommitOutcome {
        if ctx.kind.is_user() {
            self.user_in_flight = self.user_in_flight.saturating_sub(1);
        }
        let ctx_generation = ctx.generation;
        let mut worst = ErrorCode::None;
        match &resp {
            Ok(r) => {
                for t in &r.topics {
                    for p in &t.partitions {
                        let code = ErrorCode::from_i16(p.error_code);
                        if code != ErrorCode::None && worst == ErrorCode::None {
                            worst = code;
                        }
                    }
                }
            }
            Err(_) => worst = ErrorCode::RequestTimedOut,
        }
        match &resp {
            Err(failure) => self
                .counters
                .failed(format_args!("OffsetCommit failed: {failure}")),
            Ok(_) if worst == ErrorCode::None => self.counters.succeeded(),
            Ok(_) => self.counters.failed(format_args!(
                "OffsetCommit failed: {}: {worst}",
                worst.name()
            )),
        }
        let coordinator_gone = worst.needs_coordinator_lookup() || resp.is_err();
        // STALE_MEMBER_EPOCH: a KIP-848 member's epoch moved on while the commit was in
        // flight; it goes again at the current one (as in Java).
        // A leader epoch the broker refuses (FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH,
        // retriable for fetches) is refused again on every retry of the same offsets:
        // the commit fails at once, as in Java and librdkafka.
        let epoch_refused = matches!(
            worst,
            ErrorCode::FencedLeaderEpoch | ErrorCode::UnknownLeaderEpoch
        );
        let retriable = (worst.is_retriable() && !epoch_refused)
            || worst.needs_coordinator_lookup()
            || worst == ErrorCode::StaleMemberEpoch
            || resp.is_err();
        if worst == ErrorCode::None {
            for (tp, o) in &ctx.offsets {
                self.last_committed.insert(tp.clone(), o.offset);
            }
            debug!("group {}: committed {:?}", self.group_id, ctx.offsets);
        }
        match ctx.kind {
            CommitKind::PreRevoke => {
                if retriable && worst != ErrorCode::None {
                    self.pre_revoke = PreRevoke::NotStarted;
                    self.retry_at = Some(now + backoff);
                } else {
                    self.pre_revoke = PreRevoke::Done;
                }
            }
            CommitKind::Auto => {
                if worst != ErrorCode::None {
                    warn!("group {}: auto-commit failed: {worst}", self.group_id);
                }
            }
            CommitKind::User | CommitKind::UserAsync => {
                if retriable && worst != ErrorCode::None && ctx.kind == CommitKind::User {
                    // Retried until the caller's deadline.
                    self.queued.push_front(ctx);
                    self.retry_at = Some(now + backoff);
                } else {
                    let result = match worst {
                        ErrorCode::None => Ok(()),
                        ErrorCode::UnknownMemberId
                        | ErrorCode::IllegalGeneration
                        | ErrorCode::RebalanceInProgress
                        | ErrorCode::FencedInstanceId
                        | ErrorCode::FencedMemberEpoch
                        | ErrorCode::StaleMemberEpoch => Err(ConsumerError::CommitFailed {
                            reason: format!(
                                "the group rebalanced since these records were handed out ({})",
                                worst.name()
                            ),
                        }),
                        code => Err(ConsumerError::Group {
                            api: "OffsetCommit",
                            group: self.group_id.clone(),
                            code,
                        }),
                    };
                    events.push_back(Event::CommitCompleted {
                        id: ctx.id.unwrap_or(RequestId(0)),
                        offsets: ctx.offsets,
                        result,
                    });
                }
            }
        }
        CommitOutcome {
            coordinator_gone,
            // As in Java: a commit refused because the group moved on means this member
            // must rejoin.
            rejoin: matches!(
                worst,
                ErrorCode::RebalanceInProgress
                    | ErrorCode::IllegalGeneration
                    | ErrorCode::UnknownMemberId
            ),
            stale_generation: matches!(
                worst,
                ErrorCode::IllegalGeneration
                    | ErrorCode::UnknownMemberId
                    | ErrorCode::FencedMemberEpoch
            )
            .then_some(ctx_generation)
            .flatten(),
        }
    }

    /// The member left the group (close, unsubscribe): commits still queued can no longer
    /// be sent (they need a generation). The caller's complete with an error; automatic
    /// ones are dropped. Without this, closing waited for them until its deadline.
    pub(crate) fn member_left(&mut self, events: &mut VecDeque<Event>) {
        for c in self.queued.drain(..) {
            if c.kind.is_user() {
                let error = ConsumerError::CommitNotSent {
                    reason: "the consumer left the group before it could be sent (no group \
                             coordinator was reachable, or the member was rejoining)"
                        .into(),
                };
                self.counters.failed(&error);
                events.push_back(Event::CommitCompleted {
                    id: c.id.unwrap_or(RequestId(0)),
                    offsets: c.offsets,
                    result: Err(error),
                });
            }
        }
        if self.pre_revoke == PreRevoke::InFlight {
            self.pre_revoke = PreRevoke::NotStarted;
        }
    }

    /// Gives up a queued or in-flight user commit (the caller's deadline passed).
    pub(crate) fn cancel(&mut self, id: RequestId) {
        self.queued.retain(|c| c.id != Some(id));
    }

    /// An OffsetFetch answer. Returns true if the coordinator should be looked up again.
    pub(crate) fn handle_fetch(
        &mut self,
        ctx: OffsetFetchContext,
        resp: Result<OffsetFetchResponse, RequestFailure>,
        now: Instant,
        backoff: Duration,
        subs: &mut SubscriptionState,
        events: &mut VecDeque<Event>,
    ) -> bool {
        if ctx.query.is_none() {
            self.init_in_flight = false;
        }
        let retry = |this: &mut Self| {
            this.retry_at = Some(now + backoff);
            if let Some(id) = ctx.query {
                this.queries.push_front((id, ctx.partitions.clone()));
            }
        };
        let resp = match resp {
            Ok(r) => r,
            Err(_) => {
                retry(self);
                return true;
            }
        };
        // v8+ answers per group; older versions at the top level.
        let (top_error, topics) = match resp
            .groups
            .into_iter()
            .find(|g| g.group_id == self.group_id)
        {
            Some(g) => (g.error_code, g.topics),
            None => (resp.error_code, resp.topics),
        };
        let top = ErrorCode::from_i16(top_error);
        if top != ErrorCode::None {
            // STALE_MEMBER_EPOCH: a KIP-848 member's epoch moved on meanwhile; the retry
            // carries the current one.
            if top.is_retriable()
                || top.needs_coordinator_lookup()
                || top == ErrorCode::UnstableOffsetCommit
                || top == ErrorCode::StaleMemberEpoch
            {
                retry(self);
                return top.needs_coordinator_lookup();
            }
            if let Some(id) = ctx.query {
                events.push_back(Event::CommittedFetched {
                    id,
                    offsets: Err(ConsumerError::Group {
                        api: "OffsetFetch",
                        group: self.group_id.clone(),
                        code: top,
                    }),
                });
            }
            return false;
        }
        let mut found: HashMap<TopicPartition, Option<OffsetAndMetadata>> = HashMap::new();
        let mut partition_retry = false;
        // v0–1 report group errors (NOT_COORDINATOR, ...) in every partition.
        let mut partition_lookup = false;
        for t in topics {
            for p in t.partitions {
                let tp = TopicPartition::new(t.name.clone(), p.partition_index);
                let code = ErrorCode::from_i16(p.error_code);
                if code == ErrorCode::UnstableOffsetCommit || code.is_retriable() {
                    partition_retry = true;
                    partition_lookup |= code.needs_coordinator_lookup();
                    continue;
                }
                let committed = (code == ErrorCode::None && p.committed_offset >= 0).then(|| {
                    OffsetAndMetadata {
                        offset: p.committed_offset,
                        leader_epoch: (p.committed_leader_epoch >= 0)
                            .then_some(p.committed_leader_epoch),
                        metadata: p.metadata.clone().unwrap_or_default(),
                    }
                });
                found.insert(tp, committed);
            }
        }
        if partition_retry {
            retry(self);
            return partition_lookup;
        }
        match ctx.query {
            Some(id) => {
                let offsets = ctx
                    .partitions
                    .iter()
                    .map(|tp| (tp.clone(), found.get(tp).cloned().flatten()))
                    .collect();
                events.push_back(Event::CommittedFetched {
                    id,
                    offsets: Ok(offsets),
                });
            }
            None => {
                for tp in &ctx.partitions {
                    if !self.initializing.remove(tp) {
                        continue;
                    }
                    let Some(state) = subs.get(tp) else {
                        continue;
                    };
                    if state.position.is_some() || state.reset.is_some() {
                        continue;
                    }
                    if let Some(Some(o)) = found.get(tp) {
                        debug!("{tp}: resuming from committed offset {}", o.offset);
                        self.last_committed.insert(tp.clone(), o.offset);
                        // Validated first when it carries a leader epoch (KIP-320).
                        subs.seek_unvalidated(
                            tp,
                            FetchPosition {
                                offset: o.offset,
                                leader_epoch: o.leader_epoch,
                            },
                        );
                    }
                    // Else: no commit; the reset policy applies.
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_positions_stay_committable_until_the_rebalance_ends() {
        let mut subs = SubscriptionState::new();
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        subs.assign([a.clone(), b.clone()]);
        subs.seek(
            &a,
            FetchPosition {
                offset: 17,
                leader_epoch: Some(3),
            },
        );
        let mut c = Commits::new("g".into(), None, None);
        c.remember_revoked(&subs, &[a.clone(), b.clone()]);
        subs.assign(Vec::new());
        // b had no position: nothing to commit for it.
        let kept: Vec<_> = c
            .revoked_positions()
            .iter()
            .map(|(tp, o)| (tp.clone(), o.offset, o.leader_epoch))
            .collect();
        assert_eq!(kept, [(a.clone(), 17, Some(3))]);
        c.reset_pre_revoke();
        assert!(c.revoked_positions().is_empty());
    }

    #[test]
    fn leaving_settles_queued_commits() {
        let mut subs = SubscriptionState::new();
        let tp = TopicPartition::new("t", 0);
        subs.assign([tp.clone()]);
        subs.seek(
            &tp,
            FetchPosition {
                offset: 5,
                leader_epoch: None,
            },
        );
        let mut c = Commits::new("g".into(), None, Some(Duration::from_secs(5)));
        c.commit_before_revoke(&subs, std::slice::from_ref(&tp), 1);
        let id = c.commit(Commits::positions(&subs, std::slice::from_ref(&tp)));
        assert!(c.has_pending_sync_commits());
        let mut events = VecDeque::new();
        c.member_left(&mut events);
        assert!(!c.has_pending_sync_commits());
        assert!(matches!(
            events.pop_front(),
            Some(Event::CommitCompleted { id: got, result: Err(ConsumerError::CommitNotSent { .. }), .. }) if got == id
        ));
        assert!(
            events.is_empty(),
            "the automatic commit is dropped silently"
        );
    }
}
