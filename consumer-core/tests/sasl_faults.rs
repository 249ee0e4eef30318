//! SASL under random fault schedules: short sessions (renewed every second or so) while
//! answers, SASL ones included, fail, are held, lost, delayed or cut, and brokers go down
//! and up. The kit checks the life of every request at every step (requests parked for a
//! renewal included); here, once the faults stop, every record arrives, no request ever
//! went out on a connection that had not authenticated or whose session had ended, and
//! nothing stays pending.

use std::time::Duration;

use consumer_core::codec::ApiKey;
use consumer_core::testing::{tp, Action, SaslServer, TestCluster};
use consumer_core::{
    AutoOffsetReset, Consumer, ConsumerError, ErrorCode, SaslMechanism, SecurityProtocol,
};
use proptest::prelude::*;

const TOPIC: &str = "events";
const PARTITIONS: i32 = 3;
const RECORDS: usize = 30;

#[derive(Debug, Clone)]
enum Fault {
    Answer(ApiKey, Action),
    Cut(i32),
    Down(i32),
    Up(i32),
    Release,
}

fn api() -> impl Strategy<Value = ApiKey> {
    prop_oneof![
        3 => Just(ApiKey::SaslHandshake),
        3 => Just(ApiKey::SaslAuthenticate),
        1 => Just(ApiKey::ApiVersions),
        1 => Just(ApiKey::Fetch),
        1 => Just(ApiKey::Metadata),
        1 => Just(ApiKey::JoinGroup),
        1 => Just(ApiKey::SyncGroup),
        1 => Just(ApiKey::Heartbeat),
        1 => Just(ApiKey::OffsetCommit),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        prop_oneof![
            Just(ErrorCode::IllegalSaslState),
            Just(ErrorCode::SaslAuthenticationFailed),
            Just(ErrorCode::RequestTimedOut),
        ]
        .prop_map(|c| Action::Error(c.code())),
        Just(Action::Hold),
        Just(Action::Drop),
        Just(Action::Cut),
        (1u64..2_000).prop_map(|ms| Action::Delay(Duration::from_millis(ms))),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    let broker = 1i32..=3;
    prop_oneof![
        5 => (api(), action()).prop_map(|(a, x)| {
            // SASL error codes only where a broker sends them.
            let sasl = matches!(a, ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
            let x = match x {
                Action::Error(_) if !sasl => Action::Error(ErrorCode::RequestTimedOut.code()),
                x => x,
            };
            Fault::Answer(a, x)
        }),
        1 => broker.clone().prop_map(Fault::Cut),
        1 => broker.clone().prop_map(Fault::Down),
        1 => broker.prop_map(Fault::Up),
        1 => Just(Fault::Release),
    ]
}

fn run(lifetime_ms: u64, schedule: &[(Fault, u64)]) -> Result<(), TestCaseError> {
    let server = SaslServer::new([SaslMechanism::Plain])
        .user("alice", "pw")
        .session_lifetime(Duration::from_millis(lifetime_ms));
    let mut cluster = TestCluster::builder()
        .topic(TOPIC, PARTITIONS as usize)
        .sasl(server)
        .build();
    for p in 0..PARTITIONS {
        cluster.fill(&tp(TOPIC, p), RECORDS, 5);
    }
    let mut consumer: Consumer = cluster.consumer(
        cluster
            .config()
            .group_id("g")
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .security_protocol(SecurityProtocol::SaslPlaintext)
            .sasl_credentials(SaslMechanism::Plain, "alice", "pw"),
    );
    consumer.subscribe([TOPIC.to_owned()]).unwrap();
    for (fault, ms) in schedule {
        match fault {
            Fault::Answer(api, action) => cluster.on_next(*api, *action),
            Fault::Cut(b) => cluster.cut(&mut consumer, *b),
            Fault::Down(b) => cluster.set_down(&mut consumer, *b, true),
            Fault::Up(b) => cluster.set_down(&mut consumer, *b, false),
            Fault::Release => cluster.release_held(),
        }
        cluster.run_for(&mut consumer, Duration::from_millis(*ms));
    }
    cluster.clear_rules();
    for b in 1..=3 {
        cluster.set_down(&mut consumer, b, false);
    }
    cluster.release_held();
    let all = |c: &TestCluster| {
        (0..PARTITIONS).all(|p| {
            let got = c.offsets_of(&tp(TOPIC, p));
            (0..RECORDS as i64).all(|o| got.contains(&o))
        })
    };
    cluster.drive(&mut consumer, |_, c| all(c), 20_000);
    cluster.release_held();
    cluster.run_for(&mut consumer, Duration::from_secs(40));

    prop_assert!(
        cluster.sasl_violations.is_empty(),
        "{:?}",
        cluster.sasl_violations
    );
    // Only scripted SASL errors were reported, as authentication failures.
    for e in &cluster.errors {
        prop_assert!(matches!(e, ConsumerError::Authentication(_)), "{e}");
    }
    let renewals = cluster.authentications.iter().filter(|a| a.renewal).count();
    prop_assert!(renewals > 0, "no session was renewed");
    let counts = consumer.request_counts();
    prop_assert_eq!(
        counts.recorded,
        counts.ended + counts.pending,
        "{:?}",
        counts
    );
    prop_assert_eq!(
        counts.pending - counts.queued,
        cluster.outstanding(0) as u64,
        "{:?}",
        counts
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn short_sessions_under_random_faults(
        lifetime_ms in 600u64..2_500,
        schedule in prop::collection::vec((fault(), 0u64..4_000), 1..10)
    ) {
        run(lifetime_ms, &schedule)?;
    }
}
