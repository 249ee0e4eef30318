//! The `range` assignor: each topic on its own, its partitions cut into contiguous
//! ranges, one per subscribed member.

use std::collections::BTreeMap;

use super::{
    empty_assignment, java_member_order, sorted, subscribed_topics, subscribers, Assignment,
    Assignor, MemberSubscription, RebalanceProtocol,
};
use crate::topic_partition::TopicPartition;

/// Per topic, lays the subscribed members out in Java's order (static members by
/// `group.instance.id`, then the rest by member id) and gives each a contiguous range of
/// partitions; the first `count % members` members get one more. Members that share
/// topics get the same partition numbers of each, which joins co-partitioned topics, at
/// the cost of balance across many topics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
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
        let subscribers_of = subscribers(&ordered);
        for (topic, &count) in &subscribed_topics(partitions_per_topic, members) {
            let consumers: Vec<&MemberSubscription> = subscribers_of
                .get(topic.as_str())
                .into_iter()
                .flatten()
                .filter_map(|&i| ordered.get(i).copied())
                .collect();
            if consumers.is_empty() {
                continue;
            }
            // `count` is positive and `consumers` non-empty: the topic is subscribed.
            let n = consumers.len() as i32;
            let (per_member, with_extra) = (count / n, count % n);
            for (i, member) in (0..).zip(&consumers) {
                let start = per_member * i + i.min(with_extra);
                let len = per_member + i32::from(i < with_extra);
                if let Some(list) = assignment.get_mut(&member.member_id) {
                    list.extend(
                        (start..start + len).map(|p| TopicPartition::new(topic.clone(), p)),
                    );
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
    fn two_members_three_partitions() {
        let members = [
            MemberSubscription::new("c1", ["t"]),
            MemberSubscription::new("c0", ["t"]),
        ];
        let a = RangeAssignor.assign(&topics(&[("t", 3)]), &members);
        assert_eq!(a["c0"], parts(&[("t", 0), ("t", 1)]));
        assert_eq!(a["c1"], parts(&[("t", 2)]));
    }

    #[test]
    fn each_topic_is_ranged_separately() {
        // Java's documented example: C0 [t0p0, t0p1, t1p0, t1p1], C1 [t0p2, t1p2].
        let members = [
            MemberSubscription::new("C0", ["t0", "t1"]),
            MemberSubscription::new("C1", ["t0", "t1"]),
        ];
        let a = RangeAssignor.assign(&topics(&[("t0", 3), ("t1", 3)]), &members);
        assert_eq!(
            a["C0"],
            parts(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)])
        );
        assert_eq!(a["C1"], parts(&[("t0", 2), ("t1", 2)]));
    }

    #[test]
    fn only_subscribers_of_a_topic_share_it() {
        let members = [
            MemberSubscription::new("a", ["t", "u"]),
            MemberSubscription::new("b", ["u"]),
            MemberSubscription::new("c", ["x"]),
        ];
        let a = RangeAssignor.assign(&topics(&[("t", 2), ("u", 4), ("v", 9)]), &members);
        assert_eq!(a["a"], parts(&[("t", 0), ("t", 1), ("u", 0), ("u", 1)]));
        assert_eq!(a["b"], parts(&[("u", 2), ("u", 3)]));
        // Subscribed to a topic without metadata: present, empty.
        assert_eq!(a["c"], Vec::new());
    }

    #[test]
    fn more_members_than_partitions() {
        let members: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|m| MemberSubscription::new(*m, ["t"]))
            .collect();
        let a = RangeAssignor.assign(&topics(&[("t", 2)]), &members);
        assert_eq!(a["a"], parts(&[("t", 0)]));
        assert_eq!(a["b"], parts(&[("t", 1)]));
        assert!(a["c"].is_empty());
    }

    #[test]
    fn static_members_come_first() {
        let mut z = MemberSubscription::new("z", ["t"]);
        z.group_instance_id = Some("instance-0".into());
        let members = [MemberSubscription::new("a", ["t"]), z];
        let a = RangeAssignor.assign(&topics(&[("t", 3)]), &members);
        assert_eq!(a["z"], parts(&[("t", 0), ("t", 1)]));
        assert_eq!(a["a"], parts(&[("t", 2)]));
    }
}
