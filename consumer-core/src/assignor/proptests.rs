//! Invariants every assignor must keep, checked on generated groups.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;

const TOPICS: [&str; 4] = ["a", "b", "c", "d"];

/// Partition counts: each topic missing, empty, or with up to 7 partitions.
fn topic_counts() -> impl Strategy<Value = BTreeMap<String, i32>> {
    proptest::collection::vec(
        prop_oneof![1 => Just(None), 5 => (0..8i32).prop_map(Some)],
        4,
    )
    .prop_map(|counts| {
        TOPICS
            .iter()
            .zip(counts)
            .filter_map(|(t, c)| c.map(|c| ((*t).to_owned(), c)))
            .collect()
    })
}

/// One subscription: a non-empty subset of the topics (some may lack metadata).
fn topic_set() -> impl Strategy<Value = Vec<String>> {
    proptest::sample::subsequence(TOPICS.to_vec(), 1..=TOPICS.len())
        .prop_map(|ts| ts.into_iter().map(str::to_owned).collect())
}

/// `min`–6 members with distinct ids in scrambled order, some static; subscriptions
/// all equal when `identical`.
fn members_from(min: usize, identical: bool) -> impl Strategy<Value = Vec<MemberSubscription>> {
    (
        topic_set(),
        proptest::collection::vec((topic_set(), any::<bool>(), 0..1000u32), min..=6),
    )
        .prop_map(move |(shared, specs)| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (own, is_static, salt))| {
                    let topics = if identical { shared.clone() } else { own };
                    let mut m = MemberSubscription::new(format!("m{salt:03}-{i}"), topics);
                    if is_static {
                        m.group_instance_id = Some(format!("i{}", (salt * 7) % 13));
                    }
                    m
                })
                .collect()
        })
}

/// 1–6 members; see [`members_from`].
fn members(identical: bool) -> impl Strategy<Value = Vec<MemberSubscription>> {
    members_from(1, identical)
}

fn all_assignors() -> Vec<Box<dyn Assignor>> {
    ["range", "roundrobin", "cooperative-sticky"]
        .iter()
        .filter_map(|n| assignor_by_name(n))
        .collect()
}

/// Every partition of a subscribed topic with metadata.
fn subscribed_partitions(
    topics: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
) -> BTreeSet<TopicPartition> {
    subscribed_topics(topics, members)
        .iter()
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}

/// Each member present, each partition given at most once, only to a subscriber of its
/// topic, and only partitions that exist. Returns the partitions given out.
fn check_valid(
    topics: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
    assignment: &Assignment,
) -> Result<BTreeSet<TopicPartition>, TestCaseError> {
    let ids: BTreeSet<&String> = members.iter().map(|m| &m.member_id).collect();
    prop_assert_eq!(assignment.keys().collect::<BTreeSet<_>>(), ids);
    let exists = subscribed_partitions(topics, members);
    let mut given = BTreeSet::new();
    for m in members {
        for tp in &assignment[&m.member_id] {
            prop_assert!(given.insert(tp.clone()), "{} given twice", tp);
            prop_assert!(exists.contains(tp), "{} does not exist", tp);
            prop_assert!(
                m.subscribes_to(&tp.topic),
                "{} not subscribed by {}",
                tp,
                m.member_id
            );
        }
    }
    Ok(given)
}

fn spread(assignment: &Assignment) -> usize {
    let counts = assignment.values().map(Vec::len);
    counts.clone().max().unwrap_or(0) - counts.min().unwrap_or(0)
}

/// Java's balance for any subscriptions: no partition could move to another subscriber
/// of its topic holding at least two fewer.
fn check_no_improving_move(
    members: &[MemberSubscription],
    assignment: &Assignment,
) -> Result<(), TestCaseError> {
    let count = |m: &MemberSubscription| assignment[&m.member_id].len();
    for holder in members {
        for tp in &assignment[&holder.member_id] {
            for other in members.iter().filter(|o| o.subscribes_to(&tp.topic)) {
                prop_assert!(
                    count(holder) <= count(other) + 1,
                    "{} could move from {} to {}: {:?}",
                    tp,
                    holder.member_id,
                    other.member_id,
                    assignment
                );
            }
        }
    }
    Ok(())
}

/// The members after a round: each now owns what it was assigned, at `generation`.
fn after_round(
    members: &[MemberSubscription],
    assignment: &Assignment,
    generation: i32,
) -> Vec<MemberSubscription> {
    members
        .iter()
        .map(|m| MemberSubscription {
            owned_partitions: assignment[&m.member_id].clone(),
            generation_id: generation,
            ..m.clone()
        })
        .collect()
}

/// Consistent ownership: each partition owned by at most one member, at a random
/// generation per member.
fn with_random_owners(
    members: Vec<MemberSubscription>,
    topics: &BTreeMap<String, i32>,
    picks: &[u8],
    generations: &[i32],
) -> Vec<MemberSubscription> {
    let all = subscribed_partitions(topics, &members);
    let n = members.len();
    let mut members = members;
    for (k, tp) in all.into_iter().enumerate() {
        // Some partitions stay unowned: a pick past the members means nobody.
        let pick = usize::from(picks[k % picks.len()]) % (n + 2);
        if let Some(m) = members.get_mut(pick) {
            m.owned_partitions.push(tp);
        }
    }
    for (i, m) in members.iter_mut().enumerate() {
        m.generation_id = generations[i % generations.len()];
    }
    members
}

fn owners_of(members: &[MemberSubscription]) -> BTreeMap<TopicPartition, &str> {
    members
        .iter()
        .flat_map(|m| {
            m.owned_partitions
                .iter()
                .map(move |tp| (tp.clone(), m.member_id.as_str()))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_subscribed_partition_goes_to_one_subscriber(
        topics in topic_counts(),
        members in prop_oneof![members(true), members(false)],
    ) {
        for assignor in all_assignors() {
            let a = assignor.assign(&topics, &members);
            let given = check_valid(&topics, &members, &a)?;
            // Nothing is owned, so nothing waits for a revocation.
            prop_assert_eq!(given, subscribed_partitions(&topics, &members), "{}", assignor.name());
        }
    }

    #[test]
    fn output_ignores_member_order(
        topics in topic_counts(),
        members in prop_oneof![members(true), members(false)],
        picks in proptest::collection::vec(any::<u8>(), 1..16),
        rotate in 0..6usize,
    ) {
        let members = with_random_owners(members, &topics, &picks, &[3, 4]);
        let mut shuffled = members.clone();
        shuffled.reverse();
        let len = shuffled.len();
        shuffled.rotate_left(rotate % len);
        for assignor in all_assignors() {
            prop_assert_eq!(
                assignor.assign(&topics, &members),
                assignor.assign(&topics, &shuffled),
                "{}", assignor.name()
            );
        }
    }

    #[test]
    fn identical_subscriptions_are_balanced(
        topics in topic_counts(),
        members in members(true),
    ) {
        for name in ["roundrobin", "cooperative-sticky"] {
            let a = assignor_by_name(name).expect("known").assign(&topics, &members);
            prop_assert!(spread(&a) <= 1, "{}: {:?}", name, a);
        }
    }

    #[test]
    fn sticky_balances_any_subscriptions(
        topics in topic_counts(),
        members in prop_oneof![members(true), members(false)],
        generation in 0..100i32,
    ) {
        let first = CooperativeStickyAssignor.assign(&topics, &members);
        check_no_improving_move(&members, &first)?;
        // Settled, it stays balanced.
        let settled = after_round(&members, &first, generation);
        check_no_improving_move(&settled, &CooperativeStickyAssignor.assign(&topics, &settled))?;
    }

    #[test]
    fn sticky_moves_nothing_when_a_member_leaves(
        topics in topic_counts(),
        members in members_from(2, true),
        leaver in any::<prop::sample::Index>(),
    ) {
        let first = CooperativeStickyAssignor.assign(&topics, &members);
        let mut rest = after_round(&members, &first, 1);
        rest.remove(leaver.index(rest.len()));
        let second = CooperativeStickyAssignor.assign(&topics, &rest);
        prop_assert_eq!(check_valid(&topics, &rest, &second)?, subscribed_partitions(&topics, &rest));
        prop_assert!(spread(&second) <= 1, "{:?}", second);
        for m in &rest {
            for tp in &m.owned_partitions {
                prop_assert!(second[&m.member_id].contains(tp), "{} moved off {}", tp, m.member_id);
            }
        }
    }

    #[test]
    fn sticky_moves_only_what_a_joiner_needs(
        topics in topic_counts(),
        members in members(true),
    ) {
        let (joiner, old) = members.split_last().expect("at least one member");
        let first = CooperativeStickyAssignor.assign(&topics, old);
        let mut all = after_round(old, &first, 1);
        all.push(joiner.clone());
        let second = CooperativeStickyAssignor.assign(&topics, &all);
        let total = subscribed_partitions(&topics, &all).len();
        let min_quota = total / all.len();
        for m in &all {
            let kept = m.owned_partitions.iter().filter(|tp| second[&m.member_id].contains(tp)).count();
            // Everyone keeps at least the new minimum quota of what it had (or all of it).
            prop_assert!(kept >= m.owned_partitions.len().min(min_quota), "{} kept {} of {:?}", m.member_id, kept, m.owned_partitions);
        }
    }

    #[test]
    fn range_gives_contiguous_ranges_per_topic(
        topics in topic_counts(),
        members in prop_oneof![members(true), members(false)],
    ) {
        let a = RangeAssignor.assign(&topics, &members);
        for (topic, &count) in &subscribed_topics(&topics, &members) {
            let mut next = 0;
            let mut sizes = Vec::new();
            for m in java_member_order(&members).into_iter().filter(|m| m.subscribes_to(topic)) {
                let mine: Vec<i32> = a[&m.member_id].iter().filter(|tp| &tp.topic == topic).map(|tp| tp.partition).collect();
                prop_assert_eq!(&mine, &(next..next + mine.len() as i32).collect::<Vec<_>>());
                next += mine.len() as i32;
                sizes.push(mine.len());
            }
            prop_assert_eq!(next, count);
            prop_assert!(sizes.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1), "{:?}", sizes);
        }
    }

    #[test]
    fn sticky_keeps_a_settled_assignment(
        topics in topic_counts(),
        members in prop_oneof![members(true), members(false)],
        generation in 0..100i32,
    ) {
        let first = CooperativeStickyAssignor.assign(&topics, &members);
        let settled = after_round(&members, &first, generation);
        prop_assert_eq!(CooperativeStickyAssignor.assign(&topics, &settled), first);
    }

    #[test]
    fn cooperative_never_gives_away_an_owned_partition(
        topics in topic_counts(),
        members in prop_oneof![members(true), members(false)],
        picks in proptest::collection::vec(any::<u8>(), 1..16),
        generations in proptest::collection::vec(-1..5i32, 1..4),
    ) {
        let members = with_random_owners(members, &topics, &picks, &generations);
        let owners = owners_of(&members);
        let a = CooperativeStickyAssignor.assign(&topics, &members);
        let given = check_valid(&topics, &members, &a)?;
        for (member, partitions) in &a {
            for tp in partitions {
                if let Some(owner) = owners.get(tp) {
                    prop_assert_eq!(*owner, member.as_str(), "{} owned elsewhere", tp);
                }
            }
        }
        // Only partitions waiting for their owner to revoke them may be left out.
        for tp in subscribed_partitions(&topics, &members).difference(&given) {
            prop_assert!(owners.contains_key(tp), "unowned {} left out", tp);
        }
    }

    #[test]
    fn cooperative_converges_in_two_rounds_with_identical_subscriptions(
        topics in topic_counts(),
        members in members(true),
        picks in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let members = with_random_owners(members, &topics, &picks, &[7]);
        let round1 = CooperativeStickyAssignor.assign(&topics, &members);
        let members = after_round(&members, &round1, 8);
        let round2 = CooperativeStickyAssignor.assign(&topics, &members);
        let given = check_valid(&topics, &members, &round2)?;
        prop_assert_eq!(given, subscribed_partitions(&topics, &members));
        prop_assert!(spread(&round2) <= 1, "{:?}", round2);
        // Nothing owned in round 2 was taken away.
        for m in &members {
            for tp in &m.owned_partitions {
                prop_assert!(round2[&m.member_id].contains(tp), "{} revoked again", tp);
            }
        }
    }

    #[test]
    fn cooperative_settles_with_different_subscriptions(
        topics in topic_counts(),
        members in members(false),
        picks in proptest::collection::vec(any::<u8>(), 1..16),
    ) {
        let mut members = with_random_owners(members, &topics, &picks, &[7]);
        let mut previous = None;
        for generation in 8..12 {
            let a = CooperativeStickyAssignor.assign(&topics, &members);
            check_valid(&topics, &members, &a)?;
            if previous.as_ref() == Some(&a) {
                break;
            }
            members = after_round(&members, &a, generation);
            previous = Some(a);
        }
        let last = CooperativeStickyAssignor.assign(&topics, &members);
        prop_assert_eq!(Some(&last), previous.as_ref(), "not settled after four rounds");
        prop_assert_eq!(
            last.values().flatten().cloned().collect::<BTreeSet<_>>(),
            subscribed_partitions(&topics, &members)
        );
    }
}
