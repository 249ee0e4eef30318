//! The Java property names and their parsing.

use super::other_names::{self, Meaning};
use super::values::{boolean, i32_at_least, int, invalid, list, millis, optional};
use super::{AutoOffsetReset, ConfigError, ConsumerConfig, GroupProtocol, IsolationLevel};

/// Every property name [`ConsumerConfig::set`] accepts: Java's, and librdkafka's where
/// they mean the same thing.
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
    "group.protocol",
    "group.remote.assignor",
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
    // librdkafka's names for the settings above (config/other_names.rs)
    "metadata.broker.list",
    "fetch.wait.max.ms",
    "fetch.message.max.bytes",
    "topic.metadata.refresh.interval.ms",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    // settings accepted with the one value that is what this library does anyway
    // (config/other_names.rs)
    "api.version.request",
    "enable.partition.eof",
    "enable.auto.offset.store",
    "offset.store.method",
    "group.protocol",
    "group.protocol.type",
    "statistics.interval.ms",
    "socket.nagle.disable",
    "socket.keepalive.enable",
    "socket.max.fails",
    "client.dns.lookup",
    "metadata.recovery.strategy",
    "topic.metadata.refresh.sparse",
    "enable.metrics.push",
    "exclude.internal.topics",
    "sasl.oauthbearer.method",
];

/// Sets `key` on `c`, parsing `value` as the Java consumer would. A name of another client
/// is taken, or refused, as the table of `other_names.rs` says; any other key is unknown,
/// with the closest accepted name as a hint.
pub(super) fn set(c: &mut ConsumerConfig, key: &str, value: &str) -> Result<(), ConfigError> {
    if set_java(c, key, value)? {
        return Ok(());
    }
    match other_names::lookup(key) {
        Some(Meaning::Alias { java, values }) => {
            // Errors name the key as the caller gave it.
            let recognised = set_java(c, java, values.to_java(value)).map_err(|e| match e {
                ConfigError::InvalidValue { reason, .. } => invalid(key, value, reason),
                other => other,
            })?;
            debug_assert!(recognised, "{key} is an alias of {java}, not a Java name");
            Ok(())
        }
        Some(Meaning::Fixed {
            value: only,
            otherwise,
        }) => {
            if value.trim().eq_ignore_ascii_case(only) {
                Ok(())
            } else {
                Err(invalid(
                    key,
                    value,
                    format!("only `{only}` is supported: {otherwise}"),
                ))
            }
        }
        Some(Meaning::Unsupported { what, instead }) => Err(ConfigError::Unsupported {
            key: key.to_owned(),
            what,
            instead,
        }),
        Some(Meaning::SerdeClass) => Err(ConfigError::SerdeClass {
            key: key.to_owned(),
        }),
        None => Err(ConfigError::UnknownProperty {
            key: key.to_owned(),
            suggestion: other_names::closest_known(key, KNOWN_PROPERTIES),
        }),
    }
}

/// Sets one property of the Java table (or of `security.rs`); `Ok(false)` if `key` is
/// not one.
fn set_java(c: &mut ConsumerConfig, key: &str, value: &str) -> Result<bool, ConfigError> {
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
            // Java's values, and librdkafka's spellings of the same three.
            c.auto_offset_reset = match value.trim().to_ascii_lowercase().as_str() {
                "earliest" | "smallest" | "beginning" => AutoOffsetReset::Earliest,
                "latest" | "largest" | "end" => AutoOffsetReset::Latest,
                "none" | "error" => AutoOffsetReset::None,
                _ => {
                    return Err(invalid(
                        key,
                        value,
                        "expected earliest, latest or none (librdkafka's smallest, \
                         beginning, largest, end and error are accepted too)",
                    ))
                }
            }
        }
        "group.protocol" => {
            // Case-insensitive, as in Java.
            c.group_protocol = match value.trim().to_ascii_lowercase().as_str() {
                "classic" => GroupProtocol::Classic,
                "consumer" => GroupProtocol::Consumer,
                _ => return Err(invalid(key, value, "expected classic or consumer")),
            }
        }
        "group.remote.assignor" => c.group_remote_assignor = optional(value),
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
        _ => return super::security::set(&mut c.security, key, value),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_protocol_takes_java_values_in_any_case() {
        for (v, want) in [
            ("classic", GroupProtocol::Classic),
            ("CONSUMER", GroupProtocol::Consumer),
            ("Consumer", GroupProtocol::Consumer),
        ] {
            let c = ConsumerConfig::from_properties([
                ("bootstrap.servers", "b:9092"),
                ("group.protocol", v),
                ("group.remote.assignor", "uniform"),
            ])
            .expect("valid");
            assert_eq!(c.group_protocol, want);
            assert_eq!(c.group_remote_assignor.as_deref(), Some("uniform"));
        }
        let e = ConsumerConfig::from_properties([
            ("bootstrap.servers", "b:9092"),
            ("group.protocol", "streams"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("classic or consumer"), "{e}");
    }

    #[test]
    fn classic_settings_are_refused_with_the_consumer_protocol() {
        for key in [
            "partition.assignment.strategy",
            "session.timeout.ms",
            "heartbeat.interval.ms",
        ] {
            let value = if key.ends_with("strategy") {
                "range"
            } else {
                "10000"
            };
            let e = ConsumerConfig::from_properties([
                ("bootstrap.servers", "b:9092"),
                (key, value),
                ("group.protocol", "consumer"),
            ])
            .unwrap_err();
            assert!(
                matches!(&e, ConfigError::Unsupported { key: k, .. } if k == key),
                "{key}: {e}"
            );
            assert!(e.to_string().contains("group.protocol=consumer"), "{e}");
            // Fine with the classic protocol.
            ConsumerConfig::from_properties([("bootstrap.servers", "b:9092"), (key, value)])
                .expect("classic");
        }
    }

    // The table of other clients' names against the accepted names.
    use super::super::other_names::{closest_known, lookup, Meaning::*, OTHER_NAMES};
    const KNOWN: &[&str] = KNOWN_PROPERTIES;

    #[test]
    fn the_table_is_consistent() {
        let mut seen = std::collections::HashSet::new();
        for &(name, meaning) in OTHER_NAMES {
            assert!(seen.insert(name), "{name} twice");
            let known = KNOWN.contains(&name);
            match meaning {
                // Accepted names are listed, so they can be suggested.
                Alias { java, .. } => {
                    assert!(known, "{name} accepted but not in KNOWN_PROPERTIES");
                    assert!(KNOWN.contains(&java), "{name} -> {java}");
                    assert!(lookup(java).is_none(), "{name} -> {java}, itself an alias");
                }
                Fixed { .. } => assert!(known, "{name} accepted but not in KNOWN_PROPERTIES"),
                Unsupported { .. } | SerdeClass => {
                    assert!(!known, "{name} refused but in KNOWN_PROPERTIES")
                }
            }
            if name.ends_with('.') {
                assert!(
                    matches!(meaning, Unsupported { .. }),
                    "prefix row {name} must refuse"
                );
            }
        }
    }

    #[test]
    fn closest_names() {
        assert_eq!(
            closest_known("fetch.mni.bytes", KNOWN),
            Some("fetch.min.bytes")
        );
        assert_eq!(
            closest_known("fetch.max.byte", KNOWN),
            Some("fetch.max.bytes")
        );
        assert_eq!(closest_known("gruop.id", KNOWN), Some("group.id"));
        assert_eq!(
            closest_known("FETCH_MIN_BYTES", KNOWN),
            Some("fetch.min.bytes")
        );
        assert_eq!(
            closest_known("auto-offset-reset", KNOWN),
            Some("auto.offset.reset")
        );
        assert_eq!(
            closest_known("fetch.wait.max.m", KNOWN),
            Some("fetch.wait.max.ms")
        );
        assert_eq!(
            closest_known("sasl.mechanismz", KNOWN),
            Some("sasl.mechanism")
        );
        // Nothing close: no guess.
        assert_eq!(closest_known("foo.bar.baz", KNOWN), None);
        assert_eq!(closest_known("x", KNOWN), None);
        assert_eq!(closest_known("", KNOWN), None);
        assert_eq!(closest_known("completely.unrelated.setting", KNOWN), None);
    }
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
        assert_eq!(
            e,
            ConfigError::UnknownProperty {
                key: "fetch.mni.bytes".into(),
                suggestion: Some("fetch.min.bytes"),
            }
        );
        assert_eq!(
            e.to_string(),
            "unknown consumer property `fetch.mni.bytes`; did you mean `fetch.min.bytes`?"
        );
        let e = ConsumerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("frobnicate.level", "1"),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown consumer property `frobnicate.level`"
        );
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
    fn config(props: &[(&str, &str)]) -> Result<ConsumerConfig, ConfigError> {
        let mut all = vec![("bootstrap.servers", "h:1")];
        all.extend_from_slice(props);
        ConsumerConfig::from_properties(all)
    }

    #[test]
    fn librdkafka_names_mean_the_java_settings() {
        // librdkafka's names (its own, and those it shares with Java) against Java's.
        let librdkafka = ConsumerConfig::from_properties([
            ("metadata.broker.list", "b1:9092,b2:9092"),
            ("client.id", "c"),
            ("group.id", "g"),
            ("group.instance.id", "i"),
            ("fetch.wait.max.ms", "100"),
            ("fetch.message.max.bytes", "2048"),
            ("fetch.min.bytes", "10"),
            ("fetch.max.bytes", "4096"),
            ("topic.metadata.refresh.interval.ms", "60000"),
            ("socket.send.buffer.bytes", "0"),
            ("socket.receive.buffer.bytes", "1000000"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            ("max.poll.interval.ms", "20000"),
            ("enable.auto.commit", "false"),
            ("auto.commit.interval.ms", "1000"),
            ("reconnect.backoff.ms", "10"),
            ("reconnect.backoff.max.ms", "2000"),
            ("socket.connection.setup.timeout.ms", "3000"),
            ("check.crcs", "false"),
            ("isolation.level", "read_uncommitted"),
            ("auto.offset.reset", "smallest"),
            ("partition.assignment.strategy", "range,roundrobin"),
        ])
        .unwrap();
        let java = ConsumerConfig::from_properties([
            ("bootstrap.servers", "b1:9092,b2:9092"),
            ("client.id", "c"),
            ("group.id", "g"),
            ("group.instance.id", "i"),
            ("fetch.max.wait.ms", "100"),
            ("max.partition.fetch.bytes", "2048"),
            ("fetch.min.bytes", "10"),
            ("fetch.max.bytes", "4096"),
            ("metadata.max.age.ms", "60000"),
            ("send.buffer.bytes", "-1"),
            ("receive.buffer.bytes", "1000000"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            ("max.poll.interval.ms", "20000"),
            ("enable.auto.commit", "false"),
            ("auto.commit.interval.ms", "1000"),
            ("reconnect.backoff.ms", "10"),
            ("reconnect.backoff.max.ms", "2000"),
            ("socket.connection.setup.timeout.ms", "3000"),
            ("check.crcs", "false"),
            ("isolation.level", "read_uncommitted"),
            ("auto.offset.reset", "earliest"),
            ("partition.assignment.strategy", "range,roundrobin"),
        ])
        .unwrap();
        assert_eq!(librdkafka, java);
        assert_eq!(java.fetch_max_wait, Duration::from_millis(100));
        assert_eq!(java.max_partition_fetch_bytes, 2048);
        assert_eq!(java.metadata_max_age, Duration::from_secs(60));
        assert_eq!(java.send_buffer_bytes, -1);
        // The two names of one setting: the last one given wins, as for any repeated key.
        let c = config(&[("fetch.max.wait.ms", "7"), ("fetch.wait.max.ms", "8")]).unwrap();
        assert_eq!(c.fetch_max_wait, Duration::from_millis(8));
    }

    #[test]
    fn an_alias_with_a_bad_value_names_the_key_given() {
        for (key, value) in [
            ("fetch.wait.max.ms", "soon"),
            ("fetch.message.max.bytes", "-1"),
            // librdkafka's -1 (no periodic refresh) has no equivalent.
            ("topic.metadata.refresh.interval.ms", "-1"),
            ("socket.receive.buffer.bytes", "-2"),
            ("metadata.broker.list", "nohost"),
        ] {
            match config(&[(key, value)]) {
                Err(ConfigError::InvalidValue {
                    key: k, value: v, ..
                }) => {
                    assert_eq!((k.as_str(), v.as_str()), (key, value));
                }
                other => panic!("{key}={value}: {other:?}"),
            }
        }
    }

    #[test]
    fn librdkafka_value_spellings() {
        for (value, want) in [
            ("smallest", AutoOffsetReset::Earliest),
            ("earliest", AutoOffsetReset::Earliest),
            ("beginning", AutoOffsetReset::Earliest),
            ("largest", AutoOffsetReset::Latest),
            ("latest", AutoOffsetReset::Latest),
            ("end", AutoOffsetReset::Latest),
            ("error", AutoOffsetReset::None),
            ("none", AutoOffsetReset::None),
            ("Earliest", AutoOffsetReset::Earliest),
        ] {
            let c = config(&[("auto.offset.reset", value)]).unwrap();
            assert_eq!(c.auto_offset_reset, want, "{value}");
        }
        let e = config(&[("auto.offset.reset", "oldest")]).unwrap_err();
        assert!(e.to_string().contains("smallest"), "{e}");
        for value in [
            "range",
            "roundrobin",
            "cooperative-sticky",
            "range, roundrobin",
        ] {
            config(&[("partition.assignment.strategy", value)]).unwrap();
        }
        let e = config(&[("partition.assignment.strategy", "sticky")]).unwrap_err();
        assert!(e.to_string().contains("unknown assignor"), "{e}");
    }

    #[test]
    fn settings_with_one_value_here_take_only_that_one() {
        for (key, value) in [
            ("api.version.request", "true"),
            ("api.version.request", "TRUE"),
            ("enable.partition.eof", "false"),
            ("enable.auto.offset.store", "true"),
            ("statistics.interval.ms", "0"),
            ("socket.nagle.disable", "true"),
            ("client.dns.lookup", "use_all_dns_ips"),
            ("enable.metrics.push", "false"),
            ("sasl.oauthbearer.method", "default"),
        ] {
            assert_eq!(config(&[(key, value)]), config(&[]), "{key}={value}");
        }
        for (key, value, says) in [
            ("api.version.request", "false", "0.10"),
            ("enable.partition.eof", "true", "high_watermark"),
            (
                "enable.auto.offset.store",
                "false",
                "enable.auto.commit=false",
            ),
            ("statistics.interval.ms", "1000", "no metrics"),
            (
                "exclude.internal.topics",
                "false",
                "subscribe to one by name",
            ),
            ("sasl.oauthbearer.method", "oidc", "TokenProvider"),
        ] {
            let e = config(&[(key, value)]).unwrap_err();
            assert!(
                matches!(&e, ConfigError::InvalidValue { key: k, .. } if k == key),
                "{e:?}"
            );
            let text = e.to_string();
            assert!(text.contains(says), "{key}={value}: {text}");
            assert!(text.contains("` is supported: "), "{text}");
        }
    }

    #[test]
    fn settings_without_equivalent_say_what_to_do() {
        for (key, says) in [
            ("queued.min.messages", "fetch.max.bytes"),
            ("queued.max.messages.kbytes", "max.partition.fetch.bytes"),
            ("fetch.error.backoff.ms", "retry.backoff.ms"),
            ("socket.timeout.ms", "request.timeout.ms"),
            ("debug", "`log` crate"),
            ("interceptor.classes", "poll and commit"),
            ("metric.reporters", "high_watermark"),
            ("connections.max.idle.ms", "reconnects"),
            ("sasl.kerberos.service.name", "GSSAPI"),
            ("sasl.oauthbearer.token.endpoint.url", "TokenProvider"),
            ("sasl.login.callback.handler.class", "TokenProvider"),
            ("ssl.cipher.suites", "rustls"),
            ("linger.ms", "consumer"),
        ] {
            let e = config(&[(key, "1")]).unwrap_err();
            assert!(
                matches!(&e, ConfigError::Unsupported { key: k, .. } if k == key),
                "{key}: {e:?}"
            );
            let text = e.to_string();
            assert!(
                text.starts_with(&format!("unsupported consumer property `{key}` (")),
                "{text}"
            );
            assert!(text.contains(says), "{key}: {text}");
        }
        let e = config(&[("queued.min.messages", "1")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported consumer property `queued.min.messages` (librdkafka's count of \
             messages to keep pre-fetched): there is no pre-fetch queue to size here: a \
             partition holds at most one buffered and one pre-fetched answer, and \
             pre-fetching stops once fetch.max.bytes is buffered; bound memory with \
             fetch.max.bytes and max.partition.fetch.bytes"
        );
    }

    #[test]
    fn serializer_classes_are_refused_records_are_bytes() {
        for key in [
            "key.deserializer",
            "value.deserializer",
            "key.serializer",
            "value.serializer",
        ] {
            let e = config(&[(
                key,
                "org.apache.kafka.common.serialization.StringDeserializer",
            )])
            .unwrap_err();
            assert_eq!(e, ConfigError::SerdeClass { key: key.into() });
            assert_eq!(
                e.to_string(),
                format!(
                    "`{key}` is not used here: records are bytes (keys and values are \
                     `Bytes`); deserialize them in your code"
                )
            );
        }
    }

    #[test]
    fn refusals_and_hints_never_repeat_a_value() {
        for (key, value) in [
            ("sasl.oauthbearer.client.secret", "topsecret"),
            ("sasl.pasword", "topsecret"),
            ("ssl.keystore.passwd", "topsecret"),
            ("value.deserializer", "topsecret"),
            ("sasl.kerberos.keytab", "topsecret"),
        ] {
            let e = config(&[(key, value)]).unwrap_err();
            assert!(!e.to_string().contains("topsecret"), "{e}");
            assert!(!format!("{e:?}").contains("topsecret"), "{e:?}");
        }
        let e = config(&[("sasl.pasword", "topsecret")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown consumer property `sasl.pasword`; did you mean `sasl.password`?"
        );
    }

    #[test]
    fn typos_get_the_closest_name() {
        for (typo, want) in [
            ("fetch.max.byte", "fetch.max.bytes"),
            ("max.poll.record", "max.poll.records"),
            ("enable_auto_commit", "enable.auto.commit"),
            ("Bootstrap.Servers", "bootstrap.servers"),
            ("sesion.timeout.ms", "session.timeout.ms"),
            ("fetch.wait.max.sm", "fetch.wait.max.ms"),
            ("metadata.broker.lsit", "metadata.broker.list"),
        ] {
            match config(&[(typo, "1")]) {
                Err(ConfigError::UnknownProperty { key, suggestion }) => {
                    assert_eq!(key, typo);
                    assert_eq!(suggestion, Some(want), "{typo}");
                }
                other => panic!("{typo}: {other:?}"),
            }
        }
        for far in ["zookeeper.connect", "my.app.setting", "topic"] {
            match config(&[(far, "1")]) {
                Err(ConfigError::UnknownProperty { suggestion, .. }) => {
                    assert_eq!(suggestion, None, "{far}")
                }
                other => panic!("{far}: {other:?}"),
            }
        }
    }
}
