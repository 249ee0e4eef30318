//! The `roundrobin` assignor: all partitions of all subscribed topics dealt to the
//! members in turn.

use std::collections::BTreeMap;

use super::{
    empty_assignment, java_member_order, sorted, subscribed_topics, subscribers, Assignment,
    Assignor, MemberSubscription, RebalanceProtocol,
};
use crate::topic_partition::TopicPartition;

/// Lays out every partition of every subscribed topic, by topic then partition, and
/// deals them in turn to the members in Java's order (static members by
/// `group.instance.id`, then the rest by member id), passing over members that do not
/// subscribe to the partition's topic. With identical subscriptions the counts differ by
/// at most one; with different ones the result can be lopsided, as in Java.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &'static str {
        "roundrobin"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Assignment {
        let mut assignment = empty_assignment(members);
        let ordered = java_member_order(members);
        // The dealer's position survives from one topic to the next, as Java's circular
        // iterator does; that is what spreads a topic's remainder over different members.
        let mut next = 0usize;
        let subscribers_of = subscribers(&ordered);
        let mut subscribed = vec![false; ordered.len()];
        for (topic, &count) in &subscribed_topics(partitions_per_topic, members) {
            subscribed.fill(false);
            for &i in subscribers_of.get(topic.as_str()).into_iter().flatten() {
                if let Some(s) = subscribed.get_mut(i) {
                    *s = true;
                }
            }
            for partition in 0..count {
                // A subscriber exists (the topic is subscribed), so a full turn finds it.
                let Some(offset) = (0..ordered.len()).find(|k| {
                    subscribed
                        .get((next + k) % ordered.len())
                        .copied()
                        .unwrap_or(false)
                }) else {
                    continue;
                };
                let member = ordered[(next + offset) % ordered.len()];
                next = (next + offset + 1) % ordered.len();
                if let Some(list) = assignment.get_mut(&member.member_id) {
                    list.push(TopicPartition::new(topic.clone(), partition));
                }
            }
        }
        sorted(assignment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|&(t, n)| (t.to_owned(), n)).collect()
    }

    fn parts(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|&(t, p)| TopicPartition::new(t, p))
            .collect()
    }

    #[test]
    fn identical_subscriptions_alternate() {
        // Java's documented example: C0 [t0p0, t0p2, t1p1], C1 [t0p1, t1p0, t1p2].
        let members = [
            MemberSubscription::new("C1", ["t0", "t1"]),
            MemberSubscription::new("C0", ["t0", "t1"]),
        ];
        let a = RoundRobinAssignor.assign(&topics(&[("t0", 3), ("t1", 3)]), &members);
        assert_eq!(a["C0"], parts(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(a["C1"], parts(&[("t0", 1), ("t1", 0), ("t1", 2)]));
    }

    #[test]
    fn unsubscribed_members_are_passed_over() {
        // Java's documented example with unequal subscriptions.
        let members = [
            MemberSubscription::new("C0", ["t0"]),
            MemberSubscription::new("C1", ["t0", "t1"]),
            MemberSubscription::new("C2", ["t0", "t1", "t2"]),
        ];
        let a = RoundRobinAssignor.assign(&topics(&[("t0", 1), ("t1", 2), ("t2", 3)]), &members);
        assert_eq!(a["C0"], parts(&[("t0", 0)]));
        assert_eq!(a["C1"], parts(&[("t1", 0)]));
        assert_eq!(
            a["C2"],
            parts(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)])
        );
    }

    #[test]
    fn topics_without_subscribers_or_metadata_are_skipped() {
        let members = [
            MemberSubscription::new("a", ["t", "missing"]),
            MemberSubscription::new("b", ["t"]),
        ];
        let a = RoundRobinAssignor.assign(&topics(&[("t", 3), ("other", 5)]), &members);
        assert_eq!(a["a"], parts(&[("t", 0), ("t", 2)]));
        assert_eq!(a["b"], parts(&[("t", 1)]));
    }

    #[test]
    fn no_members_no_assignment() {
        assert!(RoundRobinAssignor
            .assign(&topics(&[("t", 3)]), &[])
            .is_empty());
    }
}
