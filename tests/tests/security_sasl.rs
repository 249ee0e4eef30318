//! The library with SASL, against an independent server side: the SASL gateway in
//! `tests/security/sasl_gateway.py` (SCRAM from PyPI `scramp`) in front of Tansu
//! ([`SaslTansu`]), with stunnel (OpenSSL) in front for `SASL_SSL`.
//!
//! Each mechanism with good and bad credentials, a mechanism the server does not offer, a
//! broker without SASL (librdkafka 2.0.2's mock), KIP-368 re-authentication during a long
//! read, SASL_SSL with a group (the coordinator's connection authenticates too), and the
//! console consumer configured from a `.properties` file.

use std::time::{Duration, Instant};

use consumer_core::{OAuthBearerToken, SaslError, SaslMechanism, TokenProvider};
use consumer_net::{ConsumerConfig, ConsumerError, KafkaConsumer, KafkaError};
use integration_tests::{
    init_logging, library_consumer, mock_cluster, partitions, poll_for, poll_until, produce_python,
    run_console_consumer_with_env, sample_records, Compression, Expected, GatewayEvent,
    GatewayOptions, SaslTansu, TlsOptions,
};

const TOPIC: &str = "sasl";
const RECORDS: usize = 30;
const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
const READ: Duration = Duration::from_secs(30);
const FAIL: Duration = Duration::from_secs(25);

fn gateway() -> GatewayOptions {
    GatewayOptions::default()
        .user(USER, PASSWORD)
        .oauth_principal(USER)
        .oauth_token("opaque-token-1", USER)
}

fn seed(cluster: &SaslTansu, n: usize, tag: &str) -> Expected {
    let produced = produce_python(
        &cluster.plaintext_bootstrap(),
        TOPIC,
        &sample_records(n, 2, tag),
        Compression::None,
    )
    .unwrap_or_else(|e| panic!("producing: {e}"));
    Expected::of(&produced)
}

fn start(options: &GatewayOptions) -> (SaslTansu, Expected) {
    init_logging();
    let cluster = SaslTansu::start(options).unwrap_or_else(|e| panic!("starting SASL Tansu: {e}"));
    cluster
        .create_topic(TOPIC, 2)
        .unwrap_or_else(|e| panic!("creating {TOPIC}: {e}"));
    let expected = seed(&cluster, RECORDS, "sasl");
    (cluster, expected)
}

fn events(cluster: &SaslTansu) -> Vec<GatewayEvent> {
    cluster
        .gateway()
        .events()
        .unwrap_or_else(|e| panic!("reading the gateway's events: {e}"))
}

fn props<'a>(
    protocol: &'a str,
    mechanism: &'a str,
    password: &'a str,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("security.protocol", protocol),
        ("sasl.mechanism", mechanism),
        ("sasl.username", USER),
        ("sasl.password", password),
        ("auto.offset.reset", "earliest"),
    ]
}

fn read_all(consumer: &mut KafkaConsumer, expected: &Expected, what: &str) {
    consumer.assign(partitions(TOPIC, 2)).expect("assign");
    let mut got = Vec::new();
    poll_until(consumer, &mut got, READ, what, |g| {
        g.len() >= expected.len()
    });
    expected.assert_delivered(&got);
}

/// Polls until `poll` fails; returns the SASL error.
fn first_sasl_error(consumer: &mut KafkaConsumer, what: &str) -> SaslError {
    consumer.assign(partitions(TOPIC, 2)).expect("assign");
    let deadline = Instant::now() + FAIL;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(500)) {
            Ok(records) => assert!(records.is_empty(), "{what}: records arrived"),
            Err(KafkaError::Consumer(ConsumerError::Authentication(e))) => return e,
            Err(other) => panic!("{what}: expected an authentication error, got {other:?}"),
        }
    }
    panic!("{what}: poll reported nothing within {FAIL:?}");
}

/// Good credentials read everything and the gateway saw this mechanism succeed; a bad
/// password ends `poll` with the typed error, which does not contain the password.
fn check_mechanism(mechanism: &str, set: impl Fn(&str) -> Vec<(&'static str, String)>) {
    let (cluster, expected) = start(&gateway());
    let good: Vec<(&str, String)> = set(PASSWORD);
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut consumer = library_consumer(&cluster.bootstrap(), &good);
    read_all(&mut consumer, &expected, mechanism);
    let ev = events(&cluster);
    let ok = ev
        .iter()
        .filter(|e| e.is("auth_success", mechanism) && e.user.as_deref() == Some(USER))
        .count();
    // The bootstrap connection and the broker's own connection both authenticated.
    assert!(
        ok >= 2,
        "{mechanism}: {ok} successes:\n{}",
        cluster.gateway().logs()
    );
    assert!(!ev.iter().any(|e| e.event == "auth_failure"));
    drop(consumer);

    if mechanism == "OAUTHBEARER" {
        return;
    }
    let bad_password = "not-the-password";
    let bad: Vec<(&str, String)> = set(bad_password);
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut consumer = library_consumer(&cluster.bootstrap(), &bad);
    let err = first_sasl_error(&mut consumer, mechanism);
    assert!(
        matches!(err, SaslError::AuthenticationFailed { .. }),
        "{err:?}"
    );
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(bad_password), "{mechanism}: {text}");
    }
    // Reported again on the next attempt, after the backoff.
    let again = first_sasl_error(&mut consumer, mechanism);
    assert!(
        matches!(again, SaslError::AuthenticationFailed { .. }),
        "{again:?}"
    );
    assert!(
        events(&cluster)
            .iter()
            .any(|e| e.is("auth_failure", mechanism)),
        "the gateway logged no failure"
    );
}

fn simple(mechanism: &'static str) -> impl Fn(&str) -> Vec<(&'static str, String)> {
    move |password| {
        props("SASL_PLAINTEXT", mechanism, password)
            .into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect()
    }
}

#[test]
fn plain() {
    check_mechanism("PLAIN", simple("PLAIN"));
}

#[test]
fn scram_sha_256() {
    check_mechanism("SCRAM-SHA-256", simple("SCRAM-SHA-256"));
}

#[test]
fn scram_sha_512_with_a_jaas_line() {
    check_mechanism("SCRAM-SHA-512", |password| {
        vec![
            ("security.protocol", "SASL_PLAINTEXT".to_owned()),
            ("sasl.mechanism", "SCRAM-SHA-512".to_owned()),
            (
                "sasl.jaas.config",
                format!(
                    "org.apache.kafka.common.security.scram.ScramLoginModule required \
                     username=\"{USER}\" password=\"{password}\";"
                ),
            ),
            ("auto.offset.reset", "earliest".to_owned()),
        ]
    });
}

#[test]
fn oauthbearer_unsecured_jwt() {
    check_mechanism("OAUTHBEARER", |_| {
        vec![
            ("security.protocol", "SASL_PLAINTEXT".to_owned()),
            ("sasl.mechanism", "OAUTHBEARER".to_owned()),
            ("sasl.oauthbearer.config", format!("principal={USER}")),
            ("auto.offset.reset", "earliest".to_owned()),
        ]
    });
}

#[test]
fn oauthbearer_token_provider() {
    let (cluster, expected) = start(&gateway());
    let config = |token: &'static str| {
        ConsumerConfig::builder()
            .bootstrap_servers([cluster.bootstrap()])
            .auto_offset_reset(consumer_core::AutoOffsetReset::Earliest)
            .security_protocol(consumer_net::SecurityProtocol::SaslPlaintext)
            .oauthbearer_token_provider(TokenProvider::new(move || {
                Ok(OAuthBearerToken::new(token))
            }))
            .build()
            .expect("config")
    };
    let mut consumer = KafkaConsumer::new(config("opaque-token-1")).expect("consumer");
    read_all(&mut consumer, &expected, "OAUTHBEARER with a provider");
    drop(consumer);
    let mut consumer = KafkaConsumer::new(config("revoked-token")).expect("consumer");
    let err = first_sasl_error(&mut consumer, "OAUTHBEARER with a bad token");
    assert!(!err.to_string().contains("revoked-token"), "{err}");
    assert!(!format!("{err:?}").contains("revoked-token"), "{err:?}");
}

#[test]
fn a_mechanism_the_server_does_not_offer() {
    let (cluster, _) = start(&gateway().mechanisms(&["SCRAM-SHA-512"]));
    let mut consumer = library_consumer(
        &cluster.bootstrap(),
        &props("SASL_PLAINTEXT", "PLAIN", PASSWORD),
    );
    let err = first_sasl_error(&mut consumer, "unoffered mechanism");
    match &err {
        SaslError::UnsupportedMechanism {
            mechanism, enabled, ..
        } => {
            assert_eq!(*mechanism, SaslMechanism::Plain);
            assert_eq!(enabled, &vec!["SCRAM-SHA-512".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("PLAIN") && text.contains("SCRAM-SHA-512"),
        "{text}"
    );
}

#[test]
fn a_broker_without_sasl() {
    // librdkafka 2.0.2's mock broker has no SASL APIs at all.
    init_logging();
    let cluster = mock_cluster(1);
    cluster.create_topic(TOPIC, 2, 1).expect("topic");
    let mut consumer = library_consumer(
        &cluster.bootstrap(),
        &props("SASL_PLAINTEXT", "PLAIN", PASSWORD),
    );
    let err = first_sasl_error(&mut consumer, "broker without SASL");
    assert!(matches!(err, SaslError::NotSupported { .. }), "{err:?}");
    assert!(err.to_string().contains("security.protocol"), "{err}");
}

#[test]
fn reauthenticates_during_a_long_read() {
    let options = gateway().session_lifetime(Duration::from_secs(2));
    let (cluster, mut expected) = start(&options);
    let mut consumer = library_consumer(
        &cluster.bootstrap(),
        &props("SASL_PLAINTEXT", "SCRAM-SHA-256", PASSWORD),
    );
    consumer.assign(partitions(TOPIC, 2)).expect("assign");
    let mut got = Vec::new();
    poll_until(&mut consumer, &mut got, READ, "the first records", |g| {
        g.len() >= RECORDS
    });
    // Keep reading for several session lifetimes, with more records in the middle.
    got.extend(poll_for(&mut consumer, Duration::from_secs(4)));
    let more = produce_python(
        &cluster.plaintext_bootstrap(),
        TOPIC,
        &sample_records(RECORDS, 2, "later"),
        Compression::None,
    )
    .expect("produce more");
    expected.add(&more);
    poll_until(&mut consumer, &mut got, READ, "the later records", |g| {
        g.len() >= 2 * RECORDS
    });
    got.extend(poll_for(&mut consumer, Duration::from_secs(3)));
    expected.assert_delivered(&got);
    let ev = events(&cluster);
    let reauths = ev
        .iter()
        .filter(|e| e.event == "auth_success" && e.reauth)
        .count();
    assert!(
        reauths >= 3,
        "{reauths} re-authentications:\n{}",
        cluster.gateway().logs()
    );
    let expired: Vec<&GatewayEvent> = ev.iter().filter(|e| e.event.contains("expired")).collect();
    assert!(
        expired.is_empty(),
        "requests on expired sessions: {expired:?}"
    );
}

#[test]
fn sasl_ssl_group_member_commits() {
    init_logging();
    let cluster = SaslTansu::start_ssl(&gateway(), &TlsOptions::default())
        .unwrap_or_else(|e| panic!("starting SASL_SSL Tansu: {e}"));
    cluster.create_topic(TOPIC, 2).expect("topic");
    let expected = seed(&cluster, RECORDS, "ssl");
    let ca = cluster
        .certs()
        .expect("SASL_SSL has certificates")
        .ca_cert
        .to_string_lossy()
        .into_owned();
    let mut p = props("SASL_SSL", "SCRAM-SHA-512", PASSWORD);
    p.extend([
        ("ssl.ca.location", ca.as_str()),
        ("group.id", "sasl-ssl-group"),
        ("enable.auto.commit", "false"),
    ]);
    let mut consumer = library_consumer(&cluster.bootstrap(), &p);
    consumer.subscribe([TOPIC]).expect("subscribe");
    let mut got = Vec::new();
    poll_until(
        &mut consumer,
        &mut got,
        Duration::from_secs(60),
        "group records",
        |g| g.len() >= RECORDS,
    );
    expected.assert_delivered(&got);
    consumer.commit_sync().expect("commit over SASL_SSL");
    let tps = partitions(TOPIC, 2);
    let committed = consumer
        .committed(&tps, Duration::from_secs(20))
        .expect("committed");
    for tp in &tps {
        let offset = committed.get(tp).and_then(|o| o.as_ref()).map(|o| o.offset);
        assert_eq!(offset, Some(expected.end_offset(tp.partition)), "{tp}");
    }
    let logs = cluster.stunnel().map(|s| s.logs()).unwrap_or_default();
    assert!(logs.contains("TLS accepted"), "no TLS:\n{logs}");
}

#[test]
fn the_console_consumer_reads_with_a_properties_file() {
    let (cluster, expected) = start(&gateway());
    let dir = std::env::temp_dir().join(format!("sasl-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("client.properties");
    std::fs::write(
        &file,
        format!(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \\\n  \
             required username=\"{USER}\" \\\n  password=\"{PASSWORD}\";\n"
        ),
    )
    .expect("write the properties file");
    // With every log line on: the password must not appear in any of them.
    let trace = [("CONSUME_LOG", "trace")];
    let out = run_console_consumer_with_env(
        &[
            "--bootstrap-server",
            &cluster.bootstrap(),
            "--topic",
            TOPIC,
            "--from-beginning",
            "--max-messages",
            &RECORDS.to_string(),
            "--timeout-ms",
            "20000",
            "--format",
            "json",
            "--consumer.config",
            &file.to_string_lossy(),
        ],
        &trace,
    )
    .unwrap_or_else(|e| panic!("running the console consumer: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.stderr.contains("authenticated with SCRAM-SHA-256"),
        "trace logging shows nothing of the authentication:\n{}",
        out.stderr
    );
    assert!(out.success, "console consumer failed:\n{}", out.stderr);
    let lines = out.stdout.lines().filter(|l| l.starts_with('{')).count();
    assert_eq!(lines, expected.len(), "stderr:\n{}", out.stderr);
    assert!(!out.stderr.contains(PASSWORD), "the password was printed");

    // A wrong password: the console consumer says why and exits non-zero.
    let out = run_console_consumer_with_env(
        &[
            "--bootstrap-server",
            &cluster.bootstrap(),
            "--topic",
            TOPIC,
            "--from-beginning",
            "--timeout-ms",
            "15000",
            "--consumer-property",
            "security.protocol=SASL_PLAINTEXT",
            "--consumer-property",
            "sasl.mechanism=PLAIN",
            "--consumer-property",
            &format!("sasl.username={USER}"),
            "--consumer-property",
            "sasl.password=wrong-password",
        ],
        &trace,
    )
    .unwrap_or_else(|e| panic!("running the console consumer: {e}"));
    assert!(!out.success, "a bad password succeeded:\n{}", out.stderr);
    assert!(
        out.stderr.contains("authentication") || out.stderr.contains("Authentication"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-password"), "{}", out.stderr);
}
