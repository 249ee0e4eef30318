//! SASL: every connection (bootstrap, leaders, the group coordinator) authenticates after
//! ApiVersions and before any other request, with each mechanism; what goes wrong (bad
//! credentials, a mechanism the broker does not enable, a broker or listener without
//! SASL) comes out of `poll_records` as a typed error, once per attempt, without a secret
//! in it; a connection cut during the exchange authenticates again on the next one.
//! Session renewal (KIP-368) is `sasl_reauthentication.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::sasl::MechanismError;
use consumer_core::testing::{tp, Action, Profile, SaslServer, TestCluster};
use consumer_core::{
    AutoOffsetReset, ConsumerConfigBuilder, ConsumerError, ErrorCode, OAuthBearerToken, SaslError,
    SaslMechanism, SecurityProtocol, TokenProvider,
};

const PASSWORD: &str = "alice-s3cret";

fn cluster(server: SaslServer) -> TestCluster {
    let mut cluster = TestCluster::builder()
        .brokers(3)
        .topic("t", 3)
        .sasl(server)
        .build();
    for p in 0..3 {
        cluster.fill(&tp("t", p), 4, 2);
    }
    cluster
}

fn sasl_config(
    cluster: &TestCluster,
    mechanism: SaslMechanism,
    password: &str,
) -> ConsumerConfigBuilder {
    cluster
        .config()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl_credentials(mechanism, "alice", password)
}

/// The APIs of each connection of the consumer, in the order the brokers got them.
fn per_connection(cluster: &TestCluster) -> BTreeMap<i32, Vec<ApiKey>> {
    let mut out: BTreeMap<i32, Vec<ApiKey>> = BTreeMap::new();
    for r in &cluster.requests {
        out.entry(r.node).or_default().push(r.api);
    }
    out
}

/// A group member reading all of "t" (connections: bootstrap, three leaders, coordinator).
fn consume_all(mechanism: SaslMechanism, config: ConsumerConfigBuilder, cluster: &mut TestCluster) {
    let mut consumer = cluster.consumer(config.group_id("g"));
    consumer.subscribe(["t".to_owned()]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 12, 500);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    assert!(
        cluster.sasl_violations.is_empty(),
        "{:?}",
        cluster.sasl_violations
    );

    let connections = per_connection(cluster);
    assert!(connections.len() >= 5, "{connections:?}");
    for (node, apis) in &connections {
        assert_eq!(
            apis[..3],
            [
                ApiKey::ApiVersions,
                ApiKey::SaslHandshake,
                ApiKey::SaslAuthenticate
            ],
            "node {node}: {apis:?}"
        );
    }
    let coordinator = connections.keys().any(|n| *n > 1_000_000);
    assert!(
        coordinator,
        "the coordinator's connection authenticated too"
    );
    assert_eq!(cluster.authentications.len(), connections.len());
    assert!(cluster
        .authentications
        .iter()
        .all(|a| a.ok && a.mechanism == mechanism && !a.renewal));
}

#[test]
fn plain_authenticates_every_connection_before_anything_else() {
    let mut cluster = cluster(SaslServer::new([SaslMechanism::Plain]).user("alice", PASSWORD));
    let config = sasl_config(&cluster, SaslMechanism::Plain, PASSWORD);
    consume_all(SaslMechanism::Plain, config, &mut cluster);
    assert!(cluster
        .authentications
        .iter()
        .all(|a| a.principal == "alice"));
}

#[test]
fn scram_sha_256_and_sha_512_authenticate_every_connection() {
    for mechanism in [SaslMechanism::ScramSha256, SaslMechanism::ScramSha512] {
        let server = SaslServer::new([SaslMechanism::ScramSha256, SaslMechanism::ScramSha512])
            .user("alice", PASSWORD);
        let mut cluster = cluster(server);
        let config = sasl_config(&cluster, mechanism, PASSWORD);
        consume_all(mechanism, config, &mut cluster);
        // Two rounds: client-first, then client-final.
        let rounds = cluster.count(ApiKey::SaslAuthenticate);
        assert_eq!(rounds, 2 * cluster.authentications.len(), "{mechanism}");
    }
}

#[test]
fn oauthbearer_sends_the_providers_token() {
    let server = SaslServer::new([SaslMechanism::OAuthBearer]).token("good.token");
    let mut cluster = cluster(server);
    let provider = TokenProvider::new(|| Ok(OAuthBearerToken::new("good.token")));
    let config = cluster
        .config()
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .security_protocol(SecurityProtocol::SaslSsl)
        .oauthbearer_token_provider(provider);
    consume_all(SaslMechanism::OAuthBearer, config, &mut cluster);
}

fn auth_errors(cluster: &TestCluster) -> Vec<SaslError> {
    cluster
        .errors
        .iter()
        .map(|e| match e {
            ConsumerError::Authentication(e) => e.clone(),
            other => panic!("not an authentication error: {other}"),
        })
        .collect()
}

#[test]
fn a_bad_password_is_a_typed_error_without_the_password_and_nothing_is_consumed() {
    for mechanism in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        let server = SaslServer::new([mechanism]).user("alice", PASSWORD);
        let mut cluster = cluster(server);
        let wrong = "wr0ng-passw0rd";
        let mut consumer = cluster.consumer(sasl_config(&cluster, mechanism, wrong));
        consumer.assign([tp("t", 0)]).unwrap();
        cluster.run_for(&mut consumer, Duration::from_secs(10));

        assert!(cluster.received.is_empty());
        let errors = auth_errors(&cluster);
        let Some(SaslError::AuthenticationFailed {
            node,
            mechanism: m,
            message,
        }) = errors.first()
        else {
            panic!("{errors:?}");
        };
        assert_eq!((*node, *m), (-1, mechanism));
        assert!(message.contains("Authentication failed"), "{message}");
        for e in &cluster.errors {
            let shown = format!("{e} {e:?}");
            assert!(
                !shown.contains(wrong) && !shown.contains(PASSWORD),
                "{shown}"
            );
        }
        assert!(format!("{consumer:?}").contains("Secret([hidden])"));
        assert!(!format!("{consumer:?}").contains(wrong));
        // Tried again after a backoff, each failure reported: loud, not a silent loop,
        // and not a busy one either (the backoff grows to reconnect.backoff.max.ms, 1 s).
        let attempts = cluster.authentications.iter().filter(|a| !a.ok).count();
        assert!(
            (5..=20).contains(&attempts),
            "{mechanism}: {attempts} attempts in 10 s"
        );
        assert!(errors.len() >= 5, "{errors:?}");
        assert!(
            cluster.sasl_violations.is_empty(),
            "{:?}",
            cluster.sasl_violations
        );
        assert_eq!(cluster.count(ApiKey::Metadata), 0);
    }
}

#[test]
fn the_right_password_after_failures_gets_through() {
    let server = SaslServer::new([SaslMechanism::Plain]).user("alice", PASSWORD);
    let mut cluster = cluster(server);
    let mut consumer = cluster.consumer(sasl_config(&cluster, SaslMechanism::Plain, "nope"));
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.run_for(&mut consumer, Duration::from_secs(2));
    assert!(!cluster.errors.is_empty());
    // The broker's credentials change to what the client sends.
    for b in cluster.brokers.values_mut() {
        if let Some(s) = b.sasl.as_mut() {
            s.users.insert("alice".into(), "nope".into());
        }
    }
    let errors_before = cluster.errors.len();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 4, 200);
    assert_eq!(cluster.offsets_of(&tp("t", 0)), vec![0, 1, 2, 3]);
    assert!(cluster.errors.len() <= errors_before + 1);
}

#[test]
fn a_mechanism_the_broker_does_not_enable_names_both() {
    let server =
        SaslServer::new([SaslMechanism::Plain, SaslMechanism::ScramSha256]).user("alice", PASSWORD);
    let mut cluster = cluster(server);
    let mut consumer =
        cluster.consumer(sasl_config(&cluster, SaslMechanism::ScramSha512, PASSWORD));
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);
    let errors = auth_errors(&cluster);
    assert_eq!(
        errors[0],
        SaslError::UnsupportedMechanism {
            node: -1,
            mechanism: SaslMechanism::ScramSha512,
            enabled: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
        }
    );
    let text = errors[0].to_string();
    assert!(
        text.contains("SCRAM-SHA-512") && text.contains("PLAIN, SCRAM-SHA-256"),
        "{text}"
    );
    assert!(cluster.received.is_empty());
}

#[test]
fn a_broker_without_sasl_apis_is_reported() {
    for profile in [
        Profile::mock_cluster(),
        Profile::modern().with(ApiKey::SaslHandshake, 0, 0),
        Profile::modern().without(ApiKey::SaslAuthenticate),
    ] {
        let mut cluster = TestCluster::builder()
            .brokers(1)
            .topic("t", 1)
            .profile(profile)
            .sasl(SaslServer::new([SaslMechanism::Plain]).user("alice", PASSWORD))
            .build();
        let mut consumer = cluster.consumer(sasl_config(&cluster, SaslMechanism::Plain, PASSWORD));
        consumer.assign([tp("t", 0)]).unwrap();
        cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);
        let errors = auth_errors(&cluster);
        assert!(
            matches!(errors[0], SaslError::NotSupported { node: -1, .. }),
            "{errors:?}"
        );
        let text = errors[0].to_string();
        assert!(
            text.contains("Kafka 1.0") && text.contains("security.protocol"),
            "{text}"
        );
        assert_eq!(cluster.count(ApiKey::SaslHandshake), 0);
    }
}

#[test]
fn sasl_spoken_to_a_plaintext_listener_is_reported() {
    let mut cluster = TestCluster::builder().brokers(1).topic("t", 1).build();
    let mut consumer = cluster.consumer(sasl_config(&cluster, SaslMechanism::Plain, PASSWORD));
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);
    let errors = auth_errors(&cluster);
    assert!(
        matches!(
            errors[0],
            SaslError::Broker {
                code: ErrorCode::IllegalSaslState,
                api: ApiKey::SaslHandshake,
                ..
            }
        ),
        "{errors:?}"
    );
    assert!(errors[0].to_string().contains("security.protocol"));
}

#[test]
fn a_refused_token_reports_the_servers_status() {
    let server = SaslServer::new([SaslMechanism::OAuthBearer]).token("good");
    let mut cluster = cluster(server);
    let provider = TokenProvider::new(|| Ok(OAuthBearerToken::new("stale.t0ken")));
    let config = cluster
        .config()
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .oauthbearer_token_provider(provider);
    let mut consumer = cluster.consumer(config);
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);
    let errors = auth_errors(&cluster);
    let SaslError::AuthenticationFailed { message, .. } = &errors[0] else {
        panic!("{errors:?}");
    };
    assert!(message.contains("invalid_token"), "{message}");
    assert!(!format!("{:?}", cluster.errors).contains("stale.t0ken"));
}

#[test]
fn a_failing_token_provider_is_reported() {
    let server = SaslServer::new([SaslMechanism::OAuthBearer]).token("good");
    let mut cluster = cluster(server);
    let provider = TokenProvider::new(|| Err("the identity provider is down".to_owned()));
    let config = cluster
        .config()
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .oauthbearer_token_provider(provider);
    let mut consumer = cluster.consumer(config);
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| !c.errors.is_empty(), 100);
    let errors = auth_errors(&cluster);
    assert!(
        matches!(
            &errors[0],
            SaslError::Mechanism {
                source: MechanismError::TokenProvider(m),
                ..
            } if m.contains("identity provider")
        ),
        "{errors:?}"
    );
    // Nothing was sent with no token to send.
    assert_eq!(cluster.count(ApiKey::SaslHandshake), 0);
}

#[test]
fn a_connection_cut_mid_exchange_authenticates_again_on_the_next() {
    for api in [ApiKey::SaslHandshake, ApiKey::SaslAuthenticate] {
        let server = SaslServer::new([SaslMechanism::ScramSha256]).user("alice", PASSWORD);
        let mut cluster = cluster(server);
        cluster.on_next(api, Action::Cut);
        let mut consumer =
            cluster.consumer(sasl_config(&cluster, SaslMechanism::ScramSha256, PASSWORD));
        consumer.assign([tp("t", 0), tp("t", 1)]).unwrap();
        cluster.drive(&mut consumer, |_, c| c.received.len() == 8, 300);
        assert!(cluster.errors.is_empty(), "{api}: {:?}", cluster.errors);
        assert!(
            cluster.sasl_violations.is_empty(),
            "{:?}",
            cluster.sasl_violations
        );
        // The cut connection (the bootstrap) began again with ApiVersions and SASL.
        let bootstrap = &per_connection(&cluster)[&-1];
        let starts = bootstrap
            .windows(2)
            .filter(|w| w == &[ApiKey::ApiVersions, ApiKey::SaslHandshake])
            .count();
        assert_eq!(starts, 2, "{api}: {bootstrap:?}");
        let after_cut = bootstrap
            .iter()
            .rposition(|a| *a == ApiKey::ApiVersions)
            .unwrap();
        assert_eq!(
            bootstrap[after_cut..after_cut + 4],
            [
                ApiKey::ApiVersions,
                ApiKey::SaslHandshake,
                ApiKey::SaslAuthenticate,
                ApiKey::SaslAuthenticate
            ],
            "{api}: {bootstrap:?}"
        );
        assert_eq!(cluster.disconnects.first().map(|d| d.0), Some(-1));
    }
}

#[test]
fn a_held_exchange_answer_then_a_cut_leaves_no_request_behind() {
    // The kit's per-step check (recorded = ended + pending, pending = what the network
    // holds) runs through the whole exchange and the cut.
    let server = SaslServer::new([SaslMechanism::Plain]).user("alice", PASSWORD);
    let mut cluster = cluster(server);
    cluster.hold_next(ApiKey::SaslAuthenticate);
    let mut consumer = cluster.consumer(sasl_config(&cluster, SaslMechanism::Plain, PASSWORD));
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 100);
    assert_eq!(consumer.request_counts().pending, 1);
    cluster.cut_node(&mut consumer, -1);
    assert_eq!(consumer.request_counts().pending, 0);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 4, 200);
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn an_illegal_sasl_state_answer_is_an_error_and_the_node_is_tried_again() {
    let server = SaslServer::new([SaslMechanism::Plain]).user("alice", PASSWORD);
    let mut cluster = cluster(server);
    cluster.inject_error(ApiKey::SaslAuthenticate, ErrorCode::IllegalSaslState);
    let mut consumer = cluster.consumer(sasl_config(&cluster, SaslMechanism::Plain, PASSWORD));
    consumer.assign([tp("t", 0)]).unwrap();
    cluster.drive(&mut consumer, |_, c| c.received.len() == 4, 300);
    let errors = auth_errors(&cluster);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(matches!(
        errors[0],
        SaslError::Broker {
            code: ErrorCode::IllegalSaslState,
            api: ApiKey::SaslAuthenticate,
            ..
        }
    ));
}
