//! Whether the cluster can be reached, as the blocking consumer sees it: connection
//! failures are logged at WARN (once per broker per interval, naming the broker and the
//! cause), and when no broker has answered for a while after connections failed, the
//! blocking calls say so ([`KafkaError::BrokersUnreachable`]) instead of waiting in
//! silence.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use consumer_core::diagnostics::WarnLimiter;
use consumer_core::NodeId;
use log::{debug, warn};

use super::KafkaError;
use crate::network::NetError;

/// What the consumer has seen of its connections.
#[derive(Debug)]
pub(super) struct Health {
    /// How long connections may fail, with no broker answering, before calls are told.
    threshold: Duration,
    warnings: WarnLimiter,
    /// Per broker address, the last reason its connection failed, since the last answer.
    causes: BTreeMap<String, String>,
    /// The last connection failure, for the messages of timeouts.
    last_failure: Option<String>,
    /// The first connection failure since the last answer from any broker.
    down_since: Option<Instant>,
    /// When calls were last told that no broker can be reached.
    reported_at: Option<Instant>,
    /// Some broker has answered since the consumer was made.
    ever_answered: bool,
}

impl Health {
    /// Calls are told once connections have failed for `threshold` with no answer.
    pub(super) fn new(threshold: Duration) -> Self {
        Self {
            threshold,
            warnings: WarnLimiter::default(),
            causes: BTreeMap::new(),
            last_failure: None,
            down_since: None,
            reported_at: None,
            ever_answered: false,
        }
    }

    /// A broker answered: the cluster is reachable.
    pub(super) fn answered(&mut self, address: Option<&str>) {
        self.ever_answered = true;
        self.down_since = None;
        self.reported_at = None;
        self.causes.clear();
        if let Some(a) = address {
            self.warnings.clear(a);
        }
    }

    /// The connection to `node` at `address` failed or closed with `reason`.
    pub(super) fn disconnected(
        &mut self,
        node: NodeId,
        address: Option<&str>,
        reason: &NetError,
        now: Instant,
    ) {
        let address = address.unwrap_or("?").to_owned();
        let cause = describe(reason);
        if !is_connect_failure(reason) {
            // A connection that worked and then closed: reconnected quietly, as in Java.
            debug!("node {node} ({address}): {cause}");
            return;
        }
        if self.warnings.allow(&address, now) {
            warn!("node {node} ({address}): {cause}; retrying");
        } else {
            debug!("node {node} ({address}): {cause}");
        }
        self.last_failure = Some(format!("{address}: {cause}"));
        self.causes.insert(address, cause);
        self.down_since.get_or_insert(now);
    }

    /// The error to return from the call under way, when no broker has answered for the
    /// threshold since connections started failing (at most once per threshold).
    pub(super) fn unreachable_error(&mut self, now: Instant) -> Option<KafkaError> {
        let since = self.down_since?;
        let waited = now.saturating_duration_since(since);
        if waited < self.threshold
            || self
                .reported_at
                .is_some_and(|at| now.saturating_duration_since(at) < self.threshold)
        {
            return None;
        }
        self.reported_at = Some(now);
        Some(KafkaError::BrokersUnreachable {
            waited,
            causes: self
                .causes
                .iter()
                .map(|(address, cause)| format!("{address}: {cause}"))
                .collect(),
            ever_connected: self.ever_answered,
        })
    }

    /// The last connection failure seen, while no broker has answered since.
    pub(super) fn last_failure(&self) -> Option<&str> {
        self.down_since.and(self.last_failure.as_deref())
    }
}

/// Whether `reason` means a connection could not be made (rather than one that worked
/// and was closed).
fn is_connect_failure(reason: &NetError) -> bool {
    matches!(
        reason,
        NetError::ConnectFailed { .. }
            | NetError::ConnectTimeout
            | NetError::Resolve { .. }
            | NetError::Tls(_)
    )
}

/// `reason` in words, without repeating the address the caller names.
fn describe(reason: &NetError) -> String {
    match reason {
        NetError::ConnectFailed { source, .. } => format!("connection failed: {source}"),
        NetError::Resolve { .. } => "the host name could not be resolved".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::Arc;

    use super::*;

    fn refused() -> NetError {
        NetError::ConnectFailed {
            address: "127.0.0.1:1".into(),
            source: Arc::new(io::Error::from(io::ErrorKind::ConnectionRefused)),
        }
    }

    #[test]
    fn unreachable_after_the_threshold_then_once_per_threshold() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut h = Health::new(Duration::from_secs(10));
        assert!(h.unreachable_error(t0).is_none());
        h.disconnected(-1, Some("127.0.0.1:1"), &refused(), t0);
        assert!(h.unreachable_error(t0 + 9 * s).is_none());
        let err = h.unreachable_error(t0 + 10 * s).expect("reported");
        let text = err.to_string();
        assert!(
            text.contains("127.0.0.1:1") && text.contains("refused"),
            "{text}"
        );
        assert!(matches!(
            err,
            KafkaError::BrokersUnreachable {
                ever_connected: false,
                ..
            }
        ));
        assert!(h.unreachable_error(t0 + 15 * s).is_none());
        assert!(h.unreachable_error(t0 + 20 * s).is_some());
        assert_eq!(h.last_failure().map(|f| f.contains("refused")), Some(true));
        // An answer ends it.
        h.answered(Some("127.0.0.1:1"));
        assert!(h.unreachable_error(t0 + 40 * s).is_none());
        assert!(h.last_failure().is_none());
    }

    #[test]
    fn a_closed_working_connection_is_not_unreachability() {
        let t0 = Instant::now();
        let mut h = Health::new(Duration::from_secs(1));
        h.disconnected(1, Some("b:9092"), &NetError::PeerClosed, t0);
        assert!(h.unreachable_error(t0 + Duration::from_secs(5)).is_none());
    }
}
