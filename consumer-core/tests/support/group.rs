//! The simulated group coordinator: classic consumer groups and their committed offsets.
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
use consumer_core::codec::consumer_protocol::{ConsumerProtocolAssignment, PROTOCOL_TYPE};
use consumer_core::codec::messages::join_group::JoinGroupResponseMember;
use consumer_core::codec::messages::leave_group::LeaveGroupMemberResponse;
use consumer_core::codec::messages::offset_commit::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use consumer_core::codec::messages::offset_fetch::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use consumer_core::codec::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use consumer_core::error_code::ErrorCode;
use consumer_core::topic_partition::TopicPartition;

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
    join_ticket: Option<u64>,
    sync_ticket: Option<u64>,
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
    rebalance_deadline: Option<Instant>,
    delay_until: Option<Instant>,
}

impl Group {
    fn new() -> Self {
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

    fn member_mut(&mut self, id: &str) -> Option<&mut GroupMember> {
        self.members.iter_mut().find(|m| m.member_id == id)
    }

    /// The member ids, in join order.
    pub fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.member_id.clone()).collect()
    }

    /// True if `instance` belongs to a different member than `member_id`.
    fn fenced(&self, instance: Option<&str>, member_id: &str) -> bool {
        instance
            .and_then(|i| self.statics.get(i))
            .is_some_and(|id| id != member_id)
    }

    /// The protocol every member supports that most members prefer.
    fn select_protocol(&self) -> Option<String> {
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
    fn supports(&self, protocols: &[(String, Bytes)]) -> bool {
        self.members.is_empty()
            || protocols.iter().any(|(n, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(x, _)| x == n))
            })
    }

    fn metadata_of(&self, m: &GroupMember) -> Bytes {
        let protocol = self.protocol.as_deref().unwrap_or_default();
        m.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }

    /// The JoinGroup answer of the current generation for `member_id`.
    fn join_answer(&self, member_id: &str, version: i16) -> JoinGroupResponse {
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

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The offset.
    pub offset: i64,
    /// The leader epoch sent with it (-1: none).
    pub leader_epoch: i32,
    /// The metadata string.
    pub metadata: String,
}

/// A parked answer, once the group produced it.
#[derive(Debug, Clone)]
pub enum Answer {
    /// For a parked JoinGroup.
    Join(JoinGroupResponse),
    /// For a parked SyncGroup.
    Sync(SyncGroupResponse),
}

/// JoinGroup and SyncGroup either answer now or wait for the group.
#[derive(Debug)]
pub enum Outcome<R> {
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
    answers: HashMap<u64, Answer>,
    next_ticket: u64,
    next_member: u64,
}

fn join_error(code: ErrorCode, member_id: &str, version: i16) -> JoinGroupResponse {
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

fn sync_answer(code: ErrorCode, assignment: Bytes, protocol: Option<String>) -> SyncGroupResponse {
    SyncGroupResponse {
        error_code: code.code(),
        protocol_type: protocol.as_ref().map(|_| PROTOCOL_TYPE.to_owned()),
        protocol_name: protocol,
        assignment,
        ..SyncGroupResponse::default()
    }
}

fn heartbeat_answer(code: ErrorCode) -> HeartbeatResponse {
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

    /// The committed offset of `tp` in `group`.
    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Option<i64> {
        self.offsets.get(group)?.get(tp).map(|c| c.offset)
    }

    /// Stores an offset as if a member had committed it.
    pub fn set_committed(&mut self, group: &str, tp: &TopicPartition, offset: i64) {
        self.offsets.entry(group.to_owned()).or_default().insert(
            tp.clone(),
            Committed {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
            },
        );
    }

    /// The generations of `group`, in order.
    pub fn generations(&self, group: &str) -> Vec<&GenerationRecord> {
        self.history.iter().filter(|g| g.group == group).collect()
    }

    /// The answer parked under `ticket`, once ready.
    pub fn take_answer(&mut self, ticket: u64) -> Option<Answer> {
        self.answers.remove(&ticket)
    }

    /// True once the answer parked under `ticket` is ready.
    pub fn has_answer(&self, ticket: u64) -> bool {
        self.answers.contains_key(&ticket)
    }

    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        format!("{client_id}-{}", self.next_member)
    }

    // ---- time ----

    /// The next time a group has something to do by itself.
    pub fn next_deadline(&self) -> Option<Instant> {
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
        next
    }

    /// Expires sessions and finishes join phases that are due.
    pub fn tick(&mut self, now: Instant) {
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
    }

    /// Forgets `member_id` as if an administrator removed it (or the coordinator lost it):
    /// its next request gets UNKNOWN_MEMBER_ID and the others rebalance.
    pub fn kick(&mut self, group: &str, member_id: &str, now: Instant) {
        self.log
            .push(format!("{group}: {member_id} removed by the test"));
        self.remove_member(group, member_id, now);
        self.maybe_complete_join(group, now);
    }

    fn remove_member(&mut self, group: &str, member_id: &str, now: Instant) {
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

    fn prepare_rebalance(&mut self, group: &str, now: Instant, reason: &str) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if g.state == GroupState::PreparingRebalance {
            return;
        }
        if g.state == GroupState::CompletingRebalance {
            // Members waiting for their assignment must rejoin.
            let waiting: Vec<u64> = g
                .members
                .iter_mut()
                .filter_map(|m| m.sync_ticket.take())
                .collect();
            for t in waiting {
                self.answers.insert(
                    t,
                    Answer::Sync(sync_answer(
                        ErrorCode::RebalanceInProgress,
                        Bytes::new(),
                        None,
                    )),
                );
            }
        }
        g.delay_until = (g.state == GroupState::Empty).then(|| now + self.rebalance_delay);
        let timeout = g
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::from_secs(300));
        g.rebalance_deadline = Some(now + timeout);
        g.state = GroupState::PreparingRebalance;
        for m in &mut g.members {
            m.joined = false;
        }
        self.log.push(format!(
            "{group}: preparing rebalance after generation {} ({reason})",
            g.generation
        ));
    }

    fn maybe_complete_join(&mut self, group: &str, now: Instant) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = g.members.iter().all(|m| m.joined) && g.pending.is_empty();
        let delay_over = g.delay_until.is_none_or(|t| now >= t);
        let timed_out = g.rebalance_deadline.is_some_and(|t| now >= t);
        let ready = (all_joined && delay_over) || timed_out;
        if !ready {
            return;
        }
        // Dynamic members that did not rejoin are gone; static ones keep their place.
        let gone: Vec<String> = g
            .members
            .iter()
            .filter(|m| !m.joined && m.instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        g.members.retain(|m| m.joined || m.instance_id.is_some());
        for m in &gone {
            self.log
                .push(format!("{group}: {m} did not rejoin in time; removed"));
        }
        let g = self.groups.get_mut(group).expect("group");
        g.rebalance_deadline = None;
        g.delay_until = None;
        g.generation += 1;
        if !g.members.iter().any(|m| m.joined) {
            g.state = GroupState::Empty;
            g.members.clear();
            g.statics.clear();
            g.leader = None;
            g.protocol = None;
            self.log
                .push(format!("{group}: empty at generation {}", g.generation));
            return;
        }
        g.protocol = g.select_protocol();
        let leader_rejoined = g
            .leader
            .as_ref()
            .is_some_and(|l| g.member(l).is_some_and(|m| m.joined));
        if !leader_rejoined {
            g.leader = g
                .members
                .iter()
                .find(|m| m.joined)
                .map(|m| m.member_id.clone());
        }
        g.state = GroupState::CompletingRebalance;
        for m in &mut g.members {
            m.assignment = Bytes::new();
        }
        let mut answers = Vec::new();
        for m in &g.members {
            if let (true, Some(t)) = (m.joined, m.join_ticket) {
                answers.push((t, m.member_id.clone()));
            }
        }
        for (t, id) in answers {
            // The version only matters for error answers; this one is complete.
            self.answers.insert(t, Answer::Join(g.join_answer(&id, 9)));
        }
        for m in &mut g.members {
            if m.joined {
                m.join_ticket = None;
                m.last_seen = now;
            }
            m.joined = false;
        }
        let record = GenerationRecord {
            group: group.to_owned(),
            generation: g.generation,
            protocol: g.protocol.clone(),
            leader: g.leader.clone().unwrap_or_default(),
            members: g.member_ids(),
            assignment: BTreeMap::new(),
        };
        self.log.push(format!(
            "{group}: generation {} formed: leader {}, members {:?}, protocol {:?}",
            record.generation, record.leader, record.members, record.protocol
        ));
        self.history.push(record);
    }

    // ---- the APIs ----

    /// A JoinGroup received by `broker`.
    pub fn join(
        &mut self,
        now: Instant,
        broker: i32,
        client_id: &str,
        version: i16,
        req: &JoinGroupRequest,
    ) -> Outcome<JoinGroupResponse> {
        let group_id = req.group_id.clone();
        let err = |code| Outcome::Now(join_error(code, &req.member_id, version));
        if self.coordinator_of(&group_id) != broker {
            return err(ErrorCode::NotCoordinator);
        }
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect();
        if req.protocol_type != PROTOCOL_TYPE || protocols.is_empty() {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        let g = self
            .groups
            .entry(group_id.clone())
            .or_insert_with(Group::new);
        if !g.supports(&protocols) {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        let session_timeout = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
        let rebalance_timeout = if req.rebalance_timeout_ms >= 0 {
            Duration::from_millis(req.rebalance_timeout_ms as u64)
        } else {
            session_timeout
        };
        let instance = req.group_instance_id.clone();
        let new_member = |member_id: String, ticket: u64| GroupMember {
            member_id,
            instance_id: instance.clone(),
            client_id: client_id.to_owned(),
            session_timeout,
            rebalance_timeout,
            protocols: protocols.clone(),
            last_seen: now,
            joined: true,
            assignment: Bytes::new(),
            join_ticket: Some(ticket),
            sync_ticket: None,
        };

        if req.member_id.is_empty() {
            let member_id = self.new_member_id(client_id);
            let g = self.groups.get_mut(&group_id).expect("group");
            if let Some(inst) = &instance {
                if let Some(old) = g.statics.get(inst).cloned() {
                    return self.replace_static(&group_id, &old, member_id, req, version, now);
                }
            } else if version >= 4 {
                // KIP-394: the member must come back with the id it is given.
                g.pending.insert(member_id.clone(), now + session_timeout);
                self.log.push(format!(
                    "{group_id}: {member_id} must join again with its id"
                ));
                return Outcome::Now(join_error(ErrorCode::MemberIdRequired, &member_id, version));
            }
            return self.add_member(&group_id, new_member(member_id, 0), now);
        }

        let g = self.groups.get_mut(&group_id).expect("group");
        if g.fenced(instance.as_deref(), &req.member_id) {
            return err(ErrorCode::FencedInstanceId);
        }
        if g.pending.remove(&req.member_id).is_some() {
            return self.add_member(&group_id, new_member(req.member_id.clone(), 0), now);
        }
        let Some(m) = g.member_mut(&req.member_id) else {
            return err(ErrorCode::UnknownMemberId);
        };
        let changed = m.protocols != protocols;
        m.protocols = protocols.clone();
        m.session_timeout = session_timeout;
        m.rebalance_timeout = rebalance_timeout;
        m.last_seen = now;
        let is_leader = g.leader.as_deref() == Some(&req.member_id);
        let state = g.state;
        match state {
            GroupState::CompletingRebalance | GroupState::Stable if !changed && !is_leader => {
                // It lost the answer (or rejoins without cause): the current generation.
                Outcome::Now(g.join_answer(&req.member_id, version))
            }
            GroupState::CompletingRebalance if !changed => {
                Outcome::Now(g.join_answer(&req.member_id, version))
            }
            _ => {
                self.prepare_rebalance(&group_id, now, "a member joined with new metadata");
                self.park_join(&group_id, &req.member_id, now)
            }
        }
    }

    fn park_join(
        &mut self,
        group: &str,
        member_id: &str,
        now: Instant,
    ) -> Outcome<JoinGroupResponse> {
        let t = self.ticket();
        let g = self.groups.get_mut(group).expect("group");
        let m = g.member_mut(member_id).expect("member");
        m.joined = true;
        m.join_ticket = Some(t);
        self.maybe_complete_join(group, now);
        Outcome::Parked(t)
    }

    fn add_member(
        &mut self,
        group: &str,
        member: GroupMember,
        now: Instant,
    ) -> Outcome<JoinGroupResponse> {
        let id = member.member_id.clone();
        self.prepare_rebalance(group, now, "a member joined");
        let g = self.groups.get_mut(group).expect("group");
        if let Some(inst) = &member.instance_id {
            g.statics.insert(inst.clone(), id.clone());
        }
        g.members.push(member);
        self.log.push(format!("{group}: {id} joins"));
        self.park_join(group, &id, now)
    }

    /// A static member came back under a new member id: it takes the old one's place.
    fn replace_static(
        &mut self,
        group: &str,
        old: &str,
        new: String,
        req: &JoinGroupRequest,
        version: i16,
        now: Instant,
    ) -> Outcome<JoinGroupResponse> {
        let g = self.groups.get_mut(group).expect("group");
        let inst = req.group_instance_id.clone().unwrap_or_default();
        let Some(m) = g.member_mut(old) else {
            g.statics.remove(&inst);
            return Outcome::Now(join_error(ErrorCode::UnknownMemberId, "", version));
        };
        let fenced = (m.join_ticket.take(), m.sync_ticket.take());
        m.member_id = new.clone();
        m.protocols = req
            .protocols
            .iter()
            .map(|p| (p.name.clone(), p.metadata.clone()))
            .collect();
        m.last_seen = now;
        g.statics.insert(inst.clone(), new.clone());
        if g.leader.as_deref() == Some(old) {
            g.leader = Some(new.clone());
        }
        let state = g.state;
        // Whatever the old member id still waits for, it is fenced now.
        if let Some(t) = fenced.0 {
            let resp = join_error(ErrorCode::FencedInstanceId, old, version);
            self.answers.insert(t, Answer::Join(resp));
        }
        if let Some(t) = fenced.1 {
            let resp = sync_answer(ErrorCode::FencedInstanceId, Bytes::new(), None);
            self.answers.insert(t, Answer::Sync(resp));
        }
        self.log.push(format!(
            "{group}: static member {inst} is now {new} (was {old})"
        ));
        let g = self.groups.get_mut(group).expect("group");
        if state == GroupState::Stable && g.select_protocol() == g.protocol {
            // No rebalance: the member gets the current generation and its assignment back.
            let mut resp = g.join_answer(&new, version);
            if g.leader.as_deref() == Some(new.as_str()) && version >= 9 {
                resp.skip_assignment = true;
            }
            return Outcome::Now(resp);
        }
        if state != GroupState::PreparingRebalance {
            self.prepare_rebalance(group, now, "a static member rejoined");
        }
        self.park_join(group, &new, now)
    }

    /// A SyncGroup received by `broker`.
    pub fn sync(
        &mut self,
        now: Instant,
        broker: i32,
        req: &SyncGroupRequest,
    ) -> Outcome<SyncGroupResponse> {
        let err = |code| Outcome::Now(sync_answer(code, Bytes::new(), None));
        let ticket = self.ticket();
        if self.coordinator_of(&req.group_id) != broker {
            return err(ErrorCode::NotCoordinator);
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return err(ErrorCode::UnknownMemberId);
        };
        if g.fenced(req.group_instance_id.as_deref(), &req.member_id) {
            return err(ErrorCode::FencedInstanceId);
        }
        if g.member(&req.member_id).is_none() {
            return err(ErrorCode::UnknownMemberId);
        }
        if req.generation_id != g.generation {
            return err(ErrorCode::IllegalGeneration);
        }
        if req.protocol_name.is_some() && req.protocol_name != g.protocol {
            return err(ErrorCode::InconsistentGroupProtocol);
        }
        let protocol = g.protocol.clone();
        match g.state {
            GroupState::Empty => err(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => err(ErrorCode::RebalanceInProgress),
            GroupState::Stable => {
                let m = g.member_mut(&req.member_id).expect("member");
                m.last_seen = now;
                Outcome::Now(sync_answer(ErrorCode::None, m.assignment.clone(), protocol))
            }
            GroupState::CompletingRebalance => {
                let m = g.member_mut(&req.member_id).expect("member");
                m.last_seen = now;
                m.sync_ticket = Some(ticket);
                if g.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut record = BTreeMap::new();
                    for m in &mut g.members {
                        m.assignment = req
                            .assignments
                            .iter()
                            .find(|a| a.member_id == m.member_id)
                            .map(|a| a.assignment.clone())
                            .unwrap_or_default();
                        record.insert(m.member_id.clone(), partitions_of(&m.assignment));
                    }
                    g.state = GroupState::Stable;
                    let answers: Vec<(u64, Bytes)> = g
                        .members
                        .iter_mut()
                        .filter_map(|m| Some((m.sync_ticket.take()?, m.assignment.clone())))
                        .collect();
                    for (t, bytes) in answers {
                        self.answers.insert(
                            t,
                            Answer::Sync(sync_answer(ErrorCode::None, bytes, protocol.clone())),
                        );
                    }
                    let generation = g.generation;
                    self.log.push(format!(
                        "{}: generation {generation} assigned {record:?}",
                        req.group_id
                    ));
                    if let Some(h) = self
                        .history
                        .iter_mut()
                        .rev()
                        .find(|h| h.group == req.group_id && h.generation == generation)
                    {
                        h.assignment = record;
                    }
                }
                Outcome::Parked(ticket)
            }
        }
    }

    /// A Heartbeat received by `broker`.
    pub fn heartbeat(
        &mut self,
        now: Instant,
        broker: i32,
        req: &HeartbeatRequest,
    ) -> HeartbeatResponse {
        if self.coordinator_of(&req.group_id) != broker {
            return heartbeat_answer(ErrorCode::NotCoordinator);
        }
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return heartbeat_answer(ErrorCode::UnknownMemberId);
        };
        if g.fenced(req.group_instance_id.as_deref(), &req.member_id) {
            return heartbeat_answer(ErrorCode::FencedInstanceId);
        }
        let generation = g.generation;
        let state = g.state;
        let Some(m) = g.member_mut(&req.member_id) else {
            return heartbeat_answer(ErrorCode::UnknownMemberId);
        };
        if req.generation_id != generation {
            return heartbeat_answer(ErrorCode::IllegalGeneration);
        }
        m.last_seen = now;
        heartbeat_answer(match state {
            GroupState::Empty => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
        })
    }

    /// A LeaveGroup received by `broker`.
    pub fn leave(
        &mut self,
        now: Instant,
        broker: i32,
        version: i16,
        req: &LeaveGroupRequest,
    ) -> LeaveGroupResponse {
        let top = |code: ErrorCode| LeaveGroupResponse {
            error_code: code.code(),
            ..LeaveGroupResponse::default()
        };
        if self.coordinator_of(&req.group_id) != broker {
            return top(ErrorCode::NotCoordinator);
        }
        let leaving: Vec<(String, Option<String>)> = if version <= 2 {
            vec![(req.member_id.clone(), None)]
        } else {
            req.members
                .iter()
                .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
                .collect()
        };
        let mut results = Vec::new();
        for (member_id, instance) in leaving {
            let code = match self.groups.get(&req.group_id) {
                None => ErrorCode::UnknownMemberId,
                Some(g) if g.fenced(instance.as_deref(), &member_id) => ErrorCode::FencedInstanceId,
                Some(g) if g.member(&member_id).is_none() => ErrorCode::UnknownMemberId,
                Some(_) => {
                    self.log
                        .push(format!("{}: {member_id} leaves", req.group_id));
                    self.remove_member(&req.group_id, &member_id, now);
                    self.maybe_complete_join(&req.group_id, now);
                    ErrorCode::None
                }
            };
            results.push(LeaveGroupMemberResponse {
                member_id,
                group_instance_id: instance,
                error_code: code.code(),
            });
        }
        if version <= 2 {
            top(ErrorCode::from_i16(
                results.first().map_or(0, |r| r.error_code),
            ))
        } else {
            LeaveGroupResponse {
                members: results,
                ..top(ErrorCode::None)
            }
        }
    }

    /// An OffsetCommit received by `broker`.
    pub fn commit(
        &mut self,
        now: Instant,
        broker: i32,
        version: i16,
        req: &OffsetCommitRequest,
    ) -> OffsetCommitResponse {
        let code = self.commit_check(now, broker, version, req);
        if code == ErrorCode::None {
            let stored = self.offsets.entry(req.group_id.clone()).or_default();
            for t in &req.topics {
                for p in &t.partitions {
                    stored.insert(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.clone().unwrap_or_default(),
                        },
                    );
                }
            }
        }
        commit_answer(req, code)
    }

    fn commit_check(
        &mut self,
        now: Instant,
        broker: i32,
        version: i16,
        req: &OffsetCommitRequest,
    ) -> ErrorCode {
        if self.coordinator_of(&req.group_id) != broker {
            return ErrorCode::NotCoordinator;
        }
        let simple = version == 0 || req.generation_id_or_member_epoch < 0;
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return if simple {
                ErrorCode::None
            } else {
                ErrorCode::IllegalGeneration
            };
        };
        if g.fenced(req.group_instance_id.as_deref(), &req.member_id) {
            return ErrorCode::FencedInstanceId;
        }
        if simple && g.state == GroupState::Empty {
            return ErrorCode::None;
        }
        if g.state == GroupState::CompletingRebalance {
            return ErrorCode::RebalanceInProgress;
        }
        let generation = g.generation;
        let Some(m) = g.member_mut(&req.member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if req.generation_id_or_member_epoch != generation {
            return ErrorCode::IllegalGeneration;
        }
        m.last_seen = now;
        ErrorCode::None
    }

    /// An OffsetFetch received by `broker`.
    pub fn fetch_offsets(
        &self,
        broker: i32,
        version: i16,
        req: &OffsetFetchRequest,
    ) -> OffsetFetchResponse {
        let (group_id, topics) = if version >= 8 {
            let g = req.groups.first().cloned().unwrap_or_default();
            (g.group_id, g.topics)
        } else {
            (req.group_id.clone(), req.topics.clone())
        };
        let wrong = self.coordinator_of(&group_id) != broker;
        let stored = self.offsets.get(&group_id);
        let wanted: Vec<(String, Vec<i32>)> = match topics {
            Some(t) => t
                .into_iter()
                .map(|t| (t.name, t.partition_indexes))
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for tp in stored.into_iter().flat_map(|s| s.keys()) {
                    by_topic
                        .entry(tp.topic.clone())
                        .or_default()
                        .push(tp.partition);
                }
                by_topic.into_iter().collect()
            }
        };
        let topics: Vec<OffsetFetchResponseTopic> = wanted
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                partitions: partitions
                    .into_iter()
                    .map(|p| {
                        let c = stored.and_then(|s| s.get(&TopicPartition::new(name.clone(), p)));
                        OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: c.map_or(-1, |c| c.offset),
                            committed_leader_epoch: c.map_or(-1, |c| c.leader_epoch),
                            metadata: Some(c.map(|c| c.metadata.clone()).unwrap_or_default()),
                            // v0–1 carry errors per partition only.
                            error_code: if wrong && version < 2 {
                                ErrorCode::NotCoordinator.code()
                            } else {
                                0
                            },
                        }
                    })
                    .collect(),
                name,
                ..OffsetFetchResponseTopic::default()
            })
            .collect();
        let code = if wrong {
            ErrorCode::NotCoordinator.code()
        } else {
            0
        };
        offset_fetch_answer(version, &group_id, topics, code)
    }
}

/// An OffsetCommit answer with `code` for every partition.
pub fn commit_answer(req: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name.clone(),
                topic_id: t.topic_id,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                    })
                    .collect(),
            })
            .collect(),
        ..OffsetCommitResponse::default()
    }
}

/// An OffsetFetch answer in the layout of `version` (per group from v8).
pub fn offset_fetch_answer(
    version: i16,
    group_id: &str,
    topics: Vec<OffsetFetchResponseTopic>,
    code: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        OffsetFetchResponse {
            groups: vec![OffsetFetchResponseGroup {
                group_id: group_id.to_owned(),
                topics,
                error_code: code,
            }],
            ..OffsetFetchResponse::default()
        }
    } else {
        OffsetFetchResponse {
            topics,
            error_code: code,
            ..OffsetFetchResponse::default()
        }
    }
}

/// The JoinGroup answer for an injected error.
pub fn join_error_answer(code: ErrorCode, member_id: &str, version: i16) -> JoinGroupResponse {
    join_error(code, member_id, version)
}

/// The SyncGroup answer for an injected error.
pub fn sync_error_answer(code: ErrorCode) -> SyncGroupResponse {
    sync_answer(code, Bytes::new(), None)
}
