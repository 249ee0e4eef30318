//! SCRAM (RFC 5802, RFC 7677): the client side, generic over the hash.
//!
//! ```text
//!  client-first  n,,n=<user>,r=<client nonce>                      ──►
//!                r=<client nonce><server nonce>,s=<salt>,i=<n>     ◄──  server-first
//!  client-final  c=biws,r=<nonce>,p=<proof>                         ──►
//!                v=<server signature>   (or e=<error>)             ◄──  server-final
//! ```
//!
//! The password is used as UTF-8 without SASLprep, as Kafka's own client and broker do
//! (a password that SASLprep would change must be stored the same way on both sides).

use std::fmt;
use std::marker::PhantomData;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::Digest;
use hmac::{Mac, SimpleHmac};

use super::{MechanismError, Step};
use crate::config::Secret;

/// The fewest iterations accepted: Kafka's minimum for SCRAM credentials (and RFC 7677's
/// recommendation). A server asking fewer makes a stolen exchange cheap to crack.
pub const MIN_ITERATIONS: u32 = 4096;

/// The most iterations accepted. Kafka refuses to store credentials above 16384; a server
/// asking far more only makes the client burn CPU.
pub const MAX_ITERATIONS: u32 = 65_536;

/// The GS2 header: no channel binding, no authorization identity (as Kafka's client).
const GS2_HEADER: &str = "n,,";

/// A hash SCRAM can be built on: SHA-256 and SHA-512 for Kafka, SHA-1 in RFC 5802's
/// example.
pub trait ScramHash: Digest + BlockSizeUser + Clone + Sync {}

impl<D: Digest + BlockSizeUser + Clone + Sync> ScramHash for D {}

/// The parts of a server-first message (RFC 5802 §7) the client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    /// The whole nonce: the client's, then the server's part.
    pub nonce: String,
    /// The salt, decoded.
    pub salt: Vec<u8>,
    /// The iteration count.
    pub iterations: u32,
}

impl ServerFirst {
    /// Parses a server-first message: `r=`, `s=`, `i=` in this order, then extensions
    /// (ignored). A leading `m=` (a mandatory extension) is refused, as RFC 5802 requires
    /// of a client that knows none. The values are checked only for their form: the
    /// nonce against the client's and the iteration count against the limits are the
    /// client's checks.
    pub fn parse(message: &[u8]) -> Result<Self, MechanismError> {
        let text = std::str::from_utf8(message)
            .map_err(|_| MechanismError::Malformed("the server-first message is not UTF-8"))?;
        let mut attrs = text.split(',');
        let first = attrs.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(MechanismError::UnsupportedExtension);
        }
        let nonce = attribute(first, 'r')?;
        if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(MechanismError::Malformed(
                "the server nonce is empty or not printable",
            ));
        }
        let salt = attribute(attrs.next().unwrap_or_default(), 's')?;
        let salt = STANDARD
            .decode(salt)
            .map_err(|_| MechanismError::InvalidBase64 { attribute: 's' })?;
        if salt.is_empty() {
            return Err(MechanismError::Malformed("the salt is empty"));
        }
        let iterations = attribute(attrs.next().unwrap_or_default(), 'i')?;
        if iterations.is_empty() || !iterations.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MechanismError::Malformed(
                "the iteration count is not a number",
            ));
        }
        // Digits only: the one way to fail is a number too large for u32.
        let iterations = iterations.parse::<u32>().unwrap_or(u32::MAX);
        Ok(Self {
            nonce: nonce.to_owned(),
            salt,
            iterations,
        })
    }
}

/// A server-final message (RFC 5802 §7): the server's signature, or its error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFinal {
    /// `v=`: the server signature, decoded.
    Verifier(Vec<u8>),
    /// `e=`: the server's error (e.g. `invalid-proof`, `unknown-user`).
    Error(String),
}

impl ServerFinal {
    /// Parses a server-final message; extensions after the first attribute are ignored.
    pub fn parse(message: &[u8]) -> Result<Self, MechanismError> {
        let text = std::str::from_utf8(message)
            .map_err(|_| MechanismError::Malformed("the server-final message is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            // Server error values are short tokens; a long or odd one is cut down so that
            // the error message stays readable (it is the server's text, not a secret).
            let error: String = error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect();
            return Ok(Self::Error(error));
        }
        let v = attribute(first, 'v')?;
        let signature = STANDARD
            .decode(v)
            .map_err(|_| MechanismError::InvalidBase64 { attribute: 'v' })?;
        Ok(Self::Verifier(signature))
    }
}

/// The value of `attr=value`, if `part` is that attribute.
fn attribute(part: &str, attr: char) -> Result<&str, MechanismError> {
    let mut chars = part.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some('=')) if a == attr => Ok(chars.as_str()),
        _ => Err(MechanismError::MissingAttribute { attribute: attr }),
    }
}

/// `saslname` of RFC 5802: `=` and `,` escaped as `=3D` and `=2C`.
pub fn escape_username(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone)]
enum State {
    /// Nothing sent yet.
    Initial,
    /// client-first sent; its bare part is part of the AuthMessage.
    FirstSent { client_first_bare: String },
    /// client-final sent; the server must prove it knows the password too.
    FinalSent {
        server_key: Vec<u8>,
        auth_message: String,
    },
    /// The server's signature matched.
    Done,
    /// The exchange failed; nothing more is accepted.
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Initial => "Initial",
            State::FirstSent { .. } => "FirstSent",
            State::FinalSent { .. } => "FinalSent",
            State::Done => "Done",
            State::Failed => "Failed",
        }
    }
}

/// The client side of one SCRAM exchange over the hash `D`.
pub struct ScramClient<D> {
    username: String,
    password: Secret,
    nonce: String,
    state: State,
    hash: PhantomData<fn() -> D>,
}

impl<D> Clone for ScramClient<D> {
    fn clone(&self) -> Self {
        Self {
            username: self.username.clone(),
            password: self.password.clone(),
            nonce: self.nonce.clone(),
            state: self.state.clone(),
            hash: PhantomData,
        }
    }
}

impl<D> fmt::Debug for ScramClient<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither the password nor the keys derived from it.
        f.debug_struct("ScramClient")
            .field("username", &self.username)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl<D: ScramHash> ScramClient<D> {
    /// A client for `username` with `password`, using `nonce` as its nonce (printable
    /// ASCII without `,`; random in real use, fixed in tests).
    pub fn new(
        username: &str,
        password: Secret,
        nonce: impl Into<String>,
    ) -> Result<Self, MechanismError> {
        let nonce = nonce.into();
        if nonce.is_empty()
            || !nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err(MechanismError::InvalidCredentials(
                "the client nonce must be printable ASCII without commas",
            ));
        }
        Ok(Self {
            username: username.to_owned(),
            password,
            nonce,
            state: State::Initial,
            hash: PhantomData,
        })
    }

    /// The client-first message, `n,,n=<user>,r=<nonce>`.
    pub fn initial_response(&mut self) -> Vec<u8> {
        let bare = format!("n={},r={}", escape_username(&self.username), self.nonce);
        let message = format!("{GS2_HEADER}{bare}");
        self.state = State::FirstSent {
            client_first_bare: bare,
        };
        message.into_bytes()
    }

    /// The next message for the server's `challenge`: client-final for server-first,
    /// nothing for a server-final whose signature matched.
    pub fn evaluate(&mut self, challenge: &[u8]) -> Result<Step, MechanismError> {
        let state = std::mem::replace(&mut self.state, State::Failed);
        match state {
            State::FirstSent { client_first_bare } => {
                let (reply, next) = self.client_final(&client_first_bare, challenge)?;
                self.state = next;
                Ok(Step::Respond(reply))
            }
            State::FinalSent {
                server_key,
                auth_message,
            } => {
                verify_server_final::<D>(&server_key, &auth_message, challenge)?;
                self.state = State::Done;
                Ok(Step::Done)
            }
            State::Initial | State::Done | State::Failed => {
                Err(MechanismError::UnexpectedChallenge)
            }
        }
    }

    /// True once the server proved it knows the password.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn client_final(
        &self,
        client_first_bare: &str,
        server_first: &[u8],
    ) -> Result<(Vec<u8>, State), MechanismError> {
        let first = ServerFirst::parse(server_first)?;
        // The server's nonce extends ours: anything else is a replay or a confused server.
        let server_part = first.nonce.strip_prefix(self.nonce.as_str());
        if server_part.is_none_or(str::is_empty) {
            return Err(MechanismError::NonceMismatch);
        }
        if first.iterations < MIN_ITERATIONS || first.iterations > MAX_ITERATIONS {
            return Err(MechanismError::IterationCount {
                iterations: first.iterations,
                min: MIN_ITERATIONS,
                max: MAX_ITERATIONS,
            });
        }
        // `parse` checked the message is UTF-8.
        let server_first = String::from_utf8_lossy(server_first);
        let without_proof = format!("c={},r={}", STANDARD.encode(GS2_HEADER), first.nonce);
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let keys = Keys::<D>::derive(self.password.expose(), &first.salt, first.iterations);
        let proof = keys.client_proof(&auth_message);
        let message = format!("{without_proof},p={}", STANDARD.encode(proof));
        Ok((
            message.into_bytes(),
            State::FinalSent {
                server_key: keys.server_key,
                auth_message,
            },
        ))
    }
}

/// Checks a server-final message against the signature the server must have computed.
fn verify_server_final<D: ScramHash>(
    server_key: &[u8],
    auth_message: &str,
    message: &[u8],
) -> Result<(), MechanismError> {
    match ServerFinal::parse(message)? {
        ServerFinal::Error(error) => Err(MechanismError::ServerError(error)),
        ServerFinal::Verifier(signature) => {
            // `verify_slice` compares in constant time.
            hmac::<D>(server_key)
                .chain_update(auth_message.as_bytes())
                .verify_slice(&signature)
                .map_err(|_| MechanismError::ServerSignatureMismatch)
        }
    }
}

fn hmac<D: ScramHash>(key: &[u8]) -> SimpleHmac<D> {
    // HMAC takes keys of any length: hashed when longer than a block, padded when shorter.
    match <SimpleHmac<D> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

fn hmac_of<D: ScramHash>(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::<D>(key)
        .chain_update(data)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// The keys of RFC 5802 §3 derived from a password. Public for test servers, which
/// derive the stored key and server key of a credential the same way.
pub struct Keys<D> {
    /// ClientKey = HMAC(SaltedPassword, "Client Key").
    pub client_key: Vec<u8>,
    /// StoredKey = H(ClientKey): what a server stores.
    pub stored_key: Vec<u8>,
    /// ServerKey = HMAC(SaltedPassword, "Server Key").
    pub server_key: Vec<u8>,
    hash: PhantomData<fn() -> D>,
}

impl<D> fmt::Debug for Keys<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keys([hidden])")
    }
}

impl<D: ScramHash> Keys<D> {
    /// SaltedPassword = Hi(password, salt, i) (PBKDF2 with HMAC), and the keys from it.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Self {
        let mut salted = vec![0u8; <D as Digest>::output_size()];
        // The output length is the hash's, so PBKDF2 cannot refuse it.
        if pbkdf2::pbkdf2::<SimpleHmac<D>>(password.as_bytes(), salt, iterations, &mut salted)
            .is_err()
        {
            unreachable!("HMAC accepts keys of every length");
        }
        let client_key = hmac_of::<D>(&salted, b"Client Key");
        let server_key = hmac_of::<D>(&salted, b"Server Key");
        let stored_key = D::digest(&client_key).to_vec();
        Self {
            client_key,
            stored_key,
            server_key,
            hash: PhantomData,
        }
    }

    /// ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage).
    pub fn client_proof(&self, auth_message: &str) -> Vec<u8> {
        let signature = hmac_of::<D>(&self.stored_key, auth_message.as_bytes());
        self.client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect()
    }

    /// ServerSignature = HMAC(ServerKey, AuthMessage).
    pub fn server_signature(&self, auth_message: &str) -> Vec<u8> {
        hmac_of::<D>(&self.server_key, auth_message.as_bytes())
    }
}

/// For a server: recovers ClientKey from a client's proof and StoredKey
/// (ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage)) and checks that it hashes
/// to StoredKey. Public for test servers.
pub fn verify_client_proof<D: ScramHash>(
    stored_key: &[u8],
    auth_message: &str,
    proof: &[u8],
) -> bool {
    let signature = hmac_of::<D>(stored_key, auth_message.as_bytes());
    if proof.len() != signature.len() {
        return false;
    }
    let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
    let digest = D::digest(&client_key);
    // Constant time: the same comparison as the client's check of the server signature.
    hmac::<D>(b"compare")
        .chain_update(&digest)
        .verify_slice(&hmac_of::<D>(b"compare", stored_key))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Sha256, Sha512};

    fn exchange<D: ScramHash>(
        user: &str,
        password: &str,
        nonce: &str,
        server_first: &str,
    ) -> (ScramClient<D>, String, String) {
        let mut c = ScramClient::<D>::new(user, Secret::new(password), nonce).unwrap();
        let first = String::from_utf8(c.initial_response()).unwrap();
        let Step::Respond(fin) = c.evaluate(server_first.as_bytes()).unwrap() else {
            panic!("client-final expected");
        };
        (c, first, String::from_utf8(fin).unwrap())
    }

    #[test]
    fn rfc5802_sha1_example() {
        let (mut c, first, fin) = exchange::<sha1::Sha1>(
            "user",
            "pencil",
            "fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
        );
        assert_eq!(first, "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(
            fin,
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert_eq!(
            c.evaluate(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").unwrap(),
            Step::Done
        );
        assert!(c.is_complete());
    }

    const RFC7677_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn rfc7677_sha256_example() {
        let (mut c, first, fin) = exchange::<Sha256>(
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
            RFC7677_SERVER_FIRST,
        );
        assert_eq!(first, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            c.evaluate(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            Step::Done
        );
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        let (mut c, _, _) = exchange::<Sha256>(
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
            RFC7677_SERVER_FIRST,
        );
        // The RFC's signature with its first byte changed.
        assert_eq!(
            c.evaluate(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(MechanismError::ServerSignatureMismatch)
        );
        assert!(!c.is_complete());
        // Nothing more is accepted after a failure.
        assert_eq!(
            c.evaluate(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(MechanismError::UnexpectedChallenge)
        );
    }

    /// A server side built from the same key derivation, as the test kit's broker does.
    fn server_round_trip<D: ScramHash>(password_used: &str) -> Result<Step, MechanismError> {
        let salt = b"0123456789abcdef";
        let stored = Keys::<D>::derive("s3cr3t", salt, 4096);
        let mut c = ScramClient::<D>::new("alice", Secret::new(password_used), "abc").unwrap();
        c.initial_response();
        let server_first = format!("r=abcSERVER,s={},i=4096", STANDARD.encode(salt));
        let Step::Respond(fin) = c.evaluate(server_first.as_bytes())? else {
            panic!("client-final expected");
        };
        let fin = String::from_utf8(fin).unwrap();
        let (without_proof, proof) = fin.rsplit_once(",p=").unwrap();
        let auth = format!("n=alice,r=abc,{server_first},{without_proof}");
        let proof = STANDARD.decode(proof).unwrap();
        if !verify_client_proof::<D>(&stored.stored_key, &auth, &proof) {
            return c.evaluate(b"e=invalid-proof");
        }
        let v = STANDARD.encode(stored.server_signature(&auth));
        c.evaluate(format!("v={v}").as_bytes())
    }

    #[test]
    fn sha512_round_trip_against_a_server_side() {
        assert_eq!(server_round_trip::<Sha512>("s3cr3t"), Ok(Step::Done));
        assert_eq!(
            server_round_trip::<Sha512>("wrong"),
            Err(MechanismError::ServerError("invalid-proof".into()))
        );
        assert_eq!(server_round_trip::<Sha256>("s3cr3t"), Ok(Step::Done));
    }

    #[test]
    fn user_names_are_escaped() {
        assert_eq!(escape_username("a=b,c"), "a=3Db=2Cc");
        let mut c = ScramClient::<Sha256>::new("a=b,c", Secret::new("p"), "n0nce").unwrap();
        assert_eq!(c.initial_response(), b"n,,n=a=3Db=2Cc,r=n0nce");
    }

    fn server_first_error(server_first: &str) -> MechanismError {
        let mut c = ScramClient::<Sha256>::new("user", Secret::new("pencil"), "abc").unwrap();
        c.initial_response();
        c.evaluate(server_first.as_bytes()).unwrap_err()
    }

    #[test]
    fn bad_server_first_messages_are_refused() {
        let salt = "W22ZaJ0SNY7soEsUEjb6gQ==";
        assert_eq!(
            server_first_error(&format!("r=xyzSERVER,s={salt},i=4096")),
            MechanismError::NonceMismatch
        );
        assert_eq!(
            server_first_error(&format!("r=abc,s={salt},i=4096")),
            MechanismError::NonceMismatch,
            "the server must add a nonce of its own"
        );
        assert_eq!(
            server_first_error(&format!("r=abcS,s={salt},i=4095")),
            MechanismError::IterationCount {
                iterations: 4095,
                min: MIN_ITERATIONS,
                max: MAX_ITERATIONS
            }
        );
        assert!(matches!(
            server_first_error(&format!("r=abcS,s={salt},i=99999999999")),
            MechanismError::IterationCount { .. }
        ));
        assert_eq!(
            server_first_error(&format!("m=ext,r=abcS,s={salt},i=4096")),
            MechanismError::UnsupportedExtension
        );
        assert_eq!(
            server_first_error("r=abcS,s=not base64!,i=4096"),
            MechanismError::InvalidBase64 { attribute: 's' }
        );
        assert_eq!(
            server_first_error(&format!("r=abcS,i=4096,s={salt}")),
            MechanismError::MissingAttribute { attribute: 's' }
        );
        assert!(matches!(
            server_first_error(&format!("r=abcS,s={salt},i=-1")),
            MechanismError::Malformed(_)
        ));
        assert!(matches!(
            server_first_error("r=abcS,s=,i=4096"),
            MechanismError::Malformed(_)
        ));
        assert!(matches!(
            server_first_error(""),
            MechanismError::MissingAttribute { attribute: 'r' }
        ));
        // Extensions after the iteration count are allowed and ignored.
        let ok = ServerFirst::parse(format!("r=abcS,s={salt},i=4096,x=y").as_bytes()).unwrap();
        assert_eq!(ok.iterations, 4096);
    }

    #[test]
    fn server_final_errors_and_garbage() {
        assert_eq!(
            ServerFinal::parse(b"e=unknown-user").unwrap(),
            ServerFinal::Error("unknown-user".into())
        );
        assert_eq!(
            ServerFinal::parse(b"v=@@").unwrap_err(),
            MechanismError::InvalidBase64 { attribute: 'v' }
        );
        assert!(ServerFinal::parse(b"\xff").is_err());
        assert!(ServerFinal::parse(b"x=1").is_err());
    }

    #[test]
    fn debug_output_shows_no_password() {
        let c = ScramClient::<Sha256>::new("user", Secret::new("pencil"), "abc").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("pencil"), "{shown}");
        assert!(shown.contains("user"));
    }
}
