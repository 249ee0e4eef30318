//! [`TlsClientConfig`]: a rustls client configuration built from the `ssl.*` settings.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use consumer_core::{SslConfig, TlsVersion};
use log::{debug, warn};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{self, CryptoProvider};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::TlsConfigError;

/// The TLS client configuration of broker connections.
///
/// Built from consumer-core's [`SslConfig`] by [`from_ssl_config`](Self::from_ssl_config)
/// (which `KafkaConsumer::new` does when `security.protocol` is `SSL` or `SASL_SSL`), or
/// wrapping a rustls [`ClientConfig`] made in code ([`from_rustls`](Self::from_rustls)).
/// Cheap to clone (shared). `Debug` shows what is trusted and whether a client
/// certificate is set, never a key.
#[derive(Clone)]
pub struct TlsClientConfig {
    config: Arc<ClientConfig>,
    /// `None`: a configuration made in code.
    summary: Option<Arc<Summary>>,
}

/// What `Debug` shows of a configuration.
#[derive(Debug)]
struct Summary {
    trust: String,
    client_certificate: bool,
    hostname_verification: bool,
    versions: Vec<TlsVersion>,
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsClientConfig");
        match &self.summary {
            Some(s) => d
                .field("trust", &s.trust)
                .field("client_certificate", &s.client_certificate)
                .field("hostname_verification", &s.hostname_verification)
                .field("versions", &s.versions),
            None => d.field("custom", &true),
        };
        d.finish()
    }
}

/// Two configurations are equal when they are the same shared one.
impl PartialEq for TlsClientConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.config, &other.config)
    }
}

impl Eq for TlsClientConfig {}

impl TlsClientConfig {
    /// Builds the configuration the `ssl.*` settings describe:
    ///
    /// - trust: the CA certificates of `ssl.ca.location` and/or `ssl.ca.pem`; with
    ///   neither, the system's trusted roots (read through `rustls-native-certs`: what the
    ///   OS administrator trusts, corporate CAs included, updated with the OS, as
    ///   librdkafka's OpenSSL store and the JDK's cacerts; `SSL_CERT_FILE` and
    ///   `SSL_CERT_DIR` are honoured);
    /// - a client certificate chain and key for mutual TLS, from files, PEM text, or one
    ///   PEM keystore file holding both; encrypted keys are refused;
    /// - host name verification unless `endpoint_identification` is off (the chain is
    ///   still verified), no verification at all if `certificate_verification` is off
    ///   (both logged as warnings);
    /// - the TLS versions of `enabled_protocols`.
    ///
    /// Files are read here, once: a missing file or a bad certificate or key is an error
    /// now rather than at the first connection.
    pub fn from_ssl_config(ssl: &SslConfig) -> Result<Self, TlsConfigError> {
        let provider = Arc::new(ring_provider());
        let mut versions = Vec::new();
        let mut enabled = Vec::new();
        for v in &ssl.enabled_protocols {
            let version = match v {
                TlsVersion::Tls12 => &rustls::version::TLS12,
                TlsVersion::Tls13 => &rustls::version::TLS13,
            };
            if !versions.contains(&version) {
                versions.push(version);
                enabled.push(*v);
            }
        }
        if versions.is_empty() {
            return Err(TlsConfigError::NoProtocolVersion);
        }
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| TlsConfigError::Refused {
                reason: e.to_string(),
            })?;

        let (builder, trust) = if !ssl.certificate_verification {
            warn!(
                "TLS certificate verification is OFF (enable.ssl.certificate.verification=false): \
                 any server can pose as the brokers; use this for tests only"
            );
            let verifier = Arc::new(AcceptAnyCertificate { provider });
            let builder = builder
                .dangerous()
                .with_custom_certificate_verifier(verifier);
            (builder, "none (certificate verification off)".to_owned())
        } else {
            let (roots, trust) = trusted_roots(ssl)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsConfigError::Refused {
                    reason: e.to_string(),
                })?;
            let builder = if ssl.endpoint_identification {
                builder.with_webpki_verifier(webpki)
            } else {
                warn!(
                    "TLS host name verification is off (ssl.endpoint.identification.algorithm \
                     is empty): broker certificates are checked against the trusted CAs but \
                     not against the broker's name"
                );
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(SkipHostnameCheck { webpki }))
            };
            (builder, trust)
        };

        let identity = client_identity(ssl)?;
        let client_certificate = identity.is_some();
        let config =
            match identity {
                Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                    TlsConfigError::BadKey {
                        reason: e.to_string(),
                    }
                })?,
                None => builder.with_no_client_auth(),
            };
        let summary = Summary {
            trust,
            client_certificate,
            hostname_verification: ssl.certificate_verification && ssl.endpoint_identification,
            versions: enabled,
        };
        debug!("TLS client configuration: {summary:?}");
        Ok(Self {
            config: Arc::new(config),
            summary: Some(Arc::new(summary)),
        })
    }

    /// Uses a rustls configuration made in code (custom roots, verifiers, key sources).
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            summary: None,
        }
    }

    /// The rustls configuration.
    pub fn rustls_config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}

/// rustls's *ring* provider: pure Rust and C/assembly built by `cc`, no CMake or
/// OpenSSL. rustls 0.23.48 marks it deprecated because *ring* has no post-quantum key
/// exchange (X25519MLKEM768, which the aws-lc-rs provider has); classical X25519 and
/// the NIST curves are what Kafka brokers (JDK, OpenSSL) offer today.
#[allow(deprecated)]
fn ring_provider() -> CryptoProvider {
    crypto::ring::default_provider()
}

const CA_LOCATION: &str = "ssl.ca.location";
const CA_PEM: &str = "ssl.ca.pem";
const CERTIFICATE_LOCATION: &str = "ssl.certificate.location";
const CERTIFICATE_PEM: &str = "ssl.certificate.pem";
const KEY_LOCATION: &str = "ssl.key.location";
const KEY_PEM: &str = "ssl.key.pem";
const KEYSTORE_LOCATION: &str = "ssl.keystore.location";
const KEY_PASSWORD: &str = "ssl.key.password";

/// PEM bytes and where they came from, for errors.
struct Pem {
    key: &'static str,
    origin: String,
    bytes: Vec<u8>,
}

impl Pem {
    fn file(key: &'static str, path: &Path) -> Result<Self, TlsConfigError> {
        let bytes = std::fs::read(path).map_err(|e| TlsConfigError::Read {
            key,
            path: path.to_owned(),
            source: Arc::new(e),
        })?;
        Ok(Self {
            key,
            origin: path.display().to_string(),
            bytes,
        })
    }

    fn text(key: &'static str, text: &str) -> Self {
        Self {
            key,
            origin: "the PEM text".to_owned(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    /// Every certificate, in order (a chain: the end entity first).
    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
        let mut certs = Vec::new();
        for cert in CertificateDer::pem_slice_iter(&self.bytes) {
            match cert {
                Ok(cert) => certs.push(cert),
                Err(e) => {
                    // A keystore holds a key too: its parse errors are not repeated, they
                    // could quote from the key's section.
                    let reason = if self.key == KEYSTORE_LOCATION {
                        "the PEM is malformed".to_owned()
                    } else {
                        e.to_string()
                    };
                    return Err(TlsConfigError::BadCertificate {
                        key: self.key,
                        origin: self.origin.clone(),
                        reason,
                    });
                }
            }
        }
        if certs.is_empty() {
            return Err(TlsConfigError::NoCertificate {
                key: self.key,
                origin: self.origin.clone(),
            });
        }
        Ok(certs)
    }

    /// The first private key; encrypted ones are refused by name.
    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
        if contains(&self.bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
            || contains(&self.bytes, b"Proc-Type: 4,ENCRYPTED")
        {
            return Err(TlsConfigError::EncryptedKey { key: self.key });
        }
        // The parse error is not kept: it could quote from the key.
        PrivateKeyDer::from_pem_slice(&self.bytes).map_err(|_| TlsConfigError::NoKey {
            key: self.key,
            origin: self.origin.clone(),
        })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The CA certificates configured, else the system's roots; with a description.
fn trusted_roots(ssl: &SslConfig) -> Result<(RootCertStore, String), TlsConfigError> {
    let mut roots = RootCertStore::empty();
    let mut sources = Vec::new();
    if let Some(path) = &ssl.ca_location {
        sources.push(Pem::file(CA_LOCATION, path)?);
    }
    if let Some(text) = &ssl.ca_pem {
        sources.push(Pem::text(CA_PEM, text));
    }
    if !sources.is_empty() {
        let mut names = Vec::new();
        for pem in &sources {
            for cert in pem.certificates()? {
                roots
                    .add(cert)
                    .map_err(|e| TlsConfigError::BadCertificate {
                        key: pem.key,
                        origin: pem.origin.clone(),
                        reason: e.to_string(),
                    })?;
            }
            names.push(format!("{} {}", pem.key, pem.origin));
        }
        return Ok((roots, names.join(", ")));
    }
    let loaded = rustls_native_certs::load_native_certs();
    for err in &loaded.errors {
        debug!("loading the system's CA certificates: {err}");
    }
    let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
    if ignored > 0 {
        debug!("{ignored} system CA certificate(s) could not be parsed and are not trusted");
    }
    if added == 0 {
        let reason = match loaded.errors.first() {
            Some(err) => err.to_string(),
            None => "none found".to_owned(),
        };
        return Err(TlsConfigError::NoSystemRoots { reason });
    }
    Ok((roots, format!("system roots ({added})")))
}

/// The client certificate chain and key for mutual TLS, if configured.
fn client_identity(
    ssl: &SslConfig,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, TlsConfigError> {
    if ssl.key_password.is_some() {
        return Err(TlsConfigError::EncryptedKey { key: KEY_PASSWORD });
    }
    let certificate = match (&ssl.certificate_location, &ssl.certificate_pem) {
        (Some(_), Some(_)) => {
            return Err(TlsConfigError::Conflict {
                first: CERTIFICATE_LOCATION,
                second: CERTIFICATE_PEM,
            })
        }
        (Some(path), None) => Some(Pem::file(CERTIFICATE_LOCATION, path)?),
        (None, Some(text)) => Some(Pem::text(CERTIFICATE_PEM, text)),
        (None, None) => None,
    };
    let key = match (&ssl.key_location, &ssl.key_pem) {
        (Some(_), Some(_)) => {
            return Err(TlsConfigError::Conflict {
                first: KEY_LOCATION,
                second: KEY_PEM,
            })
        }
        (Some(path), None) => Some(Pem::file(KEY_LOCATION, path)?),
        (None, Some(secret)) => Some(Pem::text(KEY_PEM, secret.expose())),
        (None, None) => None,
    };
    if let Some(path) = &ssl.keystore_location {
        if let Some(other) = certificate.as_ref().or(key.as_ref()) {
            return Err(TlsConfigError::Conflict {
                first: KEYSTORE_LOCATION,
                second: other.key,
            });
        }
        let store = Pem::file(KEYSTORE_LOCATION, path)?;
        let key = store.private_key()?;
        return Ok(Some((store.certificates()?, key)));
    }
    match (certificate, key) {
        (Some(certificate), Some(key)) => {
            let private_key = key.private_key()?;
            Ok(Some((certificate.certificates()?, private_key)))
        }
        (Some(certificate), None) => Err(TlsConfigError::Incomplete {
            given: certificate.key,
            missing: KEY_LOCATION,
        }),
        (None, Some(key)) => Err(TlsConfigError::Incomplete {
            given: key.key,
            missing: CERTIFICATE_LOCATION,
        }),
        (None, None) => Ok(None),
    }
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain is verified as usual,
/// only a certificate that does not name the host is accepted.
#[derive(Debug)]
struct SkipHostnameCheck {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for SkipHostnameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // WebPkiServerVerifier checks the name last, after the chain and its validity.
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `enable.ssl.certificate.verification=false`: any certificate is accepted. The
/// handshake signatures are still checked (they prove the server holds the key of the
/// certificate it sent, whatever that certificate is).
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
