//! The consumer's timers, by name.
//!
//! Every deadline of the core is one of the [`Timer`]s below. The subsystems keep the
//! instants that belong to their state (a heartbeat is due in the stable member, a
//! retry time in the lookup that failed); the [`TimerTable`] holds, for each timer, the
//! earliest of them still ahead. [`Consumer::poll_timeout`](crate::consumer::Consumer::poll_timeout)
//! is the earliest armed timer, and
//! [`Consumer::handle_timeout`](crate::consumer::Consumer::handle_timeout) fires the ones
//! that expired and does their work.
//!
//! A deadline at or before the last input is never armed: its work is done by the
//! next `poll_transmit` at the latest, and one that cannot be done yet (a commit retry
//! waiting for a coordinator) waits for the event that unblocks it, not for time, so it
//! must not keep waking the driver.

use std::time::Instant;

/// A named timer of the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// `metadata.max.age.ms` since the last refresh, or the end of a failed refresh's
    /// backoff.
    MetadataRefresh,
    /// The next attempt of a position reset (ListOffsets) that failed.
    ResetRetry,
    /// The next attempt of a caller's offset lookup that failed.
    LookupRetry,
    /// The end of a partition's fetch backoff (a corrupt batch, or an error a refetch
    /// at once cannot fix).
    FetchBackoff,
    /// The end of the coordinator lookup's backoff.
    CoordinatorLookup,
    /// The end of the backoff before (re)joining the group.
    JoinBackoff,
    /// The next heartbeat.
    Heartbeat,
    /// `session.timeout.ms` without a successful heartbeat.
    SessionTimeout,
    /// The group leader stops waiting for its members' topic metadata and assigns.
    LeaderAssignment,
    /// The retry of a commit or committed-offset lookup.
    CommitRetry,
    /// `auto.commit.interval.ms`.
    AutoCommit,
    /// The end of the close step under way.
    Close,
    /// A connection's SASL session nears its end (KIP-368): it takes no new request and
    /// authenticates again once the answers to earlier ones are in.
    Reauthenticate,
    /// The end of the backoff after a failed authentication.
    AuthenticationRetry,
    /// The end of a node's backoff after its connection was lost: a broker chosen for a
    /// metadata or coordinator lookup may be that node again (with one broker, the only
    /// one).
    NodeBackoff,
    /// The next attempt of a position validation (OffsetForLeaderEpoch, KIP-320) that
    /// failed or was backed off.
    ValidationRetry,
}

impl Timer {
    /// Every timer.
    pub const ALL: [Timer; 16] = [
        Timer::MetadataRefresh,
        Timer::ResetRetry,
        Timer::LookupRetry,
        Timer::FetchBackoff,
        Timer::CoordinatorLookup,
        Timer::JoinBackoff,
        Timer::Heartbeat,
        Timer::SessionTimeout,
        Timer::LeaderAssignment,
        Timer::CommitRetry,
        Timer::AutoCommit,
        Timer::Close,
        Timer::Reauthenticate,
        Timer::AuthenticationRetry,
        Timer::NodeBackoff,
        Timer::ValidationRetry,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One slot per [`Timer`]: when it next fires, if armed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    slots: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    /// Arms `timer` at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.slots[timer.index()] = Some(at);
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.slots[timer.index()] = None;
    }

    /// When `timer` fires, if armed.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.slots[timer.index()]
    }

    /// Arms `timer` at the earliest of `deadlines` after `after` (all of them when
    /// `after` is None), or disarms it when there is none.
    pub(crate) fn arm_after(
        &mut self,
        timer: Timer,
        deadlines: impl IntoIterator<Item = Instant>,
        after: Option<Instant>,
    ) {
        let next = deadlines
            .into_iter()
            .filter(|t| after.is_none_or(|a| *t > a))
            .min();
        match next {
            Some(at) => self.set(timer, at),
            None => self.stop(timer),
        }
    }

    /// The earliest armed timer.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.slots.iter().flatten().min().copied()
    }

    /// Disarms and returns the timers due at `now`, in [`Timer`] order.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<Timer> {
        let mut fired = Vec::new();
        for timer in Timer::ALL {
            if self.get(timer).is_some_and(|at| at <= now) {
                self.stop(timer);
                fired.push(timer);
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn next_timeout_is_the_earliest_armed_timer() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        assert_eq!(table.next_timeout(), None);
        table.set(Timer::Heartbeat, t0 + Duration::from_secs(3));
        table.set(Timer::MetadataRefresh, t0 + Duration::from_secs(1));
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(1)));
        table.stop(Timer::MetadataRefresh);
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn expire_fires_only_what_is_due_and_disarms_it() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::Heartbeat, t0 + Duration::from_secs(3));
        table.set(Timer::CommitRetry, t0 + Duration::from_secs(1));
        table.set(Timer::AutoCommit, t0 + Duration::from_secs(1));
        assert!(table.expire(t0).is_empty());
        assert_eq!(
            table.expire(t0 + Duration::from_secs(1)),
            vec![Timer::CommitRetry, Timer::AutoCommit]
        );
        assert_eq!(table.next_timeout(), Some(t0 + Duration::from_secs(3)));
        assert!(table.expire(t0 + Duration::from_secs(2)).is_empty());
    }

    #[test]
    fn a_deadline_not_after_the_last_input_is_never_armed() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        let stale = t0;
        let ahead = t0 + Duration::from_secs(5);
        // A stale retry time does not hide a later deadline behind it.
        table.arm_after(Timer::ResetRetry, [stale, ahead], Some(t0));
        assert_eq!(table.get(Timer::ResetRetry), Some(ahead));
        table.arm_after(Timer::ResetRetry, [stale], Some(t0));
        assert_eq!(table.get(Timer::ResetRetry), None);
        // Before any input, every deadline counts.
        table.arm_after(Timer::ResetRetry, [stale], None);
        assert_eq!(table.get(Timer::ResetRetry), Some(stale));
    }
}
