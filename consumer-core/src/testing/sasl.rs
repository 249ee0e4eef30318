//! The brokers' side of SASL: a broker with a [`SaslServer`] is a SASL listener. As a
//! Kafka broker, it answers ApiVersions before authentication, SaslHandshake v1 and
//! SaslAuthenticate (PLAIN, SCRAM-SHA-256/512 with the crate's key derivation, OAUTHBEARER
//! against a list of tokens or any unsecured JWT), grants sessions of a set lifetime
//! (KIP-368) and closes a connection after a failed authentication. A request on a
//! connection that has not authenticated, or whose session ended, closes the connection
//! too (as Kafka does) and is recorded in [`TestCluster::sasl_violations`]: scenarios
//! check that there are none. A broker without a `SaslServer` answers the SASL APIs with
//! ILLEGAL_SASL_STATE, as a Kafka listener without SASL does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use sha2::{Sha256, Sha512};

use crate::codec::messages::{
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::codec::ApiKey;
use crate::config::SaslMechanism;
use crate::consumer::{NodeId, Transmit};
use crate::error_code::ErrorCode;
use crate::sasl::{verify_client_proof, Keys, ScramHash};

use super::broker::{decode, encode};
use super::cluster::TestCluster;

/// What a broker requires of its clients' connections: set [`Broker::sasl`](super::Broker)
/// (or [`ClusterBuilder::sasl`](super::ClusterBuilder::sasl) for every broker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslServer {
    /// The mechanisms enabled, in the order the SaslHandshake answer lists them.
    pub mechanisms: Vec<SaslMechanism>,
    /// User names and passwords, for PLAIN and SCRAM.
    pub users: BTreeMap<String, String>,
    /// Tokens OAUTHBEARER accepts.
    pub tokens: Vec<String>,
    /// OAUTHBEARER accepts any unsecured JWT (`alg: none` with a `sub` claim) too.
    pub unsecured_jwts: bool,
    /// The session lifetime granted (KIP-368, SaslAuthenticate v1+); None: unlimited.
    pub session_lifetime: Option<Duration>,
    /// The SCRAM iteration count.
    pub iterations: u32,
}

impl SaslServer {
    /// A listener enabling `mechanisms`, with no user yet.
    pub fn new(mechanisms: impl IntoIterator<Item = SaslMechanism>) -> Self {
        Self {
            mechanisms: mechanisms.into_iter().collect(),
            users: BTreeMap::new(),
            tokens: Vec::new(),
            unsecured_jwts: false,
            session_lifetime: None,
            iterations: crate::sasl::MIN_ITERATIONS,
        }
    }

    /// Adds a user.
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.insert(name.to_owned(), password.to_owned());
        self
    }

    /// Accepts an OAUTHBEARER token.
    pub fn token(mut self, token: &str) -> Self {
        self.tokens.push(token.to_owned());
        self
    }

    /// Accepts any unsecured JWT for OAUTHBEARER.
    pub fn unsecured_jwts(mut self) -> Self {
        self.unsecured_jwts = true;
        self
    }

    /// Grants sessions of `lifetime`.
    pub fn session_lifetime(mut self, lifetime: Duration) -> Self {
        self.session_lifetime = Some(lifetime);
        self
    }
}

/// One authentication a broker saw through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// Simulated time since the start.
    pub at: Duration,
    /// The client.
    pub client: usize,
    /// The client's node id of the connection.
    pub node: NodeId,
    /// The broker.
    pub broker: i32,
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user (PLAIN, SCRAM) or token subject; empty when unknown.
    pub principal: String,
    /// Whether it renewed an authenticated session (KIP-368).
    pub renewal: bool,
    /// Whether it succeeded.
    pub ok: bool,
    /// Requests of the connection still unanswered when its SaslHandshake arrived (the
    /// consumer waits for them before renewing a session).
    pub in_flight_at_handshake: usize,
}

/// The SASL state of one connection, on the broker's side.
#[derive(Debug, Default)]
pub(super) struct ConnSasl {
    /// The exchange under way.
    exchange: Option<Exchange>,
    /// Authenticated (and the session not renewing).
    authenticated: bool,
    /// Authenticated once on this connection: a handshake now renews the session.
    ever: bool,
    /// When the session ends.
    expires_at: Option<Instant>,
    /// Unanswered requests when the last SaslHandshake arrived.
    in_flight_at_handshake: usize,
}

#[derive(Debug)]
enum Exchange {
    /// SaslHandshake done: the mechanism's first message comes next.
    Started(SaslMechanism),
    /// SCRAM: server-first sent.
    ScramFinal {
        mechanism: SaslMechanism,
        user: String,
        /// client-first-bare "," server-first.
        auth_prefix: String,
        nonce: String,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
    },
    /// OAUTHBEARER: the token was refused and the error sent; the client acknowledges.
    OAuthRefused,
}

/// What becomes of one request on a SASL listener.
pub(super) enum Verdict {
    /// Not a SASL matter: answered as usual.
    Pass,
    /// A SASL answer; the connection closes after it when `close` is set.
    Answer { frame: Bytes, close: bool },
    /// Not allowed on this connection now: the broker closes it without answering.
    Refuse,
}

/// How a SASL step ended.
struct Outcome {
    resp: SaslAuthenticateResponse,
    /// The exchange ended: Some(true) authenticated, Some(false) refused.
    done: Option<bool>,
    principal: String,
    next: Option<Exchange>,
}

impl Outcome {
    fn challenge(bytes: impl Into<Bytes>, next: Exchange) -> Self {
        Self {
            resp: SaslAuthenticateResponse {
                auth_bytes: bytes.into(),
                ..SaslAuthenticateResponse::default()
            },
            done: None,
            principal: String::new(),
            next: Some(next),
        }
    }

    fn failed(message: &str, principal: String) -> Self {
        Self {
            resp: SaslAuthenticateResponse {
                error_code: ErrorCode::SaslAuthenticationFailed.code(),
                error_message: Some(message.to_owned()),
                ..SaslAuthenticateResponse::default()
            },
            done: Some(false),
            principal,
            next: None,
        }
    }

    fn ok(bytes: impl Into<Bytes>, principal: String) -> Self {
        Self {
            resp: SaslAuthenticateResponse {
                auth_bytes: bytes.into(),
                ..SaslAuthenticateResponse::default()
            },
            done: Some(true),
            principal,
            next: None,
        }
    }
}

impl TestCluster {
    /// What becomes of request `t` from `client` at `broker`, as far as SASL goes.
    pub(super) fn sasl_verdict(
        &mut self,
        client: usize,
        broker: i32,
        t: &Transmit,
        error: Option<i16>,
    ) -> Verdict {
        let now = self.now();
        if let Some(code) = error.filter(|_| is_sasl(t.api_key)) {
            // A scripted error: answered as it is, the connection stays.
            let (corr, v) = (t.correlation_id, t.api_version);
            let frame = if t.api_key == ApiKey::SaslHandshake {
                let resp = SaslHandshakeResponse {
                    error_code: code,
                    mechanisms: Vec::new(),
                };
                encode::<SaslHandshakeRequest>(corr, v, &resp)
            } else {
                let resp = SaslAuthenticateResponse {
                    error_code: code,
                    ..SaslAuthenticateResponse::default()
                };
                encode::<SaslAuthenticateRequest>(corr, v, &resp)
            };
            if let Some(conn) = self.conns.get_mut(&(client, t.node)) {
                conn.sasl.exchange = None;
            }
            return Verdict::Answer {
                frame,
                close: false,
            };
        }
        let server = self.brokers[&broker].sasl.clone();
        let key = (client, t.node);
        let Some(server) = server else {
            return match t.api_key {
                // A listener without SASL, as Kafka's request handler answers.
                ApiKey::SaslHandshake => Verdict::Answer {
                    frame: encode::<SaslHandshakeRequest>(
                        t.correlation_id,
                        t.api_version,
                        &SaslHandshakeResponse {
                            error_code: ErrorCode::IllegalSaslState.code(),
                            mechanisms: Vec::new(),
                        },
                    ),
                    close: false,
                },
                ApiKey::SaslAuthenticate => Verdict::Answer {
                    frame: encode::<SaslAuthenticateRequest>(
                        t.correlation_id,
                        t.api_version,
                        &SaslAuthenticateResponse {
                            error_code: ErrorCode::IllegalSaslState.code(),
                            ..SaslAuthenticateResponse::default()
                        },
                    ),
                    close: false,
                },
                _ => Verdict::Pass,
            };
        };
        match t.api_key {
            ApiKey::ApiVersions => Verdict::Pass,
            ApiKey::SaslHandshake => self.sasl_handshake(client, &server, t),
            ApiKey::SaslAuthenticate => self.sasl_authenticate(client, broker, &server, t),
            api => {
                let Some(conn) = self.conns.get(&key) else {
                    return Verdict::Pass;
                };
                let state = &conn.sasl;
                let why = if !state.authenticated {
                    Some("before authenticating")
                } else if state.expires_at.is_some_and(|at| at <= now) {
                    Some("on an expired session")
                } else {
                    None
                };
                match why {
                    None => Verdict::Pass,
                    Some(why) => {
                        self.sasl_violations.push(format!(
                            "t={:?}: client {client} sent {api} #{} to broker {broker} (node {}) {why}",
                            self.elapsed, t.correlation_id, t.node
                        ));
                        Verdict::Refuse
                    }
                }
            }
        }
    }

    fn sasl_handshake(&mut self, client: usize, server: &SaslServer, t: &Transmit) -> Verdict {
        let (_, req) = decode::<SaslHandshakeRequest>(t.frame.clone());
        let enabled: Vec<String> = server
            .mechanisms
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        let mechanism = SaslMechanism::parse(&req.mechanism)
            .filter(|m| server.mechanisms.contains(m) && req.mechanism == m.name());
        let (code, close) = match mechanism {
            Some(m) => {
                if let Some(conn) = self.conns.get_mut(&(client, t.node)) {
                    conn.sasl.exchange = Some(Exchange::Started(m));
                    conn.sasl.authenticated = false;
                    conn.sasl.in_flight_at_handshake = conn.pending.len();
                }
                (ErrorCode::None, false)
            }
            None => (ErrorCode::UnsupportedSaslMechanism, true),
        };
        let resp = SaslHandshakeResponse {
            error_code: code.code(),
            mechanisms: enabled,
        };
        Verdict::Answer {
            frame: encode::<SaslHandshakeRequest>(t.correlation_id, t.api_version, &resp),
            close,
        }
    }

    fn sasl_authenticate(
        &mut self,
        client: usize,
        broker: i32,
        server: &SaslServer,
        t: &Transmit,
    ) -> Verdict {
        let now = self.now();
        let (_, req) = decode::<SaslAuthenticateRequest>(t.frame.clone());
        let key = (client, t.node);
        let exchange = self
            .conns
            .get_mut(&key)
            .and_then(|c| c.sasl.exchange.take());
        let Some(exchange) = exchange else {
            let resp = SaslAuthenticateResponse {
                error_code: ErrorCode::IllegalSaslState.code(),
                ..SaslAuthenticateResponse::default()
            };
            return Verdict::Answer {
                frame: encode::<SaslAuthenticateRequest>(t.correlation_id, t.api_version, &resp),
                close: true,
            };
        };
        let mechanism = match &exchange {
            Exchange::Started(m) | Exchange::ScramFinal { mechanism: m, .. } => *m,
            Exchange::OAuthRefused => SaslMechanism::OAuthBearer,
        };
        let outcome = match exchange {
            Exchange::Started(SaslMechanism::Plain) => plain(server, &req.auth_bytes),
            Exchange::Started(SaslMechanism::ScramSha256) => {
                self.scram_first::<Sha256>(server, mechanism, &req.auth_bytes)
            }
            Exchange::Started(SaslMechanism::ScramSha512) => {
                self.scram_first::<Sha512>(server, mechanism, &req.auth_bytes)
            }
            Exchange::Started(SaslMechanism::OAuthBearer) => oauth(server, &req.auth_bytes),
            Exchange::ScramFinal {
                mechanism,
                user,
                auth_prefix,
                nonce,
                stored_key,
                server_key,
            } => {
                let verify = match mechanism {
                    SaslMechanism::ScramSha512 => verify_client_proof::<Sha512>,
                    _ => verify_client_proof::<Sha256>,
                };
                let sign = match mechanism {
                    SaslMechanism::ScramSha512 => signature::<Sha512>,
                    _ => signature::<Sha256>,
                };
                scram_final(
                    &req.auth_bytes,
                    user,
                    &auth_prefix,
                    &nonce,
                    &stored_key,
                    &server_key,
                    verify,
                    sign,
                )
            }
            Exchange::OAuthRefused => {
                Outcome::failed("Authentication failed: invalid token", String::new())
            }
        };
        let Outcome {
            mut resp,
            done,
            principal,
            next,
        } = outcome;
        let mut close = false;
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.sasl.exchange = next;
            if let Some(ok) = done {
                let renewal = conn.sasl.ever;
                if ok {
                    conn.sasl.authenticated = true;
                    conn.sasl.ever = true;
                    conn.sasl.expires_at = server.session_lifetime.map(|l| now + l);
                    if t.api_version >= 1 {
                        resp.session_lifetime_ms = server
                            .session_lifetime
                            .map_or(0, |l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX));
                    }
                } else {
                    close = true;
                }
                self.authentications.push(Authentication {
                    at: self.elapsed,
                    client,
                    node: t.node,
                    broker,
                    mechanism,
                    principal,
                    renewal,
                    ok,
                    in_flight_at_handshake: conn.sasl.in_flight_at_handshake,
                });
            }
        }
        Verdict::Answer {
            frame: encode::<SaslAuthenticateRequest>(t.correlation_id, t.api_version, &resp),
            close,
        }
    }

    fn scram_first<D: ScramHash>(
        &mut self,
        server: &SaslServer,
        mechanism: SaslMechanism,
        message: &[u8],
    ) -> Outcome {
        let text = String::from_utf8_lossy(message);
        let Some(bare) = text.strip_prefix("n,,") else {
            return Outcome::failed(
                "Authentication failed: bad client-first message",
                String::new(),
            );
        };
        let mut user = None;
        let mut nonce = None;
        for part in bare.split(',') {
            if let Some(u) = part.strip_prefix("n=") {
                user = Some(u.replace("=2C", ",").replace("=3D", "="));
            } else if let Some(r) = part.strip_prefix("r=") {
                nonce = Some(r.to_owned());
            }
        }
        let (Some(user), Some(client_nonce)) = (user, nonce) else {
            return Outcome::failed(
                "Authentication failed: bad client-first message",
                String::new(),
            );
        };
        let Some(password) = server.users.get(&user) else {
            return Outcome::failed(
                "Authentication failed during authentication due to invalid credentials with SASL mechanism",
                user,
            );
        };
        self.scram_serial += 1;
        let nonce = format!("{client_nonce}srv{}", self.scram_serial);
        let salt = format!("salt-of-{user}").into_bytes();
        let keys = Keys::<D>::derive(password, &salt, server.iterations);
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&salt),
            server.iterations
        );
        let auth_prefix = format!("{bare},{server_first}");
        Outcome::challenge(
            server_first.into_bytes(),
            Exchange::ScramFinal {
                mechanism,
                user,
                auth_prefix,
                nonce,
                stored_key: keys.stored_key,
                server_key: keys.server_key,
            },
        )
    }
}

fn signature<D: ScramHash>(server_key: &[u8], auth_message: &str) -> Vec<u8> {
    use hmac::{Mac, SimpleHmac};
    let Ok(mac) = <SimpleHmac<D> as Mac>::new_from_slice(server_key) else {
        unreachable!("HMAC takes keys of any length");
    };
    mac.chain_update(auth_message.as_bytes())
        .finalize()
        .into_bytes()
        .to_vec()
}

#[allow(clippy::too_many_arguments)] // One step of one exchange: its state, unpacked.
fn scram_final(
    message: &[u8],
    user: String,
    auth_prefix: &str,
    nonce: &str,
    stored_key: &[u8],
    server_key: &[u8],
    verify: fn(&[u8], &str, &[u8]) -> bool,
    sign: fn(&[u8], &str) -> Vec<u8>,
) -> Outcome {
    let text = String::from_utf8_lossy(message);
    let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
        return Outcome::failed("Authentication failed: bad client-final message", user);
    };
    let expected = format!("c={},r={nonce}", STANDARD.encode("n,,"));
    let proof = STANDARD.decode(proof).unwrap_or_default();
    let auth_message = format!("{auth_prefix},{without_proof}");
    if without_proof != expected || !verify(stored_key, &auth_message, &proof) {
        return Outcome::failed(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism",
            user,
        );
    }
    let v = STANDARD.encode(sign(server_key, &auth_message));
    Outcome::ok(format!("v={v}").into_bytes(), user)
}

fn plain(server: &SaslServer, message: &[u8]) -> Outcome {
    let mut parts = message.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Outcome::failed("Authentication failed: bad PLAIN message", String::new());
    };
    let user = String::from_utf8_lossy(user).into_owned();
    if !authzid.is_empty() && authzid != user.as_bytes() {
        return Outcome::failed("Authentication failed: Invalid authorization id", user);
    }
    let known = server
        .users
        .get(&user)
        .is_some_and(|p| p.as_bytes() == password);
    if known {
        Outcome::ok(Bytes::new(), user)
    } else {
        Outcome::failed("Authentication failed: Invalid username or password", user)
    }
}

fn oauth(server: &SaslServer, message: &[u8]) -> Outcome {
    let token = message
        .split(|b| *b == 1)
        .find_map(|kv| kv.strip_prefix(b"auth=Bearer "))
        .map(|t| String::from_utf8_lossy(t).into_owned());
    let Some(token) = token else {
        return Outcome::failed("Authentication failed: no token", String::new());
    };
    let subject = unsecured_subject(&token);
    let accepted = server.tokens.contains(&token) || (server.unsecured_jwts && subject.is_some());
    if accepted {
        Outcome::ok(Bytes::new(), subject.unwrap_or_default())
    } else {
        Outcome::challenge(
            Bytes::from_static(br#"{"status":"invalid_token"}"#),
            Exchange::OAuthRefused,
        )
    }
}

fn is_sasl(api: ApiKey) -> bool {
    matches!(api, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate)
}

/// The `sub` claim of an unsecured JWT (`alg: none`), if `token` is one.
fn unsecured_subject(token: &str) -> Option<String> {
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    let claims = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    if !parts.next()?.is_empty() || !String::from_utf8_lossy(&header).contains(r#""alg":"none""#) {
        return None;
    }
    let claims = String::from_utf8(claims).ok()?;
    let rest = claims.split_once(r#""sub":""#)?.1;
    Some(rest.split('"').next()?.to_owned())
}
