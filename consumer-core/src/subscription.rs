//! Subscription state: the assigned partitions and, for each, where consumption stands.
//!
//! Each assigned partition has a *slot*: its index in assignment order, stable until the
//! assignment changes ([`SubscriptionState::assignment_version`]). The state keeps what
//! the per-poll work needs indexed, so that work is proportional to what changed, not to
//! the assignment: the partitions waiting for a position, those with a pending reset, and
//! a log of the slots whose fetch-relevant state changed (read by the fetcher).

use std::collections::BTreeSet;
use std::time::Instant;

use indexmap::IndexMap;

use crate::config::{AutoOffsetReset, IsolationLevel};
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

/// A position waiting for OffsetForLeaderEpoch to confirm it (KIP-320).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PendingValidation {
    /// A request for it is in flight, with this attempt number.
    pub(crate) in_flight: Option<u64>,
    /// Not to be sent before this time.
    pub(crate) next_attempt: Option<Instant>,
    /// Not to be sent before a metadata answer newer than this update count.
    pub(crate) after_metadata: Option<u64>,
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
    /// A position waiting for validation against its leader's log (never with a reset).
    pub(crate) validation: Option<PendingValidation>,
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
        !self.paused && self.has_valid_position()
    }

    /// True if the position is known and confirmed: no reset and no validation pending.
    pub fn has_valid_position(&self) -> bool {
        self.position.is_some() && self.reset.is_none() && self.validation.is_none()
    }

    /// True if the position waits for validation (KIP-320).
    pub fn is_awaiting_validation(&self) -> bool {
        self.validation.is_some()
    }

    /// The end of the log for `isolation`, as last seen in a fetch answer: the high
    /// watermark, or the last stable offset under `read_committed`.
    pub fn end_offset(&self, isolation: IsolationLevel) -> Option<i64> {
        match isolation {
            IsolationLevel::ReadUncommitted => self.high_watermark,
            IsolationLevel::ReadCommitted => self.last_stable_offset,
        }
    }
}

/// The assigned partitions and their per-partition state, in assignment order.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionState {
    partitions: IndexMap<TopicPartition, PartitionState>,
    kind: SubscriptionKind,
    topics: Vec<String>,
    /// Bumped whenever the set or order of assigned partitions changes (slots move).
    version: u64,
    /// Slots with neither a position nor a pending reset (may hold stale slots: readers
    /// check the state).
    missing: BTreeSet<usize>,
    /// Slots with a pending reset (may hold stale slots: readers check the state).
    resetting: BTreeSet<usize>,
    /// Slots whose position waits for validation (may hold stale slots: readers check).
    validating: BTreeSet<usize>,
    /// Slots whose position, pause, reset or fetch data changed since the fetcher last
    /// looked, each once (`touched_flag`).
    touched: Vec<usize>,
    touched_flag: Vec<bool>,
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

    /// The subscribed topics (group subscriptions; matched topics for a pattern), sorted.
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
        self.reindex();
    }

    /// Replaces the assignment; partitions kept keep their state.
    pub(crate) fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let mut next = IndexMap::new();
        for tp in partitions {
            let state = self.partitions.swap_remove(&tp).unwrap_or_default();
            next.insert(tp, state);
        }
        self.partitions = next;
        self.reindex();
    }

    /// The slots moved: a new version, the indexes rebuilt, the touch log dropped (whoever
    /// reads it starts over from the whole assignment on a new version).
    fn reindex(&mut self) {
        self.version += 1;
        self.missing.clear();
        self.resetting.clear();
        self.validating.clear();
        for (slot, s) in self.partitions.values().enumerate() {
            if s.validation.is_some() {
                self.validating.insert(slot);
            }
            if s.reset.is_some() {
                self.resetting.insert(slot);
            } else if s.position.is_none() {
                self.missing.insert(slot);
            }
        }
        self.touched.clear();
        self.touched_flag.clear();
        self.touched_flag.resize(self.partitions.len(), false);
    }

    /// Changes with every change of the assigned partitions or their order, which moves
    /// slots.
    pub(crate) fn assignment_version(&self) -> u64 {
        self.version
    }

    /// The slot of `tp`, if assigned.
    pub(crate) fn slot_of(&self, tp: &TopicPartition) -> Option<usize> {
        self.partitions.get_index_of(tp)
    }

    /// The partition in `slot` with its state.
    pub(crate) fn at(&self, slot: usize) -> Option<(&TopicPartition, &PartitionState)> {
        self.partitions.get_index(slot)
    }

    /// The mutable state of the partition in `slot` (which counts as touched).
    pub(crate) fn at_mut(&mut self, slot: usize) -> Option<(&TopicPartition, &mut PartitionState)> {
        self.touch(slot);
        self.partitions.get_index_mut(slot)
    }

    /// Notes that what decides fetching `slot` may have changed.
    pub(crate) fn touch(&mut self, slot: usize) {
        if let Some(flag) = self.touched_flag.get_mut(slot) {
            if !*flag {
                *flag = true;
                self.touched.push(slot);
            }
        }
    }

    /// The slots touched since the last call, each once.
    pub(crate) fn take_touched(&mut self) -> Vec<usize> {
        let touched = std::mem::take(&mut self.touched);
        for &slot in &touched {
            if let Some(flag) = self.touched_flag.get_mut(slot) {
                *flag = false;
            }
        }
        touched
    }

    /// Keeps the position indexes of `slot` in line with its state.
    fn reindex_slot(&mut self, slot: usize) {
        let Some(s) = self.partitions.get_index(slot).map(|(_, s)| s) else {
            return;
        };
        let (resetting, missing) = (s.reset.is_some(), s.reset.is_none() && s.position.is_none());
        if s.validation.is_some() {
            self.validating.insert(slot);
        } else {
            self.validating.remove(&slot);
        }
        if resetting {
            self.resetting.insert(slot);
        } else {
            self.resetting.remove(&slot);
        }
        if missing {
            self.missing.insert(slot);
        } else {
            self.missing.remove(&slot);
        }
        self.touch(slot);
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

    /// The mutable state of `tp`, if assigned (which counts as touched). Its position and
    /// reset are changed only through the methods below, which keep the indexes.
    pub(crate) fn get_mut(&mut self, tp: &TopicPartition) -> Option<&mut PartitionState> {
        let slot = self.partitions.get_index_of(tp)?;
        self.at_mut(slot).map(|(_, s)| s)
    }

    /// The distinct topics of the assignment, in order of first appearance.
    pub fn topics(&self) -> Vec<String> {
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        self.partitions
            .keys()
            .filter(|tp| seen.insert(tp.topic.as_str()))
            .map(|tp| tp.topic.clone())
            .collect()
    }

    /// The position of `tp`, if assigned and known.
    pub fn position(&self, tp: &TopicPartition) -> Option<FetchPosition> {
        self.partitions.get(tp).and_then(|s| s.position)
    }

    /// Moves `tp` to `position`, cancelling any pending reset. False if not assigned.
    pub(crate) fn seek(&mut self, tp: &TopicPartition, position: FetchPosition) -> bool {
        match self.partitions.get_index_of(tp) {
            Some(slot) => self.seek_at(slot, position),
            None => false,
        }
    }

    /// [`seek`](Self::seek) for the partition in `slot`.
    pub(crate) fn seek_at(&mut self, slot: usize, position: FetchPosition) -> bool {
        let Some((_, s)) = self.partitions.get_index_mut(slot) else {
            return false;
        };
        let was_indexed = s.reset.is_some() || s.position.is_none() || s.validation.is_some();
        s.position = Some(position);
        s.reset = None;
        s.validation = None;
        if was_indexed {
            self.reindex_slot(slot);
        } else {
            self.touch(slot);
        }
        true
    }

    /// Moves `tp` to `position` to be validated first when it carries a leader epoch
    /// (a committed offset): Java's `seekUnvalidated`. False if not assigned.
    pub(crate) fn seek_unvalidated(
        &mut self,
        tp: &TopicPartition,
        position: FetchPosition,
    ) -> bool {
        if !self.seek(tp, position) {
            return false;
        }
        self.request_validation(tp, None);
        true
    }

    /// Puts `tp` in the "awaiting validation" state (not fetched until OffsetForLeaderEpoch
    /// confirms its position), if it has a position with a leader epoch and no reset
    /// pending; `after_metadata`: not before a metadata answer newer than that update
    /// count. A validation already pending starts over (an answer in flight is ignored).
    /// True if the partition now awaits validation.
    pub(crate) fn request_validation(
        &mut self,
        tp: &TopicPartition,
        after_metadata: Option<u64>,
    ) -> bool {
        let Some((slot, _, s)) = self.partitions.get_full_mut(tp) else {
            return false;
        };
        let has_epoch = s.position.is_some_and(|p| p.leader_epoch.is_some());
        if !has_epoch || s.reset.is_some() {
            return false;
        }
        s.validation = Some(PendingValidation {
            in_flight: None,
            next_attempt: None,
            after_metadata,
        });
        self.reindex_slot(slot);
        true
    }

    /// The position of `tp` is confirmed: it may be fetched again.
    pub(crate) fn complete_validation(&mut self, tp: &TopicPartition) {
        if let Some((slot, _, s)) = self.partitions.get_full_mut(tp) {
            if s.validation.take().is_some() {
                self.reindex_slot(slot);
            }
        }
    }

    /// The pending validation of `tp`, to be updated (sent, backed off).
    pub(crate) fn validation_mut(&mut self, tp: &TopicPartition) -> Option<&mut PendingValidation> {
        self.partitions.get_mut(tp)?.validation.as_mut()
    }

    /// The partitions awaiting validation, in assignment order, with their state.
    pub(crate) fn validations(
        &self,
    ) -> impl Iterator<Item = (&TopicPartition, &PartitionState, PendingValidation)> + '_ {
        self.validating
            .iter()
            .filter_map(|&slot| self.partitions.get_index(slot))
            .filter_map(|(tp, s)| Some((tp, s, s.validation?)))
    }

    /// True if a partition awaits validation.
    pub(crate) fn any_validating(&self) -> bool {
        !self.validating.is_empty()
    }

    /// Moves the partition in `slot` past records just handed out, counting them. False if
    /// nothing is assigned there.
    #[inline]
    pub(crate) fn advance(
        &mut self,
        slot: usize,
        position: FetchPosition,
        consumed: Consumed,
    ) -> bool {
        let Some((_, s)) = self.partitions.get_index_mut(slot) else {
            return false;
        };
        let was_indexed = s.reset.is_some() || s.position.is_none() || s.validation.is_some();
        s.position = Some(position);
        s.reset = None;
        s.validation = None;
        s.consumed.add(consumed);
        if was_indexed {
            self.reindex_slot(slot);
        } else {
            self.touch(slot);
        }
        true
    }

    /// Asks for `tp` to be moved by `strategy` (ListOffsets). False if not assigned.
    pub(crate) fn request_reset(
        &mut self,
        tp: &TopicPartition,
        strategy: OffsetResetStrategy,
    ) -> bool {
        let Some((slot, _, s)) = self.partitions.get_full_mut(tp) else {
            return false;
        };
        s.reset = Some(PendingReset {
            strategy,
            in_flight: false,
            next_attempt: None,
        });
        s.validation = None;
        self.reindex_slot(slot);
        true
    }

    /// Pauses or resumes `tp`. False if not assigned.
    pub(crate) fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> bool {
        let Some((slot, _, s)) = self.partitions.get_full_mut(tp) else {
            return false;
        };
        s.paused = paused;
        self.touch(slot);
        true
    }

    /// True if `tp` is assigned and paused.
    pub fn is_paused(&self, tp: &TopicPartition) -> bool {
        self.partitions.get(tp).is_some_and(|s| s.paused)
    }

    /// Partitions with neither a position nor a pending reset, in assignment order.
    pub(crate) fn missing_positions(&self) -> Vec<TopicPartition> {
        self.missing
            .iter()
            .filter_map(|&slot| self.partitions.get_index(slot))
            .filter(|(_, s)| s.position.is_none() && s.reset.is_none())
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// The pending resets, in assignment order.
    fn resets(&self) -> impl Iterator<Item = (usize, &TopicPartition, PendingReset)> + '_ {
        self.resetting.iter().filter_map(|&slot| {
            let (tp, s) = self.partitions.get_index(slot)?;
            Some((slot, tp, s.reset?))
        })
    }

    /// Partitions whose reset may be sent now (not in flight, backoff over), with their
    /// slots.
    pub(crate) fn resets_due(
        &self,
        now: Instant,
    ) -> impl Iterator<Item = (usize, &TopicPartition, OffsetResetStrategy)> + '_ {
        self.resets().filter_map(move |(slot, tp, r)| {
            let due = !r.in_flight && r.next_attempt.is_none_or(|t| t <= now);
            due.then_some((slot, tp, r.strategy))
        })
    }

    /// When each backed-off reset may be retried.
    pub(crate) fn reset_attempts(&self) -> impl Iterator<Item = Instant> + '_ {
        self.resets()
            .filter(|(_, _, r)| !r.in_flight)
            .filter_map(|(_, _, r)| r.next_attempt)
    }

    /// Partitions that may be fetched now.
    #[cfg(test)]
    pub(crate) fn fetchable(&self) -> impl Iterator<Item = (&TopicPartition, &PartitionState)> {
        self.partitions.iter().filter(|(_, s)| s.is_fetchable())
    }
}

/// Records and key+value bytes handed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Consumed {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
}

impl Consumed {
    /// Adds `other`.
    pub(crate) fn add(&mut self, other: Consumed) {
        self.records += other.records;
        self.bytes += other.bytes;
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
            s.resets_due(now).collect::<Vec<_>>(),
            vec![(0, &tp(0), OffsetResetStrategy::Latest)]
        );
        s.seek(&tp(0), FetchPosition::at(7));
        assert!(s.resets_due(now).next().is_none());
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
