//! The group member's side of the classic consumer-group protocol (named as in the Java
//! client: the broker side is the group coordinator, this is the `ConsumerCoordinator`).
//!
//! What the member knows of its coordinator and where it stands in the group are two
//! enums (in `state.rs`) whose variants carry what only that stage needs:
//!
//! ```text
//!  coordinator:
//!    Unknown{retry_at} ──FindCoordinator──► Looking ──found──► Known(node)
//!        ▲      ▲                              │                    │
//!        │      └─── error or no answer ───────┘                    │
//!        └──── NOT_COORDINATOR, disconnect, session timeout ────────┘
//!
//!  member:
//!                JoinGroup                 leader: waits for metadata
//!    Unjoined ───────────────► Joining ──────────────────► AwaitingMetadata
//!    {retry_at}  subscribed,      │                                │ assigns: SyncGroup
//!       ▲        coordinator known│ follower: SyncGroup            ▼
//!       │                         └──────────────────────────► Syncing ────► Stable{rejoin}
//!       │                                                                     │   │
//!       ├── join/sync refused (MEMBER_ID_REQUIRED: at once, else: retry_at)   │   │
//!       ├── coordinator lost during the rebalance                             │   │
//!       └── UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION, poll interval exceeded ◄──┘   │
//!                                                                                 │
//!          Joining ◄── JoinGroup with the same generation, once a rejoin is asked ┘
//!                      (REBALANCE_IN_PROGRESS at heartbeat, subscription or partition
//!                      counts changed); heartbeats go on until it is sent
//!
//!    leave (close, unsubscribe) ──► Left{retry_at} ── subscribed again ──► Unjoined
//!    refused for good (authorization, fenced instance, unknown assignor) ──► Failed
//! ```
//!
//! The leader runs the assignor named by the JoinGroup answer. Heartbeats go out every
//! `heartbeat.interval.ms` while the driver calls in; there is no thread, so a caller that
//! stays away longer than `session.timeout.ms` loses its partitions, and one that stays
//! away longer than `max.poll.interval.ms` leaves the group proactively on its next poll.
//! A JoinGroup or SyncGroup answer the member no longer waits for (it lost the coordinator
//! or its generation, or left, meanwhile) is ignored. Offsets (commits and
//! committed-offset lookups) live in [`commits`].

pub(crate) mod commits;
mod heartbeat;
mod join;
mod kip848;
mod lookup;
mod state;
#[cfg(test)]
mod test_harness;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use log::{debug, warn};

use crate::assignor::{self, Assignor, RebalanceProtocol};
use crate::codec::messages::leave_group::LeaveGroupMember;
use crate::codec::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, SyncGroupRequest,
};
use crate::config::{ConfigError, ConsumerConfig, GroupProtocol};
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, Event, RequestId};
use crate::metadata::{Metadata, Node};
use crate::metrics::RebalanceCounters;
use crate::subscription::SubscriptionState;
use crate::timer::Timer;
use crate::topic_partition::{OffsetAndMetadata, TopicPartition};

pub(crate) use commits::{CommitContext, Commits, OffsetFetchContext};
use kip848::{Kip848Member, Reaction};
use state::{CoordinatorState, Heartbeat, Member};

/// Where the member stands in the group, in summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not a member (never joined, reset, left, or refused for good).
    Unjoined,
    /// JoinGroup sent, waiting for the answer.
    Joining,
    /// SyncGroup sent (or, as leader, about to be once metadata is fresh), waiting for
    /// the assignment.
    Syncing,
    /// Member of the current generation with an assignment.
    Stable,
}

/// The member's generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation id (-1: none).
    pub generation_id: i32,
    /// The member id the coordinator gave ("" before the first join).
    pub member_id: String,
    /// The assignor chosen for this generation.
    pub protocol: Option<String>,
}

impl Generation {
    /// No generation: before joining, or after a reset.
    pub fn none() -> Self {
        Self {
            generation_id: -1,
            member_id: String::new(),
            protocol: None,
        }
    }

    /// True for a real generation.
    pub fn is_valid(&self) -> bool {
        self.generation_id >= 0
    }
}

/// A request the coordinator wants sent.
#[derive(Debug, Clone)]
pub(crate) enum GroupRequest {
    /// To the coordinator, with a timeout of rebalance timeout + 5 s.
    Join(JoinGroupRequest, Duration),
    /// To the coordinator.
    Sync(SyncGroupRequest),
    /// To the coordinator.
    Heartbeat(HeartbeatRequest),
    /// To the coordinator.
    Leave(LeaveGroupRequest),
    /// To the coordinator: a KIP-848 member's heartbeat (joining, staying, acknowledging).
    ConsumerHeartbeat(ConsumerGroupHeartbeatRequest),
    /// To the coordinator: a KIP-848 member's heartbeat that leaves the group.
    ConsumerLeave(ConsumerGroupHeartbeatRequest),
    /// To the coordinator.
    Commit(crate::codec::messages::OffsetCommitRequest, CommitContext),
    /// To the coordinator.
    FetchOffsets(
        crate::codec::messages::OffsetFetchRequest,
        OffsetFetchContext,
    ),
}

/// The group member's state machine: its coordinator, membership and offsets.
pub struct ConsumerCoordinator {
    group_id: String,
    instance_id: Option<String>,
    rack: Option<String>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    heartbeat_interval: Duration,
    retry_backoff: Duration,
    assignors: Vec<Box<dyn Assignor>>,
    protocol: RebalanceProtocol,

    coordinator: CoordinatorState,
    /// The classic member (`group.protocol=classic`); stays `Unjoined` otherwise.
    member: Member,
    /// The KIP-848 member (`group.protocol=consumer`), which replaces the classic one.
    kip848: Option<Kip848Member>,
    /// Kept across stages: a member rejoins with its id, and a cooperative one with its
    /// generation.
    generation: Generation,
    /// The reason of the last rejoin request, sent with the next JoinGroup (for the
    /// broker's log only).
    rejoin_reason: String,
    /// Partitions handed to us by the last completed rebalance. A cooperative member
    /// keeps them while it rejoins.
    owned: Vec<TopicPartition>,
    last_poll: Option<Instant>,
    /// The caller's rebalance listener is running: no rebalance step until it returns.
    listener_running: bool,
    /// The last thing that went wrong with the coordinator or the membership, for the
    /// messages of calls that time out waiting for the group.
    last_problem: Option<String>,

    /// Offsets: commits, auto-commit, committed-offset lookups.
    pub(crate) commits: Commits,
    /// Rebalances, for the consumer's metrics.
    pub(crate) rebalances: RebalanceCounters,
}

impl std::fmt::Debug for ConsumerCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerCoordinator")
            .field("group_id", &self.group_id)
            .field("member", &self.member)
            .field("generation", &self.generation)
            .field("coordinator", &self.coordinator)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

/// What the coordinator may touch in the rest of the consumer during one call.
pub(crate) struct GroupCtx<'a> {
    /// The subscription and assignment.
    pub subs: &'a mut SubscriptionState,
    /// Cluster metadata.
    pub metadata: &'a mut Metadata,
    /// Events for the caller (listener calls, commit completions).
    pub events: &'a mut VecDeque<Event>,
    /// Errors for the caller of `poll`.
    pub errors: &'a mut VecDeque<ConsumerError>,
}

impl ConsumerCoordinator {
    /// A coordinator for `config`'s group; errors name a bad assignor.
    pub(crate) fn new(config: &ConsumerConfig) -> Result<Option<Self>, ConfigError> {
        let Some(group_id) = config.group_id.clone() else {
            return Ok(None);
        };
        let mut assignors = Vec::new();
        for name in &config.partition_assignment_strategy {
            let a = assignor::assignor_by_name(name).ok_or_else(|| ConfigError::InvalidValue {
                key: "partition.assignment.strategy".to_owned(),
                value: name.clone(),
                reason: "unknown assignor (expected range, roundrobin or cooperative-sticky)"
                    .to_owned(),
            })?;
            assignors.push(a);
        }
        // As in Java: cooperative only if every listed assignor supports it.
        let protocol = if assignors
            .iter()
            .all(|a| a.protocol() == RebalanceProtocol::Cooperative)
        {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        };
        let auto_commit = config
            .enable_auto_commit
            .then_some(config.auto_commit_interval);
        let kip848 = match config.group_protocol {
            GroupProtocol::Classic => None,
            GroupProtocol::Consumer => {
                let mut random = [0u8; 16];
                getrandom::fill(&mut random).map_err(|e| ConfigError::InvalidValue {
                    key: "group.protocol".to_owned(),
                    value: "consumer".to_owned(),
                    reason: format!("no randomness for the member id: {e}"),
                })?;
                Some(Kip848Member::new(group_id.clone(), config, random))
            }
        };
        let mut commits = Commits::new(
            group_id.clone(),
            config.group_instance_id.clone(),
            auto_commit,
        );
        if kip848.is_some() {
            commits.name_member_in_fetches();
        }
        Ok(Some(Self {
            commits,
            group_id,
            instance_id: config.group_instance_id.clone(),
            rack: (!config.client_rack.is_empty()).then(|| config.client_rack.clone()),
            session_timeout: config.session_timeout,
            rebalance_timeout: config.max_poll_interval,
            heartbeat_interval: config.heartbeat_interval,
            retry_backoff: config.retry_backoff,
            assignors,
            protocol,
            coordinator: CoordinatorState::Unknown { retry_at: None },
            member: Member::Unjoined { retry_at: None },
            kip848,
            generation: Generation::none(),
            rejoin_reason: "initial join".to_owned(),
            owned: Vec::new(),
            last_poll: None,
            listener_running: false,
            last_problem: None,
            rebalances: RebalanceCounters::default(),
        }))
    }

    // ---- getters ----

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The coordinator node (its id is `i32::MAX - broker id`, so it gets a connection
    /// of its own, as in the Java client).
    pub fn coordinator(&self) -> Option<&Node> {
        self.coordinator.node()
    }

    /// The member state.
    pub fn state(&self) -> MemberState {
        match &self.kip848 {
            Some(m) => m.summary(),
            None => self.member.summary(),
        }
    }

    /// The group protocol the member speaks.
    pub fn group_protocol(&self) -> GroupProtocol {
        if self.kip848.is_some() {
            GroupProtocol::Consumer
        } else {
            GroupProtocol::Classic
        }
    }

    /// The current generation.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The rebalance protocol in use.
    pub fn protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// The partitions assigned by the last completed rebalance.
    pub fn owned(&self) -> &[TopicPartition] {
        &self.owned
    }

    /// True while the member wants to (re)join: before the first join, after a reset, or
    /// when a rejoin was requested; never once refused for good.
    pub fn needs_rejoin(&self) -> bool {
        match &self.kip848 {
            Some(m) => m.rejoin_pending(),
            None => self.member.rejoin_pending(),
        }
    }

    /// True once the coordinator refused the member for good.
    pub fn fatal_error(&self) -> Option<&ConsumerError> {
        if let Some(m) = &self.kip848 {
            return m.fatal();
        }
        match &self.member {
            Member::Failed(e) => Some(e),
            _ => None,
        }
    }

    // ---- commands ----

    /// Asks for a rejoin (subscription change, partition count change, …).
    pub(crate) fn request_rejoin(&mut self, reason: &str) {
        if let Some(m) = &mut self.kip848 {
            // The consumer protocol has no rejoin: the subscription goes out with the
            // next heartbeat, sent now.
            debug!("group {}: {reason}: heartbeat now", self.group_id);
            m.subscription_changed();
            return;
        }
        if !self.member.rejoin_pending() {
            debug!("group {}: rejoin requested: {reason}", self.group_id);
        }
        self.member.mark_rejoin();
        reason.clone_into(&mut self.rejoin_reason);
    }

    /// See [`Consumer::set_listener_running`](crate::consumer::Consumer::set_listener_running).
    pub(crate) fn set_listener_running(&mut self, running: bool) {
        self.listener_running = running;
    }

    /// A KIP-848 member subscribes by the broker-side regular expression `regex` (`None`:
    /// by topic names); a classic member matches patterns itself.
    pub(crate) fn set_broker_regex(&mut self, regex: Option<String>) {
        if let Some(m) = &mut self.kip848 {
            m.set_regex(regex);
        }
    }

    /// The caller entered `poll`: checks `max.poll.interval.ms` and restarts it.
    pub(crate) fn poll_started(
        &mut self,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) -> Vec<GroupRequest> {
        let mut out = Vec::new();
        if let Some(last) = self.last_poll {
            let elapsed = now.saturating_duration_since(last);
            if elapsed > self.rebalance_timeout && self.generation.is_valid() {
                warn!(
                    "group {}: {} ms since the last poll exceeds max.poll.interval.ms; leaving the group",
                    self.group_id,
                    elapsed.as_millis()
                );
                if let Some(m) = &mut self.kip848 {
                    if let Some(req) = m.leave() {
                        out.push(GroupRequest::ConsumerLeave(req));
                    }
                    m.rejoin_after_leave();
                } else if let Some(req) = self.leave_request("consumer poll timeout has expired") {
                    out.push(GroupRequest::Leave(req));
                }
                self.lose_partitions(ctx);
                self.reset_generation();
                ctx.errors
                    .push_back(ConsumerError::MaxPollIntervalExceeded {
                        elapsed_ms: elapsed.as_millis(),
                    });
            }
        }
        self.last_poll = Some(now);
        out
    }

    /// The LeaveGroup to send on close, if this member should leave (static members
    /// keep their place, as in Java). Resets the member.
    pub(crate) fn leave(&mut self, reason: &str) -> Option<GroupRequest> {
        if let Some(m) = &mut self.kip848 {
            let req = m.leave().map(GroupRequest::ConsumerLeave);
            self.generation = Generation::none();
            return req;
        }
        let req = self.leave_request(reason).map(GroupRequest::Leave);
        self.reset_generation();
        // A failed member stays failed: its error is reported until the end.
        if let Member::Unjoined { retry_at } = self.member {
            self.member = Member::Left { retry_at };
        }
        req
    }

    /// Fresh metadata: a leader whose last assignment was made with other partition
    /// counts asks for a rebalance, so new partitions get an owner (as in Java).
    pub(crate) fn metadata_updated(&mut self, metadata: &Metadata) {
        let Member::Stable(stable) = &mut self.member else {
            return;
        };
        if stable.leader_counts.is_empty() {
            return;
        }
        let changed = stable.leader_counts.iter().any(|(topic, count)| {
            metadata.topic(topic).is_some_and(|t| {
                let now = t.partitions.keys().max().map_or(0, |m| m + 1);
                !t.partitions.is_empty() && now != *count
            })
        });
        if changed {
            stable.leader_counts.clear();
            self.request_rejoin("the partition count of a subscribed topic changed");
        }
    }

    /// After `unsubscribe`: a later subscription joins afresh.
    pub(crate) fn rejoin_after_leave(&mut self) {
        self.owned.clear();
        if let Some(m) = &mut self.kip848 {
            m.rejoin_after_leave();
            return;
        }
        match self.member {
            Member::Left { retry_at } => self.member = Member::Unjoined { retry_at },
            _ => self.member.mark_rejoin(),
        }
    }

    fn leave_request(&self, reason: &str) -> Option<LeaveGroupRequest> {
        if self.instance_id.is_some() || self.generation.member_id.is_empty() {
            return None;
        }
        Some(LeaveGroupRequest {
            group_id: self.group_id.clone(),
            member_id: self.generation.member_id.clone(),
            members: vec![LeaveGroupMember {
                member_id: self.generation.member_id.clone(),
                group_instance_id: None,
                reason: Some(reason.to_owned()),
            }],
        })
    }

    /// Queues a commit of `offsets` by the caller (see [`Commits::commit_in`]): offsets
    /// consumed in this generation are not committed in a later one.
    pub(crate) fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    ) -> RequestId {
        let generation = self.commit_tag();
        self.commits.commit_in(offsets, generation)
    }

    /// Like [`commit`](Self::commit), never retried.
    pub(crate) fn commit_async(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    ) -> RequestId {
        let generation = self.commit_tag();
        self.commits.commit_async_in(offsets, generation)
    }

    // ---- timers ----

    /// Every pending deadline of the group, each may be past already.
    #[cfg(test)]
    pub(crate) fn deadlines(&self) -> Vec<Instant> {
        self.timers().into_iter().map(|(_, at)| at).collect()
    }

    /// Every pending deadline of the group with the timer it arms; each may be past
    /// already (the consumer's timer table keeps only those still ahead).
    pub(crate) fn timers(&self) -> Vec<(Timer, Instant)> {
        let mut t: Vec<(Timer, Option<Instant>)> =
            vec![(Timer::CoordinatorLookup, self.coordinator.retry_at())];
        t.extend(self.commits.timers());
        if let Some(m) = &self.kip848 {
            t.extend(m.timers().into_iter().map(|(timer, at)| (timer, Some(at))));
        } else {
            self.classic_timers(&mut t);
        }
        t.into_iter()
            .filter_map(|(timer, at)| at.map(|at| (timer, at)))
            .collect()
    }

    /// The classic member's deadlines.
    fn classic_timers(&self, t: &mut Vec<(Timer, Option<Instant>)>) {
        match &self.member {
            Member::Unjoined { retry_at } | Member::Left { retry_at } => {
                t.push((Timer::JoinBackoff, *retry_at));
            }
            Member::AwaitingMetadata { pending, .. } => {
                let at = pending.since + self.rebalance_timeout;
                t.push((Timer::LeaderAssignment, Some(at)));
            }
            Member::Stable(stable) => {
                if let Heartbeat::Due(at) = stable.heartbeat {
                    t.push((Timer::Heartbeat, Some(at)));
                }
                let expiry = stable.last_heartbeat_ok + self.session_timeout;
                t.push((Timer::SessionTimeout, Some(expiry)));
            }
            Member::Joining { .. } | Member::Syncing { .. } | Member::Failed(_) => {}
        }
    }

    // ---- outputs ----

    /// The requests to send to the (ready) coordinator now.
    pub(crate) fn prepare(&mut self, now: Instant, ctx: &mut GroupCtx<'_>) -> Vec<GroupRequest> {
        let mut out = Vec::new();
        if matches!(self.member, Member::Left { .. } | Member::Failed(_))
            || self.coordinator.node().is_none()
        {
            return out;
        }
        let subscribed = !ctx.subs.subscribed_topics().is_empty();
        if self.kip848.is_some() {
            return self.kip848_prepare(now, ctx);
        }

        if self.session_expired(now) {
            warn!(
                "group {}: no heartbeat answer within the session timeout",
                self.group_id
            );
            self.coordinator_dead(now);
            return out;
        }
        out.extend(self.heartbeat_request(now));

        // A leader waiting for metadata of its members' topics.
        if let Some(req) = self.try_leader_sync(now, ctx) {
            out.push(req);
        }

        // Offsets: committed lookups for new partitions, commits, auto-commit.
        let generation = matches!(self.member, Member::Stable(_)).then_some(&self.generation);
        out.extend(self.commits.prepare(now, generation, ctx));

        let may_join = match &self.member {
            Member::Unjoined { retry_at } => retry_at.is_none_or(|t| now >= t),
            Member::Stable(stable) => stable.rejoin,
            _ => false,
        };
        if subscribed && may_join {
            if let Some(req) = self.prepare_join(ctx) {
                out.push(req);
            }
        }
        out
    }

    // ---- inputs ----

    /// A commit sent in `generation` got UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION. If the
    /// member is still in that generation, its place in the group is gone: as after such
    /// a heartbeat answer (and in Java), its partitions are lost and it joins afresh.
    /// Otherwise a rebalance has already moved it on.
    pub(crate) fn commit_fenced(&mut self, generation: i32, ctx: &mut GroupCtx<'_>) {
        if let Some(m) = &self.kip848 {
            if m.is_member() && m.epoch() == generation {
                warn!(
                    "group {}: a commit was refused at epoch {generation}; partitions lost",
                    self.group_id
                );
                self.kip848_fenced(ctx);
            }
            return;
        }
        if !matches!(self.member, Member::Stable(_)) || self.generation.generation_id != generation
        {
            return;
        }
        warn!(
            "group {}: a commit was refused for generation {generation}; partitions lost",
            self.group_id
        );
        self.lose_partitions(ctx);
        self.reset_generation();
    }

    fn lose_partitions(&mut self, ctx: &mut GroupCtx<'_>) {
        if self.owned.is_empty() {
            return;
        }
        let lost = std::mem::take(&mut self.owned);
        ctx.subs.assign(Vec::new());
        self.commits.assigned(&[], &lost);
        self.rebalances.lost();
        ctx.events.push_back(Event::PartitionsLost(lost));
    }

    fn reset_generation(&mut self) {
        self.generation = Generation::none();
        self.member.reset();
    }

    /// Remembers `problem` for [`wait_reason`](Self::wait_reason).
    pub(crate) fn note_problem(&mut self, problem: String) {
        self.last_problem = Some(problem);
    }

    /// Why a call waiting on the group (a commit, a committed-offset lookup) may not have
    /// finished: where the coordinator and the membership stand, and the last problem
    /// seen. For the messages of timeouts.
    pub fn wait_reason(&self) -> String {
        let state = match &self.coordinator {
            CoordinatorState::Unknown { .. } => {
                format!("the coordinator of group {} is not known", self.group_id)
            }
            CoordinatorState::Looking => format!(
                "the coordinator of group {} is being looked up",
                self.group_id
            ),
            CoordinatorState::Known(node) => format!(
                "group {}: coordinator at {}, member {:?}",
                self.group_id,
                node.address(),
                self.member.summary()
            ),
        };
        match &self.last_problem {
            Some(p) => format!("{state}; last problem: {p}"),
            None => state,
        }
    }

    fn set_fatal(&mut self, api: &'static str, code: ErrorCode) {
        warn!("group {}: {api} failed: {code}", self.group_id);
        self.last_problem = Some(format!("{api}: {}", code.name()));
        self.member = Member::Failed(ConsumerError::Group {
            api,
            group: self.group_id.clone(),
            code,
        });
    }

    /// The generation a caller's commit belongs to: it fails if the group moved on
    /// before it could be sent. A KIP-848 member's commits go out at whatever epoch is
    /// current then (the coordinator refuses a stale one), as in Java.
    fn commit_tag(&self) -> Option<i32> {
        if self.kip848.is_some() {
            return None;
        }
        Some(match self.member {
            Member::Stable(_) => self.generation.generation_id,
            _ => -1,
        })
    }

    // ---- KIP-848 ----

    fn kip848_prepare(&mut self, now: Instant, ctx: &mut GroupCtx<'_>) -> Vec<GroupRequest> {
        let mut out = Vec::new();
        self.kip848_reconcile(now, ctx);
        let Some(m) = self.kip848.as_mut() else {
            return out;
        };
        if let Some(req) = m.heartbeat(now, ctx.subs.subscribed_topics()) {
            out.push(GroupRequest::ConsumerHeartbeat(req));
        }
        self.sync_kip848_generation();
        let generation = self
            .kip848
            .as_ref()
            .is_some_and(Kip848Member::is_member)
            .then_some(&self.generation);
        out.extend(self.commits.prepare(now, generation, ctx));
        out
    }

    /// The generation the commits carry: the member id and epoch of a KIP-848 member.
    /// Runs at every `prepare`: it allocates only when the epoch or member id changed.
    fn sync_kip848_generation(&mut self) {
        let Some(m) = &self.kip848 else {
            return;
        };
        let (epoch, id) = if m.is_member() {
            (m.epoch(), m.member_id())
        } else {
            (-1, "")
        };
        if self.generation.generation_id != epoch || self.generation.member_id != id {
            self.generation = Generation {
                generation_id: epoch,
                member_id: id.to_owned(),
                protocol: None,
            };
        }
    }

    /// The KIP-848 member is out of the group (fenced, or its commit refused for its
    /// epoch): its partitions are lost and it joins again at epoch 0.
    fn kip848_fenced(&mut self, ctx: &mut GroupCtx<'_>) {
        if let Some(m) = self.kip848.as_mut() {
            m.fenced();
        }
        self.lose_partitions(ctx);
        self.sync_kip848_generation();
    }

    /// A ConsumerGroupHeartbeat answer.
    pub(crate) fn handle_consumer_heartbeat(
        &mut self,
        resp: ConsumerGroupHeartbeatResponse,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) {
        let Some(m) = self.kip848.as_mut() else {
            return;
        };
        let code = resp.error_code;
        let reaction = m.handle(resp, now);
        if code != 0 {
            self.note_problem(format!(
                "ConsumerGroupHeartbeat answered {}",
                ErrorCode::from_i16(code).name()
            ));
        }
        match reaction {
            Reaction::None => {}
            Reaction::CoordinatorDead => self.coordinator_dead(now),
            Reaction::Fenced => self.kip848_fenced(ctx),
        }
        self.sync_kip848_generation();
        // Reconcile at once: a new assignment is taken in this very call when nothing
        // has to be revoked first.
        self.kip848_reconcile(now, ctx);
    }

    /// A ConsumerGroupHeartbeat got no answer; `unsupported`: the coordinator does not
    /// offer the API at all.
    pub(crate) fn consumer_heartbeat_failed(&mut self, unsupported: bool, now: Instant) {
        let Some(m) = self.kip848.as_mut() else {
            return;
        };
        if unsupported {
            warn!(
                "group {}: the coordinator does not offer ConsumerGroupHeartbeat: \
                 group.protocol=consumer needs a broker with KIP-848 (Kafka 4.0+)",
                self.group_id
            );
            m.fail(ErrorCode::UnsupportedVersion);
            return;
        }
        m.heartbeat_lost();
        self.coordinator_dead(now);
    }

    /// Takes the fatal error to report it (it stays set: the member is done).
    pub(crate) fn fatal_for_caller(&self) -> Option<ConsumerError> {
        self.fatal_error().cloned()
    }
}

/// Which coordinator request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupRequestKind {
    /// JoinGroup.
    Join,
    /// SyncGroup.
    Sync,
    /// Heartbeat.
    Heartbeat,
}

/// The partitions of `from` that are not in `other`, in `from`'s order (a set lookup
/// each: thousands of partitions must not cost their square).
fn missing_from(from: &[TopicPartition], other: &[TopicPartition]) -> Vec<TopicPartition> {
    let other: std::collections::HashSet<&TopicPartition> = other.iter().collect();
    from.iter()
        .filter(|tp| !other.contains(tp))
        .cloned()
        .collect()
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
