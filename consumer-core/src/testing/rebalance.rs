//! The group coordinator's rebalance protocol: JoinGroup, SyncGroup, Heartbeat and
//! LeaveGroup, and the join phase that forms each generation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::consumer_protocol::PROTOCOL_TYPE;
use crate::codec::messages::leave_group::LeaveGroupMemberResponse;
use crate::codec::messages::{
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use crate::error_code::ErrorCode;

use super::group::{
    heartbeat_answer, join_error, partitions_of, sync_answer, Answer, GenerationRecord, Group,
    GroupMember, GroupState, Groups, Outcome,
};

impl Groups {
    pub(super) fn prepare_rebalance(&mut self, group: &str, now: Instant, reason: &str) {
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

    pub(super) fn maybe_complete_join(&mut self, group: &str, now: Instant) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        if g.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = g.members.iter().all(|m| m.joined) && g.pending.is_empty();
        let delay_over = g.delay_until.is_none_or(|t| now >= t);
        if delay_over {
            // The join now waits for the members or the rebalance deadline only: a passed
            // delay is no deadline of its own any more.
            g.delay_until = None;
        }
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
    pub(super) fn join(
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
        // A KIP-848 consumer group with members takes no classic member (Kafka would, in
        // its mixed mode); an empty one gives way to a classic group.
        if let Some(cg) = self.consumer_groups.get(&group_id) {
            if !cg.members.is_empty() {
                return err(ErrorCode::InconsistentGroupProtocol);
            }
            self.consumer_groups.remove(&group_id);
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
    pub(super) fn sync(
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
    pub(super) fn heartbeat(
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
    pub(super) fn leave(
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
}

/// The JoinGroup answer for an injected error.
pub(super) fn join_error_answer(
    code: ErrorCode,
    member_id: &str,
    version: i16,
) -> JoinGroupResponse {
    join_error(code, member_id, version)
}

/// The SyncGroup answer for an injected error.
pub(super) fn sync_error_answer(code: ErrorCode) -> SyncGroupResponse {
    sync_answer(code, Bytes::new(), None)
}
