//! A simulated Kafka cluster for driving the sans-IO [`Consumer`] in tests.
//!
//! No sockets, threads or sleeps: the cluster plays the network and the brokers. Requests
//! are decoded and answers encoded with the crate's own codec, so every scenario also
//! exercises the wire format at the versions the brokers advertise. Time is simulated: when
//! nothing can happen now, the clock jumps to the next deadline (the consumer's
//! `poll_timeout`, a delayed answer, a long-polling fetch, a request timeout).
//!
//! Brokers behave like real ones where it matters to a consumer: answers on one connection
//! come back in order; a fetch with nothing to return waits up to `max_wait_ms` (and ends
//! early when data arrives); non-leaders answer NOT_LEADER_OR_FOLLOWER; offsets outside
//! `[log start, high watermark]` are OFFSET_OUT_OF_RANGE; a too-new ApiVersions gets
//! UNSUPPORTED_VERSION with a version-0 body. Sending a version the broker did not
//! advertise is a client bug and panics.
#![allow(
    dead_code,
    reason = "each scenario file uses a different part of the cluster"
)]

mod fetch_sessions;
mod group;

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use consumer_core::codec::messages::api_versions::{ApiVersion, UNSUPPORTED_VERSION};
use consumer_core::codec::messages::fetch::{FetchableTopicResponse, PartitionData};
use consumer_core::codec::messages::find_coordinator::Coordinator;
use consumer_core::codec::messages::list_offsets::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use consumer_core::codec::messages::metadata::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use consumer_core::codec::messages::offset_fetch::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use consumer_core::codec::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse, JoinGroupRequest,
    LeaveGroupRequest, LeaveGroupResponse, ListOffsetsRequest, ListOffsetsResponse,
    MetadataRequest, MetadataResponse, OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use consumer_core::codec::{
    decode_request_frame, encode_response_frame, ApiKey, Reader, Request, RequestHeader,
};
use consumer_core::config::{ConsumerConfig, ConsumerConfigBuilder};
use consumer_core::consumer::{Consumer, NodeId, Transmit};
use consumer_core::coordinator::MemberState;
use consumer_core::error_code::ErrorCode;
use consumer_core::event::{ConsumerError, ConsumerRecord, Event};
use consumer_core::record::{BatchBuilder, Record, TimestampType};
use consumer_core::topic_partition::TopicPartition;

#[allow(unused_imports, reason = "each scenario file uses a different part")]
pub use fetch_sessions::{FetchSessions, SessionMode, SessionSeen};
#[allow(unused_imports, reason = "each scenario file uses a different part")]
pub use group::{
    partitions_of, Answer, Committed, GenerationRecord, Group, GroupMember, GroupState, Groups,
    Outcome,
};

/// The timestamp of offset 0 in logs filled by [`TestCluster::append`]; offset `n` has
/// `BASE_TS + 1000 * n`.
pub const BASE_TS: i64 = 1_700_000_000_000;

/// Shorthand for a topic-partition.
pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// The API versions a broker advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// (api key, min, max) as sent in ApiVersions.
    pub apis: Vec<(i16, i16, i16)>,
}

impl Profile {
    /// A current broker: every API this crate speaks, over its whole range (flexible
    /// versions, topic ids in Fetch).
    pub fn modern() -> Self {
        Self {
            apis: ApiKey::ALL
                .iter()
                .map(|k| (*k as i16, k.versions().min, k.versions().max))
                .collect(),
        }
    }

    /// Like librdkafka's mock cluster: old, non-flexible versions only.
    pub fn mock_cluster() -> Self {
        let apis = [
            (ApiKey::Fetch, 0, 11),
            (ApiKey::ListOffsets, 0, 5),
            (ApiKey::Metadata, 0, 2),
            (ApiKey::OffsetCommit, 0, 7),
            (ApiKey::OffsetFetch, 0, 5),
            (ApiKey::FindCoordinator, 0, 2),
            (ApiKey::JoinGroup, 0, 5),
            (ApiKey::Heartbeat, 0, 3),
            (ApiKey::LeaveGroup, 0, 1),
            (ApiKey::SyncGroup, 0, 3),
            (ApiKey::ApiVersions, 0, 2),
        ];
        Self {
            apis: apis.iter().map(|&(k, a, b)| (k as i16, a, b)).collect(),
        }
    }

    /// The same profile with `api` advertised as `min..=max`.
    pub fn with(mut self, api: ApiKey, min: i16, max: i16) -> Self {
        self.apis.retain(|(k, _, _)| *k != api as i16);
        self.apis.push((api as i16, min, max));
        self
    }

    /// The same profile without `api`.
    pub fn without(mut self, api: ApiKey) -> Self {
        self.apis.retain(|(k, _, _)| *k != api as i16);
        self
    }

    /// The range advertised for `api`.
    pub fn range(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.apis
            .iter()
            .find(|(k, _, _)| *k == api as i16)
            .map(|&(_, a, b)| (a, b))
    }
}

/// One simulated broker.
#[derive(Debug, Clone)]
pub struct Broker {
    /// The broker id.
    pub id: i32,
    /// Its host name.
    pub host: String,
    /// Its port.
    pub port: i32,
    /// The versions it advertises.
    pub profile: Profile,
    /// When true, connections to it are refused.
    pub down: bool,
}

impl Broker {
    /// `host:port`, as the consumer addresses it.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One batch of a partition's log, as the producer wrote it.
#[derive(Debug, Clone)]
pub struct LogBatch {
    /// The leader epoch when it was written.
    pub epoch: i32,
    /// Its records (offsets ascending).
    pub records: Vec<Record>,
    /// The encoded batch.
    pub bytes: Bytes,
}

impl LogBatch {
    fn new(epoch: i32, records: Vec<Record>) -> Self {
        let base = records.first().map_or(0, |r| r.offset);
        let builder = BatchBuilder {
            partition_leader_epoch: epoch,
            ..BatchBuilder::new(base)
        };
        let bytes = builder.build(&records).expect("test batch encodes");
        Self {
            epoch,
            records,
            bytes,
        }
    }

    fn base_offset(&self) -> i64 {
        self.records.first().map_or(0, |r| r.offset)
    }

    fn last_offset(&self) -> i64 {
        self.records.last().map_or(-1, |r| r.offset)
    }
}

/// One partition: leadership and log.
#[derive(Debug, Clone)]
pub struct Partition {
    /// The leader's broker id.
    pub leader: i32,
    /// The leader epoch (bumped on each leader move).
    pub epoch: i32,
    /// The log, batch by batch.
    pub log: Vec<LogBatch>,
    /// The first offset still in the log.
    pub log_start: i64,
    /// The next offset to be written.
    pub log_end: i64,
    /// The high watermark: consumers see offsets below it.
    pub high_watermark: i64,
}

impl Partition {
    fn records(&self) -> impl Iterator<Item = &Record> {
        self.log.iter().flat_map(|b| b.records.iter())
    }
}

/// One topic.
#[derive(Debug, Clone)]
pub struct Topic {
    /// Its id (v10+ metadata, v13+ fetch).
    pub id: [u8; 16],
    /// Its partitions by index.
    pub partitions: Vec<Partition>,
}

/// A request as a broker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// Simulated time since the start.
    pub at: Duration,
    /// The client that sent it: 0 for the consumer driven with [`TestCluster::step`], else
    /// a [`Member`]'s `client`.
    pub client: usize,
    /// The consumer's node id for the connection.
    pub node: NodeId,
    /// The broker that received it.
    pub broker: i32,
    /// Its correlation id.
    pub correlation_id: i32,
    /// Its API.
    pub api: ApiKey,
    /// Its version.
    pub version: i16,
    /// Fetch: each partition with its fetch offset; ListOffsets: each with its timestamp.
    pub partitions: Vec<(TopicPartition, i64)>,
    /// Metadata: the topics asked for (`None`: all).
    pub topics: Option<Vec<String>>,
    /// Group APIs: the group.
    pub group: String,
    /// Group APIs: the member id sent.
    pub member_id: String,
    /// Group APIs: the generation sent (-1: none).
    pub generation: i32,
}

/// A per-partition error a broker answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    /// Simulated time of the answer.
    pub at: Duration,
    /// The broker that answered.
    pub broker: i32,
    /// The API (Fetch or ListOffsets).
    pub api: ApiKey,
    /// The partition.
    pub tp: TopicPartition,
    /// The error.
    pub code: ErrorCode,
}

/// What to do with the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer with this error code (every partition for Fetch / ListOffsets / OffsetCommit,
    /// every topic for Metadata, top level for ApiVersions and the group APIs, per key for
    /// FindCoordinator v4+). A group API answered so changes nothing in the group.
    Error(i16),
    /// Keep the answer until [`TestCluster::release_held`].
    Hold,
    /// Never answer (the request times out after `request_timeout`). A group API request
    /// is lost on the way: the coordinator never sees it.
    Drop,
    /// Answer this much later than usual.
    Delay(Duration),
    /// Lose the connection right after receiving the request.
    Cut,
}

#[derive(Debug, Clone)]
struct Rule {
    api: ApiKey,
    broker: Option<i32>,
    client: Option<usize>,
    action: Action,
    /// Applies to every matching request until removed, not just the next one.
    repeat: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    At(Instant),
    Held,
    Dropped,
}

#[derive(Debug)]
enum Reply {
    /// A frame without its size prefix.
    Frame(Bytes),
    /// A fetch waiting for data until `deadline`.
    LongPoll {
        req: FetchRequest,
        version: i16,
        deadline: Instant,
        session: fetch_sessions::Answer,
    },
    /// A JoinGroup or SyncGroup the coordinator answers once the group gets there.
    Parked { version: i16, ticket: u64 },
}

#[derive(Debug)]
struct Pending {
    correlation_id: i32,
    api: ApiKey,
    sent_at: Instant,
    /// How long the client waits for the answer.
    timeout: Duration,
    gate: Gate,
    reply: Reply,
}

#[derive(Debug)]
struct Connection {
    broker: i32,
    pending: VecDeque<Pending>,
}

/// The network client's view of one node while it has no connection: like the real one,
/// it waits out a reconnect backoff after each lost connection or failed attempt, keeping
/// requests queued meanwhile.
#[derive(Debug, Default)]
struct Link {
    failures: u32,
    retry_at: Option<Instant>,
    queued: Vec<Transmit>,
}

/// Builds a [`TestCluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    brokers: usize,
    profile: Profile,
    topics: Vec<(String, usize)>,
}

impl ClusterBuilder {
    /// `n` brokers, ids 1..=n.
    pub fn brokers(mut self, n: usize) -> Self {
        self.brokers = n;
        self
    }

    /// The versions every broker advertises.
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// A topic with `partitions` partitions; partition `p` is led by broker `1 + p % n`.
    pub fn topic(mut self, name: &str, partitions: usize) -> Self {
        self.topics.push((name.to_owned(), partitions));
        self
    }

    /// The cluster, with empty logs.
    pub fn build(self) -> TestCluster {
        let brokers: BTreeMap<i32, Broker> = (1..=self.brokers as i32)
            .map(|id| {
                (
                    id,
                    Broker {
                        id,
                        host: format!("broker{id}.sim"),
                        port: 9090 + id,
                        profile: self.profile.clone(),
                        down: false,
                    },
                )
            })
            .collect();
        let n = self.brokers as i32;
        let topics = self
            .topics
            .iter()
            .enumerate()
            .map(|(i, (name, count))| {
                let mut id = [0u8; 16];
                id[0] = 0xAB;
                id[15] = i as u8 + 1;
                let partitions = (0..*count as i32)
                    .map(|p| Partition {
                        leader: 1 + p % n,
                        epoch: 0,
                        log: Vec::new(),
                        log_start: 0,
                        log_end: 0,
                        high_watermark: 0,
                    })
                    .collect();
                (name.clone(), Topic { id, partitions })
            })
            .collect();
        TestCluster {
            brokers,
            topics,
            start: Instant::now(),
            elapsed: Duration::ZERO,
            conns: BTreeMap::new(),
            links: BTreeMap::new(),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            rules: Vec::new(),
            latency: Duration::ZERO,
            request_timeout: Duration::from_secs(30),
            drain: true,
            requests: Vec::new(),
            connections_opened: Vec::new(),
            disconnects: Vec::new(),
            partition_errors: Vec::new(),
            received: Vec::new(),
            poll_sizes: Vec::new(),
            errors: Vec::new(),
            events: Vec::new(),
            groups: Groups::new(1),
            timeline: Vec::new(),
            ownership_conflicts: Vec::new(),
            lost_connections: Vec::new(),
            fetch_sessions: FetchSessions::default(),
            next_client: 1,
        }
    }
}

/// A connection or link of one client to one of its nodes.
type Endpoint = (usize, NodeId);

/// What one round drained from a consumer.
#[derive(Debug, Default)]
struct Drained {
    records: Vec<ConsumerRecord>,
    errors: Vec<ConsumerError>,
    events: Vec<Event>,
}

/// One more consumer of a multi-member scenario, with what it handed out. Several members
/// run against one [`TestCluster`] and its clock with [`TestCluster::drive_members`]; a
/// member left out of a call is an application that stopped polling (no heartbeats, no
/// requests, answers wait).
#[derive(Debug)]
pub struct Member {
    /// A name for messages.
    pub name: String,
    /// Its client number in [`SeenRequest::client`] (1, 2, ...).
    pub client: usize,
    /// The consumer.
    pub consumer: Consumer,
    /// Records drained, in order.
    pub received: Vec<ConsumerRecord>,
    /// Errors returned by `poll_records`.
    pub errors: Vec<ConsumerError>,
    /// Events drained.
    pub events: Vec<Event>,
    /// Whether a round polls (drains records and events, restarts max.poll.interval).
    pub polling: bool,
}

impl std::ops::Deref for Member {
    type Target = Consumer;
    fn deref(&self) -> &Consumer {
        &self.consumer
    }
}

impl std::ops::DerefMut for Member {
    fn deref_mut(&mut self) -> &mut Consumer {
        &mut self.consumer
    }
}

impl Member {
    /// The member id the coordinator gave it ("" when none).
    pub fn member_id(&self) -> String {
        self.consumer
            .group()
            .map(|g| g.generation().member_id.clone())
            .unwrap_or_default()
    }

    /// True when the member is stable in a generation and wants no rebalance.
    pub fn is_stable(&self) -> bool {
        self.consumer.group().is_some_and(|g| {
            g.state() == MemberState::Stable && !g.needs_rejoin() && g.coordinator().is_some()
        })
    }

    /// Its assigned partitions, sorted.
    pub fn owned(&self) -> Vec<TopicPartition> {
        let mut v = self.consumer.assignment();
        v.sort();
        v
    }

    /// Offsets received of `tp`, in order.
    pub fn offsets_of(&self, tp: &TopicPartition) -> Vec<i64> {
        self.received
            .iter()
            .filter(|r| *r.topic == tp.topic && r.partition == tp.partition)
            .map(|r| r.offset)
            .collect()
    }
}

/// The simulated cluster and network; see the module documentation.
#[derive(Debug)]
pub struct TestCluster {
    /// Brokers by id.
    pub brokers: BTreeMap<i32, Broker>,
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    start: Instant,
    elapsed: Duration,
    conns: BTreeMap<Endpoint, Connection>,
    links: BTreeMap<Endpoint, Link>,
    /// The first reconnect backoff; it doubles with each failure in a row.
    pub reconnect_backoff: Duration,
    /// The largest reconnect backoff.
    pub reconnect_backoff_max: Duration,
    rules: Vec<Rule>,
    /// Time every answer takes.
    pub latency: Duration,
    /// An unanswered request older than this closes its connection, as the network
    /// client does.
    pub request_timeout: Duration,
    /// Whether `step` drains records and events from the consumer.
    pub drain: bool,
    /// Every request received, in order.
    pub requests: Vec<SeenRequest>,
    /// Each connection opened: the consumer's node id and the API of its first request.
    pub connections_opened: Vec<(NodeId, ApiKey)>,
    /// Each lost connection: node id and the correlation ids failed with it.
    pub disconnects: Vec<(NodeId, Vec<i32>)>,
    /// Per-partition errors the brokers answered with, in order.
    pub partition_errors: Vec<PartitionError>,
    /// Records drained from the consumer, in the order returned.
    pub received: Vec<ConsumerRecord>,
    /// The size of each non-empty `poll_records` answer.
    pub poll_sizes: Vec<usize>,
    /// Errors returned by `poll_records`.
    pub errors: Vec<ConsumerError>,
    /// Events drained from the consumer.
    pub events: Vec<Event>,
    /// The group coordinator of every broker, and the groups' offsets.
    pub groups: Groups,
    /// Rebalance events of every client, in order: (time, client, event).
    pub timeline: Vec<(Duration, usize, Event)>,
    /// Moments two members driven together both had a partition assigned.
    pub ownership_conflicts: Vec<String>,
    /// Every lost connection (or failed attempt) of every client: (client, node).
    pub lost_connections: Vec<(usize, NodeId)>,
    /// The brokers' fetch sessions (off unless a scenario turns them on).
    pub fetch_sessions: FetchSessions,
    next_client: usize,
}

impl TestCluster {
    /// A builder: 3 brokers, modern profile, no topics.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            brokers: 3,
            profile: Profile::modern(),
            topics: Vec::new(),
        }
    }

    // ---- the consumer side ----

    /// A config builder bootstrapping from broker 1.
    pub fn config(&self) -> ConsumerConfigBuilder {
        let first = self.brokers.values().next().expect("a broker");
        ConsumerConfig::builder()
            .bootstrap_servers([first.address()])
            .client_id("sim".to_owned())
    }

    /// A consumer built from `config`.
    pub fn consumer(&self, config: ConsumerConfigBuilder) -> Consumer {
        Consumer::new(config.build().expect("valid config")).expect("consumer")
    }

    /// A member of `group` subscribed to `topic` that reads from the earliest offset and
    /// commits only when asked (auto-commit off).
    pub fn manual_commit_member(&self, group: &str, topic: &str) -> Consumer {
        let mut consumer = self.consumer(
            self.config()
                .group_id(group)
                .enable_auto_commit(false)
                .auto_offset_reset(consumer_core::config::AutoOffsetReset::Earliest),
        );
        consumer.subscribe([topic.to_owned()]).expect("subscribe");
        consumer
    }

    // ---- the clock ----

    /// The simulated now.
    pub fn now(&self) -> Instant {
        self.start + self.elapsed
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.elapsed += by;
    }

    fn advance_to(&mut self, at: Instant) {
        if at > self.now() {
            self.elapsed = at - self.start;
        }
    }

    // ---- logs and leadership ----

    fn partition(&self, tp: &TopicPartition) -> &Partition {
        self.topics
            .get(&tp.topic)
            .and_then(|t| t.partitions.get(tp.partition as usize))
            .unwrap_or_else(|| panic!("no partition {tp}"))
    }

    fn partition_mut(&mut self, tp: &TopicPartition) -> &mut Partition {
        self.topics
            .get_mut(&tp.topic)
            .and_then(|t| t.partitions.get_mut(tp.partition as usize))
            .unwrap_or_else(|| panic!("no partition {tp}"))
    }

    /// The state of `tp`.
    pub fn partition_state(&self, tp: &TopicPartition) -> &Partition {
        self.partition(tp)
    }

    /// Appends one batch of (key, value) records; offset `n` gets timestamp
    /// `BASE_TS + 1000 * n`. The high watermark follows. Returns the offsets written.
    pub fn append(&mut self, tp: &TopicPartition, kvs: &[(&str, &str)]) -> Range<i64> {
        let start = self.partition(tp).log_end;
        let records = kvs
            .iter()
            .enumerate()
            .map(|(i, (k, v))| {
                let offset = start + i as i64;
                Record {
                    offset,
                    timestamp: BASE_TS + 1000 * offset,
                    timestamp_type: TimestampType::CreateTime,
                    key: Some(Bytes::copy_from_slice(k.as_bytes())),
                    value: Some(Bytes::copy_from_slice(v.as_bytes())),
                    headers: Vec::new(),
                }
            })
            .collect();
        self.append_records(tp, records)
    }

    /// Appends `count` records in batches of `per_batch`, keyed `k{offset}` with value
    /// `{topic}-{partition}-{offset}`.
    pub fn fill(&mut self, tp: &TopicPartition, count: usize, per_batch: usize) -> Range<i64> {
        let start = self.partition(tp).log_end;
        let mut left = count;
        while left > 0 {
            let n = left.min(per_batch);
            let first = self.partition(tp).log_end;
            let kvs: Vec<(String, String)> = (first..first + n as i64)
                .map(|o| (format!("k{o}"), value_for(tp, o)))
                .collect();
            let refs: Vec<(&str, &str)> =
                kvs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            self.append(tp, &refs);
            left -= n;
        }
        start..start + count as i64
    }

    /// Appends records as given (offsets are reassigned from the log end).
    pub fn append_records(&mut self, tp: &TopicPartition, mut records: Vec<Record>) -> Range<i64> {
        let p = self.partition_mut(tp);
        let start = p.log_end;
        for (i, r) in records.iter_mut().enumerate() {
            r.offset = start + i as i64;
        }
        let end = start + records.len() as i64;
        if !records.is_empty() {
            p.log.push(LogBatch::new(p.epoch, records));
        }
        p.log_end = end;
        p.high_watermark = end;
        start..end
    }

    /// Sets the high watermark (records at or above it are invisible to consumers).
    pub fn set_high_watermark(&mut self, tp: &TopicPartition, hw: i64) {
        let p = self.partition_mut(tp);
        assert!(
            hw >= p.log_start && hw <= p.log_end,
            "hw {hw} outside the log"
        );
        p.high_watermark = hw;
    }

    /// Deletes records below `offset` (retention, DeleteRecords).
    pub fn advance_log_start(&mut self, tp: &TopicPartition, offset: i64) {
        let p = self.partition_mut(tp);
        let mut log = Vec::new();
        for b in p.log.drain(..) {
            if b.last_offset() < offset {
                continue;
            }
            if b.base_offset() >= offset {
                log.push(b);
            } else {
                let kept = b
                    .records
                    .into_iter()
                    .filter(|r| r.offset >= offset)
                    .collect();
                log.push(LogBatch::new(b.epoch, kept));
            }
        }
        p.log = log;
        p.log_start = offset;
        p.log_end = p.log_end.max(offset);
        p.high_watermark = p.high_watermark.max(offset);
    }

    /// Removes records at and above `offset` (an unclean leader election).
    pub fn truncate(&mut self, tp: &TopicPartition, offset: i64) {
        let p = self.partition_mut(tp);
        let mut log = Vec::new();
        for b in p.log.drain(..) {
            if b.base_offset() >= offset {
                continue;
            }
            if b.last_offset() < offset {
                log.push(b);
            } else {
                let kept = b
                    .records
                    .into_iter()
                    .filter(|r| r.offset < offset)
                    .collect();
                log.push(LogBatch::new(b.epoch, kept));
            }
        }
        p.log = log;
        p.log_end = offset.max(p.log_start);
        p.high_watermark = p.high_watermark.min(p.log_end);
    }

    /// Makes `to` the leader of `tp`, bumping its leader epoch.
    pub fn move_leader(&mut self, tp: &TopicPartition, to: i32) {
        assert!(self.brokers.contains_key(&to), "no broker {to}");
        let p = self.partition_mut(tp);
        p.leader = to;
        p.epoch += 1;
    }

    /// Refuses (or accepts again) connections to `broker`; going down cuts its connections.
    pub fn set_down(&mut self, consumer: &mut Consumer, broker: i32, down: bool) {
        self.brokers.get_mut(&broker).expect("broker").down = down;
        if down {
            self.cut(consumer, broker);
        }
    }

    /// Adds a topic (as if created by an admin); partition `p` is led by the `p`-th broker.
    pub fn create_topic(&mut self, name: &str, partitions: usize) {
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let mut id = [0u8; 16];
        id[0] = 0xCD;
        id[15] = self.topics.len() as u8 + 1;
        let partitions = (0..partitions)
            .map(|p| Partition {
                leader: ids[p % ids.len()],
                epoch: 0,
                log: Vec::new(),
                log_start: 0,
                log_end: 0,
                high_watermark: 0,
            })
            .collect();
        self.topics
            .insert(name.to_owned(), Topic { id, partitions });
    }

    /// Grows `name` to `partitions` partitions (as `kafka-topics --alter` does); new
    /// partition `p` is led by the `p`-th broker and starts empty. Clients see the new
    /// count with their next metadata.
    pub fn add_partitions(&mut self, name: &str, partitions: usize) {
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let topic = self.topics.get_mut(name).expect("topic");
        assert!(partitions > topic.partitions.len(), "topics only grow");
        for p in topic.partitions.len()..partitions {
            topic.partitions.push(Partition {
                leader: ids[p % ids.len()],
                epoch: 0,
                log: Vec::new(),
                log_start: 0,
                log_end: 0,
                high_watermark: 0,
            });
        }
    }

    // ---- scripted faults ----

    fn rule(
        &mut self,
        api: ApiKey,
        broker: Option<i32>,
        client: Option<usize>,
        action: Action,
        repeat: bool,
    ) {
        self.rules.push(Rule {
            api,
            broker,
            client,
            action,
            repeat,
        });
    }

    /// The next `api` request (to any broker) gets `action`.
    pub fn on_next(&mut self, api: ApiKey, action: Action) {
        self.rule(api, None, None, action, false);
    }

    /// The next `api` request to `broker` gets `action`.
    pub fn on_next_to(&mut self, broker: i32, api: ApiKey, action: Action) {
        self.rule(api, Some(broker), None, action, false);
    }

    /// The next `api` request of `client` gets `action`.
    pub fn on_next_from(&mut self, client: usize, api: ApiKey, action: Action) {
        self.rule(api, None, Some(client), action, false);
    }

    /// Every `api` request of `client` (any client: None) gets `action` until
    /// [`clear_rules`](Self::clear_rules).
    pub fn always(&mut self, client: Option<usize>, api: ApiKey, action: Action) {
        self.rule(api, None, client, action, true);
    }

    /// Forgets every scripted action not taken yet.
    pub fn clear_rules(&mut self) {
        self.rules.clear();
    }

    /// The next `api` request is answered with error `code`.
    pub fn inject_error(&mut self, api: ApiKey, code: ErrorCode) {
        self.on_next(api, Action::Error(code.code()));
    }

    /// The answer to the next `api` request is kept until [`release_held`](Self::release_held).
    pub fn hold_next(&mut self, api: ApiKey) {
        self.on_next(api, Action::Hold);
    }

    /// The next `api` request is never answered.
    pub fn drop_next(&mut self, api: ApiKey) {
        self.on_next(api, Action::Drop);
    }

    /// The answer to the next `api` request comes `by` later.
    pub fn delay_next(&mut self, api: ApiKey, by: Duration) {
        self.on_next(api, Action::Delay(by));
    }

    /// Answers held so far.
    pub fn held(&self) -> usize {
        self.conns
            .values()
            .flat_map(|c| c.pending.iter())
            .filter(|p| p.gate == Gate::Held)
            .count()
    }

    /// Lets every held answer go (at the current time).
    pub fn release_held(&mut self) {
        let now = self.now();
        for p in self.conns.values_mut().flat_map(|c| c.pending.iter_mut()) {
            if p.gate == Gate::Held {
                p.gate = Gate::At(now);
            }
        }
    }

    /// Closes every connection of the consumer to `broker`; their requests fail.
    pub fn cut(&mut self, consumer: &mut Consumer, broker: i32) {
        self.cut_client(0, consumer, broker);
    }

    /// Closes every connection of `member` to `broker`; their requests fail.
    pub fn cut_member(&mut self, member: &mut Member, broker: i32) {
        self.cut_client(member.client, &mut member.consumer, broker);
    }

    fn cut_client(&mut self, client: usize, consumer: &mut Consumer, broker: i32) {
        let nodes: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|((c, _), conn)| *c == client && conn.broker == broker)
            .map(|((_, n), _)| *n)
            .collect();
        for node in nodes {
            self.cut_endpoint(client, consumer, node);
        }
    }

    /// Closes the consumer's connection `node`; its requests fail.
    pub fn cut_node(&mut self, consumer: &mut Consumer, node: NodeId) {
        self.cut_endpoint(0, consumer, node);
    }

    /// Closes the consumer's connection to its group coordinator; true if there was one.
    pub fn cut_coordinator(&mut self, consumer: &mut Consumer) -> bool {
        self.cut_coordinator_of(0, consumer)
    }

    /// Closes `member`'s connection to its group coordinator; true if there was one.
    pub fn cut_member_coordinator(&mut self, member: &mut Member) -> bool {
        self.cut_coordinator_of(member.client, &mut member.consumer)
    }

    fn cut_coordinator_of(&mut self, client: usize, consumer: &mut Consumer) -> bool {
        let node = consumer.group().and_then(|g| g.coordinator()).map(|n| n.id);
        let Some(node) = node else {
            return false;
        };
        let open = self.conns.contains_key(&(client, node));
        self.cut_endpoint(client, consumer, node);
        open
    }

    fn cut_endpoint(&mut self, client: usize, consumer: &mut Consumer, node: NodeId) {
        let Some(conn) = self.conns.remove(&(client, node)) else {
            return;
        };
        let failed: Vec<i32> = conn.pending.iter().map(|p| p.correlation_id).collect();
        self.lost(client, consumer, node, failed);
    }

    /// The connection to `node` is gone (or could not be made): schedule the reconnect,
    /// fail `failed` and whatever waited for the connection.
    fn lost(&mut self, client: usize, consumer: &mut Consumer, node: NodeId, mut failed: Vec<i32>) {
        let now = self.now();
        let base = self.reconnect_backoff;
        let max = self.reconnect_backoff_max;
        let link = self.links.entry((client, node)).or_default();
        let delay = base
            .saturating_mul(2u32.saturating_pow(link.failures.min(16)))
            .min(max);
        link.failures += 1;
        link.retry_at = Some(now + delay);
        failed.extend(link.queued.drain(..).map(|t| t.correlation_id));
        if client == 0 {
            self.disconnects.push((node, failed.clone()));
        }
        self.lost_connections.push((client, node));
        consumer.handle_disconnect(node, now);
    }

    /// Attempts the connection `node`'s queued requests wait for, if its backoff is over.
    fn try_connect(&mut self, client: usize, consumer: &mut Consumer, node: NodeId) -> bool {
        let now = self.now();
        let key = (client, node);
        let Some(link) = self.links.get_mut(&key) else {
            return false;
        };
        if link.queued.is_empty() || link.retry_at.is_some_and(|t| t > now) {
            return false;
        }
        let address = link.queued[0].address.clone();
        let broker = self.broker_at(&address).filter(|b| !self.brokers[b].down);
        let Some(broker) = broker else {
            // Connection refused.
            self.lost(client, consumer, node, Vec::new());
            return true;
        };
        let link = self.links.get_mut(&key).expect("link");
        let queued = std::mem::take(&mut link.queued);
        link.failures = 0;
        self.conns.insert(
            key,
            Connection {
                broker,
                pending: VecDeque::new(),
            },
        );
        if client == 0 {
            self.connections_opened.push((node, queued[0].api_key));
        }
        for t in queued {
            if !self.conns.contains_key(&key) {
                // A scripted cut closed it again: the rest waits for the next connection.
                self.links.entry(key).or_default().queued.push(t);
                continue;
            }
            self.process(client, consumer, broker, t);
        }
        true
    }

    // ---- queries on what was seen ----

    /// The requests of `api`, in order.
    pub fn requests_of(&self, api: ApiKey) -> Vec<SeenRequest> {
        self.requests
            .iter()
            .filter(|r| r.api == api)
            .cloned()
            .collect()
    }

    /// Requests of `api` received so far.
    pub fn count(&self, api: ApiKey) -> usize {
        self.requests.iter().filter(|r| r.api == api).count()
    }

    /// Requests in flight (received, not answered yet).
    pub fn in_flight(&self) -> usize {
        self.conns.values().map(|c| c.pending.len()).sum()
    }

    /// Received records of `tp`, as (offset, key, value) strings.
    pub fn received_of(&self, tp: &TopicPartition) -> Vec<(i64, String, String)> {
        self.received
            .iter()
            .filter(|r| *r.topic == tp.topic && r.partition == tp.partition)
            .map(|r| (r.offset, text(&r.key), text(&r.value)))
            .collect()
    }

    /// Received offsets of `tp`, in order.
    pub fn offsets_of(&self, tp: &TopicPartition) -> Vec<i64> {
        self.received_of(tp).into_iter().map(|r| r.0).collect()
    }

    // ---- driving ----

    /// One round of the driver loop at the current time: hand the consumer the time, take
    /// its requests, deliver due answers, drain records and events. True if anything
    /// happened.
    pub fn step(&mut self, consumer: &mut Consumer) -> bool {
        let last_error = self.errors.last().cloned();
        let (progress, drained) = self.step_client(0, consumer, self.drain, last_error);
        if !drained.records.is_empty() {
            self.poll_sizes.push(drained.records.len());
        }
        self.received.extend(drained.records);
        self.errors.extend(drained.errors);
        self.events.extend(drained.events);
        progress
    }

    /// A new member of a multi-member scenario, with a consumer built from `config` and
    /// `name` as its client id (so the coordinator's member ids read "name-N").
    pub fn member(&mut self, name: &str, config: ConsumerConfigBuilder) -> Member {
        let client = self.next_client;
        self.next_client += 1;
        Member {
            name: name.to_owned(),
            client,
            consumer: self.consumer(config.client_id(name.to_owned())),
            received: Vec::new(),
            errors: Vec::new(),
            events: Vec::new(),
            polling: true,
        }
    }

    /// One round of `member`'s driver loop; see [`step`](Self::step).
    pub fn step_member(&mut self, member: &mut Member) -> bool {
        let last_error = member.errors.last().cloned();
        let (progress, drained) = self.step_client(
            member.client,
            &mut member.consumer,
            member.polling,
            last_error,
        );
        member.received.extend(drained.records);
        member.errors.extend(drained.errors);
        member.events.extend(drained.events);
        progress
    }

    /// One round for `client`. A polling round is what the application's `poll` does: it
    /// restarts max.poll.interval and drains records and events. The same error as the
    /// last one (a fatal error reported at every poll) is not progress.
    fn step_client(
        &mut self,
        client: usize,
        consumer: &mut Consumer,
        polling: bool,
        last_error: Option<ConsumerError>,
    ) -> (bool, Drained) {
        let now = self.now();
        self.groups.tick(now);
        consumer.handle_timeout(now);
        if polling {
            consumer.poll_started(now);
        }
        let mut progress = false;
        while let Some(t) = consumer.poll_transmit(now) {
            progress = true;
            self.receive(client, consumer, t);
        }
        let waiting: Vec<NodeId> = self
            .links
            .keys()
            .filter(|(c, _)| *c == client)
            .map(|(_, n)| *n)
            .collect();
        for node in waiting {
            progress |= self.try_connect(client, consumer, node);
        }
        progress |= self.expire_requests(client, consumer);
        progress |= self.deliver(client, consumer);
        let mut drained = Drained::default();
        if polling {
            match consumer.poll_records(consumer.config().max_poll_records) {
                Ok(records) if records.is_empty() => {}
                Ok(records) => {
                    progress = true;
                    drained.records = records;
                }
                Err(e) => {
                    progress |= last_error.as_ref() != Some(&e);
                    drained.errors.push(e);
                }
            }
            while let Some(e) = consumer.poll_event() {
                progress = true;
                if matches!(
                    e,
                    Event::PartitionsAssigned(_)
                        | Event::PartitionsRevoked(_)
                        | Event::PartitionsLost(_)
                ) {
                    self.timeline.push((self.elapsed, client, e.clone()));
                }
                drained.events.push(e);
            }
        }
        (progress, drained)
    }

    /// The next time something is due: the consumer's timeout, a delayed answer, the end
    /// of a long poll, a request timeout, a group's timer.
    pub fn next_deadline(&self, consumer: &Consumer) -> Option<Instant> {
        [
            consumer.poll_timeout(),
            self.net_deadline(0),
            self.groups.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next network event of `client`.
    fn net_deadline(&self, client: usize) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| {
            next = Some(next.map_or(t, |n| n.min(t)));
        };
        for (_, link) in self
            .links
            .iter()
            .filter(|((c, _), l)| *c == client && !l.queued.is_empty())
        {
            if let Some(t) = link.retry_at {
                consider(t);
            }
        }
        for (_, conn) in self.conns.iter().filter(|((c, _), _)| *c == client) {
            for p in &conn.pending {
                consider(p.sent_at + p.timeout);
            }
            // Answers go out in order: only the first one waits for a time of its own.
            let Some(p) = conn.pending.front() else {
                continue;
            };
            match (&p.gate, &p.reply) {
                (Gate::At(_), Reply::LongPoll { deadline, .. }) => consider(*deadline),
                (Gate::At(t), Reply::Frame(_)) => consider(*t),
                (Gate::At(t), Reply::Parked { ticket, .. }) if self.groups.has_answer(*ticket) => {
                    consider(*t)
                }
                _ => {}
            }
        }
        next
    }

    /// Runs the loop until `until` holds, jumping the clock when idle. Panics after
    /// `max_steps` rounds or when nothing is left to happen. Returns the rounds taken.
    pub fn drive(
        &mut self,
        consumer: &mut Consumer,
        until: impl Fn(&Consumer, &TestCluster) -> bool,
        max_steps: usize,
    ) -> usize {
        for steps in 0..max_steps {
            if until(consumer, self) {
                return steps;
            }
            if !self.step(consumer) {
                match self.next_deadline(consumer) {
                    Some(t) => self.jump(t),
                    None => {
                        if until(consumer, self) {
                            return steps;
                        }
                        panic!("stalled: nothing left to happen\n{}", self.summary());
                    }
                }
            }
        }
        if until(consumer, self) {
            return max_steps;
        }
        panic!("condition not met in {max_steps} steps\n{}", self.summary());
    }

    /// Runs the loop for `d` of simulated time.
    pub fn run_for(&mut self, consumer: &mut Consumer, d: Duration) {
        let end = self.now() + d;
        let mut guard = 0;
        while self.now() < end {
            guard += 1;
            assert!(guard < 100_000, "run_for spins\n{}", self.summary());
            if !self.step(consumer) {
                let t = self.next_deadline(consumer).map_or(end, |t| t.min(end));
                self.jump(t);
            }
        }
        // Whatever is due at the end too.
        while self.step(consumer) {
            guard += 1;
            assert!(guard < 100_000, "run_for spins\n{}", self.summary());
        }
    }

    /// One round of each of `members`, in order; after each, no partition may be assigned
    /// to two of them (a conflict is recorded in `ownership_conflicts`).
    fn step_members(&mut self, members: &mut [&mut Member]) -> bool {
        let mut progress = false;
        for i in 0..members.len() {
            progress |= self.step_member(members[i]);
            self.check_owners(members);
        }
        progress
    }

    fn check_owners(&mut self, members: &[&mut Member]) {
        let mut owner: BTreeMap<TopicPartition, &str> = BTreeMap::new();
        for m in members {
            for tp in m.consumer.assignment() {
                if let Some(other) = owner.insert(tp.clone(), &m.name) {
                    let msg = format!(
                        "t={:?}: {tp} assigned to both {other} and {}",
                        self.elapsed, m.name
                    );
                    if self.ownership_conflicts.last() != Some(&msg) {
                        self.ownership_conflicts.push(msg);
                    }
                }
            }
        }
    }

    fn members_deadline(&self, members: &[&mut Member]) -> Option<Instant> {
        members
            .iter()
            .flat_map(|m| [m.consumer.poll_timeout(), self.net_deadline(m.client)])
            .chain([self.groups.next_deadline()])
            .flatten()
            .min()
    }

    /// Runs every member's loop, round-robin, until `until` holds, jumping the shared clock
    /// when all are idle. Panics after `max_steps` rounds or when nothing is left to happen.
    pub fn drive_members(
        &mut self,
        members: &mut [&mut Member],
        until: impl Fn(&[&mut Member], &TestCluster) -> bool,
        max_steps: usize,
    ) -> usize {
        for steps in 0..max_steps {
            if until(members, self) {
                return steps;
            }
            if !self.step_members(members) {
                match self.members_deadline(members) {
                    Some(t) => self.jump(t),
                    None => {
                        if until(members, self) {
                            return steps;
                        }
                        panic!(
                            "stalled: nothing left to happen\n{}",
                            self.members_summary(members)
                        );
                    }
                }
            }
        }
        if until(members, self) {
            return max_steps;
        }
        panic!(
            "condition not met in {max_steps} steps\n{}",
            self.members_summary(members)
        );
    }

    /// Runs every member's loop for `d` of simulated time.
    pub fn run_members_for(&mut self, members: &mut [&mut Member], d: Duration) {
        let end = self.now() + d;
        let mut guard = 0;
        while self.now() < end {
            guard += 1;
            assert!(
                guard < 100_000,
                "run_members_for spins\n{}",
                self.members_summary(members)
            );
            if !self.step_members(members) {
                let t = self.members_deadline(members).map_or(end, |t| t.min(end));
                self.jump(t);
            }
        }
        while self.step_members(members) {
            guard += 1;
            assert!(
                guard < 100_000,
                "run_members_for spins\n{}",
                self.members_summary(members)
            );
        }
    }

    /// Runs `members` until all of them are stable in the current generation of `group`,
    /// and the group too.
    pub fn settle(&mut self, members: &mut [&mut Member], group: &str, max_steps: usize) {
        let group = group.to_owned();
        self.drive_members(
            members,
            |ms, c| {
                let Some(g) = c.groups.group(&group) else {
                    return false;
                };
                g.state == GroupState::Stable
                    && g.members.len() == ms.len()
                    && ms.iter().all(|m| {
                        m.is_stable()
                            && m.group()
                                .is_some_and(|x| x.generation().generation_id == g.generation)
                    })
            },
            max_steps,
        );
    }

    fn jump(&mut self, t: Instant) {
        // A deadline in the past that produced nothing would loop forever: nudge time.
        let t = t.max(self.now() + Duration::from_millis(1));
        self.advance_to(t);
    }

    /// What the cluster saw, for failure messages.
    pub fn summary(&self) -> String {
        let mut s = format!("t={:?}\n", self.elapsed);
        for r in self.requests.iter().rev().take(30).rev() {
            let _ = writeln!(
                s,
                "  {:>8?} c{} node {} (broker {}) #{} {} v{} {:?} {:?} {} {}",
                r.at,
                r.client,
                r.node,
                r.broker,
                r.correlation_id,
                r.api,
                r.version,
                r.partitions,
                r.topics,
                r.member_id,
                r.generation
            );
        }
        let _ = writeln!(
            s,
            "received {} records, {} errors (first: {:?}), in flight {}",
            self.received.len(),
            self.errors.len(),
            self.errors.first(),
            self.in_flight()
        );
        for l in self.groups.log.iter().rev().take(15).rev() {
            let _ = writeln!(s, "  group: {l}");
        }
        s
    }

    /// [`summary`](Self::summary) with each member's state.
    pub fn members_summary(&self, members: &[&mut Member]) -> String {
        let mut s = self.summary();
        for m in members {
            let g = m.group();
            let _ = writeln!(
                s,
                "member {} (c{}): {:?} gen {:?} owns {:?}, errors {:?}",
                m.name,
                m.client,
                g.map(|g| g.state()),
                g.map(|g| g.generation().clone()),
                m.owned(),
                m.errors
            );
        }
        s
    }

    // ---- the brokers ----

    fn broker_at(&self, address: &str) -> Option<i32> {
        self.brokers
            .values()
            .find(|b| b.address() == address)
            .map(|b| b.id)
    }

    fn take_rule(&mut self, api: ApiKey, broker: i32, client: usize) -> Option<Action> {
        let i = self.rules.iter().position(|r| {
            r.api == api
                && r.broker.is_none_or(|b| b == broker)
                && r.client.is_none_or(|c| c == client)
        })?;
        if self.rules[i].repeat {
            return Some(self.rules[i].action);
        }
        Some(self.rules.remove(i).action)
    }

    fn receive(&mut self, client: usize, consumer: &mut Consumer, t: Transmit) {
        let size = i32::from_be_bytes(t.frame[..4].try_into().expect("size prefix"));
        assert_eq!(size as usize, t.frame.len() - 4, "size prefix of {t:?}");
        let frame = t.frame.slice(4..);
        let header = RequestHeader::decode(&mut Reader::new(frame.clone())).expect("header");
        assert_eq!(header.api_key, t.api_key as i16);
        assert_eq!(header.api_version, t.api_version);
        assert_eq!(header.correlation_id, t.correlation_id);

        match self.conns.get(&(client, t.node)) {
            Some(conn) => {
                let broker = conn.broker;
                self.process(client, consumer, broker, t);
            }
            None => {
                let node = t.node;
                self.links.entry((client, node)).or_default().queued.push(t);
                self.try_connect(client, consumer, node);
            }
        }
    }

    /// A broker handles one request on an open connection.
    fn process(&mut self, client: usize, consumer: &mut Consumer, broker: i32, t: Transmit) {
        let now = self.now();
        let frame = t.frame.slice(4..);
        let profile = &self.brokers[&broker].profile;
        let advertised = profile.range(t.api_key);
        let api_versions_probe = t.api_key == ApiKey::ApiVersions;
        assert!(
            api_versions_probe || advertised.is_some_and(|(a, b)| (a..=b).contains(&t.api_version)),
            "client sent {} v{} to broker {broker}, which advertises {advertised:?}",
            t.api_key,
            t.api_version
        );
        let action = self.take_rule(t.api_key, broker, client);
        let error = match action {
            Some(Action::Error(code)) => Some(code),
            _ => None,
        };
        let mut seen = SeenRequest {
            at: self.elapsed,
            client,
            node: t.node,
            broker,
            correlation_id: t.correlation_id,
            api: t.api_key,
            version: t.api_version,
            partitions: Vec::new(),
            topics: None,
            group: String::new(),
            member_id: String::new(),
            generation: -1,
        };
        let corr = t.correlation_id;
        let v = t.api_version;
        let reply = match t.api_key {
            ApiKey::ApiVersions => {
                let (_, _req) = decode::<ApiVersionsRequest>(frame);
                Reply::Frame(encode::<ApiVersionsRequest>(
                    corr,
                    v,
                    &self.api_versions(broker, v, error),
                ))
            }
            ApiKey::Metadata => {
                let (_, req) = decode::<MetadataRequest>(frame);
                seen.topics = req
                    .topics
                    .as_ref()
                    .filter(|t| v > 0 || !t.is_empty())
                    .map(|t| t.iter().filter_map(|t| t.name.clone()).collect());
                let resp = self.metadata(v, seen.topics.as_deref(), error);
                Reply::Frame(encode::<MetadataRequest>(corr, v, &resp))
            }
            ApiKey::ListOffsets => {
                let (_, req) = decode::<ListOffsetsRequest>(frame);
                seen.partitions = req
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (tp(&t.name, p.partition_index), p.timestamp))
                    })
                    .collect();
                let resp = self.list_offsets(broker, &req, error);
                for t in &resp.topics {
                    for p in t.partitions.iter().filter(|p| p.error_code != 0) {
                        self.partition_errors.push(PartitionError {
                            at: self.elapsed,
                            broker,
                            api: ApiKey::ListOffsets,
                            tp: tp(&t.name, p.partition_index),
                            code: ErrorCode::from_i16(p.error_code),
                        });
                    }
                }
                Reply::Frame(encode::<ListOffsetsRequest>(corr, v, &resp))
            }
            ApiKey::Fetch => {
                let (_, wire) = decode::<FetchRequest>(frame);
                seen.partitions = wire
                    .topics
                    .iter()
                    .flat_map(|t| {
                        let name = self.topic_name(v, &t.topic, &t.topic_id);
                        t.partitions
                            .iter()
                            .map(move |p| (tp(&name, p.partition), p.fetch_offset))
                    })
                    .collect();
                match self.fetch_sessions.receive(broker, v, &wire, &self.topics) {
                    Err(resp) => Reply::Frame(encode::<FetchRequest>(corr, v, &resp)),
                    Ok((req, session)) => {
                        let (resp, ready) = self.fetch(broker, v, &req, error);
                        let resp = session.finish(resp);
                        if ready || req.max_wait_ms <= 0 || action.is_some() {
                            self.note_fetch_errors(broker, v, &resp);
                            Reply::Frame(encode::<FetchRequest>(corr, v, &resp))
                        } else {
                            let wait = Duration::from_millis(req.max_wait_ms as u64);
                            Reply::LongPoll {
                                req,
                                version: v,
                                deadline: now + self.latency + wait,
                                session,
                            }
                        }
                    }
                }
            }
            api if is_group_api(api) => {
                // The coordinator never sees a request lost on the way.
                let lost = action == Some(Action::Drop);
                self.group_request(broker, v, corr, frame, error, lost, &mut seen)
            }
            other => panic!("the simulated broker does not answer {other}"),
        };
        self.requests.push(seen);
        let gate = match action {
            Some(Action::Hold) => Gate::Held,
            Some(Action::Drop) => Gate::Dropped,
            Some(Action::Delay(d)) => Gate::At(now + self.latency + d),
            _ => Gate::At(now + self.latency),
        };
        let conn = self.conns.get_mut(&(client, t.node)).expect("connection");
        conn.pending.push_back(Pending {
            correlation_id: corr,
            api: t.api_key,
            sent_at: now,
            timeout: t.timeout.unwrap_or(self.request_timeout),
            gate,
            reply,
        });
        if action == Some(Action::Cut) {
            self.cut_endpoint(client, consumer, t.node);
        }
    }

    /// Closes connections whose oldest unanswered request is older than its timeout.
    fn expire_requests(&mut self, client: usize, consumer: &mut Consumer) -> bool {
        let now = self.now();
        let expired: Vec<NodeId> = self
            .conns
            .iter()
            .filter(|((c, _), conn)| {
                *c == client && conn.pending.iter().any(|p| p.sent_at + p.timeout <= now)
            })
            .map(|((_, n), _)| *n)
            .collect();
        for node in &expired {
            self.cut_endpoint(client, consumer, *node);
        }
        !expired.is_empty()
    }

    fn note_fetch_errors(&mut self, broker: i32, version: i16, resp: &FetchResponse) {
        for t in &resp.responses {
            let name = self.topic_name(version, &t.topic, &t.topic_id);
            for p in t.partitions.iter().filter(|p| p.error_code != 0) {
                self.partition_errors.push(PartitionError {
                    at: self.elapsed,
                    broker,
                    api: ApiKey::Fetch,
                    tp: tp(&name, p.partition_index),
                    code: ErrorCode::from_i16(p.error_code),
                });
            }
        }
    }

    /// Delivers due answers, in order on each connection.
    fn deliver(&mut self, client: usize, consumer: &mut Consumer) -> bool {
        let now = self.now();
        let mut progress = false;
        let nodes: Vec<NodeId> = self
            .conns
            .keys()
            .filter(|(c, _)| *c == client)
            .map(|(_, n)| *n)
            .collect();
        for node in nodes {
            while let Some(conn) = self.conns.get(&(client, node)) {
                let broker = conn.broker;
                let Some(head) = conn.pending.front() else {
                    break;
                };
                let Gate::At(at) = head.gate else {
                    break;
                };
                if at > now {
                    break;
                }
                let frame = match &head.reply {
                    Reply::Frame(f) => f.clone(),
                    Reply::LongPoll {
                        req,
                        version,
                        deadline,
                        session,
                    } => {
                        let (resp, ready) = self.fetch(broker, *version, req, None);
                        let resp = session.finish(resp);
                        if !ready && *deadline > now {
                            break;
                        }
                        let (corr, version) = (head.correlation_id, *version);
                        self.note_fetch_errors(broker, version, &resp);
                        encode::<FetchRequest>(corr, version, &resp)
                    }
                    Reply::Parked { version, ticket } => {
                        let (corr, version, ticket) = (head.correlation_id, *version, *ticket);
                        match self.groups.take_answer(ticket) {
                            None => break,
                            Some(Answer::Join(r)) => encode::<JoinGroupRequest>(corr, version, &r),
                            Some(Answer::Sync(r)) => encode::<SyncGroupRequest>(corr, version, &r),
                        }
                    }
                };
                let conn = self.conns.get_mut(&(client, node)).expect("connection");
                let p = conn.pending.pop_front().expect("head");
                progress = true;
                consumer.handle_response(node, p.correlation_id, frame, now);
            }
        }
        progress
    }

    /// A group API request: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
    /// OffsetCommit, OffsetFetch. `error` is an injected answer; `lost` requests never
    /// reach the coordinator.
    #[allow(clippy::too_many_arguments)]
    fn group_request(
        &mut self,
        broker: i32,
        v: i16,
        corr: i32,
        frame: Bytes,
        error: Option<i16>,
        lost: bool,
        seen: &mut SeenRequest,
    ) -> Reply {
        let now = self.now();
        let api = seen.api;
        let injected = error.map(ErrorCode::from_i16);
        let skip = injected.is_some() || lost;
        match api {
            ApiKey::FindCoordinator => {
                let (_, req) = decode::<FindCoordinatorRequest>(frame);
                let keys = if v >= 4 {
                    req.coordinator_keys.clone()
                } else {
                    vec![req.key.clone()]
                };
                seen.group = keys.first().cloned().unwrap_or_default();
                let answers: Vec<Coordinator> = keys
                    .into_iter()
                    .map(|key| {
                        let id = self.groups.coordinator_of(&key);
                        let b = &self.brokers[&id];
                        let code = injected.unwrap_or(if b.down {
                            ErrorCode::CoordinatorNotAvailable
                        } else {
                            ErrorCode::None
                        });
                        if code != ErrorCode::None {
                            return Coordinator {
                                key,
                                node_id: -1,
                                error_code: code.code(),
                                ..Coordinator::default()
                            };
                        }
                        Coordinator {
                            key,
                            node_id: id,
                            host: b.host.clone(),
                            port: b.port,
                            error_code: 0,
                            error_message: None,
                        }
                    })
                    .collect();
                let resp = if v >= 4 {
                    FindCoordinatorResponse {
                        coordinators: answers,
                        ..FindCoordinatorResponse::default()
                    }
                } else {
                    let c = answers.into_iter().next().unwrap_or_default();
                    FindCoordinatorResponse {
                        error_code: c.error_code,
                        node_id: c.node_id,
                        host: c.host,
                        port: c.port,
                        ..FindCoordinatorResponse::default()
                    }
                };
                Reply::Frame(encode::<FindCoordinatorRequest>(corr, v, &resp))
            }
            ApiKey::JoinGroup => {
                let (header, req) = decode::<JoinGroupRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                if skip {
                    let code = injected.unwrap_or(ErrorCode::None);
                    let resp = group::join_error_answer(code, &req.member_id, v);
                    return Reply::Frame(encode::<JoinGroupRequest>(corr, v, &resp));
                }
                let client_id = header.client_id.unwrap_or_default();
                match self.groups.join(now, broker, &client_id, v, &req) {
                    Outcome::Now(resp) => Reply::Frame(encode::<JoinGroupRequest>(corr, v, &resp)),
                    Outcome::Parked(ticket) => Reply::Parked { version: v, ticket },
                }
            }
            ApiKey::SyncGroup => {
                let (_, req) = decode::<SyncGroupRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                seen.generation = req.generation_id;
                if skip {
                    let code = injected.unwrap_or(ErrorCode::None);
                    let resp = group::sync_error_answer(code);
                    return Reply::Frame(encode::<SyncGroupRequest>(corr, v, &resp));
                }
                match self.groups.sync(now, broker, &req) {
                    Outcome::Now(resp) => Reply::Frame(encode::<SyncGroupRequest>(corr, v, &resp)),
                    Outcome::Parked(ticket) => Reply::Parked { version: v, ticket },
                }
            }
            ApiKey::Heartbeat => {
                let (_, req) = decode::<HeartbeatRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                seen.generation = req.generation_id;
                let resp = match (skip, injected) {
                    (true, code) => HeartbeatResponse {
                        error_code: code.unwrap_or(ErrorCode::None).code(),
                        ..HeartbeatResponse::default()
                    },
                    (false, _) => self.groups.heartbeat(now, broker, &req),
                };
                Reply::Frame(encode::<HeartbeatRequest>(corr, v, &resp))
            }
            ApiKey::LeaveGroup => {
                let (_, req) = decode::<LeaveGroupRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = if v <= 2 {
                    req.member_id.clone()
                } else {
                    req.members
                        .first()
                        .map(|m| m.member_id.clone())
                        .unwrap_or_default()
                };
                let resp = match (skip, injected) {
                    (true, code) => LeaveGroupResponse {
                        error_code: code.unwrap_or(ErrorCode::None).code(),
                        ..LeaveGroupResponse::default()
                    },
                    (false, _) => self.groups.leave(now, broker, v, &req),
                };
                Reply::Frame(encode::<LeaveGroupRequest>(corr, v, &resp))
            }
            ApiKey::OffsetCommit => {
                let (_, req) = decode::<OffsetCommitRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                seen.generation = req.generation_id_or_member_epoch;
                seen.partitions = req
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (tp(&t.name, p.partition_index), p.committed_offset))
                    })
                    .collect();
                let resp = match (skip, injected) {
                    (true, code) => group::commit_answer(&req, code.unwrap_or(ErrorCode::None)),
                    (false, _) => self.groups.commit(now, broker, v, &req),
                };
                Reply::Frame(encode::<OffsetCommitRequest>(corr, v, &resp))
            }
            ApiKey::OffsetFetch => {
                let (_, req) = decode::<OffsetFetchRequest>(frame);
                let (group, topics) = if v >= 8 {
                    let g = req.groups.first().cloned().unwrap_or_default();
                    (g.group_id, g.topics)
                } else {
                    (req.group_id.clone(), req.topics.clone())
                };
                seen.group = group.clone();
                seen.partitions = topics
                    .iter()
                    .flatten()
                    .flat_map(|t| t.partition_indexes.iter().map(|p| (tp(&t.name, *p), -1)))
                    .collect();
                let resp = match injected {
                    // v0–1 have no group-level error: every partition carries it.
                    Some(code) if v < 2 => {
                        let topics = topics
                            .iter()
                            .flatten()
                            .map(|t| OffsetFetchResponseTopic {
                                name: t.name.clone(),
                                partitions: t
                                    .partition_indexes
                                    .iter()
                                    .map(|p| OffsetFetchResponsePartition {
                                        partition_index: *p,
                                        committed_offset: -1,
                                        metadata: Some(String::new()),
                                        error_code: code.code(),
                                        ..OffsetFetchResponsePartition::default()
                                    })
                                    .collect(),
                                ..OffsetFetchResponseTopic::default()
                            })
                            .collect();
                        group::offset_fetch_answer(v, &group, topics, 0)
                    }
                    Some(code) => group::offset_fetch_answer(v, &group, Vec::new(), code.code()),
                    None => self.groups.fetch_offsets(broker, v, &req),
                };
                Reply::Frame(encode::<OffsetFetchRequest>(corr, v, &resp))
            }
            other => unreachable!("{other} is not a group API"),
        }
    }

    fn api_versions(&self, broker: i32, version: i16, error: Option<i16>) -> ApiVersionsResponse {
        let profile = &self.brokers[&broker].profile;
        let (min, max) = profile.range(ApiKey::ApiVersions).unwrap_or((0, 0));
        if version > max || version < min {
            // KIP-511: too new; say which ApiVersions versions we speak, in a v0 body.
            return ApiVersionsResponse {
                error_code: UNSUPPORTED_VERSION,
                api_keys: vec![ApiVersion {
                    api_key: ApiKey::ApiVersions as i16,
                    min_version: min,
                    max_version: max,
                }],
                ..ApiVersionsResponse::default()
            };
        }
        if let Some(code) = error {
            return ApiVersionsResponse {
                error_code: code,
                ..ApiVersionsResponse::default()
            };
        }
        ApiVersionsResponse {
            api_keys: profile
                .apis
                .iter()
                .map(|&(api_key, min_version, max_version)| ApiVersion {
                    api_key,
                    min_version,
                    max_version,
                })
                .collect(),
            ..ApiVersionsResponse::default()
        }
    }

    fn metadata(
        &self,
        version: i16,
        topics: Option<&[String]>,
        error: Option<i16>,
    ) -> MetadataResponse {
        let names: Vec<String> = match topics {
            Some(t) => t.to_vec(),
            None => self.topics.keys().cloned().collect(),
        };
        let topics = names
            .into_iter()
            .map(|name| match self.topics.get(&name) {
                None => MetadataResponseTopic {
                    error_code: ErrorCode::UnknownTopicOrPartition.code(),
                    name: Some(name),
                    ..MetadataResponseTopic::default()
                },
                Some(t) => MetadataResponseTopic {
                    error_code: error.unwrap_or(0),
                    name: Some(name),
                    topic_id: if version >= 10 { t.id } else { [0; 16] },
                    partitions: t
                        .partitions
                        .iter()
                        .enumerate()
                        .map(|(i, p)| MetadataResponsePartition {
                            partition_index: i as i32,
                            leader_id: p.leader,
                            leader_epoch: if version >= 7 { p.epoch } else { -1 },
                            replica_nodes: vec![p.leader],
                            isr_nodes: vec![p.leader],
                            ..MetadataResponsePartition::default()
                        })
                        .collect(),
                    ..MetadataResponseTopic::default()
                },
            })
            .collect();
        MetadataResponse {
            brokers: self
                .brokers
                .values()
                .map(|b| MetadataResponseBroker {
                    node_id: b.id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: None,
                })
                .collect(),
            cluster_id: (version >= 2).then(|| "sim-cluster".to_owned()),
            controller_id: if version >= 1 { 1 } else { -1 },
            topics,
            ..MetadataResponse::default()
        }
    }

    /// Leadership and fencing checks shared by Fetch and ListOffsets.
    fn check_leader(
        &self,
        broker: i32,
        topic: &str,
        partition: i32,
        epoch: i32,
    ) -> Result<&Partition, ErrorCode> {
        let p = self
            .topics
            .get(topic)
            .and_then(|t| t.partitions.get(usize::try_from(partition).ok()?))
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if p.leader != broker {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        if epoch >= 0 && epoch > p.epoch {
            return Err(ErrorCode::UnknownLeaderEpoch);
        }
        if epoch >= 0 && epoch < p.epoch {
            return Err(ErrorCode::FencedLeaderEpoch);
        }
        Ok(p)
    }

    fn list_offsets(
        &self,
        broker: i32,
        req: &ListOffsetsRequest,
        error: Option<i16>,
    ) -> ListOffsetsResponse {
        let topics = req
            .topics
            .iter()
            .map(|t| ListOffsetsTopicResponse {
                name: t.name.clone(),
                partitions: t
                    .partitions
                    .iter()
                    .map(|rp| {
                        let mut out = ListOffsetsPartitionResponse {
                            partition_index: rp.partition_index,
                            ..ListOffsetsPartitionResponse::default()
                        };
                        if let Some(code) = error {
                            out.error_code = code;
                            return out;
                        }
                        let p = match self.check_leader(
                            broker,
                            &t.name,
                            rp.partition_index,
                            rp.current_leader_epoch,
                        ) {
                            Ok(p) => p,
                            Err(code) => {
                                out.error_code = code.code();
                                return out;
                            }
                        };
                        out.leader_epoch = p.epoch;
                        match rp.timestamp {
                            -2 => out.offset = p.log_start,
                            -1 => out.offset = p.high_watermark,
                            ts => {
                                if let Some(r) = p
                                    .records()
                                    .find(|r| r.timestamp >= ts && r.offset < p.high_watermark)
                                {
                                    out.offset = r.offset;
                                    out.timestamp = r.timestamp;
                                }
                            }
                        }
                        out
                    })
                    .collect(),
            })
            .collect();
        ListOffsetsResponse {
            topics,
            ..ListOffsetsResponse::default()
        }
    }

    fn topic_name(&self, version: i16, name: &str, id: &[u8; 16]) -> String {
        if version >= 13 {
            self.topics
                .iter()
                .find(|(_, t)| &t.id == id)
                .map_or_else(|| "<unknown id>".to_owned(), |(n, _)| n.clone())
        } else {
            name.to_owned()
        }
    }

    /// The answer to a fetch, and whether it should go out now (data or an error).
    fn fetch(
        &self,
        broker: i32,
        version: i16,
        req: &FetchRequest,
        error: Option<i16>,
    ) -> (FetchResponse, bool) {
        let mut ready = false;
        let mut budget = i64::from(req.max_bytes);
        let mut any_bytes = false;
        let mut responses = Vec::new();
        for t in &req.topics {
            let name = self.topic_name(version, &t.topic, &t.topic_id);
            let mut partitions = Vec::new();
            for rp in &t.partitions {
                let mut out = PartitionData {
                    partition_index: rp.partition,
                    high_watermark: -1,
                    aborted_transactions: (req.isolation_level == 1).then(Vec::new),
                    records: Some(Bytes::new()),
                    ..PartitionData::default()
                };
                if let Some(code) = error {
                    out.error_code = code;
                    ready = true;
                    partitions.push(out);
                    continue;
                }
                let unknown_id = version >= 13 && !self.topics.values().any(|x| x.id == t.topic_id);
                let p = if unknown_id {
                    Err(ErrorCode::UnknownTopicId)
                } else {
                    self.check_leader(broker, &name, rp.partition, rp.current_leader_epoch)
                };
                let p = match p {
                    Ok(p) => p,
                    Err(code) => {
                        out.error_code = code.code();
                        ready = true;
                        partitions.push(out);
                        continue;
                    }
                };
                out.high_watermark = p.high_watermark;
                out.last_stable_offset = p.high_watermark;
                out.log_start_offset = p.log_start;
                if rp.fetch_offset < p.log_start || rp.fetch_offset > p.high_watermark {
                    out.error_code = ErrorCode::OffsetOutOfRange.code();
                    ready = true;
                    partitions.push(out);
                    continue;
                }
                let mut buf = BytesMut::new();
                for b in &p.log {
                    if b.last_offset() < rp.fetch_offset || b.last_offset() >= p.high_watermark {
                        continue;
                    }
                    let size = b.bytes.len() as i64;
                    // The first batch always goes out (KIP-74), later ones within limits.
                    let first = !any_bytes;
                    let fits = buf.len() as i64 + size <= i64::from(rp.partition_max_bytes)
                        && size <= budget;
                    if !first && !fits {
                        break;
                    }
                    buf.extend_from_slice(&b.bytes);
                    budget -= size;
                    any_bytes = true;
                }
                if !buf.is_empty() {
                    ready = true;
                }
                out.records = Some(buf.freeze());
                partitions.push(out);
            }
            responses.push(FetchableTopicResponse {
                topic: if version >= 13 { String::new() } else { name },
                topic_id: if version >= 13 { t.topic_id } else { [0; 16] },
                partitions,
            });
        }
        (
            FetchResponse {
                responses,
                ..FetchResponse::default()
            },
            ready,
        )
    }
}

fn is_group_api(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
    )
}

fn decode<R: Request>(frame: Bytes) -> (RequestHeader, R) {
    decode_request_frame::<R>(frame).unwrap_or_else(|e| panic!("{} request: {e}", R::API_KEY))
}

/// Encodes an answer and strips the size prefix, as the network layer does.
fn encode<R: Request>(corr: i32, version: i16, body: &R::Response) -> Bytes {
    let frame = encode_response_frame::<R>(corr, version, body)
        .unwrap_or_else(|e| panic!("{} v{version} response: {e}", R::API_KEY));
    frame.slice(4..)
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

/// Bytes as text ("<null>" for none).
pub fn text(b: &Option<Bytes>) -> String {
    match b {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "<null>".to_owned(),
    }
}
