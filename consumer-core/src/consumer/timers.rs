//! The consumer's timer table: armed from each subsystem's deadlines, fired by
//! [`Consumer::handle_timeout`]. See [`crate::timer`].

use std::time::Instant;

use log::trace;

use super::Consumer;
use crate::timer::Timer;

impl Consumer {
    /// Re-arms every timer from the deadlines the subsystems hold now, keeping only
    /// those after `after` (the last input's time: earlier work is done by the next
    /// `poll_transmit`, or waits for an event, not for time).
    pub(super) fn arm_timers(&mut self, after: Option<Instant>) {
        self.timers_after = after;
        let mut deadlines: Vec<(Timer, Instant)> = Vec::new();
        let mut add = |timer: Timer, at: &mut dyn Iterator<Item = Instant>| {
            deadlines.extend(at.map(|at| (timer, at)));
        };
        add(
            Timer::MetadataRefresh,
            &mut self.metadata.next_update().into_iter(),
        );
        add(Timer::ResetRetry, &mut self.subs.reset_attempts());
        add(Timer::LookupRetry, &mut self.offsets.retry_times());
        add(Timer::FetchBackoff, &mut self.fetcher.backoff_ends());
        add(Timer::Close, &mut self.close_deadline().into_iter());
        add(Timer::Reauthenticate, &mut self.nodes.renewal_times());
        add(Timer::NodeBackoff, &mut self.nodes.backoff_ends());
        add(
            Timer::ValidationRetry,
            &mut crate::validation::Validator::retry_times(&self.subs),
        );
        add(
            Timer::AuthenticationRetry,
            &mut self.nodes.authentication_retry_times(),
        );
        if let Some(g) = &self.group {
            deadlines.extend(g.timers());
        }
        for timer in Timer::ALL {
            let at = deadlines
                .iter()
                .filter(|(t, _)| *t == timer)
                .map(|(_, at)| *at);
            self.timers.arm_after(timer, at, after);
        }
    }

    /// Fires the timers due at `now` and does their work: the requests that became due
    /// (a metadata refresh, a heartbeat, a retry, an auto-commit, a rejoin) are queued
    /// for `poll_transmit`, an expired session marks the coordinator dead, a leader that
    /// waited long enough for metadata assigns, and the close sequence moves on.
    pub(super) fn fire_timers(&mut self, now: Instant) {
        let fired = self.timers.expire(now);
        if fired.is_empty() {
            return;
        }
        trace!("timers fired: {fired:?}");
        // (`handle_timeout` moved the close sequence on already, fired or not.)
        if !self.is_closed() {
            self.prepare(now);
        }
    }
}
