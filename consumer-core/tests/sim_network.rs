//! `SimNetwork`: the kit's network for a consumer driven from outside, here by a small
//! driver loop like a blocking facade's: it sends, polls with a timeout (the clock jumps,
//! bounded by it), and hands the consumer what came back.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{
    tp, DisconnectCause, NetEvent, SharedCluster, SimNetwork, TestCluster,
};
use consumer_core::{AutoOffsetReset, Consumer};

/// A cluster with topic "t" (6 records) and a consumer of it over a `SimNetwork`.
fn setup() -> (SharedCluster, Consumer, SimNetwork) {
    let cluster = TestCluster::builder().brokers(2).topic("t", 1).build();
    let consumer = cluster.consumer(
        cluster
            .config()
            .auto_offset_reset(AutoOffsetReset::Earliest),
    );
    let cluster = cluster.shared();
    cluster.borrow_mut().fill(&tp("t", 0), 6, 3);
    let net = SimNetwork::new(&cluster);
    (cluster, consumer, net)
}

/// One round of the driver: send, poll for at most `timeout` (or until the consumer's
/// next timer), hand over what came back. Returns what came back.
fn round(consumer: &mut Consumer, net: &mut SimNetwork, timeout: Duration) -> Vec<NetEvent> {
    let now = net.now();
    while let Some(t) = consumer.poll_transmit(now) {
        net.send(t.node, &t.address, t.correlation_id, t.frame, t.timeout);
    }
    let wait = consumer
        .poll_timeout()
        .map_or(timeout, |at| at.saturating_duration_since(now).min(timeout));
    net.poll(Some(wait));
    let now = net.now();
    let mut events = Vec::new();
    while let Some(event) = net.poll_completion() {
        match &event {
            NetEvent::Response {
                node,
                correlation_id,
                frame,
            } => consumer.handle_response(*node, *correlation_id, frame.clone(), now),
            NetEvent::Disconnected { node, .. } => consumer.handle_disconnect(*node, now),
        }
        events.push(event);
    }
    consumer.handle_timeout(now);
    events
}

#[test]
fn records_arrive_and_an_idle_poll_jumps_the_clock_by_its_timeout_at_most() {
    let (cluster, mut consumer, mut net) = setup();
    consumer.assign([tp("t", 0)]).unwrap();
    let mut records = Vec::new();
    for _ in 0..100 {
        round(&mut consumer, &mut net, Duration::from_millis(100));
        records.extend(consumer.poll_records(100).unwrap());
        if records.len() == 6 {
            break;
        }
    }
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..6).collect::<Vec<_>>());
    // The next fetch long-polls (fetch.max.wait.ms): a poll of 100 ms moves the clock
    // 100 ms, not to the end of the long poll.
    round(&mut consumer, &mut net, Duration::ZERO);
    let before = cluster.borrow().elapsed();
    let events = round(&mut consumer, &mut net, Duration::from_millis(100));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(
        cluster.borrow().elapsed() - before,
        Duration::from_millis(100)
    );
    // The requests are the SimNetwork's client's.
    let c = cluster.borrow();
    assert!(c.requests.iter().all(|r| r.client == net.client()));
    assert!(c.count(ApiKey::Fetch) >= 2);
}

#[test]
fn lost_connections_come_back_with_their_cause() {
    let (cluster, mut consumer, mut net) = setup();
    cluster.borrow_mut().set_broker_down(1, true);
    consumer.assign([tp("t", 0)]).unwrap();
    let events = round(&mut consumer, &mut net, Duration::from_millis(100));
    let refused = DisconnectCause::Refused {
        address: "broker1.sim:9091".to_owned(),
    };
    assert!(
        matches!(&events[..], [NetEvent::Disconnected { cause, .. }] if *cause == refused),
        "{events:?}"
    );

    // Up again: the fetch is held; the broker going down cuts the connection.
    cluster.borrow_mut().set_broker_down(1, false);
    cluster.borrow_mut().hold_next(ApiKey::Fetch);
    for _ in 0..100 {
        round(&mut consumer, &mut net, Duration::from_millis(100));
        if cluster.borrow().held() == 1 {
            break;
        }
    }
    let fetch = cluster.borrow().requests_of(ApiKey::Fetch)[0].correlation_id;
    cluster.borrow_mut().set_broker_down(1, true);
    let events = round(&mut consumer, &mut net, Duration::ZERO);
    let cut = NetEvent::Disconnected {
        node: 1,
        failed: vec![fetch],
        cause: DisconnectCause::Cut,
    };
    // (The bootstrap connection to broker 1, node -1, goes too.)
    assert!(events.contains(&cut), "{events:?}");
}

#[test]
fn an_unanswered_request_times_out_on_the_simulated_clock() {
    let (cluster, mut consumer, mut net) = setup();
    cluster.borrow_mut().drop_next(ApiKey::Fetch);
    consumer.assign([tp("t", 0)]).unwrap();
    let mut lost = None;
    for _ in 0..1000 {
        let events = round(&mut consumer, &mut net, Duration::from_secs(1));
        lost = lost.or(events.into_iter().find_map(|e| match e {
            NetEvent::Disconnected { cause, .. } => Some(cause),
            NetEvent::Response { .. } => None,
        }));
        if lost.is_some() {
            break;
        }
    }
    let fetch = cluster.borrow().requests_of(ApiKey::Fetch)[0].clone();
    assert_eq!(
        lost,
        Some(DisconnectCause::RequestTimeout {
            correlation_id: fetch.correlation_id
        })
    );
    // request.timeout.ms of the kit: 30 s after the fetch was sent.
    assert_eq!(
        cluster.borrow().elapsed() - fetch.at,
        Duration::from_secs(30)
    );
}
