//! Conversions between the assignors' types and the embedded consumer protocol.

use std::collections::BTreeMap;

use super::MemberSubscription;
use crate::codec::consumer_protocol::{ConsumerProtocolSubscription, TopicPartitions};
use crate::topic_partition::TopicPartition;

/// Groups partitions by topic, topics and partitions sorted, duplicates dropped: the
/// layout of owned and assigned partitions on the wire.
pub(crate) fn group_by_topic(partitions: &[TopicPartition]) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(topic, mut partitions)| {
            partitions.sort_unstable();
            partitions.dedup();
            TopicPartitions {
                topic: topic.to_owned(),
                partitions,
            }
        })
        .collect()
}

/// Flattens the wire layout into single partitions, in the order given.
pub(crate) fn ungroup(grouped: &[TopicPartitions]) -> Vec<TopicPartition> {
    grouped
        .iter()
        .flat_map(|tps| {
            tps.partitions
                .iter()
                .map(|&p| TopicPartition::new(tps.topic.clone(), p))
        })
        .collect()
}

impl MemberSubscription {
    /// A member's subscription from the metadata it sent in JoinGroup.
    pub(crate) fn from_protocol(
        member_id: impl Into<String>,
        group_instance_id: Option<String>,
        subscription: &ConsumerProtocolSubscription,
    ) -> Self {
        Self {
            member_id: member_id.into(),
            group_instance_id,
            topics: subscription.topics.clone(),
            owned_partitions: ungroup(&subscription.owned_partitions),
            generation_id: subscription.generation_id,
            rack_id: subscription.rack_id.clone(),
            user_data: subscription.user_data.clone(),
        }
    }

    /// The metadata to send in JoinGroup for this subscription.
    #[cfg(test)]
    pub(crate) fn to_protocol(&self) -> ConsumerProtocolSubscription {
        ConsumerProtocolSubscription {
            topics: self.topics.clone(),
            user_data: self.user_data.clone(),
            owned_partitions: group_by_topic(&self.owned_partitions),
            generation_id: self.generation_id,
            rack_id: self.rack_id.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::consumer_protocol::LATEST_VERSION;
    use bytes::Bytes;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn grouping_sorts_and_dedups() {
        let grouped = group_by_topic(&[tp("b", 1), tp("a", 2), tp("b", 0), tp("a", 2)]);
        assert_eq!(
            grouped,
            vec![
                TopicPartitions {
                    topic: "a".into(),
                    partitions: vec![2]
                },
                TopicPartitions {
                    topic: "b".into(),
                    partitions: vec![0, 1]
                },
            ]
        );
        assert_eq!(ungroup(&grouped), vec![tp("a", 2), tp("b", 0), tp("b", 1)]);
    }

    #[test]
    fn subscription_survives_the_wire() {
        let member = MemberSubscription {
            member_id: "m-1".into(),
            group_instance_id: Some("i".into()),
            topics: vec!["t".into(), "u".into()],
            owned_partitions: vec![tp("t", 0), tp("u", 3)],
            generation_id: 7,
            rack_id: Some("r1".into()),
            user_data: Some(Bytes::from_static(&[0, 0, 0, 7])),
        };
        let bytes = member
            .to_protocol()
            .encode(LATEST_VERSION)
            .expect("encodes");
        let back = ConsumerProtocolSubscription::decode(bytes).expect("decodes");
        assert_eq!(
            MemberSubscription::from_protocol("m-1", Some("i".into()), &back),
            member
        );
    }
}
