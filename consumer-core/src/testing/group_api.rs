//! The brokers' side of the group APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ConsumerGroupHeartbeat): decoding, injected
//! errors, and handing the request to the group coordinator.

use bytes::Bytes;

use crate::codec::messages::find_coordinator::Coordinator;
use crate::codec::messages::offset_fetch::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use crate::codec::messages::{
    ConsumerGroupHeartbeatRequest, FindCoordinatorRequest, FindCoordinatorResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, LeaveGroupRequest, LeaveGroupResponse,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use crate::codec::ApiKey;
use crate::error_code::ErrorCode;

use super::broker::{decode, encode};
use super::cluster::TestCluster;
use super::consumer_group::heartbeat_error;
use super::group::Outcome;
use super::network::Reply;
use super::{group_offsets, rebalance, tp, SeenRequest};

impl TestCluster {
    /// A group API request: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup,
    /// OffsetCommit, OffsetFetch, ConsumerGroupHeartbeat. `error` is an injected answer; `lost` requests never
    /// reach the coordinator.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn group_request(
        &mut self,
        broker: i32,
        v: i16,
        corr: i32,
        frame: Bytes,
        error: Option<i16>,
        lost: bool,
        seen: &mut SeenRequest,
    ) -> Reply {
        let now = self.now();
        let api = seen.api;
        let injected = error.map(ErrorCode::from_i16);
        let skip = injected.is_some() || lost;
        match api {
            ApiKey::FindCoordinator => {
                let (_, req) = decode::<FindCoordinatorRequest>(frame);
                let keys = if v >= 4 {
                    req.coordinator_keys.clone()
                } else {
                    vec![req.key.clone()]
                };
                seen.group = keys.first().cloned().unwrap_or_default();
                let answers: Vec<Coordinator> = keys
                    .into_iter()
                    .map(|key| {
                        let id = self.groups.coordinator_of(&key);
                        let b = &self.brokers[&id];
                        let code = injected.unwrap_or(if b.down {
                            ErrorCode::CoordinatorNotAvailable
                        } else {
                            ErrorCode::None
                        });
                        if code != ErrorCode::None {
                            return Coordinator {
                                key,
                                node_id: -1,
                                error_code: code.code(),
                                ..Coordinator::default()
                            };
                        }
                        Coordinator {
                            key,
                            node_id: id,
                            host: b.host.clone(),
                            port: b.port,
                            error_code: 0,
                            error_message: None,
                        }
                    })
                    .collect();
                let resp = if v >= 4 {
                    FindCoordinatorResponse {
                        coordinators: answers,
                        ..FindCoordinatorResponse::default()
                    }
                } else {
                    let c = answers.into_iter().next().unwrap_or_default();
                    FindCoordinatorResponse {
                        error_code: c.error_code,
                        node_id: c.node_id,
                        host: c.host,
                        port: c.port,
                        ..FindCoordinatorResponse::default()
                    }
                };
                Reply::Frame(encode::<FindCoordinatorRequest>(corr, v, &resp))
            }
            ApiKey::JoinGroup => {
                let (header, req) = decode::<JoinGroupRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                if skip {
                    let code = injected.unwrap_or(ErrorCode::None);
                    let resp = rebalance::join_error_answer(code, &req.member_id, v);
                    return Reply::Frame(encode::<JoinGroupRequest>(corr, v, &resp));
                }
                let client_id = header.client_id.unwrap_or_default();
                match self.groups.join(now, broker, &client_id, v, &req) {
                    Outcome::Now(resp) => Reply::Frame(encode::<JoinGroupRequest>(corr, v, &resp)),
                    Outcome::Parked(ticket) => Reply::Parked { version: v, ticket },
                }
            }
            ApiKey::SyncGroup => {
                let (_, req) = decode::<SyncGroupRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                seen.generation = req.generation_id;
                if skip {
                    let code = injected.unwrap_or(ErrorCode::None);
                    let resp = rebalance::sync_error_answer(code);
                    return Reply::Frame(encode::<SyncGroupRequest>(corr, v, &resp));
                }
                match self.groups.sync(now, broker, &req) {
                    Outcome::Now(resp) => Reply::Frame(encode::<SyncGroupRequest>(corr, v, &resp)),
                    Outcome::Parked(ticket) => Reply::Parked { version: v, ticket },
                }
            }
            ApiKey::Heartbeat => {
                let (_, req) = decode::<HeartbeatRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                seen.generation = req.generation_id;
                let resp = match (skip, injected) {
                    (true, code) => HeartbeatResponse {
                        error_code: code.unwrap_or(ErrorCode::None).code(),
                        ..HeartbeatResponse::default()
                    },
                    (false, _) => self.groups.heartbeat(now, broker, &req),
                };
                Reply::Frame(encode::<HeartbeatRequest>(corr, v, &resp))
            }
            ApiKey::LeaveGroup => {
                let (_, req) = decode::<LeaveGroupRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = if v <= 2 {
                    req.member_id.clone()
                } else {
                    req.members
                        .first()
                        .map(|m| m.member_id.clone())
                        .unwrap_or_default()
                };
                let resp = match (skip, injected) {
                    (true, code) => LeaveGroupResponse {
                        error_code: code.unwrap_or(ErrorCode::None).code(),
                        ..LeaveGroupResponse::default()
                    },
                    (false, _) => self.groups.leave(now, broker, v, &req),
                };
                Reply::Frame(encode::<LeaveGroupRequest>(corr, v, &resp))
            }
            ApiKey::OffsetCommit => {
                let (_, req) = decode::<OffsetCommitRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                seen.generation = req.generation_id_or_member_epoch;
                seen.partitions = req
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions
                            .iter()
                            .map(|p| (tp(&t.name, p.partition_index), p.committed_offset))
                    })
                    .collect();
                let resp = match (skip, injected) {
                    (true, code) => {
                        group_offsets::commit_answer(&req, code.unwrap_or(ErrorCode::None))
                    }
                    (false, _) => self.groups.commit(now, broker, v, &req),
                };
                Reply::Frame(encode::<OffsetCommitRequest>(corr, v, &resp))
            }
            ApiKey::OffsetFetch => {
                let (_, req) = decode::<OffsetFetchRequest>(frame);
                let (group, topics) = if v >= 8 {
                    let g = req.groups.first().cloned().unwrap_or_default();
                    seen.member_id = g.member_id.clone().unwrap_or_default();
                    seen.generation = g.member_epoch;
                    (g.group_id, g.topics)
                } else {
                    (req.group_id.clone(), req.topics.clone())
                };
                seen.group = group.clone();
                seen.partitions = topics
                    .iter()
                    .flatten()
                    .flat_map(|t| t.partition_indexes.iter().map(|p| (tp(&t.name, *p), -1)))
                    .collect();
                let resp = match injected {
                    // v0–1 have no group-level error: every partition carries it.
                    Some(code) if v < 2 => {
                        let topics = topics
                            .iter()
                            .flatten()
                            .map(|t| OffsetFetchResponseTopic {
                                name: t.name.clone(),
                                partitions: t
                                    .partition_indexes
                                    .iter()
                                    .map(|p| OffsetFetchResponsePartition {
                                        partition_index: *p,
                                        committed_offset: -1,
                                        metadata: Some(String::new()),
                                        error_code: code.code(),
                                        ..OffsetFetchResponsePartition::default()
                                    })
                                    .collect(),
                                ..OffsetFetchResponseTopic::default()
                            })
                            .collect();
                        group_offsets::offset_fetch_answer(v, &group, topics, 0)
                    }
                    Some(code) => {
                        group_offsets::offset_fetch_answer(v, &group, Vec::new(), code.code())
                    }
                    None => self.groups.fetch_offsets(broker, v, &req),
                };
                Reply::Frame(encode::<OffsetFetchRequest>(corr, v, &resp))
            }
            ApiKey::ConsumerGroupHeartbeat => {
                let (header, req) = decode::<ConsumerGroupHeartbeatRequest>(frame);
                seen.group = req.group_id.clone();
                seen.member_id = req.member_id.clone();
                seen.generation = req.member_epoch;
                let resp = match (skip, injected) {
                    (true, code) => heartbeat_error(code.unwrap_or(ErrorCode::None)),
                    (false, _) => {
                        let client_id = header.client_id.unwrap_or_default();
                        self.groups.consumer_heartbeat(
                            now,
                            broker,
                            v,
                            &client_id,
                            &self.topics,
                            &req,
                        )
                    }
                };
                Reply::Frame(encode::<ConsumerGroupHeartbeatRequest>(corr, v, &resp))
            }
            other => unreachable!("{other} is not a group API"),
        }
    }
}
