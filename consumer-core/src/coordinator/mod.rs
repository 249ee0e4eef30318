//! The group coordinator state machine (the classic consumer-group protocol).
//!
//! ```text
//!            FindCoordinator            JoinGroup                 SyncGroup
//!  Unjoined ───────────────► (known) ───────────► Joining ───────────────► Syncing ──► Stable
//!     ▲                                      │  MEMBER_ID_REQUIRED: rejoin at once          │
//!     └──────────── UNKNOWN_MEMBER_ID / ILLEGAL_GENERATION / poll interval exceeded ◄───────┘
//!                          REBALANCE_IN_PROGRESS (heartbeat): rejoin, keep the generation
//! ```
//!
//! The leader runs the assignor named by the JoinGroup answer. Heartbeats go out every
//! `heartbeat.interval.ms` while the driver calls in; there is no thread, so a caller that
//! stays away longer than `session.timeout.ms` loses its partitions, and one that stays
//! away longer than `max.poll.interval.ms` leaves the group proactively on its next poll.
//! Offsets (commits and committed-offset lookups) live in [`commits`].

pub mod commits;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::assignor::{
    self, group_by_topic, ungroup, Assignor, MemberSubscription, RebalanceProtocol,
};
use crate::codec::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, LATEST_VERSION, PROTOCOL_TYPE,
};
use crate::codec::messages::find_coordinator::KEY_TYPE_GROUP;
use crate::codec::messages::join_group::JoinGroupRequestProtocol;
use crate::codec::messages::leave_group::LeaveGroupMember;
use crate::codec::messages::sync_group::SyncGroupRequestAssignment;
use crate::codec::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, SyncGroupRequest, SyncGroupResponse,
};
use crate::config::{ConfigError, ConsumerConfig};
use crate::error_code::ErrorCode;
use crate::event::{ConsumerError, Event, RequestId};
use crate::metadata::{Metadata, Node};
use crate::subscription::SubscriptionState;
use crate::topic_partition::{OffsetAndMetadata, TopicPartition};

pub use commits::{CommitContext, Commits, OffsetFetchContext};

/// Where the member stands in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// Not a member (never joined, left, or reset).
    Unjoined,
    /// JoinGroup sent, waiting for the answer.
    Joining,
    /// SyncGroup sent (or about to be), waiting for the assignment.
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
pub enum GroupRequest {
    /// To any ready node.
    FindCoordinator(FindCoordinatorRequest),
    /// To the coordinator, with a timeout of rebalance timeout + 5 s.
    Join(JoinGroupRequest, Duration),
    /// To the coordinator.
    Sync(SyncGroupRequest),
    /// To the coordinator.
    Heartbeat(HeartbeatRequest),
    /// To the coordinator.
    Leave(LeaveGroupRequest),
    /// To the coordinator.
    Commit(crate::codec::messages::OffsetCommitRequest, CommitContext),
    /// To the coordinator.
    FetchOffsets(
        crate::codec::messages::OffsetFetchRequest,
        OffsetFetchContext,
    ),
}

/// A JoinGroup answer that made us leader, waiting for metadata of every member's topics.
#[derive(Debug, Clone)]
struct PendingLeaderSync {
    generation: i32,
    protocol: String,
    members: Vec<MemberSubscription>,
    since: Instant,
    /// The metadata update count when the answer came; the leader assigns on a later one.
    metadata_seen: u64,
}

/// The group side of the consumer.
pub struct GroupCoordinator {
    group_id: String,
    instance_id: Option<String>,
    rack: Option<String>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    heartbeat_interval: Duration,
    retry_backoff: Duration,
    assignors: Vec<Box<dyn Assignor>>,
    protocol: RebalanceProtocol,

    coordinator: Option<Node>,
    lookup_in_flight: bool,
    lookup_backoff_until: Option<Instant>,

    state: MemberState,
    generation: Generation,
    need_rejoin: bool,
    rejoin_reason: String,
    join_in_flight: bool,
    sync_in_flight: bool,
    pending_leader_sync: Option<PendingLeaderSync>,
    /// As leader: the partition count of each topic in the last assignment made.
    assigned_counts: BTreeMap<String, i32>,
    backoff_until: Option<Instant>,
    /// Partitions handed to us by the last completed rebalance.
    owned: Vec<TopicPartition>,
    /// Eager protocol: the revocation before the next join is done (listener called).
    revoked_for_join: bool,
    /// The topics subscribed in the last JoinGroup.
    joined_topics: Vec<String>,

    heartbeat_in_flight: bool,
    next_heartbeat: Option<Instant>,
    last_heartbeat_ok: Option<Instant>,
    last_poll: Option<Instant>,
    left: bool,

    /// Offsets: commits, auto-commit, committed-offset lookups.
    pub commits: Commits,
    fatal: Option<ConsumerError>,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("group_id", &self.group_id)
            .field("state", &self.state)
            .field("generation", &self.generation)
            .field("coordinator", &self.coordinator)
            .field("owned", &self.owned)
            .finish_non_exhaustive()
    }
}

/// What the coordinator may touch in the rest of the consumer during one call.
pub struct GroupCtx<'a> {
    /// The subscription and assignment.
    pub subs: &'a mut SubscriptionState,
    /// Cluster metadata.
    pub metadata: &'a mut Metadata,
    /// Events for the caller (listener calls, commit completions).
    pub events: &'a mut VecDeque<Event>,
    /// Errors for the caller of `poll`.
    pub errors: &'a mut VecDeque<ConsumerError>,
}

impl GroupCoordinator {
    /// A coordinator for `config`'s group; errors name a bad assignor.
    pub fn new(config: &ConsumerConfig) -> Result<Option<Self>, ConfigError> {
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
        Ok(Some(Self {
            commits: Commits::new(
                group_id.clone(),
                config.group_instance_id.clone(),
                auto_commit,
            ),
            group_id,
            instance_id: config.group_instance_id.clone(),
            rack: (!config.client_rack.is_empty()).then(|| config.client_rack.clone()),
            session_timeout: config.session_timeout,
            rebalance_timeout: config.max_poll_interval,
            heartbeat_interval: config.heartbeat_interval,
            retry_backoff: config.retry_backoff,
            assignors,
            protocol,
            coordinator: None,
            lookup_in_flight: false,
            lookup_backoff_until: None,
            state: MemberState::Unjoined,
            generation: Generation::none(),
            need_rejoin: true,
            rejoin_reason: "initial join".to_owned(),
            join_in_flight: false,
            sync_in_flight: false,
            pending_leader_sync: None,
            assigned_counts: BTreeMap::new(),
            backoff_until: None,
            owned: Vec::new(),
            revoked_for_join: false,
            joined_topics: Vec::new(),
            heartbeat_in_flight: false,
            next_heartbeat: None,
            last_heartbeat_ok: None,
            last_poll: None,
            left: false,
            fatal: None,
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
        self.coordinator.as_ref()
    }

    /// The member state.
    pub fn state(&self) -> MemberState {
        self.state
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
    /// when a rejoin was requested.
    pub fn needs_rejoin(&self) -> bool {
        self.need_rejoin || self.state == MemberState::Unjoined
    }

    /// True once the coordinator refused the member for good.
    pub fn fatal_error(&self) -> Option<&ConsumerError> {
        self.fatal.as_ref()
    }

    // ---- commands ----

    /// Asks for a rejoin (subscription change, partition count change, …).
    pub fn request_rejoin(&mut self, reason: &str) {
        if !self.need_rejoin {
            debug!("group {}: rejoin requested: {reason}", self.group_id);
        }
        self.need_rejoin = true;
        reason.clone_into(&mut self.rejoin_reason);
    }

    /// The caller entered `poll`: checks `max.poll.interval.ms` and restarts it.
    pub fn poll_started(&mut self, now: Instant, ctx: &mut GroupCtx<'_>) -> Vec<GroupRequest> {
        let mut out = Vec::new();
        if let Some(last) = self.last_poll {
            let elapsed = now.saturating_duration_since(last);
            if elapsed > self.rebalance_timeout && self.generation.is_valid() {
                warn!(
                    "group {}: {} ms since the last poll exceeds max.poll.interval.ms; leaving the group",
                    self.group_id,
                    elapsed.as_millis()
                );
                if let Some(req) = self.leave_request("consumer poll timeout has expired") {
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
    pub fn leave(&mut self, reason: &str) -> Option<LeaveGroupRequest> {
        let req = self.leave_request(reason);
        self.reset_generation();
        self.left = true;
        req
    }

    /// Fresh metadata: a leader whose last assignment was made with other partition
    /// counts asks for a rebalance, so new partitions get an owner (as in Java).
    pub fn metadata_updated(&mut self, metadata: &Metadata) {
        if self.state != MemberState::Stable || self.assigned_counts.is_empty() {
            return;
        }
        let changed = self.assigned_counts.iter().any(|(topic, count)| {
            metadata.topic(topic).is_some_and(|t| {
                let now = t.partitions.keys().max().map_or(0, |m| m + 1);
                !t.partitions.is_empty() && now != *count
            })
        });
        if changed {
            self.assigned_counts.clear();
            self.request_rejoin("the partition count of a subscribed topic changed");
        }
    }

    /// After `unsubscribe`: a later subscription joins afresh.
    pub fn rejoin_after_leave(&mut self) {
        self.left = false;
        self.owned.clear();
        self.need_rejoin = true;
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
    pub fn commit(&mut self, offsets: Vec<(TopicPartition, OffsetAndMetadata)>) -> RequestId {
        let generation = if self.state == MemberState::Stable {
            self.generation.generation_id
        } else {
            -1
        };
        self.commits.commit_in(offsets, generation)
    }

    /// Like [`commit`](Self::commit), never retried.
    pub fn commit_async(&mut self, offsets: Vec<(TopicPartition, OffsetAndMetadata)>) -> RequestId {
        let generation = if self.state == MemberState::Stable {
            self.generation.generation_id
        } else {
            -1
        };
        self.commits.commit_async_in(offsets, generation)
    }

    // ---- timers ----

    /// The earliest deadline of the group: heartbeat, session, backoffs, auto-commit.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.deadlines().into_iter().min()
    }

    /// Every pending deadline of the group. The caller drops the ones already past one
    /// by one: a stale deadline (e.g. a commit retry waiting for the coordinator) must
    /// not hide a later one (the coordinator lookup backoff) behind a single minimum.
    pub fn deadlines(&self) -> Vec<Instant> {
        let mut t: Vec<Option<Instant>> = vec![self.lookup_backoff_until, self.backoff_until];
        t.extend(self.commits.deadlines());
        if self.state == MemberState::Stable && !self.heartbeat_in_flight {
            t.push(self.next_heartbeat);
        }
        if self.state == MemberState::Stable {
            t.push(self.last_heartbeat_ok.map(|x| x + self.session_timeout));
        }
        if let Some(p) = &self.pending_leader_sync {
            t.push(Some(p.since + self.rebalance_timeout));
        }
        t.into_iter().flatten().collect()
    }

    // ---- outputs ----

    /// True if a coordinator lookup should be sent now.
    pub fn wants_lookup(&self, now: Instant) -> bool {
        self.fatal.is_none()
            && !self.left
            && self.coordinator.is_none()
            && !self.lookup_in_flight
            && self.lookup_backoff_until.is_none_or(|t| now >= t)
    }

    /// The FindCoordinator request; the caller sends it to a ready node.
    pub fn lookup_request(&mut self) -> FindCoordinatorRequest {
        self.lookup_in_flight = true;
        FindCoordinatorRequest {
            key: self.group_id.clone(),
            key_type: KEY_TYPE_GROUP,
            coordinator_keys: vec![self.group_id.clone()],
        }
    }

    /// The requests to send to the (ready) coordinator now.
    pub fn prepare(&mut self, now: Instant, ctx: &mut GroupCtx<'_>) -> Vec<GroupRequest> {
        let mut out = Vec::new();
        if self.fatal.is_some() || self.coordinator.is_none() || self.left {
            return out;
        }
        let subscribed = !ctx.subs.subscribed_topics().is_empty();

        // Session: no successful heartbeat for a whole session means the coordinator is
        // gone (or we were thrown out); find it again.
        if self.state == MemberState::Stable
            && self
                .last_heartbeat_ok
                .is_some_and(|t| now >= t + self.session_timeout)
        {
            warn!(
                "group {}: no heartbeat answer within the session timeout",
                self.group_id
            );
            self.coordinator_dead(now);
            return out;
        }

        // Heartbeat.
        if self.state == MemberState::Stable
            && !self.heartbeat_in_flight
            && self.next_heartbeat.is_some_and(|t| now >= t)
        {
            self.heartbeat_in_flight = true;
            out.push(GroupRequest::Heartbeat(HeartbeatRequest {
                group_id: self.group_id.clone(),
                generation_id: self.generation.generation_id,
                member_id: self.generation.member_id.clone(),
                group_instance_id: self.instance_id.clone(),
            }));
        }

        // A leader waiting for metadata of its members' topics.
        if let Some(req) = self.try_leader_sync(now, ctx) {
            out.push(req);
        }

        // Offsets: committed lookups for new partitions, commits, auto-commit.
        let generation = if self.state == MemberState::Stable {
            Some(&self.generation)
        } else {
            None
        };
        out.extend(self.commits.prepare(now, generation, ctx));

        // Rejoin.
        let rejoin = subscribed && (self.need_rejoin || self.state == MemberState::Unjoined);
        if rejoin
            && !self.join_in_flight
            && !self.sync_in_flight
            && self.pending_leader_sync.is_none()
            && self.backoff_until.is_none_or(|t| now >= t)
        {
            if let Some(req) = self.prepare_join(now, ctx) {
                out.push(req);
            }
        }
        out
    }

    fn prepare_join(&mut self, now: Instant, ctx: &mut GroupCtx<'_>) -> Option<GroupRequest> {
        // As Java's onJoinPrepare: with auto-commit, commit what was consumed before every
        // (re)join, whatever the protocol (a cooperative member may give partitions up at
        // the end of this rebalance). Only a stable member can commit.
        if self.state == MemberState::Stable
            && !self.owned.is_empty()
            && self.commits.auto_commit_enabled()
            && !self.commits.pre_revoke_done()
        {
            let generation = self.generation.generation_id;
            self.commits
                .commit_before_revoke(ctx.subs, &self.owned, generation);
            if !self.commits.pre_revoke_done() {
                return None;
            }
        }
        if self.protocol == RebalanceProtocol::Eager
            && !self.owned.is_empty()
            && !self.revoked_for_join
        {
            if self.commits.has_pending_sync_commits() {
                return None;
            }
            let revoked = std::mem::take(&mut self.owned);
            info!(
                "group {}: revoking {} partitions before rejoining",
                self.group_id,
                revoked.len()
            );
            self.commits.remember_revoked(ctx.subs, &revoked);
            ctx.subs.assign(Vec::new());
            ctx.events.push_back(Event::PartitionsRevoked(revoked));
            self.revoked_for_join = true;
            // The listener runs before the join goes out (next round).
            return None;
        }
        if ctx
            .events
            .iter()
            .any(|e| matches!(e, Event::PartitionsRevoked(_)))
        {
            // Wait until the caller has seen the revocation.
            return None;
        }
        let subscription_topics = ctx.subs.subscribed_topics().to_vec();
        let owned = if self.protocol == RebalanceProtocol::Cooperative {
            group_by_topic(&self.owned)
        } else {
            Vec::new()
        };
        let mut protocols = Vec::new();
        for a in &self.assignors {
            let sub = ConsumerProtocolSubscription {
                topics: subscription_topics.clone(),
                user_data: a.subscription_user_data(self.generation.generation_id),
                owned_partitions: owned.clone(),
                generation_id: self.generation.generation_id,
                rack_id: self.rack.clone(),
            };
            match sub.encode(LATEST_VERSION) {
                Ok(metadata) => protocols.push(JoinGroupRequestProtocol {
                    name: a.name().to_owned(),
                    metadata,
                }),
                Err(e) => warn!("cannot encode the subscription for {}: {e}", a.name()),
            }
        }
        self.joined_topics.clone_from(&subscription_topics);
        self.join_in_flight = true;
        self.state = MemberState::Joining;
        let reason = std::mem::take(&mut self.rejoin_reason);
        info!("group {}: joining ({reason})", self.group_id);
        let _ = now;
        Some(GroupRequest::Join(
            JoinGroupRequest {
                group_id: self.group_id.clone(),
                session_timeout_ms: millis(self.session_timeout),
                rebalance_timeout_ms: millis(self.rebalance_timeout),
                member_id: self.generation.member_id.clone(),
                group_instance_id: self.instance_id.clone(),
                protocol_type: PROTOCOL_TYPE.to_owned(),
                protocols,
                reason: Some(reason),
            },
            self.rebalance_timeout + Duration::from_secs(5),
        ))
    }

    // ---- inputs ----

    /// A FindCoordinator answer.
    pub fn handle_lookup(&mut self, resp: FindCoordinatorResponse, now: Instant) {
        self.lookup_in_flight = false;
        let Some(c) = resp.coordinator_for(&self.group_id) else {
            self.lookup_backoff_until = Some(now + self.retry_backoff);
            return;
        };
        let code = ErrorCode::from_i16(c.error_code);
        if code != ErrorCode::None {
            debug!("group {}: FindCoordinator: {code}", self.group_id);
            self.lookup_backoff_until = Some(now + self.retry_backoff);
            if matches!(code, ErrorCode::GroupAuthorizationFailed) {
                self.set_fatal("FindCoordinator", code);
            }
            return;
        }
        if c.node_id < 0 {
            // No error but no broker either (found by fuzzing): as unavailable, retried.
            debug!(
                "group {}: FindCoordinator named node {}",
                self.group_id, c.node_id
            );
            self.lookup_backoff_until = Some(now + self.retry_backoff);
            return;
        }
        let node = Node {
            id: i32::MAX - c.node_id,
            host: c.host,
            port: c.port,
            rack: None,
        };
        info!(
            "group {}: coordinator is broker {} at {}",
            self.group_id,
            c.node_id,
            node.address()
        );
        self.coordinator = Some(node);
        self.lookup_backoff_until = None;
        // As Java does: a found coordinator restarts the session timer. Without this, a
        // member whose session ran out while the coordinator was unknown would mark the
        // new coordinator dead at once, forever.
        if self.last_heartbeat_ok.is_some() {
            self.last_heartbeat_ok = Some(now);
        }
    }

    /// The lookup got no answer.
    pub fn lookup_failed(&mut self, now: Instant) {
        self.lookup_in_flight = false;
        self.lookup_backoff_until = Some(now + self.retry_backoff);
    }

    /// The coordinator is unreachable or no longer coordinates the group: forget it and
    /// look it up again. Requests in flight to it are failed by the caller.
    pub fn coordinator_dead(&mut self, now: Instant) {
        if let Some(c) = self.coordinator.take() {
            info!(
                "group {}: coordinator {} marked dead",
                self.group_id,
                c.address()
            );
        }
        self.lookup_backoff_until = Some(now + self.retry_backoff);
        if self.join_in_flight || self.sync_in_flight || self.pending_leader_sync.is_some() {
            self.join_in_flight = false;
            self.sync_in_flight = false;
            self.pending_leader_sync = None;
            self.need_rejoin = true;
            if self.state != MemberState::Stable {
                self.state = MemberState::Unjoined;
            }
        }
        self.heartbeat_in_flight = false;
        self.commits.coordinator_dead();
    }

    /// A request to the coordinator got no answer (disconnect, timeout).
    pub fn request_failed(&mut self, kind: GroupRequestKind, now: Instant, ctx: &mut GroupCtx<'_>) {
        match kind {
            GroupRequestKind::Join | GroupRequestKind::Sync => {
                self.join_in_flight = false;
                self.sync_in_flight = false;
                self.need_rejoin = true;
            }
            GroupRequestKind::Heartbeat => self.heartbeat_in_flight = false,
            GroupRequestKind::Leave => {}
        }
        let _ = ctx;
        self.coordinator_dead(now);
    }

    /// A JoinGroup answer.
    pub fn handle_join(
        &mut self,
        resp: JoinGroupResponse,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) -> Option<GroupRequest> {
        self.join_in_flight = false;
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => {
                self.generation = Generation {
                    generation_id: resp.generation_id,
                    member_id: resp.member_id.clone(),
                    protocol: resp.protocol_name.clone(),
                };
                self.need_rejoin = false;
                self.revoked_for_join = false;
                self.commits.reset_pre_revoke();
                self.state = MemberState::Syncing;
                info!(
                    "group {}: joined generation {} as {} (leader {}, protocol {:?})",
                    self.group_id,
                    resp.generation_id,
                    resp.member_id,
                    resp.leader,
                    resp.protocol_name
                );
                if resp.leader == resp.member_id && !resp.skip_assignment {
                    let members = resp
                        .members
                        .iter()
                        .filter_map(|m| {
                            match ConsumerProtocolSubscription::decode(m.metadata.clone()) {
                                Ok(sub) => Some(MemberSubscription::from_protocol(
                                    m.member_id.clone(),
                                    m.group_instance_id.clone(),
                                    &sub,
                                )),
                                Err(e) => {
                                    warn!(
                                        "member {} sent an undecodable subscription: {e}",
                                        m.member_id
                                    );
                                    None
                                }
                            }
                        })
                        .collect::<Vec<_>>();
                    // The leader needs metadata for every member's topics.
                    let mut all: Vec<String> = ctx.subs.subscribed_topics().to_vec();
                    for m in &members {
                        all.extend(m.topics.iter().cloned());
                    }
                    all.sort();
                    all.dedup();
                    ctx.metadata.add_topics_of_interest(all);
                    // Assign on fresh metadata (partition counts may have changed), as
                    // librdkafka does. The round trip also lets the followers' SyncGroup
                    // reach the coordinator first, which librdkafka's mock coordinator
                    // needs: it answers INVALID_REQUEST to a SyncGroup after the leader's.
                    ctx.metadata.request_update();
                    self.pending_leader_sync = Some(PendingLeaderSync {
                        generation: resp.generation_id,
                        protocol: resp.protocol_name.unwrap_or_default(),
                        members,
                        since: now,
                        metadata_seen: ctx.metadata.update_count(),
                    });
                    self.try_leader_sync(now, ctx)
                } else {
                    self.sync_in_flight = true;
                    {
                        self.assigned_counts.clear();
                        Some(GroupRequest::Sync(self.sync_request(Vec::new())))
                    }
                }
            }
            ErrorCode::MemberIdRequired => {
                // KIP-394: join again at once with the id the coordinator gave.
                self.generation.member_id = resp.member_id;
                self.need_rejoin = true;
                self.state = MemberState::Unjoined;
                None
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                // A cooperative member still owns partitions: they are lost, not kept into
                // a fresh membership (another member may own them by now).
                self.lose_partitions(ctx);
                self.reset_generation();
                None
            }
            ErrorCode::CoordinatorLoadInProgress | ErrorCode::RebalanceInProgress => {
                self.state = MemberState::Unjoined;
                self.need_rejoin = true;
                self.backoff_until = Some(now + self.retry_backoff);
                None
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.state = MemberState::Unjoined;
                self.need_rejoin = true;
                self.coordinator_dead(now);
                None
            }
            code => {
                self.state = MemberState::Unjoined;
                if code.is_retriable() {
                    self.need_rejoin = true;
                    self.backoff_until = Some(now + self.retry_backoff);
                } else {
                    self.set_fatal("JoinGroup", code);
                }
                None
            }
        }
    }

    fn sync_request(&self, assignments: Vec<SyncGroupRequestAssignment>) -> SyncGroupRequest {
        SyncGroupRequest {
            group_id: self.group_id.clone(),
            generation_id: self.generation.generation_id,
            member_id: self.generation.member_id.clone(),
            group_instance_id: self.instance_id.clone(),
            protocol_type: Some(PROTOCOL_TYPE.to_owned()),
            protocol_name: self.generation.protocol.clone(),
            assignments,
        }
    }

    /// As leader: assign and send SyncGroup once metadata knows every member's topics
    /// (or the rebalance timeout is near, then with what is known).
    fn try_leader_sync(&mut self, now: Instant, ctx: &mut GroupCtx<'_>) -> Option<GroupRequest> {
        let pending = self.pending_leader_sync.as_ref()?;
        if pending.generation != self.generation.generation_id {
            self.pending_leader_sync = None;
            return None;
        }
        let mut partitions: BTreeMap<String, i32> = BTreeMap::new();
        let mut missing = ctx.metadata.update_count() <= pending.metadata_seen;
        for m in &pending.members {
            for t in &m.topics {
                match ctx.metadata.topic(t) {
                    Some(info) if !info.partitions.is_empty() => {
                        let n = info.partitions.keys().max().map_or(0, |m| m + 1);
                        partitions.insert(t.clone(), n);
                    }
                    Some(info) if info.error_code != 0 => {
                        // The topic does not exist (yet): assign nothing of it.
                    }
                    _ => missing = true,
                }
            }
        }
        let waited = now.saturating_duration_since(pending.since);
        if missing && waited < self.rebalance_timeout / 2 {
            ctx.metadata.request_update();
            return None;
        }
        let pending = self.pending_leader_sync.take()?;
        let Some(assignor) = self.assignors.iter().find(|a| a.name() == pending.protocol) else {
            warn!(
                "group {}: the coordinator chose {}, which we do not have",
                self.group_id, pending.protocol
            );
            self.set_fatal("JoinGroup", ErrorCode::InconsistentGroupProtocol);
            return None;
        };
        let assignment = assignor.assign(&partitions, &pending.members);
        self.assigned_counts = partitions.clone();
        let version = LATEST_VERSION;
        let mut out = Vec::new();
        for m in &pending.members {
            let parts = assignment.get(&m.member_id).cloned().unwrap_or_default();
            let encoded = ConsumerProtocolAssignment {
                assigned_partitions: group_by_topic(&parts),
                user_data: None,
            }
            .encode(version);
            match encoded {
                Ok(bytes) => out.push(SyncGroupRequestAssignment {
                    member_id: m.member_id.clone(),
                    assignment: bytes,
                }),
                Err(e) => warn!("cannot encode the assignment of {}: {e}", m.member_id),
            }
        }
        info!(
            "group {}: leader assigned {} partitions to {} members with {}",
            self.group_id,
            partitions.values().map(|n| *n as usize).sum::<usize>(),
            pending.members.len(),
            pending.protocol
        );
        self.sync_in_flight = true;
        Some(GroupRequest::Sync(self.sync_request(out)))
    }

    /// A SyncGroup answer.
    pub fn handle_sync(&mut self, resp: SyncGroupResponse, now: Instant, ctx: &mut GroupCtx<'_>) {
        self.sync_in_flight = false;
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => {
                self.state = MemberState::Unjoined;
                self.request_rejoin("rebalance in progress at sync");
                return;
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                self.lose_partitions(ctx);
                self.reset_generation();
                return;
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.state = MemberState::Unjoined;
                self.need_rejoin = true;
                self.coordinator_dead(now);
                return;
            }
            ErrorCode::GroupAuthorizationFailed | ErrorCode::FencedInstanceId => {
                self.state = MemberState::Unjoined;
                self.set_fatal("SyncGroup", code);
                return;
            }
            code => {
                // Anything else ends this rebalance only: rejoin after a backoff, as
                // librdkafka does and as Java does on its next poll. (librdkafka's mock
                // coordinator answers INVALID_REQUEST to a follower whose SyncGroup comes
                // after the leader's; giving up for good would strand the member.)
                warn!(
                    "group {}: SyncGroup failed: {code}; rejoining",
                    self.group_id
                );
                self.state = MemberState::Unjoined;
                self.need_rejoin = true;
                self.backoff_until = Some(now + self.retry_backoff);
                return;
            }
        }
        let assigned: Vec<TopicPartition> =
            match ConsumerProtocolAssignment::decode(resp.assignment) {
                Ok(a) => ungroup(&a.assigned_partitions),
                Err(e) => {
                    warn!(
                        "group {}: undecodable assignment: {e}; rejoining",
                        self.group_id
                    );
                    self.state = MemberState::Unjoined;
                    self.request_rejoin("undecodable assignment");
                    return;
                }
            };
        // Only partitions of subscribed topics are taken (the leader may be stale).
        let subscribed = ctx.subs.subscribed_topics();
        let assigned: Vec<TopicPartition> = assigned
            .into_iter()
            .filter(|tp| subscribed.contains(&tp.topic))
            .collect();
        let revoked: Vec<TopicPartition> = self
            .owned
            .iter()
            .filter(|tp| !assigned.contains(tp))
            .cloned()
            .collect();
        let added: Vec<TopicPartition> = assigned
            .iter()
            .filter(|tp| !self.owned.contains(tp))
            .cloned()
            .collect();
        info!(
            "group {}: generation {} assigned {:?}",
            self.group_id, self.generation.generation_id, assigned
        );
        if !revoked.is_empty() {
            // Cooperative: give up only what moves, then rejoin so it can be reassigned.
            self.commits.remember_revoked(ctx.subs, &revoked);
            ctx.events
                .push_back(Event::PartitionsRevoked(revoked.clone()));
            self.request_rejoin("partitions revoked in a cooperative rebalance");
        }
        ctx.subs.assign(assigned.clone());
        self.commits.assigned(&added, &revoked);
        self.owned = assigned;
        ctx.events.push_back(Event::PartitionsAssigned(added));
        self.state = MemberState::Stable;
        self.last_heartbeat_ok = Some(now);
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        self.backoff_until = None;
        // A subscription change while the join was in flight was folded into it (the
        // join answer clears the rejoin request): join again with the new topics.
        if ctx.subs.subscribed_topics() != self.joined_topics.as_slice() {
            self.request_rejoin("the subscription changed during the rebalance");
        }
    }

    /// A Heartbeat answer.
    pub fn handle_heartbeat(
        &mut self,
        resp: HeartbeatResponse,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) {
        self.heartbeat_in_flight = false;
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => self.last_heartbeat_ok = Some(now),
            ErrorCode::RebalanceInProgress => {
                self.last_heartbeat_ok = Some(now);
                self.request_rejoin("the group is rebalancing");
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                warn!(
                    "group {}: heartbeat: {code}; partitions lost",
                    self.group_id
                );
                self.lose_partitions(ctx);
                self.reset_generation();
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.coordinator_dead(now)
            }
            ErrorCode::FencedInstanceId => {
                self.lose_partitions(ctx);
                self.set_fatal("Heartbeat", code);
            }
            code if code.is_retriable() => {
                self.next_heartbeat = Some(now + self.retry_backoff);
            }
            code => {
                warn!("group {}: heartbeat: {code}", self.group_id);
                self.set_fatal("Heartbeat", code);
            }
        }
    }

    /// A commit sent in `generation` got UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION. If the
    /// member is still in that generation, its place in the group is gone: as after such
    /// a heartbeat answer (and in Java), its partitions are lost and it joins afresh.
    /// Otherwise a rebalance has already moved it on.
    pub fn commit_fenced(&mut self, generation: i32, ctx: &mut GroupCtx<'_>) {
        if self.state != MemberState::Stable || self.generation.generation_id != generation {
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
        ctx.events.push_back(Event::PartitionsLost(lost));
    }

    fn reset_generation(&mut self) {
        self.generation = Generation::none();
        self.state = MemberState::Unjoined;
        self.need_rejoin = true;
        self.join_in_flight = false;
        self.sync_in_flight = false;
        self.pending_leader_sync = None;
        self.heartbeat_in_flight = false;
        self.revoked_for_join = false;
    }

    fn set_fatal(&mut self, api: &'static str, code: ErrorCode) {
        warn!("group {}: {api} failed: {code}", self.group_id);
        self.fatal = Some(ConsumerError::Group {
            api,
            group: self.group_id.clone(),
            code,
        });
    }

    /// Takes the fatal error to report it (it stays set: the member is done).
    pub fn fatal_for_caller(&self) -> Option<ConsumerError> {
        self.fatal.clone()
    }
}

/// Which coordinator request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRequestKind {
    /// JoinGroup.
    Join,
    /// SyncGroup.
    Sync,
    /// Heartbeat.
    Heartbeat,
    /// LeaveGroup.
    Leave,
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}
