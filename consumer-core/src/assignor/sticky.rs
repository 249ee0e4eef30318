//! The sticky assignment core, after Java's `AbstractStickyAssignor`: a balanced
//! assignment that keeps as many owned partitions where they are as balance allows.
//!
//! Two paths, as in Java. When every member subscribes to the same topics the quotas are
//! known up front (each member gets `floor` or `ceil` of partitions / members) and one
//! pass suffices. Otherwise owned partitions stay, the rest go to the least loaded
//! eligible member, and partitions then move one at a time from a member to an eligible
//! one holding at least two fewer, until no such move is left. Each move lowers the sum
//! of squared counts, so this ends.
//!
//! The core does not know about cooperative rebalancing; the caller removes what must be
//! revoked first.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{MemberSubscription, UNKNOWN_GENERATION};
use crate::topic_partition::TopicPartition;

/// Who may keep which partition, after sorting out conflicting claims.
#[derive(Debug, Default)]
pub(super) struct Ownership {
    /// Per member (index into the sorted members): the owned partitions it may keep.
    pub owned: Vec<BTreeSet<TopicPartition>>,
}

/// Sorts out the members' claims on existing partitions of `topics`.
///
/// A partition claimed by several members belongs to the one that claims it with the
/// highest generation; if several share that generation none of them keeps it (it is
/// handed out afresh, and the cooperative rule then waits for them to revoke it).
pub(super) fn resolve_ownership(
    topics: &BTreeMap<String, i32>,
    members: &[&MemberSubscription],
    generations: &[i32],
) -> Ownership {
    let exists = |tp: &TopicPartition| {
        topics
            .get(&tp.topic)
            .is_some_and(|&count| (0..count).contains(&tp.partition))
    };
    let mut claims: BTreeMap<&TopicPartition, BTreeMap<usize, i32>> = BTreeMap::new();
    for (i, member) in members.iter().enumerate() {
        let generation = generations.get(i).copied().unwrap_or(UNKNOWN_GENERATION);
        for tp in member.owned_partitions.iter().filter(|tp| exists(tp)) {
            claims.entry(tp).or_default().insert(i, generation);
        }
    }

    let mut ownership = Ownership {
        owned: vec![BTreeSet::new(); members.len()],
    };
    for (tp, claimants) in claims {
        let Some(&newest) = claimants.values().max() else {
            continue;
        };
        let mut winners = claimants.iter().filter(|&(_, &g)| g == newest);
        if let (Some((&winner, _)), None) = (winners.next(), winners.next()) {
            if let Some(owned) = ownership.owned.get_mut(winner) {
                owned.insert(tp.clone());
            }
        }
    }
    ownership
}

/// Assigns the partitions of `topics` (only subscribed topics with partitions) to
/// `members` (sorted by member id), keeping owned partitions where balance allows.
/// Returns one list per member, in the members' order.
pub(super) fn assign(
    topics: &BTreeMap<String, i32>,
    members: &[&MemberSubscription],
    ownership: &Ownership,
) -> Vec<Vec<TopicPartition>> {
    if members.is_empty() {
        return Vec::new();
    }
    let first: BTreeSet<&String> = members[0].topics.iter().collect();
    let all_equal = members
        .iter()
        .all(|m| m.topics.iter().collect::<BTreeSet<_>>() == first);
    if all_equal {
        constrained(topics, members.len(), ownership)
    } else {
        general(topics, members, ownership)
    }
}

/// Every partition of `topics`, by topic then partition.
fn all_partitions(topics: &BTreeMap<String, i32>) -> impl Iterator<Item = TopicPartition> + '_ {
    topics
        .iter()
        .flat_map(|(topic, &count)| (0..count).map(move |p| TopicPartition::new(topic.clone(), p)))
}

/// Identical subscriptions: `n` members, quotas known up front.
///
/// 1. Each member keeps its owned partitions up to its quota: all of them if fewer than
///    the minimum quota, the maximum quota while fewer than `total % n` members have
///    been given that, else the minimum quota.
/// 2. The partitions left are dealt round-robin, first to members under the minimum
///    quota until they reach it, then one each to members at the minimum until
///    `total % n` members hold the maximum.
fn constrained(
    topics: &BTreeMap<String, i32>,
    n: usize,
    ownership: &Ownership,
) -> Vec<Vec<TopicPartition>> {
    let total: usize = topics.values().map(|&c| c.max(0) as usize).sum();
    let min_quota = total / n;
    let max_quota = total.div_ceil(n);
    let expected_over_min = total % n;
    let mut over_min = 0;

    let mut assignment: Vec<Vec<TopicPartition>> = vec![Vec::new(); n];
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    // Members still below the minimum quota, and members at it that may take one more.
    let mut under: Vec<usize> = Vec::new();
    let mut at_min: VecDeque<usize> = VecDeque::new();

    for (i, list) in assignment.iter_mut().enumerate() {
        let mut owned: Vec<&TopicPartition> = ownership
            .owned
            .get(i)
            .map(|o| o.iter().collect())
            .unwrap_or_default();
        // Keeping the lowest partition numbers first spreads what each member keeps over
        // topics, as Java does.
        owned.sort_by(|a, b| (a.partition, &a.topic).cmp(&(b.partition, &b.topic)));
        let keep = if owned.len() < min_quota {
            under.push(i);
            owned.len()
        } else if owned.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            if over_min == expected_over_min {
                at_min.clear();
            }
            max_quota
        } else {
            if over_min < expected_over_min {
                at_min.push_back(i);
            }
            min_quota
        };
        for tp in owned.into_iter().take(keep) {
            taken.insert(tp.clone());
            list.push(tp.clone());
        }
    }

    let mut cursor = 0;
    for tp in all_partitions(topics).filter(|tp| !taken.contains(tp)) {
        if cursor >= under.len() {
            cursor = 0;
        }
        let (member, from_under) = if let Some(&m) = under.get(cursor) {
            (m, true)
        } else if let Some(m) = at_min.pop_front() {
            (m, false)
        } else {
            // The quotas add up to the total, so this is unreachable; stay total anyway.
            log::error!("sticky assignor: no member below quota for {tp}");
            let least = (0..n)
                .min_by_key(|&i| (assignment[i].len(), i))
                .unwrap_or(0);
            (least, false)
        };
        assignment[member].push(tp);
        if from_under {
            if assignment[member].len() >= min_quota {
                under.remove(cursor);
                at_min.push_back(member);
            } else {
                cursor += 1;
            }
        }
    }
    assignment
}

/// Different subscriptions: keep what is owned and still subscribed, place the rest on
/// the least loaded eligible member, then move partitions until no move would even out
/// the counts further.
fn general(
    topics: &BTreeMap<String, i32>,
    members: &[&MemberSubscription],
    ownership: &Ownership,
) -> Vec<Vec<TopicPartition>> {
    let mut subscribers_of = super::subscribers(members);
    let candidates: BTreeMap<&str, Vec<usize>> = topics
        .keys()
        .map(|t| {
            (
                t.as_str(),
                subscribers_of.remove(t.as_str()).unwrap_or_default(),
            )
        })
        .collect();
    let candidates_of = |tp: &TopicPartition| -> &[usize] {
        candidates.get(tp.topic.as_str()).map_or(&[], Vec::as_slice)
    };

    // Topics with the fewest candidates first, as in Java: they have the least choice.
    let mut topic_order: Vec<(&String, i32)> = topics.iter().map(|(t, &c)| (t, c)).collect();
    topic_order.sort_by_key(|&(t, _)| (candidates.get(t.as_str()).map_or(0, Vec::len), t));
    let ordered: Vec<TopicPartition> = topic_order
        .iter()
        .flat_map(|&(t, count)| (0..count).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect();

    let mut state = Balancer {
        owner: BTreeMap::new(),
        counts: vec![0; members.len()],
    };
    for (i, owned) in ownership.owned.iter().enumerate() {
        for tp in owned {
            if candidates_of(tp).contains(&i) {
                state.owner.insert(tp.clone(), i);
                state.counts[i] += 1;
            }
        }
    }
    let fresh: Vec<TopicPartition> = ordered
        .iter()
        .filter(|tp| !state.owner.contains_key(*tp))
        .cloned()
        .collect();
    for tp in &fresh {
        if let Some(&least) = candidates_of(tp)
            .iter()
            .min_by_key(|&&c| (state.counts[c], c))
        {
            state.owner.insert(tp.clone(), least);
            state.counts[least] += 1;
        }
    }

    // Move the partitions placed just now before any that a member already owned.
    state.balance(&fresh, &candidates_of);
    state.balance(&ordered, &candidates_of);

    let mut assignment = vec![Vec::new(); members.len()];
    for (tp, member) in state.owner {
        assignment[member].push(tp);
    }
    assignment
}

/// Who holds what during the general path.
struct Balancer {
    owner: BTreeMap<TopicPartition, usize>,
    counts: Vec<usize>,
}

impl Balancer {
    /// Moves partitions of `order`, in that order, from their holder to the least loaded
    /// eligible member if that one holds at least two fewer, pass after pass until a pass
    /// moves nothing.
    fn balance<'a>(
        &mut self,
        order: &[TopicPartition],
        candidates_of: &impl Fn(&TopicPartition) -> &'a [usize],
    ) {
        loop {
            let mut moved = false;
            for tp in order {
                let Some(&holder) = self.owner.get(tp) else {
                    continue;
                };
                let held = self.counts[holder];
                let target = candidates_of(tp)
                    .iter()
                    .copied()
                    .filter(|&c| c != holder)
                    .min_by_key(|&c| (self.counts[c], c))
                    .filter(|&c| held > self.counts[c] + 1);
                if let Some(target) = target {
                    self.owner.insert(tp.clone(), target);
                    self.counts[holder] -= 1;
                    self.counts[target] += 1;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
    }
}
