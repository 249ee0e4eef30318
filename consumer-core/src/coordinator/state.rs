//! What the member knows of its coordinator and where it stands in the group: one enum
//! each, whose variants carry what only that stage needs. What outlives the stages (the
//! generation, the partitions owned, the offsets) stays beside them in the coordinator.

use std::collections::BTreeMap;
use std::time::Instant;

use super::MemberState;
use crate::assignor::MemberSubscription;
use crate::event::ConsumerError;
use crate::metadata::Node;

/// What the member knows of the group coordinator.
#[derive(Debug, Clone)]
pub(super) enum CoordinatorState {
    /// Not known: looked up once `retry_at` (if any) has passed.
    Unknown { retry_at: Option<Instant> },
    /// A FindCoordinator is in flight; only one at a time.
    Looking,
    /// Group requests go to this node.
    Known(Node),
}

impl CoordinatorState {
    /// The coordinator node, if known.
    pub(super) fn node(&self) -> Option<&Node> {
        match self {
            Self::Known(node) => Some(node),
            Self::Unknown { .. } | Self::Looking => None,
        }
    }

    /// When the next lookup may go out, if one is waiting for a backoff.
    pub(super) fn retry_at(&self) -> Option<Instant> {
        match self {
            Self::Unknown { retry_at } => *retry_at,
            Self::Looking | Self::Known(_) => None,
        }
    }
}

/// Where the member stands in the group.
#[derive(Debug, Clone)]
pub(super) enum Member {
    /// In no generation: joins once subscribed, with the coordinator known and `retry_at`
    /// (a backoff after a failed join or sync) passed.
    Unjoined { retry_at: Option<Instant> },
    /// JoinGroup in flight, subscribing `topics`.
    Joining { topics: Vec<String> },
    /// Leader of a new generation: assigns once metadata knows every member's topics.
    AwaitingMetadata {
        pending: PendingLeaderSync,
        round: Round,
    },
    /// SyncGroup in flight.
    Syncing {
        round: Round,
        /// As leader: the partition count of each topic in the assignment sent (empty
        /// as follower).
        leader_counts: BTreeMap<String, i32>,
    },
    /// In the generation, with an assignment.
    Stable(Stable),
    /// Left the group (closed or unsubscribed): sends nothing until subscribed again,
    /// then joins once `retry_at` has passed.
    Left { retry_at: Option<Instant> },
    /// Refused for good by the coordinator: sends nothing, every poll reports the error.
    Failed(ConsumerError),
}

/// What a rebalance carries from the JoinGroup answer to the SyncGroup answer.
#[derive(Debug, Clone)]
pub(super) struct Round {
    /// The topics the JoinGroup subscribed. A subscription changed meanwhile was not
    /// part of this rebalance: the member joins again once assigned.
    pub(super) topics: Vec<String>,
    /// A rejoin asked for after the JoinGroup answer: it cannot interrupt the
    /// rebalance, so it is done once stable.
    pub(super) rejoin: bool,
}

/// A JoinGroup answer that made us leader, waiting for metadata of every member's topics.
#[derive(Debug, Clone)]
pub(super) struct PendingLeaderSync {
    /// The assignor the coordinator chose.
    pub(super) protocol: String,
    pub(super) members: Vec<MemberSubscription>,
    /// When the answer came: past half the rebalance timeout, the leader assigns with
    /// what metadata it has rather than let the rebalance time out.
    pub(super) since: Instant,
    /// The metadata update count when the answer came; the leader assigns on a later one.
    pub(super) metadata_seen: u64,
}

/// A member of the current generation.
#[derive(Debug, Clone)]
pub(super) struct Stable {
    pub(super) heartbeat: Heartbeat,
    /// The last sign that the group still has us (a heartbeat answer, the assignment,
    /// a coordinator found): a whole session without one means the coordinator is gone.
    pub(super) last_heartbeat_ok: Instant,
    /// As leader: the partition count of each topic in the assignment made, to rebalance
    /// when one changes; empty as follower, and once a change was seen.
    pub(super) leader_counts: BTreeMap<String, i32>,
    /// A rejoin was asked for. The member keeps heartbeating until its JoinGroup goes
    /// out, which may take rounds (a commit, the revocation reaching the caller).
    pub(super) rejoin: bool,
}

/// The heartbeat timer of a stable member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Heartbeat {
    /// The next heartbeat goes out at this time.
    Due(Instant),
    /// A heartbeat is in flight; its answer (or failure) sets the next time.
    InFlight,
}

impl Member {
    /// The summary the public API reports.
    pub(super) fn summary(&self) -> MemberState {
        match self {
            Self::Unjoined { .. } | Self::Left { .. } | Self::Failed(_) => MemberState::Unjoined,
            Self::Joining { .. } => MemberState::Joining,
            Self::AwaitingMetadata { .. } | Self::Syncing { .. } => MemberState::Syncing,
            Self::Stable(_) => MemberState::Stable,
        }
    }

    /// A name for logs.
    pub(super) fn name(&self) -> &'static str {
        match self {
            Self::Unjoined { .. } => "unjoined",
            Self::Joining { .. } => "joining",
            Self::AwaitingMetadata { .. } => "awaiting metadata",
            Self::Syncing { .. } => "syncing",
            Self::Stable(_) => "stable",
            Self::Left { .. } => "left",
            Self::Failed(_) => "failed",
        }
    }

    /// True while the member is to (re)join: out of the group, joining, or asked to
    /// rejoin. A failed member never joins again.
    pub(super) fn rejoin_pending(&self) -> bool {
        match self {
            Self::Unjoined { .. } | Self::Joining { .. } | Self::Left { .. } => true,
            Self::AwaitingMetadata { round, .. } | Self::Syncing { round, .. } => round.rejoin,
            Self::Stable(s) => s.rejoin,
            Self::Failed(_) => false,
        }
    }

    /// Asks for a rejoin. Out of the group the member joins anyway, and a JoinGroup in
    /// flight is the rejoin asked for (a subscription changed meanwhile is caught once
    /// assigned), so only a member past its JoinGroup answer keeps the request.
    pub(super) fn mark_rejoin(&mut self) {
        match self {
            Self::AwaitingMetadata { round, .. } | Self::Syncing { round, .. } => {
                round.rejoin = true;
            }
            Self::Stable(s) => s.rejoin = true,
            Self::Unjoined { .. } | Self::Joining { .. } | Self::Left { .. } | Self::Failed(_) => {}
        }
    }

    /// Moves the member out to build its next stage from it, leaving `Unjoined` behind.
    pub(super) fn take(&mut self) -> Self {
        std::mem::replace(self, Self::Unjoined { retry_at: None })
    }

    /// The member's generation is gone (unknown member, poll interval exceeded, left):
    /// a rebalance in progress ends and a stable member drops out. Out of the group it
    /// keeps its backoff; left or failed, it stays so.
    pub(super) fn reset(&mut self) {
        match self {
            Self::Joining { .. }
            | Self::AwaitingMetadata { .. }
            | Self::Syncing { .. }
            | Self::Stable(_) => *self = Self::Unjoined { retry_at: None },
            Self::Unjoined { .. } | Self::Left { .. } | Self::Failed(_) => {}
        }
    }
}
