//! The subset of cluster metadata the consumer needs: brokers, and for each topic of
//! interest its partitions' leaders and leader epochs.
//!
//! `need_update` is set by errors that point at stale leadership, by new topics of
//! interest, and by `metadata.max.age.ms`; failed refreshes back off exponentially from
//! `retry.backoff.ms` to `retry.backoff.max.ms`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use indexmap::{IndexMap, IndexSet};

use crate::topic_partition::TopicPartition;

/// A broker node id; bootstrap addresses have negative ids.
pub type NodeId = i32;

/// A broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The node id; bootstrap addresses get negative ids.
    pub id: i32,
    /// Host name.
    pub host: String,
    /// Port.
    pub port: i32,
    /// Rack, if known.
    pub rack: Option<String>,
}

impl Node {
    /// `host:port`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Leadership of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLeader {
    /// The leader's node id, if the partition has a leader.
    pub leader: Option<i32>,
    /// The leader epoch, when the broker reports it.
    pub leader_epoch: Option<i32>,
}

/// What is known of one topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicInfo {
    /// The topic id (all zero when unknown).
    pub id: [u8; 16],
    /// Partition index → leadership.
    pub partitions: HashMap<i32, PartitionLeader>,
    /// The last error the broker reported for the topic (0 when none).
    pub error_code: i16,
    /// Partition index → its online replicas (replicas not reported offline). Kept only
    /// for rack-aware fetching (`client.rack` set); empty otherwise.
    pub replicas: HashMap<i32, Vec<i32>>,
}

/// The consumer's view of the cluster.
#[derive(Debug, Clone)]
pub struct Metadata {
    bootstrap: Vec<Node>,
    brokers: IndexMap<i32, Node>,
    topics: HashMap<String, TopicInfo>,
    interest: IndexSet<String>,
    want_all: bool,
    all_topics: Vec<String>,
    cluster_id: Option<String>,
    need_update: bool,
    in_flight: bool,
    last_success: Option<Instant>,
    backoff_until: Option<Instant>,
    failures: u32,
    max_age: Duration,
    backoff: Duration,
    backoff_max: Duration,
    updates: u64,
    /// Bumped whenever brokers or topics (leaders, epochs, ids) may have changed.
    changes: u64,
    /// Partitions whose leader or leader epoch changed in an update, not taken yet.
    leader_changes: Vec<TopicPartition>,
}

impl Metadata {
    /// Metadata that knows only the bootstrap addresses (`host:port`), which get node ids
    /// -1, -2, … as in the Java client.
    pub(crate) fn new(
        bootstrap: &[String],
        max_age: Duration,
        backoff: Duration,
        backoff_max: Duration,
    ) -> Self {
        let bootstrap = bootstrap
            .iter()
            .enumerate()
            .filter_map(|(i, addr)| {
                let (host, port) = addr.rsplit_once(':')?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Some(Node {
                    id: -1 - i32::try_from(i).ok()?,
                    host: host.to_owned(),
                    port: port.parse().ok()?,
                    rack: None,
                })
            })
            .collect();
        Self {
            bootstrap,
            brokers: IndexMap::new(),
            topics: HashMap::new(),
            interest: IndexSet::new(),
            want_all: false,
            all_topics: Vec::new(),
            cluster_id: None,
            need_update: true,
            in_flight: false,
            last_success: None,
            backoff_until: None,
            failures: 0,
            max_age,
            backoff,
            backoff_max,
            updates: 0,
            changes: 0,
            leader_changes: Vec::new(),
        }
    }

    /// The brokers to ask: the known brokers, or the bootstrap addresses before the first
    /// answer.
    pub fn nodes(&self) -> Vec<&Node> {
        if self.brokers.is_empty() {
            self.bootstrap.iter().collect()
        } else {
            self.brokers.values().collect()
        }
    }

    /// The ids of the known brokers (not the bootstrap addresses).
    pub fn broker_ids(&self) -> impl Iterator<Item = i32> + '_ {
        self.brokers.keys().copied()
    }

    /// A node by id (bootstrap nodes included).
    pub fn node(&self, id: i32) -> Option<&Node> {
        self.brokers
            .get(&id)
            .or_else(|| self.bootstrap.iter().find(|n| n.id == id))
    }

    /// The cluster id, once known.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// How many successful updates have been applied.
    pub fn update_count(&self) -> u64 {
        self.updates
    }

    /// Changes whenever what is known of brokers and topics may have changed, so that
    /// what was derived from it (the leader of each partition) is looked up again.
    pub(crate) fn version(&self) -> u64 {
        self.changes
    }

    /// The topics whose metadata is fetched.
    pub fn topics_of_interest(&self) -> impl Iterator<Item = &String> {
        self.interest.iter()
    }

    /// Replaces the topics of interest; a new topic asks for an update.
    pub(crate) fn set_topics_of_interest(&mut self, topics: impl IntoIterator<Item = String>) {
        let next: IndexSet<String> = topics.into_iter().collect();
        if next.iter().any(|t| !self.topics.contains_key(t)) {
            self.need_update = true;
        }
        let known = self.topics.len();
        self.topics.retain(|t, _| next.contains(t));
        if self.topics.len() != known {
            self.changes += 1;
        }
        self.interest = next;
    }

    /// Adds topics of interest (a group leader needs its members' topics).
    pub(crate) fn add_topics_of_interest(&mut self, topics: impl IntoIterator<Item = String>) {
        for t in topics {
            if !self.topics.contains_key(&t) {
                self.need_update = true;
            }
            self.interest.insert(t);
        }
    }

    /// Asks for every topic of the cluster in each refresh (pattern subscriptions).
    pub(crate) fn set_want_all_topics(&mut self, all: bool) {
        self.want_all = all;
        if all {
            self.need_update = true;
        }
    }

    /// True if refreshes ask for every topic.
    pub fn wants_all_topics(&self) -> bool {
        self.want_all
    }

    /// The names of all topics in the last full refresh (internal `__` topics excluded).
    pub fn all_topic_names(&self) -> &[String] {
        &self.all_topics
    }

    /// What is known of `topic`.
    pub fn topic(&self, topic: &str) -> Option<&TopicInfo> {
        self.topics.get(topic)
    }

    /// The leader of `tp`, if known.
    pub fn leader(&self, tp: &TopicPartition) -> Option<PartitionLeader> {
        self.topics
            .get(&tp.topic)
            .and_then(|t| t.partitions.get(&tp.partition))
            .copied()
    }

    /// The leader node of `tp`, if it has one that is a known broker.
    pub fn leader_node(&self, tp: &TopicPartition) -> Option<&Node> {
        self.leader(tp)
            .and_then(|l| l.leader)
            .and_then(|id| self.brokers.get(&id))
    }

    /// What fetching `tp` needs: its leader if that is a known broker, the leader epoch
    /// and the topic id (all zero when unknown). One lookup of each.
    pub(crate) fn fetch_leader(
        &self,
        tp: &TopicPartition,
    ) -> Option<(NodeId, Option<i32>, [u8; 16])> {
        let topic = self.topics.get(&tp.topic)?;
        let leader = topic.partitions.get(&tp.partition)?;
        let node = leader.leader.filter(|id| self.brokers.contains_key(id))?;
        Some((node, leader.leader_epoch, topic.id))
    }

    /// True if `node` is a known broker and, when the replicas of `tp` are known, one of
    /// its online replicas: a preferred read replica can be fetched from (KIP-392).
    pub(crate) fn is_read_replica(&self, tp: &TopicPartition, node: NodeId) -> bool {
        if !self.brokers.contains_key(&node) {
            return false;
        }
        self.topics
            .get(&tp.topic)
            .and_then(|t| t.replicas.get(&tp.partition))
            .is_none_or(|replicas| replicas.contains(&node))
    }

    /// The name of the topic with id `id`, if metadata knows it (Metadata v10+ carries
    /// topic ids; an all-zero id is never a topic's).
    pub fn topic_name_by_id(&self, id: &[u8; 16]) -> Option<&str> {
        if *id == [0; 16] {
            return None;
        }
        self.topics
            .iter()
            .find(|(_, t)| t.id == *id)
            .map(|(name, _)| name.as_str())
    }

    /// The partitions whose leader or leader epoch changed since the last call (in the
    /// metadata updates applied meanwhile), for position validation (KIP-320).
    pub(crate) fn take_leader_changes(&mut self) -> Vec<TopicPartition> {
        std::mem::take(&mut self.leader_changes)
    }

    /// Asks for a refresh at the next opportunity.
    pub(crate) fn request_update(&mut self) {
        self.need_update = true;
    }

    /// True if a refresh is wanted and may be sent now.
    pub(crate) fn should_update(&self, now: Instant) -> bool {
        if self.in_flight || self.backoff_until.is_some_and(|t| now < t) {
            return false;
        }
        self.need_update || self.last_success.is_none_or(|t| now >= t + self.max_age)
    }

    /// When the next refresh becomes due (None while one is in flight).
    pub(crate) fn next_update(&self) -> Option<Instant> {
        if self.in_flight {
            return None;
        }
        let due = if self.need_update {
            self.backoff_until
        } else {
            self.last_success.map(|t| t + self.max_age)
        };
        match (due, self.backoff_until) {
            (Some(d), Some(b)) => Some(d.max(b)),
            (d, _) => d,
        }
    }

    /// Records that a refresh was sent.
    pub(crate) fn update_sent(&mut self) {
        self.in_flight = true;
    }

    /// Records that a refresh failed (no answer, or an error); backs off.
    pub(crate) fn update_failed(&mut self, now: Instant) {
        self.in_flight = false;
        self.failures = self.failures.saturating_add(1);
        let factor = 2u32.saturating_pow(self.failures.saturating_sub(1).min(16));
        let delay = self.backoff.saturating_mul(factor).min(self.backoff_max);
        self.backoff_until = Some(now + delay);
    }

    /// Applies a successful answer: the brokers, the cluster id, and the topics given.
    ///
    /// A partition whose reported leader epoch is older than the one already known keeps
    /// the newer leadership (the answer came from a stale broker).
    pub(crate) fn update(
        &mut self,
        now: Instant,
        brokers: Vec<Node>,
        cluster_id: Option<String>,
        topics: Vec<(String, TopicInfo)>,
    ) {
        self.in_flight = false;
        self.failures = 0;
        self.backoff_until = None;
        self.need_update = false;
        self.last_success = Some(now);
        self.updates += 1;
        self.changes += 1;
        if !brokers.is_empty() {
            self.brokers = brokers.into_iter().map(|n| (n.id, n)).collect();
        }
        if cluster_id.is_some() {
            self.cluster_id = cluster_id;
        }
        if self.want_all {
            self.all_topics = topics
                .iter()
                .map(|(n, _)| n.clone())
                .filter(|n| !n.starts_with("__"))
                .collect();
            self.all_topics.sort();
        }
        for (name, mut info) in topics {
            if !self.interest.contains(&name) {
                continue;
            }
            if let Some(old) = self.topics.get(&name) {
                for (p, leader) in info.partitions.iter_mut() {
                    if let Some(prev) = old.partitions.get(p) {
                        if let (Some(new_e), Some(old_e)) = (leader.leader_epoch, prev.leader_epoch)
                        {
                            if new_e < old_e {
                                *leader = *prev;
                            }
                        }
                        if leader.leader.is_some() && leader != prev {
                            self.leader_changes
                                .push(TopicPartition::new(name.clone(), *p));
                        }
                    }
                }
            }
            if info.error_code != 0 || info.partitions.values().any(|l| l.leader.is_none()) {
                // Come back soon: the topic is not ready (being created, or leaderless).
                self.need_update = true;
            }
            self.topics.insert(name, info);
        }
        if self.interest.iter().any(|t| !self.topics.contains_key(t)) {
            self.need_update = true;
        }
        if self.need_update {
            // Ask again, but not in a tight loop.
            self.backoff_until = Some(now + self.backoff);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md() -> Metadata {
        Metadata::new(
            &["127.0.0.1:9092".into(), "[::1]:9093".into()],
            Duration::from_secs(300),
            Duration::from_millis(100),
            Duration::from_secs(1),
        )
    }

    fn info(leaders: &[(i32, i32, i32)]) -> TopicInfo {
        TopicInfo {
            id: [0; 16],
            partitions: leaders
                .iter()
                .map(|&(p, l, e)| {
                    (
                        p,
                        PartitionLeader {
                            leader: Some(l),
                            leader_epoch: Some(e),
                        },
                    )
                })
                .collect(),
            error_code: 0,
            replicas: HashMap::new(),
        }
    }

    fn broker(id: i32) -> Node {
        Node {
            id,
            host: "h".into(),
            port: 9000 + id,
            rack: None,
        }
    }

    #[test]
    fn bootstrap_nodes_have_negative_ids() {
        let m = md();
        let ids: Vec<i32> = m.nodes().iter().map(|n| n.id).collect();
        assert_eq!(ids, vec![-1, -2]);
        assert_eq!(m.node(-2).unwrap().address(), "[::1]:9093");
    }

    #[test]
    fn max_age_triggers_refresh() {
        let t0 = Instant::now();
        let mut m = md();
        m.set_topics_of_interest(["t".to_owned()]);
        assert!(m.should_update(t0));
        m.update_sent();
        assert!(!m.should_update(t0));
        m.update(
            t0,
            vec![broker(1)],
            None,
            vec![("t".into(), info(&[(0, 1, 5)]))],
        );
        assert!(!m.should_update(t0 + Duration::from_secs(299)));
        assert_eq!(m.next_update(), Some(t0 + Duration::from_secs(300)));
        assert!(m.should_update(t0 + Duration::from_secs(300)));
    }

    #[test]
    fn failures_back_off_exponentially_up_to_max() {
        let t0 = Instant::now();
        let mut m = md();
        m.update_sent();
        m.update_failed(t0);
        assert!(!m.should_update(t0 + Duration::from_millis(99)));
        assert!(m.should_update(t0 + Duration::from_millis(100)));
        for _ in 0..10 {
            m.update_sent();
            m.update_failed(t0);
        }
        assert_eq!(m.next_update(), Some(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn stale_epoch_does_not_move_leader_back() {
        let t0 = Instant::now();
        let mut m = md();
        m.set_topics_of_interest(["t".to_owned()]);
        m.update(
            t0,
            vec![broker(1), broker(2)],
            None,
            vec![("t".into(), info(&[(0, 2, 7)]))],
        );
        m.update(
            t0,
            vec![broker(1), broker(2)],
            None,
            vec![("t".into(), info(&[(0, 1, 6)]))],
        );
        let tp = TopicPartition::new("t", 0);
        assert_eq!(m.leader(&tp).unwrap().leader, Some(2));
        m.update(
            t0,
            vec![broker(1), broker(2)],
            None,
            vec![("t".into(), info(&[(0, 1, 8)]))],
        );
        assert_eq!(m.leader_node(&tp).unwrap().id, 1);
    }

    #[test]
    fn new_topic_of_interest_asks_for_update() {
        let t0 = Instant::now();
        let mut m = md();
        m.set_topics_of_interest(["a".to_owned()]);
        m.update(
            t0,
            vec![broker(1)],
            None,
            vec![("a".into(), info(&[(0, 1, 0)]))],
        );
        assert!(!m.should_update(t0));
        m.set_topics_of_interest(["a".to_owned(), "b".to_owned()]);
        assert!(m.should_update(t0));
    }
}
