//! Exact commits for `--group` with `--max-messages`: the group must resume right after
//! the last record printed, not after the last record fetched. A poll may hand out more
//! records than are still to be printed, so the consumer's position can be past what was
//! printed; the offsets committed are therefore taken from the printed records.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use consumer_net::{
    ConsumerRecord, KafkaConsumer, KafkaError, OffsetAndMetadata, RebalanceListener, TopicPartition,
};

/// Per partition, the offset after the last printed record, and what of it is committed.
#[derive(Debug, Default)]
pub struct Printed {
    next: HashMap<TopicPartition, OffsetAndMetadata>,
    committed: HashMap<TopicPartition, i64>,
}

impl Printed {
    /// `record` was printed: the group may resume after it.
    pub fn add(&mut self, record: &ConsumerRecord) {
        let mut next = OffsetAndMetadata::new(record.offset + 1);
        next.leader_epoch = record.leader_epoch;
        self.next.insert(record.topic_partition(), next);
    }

    /// The offsets to commit for `partitions` (all when None): those printed since the
    /// last commit.
    pub fn uncommitted(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> Vec<(TopicPartition, OffsetAndMetadata)> {
        let mut out: Vec<_> = self
            .next
            .iter()
            .filter(|(tp, _)| partitions.is_none_or(|ps| ps.contains(tp)))
            .filter(|(tp, o)| self.committed.get(*tp) != Some(&o.offset))
            .map(|(tp, o)| (tp.clone(), o.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// `offsets` are committed.
    pub fn mark_committed(&mut self, offsets: &[(TopicPartition, OffsetAndMetadata)]) {
        for (tp, o) in offsets {
            self.committed.insert(tp.clone(), o.offset);
        }
    }

    /// `partitions` are no longer ours: whatever happens to them is the new owner's.
    pub fn forget(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.next.remove(tp);
            self.committed.remove(tp);
        }
    }
}

/// The printed records, shared by the consume loop and the rebalance listener (an `Arc`
/// so that the listener stays `Send`).
pub type Shared = Arc<Mutex<Printed>>;

/// Locks `printed`; a panic elsewhere does not make its offsets wrong.
pub fn lock(printed: &Shared) -> MutexGuard<'_, Printed> {
    printed.lock().unwrap_or_else(|e| e.into_inner())
}

/// Commits what was printed of `partitions` (all when None) and waits for the answer, at
/// most `timeout` (default.api.timeout.ms when None).
pub fn commit_printed(
    consumer: &mut KafkaConsumer,
    printed: &Shared,
    partitions: Option<&[TopicPartition]>,
    timeout: Option<Duration>,
) -> Result<(), KafkaError> {
    let offsets = lock(printed).uncommitted(partitions);
    if offsets.is_empty() {
        return Ok(());
    }
    // A Ctrl-C that came while records were printed leaves a wakeup pending, which ends
    // the first attempt; the commit is still wanted, and so is the stop: the wake is
    // raised again for the consume loop. (In the rebalance listener, the `poll` that ran
    // it reports such a wake by itself.)
    let mut commit = || match timeout {
        Some(t) => consumer.commit_offsets_sync_with_timeout(offsets.clone(), t),
        None => consumer.commit_offsets_sync(offsets.clone()),
    };
    let first = commit();
    let woken = matches!(first, Err(KafkaError::Wakeup));
    let result = if woken { commit() } else { first };
    if woken {
        consumer.wakeup_handle().wake();
    }
    if result.is_ok() {
        lock(printed).mark_committed(&offsets);
    }
    result
}

/// Commits the printed records of partitions before the group moves them to another
/// member (auto-commit is off in this mode, so nothing else would).
pub struct CommitOnRevoke(pub Shared);

impl RebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(
        &mut self,
        consumer: &mut KafkaConsumer,
        partitions: &[TopicPartition],
    ) {
        if let Err(e) = commit_printed(consumer, &self.0, Some(partitions), None) {
            eprintln!("consume: committing before the rebalance failed: {e}");
        }
        lock(&self.0).forget(partitions);
    }

    fn on_partitions_lost(&mut self, _: &mut KafkaConsumer, partitions: &[TopicPartition]) {
        // Another member may own them already: committing could move its offsets back.
        lock(&self.0).forget(partitions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64) -> ConsumerRecord {
        let mut r = ConsumerRecord::new("t", partition, offset);
        r.leader_epoch = Some(3);
        r
    }

    fn offsets(p: &Printed, partitions: Option<&[TopicPartition]>) -> Vec<(i32, i64)> {
        p.uncommitted(partitions)
            .into_iter()
            .map(|(tp, o)| (tp.partition, o.offset))
            .collect()
    }

    #[test]
    fn commits_after_the_last_printed_record_per_partition() {
        let mut p = Printed::default();
        for (partition, offset) in [(0, 4), (1, 7), (0, 5), (1, 8), (2, 0)] {
            p.add(&record(partition, offset));
        }
        assert_eq!(offsets(&p, None), vec![(0, 6), (1, 9), (2, 1)]);
        let one = [TopicPartition::new("t", 1)];
        assert_eq!(offsets(&p, Some(&one)), vec![(1, 9)]);
        assert_eq!(p.uncommitted(None)[0].1.leader_epoch, Some(3));
    }

    #[test]
    fn a_wake_that_ends_the_commit_is_raised_again_for_the_consume_loop() {
        let mut consumer = KafkaConsumer::from_properties([
            ("bootstrap.servers", "127.0.0.1:1"),
            ("group.id", "g"),
            ("enable.auto.commit", "false"),
        ])
        .expect("consumer");
        let printed: Shared = Arc::default();
        lock(&printed).add(&record(0, 4));
        // Ctrl-C before the commit (in the listener: during the poll that runs it).
        consumer.wakeup_handle().wake();
        let timeout = Some(Duration::from_millis(50));
        let result = commit_printed(&mut consumer, &printed, None, timeout);
        // Made again (nothing answers at 127.0.0.1:1: it times out) ...
        assert!(
            matches!(result, Err(KafkaError::Timeout { .. })),
            "{result:?}"
        );
        // ... and the wake is pending again, for the consume loop to stop on.
        assert!(consumer.wakeup_handle().take(), "the Ctrl-C was lost");
    }

    #[test]
    fn committed_and_forgotten_partitions_are_not_committed_again() {
        let mut p = Printed::default();
        p.add(&record(0, 4));
        p.add(&record(1, 7));
        let all = p.uncommitted(None);
        p.mark_committed(&all[..1]);
        assert_eq!(offsets(&p, None), vec![(1, 8)]);
        p.add(&record(0, 5));
        assert_eq!(offsets(&p, None), vec![(0, 6), (1, 8)]);
        p.forget(&[TopicPartition::new("t", 1)]);
        assert_eq!(offsets(&p, None), vec![(0, 6)]);
    }
}
