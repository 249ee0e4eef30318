//! SASL authentication of one connection, as a sans-IO state machine.
//!
//! After ApiVersions, and before any other request, a connection to a SASL listener
//! authenticates:
//!
//! ```text
//!  SaslHandshake v1 (mechanism)      ──►  error 33: the mechanism is not enabled
//!                                    ◄──  the broker's mechanisms
//!  SaslAuthenticate (initial token)  ──►
//!                                    ◄──  error 58: bad credentials (the broker's message)
//!                                    ◄──  a challenge ──► SaslAuthenticate (response) ...
//!                                    ◄──  done, with the session lifetime (KIP-368)
//! ```
//!
//! `Authenticator` (crate-internal) runs this for one connection with one mechanism: it
//! builds each request and reads each answer; the consumer sends them and keeps the
//! requests' bookkeeping (`consumer/auth.rs`). The mechanisms are clients of their own, usable
//! alone: [`PlainClient`] (RFC 4616), [`ScramClient`] (RFC 5802 / 7677, over SHA-256 or
//! SHA-512), [`OAuthBearerClient`] (RFC 7628). Passwords, tokens and the keys derived from
//! them never appear in `Debug` output or errors.

mod oauthbearer;
mod plain;
mod scram;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use sha2::{Sha256, Sha512};
use thiserror::Error;

use crate::codec::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::codec::ApiKey;
use crate::config::{SaslConfig, SaslMechanism, Secret};
use crate::error_code::ErrorCode;
use crate::metadata::NodeId;

pub use oauthbearer::{OAuthBearerClient, ServerChallenge};
pub use plain::PlainClient;
pub use scram::{
    escape_username, verify_client_proof, Keys, ScramClient, ScramHash, ServerFinal, ServerFirst,
    MAX_ITERATIONS, MIN_ITERATIONS,
};

/// What a mechanism wants after reading the server's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this to the server.
    Respond(Vec<u8>),
    /// The exchange is complete on the client's side.
    Done,
}

/// A mechanism refused what the server sent, or could not start.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MechanismError {
    /// A server message does not have the form the mechanism defines.
    #[error("malformed server message: {0}")]
    Malformed(&'static str),
    /// A SCRAM attribute is missing where it must be.
    #[error("malformed server message: no `{attribute}=` where expected")]
    MissingAttribute {
        /// The attribute's letter.
        attribute: char,
    },
    /// A SCRAM attribute is not valid base64.
    #[error("malformed server message: `{attribute}=` is not base64")]
    InvalidBase64 {
        /// The attribute's letter.
        attribute: char,
    },
    /// The server sent a mandatory SCRAM extension (`m=`); this client knows none.
    #[error("the server requires a SCRAM extension (m=) this client does not know")]
    UnsupportedExtension,
    /// The server's SCRAM nonce does not extend the client's.
    #[error("the server's nonce does not extend the client's (a replay, or a confused server)")]
    NonceMismatch,
    /// The SCRAM iteration count is outside what is accepted.
    #[error("the server asks for {iterations} iterations; {min} to {max} are accepted")]
    IterationCount {
        /// What the server asked.
        iterations: u32,
        /// The fewest accepted.
        min: u32,
        /// The most accepted.
        max: u32,
    },
    /// The server ended the SCRAM exchange with an error (`e=`).
    #[error("the server refused the exchange: {0}")]
    ServerError(String),
    /// The server's SCRAM signature is wrong: it does not know the password.
    #[error("the server's signature does not match: the server does not know the credentials")]
    ServerSignatureMismatch,
    /// The server sent a message when the mechanism expected none.
    #[error("a server message the mechanism did not expect")]
    UnexpectedChallenge,
    /// The configured credentials cannot be sent by this mechanism.
    #[error("invalid credentials: {0}")]
    InvalidCredentials(&'static str),
    /// An OAUTHBEARER extension's name or value has characters RFC 7628 forbids.
    #[error("invalid OAUTHBEARER extension `{key}`")]
    InvalidExtension {
        /// The extension's name.
        key: String,
    },
    /// The server refused the OAUTHBEARER token.
    #[error("the server refused the token: {status}")]
    TokenRefused {
        /// The server's status, e.g. `invalid_token`.
        status: String,
    },
    /// The OAUTHBEARER token provider failed.
    #[error("the OAUTHBEARER token provider failed: {0}")]
    TokenProvider(String),
    /// OAUTHBEARER without a token provider: the consumer core reads no clock, so an
    /// unsecured JWT must be turned into a provider by its driver (`KafkaConsumer` does).
    #[error(
        "OAUTHBEARER needs a token provider (an unsecured JWT is made into one by KafkaConsumer)"
    )]
    NoTokenProvider,
    /// No random nonce could be drawn from the operating system.
    #[error("no random bytes from the operating system: {0}")]
    NoRandomness(String),
}

/// Why a connection could not authenticate. Reported by `Consumer::poll_records` (and so
/// by every blocking call of `KafkaConsumer`) once per failed attempt; the node is tried
/// again after a backoff.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslError {
    /// The broker's ApiVersions answer lacks what SASL needs here.
    #[error(
        "node {node} does not offer {missing}: the broker is older than Kafka 1.0, or this \
         listener does not speak SASL (check security.protocol)"
    )]
    NotSupported {
        /// The broker.
        node: NodeId,
        /// What is missing, e.g. "SaslHandshake v1".
        missing: &'static str,
    },
    /// The broker does not enable the configured mechanism.
    #[error(
        "node {node} does not enable SASL mechanism {mechanism} (sasl.mechanism); it enables: {}",
        list(enabled)
    )]
    UnsupportedMechanism {
        /// The broker.
        node: NodeId,
        /// The configured mechanism.
        mechanism: SaslMechanism,
        /// The mechanisms the broker enables.
        enabled: Vec<String>,
    },
    /// The broker refused the credentials (SASL_AUTHENTICATION_FAILED).
    #[error("authentication with {mechanism} failed at node {node}: {message}")]
    AuthenticationFailed {
        /// The broker.
        node: NodeId,
        /// The configured mechanism.
        mechanism: SaslMechanism,
        /// The broker's message (with any secret of this client blanked out).
        message: String,
    },
    /// The broker answered a SASL request with another error (e.g. ILLEGAL_SASL_STATE).
    #[error("node {node} answered {api} with {code}{}{}", hint(*code), message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The broker.
        node: NodeId,
        /// SaslHandshake or SaslAuthenticate.
        api: ApiKey,
        /// The error.
        code: ErrorCode,
        /// The broker's message, if any (with any secret of this client blanked out).
        message: Option<String>,
    },
    /// The mechanism refused what the broker sent, or could not start.
    #[error("{mechanism} authentication with node {node} failed: {source}")]
    Mechanism {
        /// The broker.
        node: NodeId,
        /// The configured mechanism.
        mechanism: SaslMechanism,
        /// What went wrong.
        source: MechanismError,
    },
    /// The answer to a SASL request does not decode.
    #[error("node {node} sent an undecodable {api} answer")]
    Malformed {
        /// The broker.
        node: NodeId,
        /// SaslHandshake or SaslAuthenticate.
        api: ApiKey,
    },
}

impl SaslError {
    /// The broker the error is about.
    pub fn node(&self) -> NodeId {
        match self {
            SaslError::NotSupported { node, .. }
            | SaslError::UnsupportedMechanism { node, .. }
            | SaslError::AuthenticationFailed { node, .. }
            | SaslError::Broker { node, .. }
            | SaslError::Mechanism { node, .. }
            | SaslError::Malformed { node, .. } => *node,
        }
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn hint(code: ErrorCode) -> &'static str {
    if code == ErrorCode::IllegalSaslState {
        " (a listener that does not speak SASL answers so: check security.protocol)"
    } else {
        ""
    }
}

/// One mechanism's client.
#[derive(Debug, Clone)]
enum Client {
    Plain(PlainClient),
    ScramSha256(ScramClient<Sha256>),
    ScramSha512(ScramClient<Sha512>),
    OAuthBearer(OAuthBearerClient),
}

impl Client {
    fn new(config: &SaslConfig, mechanism: SaslMechanism) -> Result<Self, MechanismError> {
        let credentials = || {
            let username = config.username.as_deref().unwrap_or_default();
            let password = config.password.clone().unwrap_or_default();
            (username, password)
        };
        Ok(match mechanism {
            SaslMechanism::Plain => {
                let (user, password) = credentials();
                Client::Plain(PlainClient::new(user, password)?)
            }
            SaslMechanism::ScramSha256 => {
                let (user, password) = credentials();
                Client::ScramSha256(ScramClient::new(user, password, client_nonce()?)?)
            }
            SaslMechanism::ScramSha512 => {
                let (user, password) = credentials();
                Client::ScramSha512(ScramClient::new(user, password, client_nonce()?)?)
            }
            SaslMechanism::OAuthBearer => {
                let provider = config
                    .token_provider
                    .as_ref()
                    .ok_or(MechanismError::NoTokenProvider)?;
                let token = provider.token().map_err(MechanismError::TokenProvider)?;
                Client::OAuthBearer(OAuthBearerClient::new(token)?)
            }
        })
    }

    fn initial_response(&mut self) -> Vec<u8> {
        match self {
            Client::Plain(c) => c.initial_response(),
            Client::ScramSha256(c) => c.initial_response(),
            Client::ScramSha512(c) => c.initial_response(),
            Client::OAuthBearer(c) => c.initial_response(),
        }
    }

    fn evaluate(&mut self, challenge: &[u8]) -> Result<Step, MechanismError> {
        match self {
            Client::Plain(c) => c.evaluate(challenge),
            Client::ScramSha256(c) => c.evaluate(challenge),
            Client::ScramSha512(c) => c.evaluate(challenge),
            Client::OAuthBearer(c) => c.evaluate(challenge),
        }
    }

    /// The server's OAUTHBEARER status, if it refused the token.
    fn refusal(&self) -> Option<&str> {
        match self {
            Client::OAuthBearer(c) => c.refusal().map(|r| r.status.as_str()),
            _ => None,
        }
    }
}

/// A SCRAM client nonce: 24 random bytes from the operating system, base64 (printable,
/// no commas).
pub fn client_nonce() -> Result<String, MechanismError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| MechanismError::NoRandomness(e.to_string()))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// What the next SaslAuthenticate answer brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Another round: send this.
    Send(SaslAuthenticateRequest),
    /// Authenticated; the broker ends the session after this long, if it said (KIP-368).
    Done {
        /// The session's lifetime.
        session_lifetime: Option<Duration>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Exchange,
    Done,
}

/// The SASL exchange of one connection with one mechanism.
pub(crate) struct Authenticator {
    node: NodeId,
    mechanism: SaslMechanism,
    client: Client,
    phase: Phase,
    /// What must never show in an error message: the password or the token.
    secret: Option<Secret>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("node", &self.node)
            .field("mechanism", &self.mechanism)
            .field("client", &self.client)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An exchange with `node` as `config` says. An OAUTHBEARER token is asked of the
    /// provider now; a SCRAM nonce is drawn from the operating system.
    pub(crate) fn new(node: NodeId, config: &SaslConfig) -> Result<Self, SaslError> {
        let Some(mechanism) = config.mechanism else {
            // Config validation requires one with SASL; without, nothing can be sent.
            return Err(SaslError::Mechanism {
                node,
                mechanism: SaslMechanism::Plain,
                source: MechanismError::InvalidCredentials("no sasl.mechanism is set"),
            });
        };
        let client = Client::new(config, mechanism).map_err(|source| SaslError::Mechanism {
            node,
            mechanism,
            source,
        })?;
        let secret = match &client {
            Client::OAuthBearer(_) => None,
            _ => config.password.clone(),
        };
        Ok(Self {
            node,
            mechanism,
            client,
            phase: Phase::Handshake,
            secret,
        })
    }

    /// The mechanism.
    pub(crate) fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The SaslHandshake request naming the mechanism.
    pub(crate) fn handshake(&self) -> SaslHandshakeRequest {
        SaslHandshakeRequest {
            mechanism: self.mechanism.name().to_owned(),
        }
    }

    /// Reads the SaslHandshake answer; on success, the first SaslAuthenticate request.
    pub(crate) fn handle_handshake(
        &mut self,
        resp: SaslHandshakeResponse,
    ) -> Result<SaslAuthenticateRequest, SaslError> {
        if self.phase != Phase::Handshake {
            return Err(self.mechanism_error(MechanismError::UnexpectedChallenge));
        }
        match ErrorCode::from_i16(resp.error_code) {
            ErrorCode::None => {}
            ErrorCode::UnsupportedSaslMechanism => {
                return Err(SaslError::UnsupportedMechanism {
                    node: self.node,
                    mechanism: self.mechanism,
                    enabled: resp.mechanisms,
                })
            }
            code => {
                return Err(SaslError::Broker {
                    node: self.node,
                    api: ApiKey::SaslHandshake,
                    code,
                    message: None,
                })
            }
        }
        self.phase = Phase::Exchange;
        Ok(SaslAuthenticateRequest {
            auth_bytes: Bytes::from(self.client.initial_response()),
        })
    }

    /// Reads a SaslAuthenticate answer: another round, or done.
    pub(crate) fn handle_authenticate(
        &mut self,
        resp: SaslAuthenticateResponse,
    ) -> Result<Progress, SaslError> {
        if self.phase != Phase::Exchange {
            return Err(self.mechanism_error(MechanismError::UnexpectedChallenge));
        }
        let message = resp.error_message.as_deref().map(|m| self.redact(m));
        match ErrorCode::from_i16(resp.error_code) {
            ErrorCode::None => {}
            ErrorCode::SaslAuthenticationFailed => {
                let mut message = message.unwrap_or_else(|| "no reason given".to_owned());
                if let Some(status) = self.client.refusal() {
                    message = format!("{message} (token status: {status})");
                }
                return Err(SaslError::AuthenticationFailed {
                    node: self.node,
                    mechanism: self.mechanism,
                    message,
                });
            }
            code => {
                return Err(SaslError::Broker {
                    node: self.node,
                    api: ApiKey::SaslAuthenticate,
                    code,
                    message,
                })
            }
        }
        match self.client.evaluate(&resp.auth_bytes) {
            Ok(Step::Respond(bytes)) => Ok(Progress::Send(SaslAuthenticateRequest {
                auth_bytes: Bytes::from(bytes),
            })),
            Ok(Step::Done) => {
                self.phase = Phase::Done;
                let lifetime = u64::try_from(resp.session_lifetime_ms)
                    .ok()
                    .filter(|ms| *ms > 0)
                    .map(Duration::from_millis);
                Ok(Progress::Done {
                    session_lifetime: lifetime,
                })
            }
            Err(e) => Err(self.mechanism_error(e)),
        }
    }

    fn mechanism_error(&self, source: MechanismError) -> SaslError {
        SaslError::Mechanism {
            node: self.node,
            mechanism: self.mechanism,
            source,
        }
    }

    /// The broker's text, with this client's secret blanked out should the broker echo it.
    fn redact(&self, message: &str) -> String {
        let secrets = self
            .secret
            .iter()
            .map(Secret::expose)
            .filter(|s| s.len() >= 3);
        let mut out = message.to_owned();
        for s in secrets {
            out = out.replace(s, "[hidden]");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{OAuthBearerToken, TokenProvider};

    fn config(mechanism: SaslMechanism) -> SaslConfig {
        SaslConfig {
            mechanism: Some(mechanism),
            username: Some("alice".into()),
            password: Some(Secret::new("hunter22")),
            ..SaslConfig::default()
        }
    }

    fn ok_handshake() -> SaslHandshakeResponse {
        SaslHandshakeResponse {
            error_code: 0,
            mechanisms: vec!["PLAIN".into()],
        }
    }

    #[test]
    fn plain_exchange_ends_with_the_session_lifetime() {
        let mut a = Authenticator::new(7, &config(SaslMechanism::Plain)).unwrap();
        assert_eq!(a.handshake().mechanism, "PLAIN");
        let req = a.handle_handshake(ok_handshake()).unwrap();
        assert_eq!(&req.auth_bytes[..], b"\0alice\0hunter22");
        let done = a
            .handle_authenticate(SaslAuthenticateResponse {
                session_lifetime_ms: 60_000,
                ..SaslAuthenticateResponse::default()
            })
            .unwrap();
        assert_eq!(
            done,
            Progress::Done {
                session_lifetime: Some(Duration::from_secs(60))
            }
        );
    }

    #[test]
    fn handshake_refusals_name_both_sides() {
        let mut a = Authenticator::new(2, &config(SaslMechanism::ScramSha512)).unwrap();
        let err = a
            .handle_handshake(SaslHandshakeResponse {
                error_code: 33,
                mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
            })
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("SCRAM-SHA-512"), "{text}");
        assert!(text.contains("PLAIN, SCRAM-SHA-256"), "{text}");
        assert_eq!(err.node(), 2);

        let mut a = Authenticator::new(2, &config(SaslMechanism::Plain)).unwrap();
        let err = a
            .handle_handshake(SaslHandshakeResponse {
                error_code: 34,
                mechanisms: vec![],
            })
            .unwrap_err();
        assert!(err.to_string().contains("security.protocol"), "{err}");
    }

    #[test]
    fn failures_carry_the_broker_message_without_the_password() {
        let mut a = Authenticator::new(1, &config(SaslMechanism::Plain)).unwrap();
        a.handle_handshake(ok_handshake()).unwrap();
        let err = a
            .handle_authenticate(SaslAuthenticateResponse {
                error_code: 58,
                error_message: Some("Invalid password hunter22 for alice".into()),
                ..SaslAuthenticateResponse::default()
            })
            .unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter22"), "{text}");
        assert!(text.contains("[hidden]"), "{text}");
        assert!(matches!(
            err,
            SaslError::AuthenticationFailed { node: 1, .. }
        ));
        assert!(!format!("{a:?}").contains("hunter22"));
    }

    #[test]
    fn oauthbearer_asks_the_provider_and_reports_the_token_status() {
        let mut c = config(SaslMechanism::OAuthBearer);
        c.token_provider = Some(TokenProvider::new(|| Ok(OAuthBearerToken::new("tok3n"))));
        let mut a = Authenticator::new(1, &c).unwrap();
        let first = a.handle_handshake(ok_handshake()).unwrap();
        assert_eq!(&first.auth_bytes[..], b"n,,\x01auth=Bearer tok3n\x01\x01");
        let next = a
            .handle_authenticate(SaslAuthenticateResponse {
                auth_bytes: Bytes::from_static(br#"{"status":"invalid_token"}"#),
                ..SaslAuthenticateResponse::default()
            })
            .unwrap();
        assert_eq!(
            next,
            Progress::Send(SaslAuthenticateRequest {
                auth_bytes: Bytes::from_static(b"\x01")
            })
        );
        let err = a
            .handle_authenticate(SaslAuthenticateResponse {
                error_code: 58,
                error_message: Some("Authentication failed".into()),
                ..SaslAuthenticateResponse::default()
            })
            .unwrap_err();
        assert!(err.to_string().contains("invalid_token"), "{err}");
        assert!(!err.to_string().contains("tok3n"), "{err}");

        let mut failing = config(SaslMechanism::OAuthBearer);
        failing.token_provider = Some(TokenProvider::new(|| Err("IdP unreachable".into())));
        let err = Authenticator::new(1, &failing).unwrap_err();
        assert!(err.to_string().contains("IdP unreachable"), "{err}");
        let err = Authenticator::new(1, &config(SaslMechanism::OAuthBearer)).unwrap_err();
        assert!(matches!(
            err,
            SaslError::Mechanism {
                source: MechanismError::NoTokenProvider,
                ..
            }
        ));
    }

    #[test]
    fn scram_exchange_checks_the_server() {
        let mut a = Authenticator::new(1, &config(SaslMechanism::ScramSha256)).unwrap();
        let first = a.handle_handshake(ok_handshake()).unwrap();
        let first = String::from_utf8(first.auth_bytes.to_vec()).unwrap();
        let nonce = first.rsplit_once("r=").unwrap().1.to_owned();
        assert!(nonce.len() >= 24, "{nonce}");
        let err = a
            .handle_authenticate(SaslAuthenticateResponse {
                auth_bytes: Bytes::from(format!("r={nonce}x,s=c2FsdA==,i=10")),
                ..SaslAuthenticateResponse::default()
            })
            .unwrap_err();
        assert!(matches!(
            err,
            SaslError::Mechanism {
                source: MechanismError::IterationCount { .. },
                ..
            }
        ));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(client_nonce().unwrap(), client_nonce().unwrap());
        assert!(!client_nonce().unwrap().contains(','));
    }

    #[test]
    fn answers_out_of_turn_are_refused() {
        let mut a = Authenticator::new(1, &config(SaslMechanism::Plain)).unwrap();
        assert!(a
            .handle_authenticate(SaslAuthenticateResponse::default())
            .is_err());
        a.handle_handshake(ok_handshake()).unwrap();
        assert!(a.handle_handshake(ok_handshake()).is_err());
    }
}
