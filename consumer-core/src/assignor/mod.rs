//! Partition assignors of the classic consumer-group protocol.
//!
//! The coordinator picks one protocol (assignor name) that every member offered in
//! JoinGroup; the member it elects leader runs that assignor over all members'
//! subscriptions and sends the result in SyncGroup. The assignors here are pure
//! functions of their input, so any member computes the same answer, and they follow
//! Apache Kafka's Java assignors closely enough that our consumers can share a group
//! with Java and librdkafka consumers, whichever of them leads.
//!
//! | name                 | module                 | protocol    |
//! |----------------------|------------------------|-------------|
//! | `range`              | [`range`]              | eager       |
//! | `roundrobin`         | [`round_robin`]        | eager       |
//! | `cooperative-sticky` | [`cooperative_sticky`] | cooperative |

pub(crate) mod cooperative_sticky;
pub(crate) mod range;
pub(crate) mod round_robin;
mod sticky;
mod wire;

#[cfg(test)]
mod proptests;

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;

use crate::topic_partition::TopicPartition;

pub(crate) use cooperative_sticky::CooperativeStickyAssignor;
pub(crate) use range::RangeAssignor;
pub(crate) use round_robin::RoundRobinAssignor;
pub(crate) use wire::{group_by_topic, ungroup};

/// The generation of a member that has never been assigned anything (or lost its
/// assignment).
pub(crate) const UNKNOWN_GENERATION: i32 = -1;

/// One member's subscription, as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MemberSubscription {
    /// The member id the coordinator gave the member.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The topics the member subscribes to.
    pub topics: Vec<String>,
    /// The partitions the member owns now (cooperative protocol; empty under eager).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which `owned_partitions` were assigned; [`UNKNOWN_GENERATION`]
    /// when not known.
    pub generation_id: i32,
    /// The member's rack (`client.rack`).
    pub rack_id: Option<String>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

impl MemberSubscription {
    /// A dynamic member subscribing to `topics`, owning nothing.
    #[cfg(test)]
    pub(crate) fn new<T: Into<String>>(
        member_id: impl Into<String>,
        topics: impl IntoIterator<Item = T>,
    ) -> Self {
        Self {
            member_id: member_id.into(),
            group_instance_id: None,
            topics: topics.into_iter().map(Into::into).collect(),
            owned_partitions: Vec::new(),
            generation_id: UNKNOWN_GENERATION,
            rack_id: None,
            user_data: None,
        }
    }

    /// Whether the member subscribes to `topic` (a walk of its list: see
    /// [`subscribers`] for many topics).
    #[cfg(test)]
    pub(crate) fn subscribes_to(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }
}

/// For each topic anyone subscribes to, the positions in `members` of its subscribers,
/// in order, each once. One pass over the subscriptions: looking each member up per topic
/// would cost topics × members × topics.
fn subscribers<M: std::ops::Deref<Target = MemberSubscription>>(
    members: &[M],
) -> std::collections::HashMap<&str, Vec<usize>> {
    let mut of: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, m) in members.iter().enumerate() {
        for t in &m.topics {
            let list = of.entry(t.as_str()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    of
}

/// The leader's answer: each member id with the partitions it is assigned. Every member
/// of the input has an entry, possibly empty; each list is sorted.
pub(crate) type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// How a group moves partitions between members in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before rejoining.
    Eager,
    /// Members keep their partitions across a rebalance and revoke only those that
    /// move; a moved partition is assigned in a follow-up rebalance (KIP-429).
    Cooperative,
}

/// A partition assignor, run by the group leader.
pub(crate) trait Assignor: Send + Sync + fmt::Debug {
    /// The protocol name sent in JoinGroup, e.g. `"range"`.
    fn name(&self) -> &'static str;

    /// The most capable rebalance protocol this assignor supports; every assignor also
    /// supports [`RebalanceProtocol::Eager`].
    fn protocol(&self) -> RebalanceProtocol;

    /// Assigns the partitions of the subscribed topics to `members`.
    ///
    /// `partitions_per_topic` gives the partition count of each topic the leader knows;
    /// topics missing from it (or with no partitions) are not assigned.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Assignment;

    /// The user data this member puts in its subscription, given the generation of its
    /// current assignment ([`UNKNOWN_GENERATION`] if none).
    fn subscription_user_data(&self, generation: i32) -> Option<Bytes> {
        let _ = generation;
        None
    }
}

/// The assignor with protocol name `name`; Java's class names are accepted too so that
/// `partition.assignment.strategy` values copied from a Java configuration work.
/// An unknown name gives `None`.
pub(crate) fn assignor_by_name(name: &str) -> Option<Box<dyn Assignor>> {
    match name.trim() {
        "range" | "org.apache.kafka.clients.consumer.RangeAssignor" => {
            Some(Box::new(RangeAssignor))
        }
        "roundrobin" | "org.apache.kafka.clients.consumer.RoundRobinAssignor" => {
            Some(Box::new(RoundRobinAssignor))
        }
        "cooperative-sticky" | "org.apache.kafka.clients.consumer.CooperativeStickyAssignor" => {
            Some(Box::new(CooperativeStickyAssignor))
        }
        _ => None,
    }
}

/// The rebalance protocol a consumer configured with `assignors` follows: cooperative
/// only if every one of them supports it, as in Java (a group mixing eager and
/// cooperative members would otherwise move partitions that are still being consumed).
/// No assignors gives eager.
#[cfg(test)]
pub(crate) fn rebalance_protocol(assignors: &[Box<dyn Assignor>]) -> RebalanceProtocol {
    if !assignors.is_empty()
        && assignors
            .iter()
            .all(|a| a.protocol() == RebalanceProtocol::Cooperative)
    {
        RebalanceProtocol::Cooperative
    } else {
        RebalanceProtocol::Eager
    }
}

/// Why the protocol in a JoinGroup response cannot be used.
#[cfg(test)]
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub(crate) enum ChooseProtocolError {
    /// The response carries no protocol name.
    #[error("the coordinator chose no assignor")]
    NoneChosen,
    /// The coordinator chose a protocol this member did not offer.
    #[error("the coordinator chose assignor `{0}`, which this member did not offer")]
    NotOffered(String),
}

/// The assignor to run for the protocol the coordinator chose.
///
/// The coordinator, not the leader, picks the group's protocol (the one most members
/// prefer among those every member offered) and names it in the JoinGroup response;
/// every member must use that one. `our_preference` is the list this member offered.
#[cfg(test)]
pub(crate) fn choose_protocol(
    our_preference: &[&str],
    chosen_by_coordinator: Option<&str>,
) -> Result<Box<dyn Assignor>, ChooseProtocolError> {
    let chosen = chosen_by_coordinator.ok_or(ChooseProtocolError::NoneChosen)?;
    our_preference
        .iter()
        .filter_map(|ours| assignor_by_name(ours))
        .find(|assignor| assignor.name() == chosen)
        .ok_or_else(|| ChooseProtocolError::NotOffered(chosen.to_owned()))
}

/// A group member as the leader's assignor sees it, for benchmarks and tests outside the
/// crate ([`crate::testing::run_assignor`]).
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignorMember {
    /// The member id.
    pub member_id: String,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    /// The partitions it owns (cooperative protocol).
    pub owned: Vec<TopicPartition>,
    /// The generation in which it was assigned them (-1: none).
    pub generation: i32,
}

/// Members made ready for [`run_assignor`] once, so that a benchmark times the
/// assignment alone.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Clone)]
pub struct PreparedMembers(Vec<MemberSubscription>);

/// Prepares `members` for [`run_assignor`].
#[cfg(any(test, feature = "testing"))]
pub fn prepare_members(members: &[AssignorMember]) -> PreparedMembers {
    PreparedMembers(
        members
            .iter()
            .map(|m| MemberSubscription {
                member_id: m.member_id.clone(),
                group_instance_id: None,
                topics: m.topics.clone(),
                owned_partitions: m.owned.clone(),
                generation_id: m.generation,
                rack_id: None,
                user_data: None,
            })
            .collect(),
    )
}

/// Runs the assignor named `name` (`range`, `roundrobin`, `cooperative-sticky`) as a
/// group leader does: member id → its sorted partitions. None for an unknown name.
#[cfg(any(test, feature = "testing"))]
pub fn run_assignor(
    name: &str,
    partitions_per_topic: &BTreeMap<String, i32>,
    members: &PreparedMembers,
) -> Option<BTreeMap<String, Vec<TopicPartition>>> {
    Some(assignor_by_name(name)?.assign(partitions_per_topic, &members.0))
}

/// Only topics someone subscribes to and that have partitions take part, so that an
/// assignor never hands out partitions of a topic nobody asked for.
fn subscribed_topics(
    partitions_per_topic: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
) -> BTreeMap<String, i32> {
    members
        .iter()
        .flat_map(|m| m.topics.iter())
        .filter_map(|t| {
            partitions_per_topic
                .get(t)
                .filter(|&&count| count > 0)
                .map(|&count| (t.clone(), count))
        })
        .collect()
}

/// Java's member order for range and roundrobin: static members first, by
/// `group.instance.id`, then dynamic members by member id. Static members thereby keep
/// their partitions when they restart with a new member id.
fn java_member_order(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by_key(|m| {
        (
            m.group_instance_id.is_none(),
            m.group_instance_id.as_deref(),
            m.member_id.as_str(),
        )
    });
    sorted
}

/// An assignment with an empty entry for every member.
fn empty_assignment(members: &[MemberSubscription]) -> Assignment {
    members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect()
}

/// Sorts each member's list, so the output does not depend on the order of work.
fn sorted(mut assignment: Assignment) -> Assignment {
    for partitions in assignment.values_mut() {
        partitions.sort();
        partitions.dedup();
    }
    assignment
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_knows_the_three_protocol_names() {
        for name in ["range", "roundrobin", "cooperative-sticky"] {
            let a = assignor_by_name(name).expect("known");
            assert_eq!(a.name(), name);
        }
        assert_eq!(
            assignor_by_name("org.apache.kafka.clients.consumer.CooperativeStickyAssignor")
                .map(|a| a.name()),
            Some("cooperative-sticky")
        );
        assert!(assignor_by_name("sticky-ish").is_none());
        assert!(assignor_by_name("").is_none());
    }

    #[test]
    fn protocol_is_cooperative_only_if_all_assignors_are() {
        let coop = || assignor_by_name("cooperative-sticky").expect("known");
        let range = || assignor_by_name("range").expect("known");
        assert_eq!(
            rebalance_protocol(&[coop()]),
            RebalanceProtocol::Cooperative
        );
        assert_eq!(
            rebalance_protocol(&[range(), coop()]),
            RebalanceProtocol::Eager
        );
        assert_eq!(rebalance_protocol(&[]), RebalanceProtocol::Eager);
    }

    #[test]
    fn choose_protocol_follows_the_coordinator() {
        let ours = ["range", "cooperative-sticky"];
        let a = choose_protocol(&ours, Some("cooperative-sticky")).expect("offered");
        assert_eq!(a.name(), "cooperative-sticky");
        assert_eq!(
            choose_protocol(&ours, Some("roundrobin")).err(),
            Some(ChooseProtocolError::NotOffered("roundrobin".into()))
        );
        assert_eq!(
            choose_protocol(&ours, None).err(),
            Some(ChooseProtocolError::NoneChosen)
        );
        // A Java class name in our configuration offers the protocol name.
        let java = ["org.apache.kafka.clients.consumer.RoundRobinAssignor"];
        assert_eq!(
            choose_protocol(&java, Some("roundrobin")).map(|a| a.name()),
            Ok("roundrobin")
        );
    }

    #[test]
    fn static_members_sort_first_by_instance_id() {
        let mut a = MemberSubscription::new("a", ["t"]);
        let mut b = MemberSubscription::new("b", ["t"]);
        let c = MemberSubscription::new("c", ["t"]);
        b.group_instance_id = Some("i1".into());
        a.group_instance_id = Some("i2".into());
        let members = [c, a, b];
        let order: Vec<&str> = java_member_order(&members)
            .iter()
            .map(|m| m.member_id.as_str())
            .collect();
        assert_eq!(order, ["b", "a", "c"]);
    }
}
