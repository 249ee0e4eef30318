//! Staying in the generation: heartbeats.

use std::time::Instant;

use log::warn;

use super::{GroupCoordinator, GroupCtx};
use crate::codec::messages::HeartbeatResponse;
use crate::error_code::ErrorCode;

impl GroupCoordinator {
    /// A Heartbeat answer.
    pub fn handle_heartbeat(
        &mut self,
        resp: HeartbeatResponse,
        now: Instant,
        ctx: &mut GroupCtx<'_>,
    ) {
        self.heartbeat_in_flight = false;
        self.next_heartbeat = Some(now + self.heartbeat_interval);
        let code = ErrorCode::from_i16(resp.error_code);
        match code {
            ErrorCode::None => self.last_heartbeat_ok = Some(now),
            ErrorCode::RebalanceInProgress => {
                self.last_heartbeat_ok = Some(now);
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
            code if code.is_retriable() => {
                self.next_heartbeat = Some(now + self.retry_backoff);
            }
            code => {
                warn!("group {}: heartbeat: {code}", self.group_id);
                self.set_fatal("Heartbeat", code);
            }
        }
    }
}
