//! The `sasl_messages` check: the SASL mechanisms' readers of server messages.
//!
//! Input layout: `[kind, rest...]`, `kind % 5` picks:
//! - 0: `ServerFirst::parse(rest)` (SCRAM server-first);
//! - 1: `ServerFinal::parse(rest)` (SCRAM server-final);
//! - 2: `ServerChallenge::parse(rest)` (the OAUTHBEARER server error, JSON);
//! - 3: a SCRAM-SHA-256 client after its client-first: `rest` split at the first NUL into
//!   server-first and server-final;
//! - 4: an OAUTHBEARER client after its initial response: `rest` split at the first NUL
//!   into the server's two messages.
//!
//! Invariants: no panic; the heap stays within a bound proportional to the input; what
//! parses is consistent (a nonce is printable, a salt not empty); and no server message
//! completes a SCRAM exchange without knowing the password: a forged server-final is
//! always refused.

use consumer_core::sasl::{
    OAuthBearerClient, ScramClient, ServerChallenge, ServerFinal, ServerFirst, Step,
    MAX_ITERATIONS, MIN_ITERATIONS,
};
use consumer_core::{OAuthBearerToken, Secret};
use sha2::Sha256;

use crate::alloc;

/// The client nonce of kind 3: a fuzzer that wants to get past the nonce check writes it.
pub const CLIENT_NONCE: &str = "fuzzNonce";

/// The most iterations kind 3 computes: more is slow without finding more (the limits
/// themselves are unit-tested); such inputs stop after the parse.
const FUZZ_MAX_ITERATIONS: u32 = 2 * MIN_ITERATIONS;

/// Runs one input; panics on a broken invariant. Returns whether a message parsed.
pub fn check(data: &[u8]) -> bool {
    let [kind, rest @ ..] = data else {
        return false;
    };
    let len = rest.len();
    let (parsed, peak) = alloc::measure(|| match kind % 5 {
        0 => server_first(rest),
        1 => ServerFinal::parse(rest).is_ok(),
        2 => challenge(rest),
        3 => scram(rest),
        _ => oauth(rest),
    });
    // The SCRAM client keeps its messages and keys: a few small strings beside the input.
    alloc::assert_justified("sasl", peak, len, 8 * len + 4096);
    parsed
}

fn server_first(rest: &[u8]) -> bool {
    let Ok(first) = ServerFirst::parse(rest) else {
        return false;
    };
    assert!(!first.nonce.is_empty() && !first.nonce.contains(','));
    assert!(first.nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert!(!first.salt.is_empty());
    true
}

fn challenge(rest: &[u8]) -> bool {
    let Ok(c) = ServerChallenge::parse(rest) else {
        return false;
    };
    assert!(!c.status.is_empty());
    true
}

fn split(rest: &[u8]) -> (&[u8], &[u8]) {
    match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[]),
    }
}

fn scram(rest: &[u8]) -> bool {
    let (first, last) = split(rest);
    let parsed = ServerFirst::parse(first);
    if parsed
        .as_ref()
        .is_ok_and(|f| f.iterations > FUZZ_MAX_ITERATIONS && f.iterations <= MAX_ITERATIONS)
    {
        return true;
    }
    let mut client = ScramClient::<Sha256>::new("user", Secret::new("pencil"), CLIENT_NONCE)
        .expect("a printable nonce");
    client.initial_response();
    match client.evaluate(first) {
        Ok(Step::Respond(fin)) => {
            assert!(
                parsed.is_ok(),
                "a client-final for an unparsable server-first"
            );
            assert!(fin.starts_with(b"c=biws,r=fuzzNonce"));
            // Forging the server's signature takes the password: never accepted.
            let verdict = client.evaluate(last);
            assert!(verdict.is_err(), "a forged server-final was accepted");
            assert!(!client.is_complete());
            true
        }
        Ok(Step::Done) => panic!("SCRAM done after server-first"),
        Err(_) => {
            assert!(!client.is_complete());
            // After a refusal nothing more is accepted.
            assert!(client.evaluate(last).is_err());
            false
        }
    }
}

fn oauth(rest: &[u8]) -> bool {
    let (first, second) = split(rest);
    let mut client =
        OAuthBearerClient::new(OAuthBearerToken::new("fuzz.token")).expect("a valid token");
    client.initial_response();
    match client.evaluate(first) {
        Ok(Step::Done) => {
            assert!(first.is_empty(), "done on a non-empty server message");
            assert!(client.evaluate(second).is_err());
            true
        }
        Ok(Step::Respond(ack)) => {
            assert_eq!(ack, [1], "a refusal is acknowledged with \\x01 alone");
            assert!(client.refusal().is_some());
            assert!(client.evaluate(second).is_err());
            true
        }
        Err(e) => panic!("the first server message is always read: {e}"),
    }
}

/// Seeds: the RFC 5802 / 7677 messages (kind 0 and 1), OAUTHBEARER errors (2, 4), and a
/// SCRAM exchange with a server-first that extends the fuzz nonce (3).
pub fn seeds() -> Vec<crate::seeds::Seed> {
    let with = |kind: u8, s: &[u8]| {
        let mut v = vec![kind];
        v.extend_from_slice(s);
        v
    };
    let rfc7677 =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let rfc5802 = b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    let mut scram = b"r=fuzzNonceSERVER,s=QSXCR+Q6sek8bf92,i=4096\0".to_vec();
    scram.extend_from_slice(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    let json = br#"{"status":"invalid_token","scope":"read write","openid-configuration":"https://x/.well-known"}"#;
    let mut oauth = json.to_vec();
    oauth.push(0);
    vec![
        ("server-first-rfc7677".into(), with(0, rfc7677)),
        ("server-first-rfc5802".into(), with(0, rfc5802)),
        (
            "server-first-ext".into(),
            with(0, b"m=x,r=a,s=c2FsdA==,i=4096"),
        ),
        (
            "server-final-rfc7677".into(),
            with(1, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
        ),
        ("server-final-error".into(), with(1, b"e=invalid-proof")),
        ("challenge".into(), with(2, json)),
        ("scram-exchange".into(), with(3, &scram)),
        ("oauth-refused".into(), with(4, &oauth)),
        ("oauth-accepted".into(), with(4, b"")),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_parse() {
        for (name, data) in super::seeds() {
            let parsed = super::check(&data);
            assert!(parsed || name.ends_with("-ext"), "seed {name}");
        }
    }
}
