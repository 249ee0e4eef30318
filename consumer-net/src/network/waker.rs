//! Cross-thread interruption of a blocked `poll`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log::debug;

#[derive(Debug)]
struct Shared {
    waker: mio::Waker,
    /// Set by `wake`, consumed by `poll`, so one wake is reported exactly once even if
    /// its event arrives in a later batch.
    woken: AtomicBool,
}

/// Wakes a [`NetworkClient`](super::NetworkClient) blocked in `poll` from any thread.
#[derive(Debug, Clone)]
pub struct WakeHandle {
    shared: Arc<Shared>,
}

impl WakeHandle {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        WakeHandle {
            shared: Arc::new(Shared {
                waker,
                woken: AtomicBool::new(false),
            }),
        }
    }

    /// Interrupts the current or next `poll`, which then returns normally with
    /// `was_woken()` set.
    pub fn wake(&self) {
        self.shared.woken.store(true, Ordering::SeqCst);
        if let Err(err) = self.shared.waker.wake() {
            debug!("waking the network client failed: {err}");
        }
    }

    /// Consumes a pending wake.
    pub(crate) fn take(&self) -> bool {
        self.shared.woken.swap(false, Ordering::SeqCst)
    }
}
