//! Rack-aware fetching (KIP-392): the replica each partition is read from when it is not
//! its leader.
//!
//! A Fetch v11+ carries the consumer's `client.rack`; a leader that knows a replica in
//! that rack answers with its id as `preferred_read_replica` (and usually no records).
//! The partition is then fetched from that replica until `metadata.max.age.ms` has
//! passed since it was named (a later naming of the same replica does not extend it, as
//! in the Java client), when it goes back to the leader, which may name it again. It
//! goes back to the leader at once when the replica is no longer a known broker and
//! replica of the partition, when its connection fails, and on an error in its answer.
//!
//! Entries are kept by partition slot (see [`crate::SubscriptionState`]): one lookup per
//! placement, nothing at all while no replica is named (the map is empty). Expiry is
//! ordered by time, so finding the expired entries costs nothing while none is due.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use crate::codec::messages::metadata::MetadataResponsePartition;
use crate::metadata::NodeId;

/// Partition index → online replicas (those not reported offline), from a Metadata
/// answer's partitions.
pub(crate) fn online_replicas(partitions: &[MetadataResponsePartition]) -> HashMap<i32, Vec<i32>> {
    partitions
        .iter()
        .map(|p| {
            let online = p
                .replica_nodes
                .iter()
                .copied()
                .filter(|r| !p.offline_replicas.contains(r))
                .collect();
            (p.partition_index, online)
        })
        .collect()
}

/// The preferred read replica of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    node: NodeId,
    expires: Instant,
}

/// The preferred read replicas of the assigned partitions, by slot.
#[derive(Debug, Default)]
pub(crate) struct ReadReplicas {
    by_slot: HashMap<usize, Entry>,
    /// The slots read from each node.
    by_node: HashMap<NodeId, HashSet<usize>>,
    /// Every entry by expiry.
    expiry: BTreeSet<(Instant, usize)>,
}

impl ReadReplicas {
    /// True if no partition has a preferred read replica.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.by_slot.is_empty()
    }

    /// The leader named `node` as `slot`'s preferred read replica at some instant, the
    /// entry to expire at `expires`. A replica already in place keeps its expiry. True if
    /// the replica changed (the partition must be placed again).
    pub(crate) fn update(&mut self, slot: usize, node: NodeId, expires: Instant) -> bool {
        if self.get(slot) == Some(node) {
            return false;
        }
        self.clear(slot);
        self.by_slot.insert(slot, Entry { node, expires });
        self.by_node.entry(node).or_default().insert(slot);
        self.expiry.insert((expires, slot));
        true
    }

    /// `slot`'s preferred read replica, if it has one.
    pub(crate) fn get(&self, slot: usize) -> Option<NodeId> {
        if self.by_slot.is_empty() {
            return None;
        }
        self.by_slot.get(&slot).map(|e| e.node)
    }

    /// The node to fetch `slot` from, given its `leader`: the preferred read replica while
    /// `usable` says it is a known broker and replica of the partition, else the leader
    /// (and a replica that is not usable is forgotten).
    pub(crate) fn select(
        &mut self,
        slot: usize,
        leader: NodeId,
        usable: impl FnOnce(NodeId) -> bool,
    ) -> NodeId {
        match self.get(slot) {
            None => leader,
            Some(node) if node == leader || usable(node) => node,
            Some(node) => {
                log::debug!(
                    "slot {slot}: read replica {node} no longer usable; back to leader {leader}"
                );
                self.clear(slot);
                leader
            }
        }
    }

    /// Forgets `slot`'s preferred read replica; returns it, if there was one.
    pub(crate) fn clear(&mut self, slot: usize) -> Option<NodeId> {
        if self.by_slot.is_empty() {
            return None;
        }
        let entry = self.by_slot.remove(&slot)?;
        self.expiry.remove(&(entry.expires, slot));
        if let Some(slots) = self.by_node.get_mut(&entry.node) {
            slots.remove(&slot);
            if slots.is_empty() {
                self.by_node.remove(&entry.node);
            }
        }
        Some(entry.node)
    }

    /// Forgets every preferred read replica that is `node` (its connection failed);
    /// returns the slots that go back to their leader.
    pub(crate) fn clear_node(&mut self, node: NodeId) -> Vec<usize> {
        let Some(slots) = self.by_node.remove(&node) else {
            return Vec::new();
        };
        for slot in &slots {
            if let Some(entry) = self.by_slot.remove(slot) {
                self.expiry.remove(&(entry.expires, *slot));
            }
        }
        let mut slots: Vec<usize> = slots.into_iter().collect();
        slots.sort_unstable();
        slots
    }

    /// Forgets the preferred read replicas expired at `now`; returns their slots.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<usize> {
        let mut expired = Vec::new();
        while let Some(&(at, slot)) = self.expiry.first() {
            if at > now {
                break;
            }
            self.clear(slot);
            expired.push(slot);
        }
        expired
    }

    /// When the next preferred read replica expires.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.expiry.first().map(|(at, _)| *at)
    }

    /// Forgets everything (the slots were laid out again).
    pub(crate) fn clear_all(&mut self) {
        self.by_slot.clear();
        self.by_node.clear();
        self.expiry.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn t(ms: u64) -> Instant {
        // One base instant per test run; the offsets are what matter.
        static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *BASE.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn a_named_replica_is_selected_until_it_expires() {
        let mut r = ReadReplicas::default();
        assert!(r.is_empty());
        assert_eq!(r.select(3, 1, |_| true), 1);
        assert!(r.update(3, 2, t(1000)));
        assert_eq!(r.get(3), Some(2));
        assert_eq!(r.select(3, 1, |_| true), 2);
        assert_eq!(r.next_expiry(), Some(t(1000)));
        assert!(r.expire(t(999)).is_empty());
        assert_eq!(r.expire(t(1000)), vec![3]);
        assert_eq!(r.get(3), None);
        assert_eq!(r.select(3, 1, |_| true), 1);
        assert!(r.is_empty());
        assert_eq!(r.next_expiry(), None);
    }

    #[test]
    fn naming_the_same_replica_again_keeps_its_expiry() {
        let mut r = ReadReplicas::default();
        assert!(r.update(0, 2, t(1000)));
        assert!(!r.update(0, 2, t(5000)));
        assert_eq!(r.next_expiry(), Some(t(1000)));
        // Another replica replaces it, with its own expiry.
        assert!(r.update(0, 3, t(6000)));
        assert_eq!(r.get(0), Some(3));
        assert_eq!(r.next_expiry(), Some(t(6000)));
        assert!(r.clear_node(2).is_empty());
        assert_eq!(r.clear_node(3), vec![0]);
        assert!(r.is_empty());
    }

    #[test]
    fn an_unusable_replica_is_forgotten_for_the_leader() {
        let mut r = ReadReplicas::default();
        r.update(7, 2, t(1000));
        assert_eq!(r.select(7, 1, |n| n != 2), 1);
        assert_eq!(r.get(7), None);
        assert_eq!(r.next_expiry(), None);
        // A replica that is the leader needs no check.
        r.update(7, 1, t(1000));
        assert_eq!(r.select(7, 1, |_| false), 1);
        assert_eq!(r.get(7), Some(1));
    }

    #[test]
    fn a_failed_node_sends_only_its_partitions_back() {
        let mut r = ReadReplicas::default();
        r.update(0, 2, t(100));
        r.update(1, 3, t(200));
        r.update(2, 2, t(300));
        assert_eq!(r.clear_node(2), vec![0, 2]);
        assert_eq!(r.get(0), None);
        assert_eq!(r.get(1), Some(3));
        assert_eq!(r.next_expiry(), Some(t(200)));
        assert_eq!(r.clear(1), Some(3));
        assert_eq!(r.clear(1), None);
        assert!(r.is_empty());
    }

    #[test]
    fn expiry_takes_every_entry_due_and_only_those() {
        let mut r = ReadReplicas::default();
        r.update(0, 2, t(100));
        r.update(1, 2, t(100));
        r.update(2, 3, t(300));
        assert_eq!(r.expire(t(150)), vec![0, 1]);
        assert_eq!(r.get(2), Some(3));
        r.clear_all();
        assert!(r.is_empty());
        assert_eq!(r.next_expiry(), None);
        assert!(r.clear_node(3).is_empty());
    }
}
