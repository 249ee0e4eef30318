//! Reconciling a KIP-848 member's partitions with the target assignment its coordinator
//! sent: revoke what is no longer ours (after the auto-commit, and only once the caller's
//! listener has seen the revocation), then take what is new, then acknowledge.

use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

use log::info;

use super::super::{missing_from, ConsumerCoordinator, GroupCtx};
use crate::codec::messages::consumer_group_heartbeat::TopicPartitions;
use crate::event::Event;
use crate::topic_partition::TopicPartition;

impl ConsumerCoordinator {
    /// Moves the member's partitions one step toward its target assignment; it waits (and
    /// is called again) for metadata naming the topic ids, for the auto-commit, and for
    /// the caller to have seen the revocation.
    pub(in crate::coordinator) fn kip848_reconcile(
        &mut self,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) {
        let Some(member) = self.kip848.as_ref() else {
            return;
        };
        let Some(target) = member.target.clone() else {
            return;
        };
        // Lost partitions or an earlier revocation must reach the caller first, and its
        // listener must have returned.
        if self.listener_running
            || ctx
                .events
                .iter()
                .any(|e| matches!(e, Event::PartitionsRevoked(_) | Event::PartitionsLost(_)))
        {
            return;
        }
        let Some(assigned) = resolve(&target, ctx) else {
            ctx.metadata.request_update();
            return;
        };
        let revoked = missing_from(&self.owned, &assigned);
        if !revoked.is_empty() {
            let epoch = member.epoch();
            if self.commits.auto_commit_enabled() && !self.commits.pre_revoke_done() {
                self.commits.commit_before_revoke(ctx.subs, &revoked, epoch);
                if !self.commits.pre_revoke_done() {
                    return;
                }
            }
            info!(
                "group {}: revoking {} partitions",
                self.group_id,
                revoked.len()
            );
            self.commits.remember_revoked(ctx.subs, &revoked);
            let revoked_set: HashSet<&TopicPartition> = revoked.iter().collect();
            self.owned.retain(|tp| !revoked_set.contains(tp));
            ctx.subs.assign(self.owned.clone());
            self.commits.assigned(&[], &revoked);
            self.rebalances.revoked();
            ctx.events.push_back(Event::PartitionsRevoked(revoked));
            // The listener runs before anything is taken or acknowledged.
            return;
        }
        let added = missing_from(&assigned, &self.owned);
        let Some(member) = self.kip848.as_mut() else {
            return;
        };
        member.target = None;
        member.owned_ids = sorted(target);
        let first = !member.assigned_once;
        member.assigned_once = true;
        member.beat_now();
        let epoch = member.epoch();
        if !added.is_empty() || first {
            info!(
                "group {}: epoch {epoch}: assigned {} new partitions ({} in all)",
                self.group_id,
                added.len(),
                assigned.len()
            );
            ctx.subs.assign(assigned.clone());
            self.commits.assigned(&added, &[]);
            self.rebalances.assigned(now);
            ctx.events.push_back(Event::PartitionsAssigned(added));
        }
        self.owned = assigned;
        self.commits.reset_pre_revoke();
    }
}

/// The target assignment by topic name, sorted; `None` while metadata does not name one
/// of its topic ids.
fn resolve(target: &[TopicPartitions], ctx: &GroupCtx<'_>) -> Option<Vec<TopicPartition>> {
    let mut out = Vec::new();
    for t in target {
        let name = ctx.metadata.topic_name_by_id(&t.topic_id)?;
        out.extend(
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(name.to_owned(), *p)),
        );
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// The assignment in a canonical order, to compare with what was acknowledged.
fn sorted(target: Vec<TopicPartitions>) -> Vec<TopicPartitions> {
    let mut by_id: BTreeMap<[u8; 16], Vec<i32>> = BTreeMap::new();
    for t in target {
        by_id.entry(t.topic_id).or_default().extend(t.partitions);
    }
    by_id
        .into_iter()
        .map(|(topic_id, mut partitions)| {
            partitions.sort_unstable();
            partitions.dedup();
            TopicPartitions {
                topic_id,
                partitions,
            }
        })
        .collect()
}
