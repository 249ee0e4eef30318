//! The simulated group coordinator: classic consumer groups and their committed offsets
//! (KIP-848 consumer groups are in `consumer_group`).
//!
//! It follows the broker's classic group state machine where a consumer can tell:
//!
//! ```text
//!  Empty ──join──► PreparingRebalance ──all joined / timeout──► CompletingRebalance
//!                     ▲        ▲                                      │ leader's SyncGroup
//!                     │        └──── join with new metadata, leave ── Stable ◄┘
//!                     └──────────── session expiry, leave ───────────┘
//! ```
//!
//! * JoinGroup v4+ with an empty member id gets MEMBER_ID_REQUIRED and a fresh id; the
//!   member only counts once it joins with that id. Joins are parked until every known
//!   member has joined (and, for a group that was empty, `rebalance_delay` has passed),
//!   or until the largest rebalance timeout; members that did not join by then are
//!   removed (static members keep their place). The leader is the previous leader if it
//!   rejoined, else the first member that joined; only it gets the members' metadata.
//! * SyncGroup is parked until the leader's assignments arrive.
//! * Heartbeat: REBALANCE_IN_PROGRESS while preparing a rebalance, UNKNOWN_MEMBER_ID,
//!   ILLEGAL_GENERATION, FENCED_INSTANCE_ID; it keeps the member's session alive.
//! * Static members (`group.instance.id`): joining with an empty member id under a known
//!   instance id takes the old member's place (and assignment, without a rebalance when
//!   the group is stable); the old member id is then fenced.
//! * A member whose session passes without a heartbeat (join, sync or commit) is removed.
//! * OffsetCommit / OffsetFetch store and read offsets per group and partition, with the
//!   broker's generation checks.
//!
//! Requests reach a group only through the broker that coordinates it; the others answer
//! NOT_COORDINATOR (see [`Groups::move_coordinator`]).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::consumer_protocol::{ConsumerProtocolAssignment, PROTOCOL_TYPE};
use crate::codec::messages::join_group::JoinGroupResponseMember;
use crate::codec::messages::{HeartbeatResponse, JoinGroupResponse, SyncGroupResponse};
use crate::error_code::ErrorCode;
use crate::topic_partition::TopicPartition;

use super::consumer_group::{ConsumerGroup, OwnershipChange};
use super::group_offsets::Committed;

/// The classic group states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignments.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

/// One member as the coordinator knows it.
#[derive(Debug, Clone)]
pub struct GroupMember {
    /// The member id the coordinator gave.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The client id of its last JoinGroup.
    pub client_id: String,
    /// Its session timeout.
    pub session_timeout: Duration,
    /// Its rebalance timeout.
    pub rebalance_timeout: Duration,
    /// The protocols it offered (name, metadata), in its order of preference.
    pub protocols: Vec<(String, Bytes)>,
    /// Its last sign of life (join, sync, heartbeat, commit).
    pub last_seen: Instant,
    /// It has joined the rebalance under way.
    pub joined: bool,
    /// Its assignment in the current generation (the leader's bytes).
    pub assignment: Bytes,
    pub(super) join_ticket: Option<u64>,
    pub(super) sync_ticket: Option<u64>,
}

/// One group.
#[derive(Debug, Clone)]
pub struct Group {
    /// Its state.
    pub state: GroupState,
    /// The current generation (0 before the first rebalance).
    pub generation: i32,
    /// The protocol (assignor) chosen for the generation.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members, in the order they joined.
    pub members: Vec<GroupMember>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not joined yet, with their expiry.
    pub pending: BTreeMap<String, Instant>,
    /// Static members: instance id → member id.
    pub statics: BTreeMap<String, String>,
    pub(super) rebalance_deadline: Option<Instant>,
    pub(super) delay_until: Option<Instant>,
}

impl Group {
    pub(super) fn new() -> Self {
        Self {
            state: GroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: BTreeMap::new(),
            statics: BTreeMap::new(),
            rebalance_deadline: None,
            delay_until: None,
        }
    }

    /// The member with `id`.
    pub fn member(&self, id: &str) -> Option<&GroupMember> {
        self.members.iter().find(|m| m.member_id == id)
    }

    pub(super) fn member_mut(&mut self, id: &str) -> Option<&mut GroupMember> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    /// The member ids, in join order.
    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.member_id.clone()).collect()
    }

    /// True if `instance` belongs to a different member than `member_id`.
    pub(super) fn fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|i| self.statics.get(i))
            .is_some_and(|id| id != member_id)
    }

    /// The protocol every member supports that most members prefer.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(x, _)| x == *n))
            })
            .collect();
        let mut best: Option<(&String, usize)> = None;
        for c in &candidates {
            let votes = self
                .members
                .iter()
                .filter(|m| {
                    m.protocols
                        .iter()
                        .map(|(n, _)| n)
                        .find(|n| candidates.contains(n))
                        == Some(*c)
                })
                .count();
            if best.is_none_or(|(_, v)| votes > v) {
                best = Some((c, votes));
            }
        }
        best.map(|(c, _)| c.clone())
    }

    /// True if a member offering `protocols` could share the group.
    pub(super) fn supports(&self, protocols: &[(String, Bytes)]) -> bool {
        self.members.is_empty()
            || protocols.iter().any(|(n, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(x, _)| x == n))
            })
    }

    pub(super) fn metadata_of(&self, m: &GroupMember) -> Bytes {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        m.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }

    /// The JoinGroup answer of the current generation for `member_id`.
    pub(super) fn join_answer(&self, member_id: &str, version: i16) -> JoinGroupResponse {
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .iter()
                .map(|m| JoinGroupResponseMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    metadata: self.metadata_of(m),
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinGroupResponse {
            generation_id: self.generation,
            protocol_type: Some(PROTOCOL_TYPE.to_owned()),
            protocol_name: self.protocol.clone(),
            leader,
            member_id: member_id.to_owned(),
            members,
            ..join_error(ErrorCode::None, member_id, version)
        }
    }
}

/// What a generation looked like, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationRecord {
    /// The group.
    pub group: String,
    /// The generation id.
    pub generation: i32,
    /// The protocol chosen.
    pub protocol: Option<String>,
    /// The leader.
    pub leader: String,
    /// The members, in join order.
    pub members: Vec<String>,
    /// Each member's partitions, once the leader synced (empty before).
    pub assignment: BTreeMap<String, Vec<TopicPartition>>,
}

/// A parked answer, once the group produced it.
#[derive(Debug, Clone)]
pub(super) enum Answer {
    /// For a parked JoinGroup.
    Join(JoinGroupResponse),
    /// For a parked SyncGroup.
    Sync(SyncGroupResponse),
}

/// JoinGroup and SyncGroup either answer now or wait for the group.
#[derive(Debug)]
pub(super) enum Outcome<R> {
    /// The answer.
    Now(R),
    /// Parked under this ticket; see [`Groups::take_answer`].
    Parked(u64),
}

/// Every group of the cluster and the offsets they committed.
#[derive(Debug)]
pub struct Groups {
    /// Groups by id.
    pub groups: BTreeMap<String, Group>,
    /// Committed offsets by group, then partition.
    pub offsets: BTreeMap<String, BTreeMap<TopicPartition, Committed>>,
    /// Where each group's coordinator is, when moved from [`default_coordinator`](Self::default_coordinator).
    pub placement: BTreeMap<String, i32>,
    /// The broker coordinating groups not placed explicitly.
    pub default_coordinator: i32,
    /// How long a rebalance of an empty group waits for more members
    /// (`group.initial.rebalance.delay.ms`).
    pub rebalance_delay: Duration,
    /// Every generation formed, in order.
    pub history: Vec<GenerationRecord>,
    /// What happened, for failure messages and assertions ("g: member x expired").
    pub log: Vec<String>,
    /// KIP-848 consumer groups by id (classic groups are in [`groups`](Self::groups)).
    pub consumer_groups: BTreeMap<String, ConsumerGroup>,
    /// The heartbeat interval consumer group members are told
    /// (`group.consumer.heartbeat.interval.ms`, 5 s).
    pub consumer_heartbeat_interval: Duration,
    /// How long a consumer group member may stay silent before it is removed
    /// (`group.consumer.session.timeout.ms`, 45 s).
    pub consumer_session_timeout: Duration,
    /// Every change of a consumer group partition's owner, in order.
    pub ownership: Vec<OwnershipChange>,
    pub(super) answers: HashMap<u64, Answer>,
    next_ticket: u64,
    next_member: u64,
}

pub(super) fn join_error(code: ErrorCode, member_id: &str, version: i16) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: code.code(),
        generation_id: -1,
        protocol_type: None,
        // Not nullable before v7.
        protocol_name: (version < 7).then(String::new),
        member_id: member_id.to_owned(),
        ..JoinGroupResponse::default()
    }
}

pub(super) fn sync_answer(
    code: ErrorCode,
    assignment: Bytes,
    protocol: Option<String>,
) -> SyncGroupResponse {
    SyncGroupResponse {
        error_code: code.code(),
        protocol_type: protocol.as_ref().map(|_| PROTOCOL_TYPE.to_owned()),
        protocol_name: protocol,
        assignment,
        ..SyncGroupResponse::default()
    }
}

pub(super) fn heartbeat_answer(code: ErrorCode) -> HeartbeatResponse {
    HeartbeatResponse {
        error_code: code.code(),
        ..HeartbeatResponse::default()
    }
}

/// Decodes assignment bytes into partitions (nothing for bytes that do not decode).
pub fn partitions_of(assignment: &Bytes) -> Vec<TopicPartition> {
    ConsumerProtocolAssignment::decode(assignment.clone())
        .map(|a| {
            a.assigned_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|p| TopicPartition::new(t.topic.clone(), *p))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Groups {
    /// No groups; broker `coordinator` coordinates them all.
    pub fn new(coordinator: i32) -> Self {
        Self {
            groups: BTreeMap::new(),
            offsets: BTreeMap::new(),
            placement: BTreeMap::new(),
            default_coordinator: coordinator,
            rebalance_delay: Duration::ZERO,
            history: Vec::new(),
            log: Vec::new(),
            consumer_groups: BTreeMap::new(),
            consumer_heartbeat_interval: Duration::from_secs(5),
            consumer_session_timeout: Duration::from_secs(45),
            ownership: Vec::new(),
            answers: HashMap::new(),
            next_ticket: 0,
            next_member: 0,
        }
    }

    /// The broker coordinating `group`.
    pub fn coordinator_of(&self, group: &str) -> i32 {
        self.placement
            .get(group)
            .copied()
            .unwrap_or(self.default_coordinator)
    }

    /// Makes `broker` the coordinator of `group`; its state (members, offsets) moves with
    /// it, as the new coordinator loads it from the offsets topic.
    pub fn move_coordinator(&mut self, group: &str, broker: i32) {
        self.placement.insert(group.to_owned(), broker);
        self.log
            .push(format!("{group}: coordinator moved to {broker}"));
    }

    /// The group, if it exists.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.get(id)
    }

    /// The generations of `group`, in order.
    pub fn generations(&self, group: &str) -> Vec<&GenerationRecord> {
        self.history.iter().filter(|g| g.group == group).collect()
    }

    /// The answer parked under `ticket`, once ready.
    pub(super) fn take_answer(&mut self, ticket: u64) -> Option<Answer> {
        self.answers.remove(&ticket)
    }

    /// True once the answer parked under `ticket` is ready.
    pub(super) fn has_answer(&self, ticket: u64) -> bool {
        self.answers.contains_key(&ticket)
    }

    pub(super) fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    pub(super) fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        format!("{client_id}-{}", self.next_member)
    }

    // ---- time ----

    /// The next time a group has something to do by itself.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        for g in self.groups.values() {
            if g.state == GroupState::PreparingRebalance {
                if let Some(t) = g.rebalance_deadline {
                    consider(t);
                }
                if let Some(t) = g.delay_until {
                    consider(t);
                }
            }
            for m in g.members.iter().filter(|m| m.join_ticket.is_none()) {
                consider(m.last_seen + m.session_timeout);
            }
            for t in g.pending.values() {
                consider(*t);
            }
        }
        if let Some(t) = self.consumer_deadline() {
            consider(t);
        }
        next
    }

    /// Expires sessions and finishes join phases that are due.
    pub(super) fn tick(&mut self, now: Instant) {
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            let Some(g) = self.groups.get_mut(&id) else {
                continue;
            };
            g.pending.retain(|_, t| *t > now);
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|m| m.join_ticket.is_none() && now >= m.last_seen + m.session_timeout)
                .map(|m| m.member_id.clone())
                .collect();
            for member in expired {
                self.log.push(format!("{id}: session of {member} expired"));
                self.remove_member(&id, &member, now);
            }
            self.maybe_complete_join(&id, now);
        }
        self.consumer_tick(now);
    }

    /// Forgets `member_id` as if an administrator removed it (or the coordinator lost it):
    /// its next request gets UNKNOWN_MEMBER_ID and the others rebalance. Works for classic
    /// and consumer groups.
    pub fn kick(&mut self, group: &str, member_id: &str, now: Instant) {
        self.log
            .push(format!("{group}: {member_id} removed by the test"));
        if self.kick_consumer(group, member_id, now) {
            return;
        }
        self.remove_member(group, member_id, now);
        self.maybe_complete_join(group, now);
    }

    pub(super) fn remove_member(&mut self, group: &str, member_id: &str, now: Instant) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let Some(i) = g.members.iter().position(|m| m.member_id == member_id) else {
            return;
        };
        let m = g.members.remove(i);
        if let Some(inst) = &m.instance_id {
            if g.statics.get(inst).is_some_and(|id| *id == m.member_id) {
                g.statics.remove(inst);
            }
        }
        if g.members.is_empty() {
            g.state = GroupState::Empty;
            g.generation += 1;
            g.leader = None;
            g.protocol = None;
            g.rebalance_deadline = None;
            g.delay_until = None;
            self.log
                .push(format!("{group}: empty at generation {}", g.generation));
        } else if g.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(group, now, "a member left");
        }
    }
}
