//! The cluster's state: brokers and the versions they advertise, topics, partition logs
//! and leadership, and the builder.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::codec::ApiKey;
use crate::consumer::NodeId;
use crate::event::{ConsumerError, ConsumerRecord, Event};
use crate::record::{BatchBuilder, Record, TimestampType};
use crate::topic_partition::TopicPartition;

use super::faults::Rule;
use super::leader_epochs::EpochHistory;
use super::network::{Connection, Endpoint, Link, NetEvent};
use super::replicas::Replicas;
use super::transactions::PartitionTransactions;
use super::{
    value_for, Authentication, FetchSessions, Groups, PartitionError, SaslServer, SeenRequest,
    BASE_TS,
};

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
    /// When set, a SASL listener: connections authenticate before anything else.
    pub sasl: Option<SaslServer>,
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
        Self::built(&builder, records)
    }

    /// `records` encoded by `builder`, at its partition leader epoch.
    pub(super) fn built(builder: &BatchBuilder, records: Vec<Record>) -> Self {
        let bytes = builder.build(&records).expect("test batch encodes");
        Self {
            epoch: builder.partition_leader_epoch,
            records,
            bytes,
        }
    }

    pub(super) fn base_offset(&self) -> i64 {
        self.records.first().map_or(0, |r| r.offset)
    }

    pub(super) fn last_offset(&self) -> i64 {
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
    /// Open and aborted transactions (see the `transactions` module).
    pub transactions: PartitionTransactions,
}

impl Partition {
    /// An empty partition led by `leader`, at epoch 0.
    fn empty(leader: i32) -> Self {
        Self {
            leader,
            epoch: 0,
            log: Vec::new(),
            log_start: 0,
            log_end: 0,
            high_watermark: 0,
            transactions: PartitionTransactions::default(),
        }
    }

    pub(super) fn records(&self) -> impl Iterator<Item = &Record> {
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

/// Builds a [`TestCluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    brokers: usize,
    profile: Profile,
    topics: Vec<(String, usize)>,
    sasl: Option<SaslServer>,
}

impl ClusterBuilder {
    /// Every broker is a SASL listener requiring `server`'s mechanisms and credentials.
    pub fn sasl(mut self, server: SaslServer) -> Self {
        self.sasl = Some(server);
        self
    }

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
                        sasl: self.sasl.clone(),
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
                    .map(|p| Partition::empty(1 + p % n))
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
            outbox: BTreeMap::new(),
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
            replicas: Replicas::default(),
            authentications: Vec::new(),
            sasl_violations: Vec::new(),
            scram_serial: 0,
            next_client: 1,
            epoch_history: EpochHistory::default(),
        }
    }
}

/// The simulated cluster and network; see the module documentation.
#[derive(Debug)]
pub struct TestCluster {
    /// Brokers by id.
    pub brokers: BTreeMap<i32, Broker>,
    /// Topics by name.
    pub topics: BTreeMap<String, Topic>,
    pub(super) start: Instant,
    pub(super) elapsed: Duration,
    pub(super) conns: BTreeMap<Endpoint, Connection>,
    pub(super) links: BTreeMap<Endpoint, Link>,
    /// What the network handed each client and the client did not take yet.
    pub(super) outbox: BTreeMap<usize, VecDeque<NetEvent>>,
    /// The first reconnect backoff; it doubles with each failure in a row.
    pub reconnect_backoff: Duration,
    /// The largest reconnect backoff.
    pub reconnect_backoff_max: Duration,
    pub(super) rules: Vec<Rule>,
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
    /// Followers and racks (KIP-392; none unless a scenario adds them).
    pub replicas: Replicas,
    /// Every SASL authentication the brokers saw through, in order.
    pub authentications: Vec<Authentication>,
    /// Requests a SASL listener received before the connection authenticated, or after
    /// its session ended: each closed its connection, as Kafka does.
    pub sasl_violations: Vec<String>,
    pub(super) scram_serial: u64,
    pub(super) next_client: usize,
    /// Each partition's leader-epoch history (KIP-320).
    pub(super) epoch_history: EpochHistory,
}

impl TestCluster {
    /// A builder: 3 brokers, modern profile, no topics.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            brokers: 3,
            profile: Profile::modern(),
            topics: Vec::new(),
            sasl: None,
        }
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

    pub(super) fn advance_to(&mut self, at: Instant) {
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

    pub(super) fn partition_mut(&mut self, tp: &TopicPartition) -> &mut Partition {
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
        self.append_records(tp, keyed_records(start, kvs))
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
        let (epoch, start) = (p.epoch, p.log_end);
        self.epoch_history.started(tp, epoch, start);
    }

    /// Adds a topic (as if created by an admin); partition `p` is led by the `p`-th broker.
    pub fn create_topic(&mut self, name: &str, partitions: usize) {
        let ids: Vec<i32> = self.brokers.keys().copied().collect();
        let mut id = [0u8; 16];
        id[0] = 0xCD;
        id[15] = self.topics.len() as u8 + 1;
        let partitions = (0..partitions)
            .map(|p| Partition::empty(ids[p % ids.len()]))
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
            topic.partitions.push(Partition::empty(ids[p % ids.len()]));
        }
    }
}

/// (key, value) records from offset `start` on; offset `n` gets timestamp
/// `BASE_TS + 1000 * n`.
pub(super) fn keyed_records(start: i64, kvs: &[(&str, &str)]) -> Vec<Record> {
    kvs.iter()
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
        .collect()
}
