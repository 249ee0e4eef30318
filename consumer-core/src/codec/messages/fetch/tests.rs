//! Round trips of Fetch requests and responses at every version.

use super::*;
use crate::codec::testing::{normalize_roundtrip, opt_bytes, opt_string, small_vec, string};
use crate::codec::{
    decode_request_frame, decode_response_frame, encode_request_frame, encode_response_frame,
};
use proptest::prelude::*;

const MIN: i16 = 4;
const MAX: i16 = 18;

fn partition(version: i16) -> impl Strategy<Value = FetchPartition> {
    (
        (any::<i32>(), any::<i32>(), any::<i64>(), any::<i32>()),
        (any::<i64>(), any::<i32>(), any::<[u8; 16]>(), any::<i64>()),
    )
        .prop_map(move |((p, cle, off, lfe), (lso, pmb, dir, hw))| {
            let d = FetchPartition::default();
            FetchPartition {
                partition: p,
                current_leader_epoch: if version >= 9 {
                    cle
                } else {
                    d.current_leader_epoch
                },
                fetch_offset: off,
                last_fetched_epoch: if version >= 12 {
                    lfe
                } else {
                    d.last_fetched_epoch
                },
                log_start_offset: if version >= 5 {
                    lso
                } else {
                    d.log_start_offset
                },
                partition_max_bytes: pmb,
                replica_directory_id: if version >= 17 {
                    dir
                } else {
                    d.replica_directory_id
                },
                high_watermark: if version >= 18 { hw } else { d.high_watermark },
            }
        })
}

fn request(version: i16) -> impl Strategy<Value = FetchRequest> {
    let topic = (string(), any::<[u8; 16]>(), small_vec(partition(version))).prop_map(
        move |(name, id, partitions)| FetchTopic {
            topic: if version <= 12 { name } else { String::new() },
            topic_id: if version >= 13 { id } else { [0; 16] },
            partitions,
        },
    );
    let forgotten = (string(), any::<[u8; 16]>(), small_vec(any::<i32>())).prop_map(
        move |(name, id, partitions)| ForgottenTopic {
            topic: if version <= 12 { name } else { String::new() },
            topic_id: if version >= 13 { id } else { [0; 16] },
            partitions,
        },
    );
    (
        (opt_string(), any::<i32>(), any::<i32>(), any::<i64>()),
        (any::<i32>(), any::<i32>(), any::<i32>(), any::<i8>()),
        (
            any::<i32>(),
            any::<i32>(),
            small_vec(topic),
            small_vec(forgotten),
        ),
        string(),
    )
        .prop_map(
            move |(
                (cluster, rid, state_id, state_epoch),
                (wait, min, max, iso),
                (sid, sepoch, topics, forgotten),
                rack,
            )| {
                let d = FetchRequest::default();
                FetchRequest {
                    cluster_id: if version >= 12 { cluster } else { None },
                    replica_id: if version <= 14 { rid } else { d.replica_id },
                    replica_state: if version >= 15 {
                        ReplicaState {
                            replica_id: state_id,
                            replica_epoch: state_epoch,
                        }
                    } else {
                        d.replica_state
                    },
                    max_wait_ms: wait,
                    min_bytes: min,
                    max_bytes: max,
                    isolation_level: iso,
                    session_id: if version >= 7 { sid } else { d.session_id },
                    session_epoch: if version >= 7 {
                        sepoch
                    } else {
                        d.session_epoch
                    },
                    topics,
                    forgotten_topics_data: if version >= 7 { forgotten } else { Vec::new() },
                    rack_id: if version >= 11 { rack } else { String::new() },
                }
            },
        )
}

fn partition_data(version: i16) -> impl Strategy<Value = PartitionData> {
    let aborted = (any::<i64>(), any::<i64>()).prop_map(|(p, f)| AbortedTransaction {
        producer_id: p,
        first_offset: f,
    });
    (
        (
            any::<i32>(),
            any::<i16>(),
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
        ),
        (any::<i32>(), any::<i64>(), any::<i32>(), any::<i32>()),
        (any::<i64>(), any::<i32>()),
        (
            proptest::option::of(small_vec(aborted)),
            any::<i32>(),
            opt_bytes(),
        ),
    )
        .prop_map(
            move |((idx, err, hw, lso, lstart), (de, deo, lid, lep), (se, sep), (ab, prr, rec))| {
                let d = PartitionData::default();
                let flex = version >= 12;
                PartitionData {
                    partition_index: idx,
                    error_code: err,
                    high_watermark: hw,
                    last_stable_offset: lso,
                    log_start_offset: if version >= 5 {
                        lstart
                    } else {
                        d.log_start_offset
                    },
                    diverging_epoch: if flex {
                        DivergingEpoch {
                            epoch: de,
                            end_offset: deo,
                        }
                    } else {
                        d.diverging_epoch
                    },
                    current_leader: if flex {
                        LeaderIdAndEpoch {
                            leader_id: lid,
                            leader_epoch: lep,
                        }
                    } else {
                        d.current_leader
                    },
                    snapshot_id: if flex {
                        SnapshotId {
                            end_offset: se,
                            epoch: sep,
                        }
                    } else {
                        d.snapshot_id
                    },
                    aborted_transactions: ab,
                    preferred_read_replica: if version >= 11 {
                        prr
                    } else {
                        d.preferred_read_replica
                    },
                    records: rec,
                }
            },
        )
}

fn response(version: i16) -> impl Strategy<Value = FetchResponse> {
    let topic = (
        string(),
        any::<[u8; 16]>(),
        small_vec(partition_data(version)),
    )
        .prop_map(move |(name, id, partitions)| FetchableTopicResponse {
            topic: if version <= 12 { name } else { String::new() },
            topic_id: if version >= 13 { id } else { [0; 16] },
            partitions,
        });
    let endpoint = (any::<i32>(), string(), any::<i32>(), opt_string()).prop_map(
        |(node_id, host, port, rack)| NodeEndpoint {
            node_id,
            host,
            port,
            rack,
        },
    );
    (
        any::<i32>(),
        any::<i16>(),
        any::<i32>(),
        small_vec(topic),
        small_vec(endpoint),
    )
        .prop_map(
            move |(throttle, err, sid, responses, endpoints)| FetchResponse {
                throttle_time_ms: throttle,
                error_code: if version >= 7 { err } else { 0 },
                session_id: if version >= 7 { sid } else { 0 },
                responses,
                node_endpoints: if version >= 16 { endpoints } else { Vec::new() },
            },
        )
}

proptest! {
    #[test]
    fn request_round_trips((v, req) in (MIN..=MAX).prop_flat_map(|v| (Just(v), request(v)))) {
        normalize_roundtrip(&req, v)?;
    }

    #[test]
    fn response_round_trips((v, resp) in (MIN..=MAX).prop_flat_map(|v| (Just(v), response(v)))) {
        normalize_roundtrip(&resp, v)?;
    }
}

/// A v11 response built by hand, as the mock cluster would send it.
#[test]
fn decodes_hand_built_v11_response() {
    let mut b = BytesMut::new();
    b.put_i32(3); // throttle
    b.put_i16(0); // error
    b.put_i32(77); // session id
    b.put_i32(1); // one topic
    b.put_string(false, "orders").unwrap();
    b.put_i32(1); // one partition
    b.put_i32(2); // index
    b.put_i16(0);
    b.put_i64(100); // hw
    b.put_i64(90); // lso
    b.put_i64(5); // log start
    b.put_i32(1); // one aborted txn
    b.put_i64(9);
    b.put_i64(80);
    b.put_i32(-1); // preferred read replica
    b.put_i32(4); // records
    b.put_slice(b"abcd");
    let frame = b.freeze();
    let mut r = Reader::new(frame.clone());
    let resp = FetchResponse::decode(&mut r, 11).unwrap();
    assert!(r.is_empty());
    assert_eq!(resp.session_id, 77);
    let p = &resp.responses[0].partitions[0];
    assert_eq!(resp.responses[0].topic, "orders");
    assert_eq!(
        (p.partition_index, p.high_watermark, p.last_stable_offset),
        (2, 100, 90)
    );
    assert_eq!(
        p.aborted_transactions,
        Some(vec![AbortedTransaction {
            producer_id: 9,
            first_offset: 80
        }])
    );
    let records = p.records.as_ref().unwrap();
    assert_eq!(&records[..], b"abcd");
    // Zero copy: the records live inside the frame's allocation.
    let start = frame.as_ptr() as usize;
    let at = records.as_ptr() as usize;
    assert!(at >= start && at + records.len() <= start + frame.len());
}

/// A v16 response built by hand: topic ids, tagged current leader and node endpoints,
/// and an unknown tag that must be skipped.
#[test]
fn decodes_hand_built_v16_response_with_tags() {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i16(0);
    b.put_i32(0);
    b.put_uvarint(2); // one topic
    b.put_slice(&[1; 16]);
    b.put_uvarint(2); // one partition
    b.put_i32(0);
    b.put_i16(6); // NOT_LEADER_OR_FOLLOWER
    b.put_i64(-1);
    b.put_i64(-1);
    b.put_i64(-1);
    b.put_uvarint(0); // null aborted transactions
    b.put_i32(-1);
    b.put_uvarint(0); // null records
    b.put_uvarint(2); // partition tags: current leader, unknown 7
    b.put_uvarint(1);
    b.put_uvarint(9);
    b.put_i32(4);
    b.put_i32(12);
    b.put_u8(0);
    b.put_uvarint(7);
    b.put_uvarint(1);
    b.put_u8(0xaa);
    b.put_u8(0); // topic tags
    b.put_uvarint(1); // response tags: node endpoints
    let mut ne = BytesMut::new();
    ne.put_uvarint(2);
    ne.put_i32(4);
    ne.put_string(true, "b4").unwrap();
    ne.put_i32(9094);
    ne.put_nullable_string(true, None).unwrap();
    ne.put_u8(0);
    b.put_uvarint(0);
    b.put_uvarint(ne.len() as u32);
    b.put_slice(&ne);
    let mut r = Reader::new(b.freeze());
    let resp = FetchResponse::decode(&mut r, 16).unwrap();
    assert!(r.is_empty());
    let t = &resp.responses[0];
    assert_eq!(t.topic_id, [1; 16]);
    let p = &t.partitions[0];
    assert_eq!(p.error_code, 6);
    assert_eq!(p.aborted_transactions, None);
    assert_eq!(p.records, None);
    assert_eq!(
        p.current_leader,
        LeaderIdAndEpoch {
            leader_id: 4,
            leader_epoch: 12
        }
    );
    assert_eq!(p.diverging_epoch, DivergingEpoch::default());
    assert_eq!(
        resp.node_endpoints,
        vec![NodeEndpoint {
            node_id: 4,
            host: "b4".into(),
            port: 9094,
            rack: None
        }]
    );
}

#[test]
fn consumer_request_at_v15_has_no_replica_fields() {
    let req = FetchRequest {
        max_wait_ms: 500,
        min_bytes: 1,
        ..Default::default()
    };
    let mut b = BytesMut::new();
    req.encode(&mut b, 15).unwrap();
    // wait, min, max, isolation, session id, epoch, topics, forgotten, rack, tags.
    let mut expect = BytesMut::new();
    expect.put_i32(500);
    expect.put_i32(1);
    expect.put_i32(i32::MAX);
    expect.put_i8(0);
    expect.put_i32(0);
    expect.put_i32(-1);
    expect.put_slice(&[1, 1, 1, 0]);
    assert_eq!(b, expect);
}

#[test]
fn frames_round_trip_at_lowest_and_highest_version() {
    for v in [MIN, MAX] {
        let req = FetchRequest {
            max_wait_ms: 500,
            min_bytes: 1,
            isolation_level: 1,
            topics: vec![FetchTopic {
                topic: if v <= 12 { "t".into() } else { String::new() },
                topic_id: if v >= 13 { [3; 16] } else { [0; 16] },
                partitions: vec![FetchPartition {
                    partition: 0,
                    fetch_offset: 10,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let frame = encode_request_frame(41, Some("c"), v, &req).unwrap();
        let (header, back) = decode_request_frame::<FetchRequest>(frame.slice(4..)).unwrap();
        assert_eq!(header.api_version, v);
        assert_eq!(back, req);

        let resp = FetchResponse {
            responses: vec![FetchableTopicResponse {
                topic: if v <= 12 { "t".into() } else { String::new() },
                topic_id: if v >= 13 { [3; 16] } else { [0; 16] },
                partitions: vec![PartitionData {
                    high_watermark: 11,
                    records: Some(Bytes::from_static(b"batch")),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        };
        let frame = encode_response_frame::<FetchRequest>(42, v, &resp).unwrap();
        let (corr, back) = decode_response_frame::<FetchRequest>(frame.slice(4..), v).unwrap();
        assert_eq!(corr, 42);
        assert_eq!(back, resp);
    }
}
