//! SASL on every connection: the exchange starts once a connection's versions are known
//! (and again when its session nears its end, once the answers to what was sent on it are
//! in), each answer moves it on, and a failure is reported and backed off from.
//!
//! The exchange's requests are recorded like every other request, with
//! [`Owner::Authentication`]; a lost connection ends them, and the node negotiates and
//! authenticates again on the next one.

use std::time::Instant;

use bytes::Bytes;
use log::{debug, info, warn};

use super::nodes::SASL_HANDSHAKE_VERSION;
use super::requests::{decode, InFlight, Outcome, Owner, RequestFailure};
use super::{Consumer, NodeId};
use crate::codec::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::codec::{ApiKey, Request};
use crate::event::ConsumerError;
use crate::sasl::{Authenticator, Progress, SaslError};

impl Consumer {
    /// Starts the exchange on every connection that must authenticate and may now.
    pub(super) fn prepare_authentication(&mut self, now: Instant) {
        for node in self.nodes.due_for_authentication(now) {
            self.authenticate_if_due(node, now);
        }
    }

    /// Starts the exchange on `node` if it must authenticate and may now: no failed
    /// attempt's backoff running, and (renewing a session) no answer still to come on the
    /// old session.
    pub(super) fn authenticate_if_due(&mut self, node: NodeId, now: Instant) {
        if self.is_closed() || !self.nodes.is_due_for_authentication(node, now) {
            return;
        }
        if self.requests.in_flight(node) > self.nodes.held(node) {
            return;
        }
        let Some(versions) = self.nodes.negotiated(node) else {
            return;
        };
        let handshake = versions
            .advertised(ApiKey::SaslHandshake)
            .is_some_and(|r| r.contains(SASL_HANDSHAKE_VERSION));
        if !handshake {
            let missing = "SaslHandshake v1";
            return self.authentication_error(SaslError::NotSupported { node, missing }, now);
        }
        if versions.pick(ApiKey::SaslAuthenticate).is_err() {
            let missing = "SaslAuthenticate";
            return self.authentication_error(SaslError::NotSupported { node, missing }, now);
        }
        let auth = match Authenticator::new(node, &self.config.security.sasl) {
            Ok(auth) => auth,
            Err(e) => return self.authentication_error(e, now),
        };
        debug!("node {node}: authenticating with {}", auth.mechanism());
        match self.nodes.begin_authentication(node, auth, now) {
            None => {}
            Some(Ok(corr)) => {
                let request = InFlight::sent(
                    node,
                    ApiKey::SaslHandshake,
                    SASL_HANDSHAKE_VERSION,
                    Owner::Authentication,
                );
                self.record(corr, request);
            }
            Some(Err(e)) => {
                // A mechanism name always encodes; if not, it is a bug to report.
                warn!("node {node}: cannot encode SaslHandshake: {e}");
                self.nodes.authentication_failed(node, now);
            }
        }
    }

    /// Hands the outcome of a SaslHandshake or SaslAuthenticate request to the exchange.
    pub(super) fn finish_authentication(
        &mut self,
        node: NodeId,
        api: ApiKey,
        version: i16,
        frame: Outcome<Bytes>,
        now: Instant,
    ) {
        let frame = match frame {
            Ok(frame) => frame,
            // The node was reset with its connection, or the consumer closed.
            Err(RequestFailure::Disconnected | RequestFailure::Cancelled) => return,
            Err(failure) => {
                debug!("node {node}: {api}: {failure}");
                self.nodes.authentication_failed(node, now);
                return;
            }
        };
        let result = if api == ApiKey::SaslHandshake {
            self.read_handshake(node, version, frame, now)
        } else {
            self.read_authenticate(node, version, frame, now)
        };
        if let Err(e) = result {
            self.authentication_error(e, now);
        }
    }

    fn read_handshake(
        &mut self,
        node: NodeId,
        version: i16,
        frame: Bytes,
        now: Instant,
    ) -> Result<(), SaslError> {
        let resp = decode_answer::<SaslHandshakeRequest>(node, version, frame)?;
        let Some(auth) = self.nodes.authenticator(node) else {
            debug!("node {node}: SaslHandshake answer with no exchange under way; dropped");
            return Ok(());
        };
        let req = auth.handle_handshake(resp)?;
        // Checked before the exchange started.
        let version = self
            .nodes
            .negotiated(node)
            .and_then(|v| v.pick(ApiKey::SaslAuthenticate).ok())
            .unwrap_or(0);
        self.send_authenticate(node, version, &req, now);
        Ok(())
    }

    fn read_authenticate(
        &mut self,
        node: NodeId,
        version: i16,
        frame: Bytes,
        now: Instant,
    ) -> Result<(), SaslError> {
        let resp = decode_answer::<SaslAuthenticateRequest>(node, version, frame)?;
        let Some(auth) = self.nodes.authenticator(node) else {
            debug!("node {node}: SaslAuthenticate answer with no exchange under way; dropped");
            return Ok(());
        };
        let mechanism = auth.mechanism();
        match auth.handle_authenticate(resp)? {
            Progress::Send(req) => self.send_authenticate(node, version, &req, now),
            Progress::Done { session_lifetime } => {
                info!(
                    "node {node}: authenticated with {mechanism} (session lifetime {})",
                    session_lifetime.map_or("unlimited".to_owned(), |l| format!("{l:?}"))
                );
                self.nodes.authenticated(node, session_lifetime);
            }
        }
        Ok(())
    }

    fn send_authenticate(
        &mut self,
        node: NodeId,
        version: i16,
        req: &SaslAuthenticateRequest,
        now: Instant,
    ) {
        match self.nodes.send_authenticate(node, version, req, now) {
            Ok(corr) => {
                let request = InFlight::sent(
                    node,
                    ApiKey::SaslAuthenticate,
                    version,
                    Owner::Authentication,
                );
                self.record(corr, request);
            }
            Err(e) => {
                // Bytes of any length below 2 GiB encode.
                warn!("node {node}: cannot encode SaslAuthenticate v{version}: {e}");
                self.nodes.authentication_failed(node, now);
            }
        }
    }

    /// An attempt failed: reported to the caller (once while it is still queued), and the
    /// node backs off before trying again.
    fn authentication_error(&mut self, e: SaslError, now: Instant) {
        // The error's text holds no secret (see `SaslError`).
        warn!("{e}");
        self.nodes.authentication_failed(e.node(), now);
        let err = ConsumerError::Authentication(e);
        if !self.errors.contains(&err) {
            self.errors.push_back(err);
        }
    }

    /// The oldest authentication failure not reported yet, taken out of the errors
    /// `poll_records` returns: for a driver's blocking calls other than `poll`, which
    /// report it as the Java consumer throws `AuthenticationException` from them.
    pub fn poll_authentication_error(&mut self) -> Option<SaslError> {
        let i = self
            .errors
            .iter()
            .position(|e| matches!(e, ConsumerError::Authentication(_)))?;
        match self.errors.remove(i) {
            Some(ConsumerError::Authentication(e)) => Some(e),
            Some(other) => {
                // `position` found an authentication error at `i`.
                self.errors.insert(i, other);
                None
            }
            None => None,
        }
    }
}

/// Decodes the answer to a SaslHandshake or SaslAuthenticate request of `node`.
fn decode_answer<R: Request>(
    node: NodeId,
    version: i16,
    frame: Bytes,
) -> Result<R::Response, SaslError> {
    decode::<R>(node, version, Ok(frame)).map_err(|_| SaslError::Malformed {
        node,
        api: R::API_KEY,
    })
}
