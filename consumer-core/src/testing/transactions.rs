//! Transactions in the simulated partition logs, as a Kafka broker keeps them.
//!
//! A transactional producer (a producer id) appends transactional batches (attribute
//! bit 4, its producer id and epoch); its transaction ends with a control batch
//! (attribute bits 4 and 5) holding one control record whose key is `version i16, type
//! i16` (0 abort, 1 commit). The broker tracks:
//!
//! * the open transactions: the first offset of each, per producer;
//! * the last stable offset (LSO): the first offset of the earliest open transaction, or
//!   the high watermark when none is open (never past it);
//! * the aborted transaction index: `(producer id, first offset, last offset)` of every
//!   aborted transaction, the last offset being its ABORT marker's.
//!
//! A Fetch at isolation level 1 returns batches only below the LSO, the LSO itself, and
//! the aborted transactions overlapping the returned range (first offset before its end,
//! last offset at or after the fetch offset), as Kafka's `collectAbortedTransactions`.
//! ListOffsets "latest" at isolation level 1 answers the LSO.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;

use crate::codec::messages::fetch::AbortedTransaction;
use crate::record::{BatchBuilder, ControlRecord, ControlRecordType, Record, TimestampType};
use crate::topic_partition::TopicPartition;

use super::cluster::{keyed_records, LogBatch, Partition, TestCluster};
use super::BASE_TS;

/// The transaction state of one partition.
#[derive(Debug, Clone, Default)]
pub struct PartitionTransactions {
    /// Open transactions: producer id → first offset.
    pub open: BTreeMap<i64, i64>,
    /// Aborted transactions: (producer id, first offset, marker offset), in marker order.
    pub aborted: Vec<(i64, i64, i64)>,
}

impl PartitionTransactions {
    /// The aborted transactions a Fetch from `fetch_offset` returning data up to (not
    /// including) `upper` must list.
    pub fn aborted_in(&self, fetch_offset: i64, upper: i64) -> Vec<AbortedTransaction> {
        self.aborted
            .iter()
            .filter(|&&(_, first, last)| first < upper && last >= fetch_offset)
            .map(|&(producer_id, first_offset, _)| AbortedTransaction {
                producer_id,
                first_offset,
            })
            .collect()
    }
}

impl Partition {
    /// The last stable offset: the first offset of the earliest open transaction, or the
    /// high watermark.
    pub fn last_stable_offset(&self) -> i64 {
        self.transactions
            .open
            .values()
            .copied()
            .min()
            .map_or(self.high_watermark, |first| first.min(self.high_watermark))
    }

    /// Where a fetch at `isolation_level` stops: the LSO at 1, the high watermark at 0.
    pub(super) fn visible_end(&self, isolation_level: i8) -> i64 {
        if isolation_level == 1 {
            self.last_stable_offset()
        } else {
            self.high_watermark
        }
    }
}

/// The epoch every simulated transactional producer writes with.
pub const PRODUCER_EPOCH: i16 = 3;

impl TestCluster {
    /// Appends one transactional batch of (key, value) records of `producer_id`, opening
    /// its transaction if none is open (timestamps as [`TestCluster::append`]). The high
    /// watermark follows; the LSO stays at the transaction's first offset.
    pub fn append_transactional(
        &mut self,
        tp: &TopicPartition,
        producer_id: i64,
        kvs: &[(&str, &str)],
    ) -> Range<i64> {
        let p = self.partition_mut(tp);
        let start = p.log_end;
        let records = keyed_records(start, kvs);
        if records.is_empty() {
            return start..start;
        }
        let builder = BatchBuilder {
            partition_leader_epoch: p.epoch,
            transactional: true,
            producer_id,
            producer_epoch: PRODUCER_EPOCH,
            base_sequence: 0,
            ..BatchBuilder::new(start)
        };
        push(p, builder, records);
        p.transactions.open.entry(producer_id).or_insert(start);
        start..p.log_end
    }

    /// Writes `producer_id`'s COMMIT marker; returns its offset.
    pub fn commit_transaction(&mut self, tp: &TopicPartition, producer_id: i64) -> i64 {
        self.end_transaction(tp, producer_id, ControlRecordType::Commit)
    }

    /// Writes `producer_id`'s ABORT marker and indexes the aborted transaction; returns
    /// the marker's offset.
    pub fn abort_transaction(&mut self, tp: &TopicPartition, producer_id: i64) -> i64 {
        self.end_transaction(tp, producer_id, ControlRecordType::Abort)
    }

    fn end_transaction(
        &mut self,
        tp: &TopicPartition,
        producer_id: i64,
        kind: ControlRecordType,
    ) -> i64 {
        let p = self.partition_mut(tp);
        let at = p.log_end;
        let record = Record {
            offset: at,
            timestamp: BASE_TS + 1000 * at,
            timestamp_type: TimestampType::CreateTime,
            key: Some(Bytes::copy_from_slice(&ControlRecord::key(kind))),
            // Kafka's marker value: version i16 0, coordinator epoch i32.
            value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            headers: Vec::new(),
        };
        let builder = BatchBuilder {
            partition_leader_epoch: p.epoch,
            transactional: true,
            control: true,
            producer_id,
            producer_epoch: PRODUCER_EPOCH,
            ..BatchBuilder::new(at)
        };
        push(p, builder, vec![record]);
        let first = p.transactions.open.remove(&producer_id);
        if kind == ControlRecordType::Abort {
            // A marker without data (an empty transaction) aborts nothing.
            if let Some(first) = first {
                p.transactions.aborted.push((producer_id, first, at));
            }
        }
        at
    }

    /// The last stable offset of `tp`.
    pub fn last_stable_offset(&self, tp: &TopicPartition) -> i64 {
        self.partition_state(tp).last_stable_offset()
    }
}

/// Appends one batch built by `builder`; the high watermark follows the log end.
fn push(p: &mut Partition, builder: BatchBuilder, records: Vec<Record>) {
    let end = records.last().map_or(p.log_end, |r| r.offset + 1);
    p.log.push(LogBatch::built(&builder, records));
    p.log_end = end;
    p.high_watermark = end;
}
