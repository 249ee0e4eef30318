//! The memory that buffered data keeps alive.
//!
//! A completed fetch is a slice of the Fetch answer it came in (zero copy), so the whole
//! answer stays in memory until the last of its partitions is drained or dropped: one
//! partition left of a 10 MB answer holds 10 MB. Counting only the record bytes still
//! buffered would let mostly drained answers pile up unseen. Each completed fetch holds
//! a share of its [`Answer`], and [`HeldAnswers`] counts an answer whole until its last
//! share is dropped (however the fetch goes: drained, sought away, revoked). The prefetch
//! budget (`fetch.max.bytes`) is held against that count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The record bytes of the answers that completed fetches are held from.
#[derive(Debug, Default)]
pub(super) struct HeldAnswers {
    bytes: Arc<AtomicUsize>,
}

/// A share in one answer; the answer counts as held while any share is alive (kept for
/// its drop alone).
#[derive(Debug, Clone)]
pub(super) struct Answer {
    _charge: Arc<Charge>,
}

#[derive(Debug)]
struct Charge {
    bytes: usize,
    held: Arc<AtomicUsize>,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl HeldAnswers {
    /// A new answer carrying `bytes` of record data, held until the returned share and
    /// every clone of it are dropped.
    pub(super) fn arrived(&self, bytes: usize) -> Answer {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        Answer {
            _charge: Arc::new(Charge {
                bytes,
                held: Arc::clone(&self.bytes),
            }),
        }
    }

    /// Record bytes of the answers still held.
    pub(super) fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_counts_whole_until_its_last_share_is_gone() {
        let held = HeldAnswers::default();
        let a = held.arrived(1000);
        let (a1, a2) = (a.clone(), a.clone());
        drop(a);
        let b = held.arrived(300);
        assert_eq!(held.bytes(), 1300);
        drop(a1);
        assert_eq!(held.bytes(), 1300, "one share of a is still held");
        drop(b);
        assert_eq!(held.bytes(), 1000);
        drop(a2);
        assert_eq!(held.bytes(), 0);
        // An answer no fetch took a share of costs nothing once its own share is gone.
        drop(held.arrived(500));
        assert_eq!(held.bytes(), 0);
    }
}
