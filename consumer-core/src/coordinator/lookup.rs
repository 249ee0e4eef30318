//! Finding the group coordinator (FindCoordinator), and losing it.

use std::time::Instant;

use log::{debug, info};

use super::state::{CoordinatorState, Heartbeat, Member};
use super::{ConsumerCoordinator, GroupCtx, GroupRequestKind};
use crate::codec::messages::find_coordinator::KEY_TYPE_GROUP;
use crate::codec::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use crate::error_code::ErrorCode;
use crate::metadata::Node;

impl ConsumerCoordinator {
    /// True if a coordinator lookup should be sent now.
    pub(crate) fn wants_lookup(&self, now: Instant) -> bool {
        !matches!(self.member, Member::Left { .. } | Member::Failed(_))
            && !self.kip848.as_ref().is_some_and(|m| m.is_done())
            && matches!(self.coordinator, CoordinatorState::Unknown { retry_at }
                if retry_at.is_none_or(|t| now >= t))
    }

    /// The FindCoordinator request; the caller sends it to a ready node.
    pub(crate) fn lookup_request(&mut self) -> FindCoordinatorRequest {
        self.coordinator = CoordinatorState::Looking;
        FindCoordinatorRequest {
            key: self.group_id.clone(),
            key_type: KEY_TYPE_GROUP,
            coordinator_keys: vec![self.group_id.clone()],
        }
    }

    /// A FindCoordinator answer.
    pub(crate) fn handle_lookup(&mut self, resp: FindCoordinatorResponse, now: Instant) {
        let Some(c) = resp.coordinator_for(&self.group_id) else {
            self.lookup_failed(now);
            return;
        };
        let code = ErrorCode::from_i16(c.error_code);
        if code != ErrorCode::None {
            debug!("group {}: FindCoordinator: {code}", self.group_id);
            self.note_problem(format!("FindCoordinator answered {}", code.name()));
            self.lookup_failed(now);
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
            self.lookup_failed(now);
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
        self.coordinator = CoordinatorState::Known(node);
        // As Java does: a found coordinator restarts the session timer. Without this, a
        // member whose session ran out while the coordinator was unknown would mark the
        // new coordinator dead at once, forever.
        self.restart_session(now);
    }

    /// The lookup got no answer.
    pub(crate) fn lookup_failed(&mut self, now: Instant) {
        // One lookup at a time: with a coordinator known, this answer is a stale one.
        if !matches!(self.coordinator, CoordinatorState::Known(_)) {
            self.coordinator = CoordinatorState::Unknown {
                retry_at: Some(now + self.retry_backoff),
            };
        }
    }

    /// The coordinator is unreachable or no longer coordinates the group: forget it and
    /// look it up again. Requests in flight to it are failed by the caller.
    pub(crate) fn coordinator_dead(&mut self, now: Instant) {
        if let CoordinatorState::Known(c) = &self.coordinator {
            info!(
                "group {}: coordinator {} marked dead",
                self.group_id,
                c.address()
            );
            let problem = format!("lost the coordinator at {}", c.address());
            self.note_problem(problem);
        }
        // A lookup in flight finds the new coordinator; a second one would race it.
        if !matches!(self.coordinator, CoordinatorState::Looking) {
            self.coordinator = CoordinatorState::Unknown {
                retry_at: Some(now + self.retry_backoff),
            };
        }
        match &mut self.member {
            // The rebalance is lost with the coordinator: join afresh once it is found.
            Member::Joining { .. } | Member::AwaitingMetadata { .. } | Member::Syncing { .. } => {
                self.member = Member::Unjoined { retry_at: None };
            }
            // Still a member until the session runs out: a heartbeat lost with the
            // coordinator is sent again as soon as the next one is found.
            Member::Stable(stable) => {
                if stable.heartbeat == Heartbeat::InFlight {
                    stable.heartbeat = Heartbeat::Due(now);
                }
            }
            Member::Unjoined { .. } | Member::Left { .. } | Member::Failed(_) => {}
        }
        self.commits.coordinator_dead();
    }

    /// A request to the coordinator got no answer (disconnect, timeout).
    pub(crate) fn request_failed(
        &mut self,
        kind: GroupRequestKind,
        now: Instant,
        _ctx: &mut GroupCtx<'_>,
    ) {
        if matches!(kind, GroupRequestKind::Join | GroupRequestKind::Sync) {
            // A stable member whose JoinGroup or SyncGroup was lost still has to rejoin;
            // a rebalance in progress is ended by losing the coordinator.
            self.member.mark_rejoin();
        }
        self.coordinator_dead(now);
    }
}
