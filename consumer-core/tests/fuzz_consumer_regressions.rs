//! Inputs the `consumer_core` fuzz target (fuzz/src/consumer.rs) found to break the
//! consumer state machine, replayed without the fuzzer.

use std::time::{Duration, Instant};

use consumer_core::codec::messages::FindCoordinatorResponse;
use consumer_core::{ConsumerConfig, GroupCoordinator};

fn group_config() -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(["b0:9092"])
        .group_id("g")
        .build()
        .expect("valid config")
}

/// A FindCoordinator answer with no error but node -1 computed the coordinator's
/// connection id as `i32::MAX - (-1)`: an overflow panic. It now counts as "not
/// available": no coordinator, and the lookup is retried after the backoff.
#[test]
fn find_coordinator_with_negative_node_and_no_error() {
    let config = group_config();
    let mut g = GroupCoordinator::new(&config)
        .expect("valid config")
        .expect("a group.id gives a coordinator");
    let now = Instant::now();
    for node_id in [-1, i32::MIN] {
        g.handle_lookup(
            FindCoordinatorResponse {
                error_code: 0,
                node_id,
                host: "b0".into(),
                port: 9092,
                ..FindCoordinatorResponse::default()
            },
            now,
        );
        assert!(g.coordinator().is_none(), "node {node_id}");
    }
    // A valid answer still works afterwards.
    g.handle_lookup(
        FindCoordinatorResponse {
            node_id: 2,
            host: "b2".into(),
            port: 9092,
            ..FindCoordinatorResponse::default()
        },
        now + Duration::from_secs(1),
    );
    assert_eq!(g.coordinator().map(|c| c.host.as_str()), Some("b2"));
}
