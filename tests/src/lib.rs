//! Test harness: starts real brokers and real clients for the integration suite.
//!
//! * [`MockCluster`]: librdkafka's mock cluster (N brokers, fault injection),
//!   driven through `tests/mock-cluster/launcher.c`, compiled on first use,
//!   in two versions ([`MockVersion`]): Debian's librdkafka 2.0.2 and the
//!   librdkafka 2.16 of the confluent-kafka wheel. [`test_on_each_mock!`]
//!   runs a scenario on both.
//! * [`Tansu`]: a single real Kafka-compatible broker with in-memory storage,
//!   speaking current (flexible) protocol versions.
//! * [`produce_kcat`] / [`produce_python`]: put known records into a topic
//!   with reference clients; [`consume_kcat`] / [`consume_python`]: read them
//!   back independently of the library under test.
//! * [`FakeCluster`]: scripted fake brokers (real protocol via consumer-core's codec)
//!   that misbehave on request ([`Fault`]): broken frames, lying sizes, corrupt batches.
//! * [`library_consumer`], [`poll_until`] and [`Expected`]: drive the
//!   library's `KafkaConsumer` and check that it delivered exactly what was
//!   produced.
//! * [`example_binary`] builds an example of consumer-net (`consume`, `service`);
//!   [`LiveChild`] runs one, reading its stdout as it comes, and sends it SIGINT.
//! * [`capture_logs`] / [`captured_warnings`]: what the library logged at WARN.
//!
//! Every wait has a timeout, and every missing prerequisite is an error that
//! names the package to install (`scripts/install-deps.sh` installs all of
//! them): tests that need a broker fail, they never skip silently.
//!
//! Each harness object owns its own processes and ports, so tests can run in
//! parallel threads; use distinct topic names per test.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod certs;
mod confluent;
mod console;
mod consumer;
mod error;
mod examples;
mod group_history;
mod group_log;
mod group_member;
mod json;
mod kip848_group;
mod library;
mod live_child;
mod log_capture;
mod malicious;
mod mock_cluster;
mod noloss;
mod ports;
mod process;
mod producer;
mod proxy;
mod python;
mod record;
mod relay;
mod sasl_gateway;
mod secure_cluster;
mod stunnel;
mod tansu;
mod tempdir;
mod transactions;

pub use certs::{CertKey, Certs};
pub use confluent::{consume_confluent, ClientError, ConfluentRun, ConfluentUntil};
pub use console::{
    console_consumer_binary, json_number_field, json_string_field, run_console_consumer,
    run_console_consumer_with_env, ConsoleRun, CONSOLE_TIMEOUT,
};
pub use consumer::{consume_kcat, consume_python, consume_python_with, kcat_metadata};
pub use error::{HarnessError, Result};
pub use examples::example_binary;
pub use group_history::{
    assert_no_violations, wait_for_history, Delivery, End, GroupHistory, Interval,
};
pub use group_log::{now_us, parse_event_line, Logged, MemberEvent, MemberLog};
pub use group_member::{
    group_props, kip848_props, rdkafka_consumer_protocol_props, rdkafka_group_props, run_member,
    CommitPolicy, LibraryMember, MemberControl, MemberSpec, ProcessMember,
};
pub use json::Json;
pub use kip848_group::{
    assert_no_member_errors, check_group, kip848_cluster, produce_wave, rdkafka_kip848_member,
};
pub use library::{
    init_logging, library_consumer, mock_cluster, mock_cluster_on, partitions, poll_count,
    poll_for, poll_until, produce_read_back, sample_records, summary, Expected, ExpectedRecord,
    WAIT,
};
pub use live_child::LiveChild;
pub use log_capture::{capture_logs, captured_warnings, LogLine};
pub use malicious::{fake_records, FakeCluster, Fault};
pub use mock_cluster::{
    launcher_binary, launcher_binary_for, CoordinatorType, MockCluster, MockVersion, RequestCounter,
};
pub use noloss::{bad_rows, noloss_table, write_report, NoLoss, NoLossRow};
pub use ports::{free_port, port_accepts};
pub use producer::{produce_kcat, produce_kcat_with, produce_python, produce_python_with};
pub use proxy::CutProxy;
pub use python::python_program;
pub use record::{
    consumed_by_partition, Compression, ConsumedRecord, Produced, ProducedRecord, Record,
};
pub use relay::Relay;
pub use sasl_gateway::{
    sasl_gateway_script, GatewayEvent, GatewayOptions, SaslGateway, ALL_MECHANISMS,
};
pub use secure_cluster::{SaslTansu, ServerCert, TlsOptions, TlsTansu};
pub use stunnel::{stunnel_binary, Stunnel, StunnelOptions, TlsVersion};
pub use tansu::{tansu_binary, Tansu, TansuOptions};
pub use transactions::{produce_transactions, Transaction, TxnEnd, TxnRecord};

/// Declares one test per [`MockVersion`] for each scenario function
/// `fn name(version: MockVersion)` of the calling test file: a module `name`
/// holding the tests `v2_0_2` and `v2_16`, which call `name` with that
/// version (`cargo test name::v2_16` runs one).
///
/// ```no_run
/// use integration_tests::{mock_cluster_on, test_on_each_mock, MockVersion};
///
/// fn reads_everything(version: MockVersion) {
///     let cluster = mock_cluster_on(version, 3);
///     assert_eq!(cluster.version(), version);
/// }
/// test_on_each_mock!(reads_everything);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! test_on_each_mock {
    ($($scenario:ident),+ $(,)?) => {
        $(
            mod $scenario {
                #[test]
                fn v2_0_2() {
                    super::$scenario($crate::MockVersion::V2_0_2);
                }

                #[test]
                fn v2_16() {
                    super::$scenario($crate::MockVersion::V2_16);
                }
            }
        )+
    };
}

/// Kafka API keys used with [`MockCluster::push_errors`] and friends.
pub mod api_key {
    /// Produce.
    pub const PRODUCE: i16 = 0;
    /// Fetch.
    pub const FETCH: i16 = 1;
    /// ListOffsets.
    pub const LIST_OFFSETS: i16 = 2;
    /// Metadata.
    pub const METADATA: i16 = 3;
    /// OffsetCommit.
    pub const OFFSET_COMMIT: i16 = 8;
    /// OffsetFetch.
    pub const OFFSET_FETCH: i16 = 9;
    /// FindCoordinator.
    pub const FIND_COORDINATOR: i16 = 10;
    /// JoinGroup.
    pub const JOIN_GROUP: i16 = 11;
    /// Heartbeat.
    pub const HEARTBEAT: i16 = 12;
    /// LeaveGroup.
    pub const LEAVE_GROUP: i16 = 13;
    /// SyncGroup.
    pub const SYNC_GROUP: i16 = 14;
    /// ApiVersions.
    pub const API_VERSIONS: i16 = 18;
    /// OffsetForLeaderEpoch.
    pub const OFFSET_FOR_LEADER_EPOCH: i16 = 23;
    /// ConsumerGroupHeartbeat (KIP-848).
    pub const CONSUMER_GROUP_HEARTBEAT: i16 = 68;
}

/// Kafka protocol error codes commonly injected in tests.
pub mod error_code {
    /// OFFSET_OUT_OF_RANGE.
    pub const OFFSET_OUT_OF_RANGE: i32 = 1;
    /// UNKNOWN_TOPIC_OR_PARTITION.
    pub const UNKNOWN_TOPIC_OR_PARTITION: i32 = 3;
    /// LEADER_NOT_AVAILABLE.
    pub const LEADER_NOT_AVAILABLE: i32 = 5;
    /// NOT_LEADER_OR_FOLLOWER (formerly NOT_LEADER_FOR_PARTITION).
    pub const NOT_LEADER_OR_FOLLOWER: i32 = 6;
    /// REQUEST_TIMED_OUT.
    pub const REQUEST_TIMED_OUT: i32 = 7;
    /// COORDINATOR_LOAD_IN_PROGRESS.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i32 = 14;
    /// COORDINATOR_NOT_AVAILABLE.
    pub const COORDINATOR_NOT_AVAILABLE: i32 = 15;
    /// NOT_COORDINATOR.
    pub const NOT_COORDINATOR: i32 = 16;
    /// ILLEGAL_GENERATION.
    pub const ILLEGAL_GENERATION: i32 = 22;
    /// UNKNOWN_MEMBER_ID.
    pub const UNKNOWN_MEMBER_ID: i32 = 25;
    /// REBALANCE_IN_PROGRESS.
    pub const REBALANCE_IN_PROGRESS: i32 = 27;
    /// FENCED_LEADER_EPOCH.
    pub const FENCED_LEADER_EPOCH: i32 = 74;
    /// UNKNOWN_LEADER_EPOCH.
    pub const UNKNOWN_LEADER_EPOCH: i32 = 75;
}
