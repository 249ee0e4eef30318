//! Consumer metrics: cheap counters kept where the work happens, and the snapshot
//! [`Consumer::metrics`](crate::Consumer::metrics) builds from them.
//!
//! Counting costs a few additions per batch of records handed out, per fetch and per
//! commit or rebalance: per-partition counters live in each partition's
//! [`PartitionState`] (no second map), totals in the consumer, commit counters with the
//! group's commits and rebalance counters with the group member. Only the snapshot
//! allocates.

use std::time::{Duration, Instant};

use crate::config::IsolationLevel;
use crate::subscription::{Consumed, PartitionState, SubscriptionState};
use crate::topic_partition::TopicPartition;

/// The lag of a partition: from its position to the end of its log as last seen in a
/// fetch answer (the high watermark, or the last stable offset under `read_committed`).
/// None while either is unknown, or while a reset of the position is pending.
pub(crate) fn lag(state: &PartitionState, isolation: IsolationLevel) -> Option<i64> {
    let position = state.position.filter(|_| state.reset.is_none())?;
    state.end_offset(isolation).map(|end| end - position.offset)
}

/// The totals of a consumer's life.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) consumed: Consumed,
    fetches_sent: u64,
    fetches_completed: u64,
    fetches_failed: u64,
    latency_last: Duration,
    latency_total: Duration,
    latency_max: Duration,
}

impl Counters {
    /// A fetch was handed to the driver.
    pub(crate) fn fetch_sent(&mut self) {
        self.fetches_sent += 1;
    }

    /// A fetch sent at `sent` was answered at `now`.
    pub(crate) fn fetch_completed(&mut self, sent: Instant, now: Instant) {
        let latency = now.saturating_duration_since(sent);
        self.fetches_completed += 1;
        self.latency_last = latency;
        self.latency_total = self.latency_total.saturating_add(latency);
        self.latency_max = self.latency_max.max(latency);
    }

    /// A fetch sent ended without an answer (lost connection, timeout, malformed, closed).
    pub(crate) fn fetch_failed(&mut self) {
        self.fetches_failed += 1;
    }

    fn fetch_metrics(&self) -> FetchMetrics {
        let answered = self.fetches_completed > 0;
        let average = answered.then(|| {
            let nanos = self.latency_total.as_nanos() / u128::from(self.fetches_completed);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        });
        FetchMetrics {
            requests_sent: self.fetches_sent,
            responses: self.fetches_completed,
            failed: self.fetches_failed,
            latency_last: answered.then_some(self.latency_last),
            latency_avg: average,
            latency_max: answered.then_some(self.latency_max),
        }
    }
}

/// The group member's rebalances.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RebalanceCounters {
    assignments: u64,
    revocations: u64,
    losses: u64,
    last_assignment: Option<Instant>,
}

impl RebalanceCounters {
    /// A rebalance completed at `now` with an assignment for this member.
    pub(crate) fn assigned(&mut self, now: Instant) {
        self.assignments += 1;
        self.last_assignment = Some(now);
    }

    /// Partitions were revoked (a `PartitionsRevoked` event).
    pub(crate) fn revoked(&mut self) {
        self.revocations += 1;
    }

    /// Partitions were lost (a `PartitionsLost` event).
    pub(crate) fn lost(&mut self) {
        self.losses += 1;
    }

    fn metrics(&self) -> RebalanceMetrics {
        RebalanceMetrics {
            assignments: self.assignments,
            revocations: self.revocations,
            losses: self.losses,
            last_assignment: self.last_assignment,
        }
    }
}

/// The group's commits.
#[derive(Debug, Clone, Default)]
pub(crate) struct CommitCounters {
    succeeded: u64,
    failed: u64,
    last_error: Option<String>,
}

impl CommitCounters {
    /// A commit succeeded.
    pub(crate) fn succeeded(&mut self) {
        self.succeeded += 1;
    }

    /// A commit failed with `error`.
    pub(crate) fn failed(&mut self, error: impl std::fmt::Display) {
        self.failed += 1;
        self.last_error = Some(error.to_string());
    }

    fn metrics(&self) -> CommitMetrics {
        CommitMetrics {
            succeeded: self.succeeded,
            failed: self.failed,
            last_error: self.last_error.clone(),
        }
    }
}

/// The snapshot of [`Consumer::metrics`](crate::Consumer::metrics).
pub(crate) fn snapshot(
    subs: &SubscriptionState,
    isolation: IsolationLevel,
    counters: &Counters,
    rebalances: Option<&RebalanceCounters>,
    commits: Option<&CommitCounters>,
) -> ConsumerMetrics {
    let partitions = subs
        .iter()
        .map(|(tp, s)| PartitionMetrics {
            tp: tp.clone(),
            position: s.position.filter(|_| s.reset.is_none()).map(|p| p.offset),
            end_offset: s.end_offset(isolation),
            lag: lag(s, isolation),
            records_consumed: s.consumed.records,
            bytes_consumed: s.consumed.bytes,
            paused: s.paused,
        })
        .collect();
    ConsumerMetrics {
        partitions,
        records_consumed: counters.consumed.records,
        bytes_consumed: counters.consumed.bytes,
        fetch: counters.fetch_metrics(),
        rebalances: rebalances.copied().unwrap_or_default().metrics(),
        commits: commits.map(CommitCounters::metrics).unwrap_or_default(),
    }
}

/// A snapshot of a consumer's metrics, from [`Consumer::metrics`](crate::Consumer::metrics).
///
/// Totals count over the consumer's life; per-partition counts since the partition was
/// last assigned (an eager rebalance or an `assign` without it starts them over).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerMetrics {
    /// Each assigned partition, in assignment order.
    pub partitions: Vec<PartitionMetrics>,
    /// Records handed to the caller by `poll_records`.
    pub records_consumed: u64,
    /// Key and value bytes of those records (headers not counted).
    pub bytes_consumed: u64,
    /// Fetch requests and their latency.
    pub fetch: FetchMetrics,
    /// The group member's rebalances (all zero without a group subscription).
    pub rebalances: RebalanceMetrics,
    /// The group's commits (all zero without `group.id`).
    pub commits: CommitMetrics,
}

impl ConsumerMetrics {
    /// The sum of the partitions' lags; None while the lag of any assigned partition is
    /// unknown, or while nothing is assigned.
    pub fn total_lag(&self) -> Option<i64> {
        if self.partitions.is_empty() {
            return None;
        }
        self.partitions.iter().map(|p| p.lag).sum()
    }
}

/// One assigned partition in [`ConsumerMetrics`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionMetrics {
    /// The partition.
    pub tp: TopicPartition,
    /// The offset of the next record to hand out; None while it is being looked up.
    pub position: Option<i64>,
    /// The end of the log as last seen in a fetch answer: the high watermark
    /// (`read_uncommitted`) or the last stable offset (`read_committed`); None before the
    /// first answer.
    pub end_offset: Option<i64>,
    /// `end_offset - position`, as [`Consumer::current_lag`](crate::Consumer::current_lag).
    pub lag: Option<i64>,
    /// Records of this partition handed to the caller.
    pub records_consumed: u64,
    /// Their key and value bytes.
    pub bytes_consumed: u64,
    /// Paused by the caller.
    pub paused: bool,
}

/// Fetch requests in [`ConsumerMetrics`]. Latency runs from the moment `poll_transmit`
/// handed a fetch out to the `handle_response` of its answer (the driver's `now`s), so
/// it includes a long poll's wait (up to `fetch.max.wait.ms`). No histogram: the last,
/// the mean and the maximum over the consumer's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchMetrics {
    /// Fetches handed to the driver (the final fetches closing sessions not counted).
    pub requests_sent: u64,
    /// Fetches answered (whatever the answer's error codes).
    pub responses: u64,
    /// Fetches sent that ended without an answer (lost connection, request timeout,
    /// malformed answer, consumer closed). `requests_sent - responses - failed` are in
    /// flight.
    pub failed: u64,
    /// The latency of the last answered fetch.
    pub latency_last: Option<Duration>,
    /// The mean latency of answered fetches.
    pub latency_avg: Option<Duration>,
    /// The highest latency of an answered fetch.
    pub latency_max: Option<Duration>,
}

/// Rebalances in [`ConsumerMetrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RebalanceMetrics {
    /// Rebalances completed with an assignment for this member (each SyncGroup answer
    /// that gave one, possibly empty): Java's `rebalance-total`.
    pub assignments: u64,
    /// Revocations reported ([`Event::PartitionsRevoked`](crate::Event::PartitionsRevoked)),
    /// including those of `unsubscribe` and `close`.
    pub revocations: u64,
    /// Losses reported ([`Event::PartitionsLost`](crate::Event::PartitionsLost)).
    pub losses: u64,
    /// When the last rebalance completed (the `now` of its SyncGroup answer).
    pub last_assignment: Option<Instant>,
}

/// Offset commits in [`ConsumerMetrics`], the automatic ones included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommitMetrics {
    /// OffsetCommit requests answered without error.
    pub succeeded: u64,
    /// Commits that failed: each OffsetCommit that got an error or no answer (a retried
    /// commit counts each failed attempt), and each of the caller's commits failed
    /// without being sent (the group rebalanced, or the member left).
    pub failed: u64,
    /// The text of the last failure.
    pub last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_partition::FetchPosition;

    fn state(position: Option<i64>, hw: Option<i64>, lso: Option<i64>) -> PartitionState {
        PartitionState {
            position: position.map(FetchPosition::at),
            high_watermark: hw,
            last_stable_offset: lso,
            ..PartitionState::default()
        }
    }

    #[test]
    fn lag_is_from_the_position_to_the_end_for_the_isolation_level() {
        let s = state(Some(3), Some(10), Some(8));
        assert_eq!(lag(&s, IsolationLevel::ReadUncommitted), Some(7));
        assert_eq!(lag(&s, IsolationLevel::ReadCommitted), Some(5));
        let no_lso = state(Some(3), Some(10), None);
        assert_eq!(lag(&no_lso, IsolationLevel::ReadCommitted), None);
        assert_eq!(
            lag(
                &state(None, Some(10), None),
                IsolationLevel::ReadUncommitted
            ),
            None
        );
        assert_eq!(
            lag(&state(Some(3), None, None), IsolationLevel::ReadUncommitted),
            None
        );
    }

    #[test]
    fn fetch_latency_summary() {
        let mut c = Counters::default();
        assert_eq!(c.fetch_metrics().latency_avg, None);
        let t0 = Instant::now();
        c.fetch_sent();
        c.fetch_sent();
        c.fetch_sent();
        c.fetch_completed(t0, t0 + Duration::from_millis(30));
        c.fetch_completed(t0, t0 + Duration::from_millis(10));
        c.fetch_failed();
        let f = c.fetch_metrics();
        assert_eq!((f.requests_sent, f.responses, f.failed), (3, 2, 1));
        assert_eq!(f.latency_last, Some(Duration::from_millis(10)));
        assert_eq!(f.latency_avg, Some(Duration::from_millis(20)));
        assert_eq!(f.latency_max, Some(Duration::from_millis(30)));
    }

    #[test]
    fn total_lag_needs_every_partition() {
        let p = |lag| PartitionMetrics {
            tp: TopicPartition::new("t", 0),
            position: None,
            end_offset: None,
            lag,
            records_consumed: 0,
            bytes_consumed: 0,
            paused: false,
        };
        let mut m = ConsumerMetrics::default();
        assert_eq!(m.total_lag(), None);
        m.partitions = vec![p(Some(2)), p(Some(3))];
        assert_eq!(m.total_lag(), Some(5));
        m.partitions.push(p(None));
        assert_eq!(m.total_lag(), None);
    }
}
