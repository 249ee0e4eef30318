//! The group side of the [`Consumer`]: subscriptions, commits, and the glue between the
//! coordinator state machine and the requests it needs sent.

use std::time::Instant;

use bytes::Bytes;
use log::debug;

use super::requests::{decode, Outcome, Owner, RequestFailure};
use super::{Consumer, NodeId};
use crate::codec::messages::{
    ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use crate::codec::ApiKey;
use crate::coordinator::{
    CommitContext, ConsumerCoordinator, GroupCtx, GroupRequest, GroupRequestKind,
    OffsetFetchContext,
};
use crate::event::{Event, RequestId, StateError};
use crate::metadata::Node;
use crate::subscription::SubscriptionKind;
use crate::topic_partition::{OffsetAndMetadata, TopicPartition};

impl Consumer {
    /// The group coordinator with what it may touch of the rest of the consumer.
    fn group_ctx(&mut self) -> Option<(&mut ConsumerCoordinator, GroupCtx<'_>)> {
        let g = self.group.as_mut()?;
        let ctx = GroupCtx {
            subs: &mut self.subs,
            metadata: &mut self.metadata,
            events: &mut self.events,
            errors: &mut self.errors,
        };
        Some((g, ctx))
    }

    /// Subscribes to `topics` through the group (needs `group.id`); replaces an earlier
    /// subscription. Refused while partitions are assigned manually.
    pub fn subscribe(
        &mut self,
        topics: impl IntoIterator<Item = String>,
    ) -> Result<(), StateError> {
        if self.group.is_none() {
            return Err(StateError::NoGroupId("subscribe"));
        }
        if !self.subs.set_kind(SubscriptionKind::Topics) {
            return Err(StateError::SubscriptionMix);
        }
        self.pattern = None;
        self.metadata.set_want_all_topics(false);
        if let Some(g) = self.group.as_mut() {
            g.set_broker_regex(None);
        }
        let changed = self
            .subs
            .set_subscribed_topics(topics.into_iter().collect());
        if changed {
            if let Some(g) = self.group.as_mut() {
                g.request_rejoin("subscription changed");
            }
        }
        self.refresh_interest();
        Ok(())
    }

    /// Subscribes to every topic whose name matches `pattern` (a regular expression that
    /// must match the whole name), re-evaluated at each metadata refresh.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), StateError> {
        if self.group.is_none() {
            return Err(StateError::NoGroupId("subscribe_pattern"));
        }
        let re = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            StateError::InvalidPattern {
                pattern: pattern.to_owned(),
                reason: e.to_string(),
            }
        })?;
        if !self.subs.set_kind(SubscriptionKind::Pattern) {
            return Err(StateError::SubscriptionMix);
        }
        self.pattern = Some(re);
        if let Some(g) = self.group.as_mut() {
            // A KIP-848 coordinator matches the pattern itself (ConsumerGroupHeartbeat
            // v1); the names matched here stay for metadata and older coordinators.
            g.set_broker_regex(Some(pattern.to_owned()));
        }
        self.metadata.set_want_all_topics(true);
        self.metadata.request_update();
        self.apply_pattern();
        Ok(())
    }

    pub(super) fn apply_pattern(&mut self) {
        let Some(re) = &self.pattern else {
            return;
        };
        let matched: Vec<String> = self
            .metadata
            .all_topic_names()
            .iter()
            .filter(|t| re.is_match(t))
            .cloned()
            .collect();
        if self.subs.set_subscribed_topics(matched) {
            if let Some(g) = self.group.as_mut() {
                g.request_rejoin("pattern subscription matched new topics");
            }
            self.refresh_interest();
        }
    }

    /// Drops the subscription or assignment; a group member leaves the group.
    pub fn unsubscribe(&mut self) {
        if let Some(g) = self.group.as_mut() {
            let owned = g.owned().to_vec();
            g.commits.member_left(&mut self.events);
            if let Some(req) = g.leave("the consumer unsubscribed") {
                // A consumer never driven has no coordinator connection to send it on.
                if let Some(now) = self.last_now {
                    self.send_group(now, req);
                }
            }
            if !owned.is_empty() {
                if let Some(g) = self.group.as_mut() {
                    g.rebalances.revoked();
                }
                self.events.push_back(Event::PartitionsRevoked(owned));
            }
            if let Some(g) = self.group.as_mut() {
                g.rejoin_after_leave();
                g.set_broker_regex(None);
            }
        }
        self.subs.unsubscribe();
        self.pattern = None;
        self.metadata.set_want_all_topics(false);
        self.fetcher.retain_assigned(&self.subs);
        self.refresh_interest();
    }

    /// The caller's rebalance listener is running (`true`) or returned (`false`). While
    /// it runs, the member takes no further rebalance step: a KIP-848 member does not
    /// acknowledge a revocation, a classic one does not rejoin, so no other member gets
    /// the partitions before the listener is done with them (calls it makes, such as a
    /// commit, still drive the network).
    pub fn set_listener_running(&mut self, running: bool) {
        if let Some(g) = self.group.as_mut() {
            g.set_listener_running(running);
        }
    }

    /// The group coordinator state machine, with `group.id`.
    pub fn group(&self) -> Option<&ConsumerCoordinator> {
        self.group.as_ref()
    }

    /// Commits `offsets` for the group; the answer comes as [`Event::CommitCompleted`].
    pub fn commit(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    ) -> Result<RequestId, StateError> {
        let g = self.group.as_mut().ok_or(StateError::NoGroupId("commit"))?;
        Ok(g.commit(offsets))
    }

    /// Like [`commit`](Self::commit), but never retried: the caller does not wait, and an
    /// older retried commit must not overwrite a newer one.
    pub fn commit_async(
        &mut self,
        offsets: Vec<(TopicPartition, OffsetAndMetadata)>,
    ) -> Result<RequestId, StateError> {
        let g = self.group.as_mut().ok_or(StateError::NoGroupId("commit"))?;
        Ok(g.commit_async(offsets))
    }

    /// The consumed positions of all assigned partitions, as offsets to commit; during a
    /// rebalance also those of the partitions it revoked (for the revocation listener).
    pub fn consumed_offsets(&self) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let mut out = crate::coordinator::Commits::all_positions(&self.subs);
        if let Some(g) = &self.group {
            out.extend(
                g.commits
                    .revoked_positions()
                    .iter()
                    .filter(|(tp, _)| !self.subs.is_assigned(tp))
                    .cloned(),
            );
        }
        out
    }

    /// Looks up the committed offsets of `partitions`; the answer comes as
    /// [`Event::CommittedFetched`].
    pub fn committed(&mut self, partitions: Vec<TopicPartition>) -> Result<RequestId, StateError> {
        let g = self
            .group
            .as_mut()
            .ok_or(StateError::NoGroupId("committed"))?;
        Ok(g.commits.fetch_committed(partitions))
    }

    /// Gives up waiting for a commit.
    pub fn cancel_commit(&mut self, id: RequestId) {
        if let Some(g) = self.group.as_mut() {
            g.commits.cancel(id);
        }
    }

    /// The caller entered `poll`: restarts `max.poll.interval.ms`; a member that let it
    /// pass leaves the group now and reports it.
    pub fn poll_started(&mut self, now: Instant) {
        self.observe(now);
        let Some((g, mut ctx)) = self.group_ctx() else {
            return;
        };
        let out = g.poll_started(now, &mut ctx);
        for r in out {
            self.send_group(now, r);
        }
        self.fetcher.retain_assigned(&self.subs);
    }

    /// Starts closing: a group member leaves (the LeaveGroup is queued); later calls
    /// send nothing once [`Consumer::close`] is called.
    pub fn leave_group(&mut self, now: Instant) {
        if let Some(g) = self.group.as_mut() {
            g.commits.member_left(&mut self.events);
            if let Some(req) = g.leave("the consumer is being closed") {
                self.send_group(now, req);
            }
        }
    }

    /// True while group requests that must finish before closing (commits, leave) are
    /// in flight or queued.
    pub fn has_pending_group_requests(&self) -> bool {
        self.requests.any(|owner| {
            matches!(
                owner,
                Owner::Group(GroupCall::Commit(_) | GroupCall::Leave | GroupCall::ConsumerLeave)
            )
        }) || self
            .group
            .as_ref()
            .is_some_and(|g| g.commits.has_pending_sync_commits())
    }

    pub(super) fn prepare_group(&mut self, now: Instant) {
        let Some(g) = self.group.as_mut() else {
            return;
        };
        if g.wants_lookup(now) {
            // FindCoordinator goes to the least loaded ready node.
            let candidates: Vec<Node> = self
                .metadata
                .nodes()
                .into_iter()
                .filter(|n| !self.metadata_only_bootstrap(n.id))
                .cloned()
                .collect();
            let ready = candidates
                .iter()
                .filter(|n| self.nodes.is_ready(n.id))
                .min_by_key(|n| self.requests.in_flight(n.id))
                .cloned();
            let connecting = candidates.iter().any(|n| self.requests.in_flight(n.id) > 0);
            if ready.is_none() && !connecting {
                // No broker connection is up (e.g. only the bootstrap and the old coordinator
                // were ever used): open one, the lookup goes out once it is ready.
                let next = candidates
                    .iter()
                    .filter(|n| !self.nodes.is_backing_off(n.id, now))
                    .min_by_key(|n| self.requests.in_flight(n.id))
                    .cloned();
                if let Some(n) = next {
                    self.ensure_ready(&n);
                }
            }
            if let Some(node) = ready {
                if let Some(Ok(version)) = self.nodes.pick(node.id, ApiKey::FindCoordinator) {
                    let req = self.group.as_mut().map(|g| g.lookup_request());
                    if let Some(req) = req {
                        let owner = Owner::Group(GroupCall::FindCoordinator);
                        self.send_to(&node, version, &req, None, owner, now);
                    }
                }
            } else {
                // No broker connection is up (a member without partitions has none besides
                // the lost coordinator's): open one, or the lookup would wait forever.
                let next = self
                    .metadata
                    .nodes()
                    .into_iter()
                    .filter(|n| {
                        !self.metadata_only_bootstrap(n.id) && !self.nodes.is_backing_off(n.id, now)
                    })
                    .min_by_key(|n| self.requests.in_flight(n.id))
                    .cloned();
                if let Some(n) = next {
                    self.ensure_ready(&n);
                }
            }
            return;
        }
        let Some(coordinator) = self.group.as_ref().and_then(|g| g.coordinator().cloned()) else {
            return;
        };
        if !self.ensure_ready(&coordinator) {
            return;
        }
        let Some((g, mut ctx)) = self.group_ctx() else {
            return;
        };
        let requests = g.prepare(now, &mut ctx);
        self.fetcher.retain_assigned(&self.subs);
        for r in requests {
            self.send_group(now, r);
        }
    }

    /// Bootstrap pseudo-nodes are fine for metadata but the coordinator lookup waits for
    /// real brokers (their ids are known once metadata has answered).
    pub(super) fn metadata_only_bootstrap(&self, id: NodeId) -> bool {
        id < 0 && self.metadata.update_count() > 0
    }

    /// Sends a request of the group member to its coordinator. One that cannot go (no
    /// coordinator, or its connection is not ready) ends at once, and the member is told.
    pub(super) fn send_group(&mut self, now: Instant, r: GroupRequest) {
        // Topic ids are not tracked for group offsets: OffsetCommit/OffsetFetch stay below
        // v10, which names topics by id.
        let (api, cap, call) = match &r {
            GroupRequest::Join(..) => (ApiKey::JoinGroup, None, GroupCall::Join),
            GroupRequest::Sync(_) => (ApiKey::SyncGroup, None, GroupCall::Sync),
            GroupRequest::Heartbeat(_) => (ApiKey::Heartbeat, None, GroupCall::Heartbeat),
            GroupRequest::Leave(_) => (ApiKey::LeaveGroup, None, GroupCall::Leave),
            GroupRequest::ConsumerHeartbeat(_) => (
                ApiKey::ConsumerGroupHeartbeat,
                None,
                GroupCall::ConsumerHeartbeat,
            ),
            GroupRequest::ConsumerLeave(_) => (
                ApiKey::ConsumerGroupHeartbeat,
                None,
                GroupCall::ConsumerLeave,
            ),
            GroupRequest::Commit(_, ctx) => (
                ApiKey::OffsetCommit,
                Some(9),
                GroupCall::Commit(ctx.clone()),
            ),
            GroupRequest::FetchOffsets(_, ctx) => (
                ApiKey::OffsetFetch,
                Some(9),
                GroupCall::OffsetFetch(ctx.clone()),
            ),
        };
        let coordinator = self.group.as_ref().and_then(|g| g.coordinator().cloned());
        let Some(node) = coordinator else {
            let owner = Owner::Group(call);
            return self.not_sent_api(api, -1, owner, "no coordinator is known", now);
        };
        // A coordinator renewing its SASL session takes the request after the renewal
        // (a SyncGroup answering a JoinGroup must not be lost to it).
        let version = if self.nodes.is_ready(node.id) {
            self.version_for(node.id, api)
        } else if self.nodes.is_renewing(node.id) {
            self.nodes
                .negotiated(node.id)
                .and_then(|v| v.pick(api).ok())
        } else {
            let owner = Owner::Group(call);
            return self.not_sent_api(api, node.id, owner, "the coordinator is not ready", now);
        };
        let Some(v) = version else {
            let owner = Owner::Group(call);
            if self.nodes.is_ready(node.id) {
                // The coordinator answered ApiVersions without a version of `api` both
                // sides speak (e.g. no ConsumerGroupHeartbeat before Kafka 4.0).
                let failure = RequestFailure::Unsupported(api);
                return self.unsent(api, node.id, owner, failure, now);
            }
            return self.not_sent_api(api, node.id, owner, "no usable version", now);
        };
        let v = cap.map_or(v, |c: i16| v.min(c));
        let owner = Owner::Group(call);
        match r {
            GroupRequest::Join(req, timeout) => {
                self.send_to(&node, v, &req, Some(timeout), owner, now)
            }
            GroupRequest::Sync(req) => self.send_to(&node, v, &req, None, owner, now),
            GroupRequest::Heartbeat(req) => self.send_to(&node, v, &req, None, owner, now),
            GroupRequest::Leave(req) => self.send_to(&node, v, &req, None, owner, now),
            GroupRequest::ConsumerHeartbeat(req) | GroupRequest::ConsumerLeave(req) => {
                let req = without_regex_below_v1(req, v, &self.subs);
                self.send_to(&node, v, &req, None, owner, now)
            }
            GroupRequest::Commit(req, _) => self.send_to(&node, v, &req, None, owner, now),
            GroupRequest::FetchOffsets(req, _) => self.send_to(&node, v, &req, None, owner, now),
        }
    }

    /// Hands the outcome of a group request to the member: the answer, or the reason
    /// there is none (every failure of a coordinator request marks the coordinator dead,
    /// as in Java; a failed lookup is retried after a backoff).
    pub(super) fn finish_group(
        &mut self,
        node: NodeId,
        version: i16,
        call: GroupCall,
        frame: Outcome<Bytes>,
        now: Instant,
    ) {
        let backoff = self.config.retry_backoff;
        let Some((g, mut ctx)) = self.group_ctx() else {
            return;
        };
        let mut follow_up = None;
        match call {
            GroupCall::FindCoordinator => {
                match decode::<FindCoordinatorRequest>(node, version, frame) {
                    Ok(r) => g.handle_lookup(r, now),
                    Err(e) => {
                        g.note_problem(format!("FindCoordinator to node {node}: {e}"));
                        g.lookup_failed(now);
                    }
                }
            }
            GroupCall::Join => match decode::<JoinGroupRequest>(node, version, frame) {
                Ok(r) => follow_up = g.handle_join(r, now, &mut ctx),
                Err(_) => g.request_failed(GroupRequestKind::Join, now, &mut ctx),
            },
            GroupCall::Sync => match decode::<SyncGroupRequest>(node, version, frame) {
                Ok(r) => g.handle_sync(r, now, &mut ctx),
                Err(_) => g.request_failed(GroupRequestKind::Sync, now, &mut ctx),
            },
            GroupCall::Heartbeat => match decode::<HeartbeatRequest>(node, version, frame) {
                Ok(r) => g.handle_heartbeat(r, now, &mut ctx),
                Err(_) => g.request_failed(GroupRequestKind::Heartbeat, now, &mut ctx),
            },
            GroupCall::ConsumerLeave => {
                match decode::<ConsumerGroupHeartbeatRequest>(node, version, frame) {
                    Ok(r) => debug!("left the group: error code {}", r.error_code),
                    Err(e) => debug!("ConsumerGroupHeartbeat (leave): {e}"),
                }
            }
            GroupCall::Leave => match decode::<LeaveGroupRequest>(node, version, frame) {
                Ok(r) => debug!("left the group: error code {}", r.error_code),
                Err(e) => debug!("LeaveGroup: {e}"),
            },
            GroupCall::ConsumerHeartbeat => {
                match decode::<ConsumerGroupHeartbeatRequest>(node, version, frame) {
                    Ok(r) => g.handle_consumer_heartbeat(r, now, &mut ctx),
                    Err(e) => {
                        let unsupported = matches!(e, RequestFailure::Unsupported(_));
                        g.note_problem(format!("ConsumerGroupHeartbeat to node {node}: {e}"));
                        g.consumer_heartbeat_failed(unsupported, now);
                    }
                }
            }
            GroupCall::Commit(commit) => {
                let resp = decode::<OffsetCommitRequest>(node, version, frame);
                let outcome = g
                    .commits
                    .handle_commit(commit, resp, now, backoff, ctx.events);
                if outcome.coordinator_gone {
                    g.coordinator_dead(now);
                }
                if outcome.rejoin {
                    g.request_rejoin("a commit was refused: the group has moved on");
                }
                if let Some(generation) = outcome.stale_generation {
                    g.commit_fenced(generation, &mut ctx);
                }
            }
            GroupCall::OffsetFetch(fetch) => {
                let resp = decode::<OffsetFetchRequest>(node, version, frame);
                if g.commits
                    .handle_fetch(fetch, resp, now, backoff, ctx.subs, ctx.events)
                {
                    g.coordinator_dead(now);
                }
            }
        }
        self.fetcher.retain_assigned(&self.subs);
        if let Some(r) = follow_up {
            self.send_group(now, r);
        }
    }
}

/// Which group request a coordinator answer belongs to, with what reading it needs.
#[derive(Debug)]
pub(crate) enum GroupCall {
    /// FindCoordinator.
    FindCoordinator,
    /// JoinGroup.
    Join,
    /// SyncGroup.
    Sync,
    /// Heartbeat.
    Heartbeat,
    /// LeaveGroup.
    Leave,
    /// A KIP-848 member's leaving heartbeat (ConsumerGroupHeartbeat at epoch -1 or -2).
    ConsumerLeave,
    /// ConsumerGroupHeartbeat (KIP-848).
    ConsumerHeartbeat,
    /// OffsetCommit, with what it carried.
    Commit(CommitContext),
    /// OffsetFetch, with what it asked.
    OffsetFetch(OffsetFetchContext),
}

/// A broker-side regex needs ConsumerGroupHeartbeat v1: below, the topic names it
/// matched here go instead.
fn without_regex_below_v1(
    mut req: ConsumerGroupHeartbeatRequest,
    version: i16,
    subs: &crate::subscription::SubscriptionState,
) -> ConsumerGroupHeartbeatRequest {
    if version < 1 && req.subscribed_topic_regex.take().is_some() {
        req.subscribed_topic_names = Some(subs.subscribed_topics().to_vec());
    }
    req
}
