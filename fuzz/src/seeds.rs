//! Seed inputs built from real encodings, in each target's input layout.
//!
//! Kept in code rather than committed as files: `cargo run --bin seeds -- DIR` writes
//! them (see `scripts/fuzz.sh`).

use bytes::{Bytes, BytesMut};
use consumer_core::codec::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicPartitions, LATEST_VERSION,
};
use consumer_core::codec::messages::api_versions::ApiVersion;
use consumer_core::codec::messages::fetch::{
    AbortedTransaction, FetchPartition, FetchTopic, FetchableTopicResponse, NodeEndpoint,
    PartitionData,
};
use consumer_core::codec::messages::find_coordinator::Coordinator;
use consumer_core::codec::messages::join_group::{
    JoinGroupRequestProtocol, JoinGroupResponseMember,
};
use consumer_core::codec::messages::leave_group::{LeaveGroupMember, LeaveGroupMemberResponse};
use consumer_core::codec::messages::list_offsets::{
    ListOffsetsPartition, ListOffsetsPartitionResponse, ListOffsetsTopic, ListOffsetsTopicResponse,
};
use consumer_core::codec::messages::metadata::{
    MetadataRequestTopic, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use consumer_core::codec::messages::offset_commit::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic, OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
};
use consumer_core::codec::messages::offset_fetch::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchResponseGroup,
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use consumer_core::codec::messages::offset_for_leader_epoch::{
    EpochEndOffset, OffsetForLeaderPartition, OffsetForLeaderTopic, OffsetForLeaderTopicResult,
};
use consumer_core::codec::messages::sync_group::SyncGroupRequestAssignment;
use consumer_core::codec::messages::*;
use consumer_core::codec::{
    decode_response_frame, encode_request_frame, encode_response_frame, ApiKey, Request,
};

use crate::responses::{input, Mode};

/// A named seed.
pub type Seed = (String, Vec<u8>);

const ID: [u8; 16] = *b"0123456789abcdef";

/// Seeds for `response_decoders`: for every API and version, a response frame, a request
/// body and a request frame (each a rich message if it encodes at that version, else the
/// default one), plus consumer-protocol subscriptions and assignments.
pub fn response_decoders() -> Vec<Seed> {
    let mut out = Vec::new();
    for api in ApiKey::ALL {
        match api {
            ApiKey::Fetch => per_api(&mut out, fetch_request(), fetch_response()),
            ApiKey::ListOffsets => {
                per_api(&mut out, list_offsets_request(), list_offsets_response())
            }
            ApiKey::Metadata => per_api(&mut out, metadata_request(), metadata_response()),
            ApiKey::OffsetCommit => {
                per_api(&mut out, offset_commit_request(), offset_commit_response())
            }
            ApiKey::OffsetFetch => {
                per_api(&mut out, offset_fetch_request(), offset_fetch_response())
            }
            ApiKey::FindCoordinator => per_api(
                &mut out,
                find_coordinator_request(),
                find_coordinator_response(),
            ),
            ApiKey::JoinGroup => per_api(&mut out, join_group_request(), join_group_response()),
            ApiKey::Heartbeat => per_api(
                &mut out,
                HeartbeatRequest {
                    group_id: "group".into(),
                    generation_id: 3,
                    member_id: "member-1".into(),
                    group_instance_id: Some("static-1".into()),
                },
                HeartbeatResponse {
                    throttle_time_ms: 5,
                    error_code: 27,
                },
            ),
            ApiKey::LeaveGroup => per_api(&mut out, leave_group_request(), leave_group_response()),
            ApiKey::SyncGroup => per_api(&mut out, sync_group_request(), sync_group_response()),
            ApiKey::SaslHandshake => per_api(
                &mut out,
                SaslHandshakeRequest {
                    mechanism: "PLAIN".into(),
                },
                SaslHandshakeResponse {
                    error_code: 0,
                    mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-256".into()],
                },
            ),
            ApiKey::ApiVersions => per_api(
                &mut out,
                ApiVersionsRequest {
                    client_software_name: "consumer-core".into(),
                    client_software_version: "0.1.0".into(),
                },
                api_versions_response(),
            ),
            ApiKey::OffsetForLeaderEpoch => per_api(
                &mut out,
                offset_for_leader_epoch_request(),
                offset_for_leader_epoch_response(),
            ),
            ApiKey::SaslAuthenticate => per_api(
                &mut out,
                SaslAuthenticateRequest {
                    auth_bytes: Bytes::from_static(b"\0user\0pass"),
                },
                SaslAuthenticateResponse {
                    error_code: 58,
                    error_message: Some("bad".into()),
                    auth_bytes: Bytes::from_static(b"x"),
                    session_lifetime_ms: 3_600_000,
                },
            ),
            ApiKey::ConsumerGroupHeartbeat => per_api(
                &mut out,
                consumer_core::codec::messages::ConsumerGroupHeartbeatRequest {
                    group_id: "group".into(),
                    member_id: "m-1".into(),
                    member_epoch: 0,
                    instance_id: Some("static-1".into()),
                    rack_id: Some("rack-1".into()),
                    rebalance_timeout_ms: 300_000,
                    subscribed_topic_names: Some(vec!["orders".into()]),
                    subscribed_topic_regex: Some(String::new()),
                    server_assignor: Some("uniform".into()),
                    topic_partitions: Some(Vec::new()),
                },
                consumer_core::codec::messages::ConsumerGroupHeartbeatResponse {
                    member_id: Some("m-1".into()),
                    member_epoch: 3,
                    heartbeat_interval_ms: 5000,
                    assignment: Some(vec![
                        consumer_core::codec::messages::consumer_group_heartbeat::TopicPartitions {
                            topic_id: [7; 16],
                            partitions: vec![0, 1, 2],
                        },
                    ]),
                    ..Default::default()
                },
            ),
        }
    }
    consumer_protocol(&mut out);
    out.extend(fixture_response_seeds());
    out
}

fn per_api<R>(out: &mut Vec<Seed>, req: R, resp: R::Response)
where
    R: Request + Default,
    R::Response: Default,
{
    let api = R::API_KEY;
    let name = api.name();
    let range = api.versions();
    for v in range.min..=range.max {
        let frame = encode_response_frame::<R>(41, v, &resp)
            .or_else(|_| encode_response_frame::<R>(41, v, &R::Response::default()));
        if let Ok(frame) = frame {
            out.push((
                format!("{name}-v{v}-response"),
                input(api, v, Mode::Response, &frame[4..]),
            ));
        }
        let mut body = BytesMut::new();
        let encoded = req.encode(&mut body, v).or_else(|_| {
            body.clear();
            R::default().encode(&mut body, v)
        });
        if encoded.is_ok() {
            out.push((
                format!("{name}-v{v}-request-body"),
                input(api, v, Mode::RequestBody, &body),
            ));
        }
        let frame = encode_request_frame(42, Some("seed"), v, &req)
            .or_else(|_| encode_request_frame(42, None, v, &R::default()));
        if let Ok(frame) = frame {
            out.push((
                format!("{name}-v{v}-request-frame"),
                input(api, v, Mode::RequestFrame, &frame[4..]),
            ));
        }
    }
}

fn consumer_protocol(out: &mut Vec<Seed>) {
    let sub = ConsumerProtocolSubscription {
        topics: vec!["orders".into(), "payments".into()],
        user_data: Some(Bytes::from_static(b"ud")),
        owned_partitions: vec![TopicPartitions {
            topic: "orders".into(),
            partitions: vec![0, 2],
        }],
        generation_id: 4,
        rack_id: Some("rack-a".into()),
    };
    let asg = ConsumerProtocolAssignment {
        assigned_partitions: vec![TopicPartitions {
            topic: "orders".into(),
            partitions: vec![1, 3],
        }],
        user_data: None,
    };
    for v in 0..=LATEST_VERSION {
        if let Ok(b) = sub.encode(v) {
            out.push((
                format!("subscription-v{v}"),
                input(ApiKey::JoinGroup, 0, Mode::Subscription, &b),
            ));
        }
        if let Ok(b) = asg.encode(v) {
            out.push((
                format!("assignment-v{v}"),
                input(ApiKey::SyncGroup, 0, Mode::Assignment, &b),
            ));
        }
    }
}

/// Bytes that stand in for a partition's records in Fetch seeds.
pub fn sample_records() -> Bytes {
    Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 2])
}

fn fetch_request() -> FetchRequest {
    FetchRequest {
        max_wait_ms: 500,
        min_bytes: 1,
        max_bytes: 52_428_800,
        isolation_level: 1,
        session_id: 9,
        session_epoch: 2,
        topics: vec![FetchTopic {
            topic: "orders".into(),
            topic_id: ID,
            partitions: vec![FetchPartition {
                partition: 0,
                current_leader_epoch: 3,
                fetch_offset: 100,
                log_start_offset: -1,
                partition_max_bytes: 1_048_576,
                ..Default::default()
            }],
        }],
        rack_id: "rack-a".into(),
        ..Default::default()
    }
}

fn fetch_response() -> FetchResponse {
    FetchResponse {
        throttle_time_ms: 1,
        session_id: 9,
        responses: vec![FetchableTopicResponse {
            topic: "orders".into(),
            topic_id: ID,
            partitions: vec![
                PartitionData {
                    partition_index: 0,
                    high_watermark: 120,
                    last_stable_offset: 110,
                    log_start_offset: 0,
                    aborted_transactions: Some(vec![AbortedTransaction {
                        producer_id: 7,
                        first_offset: 101,
                    }]),
                    preferred_read_replica: -1,
                    records: Some(sample_records()),
                    ..Default::default()
                },
                PartitionData {
                    partition_index: 1,
                    error_code: 6,
                    ..Default::default()
                },
            ],
        }],
        node_endpoints: vec![NodeEndpoint {
            node_id: 2,
            host: "b2".into(),
            port: 9092,
            rack: Some("r".into()),
        }],
        ..Default::default()
    }
}

fn list_offsets_request() -> ListOffsetsRequest {
    ListOffsetsRequest {
        replica_id: -1,
        isolation_level: 1,
        topics: vec![ListOffsetsTopic {
            name: "orders".into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                current_leader_epoch: 3,
                timestamp: -1,
            }],
        }],
        timeout_ms: 3000,
    }
}

fn list_offsets_response() -> ListOffsetsResponse {
    ListOffsetsResponse {
        throttle_time_ms: 0,
        topics: vec![ListOffsetsTopicResponse {
            name: "orders".into(),
            partitions: vec![ListOffsetsPartitionResponse {
                partition_index: 0,
                error_code: 0,
                timestamp: -1,
                offset: 120,
                leader_epoch: 3,
            }],
        }],
    }
}

fn metadata_request() -> MetadataRequest {
    MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            topic_id: [0; 16],
            name: Some("orders".into()),
        }]),
        allow_auto_topic_creation: false,
        ..Default::default()
    }
}

fn metadata_response() -> MetadataResponse {
    MetadataResponse {
        throttle_time_ms: 0,
        brokers: vec![
            MetadataResponseBroker {
                node_id: 1,
                host: "b1".into(),
                port: 9092,
                rack: None,
            },
            MetadataResponseBroker {
                node_id: 2,
                host: "b2".into(),
                port: 9093,
                rack: Some("r".into()),
            },
        ],
        cluster_id: Some("cluster".into()),
        controller_id: 1,
        topics: vec![MetadataResponseTopic {
            error_code: 0,
            name: Some("orders".into()),
            topic_id: ID,
            is_internal: false,
            partitions: vec![MetadataResponsePartition {
                error_code: 0,
                partition_index: 0,
                leader_id: 1,
                leader_epoch: 3,
                replica_nodes: vec![1, 2],
                isr_nodes: vec![1],
                offline_replicas: vec![2],
            }],
            topic_authorized_operations: -2147483648,
        }],
        ..Default::default()
    }
}

fn offset_commit_request() -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: "group".into(),
        generation_id_or_member_epoch: 3,
        member_id: "member-1".into(),
        group_instance_id: None,
        retention_time_ms: -1,
        topics: vec![OffsetCommitRequestTopic {
            name: "orders".into(),
            topic_id: ID,
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 120,
                committed_leader_epoch: 3,
                commit_timestamp: -1,
                committed_metadata: Some("m".into()),
            }],
        }],
    }
}

fn offset_commit_response() -> OffsetCommitResponse {
    OffsetCommitResponse {
        throttle_time_ms: 0,
        topics: vec![OffsetCommitResponseTopic {
            name: "orders".into(),
            topic_id: ID,
            partitions: vec![OffsetCommitResponsePartition {
                partition_index: 0,
                error_code: 0,
            }],
        }],
    }
}

fn offset_fetch_request() -> OffsetFetchRequest {
    let topics = Some(vec![OffsetFetchRequestTopic {
        name: "orders".into(),
        topic_id: ID,
        partition_indexes: vec![0, 1],
    }]);
    OffsetFetchRequest {
        group_id: "group".into(),
        topics: topics.clone(),
        groups: vec![OffsetFetchRequestGroup {
            group_id: "group".into(),
            member_id: Some("member-1".into()),
            member_epoch: 4,
            topics,
        }],
        require_stable: true,
    }
}

fn offset_fetch_response() -> OffsetFetchResponse {
    let topics = vec![OffsetFetchResponseTopic {
        name: "orders".into(),
        topic_id: ID,
        partitions: vec![OffsetFetchResponsePartition {
            partition_index: 0,
            committed_offset: 120,
            committed_leader_epoch: 3,
            metadata: Some("m".into()),
            error_code: 0,
        }],
    }];
    OffsetFetchResponse {
        throttle_time_ms: 0,
        topics: topics.clone(),
        error_code: 0,
        groups: vec![OffsetFetchResponseGroup {
            group_id: "group".into(),
            topics,
            error_code: 0,
        }],
    }
}

fn find_coordinator_request() -> FindCoordinatorRequest {
    FindCoordinatorRequest {
        key: "group".into(),
        key_type: 0,
        coordinator_keys: vec!["group".into()],
    }
}

fn find_coordinator_response() -> FindCoordinatorResponse {
    FindCoordinatorResponse {
        throttle_time_ms: 0,
        error_code: 0,
        error_message: None,
        node_id: 1,
        host: "b1".into(),
        port: 9092,
        coordinators: vec![Coordinator {
            key: "group".into(),
            node_id: 1,
            host: "b1".into(),
            port: 9092,
            error_code: 0,
            error_message: None,
        }],
    }
}

fn join_group_request() -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: "group".into(),
        session_timeout_ms: 45_000,
        rebalance_timeout_ms: 300_000,
        member_id: String::new(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: subscription_bytes(),
        }],
        reason: Some("seed".into()),
    }
}

fn join_group_response() -> JoinGroupResponse {
    JoinGroupResponse {
        throttle_time_ms: 0,
        error_code: 0,
        generation_id: 3,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        leader: "member-1".into(),
        skip_assignment: false,
        member_id: "member-1".into(),
        members: vec![JoinGroupResponseMember {
            member_id: "member-1".into(),
            group_instance_id: None,
            metadata: subscription_bytes(),
        }],
    }
}

fn subscription_bytes() -> Bytes {
    ConsumerProtocolSubscription {
        topics: vec!["orders".into()],
        ..Default::default()
    }
    .encode(1)
    .unwrap_or_default()
}

fn leave_group_request() -> LeaveGroupRequest {
    LeaveGroupRequest {
        group_id: "group".into(),
        member_id: "member-1".into(),
        members: vec![LeaveGroupMember {
            member_id: "member-1".into(),
            group_instance_id: Some("static-1".into()),
            reason: Some("bye".into()),
        }],
    }
}

fn leave_group_response() -> LeaveGroupResponse {
    LeaveGroupResponse {
        throttle_time_ms: 0,
        error_code: 0,
        members: vec![LeaveGroupMemberResponse {
            member_id: "member-1".into(),
            group_instance_id: Some("static-1".into()),
            error_code: 0,
        }],
    }
}

fn sync_group_request() -> SyncGroupRequest {
    SyncGroupRequest {
        group_id: "group".into(),
        generation_id: 3,
        member_id: "member-1".into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: vec![SyncGroupRequestAssignment {
            member_id: "member-1".into(),
            assignment: assignment_bytes(),
        }],
    }
}

fn sync_group_response() -> SyncGroupResponse {
    SyncGroupResponse {
        throttle_time_ms: 0,
        error_code: 0,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignment: assignment_bytes(),
    }
}

fn assignment_bytes() -> Bytes {
    ConsumerProtocolAssignment {
        assigned_partitions: vec![TopicPartitions {
            topic: "orders".into(),
            partitions: vec![0],
        }],
        user_data: None,
    }
    .encode(0)
    .unwrap_or_default()
}

fn api_versions_response() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: 0,
        api_keys: ApiKey::ALL
            .iter()
            .map(|a| ApiVersion {
                api_key: *a as i16,
                min_version: a.versions().min,
                max_version: a.versions().max,
            })
            .collect(),
        throttle_time_ms: 0,
        ..Default::default()
    }
}

fn offset_for_leader_epoch_request() -> OffsetForLeaderEpochRequest {
    OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics: vec![OffsetForLeaderTopic {
            topic: "orders".into(),
            partitions: vec![OffsetForLeaderPartition {
                partition: 0,
                current_leader_epoch: 3,
                leader_epoch: 2,
            }],
        }],
    }
}

fn offset_for_leader_epoch_response() -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse {
        throttle_time_ms: 0,
        topics: vec![OffsetForLeaderTopicResult {
            topic: "orders".into(),
            partitions: vec![EpochEndOffset {
                error_code: 0,
                partition: 0,
                leader_epoch: 2,
                end_offset: 100,
            }],
        }],
    }
}

/// The golden fixtures captured from real brokers (consumer-core/tests/fixtures).
pub fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../consumer-core/tests/fixtures")
}

/// One captured exchange: API, version, request and response frames (no size prefix).
pub struct Exchange {
    /// Scenario directory and sequence number, for seed names.
    pub name: String,
    /// The API, when this crate speaks it.
    pub api: Option<ApiKey>,
    /// The request's API version.
    pub version: i16,
    /// The request frame.
    pub request: Vec<u8>,
    /// The response frame, if one was captured.
    pub response: Option<Vec<u8>>,
}

/// Every exchange listed in the fixtures' `index.tsv` files (none if there are none).
pub fn fixture_exchanges() -> Vec<Exchange> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(fixtures_dir()) else {
        return out;
    };
    let mut dirs: Vec<_> = dirs.filter_map(Result::ok).map(|d| d.path()).collect();
    dirs.sort();
    for dir in dirs {
        let Ok(index) = std::fs::read_to_string(dir.join("index.tsv")) else {
            continue;
        };
        let scenario = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        for line in index.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let [seq, key, _name, version, _corr, _client, req, resp] = cols[..] else {
                continue;
            };
            let (Ok(key), Ok(version)) = (key.parse::<i16>(), version.parse::<i16>()) else {
                continue;
            };
            let Ok(request) = std::fs::read(dir.join(req)) else {
                continue;
            };
            out.push(Exchange {
                name: format!("{}-{seq}", scenario.as_deref().unwrap_or("?")),
                api: ApiKey::from_i16(key),
                version,
                request,
                response: (resp != "-")
                    .then(|| std::fs::read(dir.join(resp)).ok())
                    .flatten(),
            });
        }
    }
    out
}

/// `response_decoders` seeds from the fixtures: every captured frame of an API and
/// version this crate speaks.
pub fn fixture_response_seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for x in fixture_exchanges() {
        let Some(api) = x.api.filter(|a| a.versions().contains(x.version)) else {
            continue;
        };
        out.push((
            format!("fixture-{}-{}-v{}-req", x.name, api.name(), x.version),
            input(api, x.version, Mode::RequestFrame, &x.request),
        ));
        if let Some(resp) = &x.response {
            out.push((
                format!("fixture-{}-{}-v{}-resp", x.name, api.name(), x.version),
                input(api, x.version, Mode::Response, resp),
            ));
        }
    }
    out
}

/// The `records` of every partition of every captured Fetch response.
pub fn fixture_partition_records() -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    for x in fixture_exchanges() {
        let (Some(ApiKey::Fetch), Some(resp)) = (x.api, &x.response) else {
            continue;
        };
        let Ok((_, body)) =
            decode_response_frame::<FetchRequest>(Bytes::copy_from_slice(resp), x.version)
        else {
            continue;
        };
        for topic in &body.responses {
            for p in &topic.partitions {
                if let Some(records) = p.records.clone().filter(|r| !r.is_empty()) {
                    out.push((format!("{}-p{}", x.name, p.partition_index), records));
                }
            }
        }
    }
    out
}

/// Seeds for `record_batches`: partitions built in every format and codec (CRC checked
/// and not), a truncated one, and the record sets of the captured Fetch responses.
pub fn record_batches() -> Vec<Seed> {
    use consumer_core::record::{
        BatchBuilder, Compression, ControlRecord, ControlRecordType, Header, LegacyBuilder, Record,
    };
    let records: Vec<Record> = (0..4)
        .map(|i| Record {
            offset: 100 + i,
            timestamp: 1_700_000_000_000 + i,
            key: (i != 2).then(|| Bytes::from(format!("key-{i}"))),
            value: (i != 3).then(|| Bytes::from(format!("value-{i}-").repeat(3))),
            headers: if i == 1 {
                vec![
                    Header {
                        key: "h".into(),
                        value: Some(Bytes::from_static(b"v")),
                    },
                    Header {
                        key: "n".into(),
                        value: None,
                    },
                ]
            } else {
                Vec::new()
            },
            ..Default::default()
        })
        .collect();
    let no_headers: Vec<Record> = records
        .iter()
        .cloned()
        .map(|r| Record {
            headers: Vec::new(),
            ..r
        })
        .collect();
    let mut partitions: Vec<(String, Bytes)> = Vec::new();
    for codec in Compression::ALL.into_iter().filter(|c| c.is_enabled()) {
        let name = codec.name();
        if let Ok(b) = BatchBuilder::new(100)
            .with_compression(codec)
            .build(&records)
        {
            partitions.push((format!("v2-{name}"), b));
        }
        for magic in 0..=1 {
            let legacy = LegacyBuilder {
                magic,
                compression: codec,
                log_append_time: None,
            };
            if let Ok(b) = legacy.build(&no_headers) {
                partitions.push((format!("v{magic}-{name}"), b));
            }
        }
    }
    // Two batches, transactional and then a commit marker; one log-append-time batch.
    let txn = BatchBuilder {
        transactional: true,
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 0,
        ..BatchBuilder::new(100)
    };
    let marker = Record {
        offset: 104,
        key: Some(Bytes::copy_from_slice(&ControlRecord::key(
            ControlRecordType::Commit,
        ))),
        value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
        ..Default::default()
    };
    let control = BatchBuilder {
        control: true,
        ..txn.clone().with_compression(Compression::None)
    };
    let mut two = BytesMut::new();
    if txn.encode(&records, &mut two).is_ok() && control.encode(&[marker], &mut two).is_ok() {
        let two = two.freeze();
        partitions.push(("v2-txn-commit".into(), two.clone()));
        partitions.push(("v2-truncated".into(), two.slice(..two.len() - 9)));
    }
    let append = BatchBuilder {
        timestamp_type: consumer_core::record::TimestampType::LogAppendTime,
        max_timestamp: Some(1_800_000_000_000),
        delete_horizon_ms: Some(1_600_000_000_000),
        ..BatchBuilder::new(100).with_compression(Compression::Lz4)
    };
    if let Ok(b) = append.build(&records) {
        partitions.push(("v2-append-time".into(), b));
    }
    partitions.extend(
        fixture_partition_records()
            .into_iter()
            .map(|(n, b)| (format!("fixture-{n}"), b)),
    );

    let mut out = Vec::new();
    for (name, bytes) in partitions {
        out.push((
            format!("crc-{name}"),
            crate::records::raw_input(true, &bytes),
        ));
        out.push((
            format!("nocrc-{name}"),
            crate::records::raw_input(false, &bytes),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::records::*;

    #[test]
    fn every_record_seed_decodes() {
        let seeds = super::record_batches();
        assert!(seeds.len() >= 32);
        for (name, data) in seeds {
            let outcome = decode(
                bytes::Bytes::copy_from_slice(&data[1..]),
                data[0] == 0,
                MAX_DECOMPRESSED,
            );
            assert_eq!(outcome.error, None, "seed {name}");
            assert!(!outcome.records.is_empty(), "seed {name} has no records");
            assert_eq!(
                outcome.truncated_tail.is_some(),
                name.contains("truncated"),
                "seed {name}: {:?}",
                outcome.truncated_tail
            );
        }
    }

    fn record(i: u8, run: Option<u8>) -> RecordSpec {
        RecordSpec {
            offset_gap: i,
            timestamp: 1_000 * i64::from(i) - 5,
            key: i.is_multiple_of(2).then(|| vec![i; 3]),
            value: match run {
                Some(units) => ValueSpec::Run { byte: b'x', units },
                None if i == 3 => ValueSpec::Null,
                None => ValueSpec::Bytes(vec![b'v'; usize::from(i)]),
            },
            headers: vec![("h".into(), Some(vec![i])), (String::new(), None)],
        }
    }

    fn batch(format: Format, codec: u8, run: Option<u8>, append: bool) -> BatchSpec {
        BatchSpec {
            format,
            codec,
            base_offset: 40,
            log_append_time: append.then_some(99),
            transactional: codec.is_multiple_of(2),
            control: false,
            delete_horizon_ms: (codec == 3).then_some(7),
            partition_leader_epoch: 2,
            records: (0..4).map(|i| record(i, run)).collect(),
        }
    }

    /// The structured mode's own invariants hold for every format and codec, cut at
    /// every position, and a compressed batch over the limit fails as too large.
    #[test]
    fn structured_specs_round_trip() {
        for format in [Format::V2, Format::Legacy0, Format::Legacy1] {
            for codec in 0..5 {
                for append in [false, true] {
                    let spec = PartitionSpec {
                        batches: vec![
                            batch(format, codec, None, append),
                            batch(format, codec + 1, None, false),
                        ],
                        mutations: Vec::new(),
                        truncate: None,
                    };
                    structured(&spec);
                    let full: usize = 4096;
                    for cut in (0..full as u32).step_by(7) {
                        structured(&PartitionSpec {
                            truncate: Some(cut),
                            ..spec_clone(&spec)
                        });
                    }
                }
                // 4 records of 32 KiB: over the 64 KiB limit when compressed.
                structured(&PartitionSpec {
                    batches: vec![
                        batch(format, codec, None, false),
                        batch(format, codec, Some(32), false),
                    ],
                    mutations: Vec::new(),
                    truncate: None,
                });
            }
        }
    }

    fn spec_clone(s: &PartitionSpec) -> PartitionSpec {
        let formats: Vec<_> = s
            .batches
            .iter()
            .map(|b| (b.format, b.codec, b.log_append_time.is_some()))
            .collect();
        PartitionSpec {
            batches: formats
                .into_iter()
                .map(|(f, c, a)| batch(f, c, None, a))
                .collect(),
            mutations: Vec::new(),
            truncate: s.truncate,
        }
    }

    #[test]
    fn every_response_seed_decodes_and_round_trips() {
        let seeds = super::response_decoders();
        assert!(seeds.len() > 300);
        for (name, data) in seeds {
            assert!(
                crate::responses::check(&data),
                "seed {name} does not decode"
            );
        }
    }
}
