//! Lost connections: requests in flight fail, the consumer reconnects (negotiating
//! versions again, ApiVersions first) and re-sends the fetch from the same position.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Action, Profile, TestCluster};
use consumer_core::AutoOffsetReset;

fn cluster_with(profile: Profile) -> (TestCluster, consumer_core::Consumer) {
    let mut cluster = TestCluster::builder()
        .brokers(2)
        .profile(profile)
        .topic("t", 1)
        .build();
    cluster.fill(&tp("t", 0), 6, 3);
    let consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    (cluster, consumer)
}

fn fetch_in_flight_is_resent_after_reconnect(profile: Profile) {
    let (mut cluster, mut consumer) = cluster_with(profile);
    let p = tp("t", 0);
    consumer.assign([p.clone()]).unwrap();
    cluster.hold_next(ApiKey::Fetch);
    cluster.drive(&mut consumer, |_, c| c.held() == 1, 100);
    let lost = cluster.requests_of(ApiKey::Fetch)[0].clone();
    assert_eq!(
        (lost.node, lost.partitions.clone()),
        (1, vec![(p.clone(), 0)])
    );

    // Broker 1's connection drops with the answer still on it.
    let opened_before = cluster.connections_opened.len();
    cluster.cut(&mut consumer, 1);
    assert_eq!(
        cluster.disconnects.last().unwrap(),
        &(1, vec![lost.correlation_id])
    );

    cluster.drive(&mut consumer, |_, c| c.received.len() >= 6, 100);
    cluster.run_for(&mut consumer, Duration::from_secs(1));
    assert_eq!(cluster.offsets_of(&p), (0..6).collect::<Vec<_>>());

    // The new connection to broker 1 began with ApiVersions; then the same fetch again.
    let reopened: Vec<_> = cluster.connections_opened[opened_before..]
        .iter()
        .filter(|(node, _)| *node == 1)
        .collect();
    assert_eq!(reopened, vec![&(1, ApiKey::ApiVersions)]);
    let after: Vec<_> = cluster
        .requests
        .iter()
        .filter(|r| r.node == 1 && r.at >= lost.at && r.correlation_id > lost.correlation_id)
        .map(|r| r.api)
        .collect();
    assert_eq!(after[0], ApiKey::ApiVersions, "{after:?}");
    let refetch = cluster.requests_of(ApiKey::Fetch)[1].clone();
    assert_eq!(refetch.partitions, vec![(p.clone(), 0)]);
    // Not before the reconnect backoff.
    assert!(refetch.at >= lost.at + cluster.reconnect_backoff);
}

#[test]
fn modern_fetch_in_flight_is_resent_after_reconnect() {
    fetch_in_flight_is_resent_after_reconnect(Profile::modern());
}

#[test]
fn mock_cluster_fetch_in_flight_is_resent_after_reconnect() {
    fetch_in_flight_is_resent_after_reconnect(Profile::mock_cluster());
}

#[test]
fn a_connection_lost_during_a_long_poll_loses_nothing_written_meanwhile() {
    let (mut cluster, mut consumer) = cluster_with(Profile::modern());
    let p = tp("t", 0);
    consumer.assign([p.clone()]).unwrap();
    cluster.drive(
        &mut consumer,
        |_, c| c.received.len() == 6 && c.in_flight() > 0,
        100,
    );
    cluster.cut(&mut consumer, 1);
    cluster.append(&p, &[("x", "6"), ("y", "7")]);

    cluster.drive(&mut consumer, |_, c| c.received.len() == 8, 100);
    assert_eq!(cluster.offsets_of(&p), (0..8).collect::<Vec<_>>());
    assert_eq!(
        cluster.received_of(&p)[6..],
        [(6, "x".into(), "6".into()), (7, "y".into(), "7".into())]
    );
}

#[test]
fn a_request_lost_on_arrival_is_retried() {
    let (mut cluster, mut consumer) = cluster_with(Profile::modern());
    let p = tp("t", 0);
    consumer.assign([p.clone()]).unwrap();
    // The connection breaks as the first fetch arrives, and the first reconnect is refused.
    cluster.on_next(ApiKey::Fetch, Action::Cut);
    cluster.drive(&mut consumer, |_, c| !c.disconnects.is_empty(), 100);
    cluster.brokers.get_mut(&1).unwrap().down = true;
    cluster.run_for(&mut consumer, Duration::from_millis(60));
    assert!(cluster.disconnects.len() >= 2, "the reconnect was refused");
    assert!(cluster.received.is_empty());
    cluster.brokers.get_mut(&1).unwrap().down = false;

    cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 100);
    assert_eq!(cluster.offsets_of(&p), (0..6).collect::<Vec<_>>());
    assert!(cluster.errors.is_empty(), "{:?}", cluster.errors);
}

#[test]
fn an_unanswered_fetch_times_out_and_is_sent_again() {
    let (mut cluster, mut consumer) = cluster_with(Profile::modern());
    let p = tp("t", 0);
    consumer.assign([p.clone()]).unwrap();
    cluster.drop_next(ApiKey::Fetch);
    cluster.drive(&mut consumer, |_, c| c.received.len() == 6, 100);

    let fetches = cluster.requests_of(ApiKey::Fetch);
    assert_eq!(fetches[0].partitions, fetches[1].partitions);
    // The second went out only after the request timeout closed the connection.
    assert!(fetches[1].at >= fetches[0].at + cluster.request_timeout);
    assert_eq!(cluster.offsets_of(&p), (0..6).collect::<Vec<_>>());
}

/// With one broker, a lost connection leaves no broker to look the coordinator up with
/// until the reconnect backoff ends; the end of that backoff is a timer, so the lookup goes
/// out then, not at the next heartbeat (10 s here) or a caller's deadline. (Found by the
/// SSL rows of the secure fault matrix: a commit waited out default.api.timeout.ms.)
#[test]
fn the_only_broker_is_tried_again_when_its_backoff_ends() {
    use consumer_core::testing::{tp, TestCluster};
    use consumer_core::AutoOffsetReset;
    use std::time::Duration;

    let mut cluster = TestCluster::builder().brokers(1).topic("t", 1).build();
    cluster.fill(&tp("t", 0), 10, 5);
    let mut consumer = cluster.consumer(
        cluster
            .config()
            .group_id("g")
            .enable_auto_commit(false)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .session_timeout(Duration::from_secs(45))
            .heartbeat_interval(Duration::from_secs(10)),
    );
    consumer.subscribe(["t".to_owned()]).unwrap();
    cluster.drive(
        &mut consumer,
        |c, _| c.group().and_then(|g| g.coordinator()).is_some() && !c.assignment().is_empty(),
        500,
    );
    cluster.set_down(&mut consumer, 1, true);
    cluster.run_for(&mut consumer, Duration::from_millis(300));
    cluster.set_down(&mut consumer, 1, false);
    let healed = cluster.elapsed();
    cluster.drive(
        &mut consumer,
        |c, _| c.group().and_then(|g| g.coordinator()).is_some(),
        500,
    );
    let took = cluster.elapsed() - healed;
    // reconnect.backoff.max.ms is 1 s by default.
    assert!(
        took <= Duration::from_millis(1500),
        "the coordinator came back after {took:?}"
    );
}
