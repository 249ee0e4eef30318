//! Session renewal (KIP-368): a broker that grants SASL sessions of a limited lifetime
//! gets a new authentication on the same connection before the session ends. Meanwhile
//! nothing new is sent on the connection, answers to what was sent come back first, and
//! requests that had to go (a SyncGroup following a JoinGroup answer) wait and go after.
//! Over a long read no request uses an ended session and no record is lost: the simulated
//! brokers close a connection that does (as Kafka does) and record it, and the kit checks
//! the life of every request at every step.

use std::collections::BTreeMap;
use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Action, SaslServer, TestCluster};
use consumer_core::{
    AutoOffsetReset, Consumer, ConsumerError, SaslError, SaslMechanism, SecurityProtocol,
};

const LIFETIME: Duration = Duration::from_secs(1);

fn cluster(mechanism: SaslMechanism, partitions: usize) -> TestCluster {
    let server = SaslServer::new([mechanism])
        .user("alice", "pw-alice")
        .session_lifetime(LIFETIME);
    TestCluster::builder()
        .brokers(3)
        .topic("t", partitions)
        .sasl(server)
        .build()
}

fn member(cluster: &TestCluster, mechanism: SaslMechanism) -> Consumer {
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id("g")
            .heartbeat_interval(Duration::from_millis(500))
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_credentials(mechanism, "alice", "pw-alice"),
    );
    consumer.subscribe(["t".to_owned()]).unwrap();
    consumer
}

/// Writes one record to each partition every 100 ms for `secs` seconds while the consumer
/// reads, then lets it catch up; returns the records written per partition.
fn long_read(
    cluster: &mut TestCluster,
    consumer: &mut Consumer,
    partitions: i32,
    secs: u64,
) -> i64 {
    let rounds = secs * 10;
    for _ in 0..rounds {
        for p in 0..partitions {
            cluster.fill(&tp("t", p), 1, 1);
        }
        cluster.run_for(consumer, Duration::from_millis(100));
    }
    let total = rounds as usize * partitions as usize;
    cluster.drive(consumer, |_, c| c.received.len() >= total, 1_000);
    rounds as i64
}

fn check_renewals(cluster: &TestCluster, secs: u64) {
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    assert!(
        cluster.sasl_violations.is_empty(),
        "requests on an ended session: {:?}",
        cluster.sasl_violations
    );
    assert!(cluster.authentications.iter().all(|a| a.ok));
    // Each renewal waited for the answers to what was sent on the old session.
    let overlapping: Vec<_> = cluster
        .authentications
        .iter()
        .filter(|a| a.in_flight_at_handshake > 0)
        .collect();
    assert!(overlapping.is_empty(), "{overlapping:?}");
    // Every connection that lived through the read renewed its session about once per
    // lifetime (90% of it, plus the wait for a fetch of up to fetch.max.wait.ms).
    let mut per_connection: BTreeMap<i32, usize> = BTreeMap::new();
    for a in cluster.authentications.iter().filter(|a| a.renewal) {
        *per_connection.entry(a.node).or_default() += 1;
    }
    let leaders: Vec<usize> = (1..=3)
        .filter_map(|n| per_connection.get(&n).copied())
        .collect();
    assert_eq!(leaders.len(), 3, "{per_connection:?}");
    for n in leaders {
        assert!(n as u64 >= secs * 2 / 3, "{per_connection:?}");
    }
    let coordinator = per_connection
        .iter()
        .find(|(node, _)| **node > 1_000_000)
        .map(|(_, n)| *n)
        .unwrap_or(0);
    assert!(coordinator as u64 >= secs / 2, "{per_connection:?}");
}

#[test]
fn a_long_read_renews_every_session_and_loses_nothing() {
    let secs = 10;
    let mut cluster = cluster(SaslMechanism::Plain, 3);
    let mut consumer = member(&cluster, SaslMechanism::Plain);
    let written = long_read(&mut cluster, &mut consumer, 3, secs);
    for p in 0..3 {
        assert_eq!(
            cluster.offsets_of(&tp("t", p)),
            (0..written).collect::<Vec<_>>(),
            "partition {p}: every record once, in order"
        );
    }
    check_renewals(&cluster, secs);
    // The renewals did not disturb the group: one generation all along.
    assert_eq!(cluster.groups.group("g").map(|g| g.generation), Some(1));
    // Heartbeats (every 500 ms) kept going through the renewals of the coordinator's
    // session.
    let heartbeats = cluster.count(ApiKey::Heartbeat) as u64;
    assert!(heartbeats >= secs * 3 / 2, "{heartbeats} heartbeats");
}

#[test]
fn scram_sessions_are_renewed_too() {
    let secs = 4;
    let mut cluster = cluster(SaslMechanism::ScramSha512, 3);
    let mut consumer = member(&cluster, SaslMechanism::ScramSha512);
    let written = long_read(&mut cluster, &mut consumer, 3, secs);
    for p in 0..3 {
        assert_eq!(
            cluster.offsets_of(&tp("t", p)),
            (0..written).collect::<Vec<_>>()
        );
    }
    check_renewals(&cluster, secs);
}

#[test]
fn a_sync_group_due_during_a_renewal_waits_for_it() {
    let mut cluster = cluster(SaslMechanism::Plain, 2);
    // The group waits 3 s for members before answering the JoinGroups: the coordinator
    // sessions come due meanwhile, so the follower's SyncGroup, sent as the JoinGroup
    // answer comes in, must wait for the renewal, not be lost to it (which would restart
    // the rebalance).
    cluster.groups.rebalance_delay = Duration::from_secs(3);
    let config = || {
        cluster
            .config()
            .group_id("g")
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_credentials(SaslMechanism::Plain, "alice", "pw-alice")
    };
    let (c1, c2) = (config(), config());
    let mut a = cluster.member("a", c1);
    let mut b = cluster.member("b", c2);
    a.subscribe(["t".to_owned()]).unwrap();
    b.subscribe(["t".to_owned()]).unwrap();
    cluster.settle(&mut [&mut a, &mut b], "g", 1_000);

    assert!(
        cluster.sasl_violations.is_empty(),
        "{:?}",
        cluster.sasl_violations
    );
    assert!(
        a.errors.is_empty() && b.errors.is_empty(),
        "{:?} {:?}",
        a.errors,
        b.errors
    );
    // One generation: each member's first JoinGroup only learns its member id (KIP-394).
    assert_eq!(cluster.groups.group("g").map(|g| g.generation), Some(1));
    assert_eq!(cluster.count(ApiKey::JoinGroup), 4);
    for client in [a.client, b.client] {
        let coordinator: Vec<ApiKey> = cluster
            .requests
            .iter()
            .filter(|r| r.client == client && r.node > 1_000_000)
            .map(|r| r.api)
            .collect();
        let join = coordinator
            .iter()
            .rposition(|a| *a == ApiKey::JoinGroup)
            .unwrap();
        assert_eq!(
            coordinator[join..join + 4],
            [
                ApiKey::JoinGroup,
                ApiKey::SaslHandshake,
                ApiKey::SaslAuthenticate,
                ApiKey::SyncGroup
            ],
            "client {client}: {coordinator:?}"
        );
    }
}

#[test]
fn a_connection_lost_during_a_renewal_reconnects_and_authenticates_again() {
    let mut cluster = cluster(SaslMechanism::Plain, 3);
    let mut consumer = member(&cluster, SaslMechanism::Plain);
    let written = long_read(&mut cluster, &mut consumer, 3, 1);
    // The next renewal's answer never comes: the connection is cut while it is held.
    cluster.hold_next(ApiKey::SaslAuthenticate);
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 500);
    let held = cluster
        .requests_of(ApiKey::SaslAuthenticate)
        .last()
        .cloned()
        .unwrap();
    cluster.cut_node(&mut consumer, held.node);
    let more = long_read(&mut cluster, &mut consumer, 3, 3);
    for p in 0..3 {
        assert_eq!(
            cluster.offsets_of(&tp("t", p)),
            (0..written + more).collect::<Vec<_>>()
        );
    }
    assert!(
        cluster.sasl_violations.is_empty(),
        "{:?}",
        cluster.sasl_violations
    );
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
    // The node's next connection started over: ApiVersions, then SASL.
    let after: Vec<ApiKey> = cluster
        .requests
        .iter()
        .filter(|r| {
            r.node == held.node && r.at >= held.at && r.correlation_id > held.correlation_id
        })
        .map(|r| r.api)
        .take(3)
        .collect();
    assert_eq!(
        after,
        [
            ApiKey::ApiVersions,
            ApiKey::SaslHandshake,
            ApiKey::SaslAuthenticate
        ]
    );
}

#[test]
fn a_refused_renewal_is_reported_and_retried() {
    let mut cluster = cluster(SaslMechanism::Plain, 3);
    let mut consumer = member(&cluster, SaslMechanism::Plain);
    let written = long_read(&mut cluster, &mut consumer, 3, 1);
    // The password is changed on the brokers, then back: renewals fail meanwhile.
    let set_password = |cluster: &mut TestCluster, pw: &str| {
        for b in cluster.brokers.values_mut() {
            if let Some(s) = b.sasl.as_mut() {
                s.users.insert("alice".into(), pw.into());
            }
        }
    };
    set_password(&mut cluster, "rotated");
    cluster.run_for(&mut consumer, Duration::from_secs(3));
    let errors: Vec<&SaslError> = cluster
        .errors
        .iter()
        .map(|e| match e {
            ConsumerError::Authentication(e) => e,
            other => panic!("{other}"),
        })
        .collect();
    assert!(!errors.is_empty());
    assert!(errors
        .iter()
        .all(|e| matches!(e, SaslError::AuthenticationFailed { .. })));
    set_password(&mut cluster, "pw-alice");
    cluster.errors.clear();
    let more = long_read(&mut cluster, &mut consumer, 3, 2);
    for p in 0..3 {
        assert_eq!(
            cluster.offsets_of(&tp("t", p)),
            (0..written + more).collect::<Vec<_>>()
        );
    }
    assert!(
        cluster.sasl_violations.is_empty(),
        "{:?}",
        cluster.sasl_violations
    );
}

#[test]
fn a_renewal_due_while_a_fetch_is_held_waits_for_its_answer() {
    let mut cluster = cluster(SaslMechanism::Plain, 1);
    let mut consumer = member(&cluster, SaslMechanism::Plain);
    let written = long_read(&mut cluster, &mut consumer, 1, 1);
    // A fetch answer is held past the session's end: the renewal waits for it (the
    // broker accepts a SaslHandshake on an ended session; it refuses anything else).
    cluster.on_next_to(
        1,
        ApiKey::Fetch,
        Action::Delay(Duration::from_millis(1_500)),
    );
    let more = long_read(&mut cluster, &mut consumer, 1, 3);
    assert_eq!(
        cluster.offsets_of(&tp("t", 0)),
        (0..written + more).collect::<Vec<_>>()
    );
    assert!(
        cluster.sasl_violations.is_empty(),
        "{:?}",
        cluster.sasl_violations
    );
    assert!(cluster
        .authentications
        .iter()
        .all(|a| a.in_flight_at_handshake == 0));
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}
