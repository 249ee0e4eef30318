//! Golden tests of the classic group APIs against captured group sessions
//! (tests/fixtures/mock-group: librdkafka 2.0.2 against its mock cluster, classic
//! versions; tests/fixtures/tansu-group: kafka-python against Tansu, flexible versions).
//! The embedded consumer protocol (subscription and assignment) is decoded with
//! `consumer_protocol` and re-encoded byte for byte too.

mod golden_support;

use bytes::Bytes;
use consumer_core::codec::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicPartitions, PROTOCOL_TYPE,
};
use consumer_core::codec::messages::find_coordinator::KEY_TYPE_GROUP;
use consumer_core::codec::messages::*;
use consumer_core::codec::ApiKey;
use consumer_core::ErrorCode;
use golden_support::{Exchange, Scenario};

const GROUP: &str = "fx-cg";
const TOPIC: &str = "fx-group";

/// Decodes a JoinGroup subscription, checks it re-encodes to the same bytes, and that it
/// subscribes to the fixture topic only.
fn subscription(data: &Bytes, expect_version: i16, what: &str) -> ConsumerProtocolSubscription {
    let (version, sub) = ConsumerProtocolSubscription::decode_versioned(data.clone())
        .unwrap_or_else(|e| panic!("{what}: subscription: {e}"));
    assert_eq!(version, expect_version, "{what}: subscription version");
    assert_eq!(sub.topics, [TOPIC], "{what}");
    assert_eq!(
        sub.user_data.as_deref(),
        Some(&[][..]),
        "{what}: empty user data"
    );
    assert!(
        sub.owned_partitions.is_empty(),
        "{what}: a fresh member owns nothing"
    );
    assert_eq!(
        sub.encode(version).expect("encodes"),
        data,
        "{what}: re-encoded"
    );
    sub
}

/// Decodes a SyncGroup assignment, checks it re-encodes to the same bytes, and that the
/// single member got every partition of the fixture topic.
fn assignment(data: &Bytes, what: &str) -> ConsumerProtocolAssignment {
    let (version, a) = ConsumerProtocolAssignment::decode_versioned(data.clone())
        .unwrap_or_else(|e| panic!("{what}: assignment: {e}"));
    assert_eq!(version, 0, "{what}: both clients write assignment v0");
    assert_eq!(
        a.assigned_partitions,
        [TopicPartitions {
            topic: TOPIC.into(),
            partitions: vec![0, 1, 2],
        }],
        "{what}"
    );
    assert_eq!(a.user_data.as_deref(), Some(&[][..]), "{what}");
    assert_eq!(
        a.encode(version).expect("encodes"),
        data,
        "{what}: re-encoded"
    );
    a
}

/// The port Metadata gave for `node_id` in this scenario.
fn broker_port(s: &Scenario, node_id: i32) -> i32 {
    let md = s.of(ApiKey::Metadata)[0].decode_response::<MetadataRequest>();
    md.brokers
        .iter()
        .find(|b| b.node_id == node_id)
        .unwrap_or_else(|| panic!("{}: no broker {node_id}", s.name))
        .port
}

/// A member's state after JoinGroup, as later requests must repeat it.
struct Member {
    id: String,
    generation: i32,
}

/// Checks a successful JoinGroup of a single-member group; returns the member.
fn joined(ex: &Exchange, sub_version: i16) -> Member {
    let what = ex.name();
    let req: JoinGroupRequest = ex.decode_request();
    assert_eq!(req.group_id, GROUP, "{what}");
    assert_eq!(req.session_timeout_ms, 6000, "{what}");
    assert_eq!(req.rebalance_timeout_ms, 300_000, "{what}");
    assert_eq!(req.group_instance_id, None, "{what}: dynamic member");
    assert_eq!(req.protocol_type, PROTOCOL_TYPE, "{what}");
    let names: Vec<&str> = req.protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["range", "roundrobin"], "{what}");
    for p in &req.protocols {
        subscription(&p.metadata, sub_version, &what);
    }

    let resp = ex.decode_response::<JoinGroupRequest>();
    assert_eq!(resp.error_code, 0, "{what}");
    assert_eq!(resp.protocol_name.as_deref(), Some("range"), "{what}");
    assert!(!resp.member_id.is_empty(), "{what}");
    if !req.member_id.is_empty() {
        assert_eq!(resp.member_id, req.member_id, "{what}: keeps its id");
    }
    assert_eq!(resp.leader, resp.member_id, "{what}: the only member leads");
    assert!(!resp.skip_assignment);
    assert_eq!(resp.members.len(), 1, "{what}");
    assert_eq!(resp.members[0].member_id, resp.member_id);
    assert_eq!(resp.members[0].group_instance_id, None);
    // The leader gets back the metadata of the protocol chosen.
    assert_eq!(
        resp.members[0].metadata, req.protocols[0].metadata,
        "{what}"
    );
    subscription(&resp.members[0].metadata, sub_version, &what);
    Member {
        id: resp.member_id,
        generation: resp.generation_id,
    }
}

/// Checks the leader's SyncGroup: it assigns everything to itself and gets it back.
fn synced(ex: &Exchange, m: &Member, protocol: Option<&str>) {
    let what = ex.name();
    let req: SyncGroupRequest = ex.decode_request();
    assert_eq!(req.group_id, GROUP, "{what}");
    assert_eq!(
        (&req.member_id, req.generation_id),
        (&m.id, m.generation),
        "{what}"
    );
    assert_eq!(req.group_instance_id, None);
    assert_eq!(
        req.protocol_type.as_deref(),
        protocol.map(|_| PROTOCOL_TYPE)
    );
    assert_eq!(req.protocol_name.as_deref(), protocol, "{what}");
    assert_eq!(req.assignments.len(), 1, "{what}");
    assert_eq!(req.assignments[0].member_id, m.id, "{what}");
    assignment(&req.assignments[0].assignment, &what);
    if ex.response_file.is_some() {
        let resp = ex.decode_response::<SyncGroupRequest>();
        assert_eq!(resp.error_code, 0, "{what}");
        assert_eq!(
            resp.protocol_type.as_deref(),
            protocol.map(|_| PROTOCOL_TYPE)
        );
        assert_eq!(resp.protocol_name.as_deref(), protocol, "{what}");
        assert_eq!(resp.assignment, req.assignments[0].assignment, "{what}");
        assignment(&resp.assignment, &what);
    }
}

fn heartbeat(ex: &Exchange, m: &Member) {
    let req: HeartbeatRequest = ex.decode_request();
    assert_eq!(
        req,
        HeartbeatRequest {
            group_id: GROUP.into(),
            generation_id: m.generation,
            member_id: m.id.clone(),
            group_instance_id: None,
        },
        "{}",
        ex.name()
    );
    let resp = ex.decode_response::<HeartbeatRequest>();
    assert_eq!(resp, HeartbeatResponse::default(), "{}", ex.name());
}

/// Checks a commit of offset 2 (everything consumed) on all three partitions.
fn committed(ex: &Exchange, m: &Member) {
    let what = ex.name();
    let req: OffsetCommitRequest = ex.decode_request();
    assert_eq!(req.group_id, GROUP, "{what}");
    assert_eq!(req.generation_id_or_member_epoch, m.generation, "{what}");
    assert_eq!(req.member_id, m.id, "{what}");
    assert_eq!(req.group_instance_id, None);
    assert_eq!(req.retention_time_ms, -1, "{what}: not sent at v7+");
    assert_eq!(req.topics.len(), 1);
    assert_eq!(req.topics[0].name, TOPIC);
    let offsets: Vec<(i32, i64, i32, Option<&str>)> = req.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.committed_metadata.as_deref(),
            )
        })
        .collect();
    let expect: Vec<(i32, i64, i32, Option<&str>)> = (0..3).map(|p| (p, 2, -1, Some(""))).collect();
    assert_eq!(offsets, expect, "{what}");

    let resp = ex.decode_response::<OffsetCommitRequest>();
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].name, TOPIC);
    let answers: Vec<(i32, i16)> = resp.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect();
    assert_eq!(answers, [(0, 0), (1, 0), (2, 0)], "{what}");
}

/// Checks the committed offsets an OffsetFetch answer holds (`None` = nothing committed).
fn fetched_offsets(
    topics: &[offset_fetch::OffsetFetchResponseTopic],
    committed: Option<i64>,
    what: &str,
) {
    assert_eq!(topics.len(), 1, "{what}");
    assert_eq!(topics[0].name, TOPIC);
    let got: Vec<(i32, i64, i32, Option<&str>, i16)> = topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.as_deref(),
                p.error_code,
            )
        })
        .collect();
    let expect: Vec<(i32, i64, i32, Option<&str>, i16)> = (0..3)
        .map(|p| match committed {
            Some(o) => (p, o, -1, Some(""), 0),
            None => (p, -1, -1, None, 0),
        })
        .collect();
    assert_eq!(got, expect, "{what}");
}

#[test]
fn mock_group_session_librdkafka() {
    let s = Scenario::load("mock-group");

    // FindCoordinator v2: one key, answered with broker 3.
    let coordinator = {
        let finds = s.of(ApiKey::FindCoordinator);
        assert_eq!(finds.len(), 3);
        let mut node = None;
        for ex in finds {
            let req: FindCoordinatorRequest = ex.decode_request();
            assert_eq!(req.key, GROUP);
            assert_eq!(req.key_type, KEY_TYPE_GROUP);
            assert!(req.coordinator_keys.is_empty(), "v2 has no batched keys");
            let resp = ex.decode_response::<FindCoordinatorRequest>();
            assert_eq!((resp.error_code, resp.error_message.as_deref()), (0, None));
            assert!((1..=3).contains(&resp.node_id));
            assert_eq!(resp.host, "127.0.0.1");
            assert_eq!(resp.port, broker_port(&s, resp.node_id), "{}", ex.name());
            let c = resp
                .coordinator_for(GROUP)
                .expect("the v2 answer is for the key");
            assert_eq!((c.node_id, c.port), (resp.node_id, resp.port));
            assert_eq!(*node.get_or_insert(resp.node_id), resp.node_id, "stable");
        }
        node
    };
    assert!(coordinator.is_some());

    // First member: join (no member id needed by the mock), sync, heartbeat, fetch the
    // (empty) committed offsets, commit what it consumed, leave.
    let first = joined(s.seq(15), 1);
    assert_eq!(first.generation, 2);
    synced(s.seq(16), &first, None);
    for seq in [17, 27, 29] {
        heartbeat(s.seq(seq), &first);
    }
    let of = s.seq(18);
    let req: OffsetFetchRequest = of.decode_request();
    assert_eq!(req.group_id, GROUP);
    let topics = req.topics.expect("v5 asks for listed partitions");
    assert_eq!(topics.len(), 1);
    assert_eq!(
        (topics[0].name.as_str(), &topics[0].partition_indexes[..]),
        (TOPIC, &[0, 1, 2][..])
    );
    assert!(req.groups.is_empty() && !req.require_stable);
    let resp = of.decode_response::<OffsetFetchRequest>();
    assert_eq!(resp.error_code, 0);
    assert!(
        resp.groups.is_empty(),
        "v5 answers one group at the top level"
    );
    fetched_offsets(&resp.topics, None, &of.name());
    for seq in [31, 32] {
        committed(s.seq(seq), &first);
    }
    let leave = s.seq(33);
    let req: LeaveGroupRequest = leave.decode_request();
    assert_eq!(
        (req.group_id.as_str(), req.member_id.as_str()),
        (GROUP, first.id.as_str())
    );
    assert!(
        req.members.is_empty(),
        "v1 names one member at the top level"
    );
    let resp = leave.decode_response::<LeaveGroupRequest>();
    assert_eq!((resp.error_code, resp.members.len()), (0, 0));

    // Second member: a new generation; OffsetFetch now returns the commits.
    let second = joined(s.seq(35), 1);
    assert_eq!(second.generation, 3);
    assert_ne!(second.id, first.id);
    synced(s.seq(36), &second, None);
    let of = s.seq(37);
    let resp = of.decode_response::<OffsetFetchRequest>();
    fetched_offsets(&resp.topics, Some(2), &of.name());
    let leave = s.seq(38);
    let req: LeaveGroupRequest = leave.decode_request();
    assert_eq!(req.member_id, second.id);
    assert_eq!(leave.decode_response::<LeaveGroupRequest>().error_code, 0);
}

#[test]
fn tansu_group_session_kafka_python() {
    let s = Scenario::load("tansu-group");

    // FindCoordinator v6: batched coordinator keys (KIP-699).
    for seq in [10, 26] {
        let ex = s.seq(seq);
        let req: FindCoordinatorRequest = ex.decode_request();
        assert_eq!(req.key, "", "v4+ sends keys in coordinator_keys only");
        assert_eq!(req.key_type, KEY_TYPE_GROUP);
        assert_eq!(req.coordinator_keys, [GROUP]);
        let resp = ex.decode_response::<FindCoordinatorRequest>();
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.coordinators.len(), 1);
        let c = resp.coordinator_for(GROUP).expect("answer for the key");
        assert_eq!(c.key, GROUP);
        assert_eq!((c.node_id, c.host.as_str()), (111, "127.0.0.1"));
        assert_eq!(c.port, broker_port(&s, 111), "{}", ex.name());
        assert_eq!((c.error_code, c.error_message.as_deref()), (0, None));
    }

    // KIP-394: the first JoinGroup without a member id is refused with
    // MEMBER_ID_REQUIRED and an assigned id, which the retry then uses.
    let first_join = s.seq(11);
    let req: JoinGroupRequest = first_join.decode_request();
    assert_eq!(req.member_id, "");
    let resp = first_join.decode_response::<JoinGroupRequest>();
    assert_eq!(resp.error_code, ErrorCode::MemberIdRequired.code());
    assert_eq!(resp.error_code, 79);
    assert!(
        resp.member_id.starts_with("kafka-python-3.0.12-"),
        "{}",
        resp.member_id
    );
    assert!(resp.members.is_empty());
    assert_eq!(resp.generation_id, -1);
    let assigned = resp.member_id;
    let retry: JoinGroupRequest = s.seq(12).decode_request();
    assert_eq!(retry.member_id, assigned);

    let member = joined(s.seq(12), 0);
    assert_eq!(member.id, assigned);
    assert_eq!(member.generation, 0);
    synced(s.seq(13), &member, Some("range"));
    // kafka-python rejoined once more, in the same generation (Tansu did not bump it).
    let rejoined = joined(s.seq(14), 0);
    assert_eq!(
        (rejoined.id.as_str(), rejoined.generation),
        (member.id.as_str(), 0)
    );
    synced(s.seq(15), &member, Some("range"));

    // OffsetFetch v8: batched groups (KIP-709); nothing committed yet.
    let of = s.seq(16);
    let req: OffsetFetchRequest = of.decode_request();
    assert_eq!(req.group_id, "", "v8 asks in groups only");
    assert_eq!(req.topics, None);
    assert_eq!(req.groups.len(), 1);
    let g = &req.groups[0];
    assert_eq!(
        (g.group_id.as_str(), g.member_id.as_deref(), g.member_epoch),
        (GROUP, None, -1)
    );
    let topics = g.topics.as_ref().expect("listed partitions");
    assert_eq!(
        (topics[0].name.as_str(), &topics[0].partition_indexes[..]),
        (TOPIC, &[0, 1, 2][..])
    );
    let resp = of.decode_response::<OffsetFetchRequest>();
    assert!(resp.topics.is_empty(), "v8 answers in groups only");
    assert_eq!(resp.groups.len(), 1);
    assert_eq!(
        (resp.groups[0].group_id.as_str(), resp.groups[0].error_code),
        (GROUP, 0)
    );
    fetched_offsets(&resp.groups[0].topics, None, &of.name());

    for seq in [21, 23] {
        heartbeat(s.seq(seq), &member);
    }
    committed(s.seq(24), &member);

    // LeaveGroup v5 names the leaving members (KIP-345 batch form).
    for (seq, id) in [(25, Some(member.id.as_str())), (27, None)] {
        let ex = s.seq(seq);
        let req: LeaveGroupRequest = ex.decode_request();
        assert_eq!((req.group_id.as_str(), req.member_id.as_str()), (GROUP, ""));
        assert_eq!(req.members.len(), 1);
        let leaving = &req.members[0];
        if let Some(id) = id {
            assert_eq!(leaving.member_id, id);
        }
        assert_eq!(
            (
                leaving.group_instance_id.as_deref(),
                leaving.reason.as_deref()
            ),
            (None, None)
        );
        let resp = ex.decode_response::<LeaveGroupRequest>();
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.members.len(), 1);
        assert_eq!(resp.members[0].member_id, leaving.member_id);
        assert_eq!(resp.members[0].error_code, 0);
    }

    // The second member's SyncGroup (its JoinGroup was not kept; Tansu bumped the
    // generation to 1) was cut off before the answer.
    let second_id = s.seq(27).decode_request::<LeaveGroupRequest>().members[0]
        .member_id
        .clone();
    assert_ne!(second_id, member.id);
    synced(
        s.seq(28),
        &Member {
            id: second_id,
            generation: 1,
        },
        Some("range"),
    );
}
