//! Subscription state: the assigned partitions and, for each, where consumption stands.

use std::time::Instant;

use indexmap::IndexMap;

use crate::config::AutoOffsetReset;
use crate::metrics::Consumed;
use crate::topic_partition::{FetchPosition, TopicPartition};

/// Where to move a partition whose position must be looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetResetStrategy {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
}

impl OffsetResetStrategy {
    /// The ListOffsets timestamp that asks for this offset.
    pub(crate) fn timestamp(self) -> i64 {
        match self {
            OffsetResetStrategy::Earliest => -2,
            OffsetResetStrategy::Latest => -1,
        }
    }

    /// The strategy of `auto.offset.reset`, if it names one.
    pub(crate) fn from_policy(policy: AutoOffsetReset) -> Option<Self> {
        match policy {
            AutoOffsetReset::Earliest => Some(Self::Earliest),
            AutoOffsetReset::Latest => Some(Self::Latest),
            AutoOffsetReset::None => None,
        }
    }
}

/// A pending offset reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingReset {
    /// Where to go.
    pub(crate) strategy: OffsetResetStrategy,
    /// A ListOffsets request for it is in flight.
    pub(crate) in_flight: bool,
    /// Not to be retried before this time.
    pub(crate) next_attempt: Option<Instant>,
}

/// The state of one assigned partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionState {
    /// The next offset to fetch and hand out, once known.
    pub position: Option<FetchPosition>,
    /// Paused by the caller: not fetched, nothing handed out.
    pub paused: bool,
    /// A reset waiting for ListOffsets.
    pub(crate) reset: Option<PendingReset>,
    /// The high watermark from the last fetch.
    pub high_watermark: Option<i64>,
    /// The last stable offset from the last fetch.
    pub last_stable_offset: Option<i64>,
    /// The log start offset from the last fetch.
    pub log_start_offset: Option<i64>,
    /// Records and bytes handed out since the partition was assigned.
    pub(crate) consumed: Consumed,
}

impl PartitionState {
    /// True if records may be fetched for this partition.
    pub fn is_fetchable(&self) -> bool {
        !self.paused && self.position.is_some() && self.reset.is_none()
    }
}

/// The assigned partitions and their per-partition state, in assignment order.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionState {
    partitions: IndexMap<TopicPartition, PartitionState>,
    kind: SubscriptionKind,
    topics: Vec<String>,
}

/// How partitions come to be assigned; the two ways do not mix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubscriptionKind {
    /// Nothing subscribed or assigned yet.
    #[default]
    None,
    /// The caller assigns partitions itself.
    UserAssigned,
    /// The group assigns partitions of a list of topics.
    Topics,
    /// The group assigns partitions of the topics matching a pattern.
    Pattern,
}

impl SubscriptionState {
    /// No partitions assigned.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// How partitions are assigned.
    pub fn kind(&self) -> SubscriptionKind {
        self.kind
    }

    /// Switches to `kind`; refused (false) when a different kind is in use and not
    /// cleared with [`unsubscribe`](Self::unsubscribe) first.
    pub(crate) fn set_kind(&mut self, kind: SubscriptionKind) -> bool {
        if self.kind != SubscriptionKind::None && self.kind != kind {
            return false;
        }
        self.kind = kind;
        true
    }

    /// The subscribed topics (group subscriptions; matched topics for a pattern).
    pub fn subscribed_topics(&self) -> &[String] {
        &self.topics
    }

    /// Sets the subscribed topics; true if they changed.
    pub(crate) fn set_subscribed_topics(&mut self, mut topics: Vec<String>) -> bool {
        topics.sort();
        topics.dedup();
        if topics == self.topics {
            return false;
        }
        self.topics = topics;
        true
    }

    /// Clears the subscription, the assignment and the kind.
    pub(crate) fn unsubscribe(&mut self) {
        self.partitions.clear();
        self.topics.clear();
        self.kind = SubscriptionKind::None;
    }

    /// Replaces the assignment; partitions kept keep their state.
    pub(crate) fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let mut next = IndexMap::new();
        for tp in partitions {
            let state = self.partitions.swap_remove(&tp).unwrap_or_default();
            next.insert(tp, state);
        }
        self.partitions = next;
    }

    /// The assigned partitions.
    pub fn assigned(&self) -> impl Iterator<Item = &TopicPartition> {
        self.partitions.keys()
    }

    /// Assigned partitions with their state.
    pub fn iter(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionState)> {
        self.partitions.iter()
    }

    /// The number of assigned partitions.
    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    /// True if nothing is assigned.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// True if `tp` is assigned.
    pub fn is_assigned(&self, tp: &TopicPartition) -> bool {
        self.partitions.contains_key(tp)
    }

    /// The state of `tp`, if assigned.
    pub fn get(&self, tp: &TopicPartition) -> Option<&PartitionState> {
        self.partitions.get(tp)
    }

    /// The mutable state of `tp`, if assigned.
    pub(crate) fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut PartitionState> {
        self.partitions.get_mut(tp)
    }

    /// The distinct topics of the assignment.
    pub fn topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = Vec::new();
        for tp in self.partitions.keys() {
            if !topics.contains(&tp.topic) {
                topics.push(tp.topic.clone());
            }
        }
        topics
    }

    /// The position of `tp`, if assigned and known.
    pub fn position(&self, tp: &TopicPartition) -> Option<FetchPosition> {
        self.partitions.get(tp).and_then(|s| s.position)
    }

    /// Moves `tp` to `position`, cancelling any pending reset. False if not assigned.
    pub(crate) fn seek(&mut self, tp: &TopicPartition, position: FetchPosition) -> bool {
        match self.partitions.get_mut(tp) {
            Some(s) => {
                s.position = Some(position);
                s.reset = None;
                true
            }
            None => false,
        }
    }

    /// Moves `tp` past records just handed out, counting them. False if not assigned.
    pub(crate) fn advance(
        &mut self,
        tp: &TopicPartition,
        position: FetchPosition,
        consumed: Consumed,
    ) -> bool {
        match self.partitions.get_mut(tp) {
            Some(s) => {
                s.position = Some(position);
                s.reset = None;
                s.consumed.add(consumed);
                true
            }
            None => false,
        }
    }

    /// Asks for `tp` to be moved by `strategy` (ListOffsets). False if not assigned.
    pub(crate) fn request_reset(
        &mut self,
        tp: &TopicPartition,
        strategy: OffsetResetStrategy,
    ) -> bool {
        match self.partitions.get_mut(tp) {
            Some(s) => {
                s.reset = Some(PendingReset {
                    strategy,
                    in_flight: false,
                    next_attempt: None,
                });
                true
            }
            None => false,
        }
    }

    /// Pauses or resumes `tp`. False if not assigned.
    pub(crate) fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> bool {
        match self.partitions.get_mut(tp) {
            Some(s) => {
                s.paused = paused;
                true
            }
            None => false,
        }
    }

    /// True if `tp` is assigned and paused.
    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.partitions.get(tp).is_some_and(|s| s.paused)
    }

    /// Partitions with neither a position nor a pending reset.
    pub(crate) fn missing_positions(&self) -> Vec<TopicPartition> {
        self.partitions
            .iter()
            .filter(|(_, s)| s.position.is_none() && s.reset.is_none())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Partitions whose reset may be sent now: not in flight, backoff over.
    pub(crate) fn resets_due(&self, now: Instant) -> Vec<(TopicPartition, OffsetResetStrategy)> {
        self.partitions
            .iter()
            .filter_map(|(tp, s)| {
                let r = s.reset?;
                let due = !r.in_flight && r.next_attempt.is_none_or(|t| t <= now);
                due.then(|| (tp.clone(), r.strategy))
            })
            .collect()
    }

    /// When each backed-off reset may be retried.
    pub(crate) fn reset_attempts(&self) -> impl Iterator<Item = Instant> + '_ {
        self.partitions.values().filter_map(|s| {
            s.reset
                .filter(|r| !r.in_flight)
                .and_then(|r| r.next_attempt)
        })
    }

    /// Partitions that may be fetched now.
    pub(crate) fn fetchable(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionState)> {
        self.partitions.iter().filter(|(_, s)| s.is_fetchable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn reassign_keeps_state_of_kept_partitions() {
        let mut s = SubscriptionState::new();
        s.assign([tp(0), tp(1)]);
        assert!(s.seek(&tp(0), FetchPosition::at(42)));
        s.set_paused(&tp(1), true);
        s.assign([tp(0), tp(2)]);
        assert_eq!(s.position(&tp(0)), Some(FetchPosition::at(42)));
        assert!(!s.is_assigned(&tp(1)));
        assert_eq!(s.position(&tp(2)), None);
        assert!(!s.seek(&tp(1), FetchPosition::at(1)));
    }

    #[test]
    fn fetchable_needs_position_no_pause_no_reset() {
        let mut s = SubscriptionState::new();
        s.assign([tp(0), tp(1), tp(2)]);
        s.seek(&tp(0), FetchPosition::at(0));
        s.seek(&tp(1), FetchPosition::at(0));
        s.set_paused(&tp(1), true);
        let f: Vec<_> = s.fetchable().map(|(tp, _)| tp.clone()).collect();
        assert_eq!(f, vec![tp(0)]);
        assert_eq!(s.missing_positions(), vec![tp(2)]);
        s.request_reset(&tp(0), OffsetResetStrategy::Latest);
        assert_eq!(s.fetchable().count(), 0);
        assert!(s.missing_positions().len() == 1);
        let now = Instant::now();
        assert_eq!(
            s.resets_due(now),
            vec![(tp(0), OffsetResetStrategy::Latest)]
        );
        s.seek(&tp(0), FetchPosition::at(7));
        assert!(s.resets_due(now).is_empty());
        assert_eq!(s.fetchable().count(), 1);
    }

    #[test]
    fn topics_are_distinct_in_order() {
        let mut s = SubscriptionState::new();
        s.assign([
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 0),
            TopicPartition::new("b", 1),
        ]);
        assert_eq!(s.topics(), vec!["b".to_owned(), "a".to_owned()]);
    }
}
