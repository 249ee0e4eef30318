//! The `cooperative-sticky` assignor: sticky and balanced, for the cooperative rebalance
//! protocol (KIP-429).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::{
    sorted, sticky, subscribed_topics, Assignment, Assignor, MemberSubscription, RebalanceProtocol,
    UNKNOWN_GENERATION,
};
use crate::codec::Reader;
use crate::topic_partition::TopicPartition;

/// Balanced (with identical subscriptions, counts differ by at most one) and sticky
/// (members keep the partitions they own where balance allows), like Java's
/// `CooperativeStickyAssignor`.
///
/// Cooperative: a partition moving from one member to another is left out of this
/// round's assignment altogether. Its owner, not finding it in its new assignment,
/// revokes it and rejoins; the follow-up rebalance then assigns it, now unowned, to its
/// new member. So no partition is ever consumed by two members at once.
///
/// Owned partitions come from the subscription's owned partitions; the generation they
/// belong to from the subscription's generation (version 2+) or, for older members, from
/// the user data (a 4-byte generation from Java, or the `sticky` assignor's layout from
/// older librdkafka).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &'static str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, i32>,
        members: &[MemberSubscription],
    ) -> Assignment {
        let topics = subscribed_topics(partitions_per_topic, members);
        let mut by_id: Vec<&MemberSubscription> = members.iter().collect();
        by_id.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let generations: Vec<i32> = by_id.iter().map(|m| generation_of(m)).collect();

        let ownership = sticky::resolve_ownership(&topics, &by_id, &generations);
        let planned = sticky::assign(&topics, &by_id, &ownership);

        // Everyone who still says it owns a partition, whether or not its claim won:
        // until they all revoke it, nobody else may be given it.
        let mut claimants: BTreeMap<&TopicPartition, BTreeSet<usize>> = BTreeMap::new();
        for (i, member) in by_id.iter().enumerate() {
            for tp in &member.owned_partitions {
                claimants.entry(tp).or_default().insert(i);
            }
        }

        let mut assignment: Assignment = BTreeMap::new();
        for (i, (member, mut partitions)) in by_id.iter().zip(planned).enumerate() {
            partitions.retain(|tp| {
                let owns = ownership.owned.get(i).is_some_and(|o| o.contains(tp));
                let others_hold = claimants
                    .get(tp)
                    .is_some_and(|holders| holders.iter().any(|&h| h != i));
                owns || !others_hold
            });
            assignment
                .entry(member.member_id.clone())
                .or_default()
                .extend(partitions);
        }
        sorted(assignment)
    }

    /// The generation as a 4-byte big-endian INT32, as Java writes it: the leader of a
    /// group whose members predate subscription version 2 reads it from here.
    fn subscription_user_data(&self, generation: i32) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(&generation.to_be_bytes()))
    }
}

/// The generation of a member's owned partitions: the subscription field when the
/// member sent one, else what its user data says, else unknown.
fn generation_of(member: &MemberSubscription) -> i32 {
    if member.generation_id != UNKNOWN_GENERATION {
        return member.generation_id;
    }
    member
        .user_data
        .as_ref()
        .and_then(generation_from_user_data)
        .unwrap_or(UNKNOWN_GENERATION)
}

/// Reads a generation from user data in either layout that carries one: Java's
/// cooperative-sticky (just the INT32) or the sticky assignor's version 1
/// (`[topic [partition]] generation`), which librdkafka sends for both assignors. Data
/// that is neither, to the last byte, gives `None`.
fn generation_from_user_data(data: &Bytes) -> Option<i32> {
    if data.len() == 4 {
        return Reader::new(data.clone()).i32().ok();
    }
    let mut r = Reader::new(data.clone());
    r.array_or_empty(false, |r| {
        r.string(false)?;
        r.array_or_empty(false, |r| r.i32())
    })
    .ok()?;
    let generation = r.i32().ok()?;
    r.is_empty().then_some(generation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|&(t, n)| (t.to_owned(), n)).collect()
    }

    fn parts(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|&(t, p)| TopicPartition::new(t, p))
            .collect()
    }

    fn owning(
        id: &str,
        subs: &[&str],
        owned: &[(&str, i32)],
        generation: i32,
    ) -> MemberSubscription {
        let mut m = MemberSubscription::new(id, subs.iter().copied());
        m.owned_partitions = parts(owned);
        m.generation_id = generation;
        m
    }

    #[test]
    fn fresh_group_is_balanced() {
        let members = [
            MemberSubscription::new("a", ["t"]),
            MemberSubscription::new("b", ["t"]),
        ];
        let a = CooperativeStickyAssignor.assign(&topics(&[("t", 3)]), &members);
        assert_eq!(a["a"], parts(&[("t", 0), ("t", 2)]));
        assert_eq!(a["b"], parts(&[("t", 1)]));
    }

    #[test]
    fn owned_partitions_stay_put() {
        let members = [
            owning("a", &["t"], &[("t", 1), ("t", 2)], 3),
            owning("b", &["t"], &[("t", 0)], 3),
        ];
        let a = CooperativeStickyAssignor.assign(&topics(&[("t", 3)]), &members);
        assert_eq!(a["a"], parts(&[("t", 1), ("t", 2)]));
        assert_eq!(a["b"], parts(&[("t", 0)]));
    }

    #[test]
    fn joining_member_waits_for_the_revocation() {
        // a owns everything; b joins. Round 1: a keeps its quota, the rest is revoked
        // and given to nobody yet.
        let t = topics(&[("t", 4)]);
        let round1 = CooperativeStickyAssignor.assign(
            &t,
            &[
                owning("a", &["t"], &[("t", 0), ("t", 1), ("t", 2), ("t", 3)], 5),
                owning("b", &["t"], &[], -1),
            ],
        );
        assert_eq!(round1["a"], parts(&[("t", 0), ("t", 1)]));
        assert!(round1["b"].is_empty());
        // Round 2: a has revoked 2 and 3, which now go to b.
        let round2 = CooperativeStickyAssignor.assign(
            &t,
            &[
                owning(
                    "a",
                    &["t"],
                    &round1["a"]
                        .iter()
                        .map(|tp| (tp.topic.as_str(), tp.partition))
                        .collect::<Vec<_>>(),
                    6,
                ),
                owning("b", &["t"], &[], -1),
            ],
        );
        assert_eq!(round2["a"], parts(&[("t", 0), ("t", 1)]));
        assert_eq!(round2["b"], parts(&[("t", 2), ("t", 3)]));
    }

    #[test]
    fn departed_members_partitions_move_at_once() {
        // c left; its partitions are owned by nobody present, so they move immediately.
        let members = [
            owning("a", &["t"], &[("t", 0), ("t", 1)], 4),
            owning("b", &["t"], &[("t", 2), ("t", 3)], 4),
        ];
        let a = CooperativeStickyAssignor.assign(&topics(&[("t", 6)]), &members);
        assert_eq!(a["a"], parts(&[("t", 0), ("t", 1), ("t", 4)]));
        assert_eq!(a["b"], parts(&[("t", 2), ("t", 3), ("t", 5)]));
    }

    #[test]
    fn newest_generation_wins_a_contested_partition() {
        let members = [
            owning("a", &["t"], &[("t", 0)], 3),
            owning("b", &["t"], &[("t", 0), ("t", 1)], 4),
            owning("c", &["t"], &[], -1),
        ];
        let a = CooperativeStickyAssignor.assign(&topics(&[("t", 3)]), &members);
        // b's claim on t-0 wins over a's stale one; b keeps its quota of one and must
        // revoke t-1 before anyone gets it; c gets the free t-2.
        assert_eq!(a["b"], parts(&[("t", 0)]));
        assert!(a["a"].is_empty());
        assert_eq!(a["c"], parts(&[("t", 2)]));
    }

    #[test]
    fn same_generation_claims_void_each_other() {
        let members = [
            owning("a", &["t"], &[("t", 0)], 4),
            owning("b", &["t"], &[("t", 0)], 4),
        ];
        let a = CooperativeStickyAssignor.assign(&topics(&[("t", 2)]), &members);
        // Neither keeps t-0, and while both claim it nobody may get it.
        let all: Vec<_> = a.values().flatten().cloned().collect();
        assert_eq!(all, parts(&[("t", 1)]));
    }

    #[test]
    fn unequal_subscriptions_keep_and_balance() {
        let members = [
            owning("a", &["t", "u"], &[("t", 0), ("t", 1), ("u", 0)], 2),
            owning("b", &["t"], &[], 2),
        ];
        let a = CooperativeStickyAssignor.assign(&topics(&[("t", 2), ("u", 1)]), &members);
        // b can only take from t; a gives one up, but b must wait for the revocation.
        assert_eq!(a["a"].len(), 2);
        assert!(a["a"].contains(&TopicPartition::new("u", 0)));
        assert!(a["b"].is_empty());
    }

    #[test]
    fn newly_placed_partitions_move_before_owned_ones() {
        // x owns f-0 and is given f-1 and p-2 afresh, which leaves it two above y. Moving
        // the fresh f-1 to y evens that out without revoking anything.
        let members = [
            owning("x", &["f", "p"], &[("f", 0)], 1),
            owning("y", &["f", "g"], &[("g", 0)], 1),
            owning("z", &["p"], &[], 1),
        ];
        let a =
            CooperativeStickyAssignor.assign(&topics(&[("f", 2), ("g", 1), ("p", 3)]), &members);
        assert_eq!(a["x"], parts(&[("f", 0), ("p", 2)]));
        assert_eq!(a["y"], parts(&[("f", 1), ("g", 0)]));
        assert_eq!(a["z"], parts(&[("p", 0), ("p", 1)]));
    }

    #[test]
    fn generation_from_old_user_data() {
        assert_eq!(
            generation_from_user_data(&Bytes::from_static(&[0, 0, 0, 9])),
            Some(9)
        );
        // sticky v1 layout: one topic "t" with partitions [0, 1], generation 12.
        let mut b = BytesMut::new();
        b.put_i32(1);
        b.put_i16(1);
        b.put_slice(b"t");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(1);
        b.put_i32(12);
        assert_eq!(generation_from_user_data(&b.freeze()), Some(12));
        assert_eq!(
            generation_from_user_data(&Bytes::from_static(&[1, 2, 3])),
            None
        );

        let mut m = MemberSubscription::new("m", ["t"]);
        m.user_data = CooperativeStickyAssignor.subscription_user_data(31);
        assert_eq!(generation_of(&m), 31);
        m.generation_id = 40;
        assert_eq!(generation_of(&m), 40);
    }
}
