//! The consumer's named timers; `poll_timeout` is the earliest of them.

use std::time::Instant;

/// A named deadline of the consumer core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The next metadata refresh (max age, or the end of a refresh backoff).
    MetadataRefresh,
    /// The retry of a backed-off offset reset.
    ResetRetry,
    /// A node that failed may be used again.
    NodeBackoff,
    /// The next heartbeat to the group coordinator.
    Heartbeat,
    /// The group session expires without a heartbeat answer.
    Session,
    /// The caller must poll again before this, or the member leaves the group.
    MaxPollInterval,
    /// The next automatic commit.
    AutoCommit,
    /// A group request may be retried (coordinator lookup, join, commit).
    GroupRetry,
}

const COUNT: usize = 8;

impl Timer {
    const ALL: [Timer; COUNT] = [
        Timer::MetadataRefresh,
        Timer::ResetRetry,
        Timer::NodeBackoff,
        Timer::Heartbeat,
        Timer::Session,
        Timer::MaxPollInterval,
        Timer::AutoCommit,
        Timer::GroupRetry,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// A deadline for each [`Timer`], unset by default.
#[derive(Debug, Clone, Default)]
pub struct TimerTable {
    deadlines: [Option<Instant>; COUNT],
}

impl TimerTable {
    /// Sets `timer` to fire at `at`.
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Sets or clears `timer`.
    pub fn set_opt(&mut self, timer: Timer, at: Option<Instant>) {
        self.deadlines[timer.index()] = at;
    }

    /// Clears `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// The deadline of `timer`, if set.
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// True if `timer` is set and `now` has reached it.
    pub fn is_expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The earliest deadline, and which timer it belongs to.
    pub fn next_timeout(&self) -> Option<(Timer, Instant)> {
        Timer::ALL
            .iter()
            .filter_map(|t| self.get(*t).map(|at| (*t, at)))
            .min_by_key(|(_, at)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_wins() {
        let t0 = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next_timeout(), None);
        t.set(Timer::Heartbeat, t0 + Duration::from_secs(3));
        t.set(Timer::MetadataRefresh, t0 + Duration::from_secs(1));
        assert_eq!(
            t.next_timeout(),
            Some((Timer::MetadataRefresh, t0 + Duration::from_secs(1)))
        );
        t.stop(Timer::MetadataRefresh);
        assert_eq!(t.next_timeout().map(|x| x.0), Some(Timer::Heartbeat));
        assert!(t.is_expired(Timer::Heartbeat, t0 + Duration::from_secs(3)));
        assert!(!t.is_expired(Timer::Session, t0 + Duration::from_secs(3)));
    }
}
