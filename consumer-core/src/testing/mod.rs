//! A simulated Kafka cluster for driving the sans-IO [`Consumer`](crate::consumer::Consumer)
//! in tests (feature `testing`).
//!
//! Deterministic and in memory: no sockets, threads or sleeps. The cluster plays the network
//! and the brokers. Requests are decoded and answers encoded with the crate's own codec, so
//! every scenario also exercises the wire format at the versions the brokers advertise. Time
//! is simulated: when nothing can happen now, the clock jumps to the next deadline (the
//! consumer's `poll_timeout`, a delayed answer, a long-polling fetch, a request timeout, a
//! group's timer).
//!
//! Brokers behave like real ones where it matters to a consumer: answers on one connection
//! come back in order; a fetch with nothing to return waits up to `max_wait_ms` (and ends
//! early when data arrives); non-leaders answer NOT_LEADER_OR_FOLLOWER; offsets outside
//! `[log start, high watermark]` are OFFSET_OUT_OF_RANGE; a too-new ApiVersions gets
//! UNSUPPORTED_VERSION with a version-0 body. Sending a version the broker did not
//! advertise is a client bug and panics: this is a test tool, and it panics on misuse too.
//!
//! What a scenario can do:
//!
//! * build a cluster ([`TestCluster::builder`]: brokers, a [`Profile`] of API versions,
//!   topics), produce records ([`TestCluster::append`], [`TestCluster::fill`]), move the
//!   high watermark, the log start, truncate, move leaders, create topics, add partitions;
//! * make unclean leader elections ([`TestCluster::unclean_leader_election`]: the new
//!   leader's log is shorter, its epoch new); brokers answer OffsetForLeaderEpoch from each
//!   partition's leader-epoch history ([`TestCluster::epoch_history`], KIP-320);
//! * inject faults ([`Action`]: an error code per API, held, dropped or delayed answers, cut
//!   connections; [`TestCluster::set_down`]; moving a group's coordinator with
//!   [`Groups::move_coordinator`]);
//! * run one consumer ([`TestCluster::step`], [`TestCluster::drive`],
//!   [`TestCluster::run_for`]) or several [`Member`]s of a group on one clock
//!   ([`TestCluster::drive_members`], [`TestCluster::settle`]);
//! * or let something else drive its consumer over a [`SimNetwork`], a client of a
//!   [`SharedCluster`] shaped like a network client (consumer-net's feature `testing`
//!   makes it a transport of the blocking `KafkaConsumer`): `poll` jumps the simulated
//!   clock instead of sleeping;
//! * run KIP-848 consumer groups (the "consumer" group protocol): the coordinator answers
//!   ConsumerGroupHeartbeat (v0–1, in [`Profile::modern`], not in
//!   [`Profile::mock_cluster`]) with server-side assignors ("uniform", "range"), member
//!   reconciliation (a partition goes to its new owner only once the old one gave it
//!   up), fencing, static members, session and rebalance timeouts, and member epoch
//!   checks on OffsetCommit / OffsetFetch v9+; its session timeout and heartbeat interval
//!   are [`Groups::consumer_session_timeout`] and [`Groups::consumer_heartbeat_interval`];
//! * play a client of raw requests ([`SimNetwork::call`]), e.g. a scripted group member
//!   next to real consumers;
//! * look at what happened: the requests the brokers saw ([`SeenRequest`]), records,
//!   errors and events drained, the group coordinator's state and history ([`Groups`]:
//!   classic generations; for a consumer group ([`Groups::consumer_group`]) its epoch,
//!   members, their epochs and assignments, the target assignment, and every change of a
//!   partition's owner ([`Groups::ownership_history`],
//!   [`Groups::ownership_violations`])), the brokers' fetch sessions ([`FetchSessions`]).
//!
//! # Example
//!
//! ```
//! use consumer_core::AutoOffsetReset;
//! use consumer_core::testing::{tp, TestCluster};
//!
//! let mut cluster = TestCluster::builder().brokers(3).topic("events", 2).build();
//! let events = tp("events", 1);
//! cluster.append(&events, &[("k0", "created"), ("k1", "paid")]);
//!
//! let config = cluster.config().auto_offset_reset(AutoOffsetReset::Earliest);
//! let mut consumer = cluster.consumer(config);
//! consumer.assign([events.clone()]).expect("assign");
//!
//! // Runs the driver loop on the simulated clock until both records were returned.
//! cluster.drive(&mut consumer, |_, c| c.received.len() == 2, 100);
//! assert_eq!(
//!     cluster.received_of(&events),
//!     vec![
//!         (0, "k0".to_owned(), "created".to_owned()),
//!         (1, "k1".to_owned(), "paid".to_owned()),
//!     ]
//! );
//! ```
//!
//! # Layout
//!
//! | module | what |
//! | --- | --- |
//! | `cluster` | [`TestCluster`], [`ClusterBuilder`], [`Profile`], brokers, topics, logs, leadership |
//! | `broker` | answering each API with the real codec; [`SeenRequest`], [`PartitionError`] |
//! | `network` | connections, answers in order, reconnect backoff, request timeouts, cuts; each client's [`NetEvent`]s |
//! | `sim_network` | [`SimNetwork`]: the network of one client driven from outside the kit |
//! | `faults` | [`Action`]s for the next matching request, brokers going down |
//! | `driver` | [`TestCluster::step`], `drive`, `run_for`, [`Member`]s; every call into the consumer |
//! | `group`, `rebalance`, `group_offsets` | the broker-side group coordinator ([`Groups`]) |
//! | `consumer_group` | KIP-848 consumer groups: heartbeats, assignors, reconciliation ([`ConsumerGroup`]) |
//! | `group_api` | the brokers' side of the group APIs, with injected errors |
//! | `fetch_sessions` | the broker side of incremental fetch sessions (KIP-227) |
//! | `transactions` | transactional batches, commit/abort markers, the LSO, the aborted transaction index ([`PartitionTransactions`]) |
//! | `sasl` | SASL listeners ([`SaslServer`]): PLAIN, SCRAM, OAUTHBEARER, session lifetimes (KIP-368) |
//! | `leader_epochs` | leader-epoch histories, OffsetForLeaderEpoch, unclean leader elections (KIP-320) |

mod broker;
mod cluster;
mod consumer_group;
mod driver;
mod faults;
mod fetch_sessions;
mod group;
mod group_api;
mod group_offsets;
mod leader_epochs;
mod log_capture;
mod network;
mod rebalance;
mod replicas;
mod sasl;
mod sim_network;
mod transactions;

use bytes::Bytes;

use crate::event::Event;
use crate::topic_partition::TopicPartition;

pub use crate::assignor::{prepare_members, run_assignor, AssignorMember, PreparedMembers};
pub use broker::{PartitionError, SeenRequest};
pub use cluster::{Broker, ClusterBuilder, LogBatch, Partition, Profile, TestCluster, Topic};
pub use consumer_group::{
    ConsumerGroup, ConsumerMember, OwnershipChange, ReconcileState, SERVER_ASSIGNORS,
};
pub use driver::Member;
pub use faults::Action;
pub use fetch_sessions::{FetchSessions, SessionMode, SessionSeen};
pub use group::{partitions_of, GenerationRecord, Group, GroupMember, GroupState, Groups};
pub use group_offsets::Committed;
pub use log_capture::LogCapture;
pub use network::{DisconnectCause, NetEvent};
pub use replicas::Replicas;
pub use sasl::{Authentication, SaslServer};
pub use sim_network::{SharedCluster, SimNetwork};
pub use transactions::{PartitionTransactions, PRODUCER_EPOCH};

/// The timestamp of offset 0 in logs filled by [`TestCluster::append`]; offset `n` has
/// `BASE_TS + 1000 * n`.
pub const BASE_TS: i64 = 1_700_000_000_000;

/// Shorthand for a topic-partition.
pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// Rebalance events as "assigned [0, 1]" / "revoked [..]" / "lost [..]" (partition numbers,
/// sorted), other events left out.
pub fn story(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| {
            let (what, parts) = match e {
                Event::PartitionsAssigned(p) => ("assigned", p),
                Event::PartitionsRevoked(p) => ("revoked", p),
                Event::PartitionsLost(p) => ("lost", p),
                _ => return None,
            };
            let mut nums: Vec<i32> = parts.iter().map(|tp| tp.partition).collect();
            nums.sort();
            Some(format!("{what} {nums:?}"))
        })
        .collect()
}

/// The value [`TestCluster::fill`] writes at `offset`.
pub fn value_for(tp: &TopicPartition, offset: i64) -> String {
    format!("{}-{}-{}", tp.topic, tp.partition, offset)
}

/// Bytes as text (`"<null>"` for none).
pub fn text(b: &Option<Bytes>) -> String {
    match b {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "<null>".to_owned(),
    }
}
