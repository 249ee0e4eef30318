//! Security settings: `security.protocol`, SASL and TLS, under their Java and librdkafka
//! property names.
//!
//! The core authenticates with SASL itself (a per-connection step after ApiVersions); TLS
//! is the network layer's, which reads [`SslConfig`] from here. Secrets are [`Secret`]s:
//! they never appear in `Debug` output, logs or error messages.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::jaas::{JaasConfig, LoginModule};
use super::values::{boolean, invalid, path, text};
use super::ConfigError;

/// `security.protocol`: how connections to brokers are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// Plain TCP, no authentication.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL authentication over plain TCP.
    SaslPlaintext,
    /// SASL authentication over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses Java's names, case-insensitively as Java does.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    /// Java's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether connections speak TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `sasl.mechanism`: the SASL mechanisms this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): the password travels in the clear inside the connection.
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628, KIP-255).
    OAuthBearer,
}

impl SaslMechanism {
    /// Parses the IANA name, case-insensitively.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Self::Plain),
            "SCRAM-SHA-256" => Some(Self::ScramSha256),
            "SCRAM-SHA-512" => Some(Self::ScramSha512),
            "OAUTHBEARER" => Some(Self::OAuthBearer),
            _ => None,
        }
    }

    /// The IANA name sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Whether the mechanism needs a user name and a password.
    pub fn needs_password(self) -> bool {
        !matches!(self, Self::OAuthBearer)
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A password, token or key: compared and cloned like a string, but never shown.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([hidden])")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// An OAuth 2 bearer token for `OAUTHBEARER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthBearerToken {
    /// The token (e.g. a JWT), sent as `auth=Bearer <value>`.
    pub value: Secret,
    /// SASL extensions sent beside it (KIP-342), e.g. `logicalCluster` on Confluent Cloud.
    pub extensions: Vec<(String, String)>,
}

impl OAuthBearerToken {
    /// A token without extensions.
    pub fn new(value: impl Into<Secret>) -> Self {
        Self {
            value: value.into(),
            extensions: Vec::new(),
        }
    }
}

/// The callback type of a [`TokenProvider`].
pub type TokenCallback = dyn Fn() -> Result<OAuthBearerToken, String> + Send + Sync;

/// Gives `OAUTHBEARER` its token: called for every authentication (each new connection,
/// each re-authentication), so it should cache the token and refresh it before it
/// expires. An `Err` is reported as an authentication failure with its message.
#[derive(Clone)]
pub struct TokenProvider(Arc<TokenCallback>);

impl TokenProvider {
    /// Wraps a callback.
    pub fn new(f: impl Fn() -> Result<OAuthBearerToken, String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Asks the callback for a token.
    pub fn token(&self) -> Result<OAuthBearerToken, String> {
        (self.0)()
    }
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenProvider(..)")
    }
}

impl PartialEq for TokenProvider {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Options of an unsecured JWT (`alg: none`), for tests and development only: Java's
/// `unsecuredLogin*` JAAS options, librdkafka's `sasl.oauthbearer.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsecuredJwt {
    /// The `sub` claim (`unsecuredLoginStringClaim_sub`, librdkafka's `principal=`).
    pub principal: String,
    /// The scope claim's values (`unsecuredLoginListClaim_scope`, librdkafka's `scope=`).
    pub scope: Vec<String>,
    /// Lifetime of the token (`unsecuredLoginLifetimeSeconds`, librdkafka's `lifeSeconds=`).
    pub lifetime: Duration,
    /// SASL extensions (`unsecuredLoginExtension_<name>`, librdkafka's `extension_<name>=`).
    pub extensions: Vec<(String, String)>,
}

impl UnsecuredJwt {
    /// An unsecured token for `principal`, valid one hour.
    pub fn new(principal: impl Into<String>) -> Self {
        Self {
            principal: principal.into(),
            scope: Vec::new(),
            lifetime: Duration::from_secs(3600),
            extensions: Vec::new(),
        }
    }

    /// The token, issued at `unix_now` (the time since the Unix epoch: the caller reads
    /// the wall clock, the core never does).
    pub fn token(&self, unix_now: Duration) -> OAuthBearerToken {
        let iat = unix_now.as_secs();
        let exp = iat.saturating_add(self.lifetime.as_secs());
        let header = r#"{"alg":"none"}"#;
        let mut claims = format!(
            r#"{{"sub":{},"iat":{iat},"exp":{exp}"#,
            json_string(&self.principal)
        );
        if !self.scope.is_empty() {
            let scope: Vec<String> = self.scope.iter().map(|s| json_string(s)).collect();
            claims.push_str(&format!(r#","scope":[{}]"#, scope.join(",")));
        }
        claims.push('}');
        let value = format!(
            "{}.{}.",
            base64url(header.as_bytes()),
            base64url(claims.as_bytes())
        );
        OAuthBearerToken {
            value: Secret(value),
            extensions: self.extensions.clone(),
        }
    }

    /// Parses librdkafka's `sasl.oauthbearer.config`: space-separated `principal=`,
    /// `scope=` (comma-separated), `lifeSeconds=` and `extension_<name>=` entries.
    fn parse_librdkafka(value: &str) -> Result<Self, String> {
        let mut jwt = UnsecuredJwt::new("");
        for part in value.split_whitespace() {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| "an entry is not key=value".to_owned())?;
            jwt.set(k, v, "principal", "scope", "lifeSeconds", "extension_")?;
        }
        jwt.check()
    }

    /// Reads Java's unsecured-login JAAS options.
    fn from_jaas(options: &[(String, String)]) -> Result<Self, String> {
        let mut jwt = UnsecuredJwt::new("");
        for (k, v) in options {
            jwt.set(
                k,
                v,
                "unsecuredLoginStringClaim_sub",
                "unsecuredLoginListClaim_scope",
                "unsecuredLoginLifetimeSeconds",
                "unsecuredLoginExtension_",
            )?;
        }
        jwt.check()
    }

    fn set(
        &mut self,
        key: &str,
        value: &str,
        principal: &str,
        scope: &str,
        lifetime: &str,
        extension: &str,
    ) -> Result<(), String> {
        if key == principal {
            self.principal = value.to_owned();
        } else if key == scope {
            self.scope = value
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        } else if key == lifetime {
            let secs: u64 = value
                .parse()
                .map_err(|_| format!("`{key}` is not a number of seconds"))?;
            self.lifetime = Duration::from_secs(secs);
        } else if let Some(name) = key.strip_prefix(extension) {
            self.extensions.push((name.to_owned(), value.to_owned()));
        } else {
            return Err(format!("unknown option `{key}`"));
        }
        Ok(())
    }

    fn check(self) -> Result<Self, String> {
        if self.principal.is_empty() {
            return Err("no principal (sub claim) given".to_owned());
        }
        Ok(self)
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn base64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// SASL settings, used when `security.protocol` is `SASL_PLAINTEXT` or `SASL_SSL`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SaslConfig {
    /// `sasl.mechanism` (librdkafka: `sasl.mechanisms`). Java's default, GSSAPI, is not
    /// supported, so one must be named.
    pub mechanism: Option<SaslMechanism>,
    /// The user name: `sasl.username`, or `username=` in `sasl.jaas.config`.
    pub username: Option<String>,
    /// The password: `sasl.password`, or `password=` in `sasl.jaas.config`.
    pub password: Option<Secret>,
    /// OAUTHBEARER's token source, set in code.
    pub token_provider: Option<TokenProvider>,
    /// OAUTHBEARER without a provider: an unsecured JWT (tests and development only).
    pub unsecured_jwt: Option<UnsecuredJwt>,
}

/// TLS settings, used when `security.protocol` is `SSL` or `SASL_SSL`. Only PEM is read.
#[derive(Debug, Clone, PartialEq)]
pub struct SslConfig {
    /// CA certificates to trust, a PEM file: `ssl.ca.location`, or Java's
    /// `ssl.truststore.location` with `ssl.truststore.type=PEM`. With neither, and no
    /// [`ca_pem`](Self::ca_pem), the system's trusted roots are used.
    pub ca_location: Option<PathBuf>,
    /// CA certificates as PEM text: `ssl.ca.pem`, Java's `ssl.truststore.certificates`.
    pub ca_pem: Option<String>,
    /// The client certificate chain, a PEM file (`ssl.certificate.location`), for mutual TLS.
    pub certificate_location: Option<PathBuf>,
    /// The client certificate chain as PEM text (`ssl.certificate.pem`, Java's
    /// `ssl.keystore.certificate.chain`).
    pub certificate_pem: Option<String>,
    /// The client's private key, a PEM file (`ssl.key.location`).
    pub key_location: Option<PathBuf>,
    /// The client's private key as PEM text (`ssl.key.pem`, Java's `ssl.keystore.key`).
    pub key_pem: Option<Secret>,
    /// A PEM file with both the key and the certificate chain: Java's
    /// `ssl.keystore.location` with `ssl.keystore.type=PEM`.
    pub keystore_location: Option<PathBuf>,
    /// `ssl.key.password` / `ssl.keystore.password`: encrypted keys are not supported, so
    /// setting one is refused when connecting with a clear error.
    pub key_password: Option<Secret>,
    /// Check that the broker's certificate names the host connected to
    /// (`ssl.endpoint.identification.algorithm=https`, the default; empty turns it off).
    pub endpoint_identification: bool,
    /// Verify the broker's certificate at all (librdkafka's
    /// `enable.ssl.certificate.verification`, default true). Off only for tests.
    pub certificate_verification: bool,
    /// `ssl.enabled.protocols`: TLS versions allowed (TLSv1.2, TLSv1.3).
    pub enabled_protocols: Vec<TlsVersion>,
}

impl Default for SslConfig {
    fn default() -> Self {
        Self {
            ca_location: None,
            ca_pem: None,
            certificate_location: None,
            certificate_pem: None,
            key_location: None,
            key_pem: None,
            keystore_location: None,
            key_password: None,
            endpoint_identification: true,
            certificate_verification: true,
            enabled_protocols: vec![TlsVersion::Tls12, TlsVersion::Tls13],
        }
    }
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// `security.protocol` with its SASL and TLS settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SecurityConfig {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// SASL settings.
    pub sasl: SaslConfig,
    /// TLS settings.
    pub ssl: SslConfig,
    /// The login module named by `sasl.jaas.config`, checked against the mechanism.
    jaas_module: Option<LoginModule>,
}

fn pem_only(key: &str, value: &str) -> Result<(), ConfigError> {
    if value.trim().eq_ignore_ascii_case("PEM") {
        Ok(())
    } else {
        Err(invalid(
            key,
            value,
            "only PEM is supported (convert a JKS or PKCS12 store with keytool or openssl)",
        ))
    }
}

/// Sets one security property; `Ok(false)` if `key` is not one.
pub(super) fn set(s: &mut SecurityConfig, key: &str, value: &str) -> Result<bool, ConfigError> {
    match key {
        "security.protocol" => {
            s.protocol = SecurityProtocol::parse(value).ok_or_else(|| {
                invalid(
                    key,
                    value,
                    "expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
                )
            })?;
        }
        "sasl.mechanism" | "sasl.mechanisms" => {
            let mechanism = SaslMechanism::parse(value).ok_or_else(|| {
                let reason = if value.trim().eq_ignore_ascii_case("GSSAPI") {
                    "GSSAPI (Kerberos) is not supported; use PLAIN, SCRAM-SHA-256, \
                     SCRAM-SHA-512 or OAUTHBEARER"
                } else {
                    "expected PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"
                };
                invalid(key, value, reason)
            })?;
            s.sasl.mechanism = Some(mechanism);
        }
        "sasl.jaas.config" => {
            let jaas = JaasConfig::parse(value).map_err(|reason| invalid(key, value, reason))?;
            match jaas.module {
                LoginModule::Plain | LoginModule::Scram => {
                    let get = |name: &str| {
                        jaas.options
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.clone())
                    };
                    let username = get("username")
                        .ok_or_else(|| invalid(key, value, "no username= option"))?;
                    let password = get("password")
                        .ok_or_else(|| invalid(key, value, "no password= option"))?;
                    s.sasl.username = Some(username);
                    s.sasl.password = Some(Secret(password));
                }
                LoginModule::OAuthBearer => {
                    let jwt = UnsecuredJwt::from_jaas(&jaas.options)
                        .map_err(|reason| invalid(key, value, reason))?;
                    s.sasl.unsecured_jwt = Some(jwt);
                }
            }
            s.sasl.mechanism.get_or_insert(match jaas.module {
                LoginModule::Plain => SaslMechanism::Plain,
                LoginModule::Scram => SaslMechanism::ScramSha512,
                LoginModule::OAuthBearer => SaslMechanism::OAuthBearer,
            });
            // An explicit sasl.mechanism set earlier is kept; validate() checks the pair.
            s.jaas_module = Some(jaas.module);
        }
        "sasl.username" => s.sasl.username = text(value),
        "sasl.password" => s.sasl.password = text(value).map(Secret),
        "sasl.oauthbearer.config" => {
            let jwt = UnsecuredJwt::parse_librdkafka(value)
                .map_err(|reason| invalid(key, value, reason))?;
            s.sasl.unsecured_jwt = Some(jwt);
        }
        "enable.sasl.oauthbearer.unsecure.jwt" => {
            // librdkafka needs this to build unsecured tokens; here the presence of the
            // unsecured options is enough. Accepted for compatibility.
            boolean(key, value)?;
        }
        "ssl.ca.location" | "ssl.truststore.location" => s.ssl.ca_location = path(value),
        "ssl.ca.pem" | "ssl.truststore.certificates" => s.ssl.ca_pem = text(value),
        "ssl.truststore.type" | "ssl.keystore.type" => pem_only(key, value)?,
        "ssl.certificate.location" => s.ssl.certificate_location = path(value),
        "ssl.certificate.pem" | "ssl.keystore.certificate.chain" => {
            s.ssl.certificate_pem = text(value)
        }
        "ssl.key.location" => s.ssl.key_location = path(value),
        "ssl.key.pem" | "ssl.keystore.key" => s.ssl.key_pem = text(value).map(Secret),
        "ssl.keystore.location" => s.ssl.keystore_location = path(value),
        "ssl.key.password" | "ssl.keystore.password" => {
            s.ssl.key_password = text(value).map(Secret)
        }
        "ssl.endpoint.identification.algorithm" => {
            s.ssl.endpoint_identification = match value.trim().to_ascii_lowercase().as_str() {
                "https" => true,
                "" | "none" => false,
                _ => return Err(invalid(key, value, "expected https or empty")),
            }
        }
        "enable.ssl.certificate.verification" => {
            s.ssl.certificate_verification = boolean(key, value)?
        }
        "ssl.enabled.protocols" | "ssl.protocol" => {
            let mut versions = Vec::new();
            for name in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                versions.push(match name {
                    "TLSv1.2" => TlsVersion::Tls12,
                    "TLSv1.3" | "TLS" => TlsVersion::Tls13,
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            format!("`{name}` is not supported (TLSv1.2 and TLSv1.3 are)"),
                        ))
                    }
                });
            }
            if key == "ssl.protocol" {
                // Java's ssl.protocol names the newest version allowed: TLS means any.
                if value.trim() == "TLSv1.2" {
                    versions = vec![TlsVersion::Tls12];
                } else {
                    versions = vec![TlsVersion::Tls12, TlsVersion::Tls13];
                }
            }
            if versions.is_empty() {
                return Err(invalid(key, value, "no TLS version named"));
            }
            s.ssl.enabled_protocols = versions;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

impl SecurityConfig {
    /// Checks the relations between the security settings.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.protocol.uses_sasl() {
            let Some(mechanism) = self.sasl.mechanism else {
                return Err(ConfigError::Missing {
                    key: "sasl.mechanism".to_owned(),
                });
            };
            if let Some(module) = self.jaas_module {
                let fits = match module {
                    LoginModule::Plain => mechanism == SaslMechanism::Plain,
                    LoginModule::Scram => matches!(
                        mechanism,
                        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512
                    ),
                    LoginModule::OAuthBearer => mechanism == SaslMechanism::OAuthBearer,
                };
                if !fits {
                    return Err(ConfigError::InvalidValue {
                        key: "sasl.jaas.config".to_owned(),
                        value: "[hidden]".to_owned(),
                        reason: format!(
                            "its login module does not match sasl.mechanism={mechanism}"
                        ),
                    });
                }
            }
            if mechanism.needs_password() {
                if self.sasl.username.is_none() {
                    return Err(ConfigError::Missing {
                        key: "sasl.username (or username= in sasl.jaas.config)".to_owned(),
                    });
                }
                if self.sasl.password.is_none() {
                    return Err(ConfigError::Missing {
                        key: "sasl.password (or password= in sasl.jaas.config)".to_owned(),
                    });
                }
            } else if self.sasl.token_provider.is_none() && self.sasl.unsecured_jwt.is_none() {
                return Err(ConfigError::Missing {
                    key: "a token provider, sasl.oauthbearer.config or sasl.jaas.config \
                          (for OAUTHBEARER)"
                        .to_owned(),
                });
            }
        }
        let ssl = &self.ssl;
        if ssl.key_location.is_some() && ssl.key_pem.is_some() {
            return Err(ConfigError::InvalidValue {
                key: "ssl.key.location".to_owned(),
                value: ssl
                    .key_location
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                reason: "give the key as a file or as PEM text, not both".to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConsumerConfig;

    fn config(props: &[(&str, &str)]) -> Result<ConsumerConfig, ConfigError> {
        let mut all = vec![("bootstrap.servers", "localhost:9093")];
        all.extend_from_slice(props);
        ConsumerConfig::from_properties(all)
    }

    #[test]
    fn protocols_parse_case_insensitively() {
        for (text, want) in [
            ("plaintext", SecurityProtocol::Plaintext),
            ("SSL", SecurityProtocol::Ssl),
            ("Sasl_Plaintext", SecurityProtocol::SaslPlaintext),
            ("sasl_ssl", SecurityProtocol::SaslSsl),
        ] {
            assert_eq!(SecurityProtocol::parse(text), Some(want));
        }
        let err = config(&[("security.protocol", "TLS")]).unwrap_err();
        assert!(err.to_string().contains("security.protocol"), "{err}");
    }

    #[test]
    fn jaas_lines_give_credentials_and_the_mechanism() {
        let c = config(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="hunter2";"#,
            ),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", "/tmp/ca.pem"),
        ])
        .unwrap();
        let s = &c.security;
        assert_eq!(s.protocol, SecurityProtocol::SaslSsl);
        assert_eq!(s.sasl.mechanism, Some(SaslMechanism::ScramSha256));
        assert_eq!(s.sasl.username.as_deref(), Some("u"));
        assert_eq!(
            s.sasl.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert_eq!(s.ssl.ca_location, Some(PathBuf::from("/tmp/ca.pem")));
        // The password never shows in Debug output.
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn librdkafka_names_work_too() {
        let c = config(&[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", "s3cret"),
            ("ssl.ca.location", "/etc/ca.pem"),
            ("ssl.certificate.location", "/etc/c.pem"),
            ("ssl.key.location", "/etc/k.pem"),
            ("ssl.endpoint.identification.algorithm", ""),
        ])
        .unwrap();
        assert_eq!(c.security.sasl.mechanism, Some(SaslMechanism::Plain));
        assert!(!c.security.ssl.endpoint_identification);
        assert_eq!(
            c.security.ssl.key_location,
            Some(PathBuf::from("/etc/k.pem"))
        );
    }

    #[test]
    fn missing_or_mismatched_sasl_settings_are_refused() {
        let err = config(&[("security.protocol", "SASL_SSL")]).unwrap_err();
        assert!(err.to_string().contains("sasl.mechanism"), "{err}");
        let err = config(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "a"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("sasl.password"), "{err}");
        let err = config(&[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            (
                "sasl.jaas.config",
                r#"x.ScramLoginModule required username="a" password="topsecret";"#,
            ),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(!err.to_string().contains("topsecret"), "{err}");
        let err = config(&[("sasl.mechanism", "GSSAPI")]).unwrap_err();
        assert!(err.to_string().contains("Kerberos"), "{err}");
        let err = config(&[("ssl.keystore.type", "JKS")]).unwrap_err();
        assert!(err.to_string().contains("only PEM"), "{err}");
    }

    #[test]
    fn secrets_never_appear_in_errors() {
        let err = config(&[(
            "sasl.jaas.config",
            r#"x.PlainLoginModule required username="a" password="topsecret""#,
        )])
        .unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        let err = config(&[("sasl.oauthbearer.config", "principal:topsecret")]).unwrap_err();
        assert!(!err.to_string().contains("topsecret"), "{err}");
        assert!(err.to_string().contains("[hidden]"), "{err}");
    }

    #[test]
    fn unsecured_jwts_from_either_syntax() {
        let c = config(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
            (
                "sasl.oauthbearer.config",
                "principal=alice scope=read,write lifeSeconds=60 extension_logicalCluster=lkc-1",
            ),
        ])
        .unwrap();
        let jwt = c.security.sasl.unsecured_jwt.clone().unwrap();
        assert_eq!(jwt.principal, "alice");
        assert_eq!(jwt.scope, vec!["read", "write"]);
        assert_eq!(jwt.lifetime, Duration::from_secs(60));
        let token = jwt.token(Duration::from_secs(1_000));
        assert_eq!(
            token.extensions,
            vec![("logicalCluster".to_owned(), "lkc-1".to_owned())]
        );
        let parts: Vec<&str> = token.value.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        use base64::Engine as _;
        let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap();
        assert_eq!(
            String::from_utf8(claims).unwrap(),
            r#"{"sub":"alice","iat":1000,"exp":1060,"scope":["read","write"]}"#
        );

        let c = config(&[
            ("security.protocol", "SASL_PLAINTEXT"),
            (
                "sasl.jaas.config",
                r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="bob";"#,
            ),
        ])
        .unwrap();
        assert_eq!(c.security.sasl.mechanism, Some(SaslMechanism::OAuthBearer));
        assert_eq!(c.security.sasl.unsecured_jwt.unwrap().principal, "bob");
    }
}
