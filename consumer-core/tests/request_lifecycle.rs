//! Every request ends exactly once and its owner is told, under random fault schedules.
//!
//! The test kit checks the life of every request at every step (each request the
//! consumer waits for is one the network holds; recorded = ended + pending, an end
//! counted only when its owner is told). Here random schedules of faults (error codes,
//! lost, held and delayed answers, cut connections, brokers going down and up, leader
//! and coordinator moves) run against a consumer with assigned partitions and against a
//! group member; once the faults stop, every record arrives and nothing stays pending.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Action, TestCluster};
use consumer_core::{AutoOffsetReset, Consumer, ErrorCode};
use proptest::prelude::*;

const TOPIC: &str = "events";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 40;

#[derive(Debug, Clone)]
enum Fault {
    Answer(ApiKey, Action),
    Cut(i32),
    Down(i32),
    Up(i32),
    MoveLeader(i32, i32),
    MoveCoordinator(i32),
    Release,
}

fn api() -> impl Strategy<Value = ApiKey> {
    prop_oneof![
        Just(ApiKey::Fetch),
        Just(ApiKey::Metadata),
        Just(ApiKey::ListOffsets),
        Just(ApiKey::ApiVersions),
        Just(ApiKey::FindCoordinator),
        Just(ApiKey::JoinGroup),
        Just(ApiKey::SyncGroup),
        Just(ApiKey::Heartbeat),
        Just(ApiKey::OffsetCommit),
        Just(ApiKey::OffsetFetch),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        prop_oneof![
            Just(ErrorCode::NotLeaderOrFollower),
            Just(ErrorCode::LeaderNotAvailable),
            Just(ErrorCode::CoordinatorNotAvailable),
            Just(ErrorCode::NotCoordinator),
            Just(ErrorCode::RequestTimedOut),
            Just(ErrorCode::RebalanceInProgress),
        ]
        .prop_map(|c| Action::Error(c.code())),
        Just(Action::Hold),
        Just(Action::Drop),
        Just(Action::Cut),
        (1u64..3_000).prop_map(|ms| Action::Delay(Duration::from_millis(ms))),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    let broker = 1i32..=3;
    prop_oneof![
        4 => (api(), action()).prop_map(|(a, x)| Fault::Answer(a, x)),
        1 => broker.clone().prop_map(Fault::Cut),
        1 => broker.clone().prop_map(Fault::Down),
        1 => broker.clone().prop_map(Fault::Up),
        1 => (0..PARTITIONS, broker.clone()).prop_map(|(p, b)| Fault::MoveLeader(p, b)),
        1 => broker.prop_map(Fault::MoveCoordinator),
        1 => Just(Fault::Release),
    ]
}

fn cluster() -> TestCluster {
    let mut cluster = TestCluster::builder()
        .topic(TOPIC, PARTITIONS as usize)
        .build();
    for p in 0..PARTITIONS {
        cluster.fill(&tp(TOPIC, p), RECORDS, 7);
    }
    cluster
}

/// Runs `schedule` (a fault, then some simulated time) against `consumer`, then lets
/// the cluster heal and drives until every record arrived.
fn run(cluster: &mut TestCluster, consumer: &mut Consumer, schedule: &[(Fault, u64)]) {
    for (fault, ms) in schedule {
        match fault {
            Fault::Answer(api, action) => cluster.on_next(*api, *action),
            Fault::Cut(b) => cluster.cut(consumer, *b),
            Fault::Down(b) => cluster.set_down(consumer, *b, true),
            Fault::Up(b) => cluster.set_down(consumer, *b, false),
            Fault::MoveLeader(p, b) => cluster.move_leader(&tp(TOPIC, *p), *b),
            Fault::MoveCoordinator(b) => cluster.groups.move_coordinator("g", *b),
            Fault::Release => cluster.release_held(),
        }
        cluster.run_for(consumer, Duration::from_millis(*ms));
    }
    cluster.clear_rules();
    for b in 1..=3 {
        cluster.set_down(consumer, b, false);
    }
    cluster.release_held();
    let all = |c: &TestCluster| {
        (0..PARTITIONS).all(|p| {
            let got = c.offsets_of(&tp(TOPIC, p));
            (0..RECORDS as i64).all(|o| got.contains(&o))
        })
    };
    cluster.drive(consumer, |_, c| all(c), 20_000);
    // Quiet again: nothing is left waiting for an answer that will not come.
    cluster.release_held();
    cluster.run_for(consumer, Duration::from_secs(40));
    let counts = consumer.request_counts();
    assert_eq!(counts.recorded, counts.ended + counts.pending, "{counts:?}");
    assert_eq!(counts.pending, cluster.outstanding(0) as u64, "{counts:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn assigned_partitions_under_random_faults(
        schedule in prop::collection::vec((fault(), 0u64..5_000), 1..12)
    ) {
        let mut cluster = cluster();
        let config = cluster.config().auto_offset_reset(AutoOffsetReset::Earliest);
        let mut consumer = cluster.consumer(config);
        consumer.assign((0..PARTITIONS).map(|p| tp(TOPIC, p))).unwrap();
        run(&mut cluster, &mut consumer, &schedule);
        // Positions only move past records handed out: each offset exactly once, in order.
        for p in 0..PARTITIONS {
            let got = cluster.offsets_of(&tp(TOPIC, p));
            prop_assert_eq!(got, (0..RECORDS as i64).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_group_member_under_random_faults(
        schedule in prop::collection::vec((fault(), 0u64..5_000), 1..12)
    ) {
        let mut cluster = cluster();
        let mut consumer = cluster.consumer(
            cluster.config().group_id("g").auto_offset_reset(AutoOffsetReset::Earliest),
        );
        consumer.subscribe([TOPIC.to_owned()]).unwrap();
        run(&mut cluster, &mut consumer, &schedule);
        // Each partition's records arrive in order after each (re)assignment; a rebalance
        // may hand out again what was not committed, never skip any.
        for p in 0..PARTITIONS {
            let got = cluster.offsets_of(&tp(TOPIC, p));
            prop_assert!((0..RECORDS as i64).all(|o| got.contains(&o)), "{:?}", got);
        }
    }
}
