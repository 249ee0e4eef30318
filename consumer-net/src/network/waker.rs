//! Cross-thread interruption of a blocked `poll`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use log::debug;

#[derive(Debug)]
struct Shared {
    /// The poll to interrupt; none for a transport whose poll never blocks.
    waker: Option<mio::Waker>,
    /// Set by `wake`, consumed by `poll`, so one wake is reported exactly once even if
    /// its event arrives in a later batch.
    woken: AtomicBool,
}

/// Wakes a [`NetworkClient`](super::NetworkClient) blocked in `poll` from any thread,
/// and so interrupts a blocking call of a `KafkaConsumer` (Java's `wakeup`): that call
/// returns `KafkaError::Wakeup`. Any [`Transport`](crate::Transport) hands one out.
#[derive(Debug, Clone)]
pub struct WakeupHandle {
    shared: Arc<Shared>,
}

impl WakeupHandle {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        Self::with_waker(Some(waker))
    }

    /// A handle that only raises a flag, for a [`Transport`](crate::Transport) whose
    /// `poll` never blocks (a simulated network): its next `poll` consumes the flag with
    /// [`take`](Self::take) and reports the wake.
    pub fn flag_only() -> Self {
        Self::with_waker(None)
    }

    fn with_waker(waker: Option<mio::Waker>) -> Self {
        WakeupHandle {
            shared: Arc::new(Shared {
                waker,
                woken: AtomicBool::new(false),
            }),
        }
    }

    /// Interrupts the consumer: a `KafkaConsumer`'s blocking call under way, or else its
    /// next one, returns `KafkaError::Wakeup` once. (A bare transport's current or next
    /// `poll` returns early with `was_woken()` set.) Callable from any thread, any number
    /// of times; wakes before a call count once.
    pub fn wake(&self) {
        self.shared.woken.store(true, Ordering::SeqCst);
        if let Some(waker) = &self.shared.waker {
            if let Err(err) = waker.wake() {
                debug!("waking the network client failed: {err}");
            }
        }
    }

    /// Consumes a pending wake: true if [`wake`](Self::wake) was called since the last
    /// `take`. A transport's `poll` calls it.
    pub fn take(&self) -> bool {
        self.shared.woken.swap(false, Ordering::SeqCst)
    }
}
