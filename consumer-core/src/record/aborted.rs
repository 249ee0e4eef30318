//! `read_committed`: dropping the batches of aborted transactions from fetched data.
//!
//! A Fetch at isolation level 1 returns data only below the last stable offset, plus the
//! aborted transactions that overlap it: `(producer id, first offset)` pairs. The batches
//! are walked in order, as the Java consumer does:
//!
//! 1. before each batch, every aborted transaction whose first offset is at or before
//!    the batch's last offset makes its producer "aborted";
//! 2. a transactional data batch of an aborted producer is skipped whole;
//! 3. an ABORT marker (control batch) of a producer ends its aborted transaction: the
//!    producer's later batches are read again;
//! 4. control batches themselves are never handed out (the fetcher skips them).
//!
//! Only batches with a producer id take part; non-transactional data is always read.

use std::cmp::Reverse;
use std::collections::HashSet;

use super::{ControlRecordType, RecordBatch, RecordError};
use crate::codec::messages::fetch::AbortedTransaction;

/// The aborted transactions of one partition's fetched data, consulted batch by batch.
#[derive(Debug, Clone, Default)]
pub struct AbortedTransactions {
    /// Not yet reached, by first offset descending (the next one is last).
    pending: Vec<AbortedTransaction>,
    /// Producers whose aborted transaction was reached and whose ABORT marker was not.
    producers: HashSet<i64>,
}

impl AbortedTransactions {
    /// The filter for a Fetch answer's aborted transaction list (any order).
    pub fn new(list: &[AbortedTransaction]) -> Self {
        let mut pending = list.to_vec();
        pending.sort_by_key(|t| Reverse(t.first_offset));
        Self {
            pending,
            producers: HashSet::new(),
        }
    }

    /// True when the batch, the next one of the partition in offset order, is data of an
    /// aborted transaction and must be skipped whole. Control batches are never skipped
    /// here (their caller drops them anyway) but an ABORT marker ends its producer's
    /// aborted transaction. Fails only when a control batch's marker cannot be read.
    pub fn skips(&mut self, batch: &RecordBatch) -> Result<bool, RecordError> {
        let producer = batch.producer_id();
        if producer < 0 {
            return Ok(false);
        }
        let last = batch.last_offset();
        while self.pending.last().is_some_and(|t| t.first_offset <= last) {
            if let Some(t) = self.pending.pop() {
                self.producers.insert(t.producer_id);
            }
        }
        if batch.is_control() {
            if self.producers.contains(&producer) {
                let abort = batch
                    .control_record()?
                    .is_some_and(|c| c.kind == ControlRecordType::Abort);
                if abort {
                    self.producers.remove(&producer);
                }
            }
            return Ok(false);
        }
        Ok(batch.is_transactional() && self.producers.contains(&producer))
    }

    /// True when `producer`'s transaction is being skipped now.
    pub fn is_aborted(&self, producer: i64) -> bool {
        self.producers.contains(&producer)
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::record::{
        BatchBuilder, ControlRecord, DecodeOptions, RecordBatches, RecordSource, TimestampType,
    };

    /// One batch in a test log.
    enum B {
        /// Plain data: offsets.
        Plain(i64, usize),
        /// Transactional data of a producer.
        Txn(i64, i64, usize),
        /// A marker of a producer: (offset, producer, commit?).
        Marker(i64, i64, bool),
    }

    fn record(offset: i64, key: Option<Bytes>) -> crate::record::Record {
        crate::record::Record {
            offset,
            timestamp: 1_000 + offset,
            timestamp_type: TimestampType::CreateTime,
            key,
            value: Some(Bytes::from(format!("v{offset}"))),
            headers: Vec::new(),
        }
    }

    fn log(batches: &[B]) -> Vec<RecordBatch> {
        let mut buf = BytesMut::new();
        for b in batches {
            let (builder, records) = match *b {
                B::Plain(base, n) => (
                    BatchBuilder::new(base),
                    (base..base + n as i64).map(|o| record(o, None)).collect(),
                ),
                B::Txn(base, pid, n) => (
                    BatchBuilder {
                        transactional: true,
                        producer_id: pid,
                        producer_epoch: 0,
                        base_sequence: 0,
                        ..BatchBuilder::new(base)
                    },
                    (base..base + n as i64)
                        .map(|o| record(o, None))
                        .collect::<Vec<_>>(),
                ),
                B::Marker(at, pid, commit) => {
                    let kind = if commit {
                        ControlRecordType::Commit
                    } else {
                        ControlRecordType::Abort
                    };
                    let key = Bytes::copy_from_slice(&ControlRecord::key(kind));
                    (
                        BatchBuilder {
                            transactional: true,
                            control: true,
                            producer_id: pid,
                            producer_epoch: 0,
                            ..BatchBuilder::new(at)
                        },
                        vec![record(at, Some(key))],
                    )
                }
            };
            builder.encode(&records, &mut buf).expect("encodes");
        }
        decoded(buf)
    }

    /// The batches encoded in `buf`.
    fn decoded(buf: BytesMut) -> Vec<RecordBatch> {
        RecordBatches::new(
            RecordSource::new("t", 0),
            buf.freeze(),
            &DecodeOptions::default(),
        )
        .map(|b| b.expect("decodes"))
        .collect()
    }

    fn txn(producer_id: i64, first_offset: i64) -> AbortedTransaction {
        AbortedTransaction {
            producer_id,
            first_offset,
        }
    }

    /// The base offsets of the data batches kept (control batches dropped, as the
    /// fetcher does).
    fn kept(batches: &[B], aborted: &[AbortedTransaction]) -> Vec<i64> {
        let mut filter = AbortedTransactions::new(aborted);
        log(batches)
            .iter()
            .filter(|b| !filter.skips(b).expect("markers readable") && !b.is_control())
            .map(|b| b.base_offset())
            .collect()
    }

    #[test]
    fn aborted_data_is_skipped_and_committed_kept() {
        let batches = [
            B::Txn(0, 7, 2),
            B::Marker(2, 7, false),
            B::Txn(3, 7, 2),
            B::Marker(5, 7, true),
            B::Plain(6, 1),
        ];
        assert_eq!(kept(&batches, &[txn(7, 0)]), vec![3, 6]);
    }

    #[test]
    fn without_a_list_nothing_is_skipped() {
        let batches = [B::Txn(0, 7, 2), B::Marker(2, 7, false), B::Plain(3, 1)];
        assert_eq!(kept(&batches, &[]), vec![0, 3]);
    }

    #[test]
    fn the_list_is_sorted_by_first_offset() {
        // Two aborted transactions of one producer, listed newest first.
        let batches = [
            B::Txn(0, 1, 1),
            B::Marker(1, 1, false),
            B::Txn(2, 1, 1),
            B::Marker(3, 1, true),
            B::Txn(4, 1, 1),
            B::Marker(5, 1, false),
        ];
        assert_eq!(kept(&batches, &[txn(1, 4), txn(1, 0)]), vec![2]);
    }

    #[test]
    fn interleaved_producers_are_told_apart() {
        // Producer 1 aborts, producer 2 commits, interleaved, with plain data between.
        let batches = [
            B::Txn(0, 1, 2),
            B::Txn(2, 2, 2),
            B::Plain(4, 1),
            B::Txn(5, 1, 1),
            B::Txn(6, 2, 1),
            B::Marker(7, 2, true),
            B::Marker(8, 1, false),
            B::Txn(9, 1, 1),
            B::Marker(10, 1, true),
        ];
        assert_eq!(kept(&batches, &[txn(1, 0)]), vec![2, 4, 6, 9]);
    }

    #[test]
    fn an_abort_marker_ends_only_its_producer() {
        let batches = [
            B::Txn(0, 1, 1),
            B::Txn(1, 2, 1),
            B::Marker(2, 1, false),
            B::Txn(3, 1, 1),
            B::Txn(4, 2, 1),
            B::Marker(5, 2, false),
            B::Marker(6, 1, true),
        ];
        let mut filter = AbortedTransactions::new(&[txn(1, 0), txn(2, 1)]);
        let log = log(&batches);
        let skipped: Vec<bool> = log
            .iter()
            .map(|b| filter.skips(b).expect("readable"))
            .collect();
        assert_eq!(
            skipped,
            vec![true, true, false, false, true, false, false],
            "after 1's abort marker its next transaction is read; 2 stays aborted"
        );
        assert!(!filter.is_aborted(1));
        assert!(!filter.is_aborted(2));
    }

    #[test]
    fn a_transaction_is_reached_by_a_batch_straddling_its_first_offset() {
        // The aborted transaction starts at 3, inside the batch 2..=4 of its producer
        // (a fetch that starts in the middle of a batch, or a list entry rounded to
        // the record): the whole batch is skipped.
        let batches = [
            B::Txn(0, 1, 2),
            B::Marker(2, 1, true),
            B::Txn(3, 1, 3),
            B::Marker(6, 1, false),
        ];
        assert_eq!(kept(&batches, &[txn(1, 4)]), vec![0]);
    }

    #[test]
    fn a_transaction_not_reached_yet_skips_nothing() {
        // The aborted transaction of producer 1 starts at 5: its earlier committed
        // transaction is read.
        let batches = [B::Txn(0, 1, 2), B::Marker(2, 1, true), B::Txn(5, 1, 1)];
        let mut filter = AbortedTransactions::new(&[txn(1, 5)]);
        let log = log(&batches);
        assert!(!filter.skips(&log[0]).expect("readable"));
        assert!(!filter.is_aborted(1));
        assert!(!filter.skips(&log[1]).expect("readable"));
        assert!(filter.skips(&log[2]).expect("readable"));
    }

    #[test]
    fn a_commit_marker_does_not_end_an_aborted_transaction() {
        let batches = [B::Txn(0, 1, 1), B::Marker(1, 1, true), B::Txn(2, 1, 1)];
        assert_eq!(kept(&batches, &[txn(1, 0)]), Vec::<i64>::new());
    }

    #[test]
    fn non_transactional_batches_of_an_aborted_producer_are_kept() {
        // An idempotent (non-transactional) batch with the same producer id is read.
        let mut buf = BytesMut::new();
        BatchBuilder {
            producer_id: 1,
            producer_epoch: 0,
            base_sequence: 0,
            ..BatchBuilder::new(0)
        }
        .encode(&[record(0, None)], &mut buf)
        .expect("encodes");
        let [batch] = <[RecordBatch; 1]>::try_from(decoded(buf)).expect("one batch");
        let mut filter = AbortedTransactions::new(&[txn(1, 0)]);
        assert!(!filter.skips(&batch).expect("readable"));
        assert!(filter.is_aborted(1));
    }

    #[test]
    fn an_unreadable_marker_is_an_error() {
        let mut buf = BytesMut::new();
        BatchBuilder {
            transactional: true,
            control: true,
            producer_id: 1,
            producer_epoch: 0,
            ..BatchBuilder::new(0)
        }
        .encode(&[record(0, Some(Bytes::from_static(b"\x00")))], &mut buf)
        .expect("encodes");
        let [batch] = <[RecordBatch; 1]>::try_from(decoded(buf)).expect("one batch");
        let mut filter = AbortedTransactions::new(&[txn(1, 0)]);
        assert!(filter.skips(&batch).is_err());
    }
}
