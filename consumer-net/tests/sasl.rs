//! SASL through the blocking `KafkaConsumer`, over the simulated cluster: a failed
//! authentication ends `poll` and every other blocking call with a typed error at once
//! (as the Java consumer throws `AuthenticationException`), not after the call's timeout;
//! credentials given as properties (JAAS lines, librdkafka names) work; an unsecured JWT
//! is turned into tokens from the wall clock by the facade.

use std::time::Duration;

use consumer_core::{SaslError, SaslMechanism};
use consumer_net::testing::{tp, SaslServer, SharedCluster, SimTransport, TestCluster};
use consumer_net::{ConsumerConfig, ConsumerError, KafkaConsumer, KafkaError, OffsetAndMetadata};

const PASSWORD: &str = "c0rrect-h0rse";

fn cluster(mechanisms: &[SaslMechanism]) -> SharedCluster {
    let server = SaslServer::new(mechanisms.iter().copied())
        .user("alice", PASSWORD)
        .unsecured_jwts();
    let mut cluster = TestCluster::builder()
        .brokers(2)
        .topic("t", 2)
        .sasl(server)
        .build();
    cluster.fill(&tp("t", 0), 3, 3);
    cluster.fill(&tp("t", 1), 3, 3);
    cluster.shared()
}

fn consumer(cluster: &SharedCluster, props: &[(&str, &str)]) -> KafkaConsumer<SimTransport> {
    let mut builder = cluster.borrow().config();
    builder = builder
        .property("auto.offset.reset", "earliest")
        .unwrap()
        .property("group.id", "g")
        .unwrap();
    for (k, v) in props {
        builder = builder.property(k, v).unwrap();
    }
    let config: ConsumerConfig = builder.build().unwrap();
    KafkaConsumer::with_transport(config, SimTransport::new(cluster)).unwrap()
}

fn authentication_error(e: KafkaError) -> SaslError {
    match e {
        KafkaError::Consumer(ConsumerError::Authentication(e)) => e,
        other => panic!("not an authentication error: {other:?}"),
    }
}

#[test]
fn jaas_and_librdkafka_credentials_consume() {
    let scram = format!(
        r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="{PASSWORD}";"#
    );
    let setups: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.jaas.config", &scram),
        ],
        vec![
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanisms", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", PASSWORD),
        ],
    ];
    for props in setups {
        let cluster = cluster(&[SaslMechanism::Plain, SaslMechanism::ScramSha512]);
        let mut consumer = consumer(&cluster, &props);
        consumer.assign([tp("t", 0), tp("t", 1)]).unwrap();
        let mut got = 0;
        while got < 6 {
            got += consumer.poll(Duration::from_secs(5)).unwrap().len();
        }
        let c = cluster.borrow();
        assert!(c.sasl_violations.is_empty(), "{:?}", c.sasl_violations);
        assert!(c
            .authentications
            .iter()
            .all(|a| a.ok && a.principal == "alice"));
    }
}

#[test]
fn an_unsecured_jwt_becomes_tokens_made_by_the_facade() {
    let cluster = cluster(&[SaslMechanism::OAuthBearer]);
    let mut consumer = consumer(
        &cluster,
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "OAUTHBEARER"),
            (
                "sasl.oauthbearer.config",
                "principal=svc-reader lifeSeconds=600",
            ),
        ],
    );
    consumer.assign([tp("t", 0)]).unwrap();
    let records = consumer.poll(Duration::from_secs(5)).unwrap();
    assert_eq!(records.len(), 3);
    let c = cluster.borrow();
    assert!(!c.authentications.is_empty());
    assert!(c
        .authentications
        .iter()
        .all(|a| a.ok && a.principal == "svc-reader"));
}

#[test]
fn poll_returns_the_failure_at_once_without_the_password() {
    let cluster = cluster(&[SaslMechanism::Plain]);
    let wrong = "guessed-passw0rd";
    let mut consumer = consumer(
        &cluster,
        &[
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", wrong),
        ],
    );
    consumer.assign([tp("t", 0)]).unwrap();
    let start = cluster.borrow().elapsed();
    let err = consumer.poll(Duration::from_secs(60)).unwrap_err();
    let waited = cluster.borrow().elapsed() - start;
    assert!(waited < Duration::from_secs(1), "waited {waited:?}");
    let shown = format!("{err} | {err:?}");
    assert!(
        !shown.contains(wrong) && !shown.contains(PASSWORD),
        "{shown}"
    );
    let e = authentication_error(err);
    assert!(
        matches!(
            e,
            SaslError::AuthenticationFailed {
                mechanism: SaslMechanism::Plain,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!format!("{consumer:?}").contains(wrong));
    // The next poll reports the next attempt's failure (after the backoff), again.
    let again = consumer.poll(Duration::from_secs(60)).unwrap_err();
    authentication_error(again);
    assert!(cluster.borrow().elapsed() - start < Duration::from_secs(3));
    assert!(consumer.poll(Duration::ZERO).is_ok_and(|r| r.is_empty()));
}

#[test]
fn every_blocking_call_returns_the_failure_instead_of_timing_out() {
    let cluster = cluster(&[SaslMechanism::ScramSha256]);
    let mut consumer = consumer(
        &cluster,
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "alice"),
            ("sasl.password", "wrong"),
            ("default.api.timeout.ms", "60000"),
        ],
    );
    let p = tp("t", 0);
    consumer.assign([p.clone()]).unwrap();
    let long = Duration::from_secs(60);
    let start = cluster.borrow().elapsed();

    let err = consumer.partitions_for("t", long).unwrap_err();
    authentication_error(err);
    let err = consumer.position(&p).unwrap_err();
    authentication_error(err);
    let err = consumer
        .beginning_offsets(std::slice::from_ref(&p), long)
        .unwrap_err();
    authentication_error(err);
    let err = consumer
        .committed(std::slice::from_ref(&p), long)
        .unwrap_err();
    authentication_error(err);
    let offsets = vec![(
        p.clone(),
        OffsetAndMetadata {
            offset: 1,
            leader_epoch: None,
            metadata: String::new(),
        },
    )];
    let err = consumer.commit_offsets_sync(offsets).unwrap_err();
    authentication_error(err);

    // Each ended with the next failed attempt, seconds apart at most: none waited out
    // its 60 s.
    let waited = cluster.borrow().elapsed() - start;
    assert!(waited < Duration::from_secs(10), "waited {waited:?}");
}

#[test]
fn a_mechanism_the_cluster_does_not_enable_names_both() {
    let cluster = cluster(&[SaslMechanism::ScramSha256]);
    let mut consumer = consumer(
        &cluster,
        &[
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "alice"),
            ("sasl.password", PASSWORD),
        ],
    );
    consumer.subscribe(["t"]).unwrap();
    let err = consumer.poll(Duration::from_secs(30)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node -1 does not enable SASL mechanism PLAIN (sasl.mechanism); it enables: SCRAM-SHA-256"
    );
}
