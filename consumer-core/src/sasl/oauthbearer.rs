//! OAUTHBEARER (RFC 7628, Kafka's KIP-255 and KIP-342): a bearer token, with SASL
//! extensions, in one message:
//!
//! ```text
//!  n,,\x01auth=Bearer <token>\x01<key>=<value>\x01...\x01   ──►
//!  (empty)                                                   ◄──  accepted
//!  {"status":"invalid_token",...}                            ◄──  refused: the client
//!  \x01                                                      ──►  answers \x01 and the
//!                                                                 server ends with an error
//! ```

use std::fmt;

use super::{MechanismError, Step};
use crate::config::{OAuthBearerToken, Secret};

/// The separator of RFC 7628's key-value pairs.
const SEP: u8 = 0x01;

/// The longest server status kept for the error message.
const MAX_STATUS: usize = 128;

/// The error a server sends as its challenge when it refuses a token (RFC 7628 §3.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerChallenge {
    /// `status`, e.g. `invalid_token`.
    pub status: String,
    /// `scope`, the scope the server wanted, if given.
    pub scope: Option<String>,
    /// `openid-configuration`, if given.
    pub openid_configuration: Option<String>,
}

impl ServerChallenge {
    /// Parses the server's JSON error. Only string members are read; members of other
    /// types are skipped. Values are cut to a readable length.
    pub fn parse(challenge: &[u8]) -> Result<Self, MechanismError> {
        let members = json::object(challenge).ok_or(MechanismError::Malformed(
            "the server challenge is not a JSON object",
        ))?;
        let mut out = Self::default();
        for (key, value) in members {
            let value: String = value.chars().take(MAX_STATUS).collect();
            match key.as_str() {
                "status" => out.status = value,
                "scope" => out.scope = Some(value),
                "openid-configuration" => out.openid_configuration = Some(value),
                _ => {}
            }
        }
        if out.status.is_empty() {
            return Err(MechanismError::Malformed(
                "the server challenge has no status",
            ));
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Initial,
    Sent,
    /// The server refused the token; its error ends the exchange.
    Refused(ServerChallenge),
    Done,
}

/// The client side of OAUTHBEARER.
#[derive(Clone)]
pub struct OAuthBearerClient {
    token: Secret,
    extensions: Vec<(String, String)>,
    state: State,
}

impl fmt::Debug for OAuthBearerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthBearerClient")
            .field("extensions", &self.extensions.len())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl OAuthBearerClient {
    /// A client sending `token`. The token must be a `b64token` (RFC 6750: letters,
    /// digits, `-._~+/`, then `=` padding); extension keys letters only (not `auth`),
    /// values printable ASCII, space, tab, CR or LF, as Kafka checks them.
    pub fn new(token: OAuthBearerToken) -> Result<Self, MechanismError> {
        if !is_b64token(token.value.expose()) {
            return Err(MechanismError::InvalidCredentials(
                "the OAUTHBEARER token is not a b64token (RFC 6750)",
            ));
        }
        for (key, value) in &token.extensions {
            let key_ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphabetic());
            if !key_ok || key == "auth" {
                return Err(MechanismError::InvalidExtension { key: key.clone() });
            }
            let value_ok = !value.is_empty()
                && value.bytes().all(|b| {
                    (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n')
                });
            if !value_ok {
                return Err(MechanismError::InvalidExtension { key: key.clone() });
            }
        }
        Ok(Self {
            token: token.value,
            extensions: token.extensions,
            state: State::Initial,
        })
    }

    /// The client's one message: GS2 header, token and extensions.
    pub fn initial_response(&mut self) -> Vec<u8> {
        self.state = State::Sent;
        let mut out = b"n,,".to_vec();
        out.push(SEP);
        out.extend_from_slice(b"auth=Bearer ");
        out.extend_from_slice(self.token.expose().as_bytes());
        out.push(SEP);
        for (key, value) in &self.extensions {
            out.extend_from_slice(key.as_bytes());
            out.push(b'=');
            out.extend_from_slice(value.as_bytes());
            out.push(SEP);
        }
        out.push(SEP);
        out
    }

    /// The server's answer: empty when it accepted the token; otherwise its error, to be
    /// acknowledged with a lone `\x01` (the server then ends the exchange with an error).
    pub fn evaluate(&mut self, challenge: &[u8]) -> Result<Step, MechanismError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Sent if challenge.is_empty() => Ok(Step::Done),
            State::Sent => {
                let refused = ServerChallenge::parse(challenge).unwrap_or_else(|e| {
                    // Still a refusal: the server said something other than "accepted".
                    log::debug!("OAUTHBEARER: unreadable server challenge: {e}");
                    ServerChallenge {
                        status: "unreadable server challenge".to_owned(),
                        ..ServerChallenge::default()
                    }
                });
                self.state = State::Refused(refused);
                Ok(Step::Respond(vec![SEP]))
            }
            State::Refused(c) => {
                let error = MechanismError::TokenRefused {
                    status: c.status.clone(),
                };
                self.state = State::Refused(c);
                Err(error)
            }
            State::Initial | State::Done => Err(MechanismError::UnexpectedChallenge),
        }
    }

    /// The server's status, if it refused the token.
    pub fn refusal(&self) -> Option<&ServerChallenge> {
        match &self.state {
            State::Refused(c) => Some(c),
            _ => None,
        }
    }
}

fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// Just enough JSON to read the members of a flat object.
mod json {
    /// How deep nested values (skipped) may go.
    const MAX_DEPTH: usize = 32;

    struct Parser<'a> {
        input: &'a [u8],
        at: usize,
    }

    /// The string members of the object `input` is, or None if it is not one.
    pub(super) fn object(input: &[u8]) -> Option<Vec<(String, String)>> {
        let mut p = Parser { input, at: 0 };
        p.ws();
        p.eat(b'{')?;
        let mut members = Vec::new();
        p.ws();
        if p.peek() == Some(b'}') {
            p.at += 1;
        } else {
            loop {
                p.ws();
                let key = p.string()?;
                p.ws();
                p.eat(b':')?;
                p.ws();
                if p.peek() == Some(b'"') {
                    let value = p.string()?;
                    members.push((key, value));
                } else {
                    p.skip_value(0)?;
                }
                p.ws();
                match p.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        p.ws();
        (p.at == p.input.len()).then_some(members)
    }

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.input.get(self.at).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.at += 1;
            Some(b)
        }

        fn eat(&mut self, b: u8) -> Option<()> {
            (self.next()? == b).then_some(())
        }

        fn ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                self.at += 1;
            }
        }

        fn string(&mut self) -> Option<String> {
            self.eat(b'"')?;
            let mut out: Vec<u8> = Vec::new();
            loop {
                match self.next()? {
                    b'"' => return String::from_utf8(out).ok(),
                    b'\\' => {
                        let c = match self.next()? {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let code = self.hex4()?;
                                // A surrogate half on its own becomes U+FFFD.
                                char::from_u32(code).unwrap_or('\u{fffd}')
                            }
                            _ => return None,
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    b if b < 0x20 => return None,
                    b => out.push(b),
                }
            }
        }

        fn hex4(&mut self) -> Option<u32> {
            let mut v = 0u32;
            for _ in 0..4 {
                let d = char::from(self.next()?).to_digit(16)?;
                v = v * 16 + d;
            }
            Some(v)
        }

        /// Skips a number, literal, array or object.
        fn skip_value(&mut self, depth: usize) -> Option<()> {
            if depth > MAX_DEPTH {
                return None;
            }
            match self.peek()? {
                b'"' => self.string().map(|_| ()),
                b'{' | b'[' => {
                    let close = if self.next()? == b'{' { b'}' } else { b']' };
                    self.ws();
                    if self.peek() == Some(close) {
                        self.at += 1;
                        return Some(());
                    }
                    loop {
                        self.ws();
                        if close == b'}' {
                            self.string()?;
                            self.ws();
                            self.eat(b':')?;
                            self.ws();
                        }
                        self.skip_value(depth + 1)?;
                        self.ws();
                        match self.next()? {
                            b',' => continue,
                            b if b == close => return Some(()),
                            _ => return None,
                        }
                    }
                }
                _ => {
                    let start = self.at;
                    while matches!(
                        self.peek(),
                        Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E' | b'a'..=b'z')
                    ) {
                        self.at += 1;
                    }
                    (self.at > start).then_some(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(value: &str, extensions: &[(&str, &str)]) -> OAuthBearerToken {
        OAuthBearerToken {
            value: Secret::new(value),
            extensions: extensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn initial_response_carries_token_and_extensions() {
        let mut c = OAuthBearerClient::new(token(
            "eyJh.eyJz.",
            &[("logicalCluster", "lkc-1"), ("a", "b c")],
        ))
        .unwrap();
        assert_eq!(
            c.initial_response(),
            b"n,,\x01auth=Bearer eyJh.eyJz.\x01logicalCluster=lkc-1\x01a=b c\x01\x01"
        );
        assert_eq!(c.evaluate(b""), Ok(Step::Done));
        let mut c = OAuthBearerClient::new(token("abc==", &[])).unwrap();
        assert_eq!(c.initial_response(), b"n,,\x01auth=Bearer abc==\x01\x01");
    }

    #[test]
    fn a_refused_token_is_acknowledged_then_reported_with_the_status() {
        let mut c = OAuthBearerClient::new(token("abc", &[])).unwrap();
        c.initial_response();
        let challenge = br#"{"status":"invalid_token","scope":"read","openid-configuration":"x","n":[1,{"a":null}]}"#;
        assert_eq!(c.evaluate(challenge), Ok(Step::Respond(vec![1])));
        assert_eq!(
            c.refusal().map(|r| r.status.as_str()),
            Some("invalid_token")
        );
        assert_eq!(
            c.evaluate(b""),
            Err(MechanismError::TokenRefused {
                status: "invalid_token".into()
            })
        );
    }

    #[test]
    fn bad_tokens_and_extensions_are_refused_without_showing_the_token() {
        let err = OAuthBearerClient::new(token("has space", &[])).unwrap_err();
        assert!(!err.to_string().contains("has space"));
        assert!(OAuthBearerClient::new(token("", &[])).is_err());
        assert!(OAuthBearerClient::new(token("abc", &[("auth", "x")])).is_err());
        assert!(OAuthBearerClient::new(token("abc", &[("k1", "x")])).is_err());
        assert!(OAuthBearerClient::new(token("abc", &[("k", "\x01")])).is_err());
        let c = OAuthBearerClient::new(token("sekrit", &[])).unwrap();
        assert!(!format!("{c:?}").contains("sekrit"));
    }

    #[test]
    fn challenges_parse_or_fail_cleanly() {
        let c = ServerChallenge::parse(br#" { "status" : "invalid\u0020token\n" } "#).unwrap();
        assert_eq!(c.status, "invalid token\n");
        for bad in [
            &b""[..],
            b"{",
            b"{}",
            br#"{"status":1}"#,
            br#"{"status":"x",}"#,
            br#"{"status":"x"} x"#,
            br#"["status"]"#,
            br#"{"status":"\ud800"#,
            b"{\"status\":\"\xff\"}",
        ] {
            assert!(ServerChallenge::parse(bad).is_err(), "{bad:?}");
        }
        let deep = format!(
            "{{\"a\":{}1{}, \"status\":\"s\"}}",
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(ServerChallenge::parse(deep.as_bytes()).is_err());
        let nested = br#"{"a":[[1,2],{"b":"c"}],"status":"s"}"#;
        assert_eq!(ServerChallenge::parse(nested).unwrap().status, "s");
    }
}
