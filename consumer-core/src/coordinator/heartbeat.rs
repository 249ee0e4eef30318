//! Staying in the generation: heartbeats and the session timeout.

use std::time::Instant;

use log::warn;

use super::state::{Heartbeat, Member};
use super::{ConsumerCoordinator, GroupCtx, GroupRequest};
use crate::codec::messages::{HeartbeatRequest, HeartbeatResponse};
use crate::error_code::ErrorCode;

impl ConsumerCoordinator {
    /// True once a stable member went a whole session without a sign that the group
    /// still has it: the coordinator is gone (or threw us out).
    pub(super) fn session_expired(&self, now: Instant) -> bool {
        matches!(&self.member, Member::Stable(s)
            if now >= s.last_heartbeat_ok + self.session_timeout)
    }

    /// The heartbeat to send now, if one is due.
    pub(super) fn heartbeat_request(&mut self, now: Instant) -> Option<GroupRequest> {
        let Member::Stable(stable) = &mut self.member else {
            return None;
        };
        if !matches!(stable.heartbeat, Heartbeat::Due(at) if now >= at) {
            return None;
        }
        stable.heartbeat = Heartbeat::InFlight;
        Some(GroupRequest::Heartbeat(HeartbeatRequest {
            group_id: self.group_id.clone(),
            generation_id: self.generation.generation_id,
            member_id: self.generation.member_id.clone(),
            group_instance_id: self.instance_id.clone(),
        }))
    }

    /// A Heartbeat answer. It may come after the member moved on (its JoinGroup went out
    /// behind the heartbeat): what it says of the membership still holds.
    pub(crate) fn handle_heartbeat(
        &mut self,
        resp: HeartbeatResponse,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) {
        self.set_next_heartbeat(now + self.heartbeat_interval);
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => self.restart_session(now),
            ErrorCode::RebalanceInProgress => {
                self.restart_session(now);
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
            code if code.is_retriable() => self.set_next_heartbeat(now + self.retry_backoff),
            code => {
                warn!("group {}: heartbeat: {code}", self.group_id);
                self.set_fatal("Heartbeat", code);
            }
        }
    }

    /// A stable member's next heartbeat goes out at `at` (whether or not one was in
    /// flight).
    pub(super) fn set_next_heartbeat(&mut self, at: Instant) {
        if let Member::Stable(stable) = &mut self.member {
            stable.heartbeat = Heartbeat::Due(at);
        }
    }

    /// A sign that the group still has a stable member (or a coordinator found, as Java
    /// does): its session restarts.
    pub(super) fn restart_session(&mut self, now: Instant) {
        if let Member::Stable(stable) = &mut self.member {
            stable.last_heartbeat_ok = now;
        }
    }
}
