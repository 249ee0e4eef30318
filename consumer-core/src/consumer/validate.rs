//! Sending position validations (OffsetForLeaderEpoch, KIP-320); see
//! [`crate::validation`].

use std::time::Instant;

use super::requests::Owner;
use super::{Consumer, NodeId};
use crate::codec::ApiKey;
use crate::validation::{LeaderSupport, Validator};

/// The lowest OffsetForLeaderEpoch version used to validate positions (v2 carries the
/// current leader epoch, for fencing).
const MIN_VALIDATION_VERSION: i16 = 2;

impl Consumer {
    /// Partitions whose leader or leader epoch changed in the metadata just applied await
    /// validation; what is buffered for them (from the old leader) is dropped.
    pub(super) fn validate_leader_changes(&mut self) {
        let changed = self.metadata.take_leader_changes();
        if changed.is_empty() {
            return;
        }
        for tp in Validator::leaders_changed(&mut self.subs, changed) {
            self.fetcher.clear_partition(&tp, &mut self.subs);
        }
    }

    /// Queues the validation requests due now; nodes not ready for them go to `wanted`.
    pub(super) fn prepare_validations(&mut self, now: Instant, wanted: &mut Vec<NodeId>) {
        let nodes = &self.nodes;
        let requests =
            self.validator
                .prepare(
                    now,
                    &mut self.subs,
                    &mut self.metadata,
                    wanted,
                    |node| match nodes.pick(node, ApiKey::OffsetForLeaderEpoch) {
                        None => LeaderSupport::NotReady,
                        Some(Ok(v)) if v >= MIN_VALIDATION_VERSION => LeaderSupport::Version(v),
                        Some(_) => LeaderSupport::Unsupported,
                    },
                );
        for (req, version, ctx) in requests {
            let node = ctx.node;
            self.send(node, version, &req, Owner::Validation(ctx), now);
        }
    }
}
