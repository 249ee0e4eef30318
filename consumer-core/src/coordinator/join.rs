//! Joining a generation: JoinGroup, the leader's assignment, and SyncGroup.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::state::{Heartbeat, Member, PendingLeaderSync, Round, Stable};
use super::{millis, missing_from, ConsumerCoordinator, Generation, GroupCtx, GroupRequest};
use crate::assignor::{group_by_topic, ungroup, MemberSubscription, RebalanceProtocol};
use crate::codec::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, LATEST_VERSION, PROTOCOL_TYPE,
};
use crate::codec::messages::join_group::JoinGroupRequestProtocol;
use crate::codec::messages::sync_group::SyncGroupRequestAssignment;
use crate::codec::messages::{
    JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use crate::error_code::ErrorCode;
use crate::event::Event;
use crate::topic_partition::TopicPartition;

impl ConsumerCoordinator {
    /// The JoinGroup to send, once what must come before it is done: a stable member
    /// first commits what it consumed (with auto-commit) and, eager, revokes its
    /// partitions and waits until the caller has seen that.
    pub(super) fn prepare_join(&mut self, ctx: &mut GroupCtx<'_>) -> Option<GroupRequest> {
        // As Java's onJoinPrepare: with auto-commit, commit what was consumed before every
        // (re)join, whatever the protocol (a cooperative member may give partitions up at
        // the end of this rebalance). Only a stable member can commit.
        if matches!(self.member, Member::Stable(_))
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
        // Owned partitions come only with an assignment, which ends the rebalance: an
        // eager member that still owns some has not revoked them for this join yet.
        if self.protocol == RebalanceProtocol::Eager && !self.owned.is_empty() {
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
            self.rebalances.revoked();
            ctx.events.push_back(Event::PartitionsRevoked(revoked));
            // The listener runs before the join goes out (next round).
            return None;
        }
        if self.listener_running
            || ctx
                .events
                .iter()
                .any(|e| matches!(e, Event::PartitionsRevoked(_)))
        {
            // Wait until the caller has seen the revocation and its listener returned.
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
        self.member = Member::Joining {
            topics: subscription_topics,
        };
        let reason = std::mem::take(&mut self.rejoin_reason);
        info!("group {}: joining ({reason})", self.group_id);
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

    /// A JoinGroup answer. One that comes when the member no longer waits for it (it
    /// lost the coordinator or its generation, or left, meanwhile) is ignored: the member
    /// has moved on, and a SyncGroup from it could only fail.
    pub(crate) fn handle_join(
        &mut self,
        resp: JoinGroupResponse,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) -> Option<GroupRequest> {
        let Member::Joining { topics } = &mut self.member else {
            debug!(
                "group {}: JoinGroup answer while {}; ignored",
                self.group_id,
                self.member.name()
            );
            return None;
        };
        let topics = std::mem::take(topics);
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => {
                self.generation = Generation {
                    generation_id: resp.generation_id,
                    member_id: resp.member_id.clone(),
                    protocol: resp.protocol_name.clone(),
                };
                self.commits.reset_pre_revoke();
                let round = Round {
                    topics,
                    rejoin: false,
                };
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
                    self.member = Member::AwaitingMetadata {
                        pending: PendingLeaderSync {
                            protocol: resp.protocol_name.unwrap_or_default(),
                            members,
                            since: now,
                            metadata_seen: ctx.metadata.update_count(),
                        },
                        round,
                    };
                    self.try_leader_sync(now, ctx)
                } else {
                    self.member = Member::Syncing {
                        round,
                        leader_counts: BTreeMap::new(),
                    };
                    Some(GroupRequest::Sync(self.sync_request(Vec::new())))
                }
            }
            ErrorCode::MemberIdRequired => {
                // KIP-394: join again at once with the id the coordinator gave.
                self.generation.member_id = resp.member_id;
                self.member = Member::Unjoined { retry_at: None };
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
                self.member = Member::Unjoined {
                    retry_at: Some(now + self.retry_backoff),
                };
                None
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.member = Member::Unjoined { retry_at: None };
                self.coordinator_dead(now);
                None
            }
            code => {
                if code.is_retriable() {
                    self.member = Member::Unjoined {
                        retry_at: Some(now + self.retry_backoff),
                    };
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
    pub(super) fn try_leader_sync(
        &mut self,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) -> Option<GroupRequest> {
        let Member::AwaitingMetadata { pending, .. } = &self.member else {
            return None;
        };
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
        let (pending, round) = match self.member.take() {
            Member::AwaitingMetadata { pending, round } => (pending, round),
            other => {
                self.member = other;
                return None;
            }
        };
        let Some(assignor) = self.assignors.iter().find(|a| a.name() == pending.protocol) else {
            warn!(
                "group {}: the coordinator chose {}, which we do not have",
                self.group_id, pending.protocol
            );
            self.set_fatal("JoinGroup", ErrorCode::InconsistentGroupProtocol);
            return None;
        };
        let assignment = assignor.assign(&partitions, &pending.members);
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
        self.member = Member::Syncing {
            round,
            leader_counts: partitions,
        };
        Some(GroupRequest::Sync(self.sync_request(out)))
    }

    /// A SyncGroup answer; ignored unless the member waits for it (see
    /// [`handle_join`](Self::handle_join)).
    pub(crate) fn handle_sync(
        &mut self,
        resp: SyncGroupResponse,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) {
        if !matches!(self.member, Member::Syncing { .. }) {
            debug!(
                "group {}: SyncGroup answer while {}; ignored",
                self.group_id,
                self.member.name()
            );
            return;
        }
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => {
                self.request_rejoin("rebalance in progress at sync");
                self.member = Member::Unjoined { retry_at: None };
                return;
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                self.lose_partitions(ctx);
                self.reset_generation();
                return;
            }
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.member = Member::Unjoined { retry_at: None };
                self.coordinator_dead(now);
                return;
            }
            ErrorCode::GroupAuthorizationFailed | ErrorCode::FencedInstanceId => {
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
                self.member = Member::Unjoined {
                    retry_at: Some(now + self.retry_backoff),
                };
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
                    self.request_rejoin("undecodable assignment");
                    self.member = Member::Unjoined { retry_at: None };
                    return;
                }
            };
        // Only partitions of subscribed topics are taken (the leader may be stale).
        let subscribed: HashSet<&str> = ctx
            .subs
            .subscribed_topics()
            .iter()
            .map(String::as_str)
            .collect();
        let assigned: Vec<TopicPartition> = assigned
            .into_iter()
            .filter(|tp| subscribed.contains(tp.topic.as_str()))
            .collect();
        let revoked = missing_from(&self.owned, &assigned);
        let added = missing_from(&assigned, &self.owned);
        info!(
            "group {}: generation {} assigned {:?}",
            self.group_id, self.generation.generation_id, assigned
        );
        let (round, leader_counts) = match self.member.take() {
            Member::Syncing {
                round,
                leader_counts,
            } => (round, leader_counts),
            other => {
                self.member = other;
                return;
            }
        };
        self.member = Member::Stable(Stable {
            heartbeat: Heartbeat::Due(now + self.heartbeat_interval),
            last_heartbeat_ok: now,
            leader_counts,
            rejoin: round.rejoin,
        });
        if !revoked.is_empty() {
            // Cooperative: give up only what moves, then rejoin so it can be reassigned.
            self.commits.remember_revoked(ctx.subs, &revoked);
            self.rebalances.revoked();
            ctx.events
                .push_back(Event::PartitionsRevoked(revoked.clone()));
            self.request_rejoin("partitions revoked in a cooperative rebalance");
        }
        ctx.subs.assign(assigned.clone());
        self.commits.assigned(&added, &revoked);
        self.owned = assigned;
        self.rebalances.assigned(now);
        ctx.events.push_back(Event::PartitionsAssigned(added));
        // A subscription change while the join was in flight was folded into it (the
        // join answer clears the rejoin request): join again with the new topics.
        if ctx.subs.subscribed_topics() != round.topics.as_slice() {
            self.request_rejoin("the subscription changed during the rebalance");
        }
    }
}
