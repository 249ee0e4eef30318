//! Keeping repeated warnings readable: a problem that lasts (a broker that refuses
//! connections, a topic that does not exist) is logged at WARN when it starts and then
//! at most once per interval, not once per retry.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How often a lasting problem is logged again at WARN.
pub const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// Lets one warning per key through per interval; the others are for DEBUG.
#[derive(Debug, Clone)]
pub struct WarnLimiter {
    interval: Duration,
    last: HashMap<String, Instant>,
}

impl Default for WarnLimiter {
    fn default() -> Self {
        Self::new(WARN_INTERVAL)
    }
}

impl WarnLimiter {
    /// A limiter letting one warning per key through per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: HashMap::new(),
        }
    }

    /// Whether a warning about `key` should be logged at WARN at `now`; if so, the
    /// next one is held back for the interval.
    pub fn allow(&mut self, key: &str, now: Instant) -> bool {
        match self.last.get_mut(key) {
            Some(at) if now.saturating_duration_since(*at) < self.interval => false,
            Some(at) => {
                *at = now;
                true
            }
            None => {
                self.last.insert(key.to_owned(), now);
                true
            }
        }
    }

    /// The problem about `key` is over: the next one is logged at once.
    pub fn clear(&mut self, key: &str) {
        self.last.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_key_per_interval() {
        let t0 = Instant::now();
        let mut w = WarnLimiter::new(Duration::from_secs(10));
        assert!(w.allow("a", t0));
        assert!(!w.allow("a", t0 + Duration::from_secs(9)));
        assert!(w.allow("b", t0 + Duration::from_secs(9)));
        assert!(w.allow("a", t0 + Duration::from_secs(10)));
        assert!(!w.allow("a", t0 + Duration::from_secs(11)));
        w.clear("a");
        assert!(w.allow("a", t0 + Duration::from_secs(12)));
    }
}
