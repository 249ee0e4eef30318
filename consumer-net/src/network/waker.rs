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

/// Wakes a [`NetworkClient`](super::NetworkClient) blocked in `poll` from any thread,
/// and so interrupts a blocking call of a `KafkaConsumer` (Java's `wakeup`): that call
/// returns `KafkaError::Wakeup`.
#[derive(Debug, Clone)]
pub struct WakeupHandle {
    shared: Arc<Shared>,
}

impl WakeupHandle {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        WakeupHandle {
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
