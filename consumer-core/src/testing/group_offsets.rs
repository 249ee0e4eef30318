//! Committed offsets: OffsetCommit and OffsetFetch as the group coordinator answers them.
//!
//! For a KIP-848 consumer group, a commit (v9+; older versions from one of its members get
//! UNSUPPORTED_VERSION) is checked against the member: an unknown member id is
//! UNKNOWN_MEMBER_ID, an epoch above the member's FENCED_MEMBER_EPOCH, below it
//! STALE_MEMBER_EPOCH; epoch -1 commits (admins, manual assignment) only while the group has
//! no members. OffsetFetch v9+ with a member id and epoch: UNKNOWN_MEMBER_ID or
//! STALE_MEMBER_EPOCH likewise.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::codec::messages::offset_commit::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use crate::codec::messages::offset_fetch::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use crate::codec::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use crate::error_code::ErrorCode;
use crate::topic_partition::TopicPartition;

use super::group::{GroupState, Groups};

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The offset.
    pub offset: i64,
    /// The leader epoch sent with it (-1: none).
    pub leader_epoch: i32,
    /// The metadata string.
    pub metadata: String,
}

impl Groups {
    /// The committed offset of `tp` in `group`.
    pub fn committed(&self, group: &str, tp: &TopicPartition) -> Option<i64> {
        self.offsets.get(group)?.get(tp).map(|c| c.offset)
    }

    /// Stores an offset as if a member had committed it.
    pub fn set_committed(&mut self, group: &str, tp: &TopicPartition, offset: i64) {
        self.offsets.entry(group.to_owned()).or_default().insert(
            tp.clone(),
            Committed {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
            },
        );
    }

    /// Stores an offset with the leader epoch of the record before it, as if a member
    /// had committed it.
    pub fn set_committed_with_epoch(
        &mut self,
        group: &str,
        tp: &TopicPartition,
        offset: i64,
        leader_epoch: i32,
    ) {
        self.offsets.entry(group.to_owned()).or_default().insert(
            tp.clone(),
            Committed {
                offset,
                leader_epoch,
                metadata: String::new(),
            },
        );
    }

    /// An OffsetCommit received by `broker`.
    pub(super) fn commit(
        &mut self,
        now: Instant,
        broker: i32,
        version: i16,
        req: &OffsetCommitRequest,
    ) -> OffsetCommitResponse {
        let code = self.commit_check(now, broker, version, req);
        if code == ErrorCode::None {
            let stored = self.offsets.entry(req.group_id.clone()).or_default();
            for t in &req.topics {
                for p in &t.partitions {
                    stored.insert(
                        TopicPartition::new(t.name.clone(), p.partition_index),
                        Committed {
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata.clone().unwrap_or_default(),
                        },
                    );
                }
            }
        }
        commit_answer(req, code)
    }

    fn commit_check(
        &mut self,
        now: Instant,
        broker: i32,
        version: i16,
        req: &OffsetCommitRequest,
    ) -> ErrorCode {
        if self.coordinator_of(&req.group_id) != broker {
            return ErrorCode::NotCoordinator;
        }
        if let Some(code) = self.consumer_offsets_check(
            &req.group_id,
            &req.member_id,
            req.generation_id_or_member_epoch,
            Some(version),
        ) {
            return code;
        }
        let simple = version == 0 || req.generation_id_or_member_epoch < 0;
        let Some(g) = self.groups.get_mut(&req.group_id) else {
            return if simple {
                ErrorCode::None
            } else {
                ErrorCode::IllegalGeneration
            };
        };
        if g.fenced(req.group_instance_id.as_deref(), &req.member_id) {
            return ErrorCode::FencedInstanceId;
        }
        if simple && g.state == GroupState::Empty {
            return ErrorCode::None;
        }
        if g.state == GroupState::CompletingRebalance {
            return ErrorCode::RebalanceInProgress;
        }
        let generation = g.generation;
        let Some(m) = g.member_mut(&req.member_id) else {
            return ErrorCode::UnknownMemberId;
        };
        if req.generation_id_or_member_epoch != generation {
            return ErrorCode::IllegalGeneration;
        }
        m.last_seen = now;
        ErrorCode::None
    }

    /// An OffsetFetch received by `broker`.
    pub(super) fn fetch_offsets(
        &self,
        broker: i32,
        version: i16,
        req: &OffsetFetchRequest,
    ) -> OffsetFetchResponse {
        let (group_id, topics) = if version >= 8 {
            let g = req.groups.first().cloned().unwrap_or_default();
            (g.group_id, g.topics)
        } else {
            (req.group_id.clone(), req.topics.clone())
        };
        let wrong = self.coordinator_of(&group_id) != broker;
        if !wrong && version >= 9 {
            let g = req.groups.first().cloned().unwrap_or_default();
            let member = g.member_id.unwrap_or_default();
            match self.consumer_offsets_check(&group_id, &member, g.member_epoch, None) {
                Some(ErrorCode::None) | None => {}
                Some(code) => {
                    return offset_fetch_answer(version, &group_id, Vec::new(), code.code())
                }
            }
        }
        let stored = self.offsets.get(&group_id);
        let wanted: Vec<(String, Vec<i32>)> = match topics {
            Some(t) => t
                .into_iter()
                .map(|t| (t.name, t.partition_indexes))
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for tp in stored.into_iter().flat_map(|s| s.keys()) {
                    by_topic
                        .entry(tp.topic.clone())
                        .or_default()
                        .push(tp.partition);
                }
                by_topic.into_iter().collect()
            }
        };
        let topics: Vec<OffsetFetchResponseTopic> = wanted
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                partitions: partitions
                    .into_iter()
                    .map(|p| {
                        let c = stored.and_then(|s| s.get(&TopicPartition::new(name.clone(), p)));
                        OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: c.map_or(-1, |c| c.offset),
                            committed_leader_epoch: c.map_or(-1, |c| c.leader_epoch),
                            metadata: Some(c.map(|c| c.metadata.clone()).unwrap_or_default()),
                            // v0–1 carry errors per partition only.
                            error_code: if wrong && version < 2 {
                                ErrorCode::NotCoordinator.code()
                            } else {
                                0
                            },
                        }
                    })
                    .collect(),
                name,
                ..OffsetFetchResponseTopic::default()
            })
            .collect();
        let code = if wrong {
            ErrorCode::NotCoordinator.code()
        } else {
            0
        };
        offset_fetch_answer(version, &group_id, topics, code)
    }
}

/// An OffsetCommit answer with `code` for every partition.
pub(super) fn commit_answer(req: &OffsetCommitRequest, code: ErrorCode) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: req
            .topics
            .iter()
            .map(|t| OffsetCommitResponseTopic {
                name: t.name.clone(),
                topic_id: t.topic_id,
                partitions: t
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code.code(),
                    })
                    .collect(),
            })
            .collect(),
        ..OffsetCommitResponse::default()
    }
}

/// An OffsetFetch answer in the layout of `version` (per group from v8).
pub(super) fn offset_fetch_answer(
    version: i16,
    group_id: &str,
    topics: Vec<OffsetFetchResponseTopic>,
    code: i16,
) -> OffsetFetchResponse {
    if version >= 8 {
        OffsetFetchResponse {
            groups: vec![OffsetFetchResponseGroup {
                group_id: group_id.to_owned(),
                topics,
                error_code: code,
            }],
            ..OffsetFetchResponse::default()
        }
    } else {
        OffsetFetchResponse {
            topics,
            error_code: code,
            ..OffsetFetchResponse::default()
        }
    }
}
