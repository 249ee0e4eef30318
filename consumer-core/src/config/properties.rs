//! The Java property names and their parsing.

use super::values::{boolean, i32_at_least, int, invalid, list, millis, optional};
use super::{AutoOffsetReset, ConfigError, ConsumerConfig, IsolationLevel};

/// Every property name [`ConsumerConfig::set`] accepts.
pub const KNOWN_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "client.rack",
    "group.id",
    "group.instance.id",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.max.wait.ms",
    "max.partition.fetch.bytes",
    "max.poll.records",
    "auto.offset.reset",
    "isolation.level",
    "check.crcs",
    "metadata.max.age.ms",
    "allow.auto.create.topics",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "request.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "default.api.timeout.ms",
    "receive.buffer.bytes",
    "send.buffer.bytes",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "partition.assignment.strategy",
    "max.decompressed.bytes",
    // security.protocol, SASL and TLS (config/security.rs)
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.jaas.config",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "enable.sasl.oauthbearer.unsecure.jwt",
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.truststore.location",
    "ssl.truststore.type",
    "ssl.truststore.certificates",
    "ssl.certificate.location",
    "ssl.certificate.pem",
    "ssl.key.location",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.keystore.key",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.password",
    "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification",
    "ssl.enabled.protocols",
    "ssl.protocol",
];

/// Sets `key` on `c`, parsing `value` as the Java consumer would.
pub(super) fn set(c: &mut ConsumerConfig, key: &str, value: &str) -> Result<(), ConfigError> {
    match key {
        "bootstrap.servers" => {
            let servers = list(value);
            for s in &servers {
                let port_ok = s
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
                if !port_ok {
                    return Err(invalid(key, value, format!("`{s}` is not host:port")));
                }
            }
            if servers.is_empty() {
                return Err(invalid(key, value, "no host:port given"));
            }
            c.bootstrap_servers = servers;
        }
        "client.id" => c.client_id = value.to_owned(),
        "client.rack" => c.client_rack = value.to_owned(),
        "group.id" => c.group_id = optional(value),
        "group.instance.id" => c.group_instance_id = optional(value),
        "fetch.min.bytes" => c.fetch_min_bytes = i32_at_least(key, value, 0)?,
        "fetch.max.bytes" => c.fetch_max_bytes = i32_at_least(key, value, 0)?,
        "fetch.max.wait.ms" => c.fetch_max_wait = millis(key, value, 0)?,
        "max.partition.fetch.bytes" => c.max_partition_fetch_bytes = i32_at_least(key, value, 0)?,
        "max.poll.records" => {
            c.max_poll_records = int(key, value, 1, i64::from(i32::MAX))? as usize
        }
        "auto.offset.reset" => {
            c.auto_offset_reset = match value.trim() {
                "earliest" => AutoOffsetReset::Earliest,
                "latest" => AutoOffsetReset::Latest,
                "none" => AutoOffsetReset::None,
                _ => return Err(invalid(key, value, "expected earliest, latest or none")),
            }
        }
        "isolation.level" => {
            c.isolation_level = match value.trim() {
                "read_uncommitted" => IsolationLevel::ReadUncommitted,
                "read_committed" => IsolationLevel::ReadCommitted,
                _ => {
                    return Err(invalid(
                        key,
                        value,
                        "expected read_uncommitted or read_committed",
                    ))
                }
            }
        }
        "check.crcs" => c.check_crcs = boolean(key, value)?,
        "metadata.max.age.ms" => c.metadata_max_age = millis(key, value, 0)?,
        "allow.auto.create.topics" => c.allow_auto_create_topics = boolean(key, value)?,
        "retry.backoff.ms" => c.retry_backoff = millis(key, value, 0)?,
        "retry.backoff.max.ms" => c.retry_backoff_max = millis(key, value, 0)?,
        "reconnect.backoff.ms" => c.reconnect_backoff = millis(key, value, 0)?,
        "reconnect.backoff.max.ms" => c.reconnect_backoff_max = millis(key, value, 0)?,
        "request.timeout.ms" => c.request_timeout = millis(key, value, 0)?,
        "socket.connection.setup.timeout.ms" => {
            c.socket_connection_setup_timeout = millis(key, value, 0)?
        }
        "default.api.timeout.ms" => c.default_api_timeout = millis(key, value, 0)?,
        "receive.buffer.bytes" => c.receive_buffer_bytes = i32_at_least(key, value, -1)?,
        "send.buffer.bytes" => c.send_buffer_bytes = i32_at_least(key, value, -1)?,
        "enable.auto.commit" => c.enable_auto_commit = boolean(key, value)?,
        "auto.commit.interval.ms" => c.auto_commit_interval = millis(key, value, 0)?,
        "session.timeout.ms" => c.session_timeout = millis(key, value, 1)?,
        "heartbeat.interval.ms" => c.heartbeat_interval = millis(key, value, 1)?,
        "max.poll.interval.ms" => c.max_poll_interval = millis(key, value, 1)?,
        "partition.assignment.strategy" => {
            let names = list(value);
            if names.is_empty() {
                return Err(invalid(key, value, "no assignor named"));
            }
            c.partition_assignment_strategy = names;
        }
        "max.decompressed.bytes" => {
            c.max_decompressed_bytes = int(key, value, 1, i64::from(i32::MAX))? as usize
        }
        _ => {
            if !super::security::set(&mut c.security, key, value)? {
                return Err(ConfigError::UnknownProperty {
                    key: key.to_owned(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn java_names_parse() {
        let c = ConsumerConfig::from_properties([
            ("bootstrap.servers", "127.0.0.1:9092, localhost:9093"),
            ("fetch.min.bytes", "1024"),
            ("fetch.max.wait.ms", "250"),
            ("auto.offset.reset", "earliest"),
            ("isolation.level", "read_uncommitted"),
            ("enable.auto.commit", "false"),
            ("group.id", "g1"),
        ])
        .unwrap();
        assert_eq!(
            c.bootstrap_servers,
            vec!["127.0.0.1:9092", "localhost:9093"]
        );
        assert_eq!(c.fetch_min_bytes, 1024);
        assert_eq!(c.fetch_max_wait, Duration::from_millis(250));
        assert_eq!(c.auto_offset_reset, AutoOffsetReset::Earliest);
        assert_eq!(c.isolation_level, IsolationLevel::ReadUncommitted);
        assert!(!c.enable_auto_commit);
        assert_eq!(c.group_id.as_deref(), Some("g1"));
    }

    #[test]
    fn every_known_property_is_settable() {
        let mut c = ConsumerConfig::default();
        for key in KNOWN_PROPERTIES {
            // Each key must at least be recognised (the value may be refused).
            let r = c.set(key, "1");
            assert!(
                !matches!(r, Err(ConfigError::UnknownProperty { .. })),
                "{key} not recognised"
            );
        }
    }

    #[test]
    fn unknown_and_invalid_name_the_key() {
        let e = ConsumerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("fetch.mni.bytes", "1"),
        ])
        .unwrap_err();
        assert_eq!(e.to_string(), "unknown consumer property `fetch.mni.bytes`");
        let e = ConsumerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("fetch.max.bytes", "-5"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("`fetch.max.bytes`"), "{e}");
        let e = ConsumerConfig::from_properties([("bootstrap.servers", "nohost")]).unwrap_err();
        assert!(e.to_string().contains("bootstrap.servers"), "{e}");
        let e = ConsumerConfig::from_properties([
            ("max.poll.records", "0"),
            ("bootstrap.servers", "h:1"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("max.poll.records"), "{e}");
        let e = ConsumerConfig::from_properties(Vec::<(&str, &str)>::new()).unwrap_err();
        assert_eq!(
            e,
            ConfigError::Missing {
                key: "bootstrap.servers".into()
            }
        );
    }
}
