//! Leader epochs on the broker side (KIP-320): each partition's leader-epoch history
//! (epoch → first offset written in it, as a broker's leader-epoch cache), the answer to
//! OffsetForLeaderEpoch, and unclean leader elections, where the new leader's log is
//! shorter than what consumers already read.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::codec::messages::offset_for_leader_epoch::{EpochEndOffset, OffsetForLeaderTopicResult};
use crate::codec::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use crate::codec::ApiKey;
use crate::error_code::ErrorCode;
use crate::topic_partition::TopicPartition;

use super::broker::{decode, encode};
use super::cluster::TestCluster;
use super::{tp, PartitionError, SeenRequest};

/// Per partition, the leader epochs with the offset each started at, ascending. A
/// partition never moved has one epoch, 0, from offset 0.
#[derive(Debug, Clone, Default)]
pub(super) struct EpochHistory {
    starts: BTreeMap<TopicPartition, Vec<(i32, i64)>>,
}

impl EpochHistory {
    fn of(&self, tp: &TopicPartition) -> Vec<(i32, i64)> {
        self.starts.get(tp).cloned().unwrap_or_else(|| vec![(0, 0)])
    }

    /// `epoch` starts at `offset` (a new leader).
    pub(super) fn started(&mut self, tp: &TopicPartition, epoch: i32, offset: i64) {
        let entries = self
            .starts
            .entry(tp.clone())
            .or_insert_with(|| vec![(0, 0)]);
        entries.retain(|&(e, _)| e < epoch);
        entries.push((epoch, offset));
    }

    /// The log was cut at `offset`: epochs that started at or past it are gone.
    pub(super) fn truncated(&mut self, tp: &TopicPartition, offset: i64) {
        let entries = self
            .starts
            .entry(tp.clone())
            .or_insert_with(|| vec![(0, 0)]);
        entries.retain(|&(e, start)| e == 0 || start < offset);
    }
}

impl TestCluster {
    /// The leader-epoch history of `tp`: (epoch, start offset), ascending.
    pub fn epoch_history(&self, tp: &TopicPartition) -> Vec<(i32, i64)> {
        self.epoch_history.of(tp)
    }

    /// An unclean leader election: `to` becomes the leader of `tp` with a new epoch, and
    /// its log ends at `log_end` (the records at and past it, which the old leader had,
    /// are lost). Records appended later get offsets from `log_end` on.
    pub fn unclean_leader_election(&mut self, tp: &TopicPartition, to: i32, log_end: i64) {
        self.truncate(tp, log_end);
        self.epoch_history.truncated(tp, log_end);
        self.move_leader(tp, to);
    }

    /// The end offset of `epoch` on the leader of `tp`, as Kafka's leader-epoch cache
    /// answers: (the largest epoch not above it, the start of the next epoch), the log
    /// end for the current epoch, (-1, -1) for an epoch past every known one.
    pub fn end_offset_for(&self, tp: &TopicPartition, epoch: i32) -> (i32, i64) {
        let p = self.partition_state(tp);
        let history = self.epoch_history.of(tp);
        let latest = history.last().map_or(0, |&(e, _)| e).max(p.epoch);
        if epoch < 0 {
            return (-1, -1);
        }
        if epoch == latest {
            return (latest, p.log_end);
        }
        let Some(&(_, higher_start)) = history.iter().find(|&&(e, _)| e > epoch) else {
            return (-1, -1);
        };
        match history.iter().rev().find(|&&(e, _)| e <= epoch) {
            Some(&(floor, _)) => (floor, higher_start),
            None => (epoch, higher_start),
        }
    }

    /// The broker's answer to OffsetForLeaderEpoch.
    pub(super) fn offset_for_leader_epoch(
        &mut self,
        broker: i32,
        corr: i32,
        version: i16,
        frame: Bytes,
        error: Option<i16>,
        seen: &mut SeenRequest,
    ) -> Bytes {
        let (_, req) = decode::<OffsetForLeaderEpochRequest>(frame);
        let mut topics = Vec::new();
        for t in &req.topics {
            let mut partitions = Vec::new();
            for rp in &t.partitions {
                let key = tp(&t.topic, rp.partition);
                seen.partitions
                    .push((key.clone(), i64::from(rp.leader_epoch)));
                let checked = match error {
                    Some(code) => Err(ErrorCode::from_i16(code)),
                    None => self
                        .check_leader(broker, &t.topic, rp.partition, rp.current_leader_epoch)
                        .map(|_| ()),
                };
                let mut out = EpochEndOffset {
                    partition: rp.partition,
                    ..EpochEndOffset::default()
                };
                match checked {
                    Ok(()) => {
                        (out.leader_epoch, out.end_offset) =
                            self.end_offset_for(&key, rp.leader_epoch);
                    }
                    Err(code) => {
                        out.error_code = code.code();
                        self.partition_errors.push(PartitionError {
                            at: self.elapsed,
                            broker,
                            api: ApiKey::OffsetForLeaderEpoch,
                            tp: key,
                            code,
                        });
                    }
                }
                partitions.push(out);
            }
            topics.push(OffsetForLeaderTopicResult {
                topic: t.topic.clone(),
                partitions,
            });
        }
        let resp = OffsetForLeaderEpochResponse {
            throttle_time_ms: 0,
            topics,
        };
        encode::<OffsetForLeaderEpochRequest>(corr, version, &resp)
    }
}
