//! Follower replicas and racks of the simulated cluster, for rack-aware fetching
//! (KIP-392).
//!
//! A partition may have followers, each with its own log end (by default it has every
//! record the leader has); brokers may have racks. Metadata lists the leader and the
//! followers as the partition's replicas and each broker's rack. A follower answers
//! fetches from its own log end; the leader answers a Fetch v11+ whose `rack_id` is the
//! rack of a follower that is up and has the fetch offset with that follower as
//! `preferred_read_replica` and no records, as Kafka's `RackAwareReplicaSelector` and
//! the librdkafka mock do.

use std::collections::{BTreeMap, BTreeSet};

use super::cluster::TestCluster;
use crate::topic_partition::TopicPartition;

/// Racks of brokers and followers of partitions.
#[derive(Debug, Clone, Default)]
pub struct Replicas {
    racks: BTreeMap<i32, String>,
    /// Per partition, its followers and their log end (None: the leader's high watermark).
    followers: BTreeMap<TopicPartition, BTreeMap<i32, Option<i64>>>,
    /// Followers that still serve but that metadata no longer lists (being moved away).
    unlisted: BTreeSet<(TopicPartition, i32)>,
    /// Leaders name their first follower whatever the rack, its state or the offset, as
    /// librdkafka's mock does.
    pub name_any_follower: bool,
    /// Metadata leaves out brokers that are down (as Kafka lists only live brokers).
    pub unlist_down_brokers: bool,
}

impl TestCluster {
    /// Puts `broker` in `rack`.
    pub fn set_rack(&mut self, broker: i32, rack: &str) {
        self.replicas.racks.insert(broker, rack.to_owned());
    }

    /// Makes `broker` a follower of `tp`, up to date with the leader.
    pub fn add_follower(&mut self, tp: &TopicPartition, broker: i32) {
        self.replicas
            .followers
            .entry(tp.clone())
            .or_default()
            .insert(broker, None);
    }

    /// `broker` is no longer a replica of `tp`.
    pub fn remove_follower(&mut self, tp: &TopicPartition, broker: i32) {
        if let Some(f) = self.replicas.followers.get_mut(tp) {
            f.remove(&broker);
        }
    }

    /// Metadata no longer lists `broker` as a replica of `tp` (a reassignment moves it
    /// away), and the leader no longer names it; it still serves fetches.
    pub fn unlist_follower(&mut self, tp: &TopicPartition, broker: i32) {
        self.replicas.unlisted.insert((tp.clone(), broker));
    }

    /// The follower `broker` of `tp` has records up to `end` (exclusive), or, with None,
    /// every record the leader exposes.
    pub fn set_follower_end(&mut self, tp: &TopicPartition, broker: i32, end: Option<i64>) {
        if let Some(e) = self
            .replicas
            .followers
            .get_mut(tp)
            .and_then(|f| f.get_mut(&broker))
        {
            *e = end;
        }
    }

    /// True if metadata lists `broker`.
    pub(super) fn lists_broker(&self, broker: i32) -> bool {
        !self.replicas.unlist_down_brokers || self.brokers.get(&broker).is_none_or(|b| !b.down)
    }

    /// `broker`'s rack, if it has one.
    pub(super) fn rack_of(&self, broker: i32) -> Option<String> {
        self.replicas.racks.get(&broker).cloned()
    }

    /// The replicas of `tp` led by `leader`: the leader first, then its followers.
    pub(super) fn replicas_of(&self, tp: &TopicPartition, leader: i32) -> Vec<i32> {
        let mut out = vec![leader];
        if let Some(f) = self.replicas.followers.get(tp) {
            out.extend(
                f.keys()
                    .copied()
                    .filter(|&b| b != leader && !self.replicas.unlisted.contains(&(tp.clone(), b))),
            );
        }
        out
    }

    /// The broker whose leadership a fetch sent to `broker` is checked against: the
    /// partition's leader when `broker` follows `tp`, else `broker` itself.
    pub(super) fn serving_as(&self, broker: i32, tp: &TopicPartition) -> i32 {
        let follows = self
            .replicas
            .followers
            .get(tp)
            .is_some_and(|f| f.contains_key(&broker));
        let leader = self
            .topics
            .get(&tp.topic)
            .and_then(|t| t.partitions.get(usize::try_from(tp.partition).ok()?))
            .map(|p| p.leader);
        match leader {
            Some(leader) if follows => leader,
            _ => broker,
        }
    }

    /// If `broker` follows `tp` (and does not lead it, `leader` does): the follower's
    /// high watermark given the leader's `high_watermark`.
    pub(super) fn as_follower(
        &self,
        broker: i32,
        tp: &TopicPartition,
        leader: i32,
        high_watermark: i64,
    ) -> Option<i64> {
        if broker == leader {
            return None;
        }
        let end = self.replicas.followers.get(tp)?.get(&broker)?;
        Some(follower_end(*end, high_watermark))
    }

    /// The follower the leader of `tp` names for a fetch from `fetch_offset` by a client
    /// in `rack`: one in that rack, up, and holding the offset.
    pub(super) fn preferred_read_replica(
        &self,
        tp: &TopicPartition,
        rack: &str,
        fetch_offset: i64,
        high_watermark: i64,
    ) -> Option<i32> {
        let followers = self.replicas.followers.get(tp)?;
        if self.replicas.name_any_follower {
            return followers.keys().next().copied();
        }
        if rack.is_empty() {
            return None;
        }
        followers
            .iter()
            .filter(|(b, _)| self.replicas.racks.get(b).is_some_and(|r| r == rack))
            .filter(|(b, _)| self.brokers.get(b).is_some_and(|b| !b.down))
            .filter(|(b, _)| !self.replicas.unlisted.contains(&(tp.clone(), **b)))
            .find(|(_, end)| follower_end(**end, high_watermark) >= fetch_offset)
            .map(|(b, _)| *b)
    }
}

/// A follower's high watermark: its own log end (None: all the leader has), never past
/// the leader's `high_watermark`.
fn follower_end(end: Option<i64>, high_watermark: i64) -> i64 {
    end.map_or(high_watermark, |e| e.min(high_watermark))
}
