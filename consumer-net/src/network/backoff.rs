//! Per-node reconnect backoff: exponential with ±20 % jitter, like Kafka's `ExponentialBackoff`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::NodeId;

/// Relative jitter applied to every backoff, so clients do not reconnect in lockstep.
const JITTER: f64 = 0.2;

/// Tiny xorshift64* generator. Jitter only has to decorrelate clients, not be unpredictable.
#[derive(Debug, Clone)]
pub(crate) struct XorShift(u64);

impl XorShift {
    /// Seeds from the node id, a process-wide counter and the wall clock.
    pub(crate) fn seeded(node: NodeId) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        let clock = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = splitmix64(clock ^ splitmix64(count ^ (u64::from(node as u32) << 32)));
        // xorshift never leaves zero, so avoid that state.
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, 1)`.
    fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `base * 2^attempts`, capped at `max` (or at `base` when `base > max`, as Kafka does).
pub(crate) fn exponential(base: Duration, max: Duration, attempts: u32) -> Duration {
    let cap = max.max(base);
    let factor = 1u32.checked_shl(attempts).unwrap_or(u32::MAX);
    base.checked_mul(factor).map_or(cap, |d| d.min(cap))
}

/// [`exponential`] scaled by a random factor in `[1 - JITTER, 1 + JITTER)`.
pub(crate) fn jittered(
    base: Duration,
    max: Duration,
    attempts: u32,
    rng: &mut XorShift,
) -> Duration {
    let plain = exponential(base, max, attempts);
    let factor = 1.0 - JITTER + 2.0 * JITTER * rng.next_unit();
    Duration::try_from_secs_f64(plain.as_secs_f64() * factor).unwrap_or(plain)
}

/// Reconnect state of one node.
///
/// As in Kafka, every disconnect (failed attempt or lost connection) schedules the next
/// attempt `backoff(failures)` after the disconnect and counts a failure; a successful
/// connection resets the count, so the first retry after a drop waits the base backoff.
#[derive(Debug)]
pub(crate) struct Reconnect {
    failures: u32,
    ready_at: Option<Instant>,
    rng: XorShift,
}

impl Reconnect {
    /// Fresh state: a connection may be attempted right away.
    pub(crate) fn new(node: NodeId) -> Self {
        Reconnect {
            failures: 0,
            ready_at: None,
            rng: XorShift::seeded(node),
        }
    }

    /// Backoff left before the next connection attempt.
    pub(crate) fn remaining(&self, now: Instant) -> Duration {
        self.ready_at
            .map_or(Duration::ZERO, |at| at.saturating_duration_since(now))
    }

    /// When the next connection attempt may start, if a backoff was ever scheduled.
    pub(crate) fn ready_at(&self) -> Option<Instant> {
        self.ready_at
    }

    /// A connection was established: restart the exponential sequence.
    pub(crate) fn connected(&mut self) {
        self.failures = 0;
    }

    /// A connection closed or an attempt failed at `now`.
    pub(crate) fn disconnected(&mut self, base: Duration, max: Duration, now: Instant) {
        let delay = jittered(base, max, self.failures, &mut self.rng);
        self.failures = self.failures.saturating_add(1);
        // Only an absurd configured backoff overflows Instant; then retry without delay.
        self.ready_at = Some(now.checked_add(delay).unwrap_or(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exponential_doubles_then_caps() {
        let (base, max) = (50 * MS, 1000 * MS);
        let seq: Vec<_> = (0..7).map(|a| exponential(base, max, a)).collect();
        assert_eq!(
            seq,
            [
                50 * MS,
                100 * MS,
                200 * MS,
                400 * MS,
                800 * MS,
                1000 * MS,
                1000 * MS
            ]
        );
        assert_eq!(exponential(base, max, u32::MAX), max);
        assert_eq!(exponential(2000 * MS, max, 3), 2000 * MS);
        assert_eq!(exponential(Duration::MAX, Duration::MAX, 5), Duration::MAX);
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_varies() {
        let mut rng = XorShift::seeded(-1);
        let samples: Vec<_> = (0..1000)
            .map(|_| jittered(100 * MS, 1000 * MS, 0, &mut rng))
            .collect();
        assert!(samples.iter().all(|d| *d >= 80 * MS && *d <= 120 * MS));
        let lo = samples.iter().filter(|d| **d < 100 * MS).count();
        assert!(lo > 300 && lo < 700, "jitter is not spread: {lo}");
        // Must not panic on overflow.
        assert!(jittered(Duration::MAX, Duration::MAX, 0, &mut rng) > Duration::from_secs(1));
    }

    #[test]
    fn reconnect_grows_and_resets() {
        let now = Instant::now();
        let mut r = Reconnect::new(3);
        assert_eq!(r.remaining(now), Duration::ZERO);
        r.disconnected(100 * MS, 10_000 * MS, now);
        let first = r.remaining(now);
        r.disconnected(100 * MS, 10_000 * MS, now);
        let second = r.remaining(now);
        assert!(first >= 80 * MS && first <= 120 * MS);
        assert!(second >= 160 * MS && second <= 240 * MS);
        r.connected();
        r.disconnected(100 * MS, 10_000 * MS, now);
        assert!(r.remaining(now) <= 120 * MS);
        assert_eq!(r.remaining(now + 1000 * MS), Duration::ZERO);
    }
}
