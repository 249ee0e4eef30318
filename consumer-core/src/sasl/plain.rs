//! PLAIN (RFC 4616): `authzid NUL authcid NUL passwd` in one message. The password
//! travels as it is inside the connection: use it over TLS (`SASL_SSL`).

use std::fmt;

use super::{MechanismError, Step};
use crate::config::Secret;

/// The client side of PLAIN.
#[derive(Clone)]
pub struct PlainClient {
    username: String,
    password: Secret,
    sent: bool,
}

impl fmt::Debug for PlainClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainClient")
            .field("username", &self.username)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl PlainClient {
    /// A client for `username` with `password`. Neither may contain NUL, the separator.
    pub fn new(username: &str, password: Secret) -> Result<Self, MechanismError> {
        if username.is_empty() {
            return Err(MechanismError::InvalidCredentials("the user name is empty"));
        }
        if username.contains('\0') || password.expose().contains('\0') {
            return Err(MechanismError::InvalidCredentials(
                "the user name or password contains NUL",
            ));
        }
        Ok(Self {
            username: username.to_owned(),
            password,
            sent: false,
        })
    }

    /// The one message: an empty authorization identity (the broker uses the user name),
    /// the user name and the password, separated by NUL.
    pub fn initial_response(&mut self) -> Vec<u8> {
        self.sent = true;
        let password = self.password.expose();
        let mut out = Vec::with_capacity(2 + self.username.len() + password.len());
        out.push(0);
        out.extend_from_slice(self.username.as_bytes());
        out.push(0);
        out.extend_from_slice(password.as_bytes());
        out
    }

    /// The server's answer to the message: success is told by the SaslAuthenticate error
    /// code, and PLAIN has nothing more to say.
    pub fn evaluate(&mut self, _challenge: &[u8]) -> Result<Step, MechanismError> {
        if self.sent {
            Ok(Step::Done)
        } else {
            Err(MechanismError::UnexpectedChallenge)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4616_message_with_an_empty_authzid() {
        let mut c = PlainClient::new("tim", Secret::new("tanstaaftanstaaf")).unwrap();
        assert_eq!(c.initial_response(), b"\0tim\0tanstaaftanstaaf");
        assert_eq!(c.evaluate(b""), Ok(Step::Done));
    }

    #[test]
    fn nul_in_credentials_is_refused_and_never_shown() {
        let err = PlainClient::new("tim", Secret::new("a\0b")).unwrap_err();
        assert!(!err.to_string().contains("a\0b"));
        assert!(PlainClient::new("t\0m", Secret::new("x")).is_err());
        assert!(PlainClient::new("", Secret::new("x")).is_err());
        let c = PlainClient::new("tim", Secret::new("hunter2")).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn a_challenge_before_the_message_is_unexpected() {
        let mut c = PlainClient::new("tim", Secret::new("x")).unwrap();
        assert_eq!(c.evaluate(b""), Err(MechanismError::UnexpectedChallenge));
    }
}
