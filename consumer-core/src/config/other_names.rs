//! Property names of other clients, in one table: librdkafka's names for settings the
//! Java table already has (accepted as those), settings of librdkafka or of the Java
//! client that this library has no equivalent for (refused, saying what to do instead),
//! and the Java (de)serializer classes (refused: records are bytes here). A key in none
//! of the tables is unknown; [`closest_known`] finds the accepted name it may be a typo of.
//! (The table of accepted names, `KNOWN_PROPERTIES`, is the caller's: properties.rs.)

/// What a name of [`OTHER_NAMES`] means here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Meaning {
    /// Another client's name for the property `java` of the Java table, with the same
    /// meaning: set as that one; `values` tells how the values differ, if they do.
    Alias {
        /// The Java name.
        java: &'static str,
        /// How a value is turned into the Java one.
        values: Values,
    },
    /// A setting whose only value here is `value` (compared case-insensitively), what
    /// this library does anyway: accepted with it, refused with any other, for `otherwise`.
    Fixed {
        /// The one value accepted.
        value: &'static str,
        /// Why another value cannot be honoured, and what to do instead.
        otherwise: &'static str,
    },
    /// No equivalent here: refused with [`ConfigError::Unsupported`](super::ConfigError).
    Unsupported {
        /// What the setting is, and whose.
        what: &'static str,
        /// What to do instead, or why it has no effect here.
        instead: &'static str,
    },
    /// A Java serializer or deserializer class: refused, records are bytes here.
    SerdeClass,
}

/// How an alias's values differ from the Java property's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Values {
    /// The same values.
    Same,
    /// `0` is the OS default, which the Java property spells `-1`.
    ZeroIsOsDefault,
}

impl Values {
    /// `value` in the Java property's terms.
    pub(super) fn to_java(self, value: &str) -> &str {
        match self {
            Values::ZeroIsOsDefault if value.trim() == "0" => "-1",
            _ => value,
        }
    }
}

use Meaning::{Alias, Fixed, SerdeClass, Unsupported};
use Values::{Same, ZeroIsOsDefault};

const fn alias(java: &'static str) -> Meaning {
    Alias { java, values: Same }
}

const fn unsupported(what: &'static str, instead: &'static str) -> Meaning {
    Unsupported { what, instead }
}

// What to do instead, shared by several names.
const QUEUE: &str = "there is no pre-fetch queue to size here: a partition holds at most one \
                     buffered and one pre-fetched answer, and pre-fetching stops once \
                     fetch.max.bytes is buffered; bound memory with fetch.max.bytes and \
                     max.partition.fetch.bytes";
const LOG: &str = "this library logs through the `log` crate: turn on debug or trace for the \
                   targets consumer_core and consumer_net in your logger";
const NO_FALLBACK: &str = "ApiVersions is always sent; brokers older than 0.10 are not supported";
const FILE_OFFSETS: &str = "offsets are committed to the group coordinator only";
const KERBEROS: &str = "GSSAPI (Kerberos) is not supported; use PLAIN, SCRAM-SHA-256, \
                        SCRAM-SHA-512 or OAUTHBEARER";
const TOKENS: &str = "fetching tokens from an identity provider is not built in: get them in \
                      your code and hand them over with a TokenProvider \
                      (ConsumerConfigBuilder::oauthbearer_token_provider), which is asked at \
                      every authentication";
const RUSTLS: &str = "TLS here is rustls, with its own safe choice of cipher suites, groups \
                      and signature schemes; ssl.enabled.protocols narrows the versions, CAs \
                      are PEM (ssl.ca.location, ssl.ca.pem) or the system's roots";
const METRICS: &str = "there is no metrics registry here: read the state with the consumer's \
                       methods (position, committed, high_watermark, assignment) and the log";
const JAVA_CLASS: &str = "Java classes cannot be loaded here";
const PRODUCER: &str = "this library is a consumer: remove it";

/// Names of other clients, and what each means here. A name ending in `.` stands for
/// every name under it that the Java table and the exact names here do not have.
///
/// librdkafka's names that equal Java's (`client.id`, `group.instance.id`,
/// `fetch.min.bytes`, `fetch.max.bytes`, `session.timeout.ms`, …) need no row: the
/// Java table takes them, and its `auto.offset.reset` also takes librdkafka's values
/// (`smallest`, `beginning`, `largest`, `end`, `error`).
pub(super) const OTHER_NAMES: &[(&str, Meaning)] = &[
    // ---- librdkafka's names for Java's settings ----
    // "Initial list of brokers": bootstrap.servers is librdkafka's alias of it.
    ("metadata.broker.list", alias("bootstrap.servers")),
    // "Maximum time the broker may wait to fill the Fetch response with fetch.min.bytes".
    ("fetch.wait.max.ms", alias("fetch.max.wait.ms")),
    // "Initial maximum number of bytes per topic+partition to request"; librdkafka takes
    // max.partition.fetch.bytes as its alias, and a larger first batch still comes back
    // whole in both (KIP-74).
    (
        "fetch.message.max.bytes",
        alias("max.partition.fetch.bytes"),
    ),
    // "Period of time at which topic and broker metadata is refreshed", Java's
    // metadata.max.age.ms (librdkafka's own metadata.max.age.ms is a cache age; here
    // that name is Java's). librdkafka's -1 (no periodic refresh) is refused.
    (
        "topic.metadata.refresh.interval.ms",
        alias("metadata.max.age.ms"),
    ),
    // SO_SNDBUF / SO_RCVBUF; librdkafka's 0 is Java's -1, the OS default.
    (
        "socket.send.buffer.bytes",
        Alias {
            java: "send.buffer.bytes",
            values: ZeroIsOsDefault,
        },
    ),
    (
        "socket.receive.buffer.bytes",
        Alias {
            java: "receive.buffer.bytes",
            values: ZeroIsOsDefault,
        },
    ),
    // ---- settings with one possible value here: what this library does anyway ----
    (
        "api.version.request",
        Fixed {
            value: "true",
            otherwise: NO_FALLBACK,
        },
    ),
    (
        "enable.partition.eof",
        Fixed {
            value: "false",
            otherwise: "there are no end-of-partition events here: compare position() with \
                        high_watermark()",
        },
    ),
    (
        "enable.auto.offset.store",
        Fixed {
            value: "true",
            otherwise: "auto-commit commits the positions after the records poll returned; \
                        to commit only what was processed, set enable.auto.commit=false and \
                        commit it with commit_offsets_sync or commit_offsets_async",
        },
    ),
    (
        "offset.store.method",
        Fixed {
            value: "broker",
            otherwise: FILE_OFFSETS,
        },
    ),
    (
        "group.protocol.type",
        Fixed {
            value: "consumer",
            otherwise: "only consumer groups are supported",
        },
    ),
    (
        "statistics.interval.ms",
        Fixed {
            value: "0",
            otherwise: METRICS,
        },
    ),
    (
        "socket.nagle.disable",
        Fixed {
            value: "true",
            otherwise: "Nagle's algorithm is always off here (TCP_NODELAY)",
        },
    ),
    (
        "socket.keepalive.enable",
        Fixed {
            value: "false",
            otherwise: "TCP keep-alive is not turned on here",
        },
    ),
    (
        "socket.max.fails",
        Fixed {
            value: "1",
            otherwise: "a timed-out request always closes its connection here",
        },
    ),
    (
        "client.dns.lookup",
        Fixed {
            value: "use_all_dns_ips",
            otherwise: "every address a name resolves to is tried, in order; canonical-name \
                        resolution is for Kerberos, which is not supported",
        },
    ),
    (
        "metadata.recovery.strategy",
        Fixed {
            value: "none",
            otherwise: "re-bootstrapping is not implemented: once metadata named the \
                        brokers, only they are asked",
        },
    ),
    (
        "topic.metadata.refresh.sparse",
        Fixed {
            value: "true",
            otherwise: "metadata requests name the topics of interest only (all topics for \
                        a pattern subscription)",
        },
    ),
    (
        "enable.metrics.push",
        Fixed {
            value: "false",
            otherwise: "client metrics (KIP-714) are not pushed",
        },
    ),
    (
        "exclude.internal.topics",
        Fixed {
            value: "true",
            otherwise: "a pattern subscription here always leaves internal topics \
                        (__consumer_offsets, …: names starting with `__`) out; subscribe \
                        to one by name to read it",
        },
    ),
    (
        "sasl.oauthbearer.method",
        Fixed {
            value: "default",
            otherwise: TOKENS,
        },
    ),
    // ---- Java (de)serializers ----
    ("key.deserializer", SerdeClass),
    ("value.deserializer", SerdeClass),
    ("key.serializer", SerdeClass),
    ("value.serializer", SerdeClass),
    // ---- librdkafka settings with no equivalent ----
    (
        "queued.min.messages",
        unsupported("librdkafka's count of messages to keep pre-fetched", QUEUE),
    ),
    (
        "queued.max.messages.kbytes",
        unsupported("librdkafka's bound on pre-fetched messages", QUEUE),
    ),
    (
        "fetch.queue.backoff.ms",
        unsupported(
            "librdkafka's fetch delay when its pre-fetch queue is full",
            QUEUE,
        ),
    ),
    (
        "fetch.error.backoff.ms",
        unsupported(
            "librdkafka's delay of a partition after a fetch error",
            "a partition waits retry.backoff.ms after a fetch error here: set that",
        ),
    ),
    (
        "socket.timeout.ms",
        unsupported(
            "librdkafka's timeout of network requests, which for Fetch comes on top of \
             fetch.wait.max.ms",
            "use request.timeout.ms, which here bounds every request from its sending, a \
             Fetch's wait included: keep it above fetch.max.wait.ms",
        ),
    ),
    (
        "auto.commit.enable",
        unsupported(
            "librdkafka's legacy auto-commit switch of the simple consumer",
            "use enable.auto.commit",
        ),
    ),
    (
        "offset.store.path",
        unsupported("librdkafka's file offset storage", FILE_OFFSETS),
    ),
    (
        "offset.store.sync.interval.ms",
        unsupported("librdkafka's file offset storage", FILE_OFFSETS),
    ),
    (
        "consume.callback.max.messages",
        unsupported(
            "librdkafka's count of messages per consume callback",
            "poll returns at most max.poll.records records: set that",
        ),
    ),
    (
        "coordinator.query.interval.ms",
        unsupported(
            "librdkafka's period of group coordinator lookups",
            "there is no periodic lookup here: the coordinator is looked up again when it \
             moves or is unavailable",
        ),
    ),
    (
        "topic.metadata.refresh.fast.interval.ms",
        unsupported(
            "librdkafka's backoff of urgent metadata refreshes",
            "an urgent refresh here backs off retry.backoff.ms, growing up to \
             retry.backoff.max.ms: set those",
        ),
    ),
    (
        "topic.metadata.propagation.max.ms",
        unsupported(
            "librdkafka's wait for a new topic to appear in metadata",
            "there is no such setting here: remove it",
        ),
    ),
    (
        "topic.blacklist",
        unsupported(
            "librdkafka's topics to hide from metadata",
            "write the regex of subscribe_pattern to leave them out",
        ),
    ),
    ("debug", unsupported("librdkafka's debug contexts", LOG)),
    ("log_level", unsupported("librdkafka's log level", LOG)),
    (
        "log.connection.close",
        unsupported("librdkafka's logging of disconnects", LOG),
    ),
    (
        "log.queue",
        unsupported("librdkafka's log forwarding to a queue", LOG),
    ),
    (
        "log.thread.name",
        unsupported("librdkafka's thread names in logs", LOG),
    ),
    (
        "api.version.request.timeout.ms",
        unsupported(
            "librdkafka's timeout of ApiVersions",
            "ApiVersions is bounded by request.timeout.ms like every request",
        ),
    ),
    (
        "api.version.fallback.ms",
        unsupported(
            "librdkafka's fallback for brokers without ApiVersions",
            NO_FALLBACK,
        ),
    ),
    (
        "broker.version.fallback",
        unsupported(
            "librdkafka's fallback for brokers without ApiVersions",
            NO_FALLBACK,
        ),
    ),
    (
        "reconnect.backoff.jitter.ms",
        unsupported(
            "a deprecated librdkafka setting, unused there too",
            "use reconnect.backoff.ms and reconnect.backoff.max.ms",
        ),
    ),
    (
        "socket.blocking.max.ms",
        unsupported(
            "a deprecated librdkafka setting, unused there too",
            "remove it",
        ),
    ),
    (
        "topic.metadata.refresh.fast.cnt",
        unsupported(
            "a deprecated librdkafka setting, unused there too",
            "remove it",
        ),
    ),
    (
        "broker.address.ttl",
        unsupported(
            "librdkafka's cache of resolved broker addresses",
            "a broker's name is resolved again at each connection attempt",
        ),
    ),
    (
        "broker.address.family",
        unsupported(
            "librdkafka's choice of IPv4 or IPv6",
            "every address a name resolves to is tried, in the resolver's order",
        ),
    ),
    (
        "receive.message.max.bytes",
        unsupported(
            "librdkafka's bound on a response",
            "the bound here follows fetch.max.bytes and max.partition.fetch.bytes (at \
             least 16 MiB): set those",
        ),
    ),
    (
        "plugin.library.paths",
        unsupported(
            "librdkafka's plugins",
            "wrap the consumer in your own code instead",
        ),
    ),
    (
        "interceptors",
        unsupported(
            "librdkafka's interceptors",
            "wrap the consumer in your own code instead",
        ),
    ),
    (
        "ssl.curves.list",
        unsupported("librdkafka's TLS curves (OpenSSL)", RUSTLS),
    ),
    (
        "ssl.sigalgs.list",
        unsupported("librdkafka's TLS signature algorithms (OpenSSL)", RUSTLS),
    ),
    (
        "ssl.providers",
        unsupported("librdkafka's OpenSSL providers", RUSTLS),
    ),
    (
        "ssl.engine.location",
        unsupported("librdkafka's OpenSSL engine", RUSTLS),
    ),
    (
        "ssl.engine.id",
        unsupported("librdkafka's OpenSSL engine", RUSTLS),
    ),
    (
        "ssl.ca.certificate.stores",
        unsupported("librdkafka's Windows certificate stores", RUSTLS),
    ),
    (
        "ssl.crl.location",
        unsupported(
            "librdkafka's certificate revocation list",
            "revocation lists are not checked here",
        ),
    ),
    (
        "https.ca.location",
        unsupported("librdkafka's CAs for its OAuth/OIDC token endpoint", TOKENS),
    ),
    (
        "https.ca.pem",
        unsupported("librdkafka's CAs for its OAuth/OIDC token endpoint", TOKENS),
    ),
    // ---- settings of both clients with no equivalent ----
    (
        "connections.max.idle.ms",
        unsupported(
            "closing connections idle this long",
            "connections stay open until the consumer closes; brokers close idle ones \
             themselves and the consumer reconnects",
        ),
    ),
    (
        "metadata.recovery.rebootstrap.trigger.ms",
        unsupported(
            "when to re-bootstrap without metadata",
            "re-bootstrapping is not implemented: once metadata named the brokers, only \
             they are asked",
        ),
    ),
    (
        "ssl.cipher.suites",
        unsupported("the TLS cipher suites", RUSTLS),
    ),
    (
        "sasl.kerberos.",
        unsupported("a Kerberos setting", KERBEROS),
    ),
    // sasl.oauthbearer.config is accepted (security.rs); the rest is OIDC's.
    (
        "sasl.oauthbearer.",
        unsupported("a setting of OAuth/OIDC token retrieval", TOKENS),
    ),
    // ---- Java settings with no equivalent ----
    (
        "interceptor.classes",
        unsupported(
            "Java's ConsumerInterceptor classes",
            "Java classes cannot be loaded here: call your own code around poll and commit",
        ),
    ),
    (
        "metric.reporters",
        unsupported("Java's metrics reporter classes", METRICS),
    ),
    (
        "metrics.num.samples",
        unsupported("a setting of Java's metrics", METRICS),
    ),
    (
        "metrics.sample.window.ms",
        unsupported("a setting of Java's metrics", METRICS),
    ),
    (
        "metrics.recording.level",
        unsupported("a setting of Java's metrics", METRICS),
    ),
    (
        "auto.include.jmx.reporter",
        unsupported("Java's JMX metrics reporter", METRICS),
    ),
    (
        "socket.connection.setup.timeout.max.ms",
        unsupported(
            "Java's cap on its growing connection setup timeout",
            "every connection attempt here gets socket.connection.setup.timeout.ms, which \
             does not grow",
        ),
    ),
    (
        "security.providers",
        unsupported("Java's security provider classes", JAVA_CLASS),
    ),
    (
        "ssl.provider",
        unsupported("Java's JSSE security provider", RUSTLS),
    ),
    (
        "ssl.keymanager.algorithm",
        unsupported("Java's JSSE key manager", RUSTLS),
    ),
    (
        "ssl.trustmanager.algorithm",
        unsupported("Java's JSSE trust manager", RUSTLS),
    ),
    (
        "ssl.secure.random.implementation",
        unsupported("Java's random source for TLS", RUSTLS),
    ),
    (
        "ssl.engine.factory.class",
        unsupported("Java's SSLEngine factory class", RUSTLS),
    ),
    (
        "sasl.client.callback.handler.class",
        unsupported("Java's SASL callback handler class", TOKENS),
    ),
    (
        "sasl.login.",
        unsupported(
            "a setting of Java's SASL login (classes, timeouts, token refresh)",
            "credentials come from sasl.jaas.config or sasl.username and sasl.password; \
             OAUTHBEARER tokens from a TokenProvider set in code \
             (ConsumerConfigBuilder::oauthbearer_token_provider), asked at every \
             authentication",
        ),
    ),
    // ---- producer settings ----
    ("acks", unsupported("a producer setting", PRODUCER)),
    (
        "request.required.acks",
        unsupported("a producer setting", PRODUCER),
    ),
    ("linger.ms", unsupported("a producer setting", PRODUCER)),
    ("batch.size", unsupported("a producer setting", PRODUCER)),
    (
        "batch.num.messages",
        unsupported("a producer setting", PRODUCER),
    ),
    ("buffer.memory", unsupported("a producer setting", PRODUCER)),
    (
        "compression.type",
        unsupported(
            "a producer setting",
            "this library is a consumer, which reads every codec without being told: \
             remove it",
        ),
    ),
    (
        "compression.codec",
        unsupported(
            "a producer setting",
            "this library is a consumer, which reads every codec without being told: \
             remove it",
        ),
    ),
    (
        "enable.idempotence",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "transactional.id",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "transaction.timeout.ms",
        unsupported("a producer setting", PRODUCER),
    ),
    ("retries", unsupported("a producer setting", PRODUCER)),
    (
        "message.send.max.retries",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "delivery.timeout.ms",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "message.timeout.ms",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "max.request.size",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "message.max.bytes",
        unsupported("a producer setting", PRODUCER),
    ),
    ("max.block.ms", unsupported("a producer setting", PRODUCER)),
    (
        "max.in.flight.requests.per.connection",
        unsupported("a producer setting", PRODUCER),
    ),
    ("max.in.flight", unsupported("a producer setting", PRODUCER)),
    ("partitioner", unsupported("a producer setting", PRODUCER)),
    (
        "partitioner.class",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "queue.buffering.max.ms",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "queue.buffering.max.messages",
        unsupported("a producer setting", PRODUCER),
    ),
    (
        "queue.buffering.max.kbytes",
        unsupported("a producer setting", PRODUCER),
    ),
];

/// What `key` means here, if it is a name of [`OTHER_NAMES`]: an exact name first, then
/// the longest prefix row it falls under.
pub(super) fn lookup(key: &str) -> Option<Meaning> {
    if let Some(&(_, meaning)) = OTHER_NAMES.iter().find(|(name, _)| *name == key) {
        return Some(meaning);
    }
    OTHER_NAMES
        .iter()
        .filter(|(name, _)| name.ends_with('.') && key.starts_with(name))
        .max_by_key(|(name, _)| name.len())
        .map(|&(_, meaning)| meaning)
}

/// The accepted property name `key` is most likely a typo of: the one at the smallest
/// edit distance (case, `_` and `-` aside), if that distance is at most a quarter of
/// `key`'s length (at least 1).
pub(super) fn closest_known(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let key: Vec<char> = key
        .trim()
        .chars()
        .map(|c| match c {
            '_' | '-' => '.',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let limit = (key.len() / 4).max(1);
    let mut best: Option<(usize, &'static str)> = None;
    for &name in known {
        let candidate: Vec<char> = name.chars().collect();
        if candidate.len().abs_diff(key.len()) > limit {
            continue;
        }
        let d = edit_distance(&key, &candidate);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, name));
        }
    }
    best.map(|(_, name)| name)
}

/// The optimal string alignment distance: Levenshtein's insertions, deletions and
/// substitutions, plus transpositions of adjacent characters, each costing 1.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Three rows of the dynamic programme: i-2, i-1 and i.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn edit_distances() {
        for (a, b, want) in [
            ("", "", 0),
            ("abc", "", 3),
            ("", "abc", 3),
            ("kitten", "sitting", 3),
            ("fetch.min.bytes", "fetch.mni.bytes", 1),
            ("ab", "ba", 1),
            ("abc", "ca", 3),
            ("group.id", "group.id", 0),
        ] {
            assert_eq!(edit_distance(&chars(a), &chars(b)), want, "{a} / {b}");
            assert_eq!(edit_distance(&chars(b), &chars(a)), want, "{b} / {a}");
        }
    }

    #[test]
    fn prefixes_cover_the_names_under_them() {
        assert!(matches!(
            lookup("sasl.kerberos.service.name"),
            Some(Unsupported {
                instead: KERBEROS,
                ..
            })
        ));
        assert!(matches!(
            lookup("sasl.oauthbearer.token.endpoint.url"),
            Some(Unsupported {
                instead: TOKENS,
                ..
            })
        ));
        // An exact row wins over the prefix row.
        assert!(matches!(
            lookup("sasl.oauthbearer.method"),
            Some(Fixed {
                value: "default",
                ..
            })
        ));
        assert_eq!(lookup("sasl.kerberos"), None);
        assert_eq!(lookup("no.such.name"), None);
    }
}
