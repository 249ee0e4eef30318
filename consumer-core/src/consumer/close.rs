//! Closing, as one sequence with a deadline: the final commit (with auto-commit), the
//! revocation of the member's partitions, LeaveGroup, and the closing of the fetch
//! sessions brokers hold. The driver only drives it: it calls
//! [`Consumer::begin_close`], then keeps sending, feeding answers and draining events
//! until [`Consumer::is_closed`].
//!
//! ```text
//!  begin_close ──► Committing ──► Revoking ──► Leaving ──► Sessions ──► Closed
//!   (no group) ─────────────────────────────────────────────────►┘
//! ```
//! Each step ends when its requests are answered (or fail), or at the deadline, after
//! which the remaining steps are skipped and pending requests are cancelled. The
//! session closes are a courtesy to the brokers (their sessions expire anyway) and get
//! at most [`SESSION_CLOSE_WAIT`] of what is left.

use std::time::{Duration, Instant};

use log::{debug, info, warn};

use super::Consumer;
use crate::event::{ConsumerError, Event, RequestId};

/// The longest the fetch-session closes are waited for.
pub(crate) const SESSION_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A step of the close sequence that can fail or run out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseStep {
    /// The final commit of the consumed positions (auto-commit).
    Commit,
    /// The revocation of the member's partitions (and the commits its listener makes).
    Revocation,
    /// Leaving the group (LeaveGroup).
    LeaveGroup,
}

impl std::fmt::Display for CloseStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CloseStep::Commit => "the final commit",
            CloseStep::Revocation => "the revocation of the partitions",
            CloseStep::LeaveGroup => "leaving the group",
        })
    }
}

/// What the close sequence could not do; see [`Consumer::close_failures`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseFailure {
    /// The final commit of the consumed positions failed.
    #[error("the final commit failed: {0}")]
    Commit(ConsumerError),
    /// The close timeout passed before this step finished; the steps after it were
    /// skipped.
    #[error("the close timeout passed during {0}")]
    TimedOut(CloseStep),
}

/// What the close sequence keeps of its own progress, for its report.
#[derive(Debug, Default)]
pub(super) struct CloseReport {
    /// The final commit's id, to recognise its answer.
    pub(super) commit: Option<RequestId>,
    /// What failed, in order.
    pub(super) failures: Vec<CloseFailure>,
}

impl CloseReport {
    /// Notes the final commit's outcome when `event` is its answer.
    pub(super) fn observe(&mut self, event: &Event) {
        if let Event::CommitCompleted {
            id, result: Err(e), ..
        } = event
        {
            if self.commit == Some(*id) {
                self.failures.push(CloseFailure::Commit(e.clone()));
            }
        }
    }
}

/// Where the close sequence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closing {
    /// Not closing.
    Open,
    /// With auto-commit: the consumed positions are being committed.
    Committing { deadline: Instant },
    /// The revocation was reported; waiting for the driver to take it (and for the
    /// commits its listener makes).
    Revoking { deadline: Instant },
    /// LeaveGroup sent; waiting for it and for the commits still pending.
    Leaving { deadline: Instant },
    /// The fetch sessions are being closed, until `until`.
    Sessions { until: Instant },
    /// Done: nothing is sent any more.
    Closed,
}

impl Consumer {
    /// Starts closing, to be finished within `timeout`: a group member with auto-commit
    /// commits what was handed out, reports the revocation of its partitions (as
    /// [`Event::PartitionsRevoked`], while they are still assigned, so a listener can
    /// commit), and leaves the group; then the fetch sessions are closed. The driver
    /// keeps driving the consumer until [`is_closed`](Self::is_closed).
    pub fn begin_close(&mut self, now: Instant, timeout: Duration) {
        if self.closing != Closing::Open {
            return;
        }
        self.observe(now);
        let deadline = now + timeout;
        let member = self
            .group
            .as_ref()
            .is_some_and(|g| g.generation().is_valid() || !self.subs.is_empty());
        self.closing = if self.group.is_none() {
            self.sessions_step(now, deadline)
        } else if member && self.config.enable_auto_commit {
            let offsets = self.consumed_offsets();
            if !offsets.is_empty() {
                if let Some(g) = self.group.as_mut() {
                    debug!("close: committing {} positions", offsets.len());
                    self.close_report.commit = Some(g.commit(offsets));
                }
            }
            Closing::Committing { deadline }
        } else {
            self.revoke_step(deadline)
        };
    }

    /// True once the close sequence is over (or [`close`](Self::close) was called).
    pub fn is_closed(&self) -> bool {
        self.closing == Closing::Closed
    }

    /// What the close sequence could not do (a failed final commit, a step cut short by
    /// the close timeout); empty while it has not started or when everything went well.
    pub fn close_failures(&self) -> &[CloseFailure] {
        &self.close_report.failures
    }

    /// The deadline of the close step under way, for `poll_timeout`.
    pub(super) fn close_deadline(&self) -> Option<Instant> {
        match self.closing {
            Closing::Committing { deadline }
            | Closing::Revoking { deadline }
            | Closing::Leaving { deadline } => Some(deadline),
            Closing::Sessions { until } => Some(until),
            Closing::Open | Closing::Closed => None,
        }
    }

    /// Moves the close sequence on as far as it can go at `now`.
    pub(super) fn advance_close(&mut self, now: Instant) {
        loop {
            let next = match self.closing {
                Closing::Open | Closing::Closed => return,
                Closing::Committing { deadline } => {
                    if self.has_pending_group_requests() {
                        if now < deadline {
                            return;
                        }
                        self.timed_out(CloseStep::Commit);
                    }
                    self.revoke_step(deadline)
                }
                Closing::Revoking { deadline } => {
                    let told = !self
                        .events
                        .iter()
                        .any(|e| matches!(e, Event::PartitionsRevoked(_)));
                    if !told || self.has_pending_group_requests() {
                        if now < deadline {
                            return;
                        }
                        self.timed_out(CloseStep::Revocation);
                    }
                    self.leave_group(now);
                    Closing::Leaving { deadline }
                }
                Closing::Leaving { deadline } => {
                    if self.has_pending_group_requests() {
                        if now < deadline {
                            return;
                        }
                        self.timed_out(CloseStep::LeaveGroup);
                    }
                    self.sessions_step(now, deadline)
                }
                Closing::Sessions { until } => {
                    if now < until && self.has_pending_session_closes() {
                        return;
                    }
                    info!("consumer closed");
                    self.close();
                    Closing::Closed
                }
            };
            self.closing = next;
        }
    }

    fn timed_out(&mut self, step: CloseStep) {
        warn!("close: the close timeout passed during {step}; skipping the rest");
        self.close_report
            .failures
            .push(CloseFailure::TimedOut(step));
    }

    /// Reports the revocation of the member's partitions, if it has any.
    fn revoke_step(&mut self, deadline: Instant) -> Closing {
        let owned = self
            .group
            .as_ref()
            .map(|g| g.owned().to_vec())
            .unwrap_or_default();
        if !owned.is_empty() {
            if let Some(g) = self.group.as_mut() {
                g.rebalances.revoked();
            }
            self.events.push_back(Event::PartitionsRevoked(owned));
        }
        Closing::Revoking { deadline }
    }

    /// Starts closing the fetch sessions.
    fn sessions_step(&mut self, now: Instant, deadline: Instant) -> Closing {
        self.close_fetch_sessions();
        Closing::Sessions {
            until: deadline.min(now + SESSION_CLOSE_WAIT),
        }
    }
}
