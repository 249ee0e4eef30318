//! TLS failures: of the configuration (files, keys), and of a connection (handshake,
//! certificates, a peer that does not speak TLS or speaks it unasked).
//!
//! Messages say what to change. None of them holds a key, a password or the contents
//! of a key file.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::{AlertDescription, CertificateError, InvalidMessage};

/// Connections to one node closed by the peer in a row, without an answer, from which on
/// such closes are a failure to report rather than a broker going down (retried).
pub(crate) const UNANSWERED_CLOSES: u32 = 3;

/// Why the TLS settings (`ssl.*` properties) could not be turned into a TLS client
/// configuration. Returned by `KafkaConsumer::new`, before anything connects.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A file named by a property could not be read.
    #[error("{key}: cannot read {}: {source}", path.display())]
    Read {
        /// The property naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: Arc<io::Error>,
    },
    /// No PEM certificate where one was expected.
    #[error("{key}: no PEM certificate (-----BEGIN CERTIFICATE-----) found in {origin}")]
    NoCertificate {
        /// The property.
        key: &'static str,
        /// The file, or "the PEM text".
        origin: String,
    },
    /// A PEM certificate could not be decoded or used.
    #[error("{key}: a certificate in {origin} is not valid: {reason}")]
    BadCertificate {
        /// The property.
        key: &'static str,
        /// The file, or "the PEM text".
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No unencrypted private key (PKCS#8, PKCS#1 or SEC1 PEM) where one was expected.
    #[error(
        "{key}: no private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or \
         EC PRIVATE KEY) found in {origin}, or it is not valid PEM"
    )]
    NoKey {
        /// The property.
        key: &'static str,
        /// The file, or "the PEM text".
        origin: String,
    },
    /// The private key is encrypted, or a key password was given.
    #[error(
        "{key}: encrypted private keys are not supported; decrypt the key once with \
         `openssl pkey -in key.pem -out key-decrypted.pem` (keep that file private) \
         and do not set ssl.key.password"
    )]
    EncryptedKey {
        /// The property that holds the key, or `ssl.key.password`.
        key: &'static str,
    },
    /// A client certificate without its key, or a key without its certificate.
    #[error(
        "mutual TLS needs both a certificate chain and its private key: {missing} is \
         not set ({given} is)"
    )]
    Incomplete {
        /// The property that is set.
        given: &'static str,
        /// The property that is missing.
        missing: &'static str,
    },
    /// Two properties give the same thing (a keystore and a separate certificate or key,
    /// or a file and PEM text).
    #[error("set {first} or {second}, not both")]
    Conflict {
        /// One property.
        first: &'static str,
        /// The other.
        second: &'static str,
    },
    /// The key does not fit the certificate or is of an unsupported kind.
    #[error("the client key cannot be used with its certificate: {reason}")]
    BadKey {
        /// rustls's reason (it never holds key material).
        reason: String,
    },
    /// `ssl.enabled.protocols` names no version.
    #[error("ssl.enabled.protocols enables no TLS version (TLSv1.2, TLSv1.3)")]
    NoProtocolVersion,
    /// No CA was given and the system has no trusted roots.
    #[error(
        "no trusted CA certificates found on this system ({reason}); set ssl.ca.location \
         to the CA file that signed the brokers' certificates"
    )]
    NoSystemRoots {
        /// What loading the system's roots reported.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration refused: {reason}")]
    Refused {
        /// rustls's reason.
        reason: String,
    },
}

/// Why a TLS connection (or a plaintext connection to a TLS listener) failed.
///
/// Each names the broker by its `host:port` and says what to check. A security failure:
/// retrying will not help until the configuration or the broker changes, so the
/// consumer reports it from `poll` (`KafkaError::Ssl`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The broker's certificate chain does not lead to a trusted CA.
    #[error(
        "TLS: the certificate of {address} is not trusted (unknown issuer): set \
         ssl.ca.location to the CA certificate that signed it, or check that the broker \
         sends its intermediate certificates"
    )]
    UntrustedCertificate {
        /// The broker's `host:port`.
        address: String,
    },
    /// The broker's certificate has expired.
    #[error("TLS: the certificate of {address} has expired{}: renew the broker's certificate", ago(.expired_for))]
    CertificateExpired {
        /// The broker's `host:port`.
        address: String,
        /// How long ago it expired, when known.
        expired_for: Option<Duration>,
    },
    /// The broker's certificate does not name the host connected to.
    #[error(
        "TLS: the certificate of {address} is not valid for `{host}` (it names {}): \
         connect with a name the certificate lists (bootstrap.servers, the broker's \
         advertised listeners), or set ssl.endpoint.identification.algorithm= (empty) \
         to skip the host name check",
        names(.presented)
    )]
    HostnameMismatch {
        /// The broker's `host:port`.
        address: String,
        /// The host name or IP address checked.
        host: String,
        /// The names the certificate lists, when known.
        presented: Vec<String>,
    },
    /// The broker's certificate was refused for another reason.
    #[error("TLS: the certificate of {address} was refused: {reason}")]
    BadCertificate {
        /// The broker's `host:port`.
        address: String,
        /// Why.
        reason: String,
    },
    /// The broker ended the handshake with an alert.
    #[error("TLS: {address} refused the handshake ({alert}){hint}")]
    HandshakeRefused {
        /// The broker's `host:port`.
        address: String,
        /// The alert it sent.
        alert: String,
        /// What it likely means (empty, or starting with ": ").
        hint: &'static str,
    },
    /// What came back is not TLS.
    #[error(
        "TLS: {address} did not answer with TLS: is the listener PLAINTEXT? check \
         security.protocol (SSL and SASL_SSL need a TLS listener)"
    )]
    NotTls {
        /// The broker's `host:port`.
        address: String,
    },
    /// The broker closed the connection before the handshake finished. Once could be a
    /// broker going down; it is [conclusive](Self::is_conclusive) from the third time
    /// in a row.
    #[error(
        "TLS: {address} closed the connection during the TLS handshake ({closes} time(s) \
         in a row): is the listener PLAINTEXT? check security.protocol (or the broker \
         refused this client's certificate or TLS version; see its log)"
    )]
    ClosedDuringHandshake {
        /// The broker's `host:port`.
        address: String,
        /// Connections to this broker closed in a row without an answer, this one included.
        closes: u32,
    },
    /// The handshake did not finish within the connection setup timeout.
    #[error(
        "TLS: the handshake with {address} did not finish within {timeout:?}: is the \
         listener PLAINTEXT (it waits for a request and never answers)? check \
         security.protocol"
    )]
    HandshakeTimeout {
        /// The broker's `host:port`.
        address: String,
        /// The connection setup timeout (`socket.connection.setup.timeout.ms`).
        timeout: Duration,
    },
    /// Another TLS protocol failure.
    #[error("TLS with {address} failed: {reason}")]
    Protocol {
        /// The broker's `host:port`.
        address: String,
        /// rustls's reason.
        reason: String,
    },
    /// The host of the address cannot be a TLS server name.
    #[error("TLS: `{host}` (of {address}) is neither a DNS name nor an IP address")]
    InvalidServerName {
        /// The broker's `host:port`.
        address: String,
        /// The host part.
        host: String,
    },
    /// Connections were closed (or reset) by the broker before it answered anything,
    /// several times in a row. Plaintext: what a TLS listener does with a request that is
    /// not a ClientHello when it sends no alert (OpenSSL's does not). TLS: what a broker
    /// refusing the client certificate after a TLS 1.3 handshake looks like when its
    /// alert is lost to the reset.
    #[error("{address} closed {closes} {} connections in a row before answering anything: {}",
        if *.tls { "TLS" } else { "plaintext" }, unanswered_hint(*.tls))]
    ClosedWithoutAnswer {
        /// The broker's `host:port`.
        address: String,
        /// How many connections in a row.
        closes: u32,
        /// Whether they were TLS connections.
        tls: bool,
    },
    /// A plaintext connection got a TLS record back.
    #[error(
        "{address} answered with TLS: its listener expects TLS; set \
         security.protocol=SSL (or SASL_SSL)"
    )]
    UnexpectedTls {
        /// The broker's `host:port`.
        address: String,
    },
}

impl TlsError {
    /// Whether this says the configuration or the broker is wrong, rather than possibly
    /// that the broker went down: every failure but a connection closed during the
    /// handshake fewer than three times in a row. Conclusive failures are what
    /// `KafkaConsumer` reports from its blocking calls.
    pub fn is_conclusive(&self) -> bool {
        match self {
            TlsError::ClosedDuringHandshake { closes, .. } => *closes >= UNANSWERED_CLOSES,
            _ => true,
        }
    }
}

fn ago(expired_for: &Option<Duration>) -> String {
    match expired_for {
        Some(d) if d.as_secs() >= 2 * 86_400 => format!(" {} days ago", d.as_secs() / 86_400),
        Some(d) if d.as_secs() >= 2 * 3_600 => format!(" {} hours ago", d.as_secs() / 3_600),
        Some(d) => format!(" {} seconds ago", d.as_secs()),
        None => String::new(),
    }
}

fn unanswered_hint(tls: bool) -> &'static str {
    if tls {
        "if it requires mutual TLS, set ssl.certificate.location and ssl.key.location (or \
         check that it trusts this client's certificate); otherwise it refuses \
         connections (see its log)"
    } else {
        "if its listener expects TLS, set security.protocol=SSL (or SASL_SSL); otherwise \
         it refuses connections (see its log, e.g. a connection quota)"
    }
}

fn names(presented: &[String]) -> String {
    if presented.is_empty() {
        "no name this client could read".to_owned()
    } else {
        presented.join(", ")
    }
}

/// Turns a rustls failure on the connection to `address` (whose host is `host`) into
/// a [`TlsError`].
pub(crate) fn classify(err: rustls::Error, address: &str, host: &str) -> TlsError {
    let address = address.to_owned();
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => TlsError::UntrustedCertificate { address },
            CertificateError::Expired => TlsError::CertificateExpired {
                address,
                expired_for: None,
            },
            CertificateError::ExpiredContext { time, not_after } => TlsError::CertificateExpired {
                address,
                expired_for: Some(Duration::from_secs(
                    time.as_secs().saturating_sub(not_after.as_secs()),
                )),
            },
            CertificateError::NotValidForName => TlsError::HostnameMismatch {
                address,
                host: host.to_owned(),
                presented: Vec::new(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => {
                TlsError::HostnameMismatch {
                    address,
                    host: host.to_owned(),
                    presented: presented.iter().map(|n| plain_name(n)).collect(),
                }
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsError::BadCertificate {
                    address,
                    reason: "it is not valid yet (is this machine's clock right?)".to_owned(),
                }
            }
            other => TlsError::BadCertificate {
                address,
                reason: rustls::Error::InvalidCertificate(other).to_string(),
            },
        },
        rustls::Error::AlertReceived(alert) => TlsError::HandshakeRefused {
            address,
            alert: format!("{alert:?}"),
            hint: alert_hint(alert),
        },
        rustls::Error::InvalidMessage(
            InvalidMessage::InvalidContentType
            | InvalidMessage::UnknownProtocolVersion
            | InvalidMessage::MessageTooLarge
            | InvalidMessage::InvalidEmptyPayload,
        ) => TlsError::NotTls { address },
        other => TlsError::Protocol {
            address,
            reason: other.to_string(),
        },
    }
}

/// `kafka-1` of rustls's `DnsName("kafka-1")` (and the same for IP addresses).
fn plain_name(presented: &str) -> String {
    let inner = presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"').to_owned()
}

fn alert_hint(alert: AlertDescription) -> &'static str {
    match alert {
        AlertDescription::CertificateRequired => {
            ": the broker requires mutual TLS; set ssl.certificate.location and \
             ssl.key.location (or ssl.keystore.location)"
        }
        AlertDescription::HandshakeFailure => {
            ": no common TLS parameters, or the broker requires a client certificate \
             (mutual TLS: set ssl.certificate.location and ssl.key.location)"
        }
        AlertDescription::BadCertificate
        | AlertDescription::UnknownCA
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateExpired
        | AlertDescription::CertificateRevoked
        | AlertDescription::AccessDenied => {
            ": the broker refused this client's certificate (is it signed by a CA the \
             broker trusts, and still valid?)"
        }
        AlertDescription::ProtocolVersion => {
            ": no TLS version in common; check ssl.enabled.protocols"
        }
        AlertDescription::UnrecognisedName => {
            ": the broker does not know the server name sent; check bootstrap.servers"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let err = classify(
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
            "kafka-1:9093",
            "kafka-1",
        );
        let text = err.to_string();
        assert!(text.contains("kafka-1:9093"), "{text}");
        assert!(
            text.contains("ssl.endpoint.identification.algorithm"),
            "{text}"
        );
        let err = classify(
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
            "b:1",
            "b",
        );
        assert!(
            err.to_string().contains("ssl.certificate.location"),
            "{err}"
        );
        let err = classify(
            rustls::Error::InvalidMessage(InvalidMessage::InvalidContentType),
            "b:1",
            "b",
        );
        assert!(matches!(err, TlsError::NotTls { .. }), "{err:?}");
        assert!(err.to_string().contains("PLAINTEXT"), "{err}");
        assert_eq!(plain_name("DnsName(\"kafka-1\")"), "kafka-1");
        assert_eq!(plain_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(plain_name("kafka-1"), "kafka-1");
        let expired = TlsError::CertificateExpired {
            address: "b:1".to_owned(),
            expired_for: Some(Duration::from_secs(3 * 86_400 + 5)),
        };
        assert!(expired.to_string().contains("3 days ago"), "{expired}");
    }
}
