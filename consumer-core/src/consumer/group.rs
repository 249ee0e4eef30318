//! The group side of the [`Consumer`]: subscriptions, commits, and the glue between the
//! coordinator state machine and the requests it needs sent.

use std::time::Instant;

use bytes::Bytes;
use log::{debug, warn};

use super::{Consumer, InFlight, NodeId};
use crate::codec::messages::{
    FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use crate::codec::{decode_response_frame, ApiKey};
use crate::coordinator::{GroupCoordinator, GroupCtx, GroupRequest, GroupRequestKind};
use crate::event::{Event, RequestId, StateError};
use crate::metadata::Node;
use crate::subscription::SubscriptionKind;
use crate::topic_partition::{OffsetAndMetadata, TopicPartition};

impl Consumer {
    /// The group coordinator with what it may touch of the rest of the consumer.
    fn group_ctx(&mut self) -> Option<(&mut GroupCoordinator, GroupCtx<'_>)> {
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
                    self.send_group(now, GroupRequest::Leave(req));
                }
            }
            if !owned.is_empty() {
                self.events.push_back(Event::PartitionsRevoked(owned));
            }
            if let Some(g) = self.group.as_mut() {
                g.rejoin_after_leave();
            }
        }
        self.subs.unsubscribe();
        self.pattern = None;
        self.metadata.set_want_all_topics(false);
        self.fetcher.retain_assigned(&self.subs);
        self.refresh_interest();
    }

    /// The group coordinator state machine, with `group.id`.
    pub fn group(&self) -> Option<&GroupCoordinator> {
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
        let assigned: Vec<TopicPartition> = self.subs.assigned().cloned().collect();
        let mut out = crate::coordinator::Commits::positions(&self.subs, &assigned);
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
        self.last_now = Some(now);
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
                self.send_group(now, GroupRequest::Leave(req));
            }
        }
    }

    /// True while group requests that must finish before closing (commits, leave) are
    /// in flight or queued.
    pub fn has_pending_group_requests(&self) -> bool {
        self.in_flight
            .values()
            .any(|(_, w)| matches!(w, InFlight::Commit { .. } | InFlight::Leave { .. }))
            || self
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
                .min_by_key(|n| self.nodes.in_flight(n.id))
                .cloned();
            let connecting = candidates.iter().any(|n| self.nodes.in_flight(n.id) > 0);
            if ready.is_none() && !connecting {
                // No broker connection is up (e.g. only the bootstrap and the old coordinator
                // were ever used): open one, the lookup goes out once it is ready.
                let next = candidates
                    .iter()
                    .filter(|n| !self.nodes.is_backing_off(n.id, now))
                    .min_by_key(|n| self.nodes.in_flight(n.id))
                    .cloned();
                if let Some(n) = next {
                    self.ensure_ready(&n);
                }
            }
            if let Some(node) = ready {
                if let Some(Ok(version)) = self.nodes.pick(node.id, ApiKey::FindCoordinator) {
                    let req = self.group.as_mut().map(|g| g.lookup_request());
                    if let Some(req) = req {
                        self.send_to(&node, version, &req, None, |v| InFlight::FindCoordinator {
                            version: v,
                        });
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
                    .min_by_key(|n| self.nodes.in_flight(n.id))
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

    pub(super) fn send_group(&mut self, now: Instant, r: GroupRequest) {
        let _ = now;
        let coordinator = self.group.as_ref().and_then(|g| g.coordinator().cloned());
        let Some(node) = coordinator else {
            // Without a coordinator the request cannot go; the group retries it.
            debug!("no coordinator for a group request; dropped for now");
            return;
        };
        if !self.nodes.is_ready(node.id) {
            return;
        }
        // Topic ids are not tracked for group offsets: OffsetCommit/OffsetFetch stay below
        // v10, which names topics by id.
        let (api, cap) = match &r {
            GroupRequest::FindCoordinator(_) => (ApiKey::FindCoordinator, None),
            GroupRequest::Join(..) => (ApiKey::JoinGroup, None),
            GroupRequest::Sync(_) => (ApiKey::SyncGroup, None),
            GroupRequest::Heartbeat(_) => (ApiKey::Heartbeat, None),
            GroupRequest::Leave(_) => (ApiKey::LeaveGroup, None),
            GroupRequest::Commit(..) => (ApiKey::OffsetCommit, Some(9)),
            GroupRequest::FetchOffsets(..) => (ApiKey::OffsetFetch, Some(9)),
        };
        let Some(v) = self.version_for(node.id, api) else {
            return;
        };
        let v = cap.map_or(v, |c: i16| v.min(c));
        match r {
            GroupRequest::FindCoordinator(req) => self.send_to(&node, v, &req, None, |v| {
                InFlight::FindCoordinator { version: v }
            }),
            GroupRequest::Join(req, timeout) => self.send_to(&node, v, &req, Some(timeout), |v| {
                InFlight::Join { version: v }
            }),
            GroupRequest::Sync(req) => {
                self.send_to(&node, v, &req, None, |v| InFlight::Sync { version: v })
            }
            GroupRequest::Heartbeat(req) => {
                self.send_to(&node, v, &req, None, |v| InFlight::Heartbeat { version: v })
            }
            GroupRequest::Leave(req) => {
                self.send_to(&node, v, &req, None, |v| InFlight::Leave { version: v })
            }
            GroupRequest::Commit(req, ctx) => self.send_to(&node, v, &req, None, |v| {
                InFlight::Commit { version: v, ctx }
            }),
            GroupRequest::FetchOffsets(req, ctx) => self.send_to(&node, v, &req, None, |v| {
                InFlight::OffsetFetch { version: v, ctx }
            }),
        }
    }

    pub(super) fn handle_group_response(
        &mut self,
        node: NodeId,
        what: InFlight,
        frame: Bytes,
        now: Instant,
    ) {
        let backoff = self.config.retry_backoff;
        let Some((g, mut ctx)) = self.group_ctx() else {
            return;
        };
        let mut follow_up = None;
        match what {
            InFlight::FindCoordinator { version } => {
                match decode_response_frame::<FindCoordinatorRequest>(frame, version) {
                    Ok((_, r)) => g.handle_lookup(r, now),
                    Err(e) => {
                        warn!("malformed FindCoordinator answer from node {node}: {e}");
                        g.lookup_failed(now);
                    }
                }
            }
            InFlight::Join { version } => {
                match decode_response_frame::<JoinGroupRequest>(frame, version) {
                    Ok((_, r)) => follow_up = g.handle_join(r, now, &mut ctx),
                    Err(e) => {
                        warn!("malformed JoinGroup answer from node {node}: {e}");
                        g.request_failed(GroupRequestKind::Join, now, &mut ctx);
                    }
                }
            }
            InFlight::Sync { version } => {
                match decode_response_frame::<SyncGroupRequest>(frame, version) {
                    Ok((_, r)) => g.handle_sync(r, now, &mut ctx),
                    Err(e) => {
                        warn!("malformed SyncGroup answer from node {node}: {e}");
                        g.request_failed(GroupRequestKind::Sync, now, &mut ctx);
                    }
                }
            }
            InFlight::Heartbeat { version } => {
                match decode_response_frame::<HeartbeatRequest>(frame, version) {
                    Ok((_, r)) => g.handle_heartbeat(r, now, &mut ctx),
                    Err(e) => {
                        warn!("malformed Heartbeat answer from node {node}: {e}");
                        g.request_failed(GroupRequestKind::Heartbeat, now, &mut ctx);
                    }
                }
            }
            InFlight::Leave { version } => {
                match decode_response_frame::<LeaveGroupRequest>(frame, version) {
                    Ok((_, r)) => debug!("left the group: error code {}", r.error_code),
                    Err(e) => warn!("malformed LeaveGroup answer from node {node}: {e}"),
                }
            }
            InFlight::Commit {
                version,
                ctx: commit,
            } => {
                let resp = decode_response_frame::<OffsetCommitRequest>(frame, version)
                    .map(|r| r.1)
                    .map_err(|e| warn!("malformed OffsetCommit answer from node {node}: {e}"));
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
            InFlight::OffsetFetch {
                version,
                ctx: fetch,
            } => {
                let resp = decode_response_frame::<OffsetFetchRequest>(frame, version)
                    .map(|r| r.1)
                    .map_err(|e| warn!("malformed OffsetFetch answer from node {node}: {e}"));
                if g.commits
                    .handle_fetch(fetch, resp, now, backoff, ctx.subs, ctx.events)
                {
                    g.coordinator_dead(now);
                }
            }
            _ => {}
        }
        self.fetcher.retain_assigned(&self.subs);
        if let Some(r) = follow_up {
            self.send_group(now, r);
        }
    }

    pub(super) fn group_request_failed(&mut self, what: InFlight, now: Instant) {
        let backoff = self.config.retry_backoff;
        let Some((g, mut ctx)) = self.group_ctx() else {
            return;
        };
        match what {
            InFlight::FindCoordinator { .. } => g.lookup_failed(now),
            InFlight::Join { .. } => g.request_failed(GroupRequestKind::Join, now, &mut ctx),
            InFlight::Sync { .. } => g.request_failed(GroupRequestKind::Sync, now, &mut ctx),
            InFlight::Heartbeat { .. } => {
                g.request_failed(GroupRequestKind::Heartbeat, now, &mut ctx)
            }
            InFlight::Leave { .. } => {}
            InFlight::Commit { ctx: commit, .. } => {
                let _ = g
                    .commits
                    .handle_commit(commit, Err(()), now, backoff, ctx.events);
                g.coordinator_dead(now);
            }
            InFlight::OffsetFetch { ctx: fetch, .. } => {
                g.commits
                    .handle_fetch(fetch, Err(()), now, backoff, ctx.subs, ctx.events);
                g.coordinator_dead(now);
            }
            _ => {}
        }
    }
}
