//! Consumer configuration: a typed builder and the Java property names.
//!
//! Defaults follow Apache Kafka's Java `KafkaConsumer`. [`ConsumerConfig::from_properties`]
//! accepts the Java property names, and librdkafka's where they mean the same thing
//! (`other_names.rs` holds that table). Settings of either client that have no
//! equivalent here are refused saying what to do instead; an unknown key gets the closest
//! known name as a hint; an invalid value is an error that names the key.

mod jaas;
mod other_names;
mod properties;
mod properties_file;
mod security;
mod values;

use std::time::Duration;

use thiserror::Error;

pub use properties::KNOWN_PROPERTIES;
pub use properties_file::parse_properties;
pub use security::{
    OAuthBearerToken, SaslConfig, SaslMechanism, Secret, SecurityConfig, SecurityProtocol,
    SslConfig, TlsVersion, TokenCallback, TokenProvider, UnsecuredJwt,
};

/// What to do when a partition has no valid position (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// Start from the log start offset.
    Earliest,
    /// Start from the log end offset.
    Latest,
    /// Fail: the caller must seek.
    None,
}

/// `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// Read every record up to the high watermark.
    ReadUncommitted,
    /// Read only committed transactional records (up to the last stable offset).
    ReadCommitted,
}

impl IsolationLevel {
    /// The value sent in Fetch and ListOffsets requests.
    pub(crate) fn wire_value(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// `group.protocol`: which consumer-group protocol a member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupProtocol {
    /// The classic protocol (JoinGroup, SyncGroup, Heartbeat): the group leader assigns
    /// partitions with `partition.assignment.strategy`, each rebalance is a round every
    /// member takes part in. The default, as in Java.
    #[default]
    Classic,
    /// KIP-848's consumer protocol (ConsumerGroupHeartbeat): the broker assigns
    /// partitions (`group.remote.assignor`) and members move them one at a time, with no
    /// group-wide pause. Needs a broker that offers ConsumerGroupHeartbeat (Kafka 4.0+).
    Consumer,
}

/// Settings of the classic group protocol that the broker owns under
/// `group.protocol=consumer`, with what to do instead.
const CLASSIC_ONLY: &[(&str, &str)] = &[
    (
        "partition.assignment.strategy",
        "with group.protocol=consumer the broker assigns: use group.remote.assignor",
    ),
    (
        "session.timeout.ms",
        "with group.protocol=consumer the broker sets it (group.consumer.session.timeout.ms)",
    ),
    (
        "heartbeat.interval.ms",
        "with group.protocol=consumer the broker sets it \
         (group.consumer.heartbeat.interval.ms)",
    ),
];

/// An invalid configuration, naming the key at fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a consumer property here, nor a known one of another client.
    #[error("unknown consumer property `{key}`{}", did_you_mean(.suggestion))]
    UnknownProperty {
        /// The key given.
        key: String,
        /// The accepted property name closest to it, if one is close enough to be a typo.
        suggestion: Option<&'static str>,
    },
    /// A property of librdkafka or of the Java client that has no equivalent here.
    #[error("unsupported consumer property `{key}` ({what}): {instead}")]
    Unsupported {
        /// The key given.
        key: String,
        /// What it is, and whose.
        what: &'static str,
        /// What to do instead, or why it has no effect here.
        instead: &'static str,
    },
    /// A Java serializer or deserializer class (`key.deserializer`, …).
    #[error(
        "`{key}` is not used here: records are bytes (keys and values are `Bytes`); \
         deserialize them in your code"
    )]
    SerdeClass {
        /// The key given.
        key: String,
    },
    /// The value does not parse or is out of range.
    #[error("invalid value `{value}` for `{key}`: {reason}")]
    InvalidValue {
        /// The key given.
        key: String,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A required property is missing.
    #[error("missing required property `{key}`")]
    Missing {
        /// The key that must be set.
        key: String,
    },
}

/// `; did you mean `x`?` after an unknown key, when a known one is close.
fn did_you_mean(suggestion: &Option<&'static str>) -> String {
    suggestion
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

/// The consumer's configuration. Build it with [`ConsumerConfig::builder`] or
/// [`ConsumerConfig::from_properties`] (or take [`ConsumerConfig::default`] and set
/// fields: more may be added in later versions).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// `bootstrap.servers`: host:port pairs used until the first metadata answer.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `client.rack`.
    pub client_rack: String,
    /// `group.id`.
    pub group_id: Option<String>,
    /// `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`.
    pub fetch_max_bytes: i32,
    /// `fetch.max.wait.ms`.
    pub fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// `max.poll.records`.
    pub max_poll_records: usize,
    /// `auto.offset.reset`.
    pub auto_offset_reset: AutoOffsetReset,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `check.crcs`.
    pub check_crcs: bool,
    /// `metadata.max.age.ms`.
    pub metadata_max_age: Duration,
    /// `allow.auto.create.topics`.
    pub allow_auto_create_topics: bool,
    /// `retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    pub reconnect_backoff_max: Duration,
    /// `request.timeout.ms`.
    pub request_timeout: Duration,
    /// `socket.connection.setup.timeout.ms`.
    pub socket_connection_setup_timeout: Duration,
    /// `default.api.timeout.ms`: the bound of blocking calls that take no timeout.
    pub default_api_timeout: Duration,
    /// `receive.buffer.bytes` (-1: the OS default).
    pub receive_buffer_bytes: i32,
    /// `send.buffer.bytes` (-1: the OS default).
    pub send_buffer_bytes: i32,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval: Duration,
    /// `session.timeout.ms`.
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms`.
    pub max_poll_interval: Duration,
    /// `partition.assignment.strategy`: assignor names in order of preference (classic
    /// protocol only).
    pub partition_assignment_strategy: Vec<String>,
    /// `group.protocol`.
    pub group_protocol: GroupProtocol,
    /// `group.remote.assignor`: the broker-side assignor the consumer protocol asks for
    /// (`uniform`, `range`, …); `None` lets the broker choose.
    pub group_remote_assignor: Option<String>,
    /// `max.decompressed.bytes` (this library's own): the bound on one decompressed batch.
    pub max_decompressed_bytes: usize,
    /// `security.protocol` and its SASL and TLS settings.
    pub security: SecurityConfig,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: Vec::new(),
            client_id: "consumer".to_owned(),
            client_rack: String::new(),
            group_id: None,
            group_instance_id: None,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            fetch_max_wait: Duration::from_millis(500),
            max_partition_fetch_bytes: 1_048_576,
            max_poll_records: 500,
            auto_offset_reset: AutoOffsetReset::Latest,
            isolation_level: IsolationLevel::ReadUncommitted,
            check_crcs: true,
            metadata_max_age: Duration::from_millis(300_000),
            allow_auto_create_topics: true,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1_000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1_000),
            request_timeout: Duration::from_millis(30_000),
            socket_connection_setup_timeout: Duration::from_millis(10_000),
            default_api_timeout: Duration::from_millis(60_000),
            receive_buffer_bytes: 65_536,
            send_buffer_bytes: 131_072,
            enable_auto_commit: true,
            auto_commit_interval: Duration::from_millis(5_000),
            session_timeout: Duration::from_millis(45_000),
            heartbeat_interval: Duration::from_millis(3_000),
            max_poll_interval: Duration::from_millis(300_000),
            partition_assignment_strategy: vec![
                "range".to_owned(),
                "cooperative-sticky".to_owned(),
            ],
            group_protocol: GroupProtocol::Classic,
            group_remote_assignor: None,
            max_decompressed_bytes: 256 * 1024 * 1024,
            security: SecurityConfig::default(),
        }
    }
}

impl ConsumerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder {
            config: ConsumerConfig::default(),
        }
    }

    /// From Java property names and string values, e.g. `("fetch.min.bytes", "1024")`.
    pub fn from_properties<K, V>(
        props: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = ConsumerConfig::default();
        let mut classic_only = None;
        for (k, v) in props {
            let key = k.as_ref();
            config.set(key, v.as_ref())?;
            if let Some((name, instead)) = CLASSIC_ONLY.iter().find(|(name, _)| *name == key) {
                classic_only = Some((*name, *instead));
            }
        }
        // As Java: settings the broker owns under the consumer protocol are refused
        // rather than silently ignored.
        if let (GroupProtocol::Consumer, Some((key, instead))) =
            (config.group_protocol, classic_only)
        {
            return Err(ConfigError::Unsupported {
                key: key.to_owned(),
                what: "a classic-protocol setting",
                instead,
            });
        }
        config.validate()?;
        Ok(config)
    }

    /// Sets one property by its Java name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        properties::set(self, key, value)
    }

    /// Checks the relations between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::Missing {
                key: "bootstrap.servers".to_owned(),
            });
        }
        let positive = [
            ("max.poll.records", self.max_poll_records as i64),
            ("fetch.max.bytes", i64::from(self.fetch_max_bytes)),
            (
                "max.partition.fetch.bytes",
                i64::from(self.max_partition_fetch_bytes),
            ),
            ("max.decompressed.bytes", self.max_decompressed_bytes as i64),
        ];
        for (key, v) in positive {
            if v <= 0 {
                return Err(ConfigError::InvalidValue {
                    key: key.to_owned(),
                    value: v.to_string(),
                    reason: "must be positive".to_owned(),
                });
            }
        }
        if self.fetch_min_bytes < 0 {
            return Err(ConfigError::InvalidValue {
                key: "fetch.min.bytes".to_owned(),
                value: self.fetch_min_bytes.to_string(),
                reason: "must not be negative".to_owned(),
            });
        }
        for name in &self.partition_assignment_strategy {
            // Checked here too, so a consumer without group.id does not accept a typo.
            if crate::assignor::assignor_by_name(name).is_none() {
                return Err(ConfigError::InvalidValue {
                    key: "partition.assignment.strategy".to_owned(),
                    value: name.clone(),
                    reason: "unknown assignor (expected range, roundrobin or cooperative-sticky)"
                        .to_owned(),
                });
            }
        }
        self.security.validate()?;
        if self.heartbeat_interval >= self.session_timeout {
            return Err(ConfigError::InvalidValue {
                key: "heartbeat.interval.ms".to_owned(),
                value: self.heartbeat_interval.as_millis().to_string(),
                reason: "must be lower than session.timeout.ms".to_owned(),
            });
        }
        Ok(())
    }
}

/// Builds a [`ConsumerConfig`] with typed setters.
#[derive(Debug, Clone)]
pub struct ConsumerConfigBuilder {
    config: ConsumerConfig,
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        impl ConsumerConfigBuilder {
            $(
                $(#[$doc])*
                pub fn $name(mut self, v: $ty) -> Self {
                    self.config.$name = v;
                    self
                }
            )*
        }
    };
}

setters! {
    /// `client.id`.
    client_id: String,
    /// `client.rack`.
    client_rack: String,
    /// `fetch.min.bytes`.
    fetch_min_bytes: i32,
    /// `fetch.max.bytes`.
    fetch_max_bytes: i32,
    /// `fetch.max.wait.ms`.
    fetch_max_wait: Duration,
    /// `max.partition.fetch.bytes`.
    max_partition_fetch_bytes: i32,
    /// `max.poll.records`.
    max_poll_records: usize,
    /// `auto.offset.reset`.
    auto_offset_reset: AutoOffsetReset,
    /// `isolation.level`.
    isolation_level: IsolationLevel,
    /// `check.crcs`.
    check_crcs: bool,
    /// `metadata.max.age.ms`.
    metadata_max_age: Duration,
    /// `retry.backoff.ms`.
    retry_backoff: Duration,
    /// `reconnect.backoff.ms`.
    reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`.
    reconnect_backoff_max: Duration,
    /// `request.timeout.ms`.
    request_timeout: Duration,
    /// `default.api.timeout.ms`.
    default_api_timeout: Duration,
    /// `enable.auto.commit`.
    enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    auto_commit_interval: Duration,
    /// `session.timeout.ms`.
    session_timeout: Duration,
    /// `heartbeat.interval.ms`.
    heartbeat_interval: Duration,
    /// `max.poll.interval.ms`.
    max_poll_interval: Duration,
    /// `max.decompressed.bytes`.
    max_decompressed_bytes: usize,
    /// `group.protocol`.
    group_protocol: GroupProtocol,
}

impl ConsumerConfigBuilder {
    /// `bootstrap.servers`.
    pub fn bootstrap_servers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.bootstrap_servers = servers.into_iter().map(Into::into).collect();
        self
    }

    /// `group.id`.
    pub fn group_id(mut self, group: impl Into<String>) -> Self {
        self.config.group_id = Some(group.into());
        self
    }

    /// `group.instance.id`.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_instance_id = Some(id.into());
        self
    }

    /// `group.remote.assignor`.
    pub fn group_remote_assignor(mut self, name: impl Into<String>) -> Self {
        self.config.group_remote_assignor = Some(name.into());
        self
    }

    /// `partition.assignment.strategy`.
    pub fn partition_assignment_strategy<S: Into<String>>(
        mut self,
        names: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.partition_assignment_strategy = names.into_iter().map(Into::into).collect();
        self
    }

    /// `security.protocol`.
    pub fn security_protocol(mut self, protocol: SecurityProtocol) -> Self {
        self.config.security.protocol = protocol;
        self
    }

    /// SASL with `mechanism`, `username` and `password` (PLAIN or SCRAM).
    pub fn sasl_credentials(
        mut self,
        mechanism: SaslMechanism,
        username: impl Into<String>,
        password: impl Into<Secret>,
    ) -> Self {
        let sasl = &mut self.config.security.sasl;
        sasl.mechanism = Some(mechanism);
        sasl.username = Some(username.into());
        sasl.password = Some(password.into());
        self
    }

    /// OAUTHBEARER with tokens from `provider`.
    pub fn oauthbearer_token_provider(mut self, provider: TokenProvider) -> Self {
        let sasl = &mut self.config.security.sasl;
        sasl.mechanism = Some(SaslMechanism::OAuthBearer);
        sasl.token_provider = Some(provider);
        self
    }

    /// Sets one property by its Java name.
    pub fn property(mut self, key: &str, value: &str) -> Result<Self, ConfigError> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// Validates and returns the configuration.
    pub fn build(self) -> Result<ConsumerConfig, ConfigError> {
        self.config.validate()?;
        Ok(self.config)
    }
}
